"""Stage 2: for each sample, pick a photo per concept, plan a layout, paste the cut-outs on the canvas.

Writes ``composites/<id>.png`` (concepts on black) and ``masks/<id>/<k>_<concept>.png``: one soft instance mask per
concept, after occlusion, cropped to the box of its pixels above 0, which ``ObjectData.mask_box`` records (no union
mask: it is the pixel-wise maximum of the instance masks). The photo choice, layout, augmentations, scene
suggestion and planner provenance are recorded. A sample where a concept is mostly hidden is rejected with its
reason; the stage keeps making samples until each composition has ``samples`` accepted ones (or gives up after 4x
tries): each wave asks for as many new tries as samples are still missing, so no more is made than needed.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from gen4gen.backends.base import Backend, ConceptRequest, Layout, LayoutPlanner, PlanJob
from gen4gen.config import RunConfig
from gen4gen.errors import ItemError, StageError
from gen4gen.geometry.compositing import PreparedCutout, paste_cutouts, prepare_cutout, sample_augment
from gen4gen.geometry.masks import CanvasMask
from gen4gen.io.atomic import file_sha256
from gen4gen.io.images import mask_to_u8, save_png
from gen4gen.io.sources import Composition
from gen4gen.manifest import DONE, REJECTED, Record, fingerprint
from gen4gen.manifest.records import ComposeData, ObjectData, SegmentData, read
from gen4gen.seeds import derive_seed
from gen4gen.stages.base import Context, Outcome, Stage, Tally, WorkItem, per_item, timed
from gen4gen.stages.common import SAMPLES_META, safe_stem
from gen4gen.stages.curate import cutout_rejection

MAX_TRIES_FACTOR = 4


@dataclass(frozen=True)
class Cutout:
    concept: str  # display name
    folder: str  # concept folder (unique within the composition)
    source: str  # photo key in the segment stage
    path: str  # cut-out PNG, relative to the run folder
    sha256: str
    aspect: float


@dataclass(frozen=True)
class SampleInputs:
    """What one try needs: the composition, the usable cut-outs of each concept, the scene phrases."""

    composition: str
    cutouts: tuple[tuple[Cutout, ...], ...]
    scenes: tuple[str, ...]


@dataclass
class _Progress:
    """One composition's tries so far (driver side)."""

    inputs: SampleInputs
    config_fp: str
    tried: int = 0
    accepted: list[str] = field(default_factory=list)


class ComposeStage(Stage):
    name = "compose"
    version = "2"  # 2: instance masks cropped to their box, no union mask file

    def __init__(self, run_dir: Path, config: RunConfig, src: Path, compositions: list[Composition]) -> None:
        super().__init__(run_dir, config)
        self.src = src
        self.compositions = compositions
        self._warned: set[str] = set()

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "compositions": [], "_warned": set()}  # workers need neither

    def total(self, ctx: Context) -> int:
        return self.config.samples * len(self.compositions)

    def plan(self, ctx: Context, tally: Tally) -> Iterator[list[WorkItem]]:
        """Waves of tries until every composition has its samples; then records the accepted ones, in order."""
        planner = ctx.backends.get(self.spec)
        assert isinstance(planner, LayoutPlanner)
        states = [s for s in (self._start(ctx, planner, comp) for comp in self.compositions) if s is not None]
        target, limit = self.config.samples, MAX_TRIES_FACTOR * self.config.samples
        while True:
            wave: list[tuple[_Progress, WorkItem]] = []
            for state in states:
                wanted = target - len(state.accepted)
                while wanted > 0 and state.tried < limit:
                    key = f"{state.inputs.composition}/{state.tried:05d}"
                    state.tried += 1
                    seed = derive_seed(self.config.seed, self.name, key)
                    fp = fingerprint(state.config_fp, seed)
                    current = self.is_current(ctx, key, fp)
                    if current is None:
                        wave.append((state, WorkItem(key, fp, seed, state.inputs)))
                        wanted -= 1
                    else:
                        tally.reused(current)
                        if current.status == DONE:
                            state.accepted.append(key)
                            wanted -= 1
            if not wave:
                break
            yield [item for _, item in wave]
            for state, item in wave:  # committed by now
                record = ctx.manifest.get(self.name, item.key)
                if record is not None and record.status == DONE:
                    state.accepted.append(item.key)
            for state in states:
                state.accepted.sort()  # keys are zero-padded: sample order is try order
        for state in states:
            if len(state.accepted) < target:
                ctx.reporter.warn(
                    f"composition {state.inputs.composition!r}: only {len(state.accepted)} of "
                    f"{target} samples accepted after {state.tried} tries"
                )
        ctx.manifest.set_meta(SAMPLES_META, json.dumps([key for s in states for key in s.accepted]))

    def _start(self, ctx: Context, planner: LayoutPlanner, comp: Composition) -> _Progress | None:
        cutouts = self._cutouts(ctx, comp)
        if cutouts is None:
            return None
        names = [group[0].concept for group in cutouts]
        rng = np.random.default_rng(derive_seed(self.config.seed, "scenes", comp.id))
        scenes = planner.suggest_scenes(names, rng)
        config_fp = fingerprint(
            self.version,
            self.config.settings(self.name),
            planner.identity(),
            [[c.sha256 for c in group] for group in cutouts],
            scenes,
        )
        return _Progress(SampleInputs(comp.id, cutouts, tuple(scenes)), config_fp)

    def _cutouts(self, ctx: Context, comp: Composition) -> tuple[tuple[Cutout, ...], ...] | None:
        """The usable cut-outs of each concept of a composition, or None (reported) when a concept has none."""
        result = []
        for concept in comp.concepts:
            found, left_out = [], []
            for photo in concept.photos:
                record = ctx.manifest.get("segment", photo.relative_to(self.src).as_posix())
                if record is not None and record.status == DONE:
                    rejection = cutout_rejection(ctx, record)
                    if rejection is not None:  # the cut-out check rejects it (a fragment, pieces...)
                        left_out.append(rejection)
                        continue
                    data = read(SegmentData, record)
                    found.append(
                        Cutout(
                            concept.name,
                            concept.folder,
                            record.key,
                            data.cutout,
                            record.outputs[data.cutout],
                            data.aspect,
                        )
                    )
            for rejection in left_out:
                ctx.reporter.warn(f"composition {comp.id!r}: cut-out left out: {rejection}")
            if not found:
                why = (
                    ": the cut-out check rejects every one (use other photos, or set "
                    "curate.skip_rejected_cutouts=false to compose with them anyway)"
                    if left_out
                    else ""
                )
                ctx.reporter.warn(
                    f"composition {comp.id!r}: concept {concept.folder!r} has no usable cut-out{why}; "
                    "composition skipped"
                )
                return None
            result.append(tuple(found))
        return tuple(result)

    # -------------------------------------------------------------------------------------------- any process
    def work(self, items: list[WorkItem], backend: Backend) -> list[Outcome]:
        assert isinstance(backend, LayoutPlanner)
        canvas = (self.config.compose.canvas, self.config.compose.canvas)
        started = time.perf_counter()
        tries = []
        for item in items:
            inputs: SampleInputs = item.inputs
            rng = np.random.default_rng(item.seed)
            picks = [group[int(rng.integers(len(group)))] for group in inputs.cutouts]
            tries.append((item, picks, rng))
        jobs = [
            PlanJob([ConceptRequest(p.concept, p.aspect) for p in picks], canvas, rng) for _, picks, rng in tries
        ]
        layouts = per_item(backend.plan_batch, lambda job: backend.plan(job.concepts, job.canvas, job.rng), jobs)
        planned = timed(started, len(items))
        outcomes = []
        for (item, picks, rng), layout in zip(tries, layouts, strict=True):
            if isinstance(layout, ItemError):
                outcomes.append(self.failed(item, f"sample {item.key}: {layout}"))
                continue
            try:
                outcomes.append(self._make(item, picks, layout, rng, backend.identity(), planned))
            except ItemError as exc:
                outcomes.append(self.failed(item, f"sample {item.key}: {exc}"))
        return outcomes

    def _make(
        self,
        item: WorkItem,
        picks: list[Cutout],
        layout: Layout,
        rng: np.random.Generator,
        planner_id: dict[str, Any],
        planned: float,
    ) -> Outcome:
        section = self.config.compose
        canvas = (section.canvas, section.canvas)
        started = time.perf_counter()
        items, augments = [], []
        for pick, placement in zip(picks, layout.placements, strict=True):
            augment = sample_augment(
                rng, section.flip_p, section.max_rotation_deg, section.max_shift_frac, placement.bbox
            )
            augments.append(augment)
            items.append((_load_cutout(self.run_dir / pick.path, pick.sha256, section.canvas), placement, augment))
        inputs: SampleInputs = item.inputs
        scene = inputs.scenes[int(rng.integers(len(inputs.scenes)))] if inputs.scenes else layout.scene
        composite = paste_cutouts(canvas, items)
        sid = sample_id(item.key)
        objects = []
        for k, (pick, placement, augment, box) in enumerate(
            zip(picks, layout.placements, augments, composite.boxes, strict=True)
        ):
            bw, bh = placement.bbox[2] - placement.bbox[0], placement.bbox[3] - placement.bbox[1]
            expected = items[k][0].coverage * bw * bh
            visible = float(composite.instance_masks[k].values.sum(dtype=np.float64)) / max(expected, 1.0)
            objects.append(
                ObjectData(
                    name=pick.concept,
                    folder=pick.folder,
                    concept_id=pick.folder,
                    photo=pick.source,
                    bbox=tuple(int(v) for v in box) if box is not None else None,
                    planned_bbox=placement.bbox,
                    depth=placement.depth,
                    augment=asdict(augment),
                    visible=round(min(visible, 1.0), 4),
                    mask=f"masks/{sid}/{k}_{safe_stem(pick.folder)}.png",
                )
            )
        data = ComposeData(
            composition=inputs.composition,
            sample_id=sid,
            canvas=canvas,
            objects=objects,
            scene=scene,
            notes=layout.notes,
            provenance=layout.provenance,
        )
        warnings = [
            f"composition {inputs.composition!r}: {n}" for n in layout.notes if n.startswith("unknown size")
        ]
        hidden = [o for o in objects if o.bbox is None or o.visible < section.min_visible]
        if hidden:
            worst = min(hidden, key=lambda o: o.visible)
            reason = f"concept mostly hidden (< {section.min_visible:.0%} visible)"
            rejected = data.model_copy(update={"worst": worst.name}).model_dump(mode="json")
            record = Record(
                self.name, item.key, REJECTED, item.fingerprint, item.seed, planner_id, {}, rejected, reason
            )
            return Outcome(record, warnings)
        outputs = {}
        composite_path = f"composites/{sid}.png"
        outputs[composite_path] = save_png(self.run_dir / composite_path, composite.rgb)
        cropped = []
        for obj, soft in zip(objects, composite.instance_masks, strict=True):
            mask = CanvasMask(soft.box, mask_to_u8(soft.values)).tight()  # not empty: the object is visible
            outputs[obj.mask] = save_png(self.run_dir / obj.mask, mask.values)
            cropped.append(obj.model_copy(update={"mask_box": mask.box}))
        data = data.model_copy(update={"composite": composite_path, "objects": cropped})
        seconds = planned + timed(started, 1)
        record = Record(
            self.name,
            item.key,
            DONE,
            item.fingerprint,
            item.seed,
            planner_id,
            outputs,
            data.model_dump(mode="json"),
            seconds=seconds,
        )
        return Outcome(record, warnings)

    # ------------------------------------------------------------------------------------------------ driver
    def commit(self, ctx: Context, outcome: Outcome, tally: Tally) -> None:
        fresh = [w for w in outcome.warnings if w not in self._warned]
        self._warned.update(fresh)
        outcome.warnings = [f"{w}; name the folder after a known object" for w in fresh]
        super().commit(ctx, outcome, tally)


def sample_id(key: str) -> str:
    """File stem of a sample: its key made file-name-safe, plus a short hash when that changed anything (so
    compositions "a b" and "a_b" cannot collide)."""
    plain = key.replace("/", "_")
    stem = safe_stem(plain)
    return stem if stem == plain else f"{stem}-{hashlib.sha256(key.encode()).hexdigest()[:6]}"


@lru_cache(maxsize=256)
def _load_cutout(path: Path, sha256: str, canvas: int) -> PreparedCutout:
    """A cut-out prepared for pasting on a ``canvas``² canvas (premultiplied, shrunk to fit it), checked against
    the hash its segment record holds; decoded once per process and cut-out."""
    try:
        actual = file_sha256(path)
    except OSError as exc:
        raise ItemError(f"{path}: cut-out missing ({exc.strerror}); rerun `gen4gen segment`") from exc
    if actual != sha256:
        raise ItemError(f"{path}: cut-out changed since it was segmented; rerun `gen4gen segment`")
    with Image.open(path) as im:
        return prepare_cutout(np.asarray(im.convert("RGBA")), canvas)


def accepted_samples(ctx: Context) -> list[Record]:
    """The accepted compose records of the current run, in order."""
    raw = ctx.manifest.get_meta(SAMPLES_META)
    if raw is None:
        raise StageError(f"{ctx.run_dir}: no composed samples yet; run `gen4gen compose` (or `gen4gen run`) first")
    records = []
    for key in json.loads(raw):
        record = ctx.manifest.get(ComposeStage.name, key)
        if record is None or record.status != DONE:
            raise StageError(f"{ctx.run_dir}: sample {key} is missing from the manifest; rerun `gen4gen compose`")
        records.append(record)
    return records
