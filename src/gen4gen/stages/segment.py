"""Stage 1: every concept photo -> an RGBA cut-out cropped to content plus its full-size soft mask.

For ``SRC/<concept>/<photo>`` (``<photo>`` is the file name, extension included) it writes
``<cutouts>/<concept>/<photo>.png`` (cut-out), ``<photo>.mask.png`` (chosen soft mask, full resolution) and
``<photo>.round<k>.mask.png`` (every round's mask): ``cat.jpg`` -> ``cat.jpg.png``, ``cat.jpg.mask.png``,
``cat.jpg.round1.mask.png``. The names are unique by construction: photos of one folder have different file
names, every photo name ends with an image extension, and no output name minus another's suffix ends with one
(``a.jpg``, ``a.png`` and ``a_png.jpg`` give ``a.jpg.png``, ``a.png.png`` and ``a_png.jpg.png``). A photo name
longer than :data:`MAX_NAME_BYTES` is shortened, with a hash of the full name, so every output name fits the file
system's limit.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gen4gen.backends.base import Backend, Photo, Segmenter
from gen4gen.backends.segment import hints as hinted
from gen4gen.backends.segment.quality import mask_quality
from gen4gen.backends.segment.rounds import RoundResult, best_round, multi_round
from gen4gen.config import RunConfig
from gen4gen.errors import ItemError
from gen4gen.geometry.boxes import mask_bbox
from gen4gen.io.atomic import file_sha256
from gen4gen.io.images import load_image, mask_to_u8, save_png
from gen4gen.io.sources import Composition
from gen4gen.manifest import DONE, Record, fingerprint
from gen4gen.manifest.records import RoundScore, SegmentData
from gen4gen.review.guidance import Guidance, photo_guidance
from gen4gen.stages.base import Context, Outcome, Stage, Tally, WorkItem, timed

ALPHA_THRESHOLD = 0.5  # mask value above which a pixel counts as foreground for boxes and areas
MAX_NAME_BYTES = 200  # longest photo name (UTF-8) used as it is in output names; longer ones are shortened


def output_name(photo: str) -> str:
    """The name a photo's outputs start with: its file name, or for a long one its start, ``~``, a hash of the
    whole name and its extension (still ending in an image extension, so names stay unique)."""
    raw = photo.encode("utf-8", "surrogateescape")
    if len(raw) <= MAX_NAME_BYTES:
        return photo
    stem, suffix = Path(photo).stem, Path(photo).suffix
    digest = hashlib.sha256(raw).hexdigest()[:12]
    keep = MAX_NAME_BYTES - len(suffix.encode("utf-8", "surrogateescape")) - len(digest) - 1
    head = stem.encode("utf-8", "surrogateescape")[: max(keep, 16)].decode("utf-8", "ignore")
    return f"{head}~{digest}{suffix}"


def output_files(name: str, rounds: int) -> tuple[str, str, list[str]]:
    """(cut-out, chosen mask, per-round masks) file names for a photo whose :func:`output_name` is ``name``."""
    return f"{name}.png", f"{name}.mask.png", [f"{name}.round{k + 1}.mask.png" for k in range(rounds)]


@dataclass(frozen=True)
class PhotoInputs:
    """One photo to segment and where its files go."""

    path: Path
    rel: Path  # relative to SRC: the manifest key
    out_stem: str  # what its output names start with: see output_name
    concept: str
    folder: str
    source_sha256: str
    cutouts_root: Path
    guidance: Guidance | None = None  # a person's round choice or hints (gen4gen review, side-car)


class SegmentStage(Stage):
    name = "segment"

    def __init__(
        self, run_dir: Path, config: RunConfig, src: Path, compositions: list[Composition], cutouts_root: Path
    ) -> None:
        super().__init__(run_dir, config)
        self.src = src
        self.compositions = compositions
        self.cutouts_root = cutouts_root

    def total(self, ctx: Context) -> int:
        return sum(len(k.photos) for c in self.compositions for k in c.concepts)

    def plan(self, ctx: Context, tally: Tally) -> Iterator[list[WorkItem]]:
        identity = ctx.backends.get(self.spec).identity()
        settings = self.config.settings(self.name)
        wave = []
        for composition in self.compositions:
            for concept in composition.concepts:
                for path in concept.photos:
                    rel = path.relative_to(self.src)
                    try:
                        digest = file_sha256(path)
                    except OSError as exc:
                        ctx.reporter.warn(f"{path}: unreadable ({exc.strerror}); skipped")
                        tally.skipped("unreadable photo")
                        continue
                    fp = fingerprint(self.version, digest, settings, identity)
                    guidance, problems = photo_guidance(ctx.manifest, rel.as_posix(), path)
                    for problem in problems:
                        ctx.reporter.warn(problem)
                    if guidance is not None:  # only then: photos nobody touched keep their fingerprints
                        fp = fingerprint(fp, guidance.fingerprint_part())
                    current = self.is_current(ctx, rel.as_posix(), fp)
                    if current is not None:
                        tally.reused(current)
                        continue
                    name = output_name(rel.name)
                    inputs = PhotoInputs(
                        path, rel, name, concept.name, concept.folder, digest, self.cutouts_root, guidance
                    )
                    wave.append(WorkItem(rel.as_posix(), fp, None, inputs))
        yield wave

    def work(self, items: list[WorkItem], backend: Backend) -> list[Outcome]:
        assert isinstance(backend, Segmenter)
        return [self._segment(item, backend) for item in items]

    def _segment(self, item: WorkItem, segmenter: Segmenter) -> Outcome:
        """Segment one photo (all rounds) and write its cut-out and masks atomically."""
        task: PhotoInputs = item.inputs
        base = {"source": item.key, "source_sha256": task.source_sha256, "concept": task.concept}
        started = time.perf_counter()
        section = self.config.segment
        try:
            image = load_image(task.path)
            photo = Photo(image.rgb, task.path, task.concept, image.alpha)
            guidance = task.guidance
            hints = guidance.parsed_hints() if guidance is not None else None
            if hints is not None:  # a person's box and strokes seed GrabCut; they replace the automatic rounds
                original = image.downscaled_from
                scale = image.rgb.shape[1] / original[0] if original else 1.0
                mask = hinted.segment_with_hints(image.rgb, hints, scale)
                box = mask_bbox(mask, ALPHA_THRESHOLD, full_if_empty=True)
                rounds = [RoundResult(mask, mask_quality(image.rgb, mask), box)]
                chosen, method = 0, hinted.METHOD
            elif section.use_alpha and photo.alpha is not None:
                mask = photo.alpha.astype(np.float32) / 255.0
                rounds = [RoundResult(mask, 1.0, mask_bbox(mask, ALPHA_THRESHOLD, full_if_empty=True))]
                chosen, method = 0, "alpha-channel"
            else:
                rounds = multi_round(segmenter, photo, section.rounds)
                chosen, method = best_round(rounds), segmenter.name
                picked = guidance.round if guidance is not None else None
                if picked is not None and 1 <= picked <= len(rounds):  # a person's pick wins over the score
                    chosen = picked - 1
            mask = rounds[chosen].mask
            area = float((mask > ALPHA_THRESHOLD).mean())
            if area < section.min_area:
                raise ItemError(
                    f"{task.path}: segmentation found no object ({area:.2%} of the photo); "
                    "use a photo where the concept stands out, or give a mask (segment.backend=alpha)"
                )
        except ItemError as exc:
            message = str(exc) if str(task.path) in str(exc) else f"{task.path}: {exc}"
            return self.failed(item, message, {**base, "folder": task.folder})

        out_dir = task.cutouts_root / task.rel.parent

        def write(name: str, pixels: np.ndarray) -> str:
            path = out_dir / name
            rel = path.relative_to(self.run_dir).as_posix()
            outputs[rel] = save_png(path, pixels)
            return rel

        outputs: dict[str, str] = {}
        cutout_name, mask_name, round_names = output_files(task.out_stem, len(rounds))
        for round_name, result in zip(round_names, rounds, strict=True):
            write(round_name, mask_to_u8(result.mask))
        mask_u8 = mask_to_u8(mask)
        mask_rel = write(mask_name, mask_u8)
        x0, y0, x1, y1 = mask_bbox(mask, ALPHA_THRESHOLD, full_if_empty=True)
        cutout_rel = write(cutout_name, np.dstack([image.rgb[y0:y1, x0:x1], mask_u8[y0:y1, x0:x1]]))
        data = SegmentData(
            **base,
            folder=task.folder,
            method=method,
            cutout=cutout_rel,
            mask=mask_rel,
            bbox=(x0, y0, x1, y1),
            size=(int(image.rgb.shape[1]), int(image.rgb.shape[0])),
            aspect=(x1 - x0) / max(1, y1 - y0),
            area=area,
            rounds=[RoundScore(score=round(float(r.score), 6)) for r in rounds],
            chosen_round=chosen + 1,
            downscaled_from=image.downscaled_from,
        )
        warnings = []
        if image.downscaled_from:
            width, height = image.downscaled_from
            warnings.append(f"{task.path}: {width}x{height} downscaled on load")
        identity = segmenter.identity() if method != "alpha-channel" else {"name": "alpha-channel"}
        if method == hinted.METHOD:
            identity = hinted.identity()
        record = Record(
            self.name,
            item.key,
            DONE,
            item.fingerprint,
            backend=identity,
            outputs=outputs,
            data=data.model_dump(mode="json"),
            seconds=timed(started, 1),
        )
        return Outcome(record, warnings)
