"""One finished sample as exporters, the report and the review page see it: the ``Sample`` view.

It joins a sample's compose, repaint and caption records (typed, see :mod:`gen4gen.manifest.records`) with the
latest verdicts and human decisions about it, so no reader needs another stage's record layout. A caption edited
by a person replaces the generated one; a person's verdict overrides the automatic ones.

:func:`load_masks` is how every reader (repaint, checks, review page, exporters) loads a sample's instance masks:
as crops on the canvas (:class:`~gen4gen.geometry.masks.CanvasMask`), expanded with ``full`` where needed.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from gen4gen.geometry.boxes import IntBox
from gen4gen.geometry.masks import CanvasMask
from gen4gen.io.images import load_canvas_mask
from gen4gen.manifest import DONE, Manifest, Record, Verdict
from gen4gen.manifest.records import CaptionData, ComposeData, RepaintData, read


@dataclass(frozen=True)
class SampleObject:
    """One concept instance in a sample."""

    name: str  # display name ("dog")
    concept_id: str  # stable within the run ("dog1", "dog2")
    folder: str  # the concept's folder in SRC
    bbox: tuple[int, int, int, int]  # visible box, x0, y0, x1, y1 in image pixels (exclusive ends)
    mask: str  # instance mask PNG, relative to the run folder
    mask_box: IntBox | None  # the image box the mask PNG covers; None: the whole image (older runs)
    photo: str  # the source photo whose cut-out was used, relative to SRC
    depth: int  # 0 = farthest
    visible: float  # visible share of the pasted cut-out


@dataclass(frozen=True)
class Sample:
    key: str  # manifest key ("<composition>/<try>")
    id: str  # file stem of the sample's files
    composition: str
    size: tuple[int, int]  # (width, height)
    objects: list[SampleObject]
    image: str  # finished image, relative to the run folder
    preview: str | None  # small JPEG of the image (None for runs repainted before previews existed)
    composite: str  # concepts on black, before repaint
    caption: str  # a person's edit when there is one, else the grounded caption
    generated_caption: str
    scene: str
    seeds: dict[str, int]  # per stage
    provenance: dict[str, Any]  # planner, repainter and captioner identities, layout provenance
    verdicts: dict[str, Verdict] = field(default_factory=dict)  # latest automatic verdict per check
    decisions: dict[str, Any] = field(default_factory=dict)  # latest human decision per kind (rating, verdict...)

    @property
    def rating(self) -> int | None:
        value = self.decisions.get("rating")
        return int(value) if value is not None else None

    @property
    def rejected(self) -> bool:
        """Rejected by a person, or, when no person decided, by an automatic check."""
        if "verdict" in self.decisions:
            return bool(self.decisions["verdict"] == "reject")
        return any(v.status == "reject" for v in self.verdicts.values())


class MaskFile(Protocol):
    """An object's instance mask file and the box it covers (a compose record's object or a sample's)."""

    @property
    def mask(self) -> str: ...

    @property
    def mask_box(self) -> IntBox | None: ...


def load_masks(run_dir: Path, objects: Sequence[MaskFile], size: tuple[int, int]) -> list[CanvasMask]:
    """The instance masks of a sample's ``objects``, uint8 crops on its ``size`` (W, H) canvas, in order."""
    return [load_canvas_mask(run_dir / o.mask, o.mask_box, size) for o in objects]


def sample_target(key: str) -> str:
    """The decisions-table target of a sample."""
    return f"sample:{key}"


def build_sample(
    compose: Record, repaint: Record, caption: Record, verdicts: dict[str, Verdict], decisions: dict[str, Any]
) -> Sample:
    layout = read(ComposeData, compose)
    image = read(RepaintData, repaint)
    text = read(CaptionData, caption)
    assert layout.composite is not None
    objects = [
        SampleObject(o.name, o.concept_id, o.folder, o.bbox, o.mask, o.mask_box, o.photo, o.depth, o.visible)
        for o in layout.objects
        if o.bbox is not None
    ]
    edited = decisions.get("caption")
    return Sample(
        key=compose.key,
        id=layout.sample_id,
        composition=layout.composition,
        size=layout.canvas,
        objects=objects,
        image=image.image,
        preview=image.preview,
        composite=layout.composite,
        caption=str(edited) if edited else text.text,
        generated_caption=text.text,
        scene=image.scene,
        seeds={r.stage: int(r.seed) for r in (compose, repaint, caption) if r.seed is not None},
        provenance={
            "layout": layout.provenance,
            "planner": compose.backend,
            "repainter": repaint.backend,
            "captioner": caption.backend,
        },
        verdicts=verdicts,
        decisions=decisions,
    )


def iter_samples(manifest: Manifest, keys: list[str]) -> Iterator[Sample | str]:
    """The sample of each key, or a one-line reason why it is not finished (a stage failed or was not run)."""
    for key in keys:
        compose = manifest.get("compose", key)
        repaint = manifest.get("repaint", key)
        caption = manifest.get("caption", key)
        missing = next(
            (name for name, r in (("compose", compose), ("repaint", repaint), ("caption", caption)) if r is None),
            None,
        )
        if missing is not None:
            yield f"sample {key}: no {missing} record; run `gen4gen {missing}`"
            continue
        assert compose is not None and repaint is not None and caption is not None
        failed = next((r for r in (compose, repaint, caption) if r.status != DONE), None)
        if failed is not None:
            yield f"sample {key}: {failed.stage} {failed.status}"
            continue
        damaged = next((r for r in (compose, repaint) if not manifest.intact(r)), None)
        if damaged is not None:
            yield f"sample {key}: files missing or changed since {damaged.stage}; rerun `gen4gen {damaged.stage}`"
            continue
        decisions = {kind: d.value for kind, d in manifest.decisions(sample_target(key)).items()}
        yield build_sample(compose, repaint, caption, manifest.verdicts(key), decisions)
