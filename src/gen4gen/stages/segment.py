"""Stage 1: every concept photo -> an RGBA cut-out cropped to content plus its full-size soft mask.

For ``SRC/<concept>/<stem>.<ext>`` it writes ``<cutouts>/<concept>/<stem>.png`` (cut-out),
``<stem>_mask.png`` (chosen soft mask, full resolution) and ``<stem>_round<k>_mask.png`` (every round's mask).
Two photos that share a stem (``a.jpg``, ``a.png``) get ``<stem>_<ext>`` instead, so neither overwrites the other.
"""

from __future__ import annotations

import copy
import multiprocessing
import os
import signal
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from gen4gen.backends.base import ItemError, Photo, Segmenter
from gen4gen.backends.segment.rounds import RoundResult, best_round, multi_round
from gen4gen.io.atomic import file_sha256
from gen4gen.io.images import ImageError, load_image, mask_to_u8, save_png
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


@dataclass
class PhotoTask:
    """Everything needed to segment one photo and write its files; picklable, so it can run in a worker."""

    path: Path
    rel: Path
    out_stem: str  # file stem of the outputs
    concept: str
    folder: str
    fp: str
    source_hash: str
    segmenter: Segmenter
    rounds: int
    use_alpha: bool
    min_area: float
    cutouts_root: Path
    run_dir: Path


@dataclass
class PhotoOutcome:
    record: Record
    warnings: list[str]


def segment_stage(ctx: Context, src: Path, compositions: list[Composition], cutouts_root: Path) -> StageStats:
    """Segment every photo of every concept (in worker processes where the backend allows); returns stats."""
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
    tasks: list[PhotoTask] = []
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
                    STAGE_VERSION,
                    hashes[job.path],
                    siblings,
                    section.model_dump(mode="json", exclude={"workers"}),
                    identity,
                )
                current = ctx.manifest.is_current(STAGE, job.rel.as_posix(), fp)
                if current is None:
                    todo.append(_task(ctx, job, fp, hashes[job.path], segmenter, cutouts_root))
                    continue
                if current.status == DONE:
                    stats.reused += 1
                else:  # a photo that failed before fails again with the same inputs
                    stats.failed += 1
                    ctx.reporter.warn(current.message or f"{job.path}: failed before")
                advance(1)
            if todo and segmenter.uses_concept_photos:
                # co-segmentation: the backend learns from every photo of the concept first
                segmenter.prepare(_decodable_photos(group, hashes))
                todo = [replace(task, segmenter=copy.deepcopy(segmenter)) for task in todo]
            tasks += todo
        for outcome in _run(tasks, _workers(section.workers, segmenter, len(tasks))):
            for message in outcome.warnings:
                ctx.reporter.warn(message)
            ctx.manifest.put(outcome.record)
            if outcome.record.status == DONE:
                stats.made += 1
            else:
                stats.failed += 1
            advance(1)
    stats.seconds = time.perf_counter() - started
    return stats


def _task(
    ctx: Context, job: PhotoJob, fp: str, source_hash: str, segmenter: Segmenter, cutouts_root: Path
) -> PhotoTask:
    section = ctx.config.segment
    siblings = [p.stem.lower() for p in job.concept.photos]
    out_stem = (
        job.rel.stem if siblings.count(job.rel.stem.lower()) == 1 else f"{job.rel.stem}_{job.rel.suffix[1:]}"
    )
    return PhotoTask(
        job.path,
        job.rel,
        out_stem,
        job.concept.name,
        job.concept.folder,
        fp,
        source_hash,
        segmenter,
        section.rounds,
        section.use_alpha,
        section.min_area,
        cutouts_root,
        ctx.run_dir,
    )


def _decodable_photos(group: list[PhotoJob], hashes: dict[Path, str]) -> list[Photo]:
    photos = []
    for job in group:
        if job.path in hashes:
            try:
                image = load_image(job.path)
            except ImageError:
                continue  # reported when the photo itself is segmented
            photos.append(Photo(image.rgb, job.path, job.concept.name, image.alpha))
    return photos


def _workers(requested: int, segmenter: Segmenter, jobs: int) -> int:
    if not segmenter.process_parallel or jobs < 2:
        return 1
    available = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return max(1, min(jobs, requested or min(available, 8)))


def _run(tasks: list[PhotoTask], workers: int) -> Iterator[PhotoOutcome]:
    """Outcomes as they finish; in worker processes when ``workers`` > 1 (each photo is independent)."""
    if workers <= 1:
        for task in tasks:
            yield segment_photo(task)
        return
    context = multiprocessing.get_context("spawn")  # no fork of a process holding threads and locks
    with ProcessPoolExecutor(workers, mp_context=context, initializer=_ignore_interrupts) as pool:
        futures = [pool.submit(segment_photo, task) for task in tasks]
        try:
            for future in as_completed(futures):
                yield future.result()
        except BaseException:
            pool.shutdown(wait=False, cancel_futures=True)
            raise


def _ignore_interrupts() -> None:
    """Workers leave Ctrl-C to the main process, which stops the pool and reports once."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def segment_photo(task: PhotoTask) -> PhotoOutcome:
    """Segment one photo (all rounds), write its cut-out and masks atomically, return its record."""
    key = task.rel.as_posix()
    base = {"source": key, "source_sha256": task.source_hash, "concept": task.concept, "folder": task.folder}
    started = time.perf_counter()
    warnings: list[str] = []
    try:
        image = load_image(task.path)
        photo = Photo(image.rgb, task.path, task.concept, image.alpha)
        if task.use_alpha and photo.alpha is not None:
            mask = photo.alpha.astype(np.float32) / 255.0
            rounds = [RoundResult(mask, 1.0, _bbox(mask))]
            chosen, method = 0, "alpha-channel"
        else:
            rounds = multi_round(task.segmenter, photo, task.rounds)
            chosen, method = best_round(rounds), task.segmenter.name
        mask = rounds[chosen].mask
        area = float((mask > ALPHA_THRESHOLD).mean())
        if area < task.min_area:
            raise ItemError(
                f"{task.path}: segmentation found no object ({area:.2%} of the photo); "
                "use a photo where the concept stands out, or give a mask (segment.backend=alpha)"
            )
    except (ImageError, ItemError) as exc:
        message = str(exc) if str(task.path) in str(exc) else f"{task.path}: {exc}"
        return PhotoOutcome(
            Record(STAGE, key, FAILED, task.fp, data=base, message=message), [message + " — skipped"]
        )

    def rel(path: Path) -> str:
        return path.relative_to(task.run_dir).as_posix()

    out_dir = task.cutouts_root / task.rel.parent
    stem = task.out_stem
    outputs: dict[str, str] = {}
    for index, result in enumerate(rounds):
        path = out_dir / f"{stem}_round{index + 1}_mask.png"
        outputs[rel(path)] = save_png(path, mask_to_u8(result.mask))
    mask_u8 = mask_to_u8(mask)
    outputs[rel(out_dir / f"{stem}_mask.png")] = save_png(out_dir / f"{stem}_mask.png", mask_u8)
    x0, y0, x1, y1 = _bbox(mask)
    cutout_path = out_dir / f"{stem}.png"
    outputs[rel(cutout_path)] = save_png(cutout_path, np.dstack([image.rgb[y0:y1, x0:x1], mask_u8[y0:y1, x0:x1]]))
    data = {
        **base,
        "method": method,
        "cutout": rel(cutout_path),
        "mask": rel(out_dir / f"{stem}_mask.png"),
        "bbox": [x0, y0, x1, y1],
        "size": [int(image.rgb.shape[1]), int(image.rgb.shape[0])],
        "aspect": (x1 - x0) / max(1, y1 - y0),
        "area": area,
        "rounds": [{"score": round(float(r.score), 6)} for r in rounds],
        "chosen_round": chosen + 1,
        "downscaled_from": list(image.downscaled_from) if image.downscaled_from else None,
    }
    if image.downscaled_from:
        width, height = image.downscaled_from
        warnings.append(f"{task.path}: {width}x{height} downscaled on load")
    backend = task.segmenter.identity() if method != "alpha-channel" else {"name": "alpha-channel"}
    record = Record(
        STAGE,
        key,
        DONE,
        task.fp,
        backend=backend,
        outputs=outputs,
        data=data,
        seconds=time.perf_counter() - started,
    )
    return PhotoOutcome(record, warnings)


def _bbox(mask: np.ndarray) -> tuple[int, int, int, int]:
    """Tight box (x0, y0, x1, y1) of the foreground; the whole image when empty."""
    ys, xs = np.nonzero(mask > ALPHA_THRESHOLD)
    if len(xs) == 0:
        return 0, 0, int(mask.shape[1]), int(mask.shape[0])
    return int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1
