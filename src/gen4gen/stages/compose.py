"""Stage 2: for each sample, pick a photo per concept, plan a layout, paste the cut-outs on the canvas.

Writes ``composites/<id>.png`` (concepts on black), ``masks/<id>/<k>_<concept>.png`` (one soft instance mask per
concept, after occlusion) and ``masks/<id>_union.png``. The photo choice, layout, augmentations, scene suggestion
and planner provenance are recorded. A sample where a concept is mostly hidden is rejected with its reason; the
stage keeps making samples until each composition has ``samples`` accepted ones (or gives up after 4x tries).
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from gen4gen.backends.base import ConceptRequest, Layout, LayoutPlanner, PlanJob
from gen4gen.geometry.compositing import paste_cutouts, sample_augment
from gen4gen.io.images import mask_to_u8, save_png
from gen4gen.io.sources import Composition
from gen4gen.manifest import DONE, REJECTED, Record, fingerprint
from gen4gen.seeds import derive_seed
from gen4gen.stages.common import SAMPLES_META, Context, StageError, StageStats, require_backend, safe_stem

STAGE = "compose"
STAGE_VERSION = "1"
MAX_TRIES_FACTOR = 4


@dataclass(frozen=True)
class Cutout:
    concept: str  # display name
    folder: str  # concept folder (unique within the composition)
    source: str  # photo key in the segment stage
    path: str  # cut-out PNG, relative to the run folder
    sha256: str
    aspect: float


def compose_stage(ctx: Context, src: Path, compositions: list[Composition]) -> StageStats:
    stats = StageStats(STAGE)
    started = time.perf_counter()
    planner: LayoutPlanner = require_backend(ctx, STAGE)  # type: ignore[assignment]
    accepted_keys: list[str] = []
    plans = [(comp, _cutouts_by_concept(ctx, src, comp)) for comp in compositions]
    plans = [(comp, cut) for comp, cut in plans if cut is not None]
    target = ctx.config.samples
    with ctx.reporter.task("compose", target * len(plans)) as advance:
        for comp, cutouts in plans:
            assert cutouts is not None
            accepted_keys += _compose_composition(ctx, planner, comp, cutouts, stats, advance)
    ctx.manifest.set_meta(SAMPLES_META, json.dumps(accepted_keys))
    stats.seconds = time.perf_counter() - started
    return stats


def _cutouts_by_concept(ctx: Context, src: Path, comp: Composition) -> list[list[Cutout]] | None:
    """The usable cut-outs of each concept of a composition, or None (reported) when a concept has none."""
    result = []
    for concept in comp.concepts:
        found = []
        for photo in concept.photos:
            record = ctx.manifest.get("segment", photo.relative_to(src).as_posix())
            if record is not None and record.status == DONE:
                path = record.data["cutout"]
                found.append(
                    Cutout(
                        concept.name, concept.folder, record.key, path, record.outputs[path], record.data["aspect"]
                    )
                )
        if not found:
            ctx.reporter.warn(
                f"composition {comp.id!r}: concept {concept.folder!r} has no usable cut-out; composition skipped"
            )
            return None
        result.append(found)
    return result


def _compose_composition(
    ctx: Context,
    planner: LayoutPlanner,
    comp: Composition,
    cutouts: list[list[Cutout]],
    stats: StageStats,
    advance: Callable[[int], None],
) -> list[str]:
    section = ctx.config.compose
    canvas = (section.canvas, section.canvas)
    planner_id = planner.identity()
    names = [c[0].concept for c in cutouts]
    scenes = planner.suggest_scenes(names, np.random.default_rng(derive_seed(ctx.config.seed, "scenes", comp.id)))
    config_fp = fingerprint(
        STAGE_VERSION,
        section.model_dump(mode="json"),
        planner_id,
        [[c.sha256 for c in group] for group in cutouts],
        scenes,
    )
    accepted: list[str] = []
    warned: set[str] = set()
    target = ctx.config.samples
    index = 0
    while len(accepted) < target and index < MAX_TRIES_FACTOR * target:
        batch = list(range(index, min(index + ctx.config.batch_size, MAX_TRIES_FACTOR * target)))
        index = batch[-1] + 1
        pending: list[tuple[int, str, int, str, Record | None]] = []
        for i in batch:
            key = f"{comp.id}/{i:05d}"
            seed = derive_seed(ctx.config.seed, STAGE, key)
            fp = fingerprint(config_fp, seed)
            current = ctx.manifest.is_current(STAGE, key, fp)
            if current is not None:
                stats.reused += current.status == DONE
                if current.status != DONE:
                    stats.rejected[current.message or "rejected"] += 1
                pending.append((i, key, seed, fp, current))
            else:
                pending.append((i, key, seed, fp, None))
        jobs: list[PlanJob] = []
        chosen: dict[int, tuple[list[Cutout], np.random.Generator]] = {}
        for i, _key, seed, _, current in pending:
            if current is None:
                rng = np.random.default_rng(seed)
                picks = [group[int(rng.integers(len(group)))] for group in cutouts]
                chosen[i] = (picks, rng)
                jobs.append(PlanJob([ConceptRequest(p.concept, p.aspect) for p in picks], canvas, rng))
        layouts = iter(planner.plan_batch(jobs)) if jobs else iter(())
        for i, key, seed, fp, current in pending:
            if len(accepted) >= target:
                break
            if current is None:
                picks, rng = chosen[i]
                layout = next(layouts)
                for note in layout.notes:
                    if note.startswith("unknown size") and note not in warned:
                        warned.add(note)
                        ctx.reporter.warn(f"composition {comp.id!r}: {note}; name the folder after a known object")
                current = _make_sample(ctx, comp, key, seed, fp, picks, layout, rng, scenes, planner_id)
                if current.status == DONE:
                    stats.made += 1
                else:
                    stats.rejected[current.message or "rejected"] += 1
            if current.status == DONE:
                accepted.append(key)
                advance(1)
    if len(accepted) < target:
        ctx.reporter.warn(
            f"composition {comp.id!r}: only {len(accepted)} of {target} samples accepted after {index} tries"
        )
    return accepted


def sample_id(key: str) -> str:
    """File stem of a sample: its key made file-name-safe, plus a short hash when that changed anything (so
    compositions "a b" and "a_b" cannot collide)."""
    plain = key.replace("/", "_")
    stem = safe_stem(plain)
    return stem if stem == plain else f"{stem}-{hashlib.sha256(key.encode()).hexdigest()[:6]}"


@lru_cache(maxsize=256)
def _load_cutout(path: Path, sha256: str) -> np.ndarray:
    """A cut-out as RGBA uint8; cached by content hash since samples reuse the same few cut-outs."""
    with Image.open(path) as im:
        return np.asarray(im.convert("RGBA"))


def _make_sample(
    ctx: Context,
    comp: Composition,
    key: str,
    seed: int,
    fp: str,
    picks: list[Cutout],
    layout: Layout,
    rng: np.random.Generator,
    scenes: list[str],
    planner_id: dict[str, Any],
) -> Record:
    section = ctx.config.compose
    canvas = (section.canvas, section.canvas)
    started = time.perf_counter()
    items, augments = [], []
    for pick, placement in zip(picks, layout.placements, strict=True):
        augment = sample_augment(
            rng, section.flip_p, section.max_rotation_deg, section.max_shift_frac, placement.bbox
        )
        augments.append(augment)
        items.append((_load_cutout(ctx.run_dir / pick.path, pick.sha256), placement, augment))
    scene = scenes[int(rng.integers(len(scenes)))] if scenes else layout.scene
    composite = paste_cutouts(canvas, items)
    sid = sample_id(key)
    objects: list[dict[str, Any]] = []
    for k, (pick, placement, augment, box) in enumerate(
        zip(picks, layout.placements, augments, composite.boxes, strict=True)
    ):
        rgba = items[k][0]
        bw, bh = placement.bbox[2] - placement.bbox[0], placement.bbox[3] - placement.bbox[1]
        expected = float(rgba[:, :, 3].mean()) / 255.0 * bw * bh
        visible = float(composite.instance_masks[k].sum()) / max(expected, 1.0)
        objects.append(
            {
                "name": pick.concept,
                "folder": pick.folder,
                "photo": pick.source,
                "bbox": [int(v) for v in box] if box is not None else None,
                "planned_bbox": list(placement.bbox),
                "depth": placement.depth,
                "augment": asdict(augment),
                "visible": round(min(visible, 1.0), 4),
                "mask": f"masks/{sid}/{k}_{safe_stem(pick.folder)}.png",
            }
        )
    data = {
        "composition": comp.id,
        "sample_id": sid,
        "canvas": list(canvas),
        "objects": objects,
        "scene": scene,
        "notes": layout.notes,
        "provenance": layout.provenance,
    }
    hidden = [o for o in objects if o["bbox"] is None or o["visible"] < section.min_visible]
    if hidden:
        worst = min(hidden, key=lambda o: o["visible"])
        reason = f"concept mostly hidden (< {section.min_visible:.0%} visible)"
        record = Record(STAGE, key, REJECTED, fp, seed, planner_id, {}, {**data, "worst": worst["name"]}, reason)
        ctx.manifest.put(record)
        return record
    outputs = {}
    composite_path = f"composites/{sid}.png"
    outputs[composite_path] = save_png(ctx.run_dir / composite_path, composite.rgb)
    for k, obj in enumerate(objects):
        outputs[obj["mask"]] = save_png(ctx.run_dir / obj["mask"], mask_to_u8(composite.instance_masks[k]))
    union_path = f"masks/{sid}_union.png"
    outputs[union_path] = save_png(ctx.run_dir / union_path, mask_to_u8(composite.union))
    data.update(composite=composite_path, union_mask=union_path)
    record = Record(STAGE, key, DONE, fp, seed, planner_id, outputs, data, seconds=time.perf_counter() - started)
    ctx.manifest.put(record)
    return record


def require_samples(ctx: Context) -> list[Record]:
    """The accepted compose records of the current run, in order."""
    records = []
    for key in ctx.sample_keys():
        record = ctx.manifest.get(STAGE, key)
        if record is None or record.status != DONE:
            raise StageError(f"{ctx.run_dir}: sample {key} is missing from the manifest; rerun `gen4gen compose`")
        records.append(record)
    return records
