"""Stage 1: every concept photo -> an RGBA cut-out cropped to content plus its full-size soft mask.

For ``SRC/<concept>/<stem>.<ext>`` it writes ``<cutouts>/<concept>/<stem>.png`` (cut-out),
``<stem>_mask.png`` (chosen soft mask, full resolution) and ``<stem>_round<k>_mask.png`` (every round's mask).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gen4gen.backends.base import ItemError, Photo, Segmenter
from gen4gen.backends.segment.rounds import RoundResult, best_round, multi_round
from gen4gen.io.atomic import file_sha256
from gen4gen.io.images import ImageError, LoadedImage, load_image, mask_to_u8, save_png
from gen4gen.io.sources import Composition, Concept
from gen4gen.manifest import DONE, FAILED, Record, fingerprint
from gen4gen.stages.common import Context, StageStats, require_backend

STAGE = "segment"
STAGE_VERSION = "1"
ALPHA_THRESHOLD = 0.5  # mask value above which a pixel counts as foreground for boxes and areas


@dataclass
class PhotoJob:
    composition: Composition
    concept: Concept
    path: Path
    rel: Path  # path relative to SRC


def segment_stage(ctx: Context, src: Path, compositions: list[Composition], cutouts_root: Path) -> StageStats:
    """Segment every photo of every concept, one concept at a time; returns stats. Failures are reported."""
    stats = StageStats(STAGE)
    groups = [
        [PhotoJob(comp, concept, path, path.relative_to(src)) for path in concept.photos]
        for comp in compositions
        for concept in comp.concepts
    ]
    section = ctx.config.segment
    segmenter: Segmenter = require_backend(ctx, STAGE)  # type: ignore[assignment]
    identity = segmenter.identity()
    started = time.perf_counter()
    with ctx.reporter.task("segment", sum(len(g) for g in groups)) as advance:
        for group in groups:
            hashes: dict[Path, str] = {}
            for job in group:
                try:
                    hashes[job.path] = file_sha256(job.path)
                except OSError as exc:
                    ctx.reporter.warn(f"{job.path}: unreadable ({exc.strerror}); skipped")
                    stats.failed += 1
                    advance(1)
            siblings = sorted(hashes.values()) if segmenter.uses_concept_photos else []
            todo = []
            for job in group:
                if job.path not in hashes:
                    continue
                fp = fingerprint(
                    STAGE_VERSION, hashes[job.path], siblings, section.model_dump(mode="json"), identity
                )
                current = ctx.manifest.is_current(STAGE, job.rel.as_posix(), fp)
                if current is None:
                    todo.append((job, fp))
                    continue
                if current.status == DONE:
                    stats.reused += 1
                else:  # a photo that failed before fails again with the same inputs
                    stats.failed += 1
                    ctx.reporter.warn(current.message or f"{job.path}: failed before")
                advance(1)
            loaded = _load_group([job for job, _ in todo] if not siblings else group, hashes)
            if todo and segmenter.uses_concept_photos:
                segmenter.prepare([item[0] for item in loaded.values() if isinstance(item, tuple)])
            for job, fp in todo:
                _segment_one(ctx, job, fp, hashes[job.path], loaded[job.path], segmenter, cutouts_root, stats)
                advance(1)
    stats.seconds = time.perf_counter() - started
    return stats


def _load_group(
    jobs: list[PhotoJob], hashes: dict[Path, str]
) -> dict[Path, tuple[Photo, LoadedImage] | ImageError]:
    """Decode the photos of one concept (errors kept, to be reported with the photo they belong to)."""
    loaded: dict[Path, tuple[Photo, LoadedImage] | ImageError] = {}
    for job in jobs:
        if job.path not in hashes:
            continue
        try:
            image = load_image(job.path)
            loaded[job.path] = (Photo(image.rgb, job.path, job.concept.name, image.alpha), image)
        except ImageError as exc:
            loaded[job.path] = exc
    return loaded


def _segment_one(
    ctx: Context,
    job: PhotoJob,
    fp: str,
    source_hash: str,
    loaded: tuple[Photo, LoadedImage] | ImageError,
    segmenter: Segmenter,
    cutouts_root: Path,
    stats: StageStats,
) -> None:
    section = ctx.config.segment
    key = job.rel.as_posix()
    base = {"source": key, "source_sha256": source_hash, "concept": job.concept.name, "folder": job.concept.folder}
    started = time.perf_counter()
    try:
        if isinstance(loaded, ImageError):
            raise loaded
        photo, image = loaded
        if section.use_alpha and photo.alpha is not None:
            mask = photo.alpha.astype(np.float32) / 255.0
            rounds = [RoundResult(mask, 1.0, _bbox(mask))]
            chosen, method = 0, "alpha-channel"
        else:
            rounds = multi_round(segmenter, photo, section.rounds)
            chosen, method = best_round(rounds), segmenter.name
        mask = rounds[chosen].mask
        area = float((mask > ALPHA_THRESHOLD).mean())
        if area < section.min_area:
            raise ItemError(
                f"{job.path}: segmentation found no object ({area:.2%} of the photo); "
                "use a photo where the concept stands out, or give a mask (segment.backend=alpha)"
            )
    except (ImageError, ItemError) as exc:
        message = str(exc) if str(job.path) in str(exc) else f"{job.path}: {exc}"
        ctx.reporter.warn(message + " — skipped")
        ctx.manifest.put(Record(STAGE, key, FAILED, fp, data=base, message=message))
        stats.failed += 1
        return

    out_dir = cutouts_root / job.rel.parent
    stem = job.rel.stem
    outputs: dict[str, str] = {}
    for index, result in enumerate(rounds):
        path = out_dir / f"{stem}_round{index + 1}_mask.png"
        outputs[_rel(ctx, path)] = save_png(path, mask_to_u8(result.mask))
    mask_u8 = mask_to_u8(mask)
    outputs[_rel(ctx, out_dir / f"{stem}_mask.png")] = save_png(out_dir / f"{stem}_mask.png", mask_u8)
    x0, y0, x1, y1 = _bbox(mask)
    cutout = np.dstack([image.rgb[y0:y1, x0:x1], mask_u8[y0:y1, x0:x1]])
    cutout_path = out_dir / f"{stem}.png"
    outputs[_rel(ctx, cutout_path)] = save_png(cutout_path, cutout)
    data = {
        **base,
        "method": method,
        "cutout": _rel(ctx, cutout_path),
        "mask": _rel(ctx, out_dir / f"{stem}_mask.png"),
        "bbox": [x0, y0, x1, y1],
        "size": [int(image.rgb.shape[1]), int(image.rgb.shape[0])],
        "aspect": (x1 - x0) / max(1, y1 - y0),
        "area": area,
        "rounds": [{"score": round(float(r.score), 6)} for r in rounds],
        "chosen_round": chosen + 1,
        "downscaled_from": list(image.downscaled_from) if image.downscaled_from else None,
    }
    if image.downscaled_from:
        ctx.reporter.warn(f"{job.path}: {image.downscaled_from[0]}x{image.downscaled_from[1]} downscaled on load")
    ctx.manifest.put(
        Record(
            STAGE,
            key,
            DONE,
            fp,
            backend=segmenter.identity() if method != "alpha-channel" else {"name": "alpha-channel"},
            outputs=outputs,
            data=data,
            seconds=time.perf_counter() - started,
        )
    )
    stats.made += 1


def _bbox(mask: np.ndarray) -> tuple[int, int, int, int]:
    """Tight box (x0, y0, x1, y1) of the foreground; the whole image when empty."""
    ys, xs = np.nonzero(mask > ALPHA_THRESHOLD)
    if len(xs) == 0:
        return 0, 0, int(mask.shape[1]), int(mask.shape[0])
    return int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1


def _rel(ctx: Context, path: Path) -> str:
    return path.relative_to(ctx.run_dir).as_posix()
