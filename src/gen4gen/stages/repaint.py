"""Stage 3: a realistic background around the concepts of each composed sample -> ``images/<id>.png``."""

from __future__ import annotations

import time

import numpy as np

from gen4gen.backends.base import Inpainter, Placement, RepaintRequest
from gen4gen.io.images import load_image, load_mask, save_png
from gen4gen.manifest import DONE, Record, fingerprint
from gen4gen.seeds import derive_seed
from gen4gen.stages.common import Context, StageStats, chunks, require_backend
from gen4gen.stages.compose import require_samples

STAGE = "repaint"
STAGE_VERSION = "1"


def placements_of(compose: Record) -> list[Placement]:
    return [Placement(o["name"], tuple(o["bbox"]), o["depth"]) for o in compose.data["objects"]]


def repaint_stage(ctx: Context) -> StageStats:
    stats = StageStats(STAGE)
    started = time.perf_counter()
    samples = require_samples(ctx)
    inpainter: Inpainter = require_backend(ctx, STAGE)  # type: ignore[assignment]
    identity = inpainter.identity()
    with ctx.reporter.task("repaint", len(samples)) as advance:
        for batch in chunks(samples, ctx.config.batch_size):
            todo = []
            for compose in batch:
                seed = derive_seed(ctx.config.seed, STAGE, compose.key)
                fp = fingerprint(STAGE_VERSION, compose.fingerprint, compose.outputs, identity, seed)
                if ctx.manifest.is_current(STAGE, compose.key, fp) is not None:
                    stats.reused += 1
                    advance(1)
                else:
                    todo.append((compose, seed, fp))
            if not todo:
                continue
            batch_started = time.perf_counter()
            requests = [_request(ctx, compose, seed) for compose, seed, _ in todo]
            results = inpainter.repaint_batch(requests)
            per_item = (time.perf_counter() - batch_started) / len(todo)
            for (compose, seed, fp), result in zip(todo, results, strict=True):
                path = f"images/{compose.data['sample_id']}.png"
                outputs = {path: save_png(ctx.run_dir / path, result.image)}
                data = {"image": path, "scene": result.scene, "info": result.info}
                ctx.manifest.put(
                    Record(STAGE, compose.key, DONE, fp, seed, identity, outputs, data, seconds=per_item)
                )
                stats.made += 1
                advance(1)
    stats.seconds = time.perf_counter() - started
    return stats


def _request(ctx: Context, compose: Record, seed: int) -> RepaintRequest:
    composite = load_image(ctx.run_dir / compose.data["composite"]).rgb
    height, width = composite.shape[:2]
    masks = [load_mask(ctx.run_dir / o["mask"], (width, height)) for o in compose.data["objects"]]
    return RepaintRequest(
        composite=composite,
        instance_masks=[np.ascontiguousarray(m) for m in masks],
        placements=placements_of(compose),
        scene=compose.data.get("scene"),
        seed=seed,
    )
