"""One photo's cut-out as the review page shows it, and re-segmenting it after a person's round choice or hints.

A photo is named only by its segment key (its path relative to SRC, as the manifest records it); every file is
found through its segment record and checked to stay inside its folder. Re-segmenting runs the ordinary segment
stage on that one photo, in this process: the stage reads the new decision through its fingerprint, remakes the
cut-out and records it, exactly as ``gen4gen run`` would.
"""

from __future__ import annotations

import json
import re
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gen4gen.errors import StageError
from gen4gen.manifest import DONE, Manifest, Record
from gen4gen.manifest.records import SegmentData, read
from gen4gen.review.guidance import HINTS, ROUND, photo_guidance, photo_target, read_sidecar, review_hints
from gen4gen.review.media import inside, relative_inside

ROUND_FILE = re.compile(r"round(\d+)")


class PhotoError(StageError):
    """A photo the page cannot show or re-segment (unknown key, missing record or file)."""


@dataclass(frozen=True)
class PhotoFiles:
    record: Record
    data: SegmentData | None  # None when the photo failed to segment
    source: Path  # the photo in SRC
    rounds: list[Path]  # every round's mask, in round order
    mask: Path | None  # the chosen mask


def source_root(manifest: Manifest) -> Path:
    src = manifest.get_meta("src")
    if src is None:
        raise PhotoError(f"{manifest.run_dir}: no source folder recorded; run `gen4gen run SRC --out RUN_DIR`")
    return Path(src)


def round_masks(run_dir: Path, record: Record, data: SegmentData) -> list[Path]:
    """Every round's mask of a segment record, in round order (the files its outputs list besides the cut-out
    and the chosen mask, numbered by round)."""
    found: dict[int, str] = {}
    for rel in record.outputs:
        if rel in (data.cutout, data.mask):
            continue
        match = ROUND_FILE.search(Path(rel).name)
        if match:
            found[int(match.group(1))] = rel
    return [inside(run_dir, found[k]) for k in sorted(found)]


def photo_files(manifest: Manifest, key: str) -> PhotoFiles:
    record = manifest.get("segment", key)
    if record is None:
        raise PhotoError(f"photo {key}: not in this run")
    try:
        source = relative_inside(source_root(manifest), key)
    except ValueError as exc:
        raise PhotoError(f"photo {key}: not inside the source folder") from exc
    if record.status != DONE:
        return PhotoFiles(record, None, source, [], None)
    data = read(SegmentData, record)
    try:
        rounds = round_masks(manifest.run_dir, record, data)
        mask = inside(manifest.run_dir, data.mask)
    except ValueError as exc:
        raise PhotoError(f"photo {key}: its masks are not inside the run folder") from exc
    return PhotoFiles(record, data, source, rounds, mask)


def photo_json(manifest: Manifest, key: str, used_by: list[str]) -> dict[str, Any]:
    """What the cut-out view shows of one photo."""
    files = photo_files(manifest, key)
    decisions = manifest.decisions(photo_target(key))
    guidance, problems = photo_guidance(manifest, key, files.source)
    sidecar, sidecar_path, sidecar_problem = read_sidecar(files.source)
    reviewed = review_hints(decisions[HINTS].value) if HINTS in decisions else None
    data = files.data
    info: dict[str, Any] = {
        "key": key,
        "status": files.record.status,
        "fingerprint": files.record.fingerprint,
        "message": files.record.message,
        "used_by": used_by,
        "hints": guidance.hints if guidance is not None else None,
        "hints_source": guidance.source if guidance is not None else None,
        "review_hints": reviewed.model_dump(mode="json") if reviewed is not None else None,
        "sidecar": sidecar_path.name if sidecar_path is not None and sidecar is not None else None,
        "problems": problems or ([sidecar_problem] if sidecar_problem else []),
        "round_decision": decisions[ROUND].value if ROUND in decisions else None,
        "decisions": {kind: {"value": d.value, "created": d.created} for kind, d in decisions.items()},
        "intact": manifest.intact(files.record),  # its files are there as recorded
    }
    if data is None:
        info["original"] = oriented_size(files.source)
    else:
        size = data.size
        info.update(
            concept=data.concept,
            folder=data.folder,
            method=data.method,
            size=list(size),
            original=list(data.downscaled_from or size),
            bbox=list(data.bbox),
            chosen_round=data.chosen_round,
            rounds=[{"round": k + 1, "score": r.score} for k, r in enumerate(data.rounds)],
            area=data.area,
        )
    return info


def oriented_size(path: Path) -> list[int] | None:
    """(width, height) of a photo as displayed (EXIF orientation applied), without decoding it."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            width, height = im.size
            turned = im.getexif().get(0x0112) in (5, 6, 7, 8)
    except (OSError, ValueError, SyntaxError):
        return None
    return [height, width] if turned else [width, height]


def photo_list(manifest: Manifest, used_by: dict[str, int]) -> list[dict[str, Any]]:
    """Every photo of the run with its cut-out's state, the failed ones first (they need a person most)."""
    found = []
    for composition in json.loads(manifest.get_meta("compositions") or "[]"):
        for concept in composition["concepts"]:
            for key in concept["photos"]:
                record = manifest.get("segment", key)
                if record is None:
                    continue
                data = read(SegmentData, record) if record.status == DONE else None
                decisions = manifest.decisions(photo_target(key))
                found.append(
                    {
                        "key": key,
                        "composition": composition["id"],
                        "concept": concept["name"],
                        "status": record.status,
                        "message": record.message,
                        "method": data.method if data is not None else None,
                        "chosen_round": data.chosen_round if data is not None else None,
                        "rounds": len(data.rounds) if data is not None else 0,
                        "score": data.rounds[data.chosen_round - 1].score if data is not None else None,
                        "fingerprint": record.fingerprint,
                        "decided": bool(decisions),
                        "used_by": used_by.get(key, 0),
                    }
                )
    return sorted(found, key=lambda p: (p["status"] == DONE, p["key"]))


def _concept_of(manifest: Manifest, key: str) -> tuple[str, str, str]:
    """(composition id, concept folder, concept name) of the photo with segment key ``key``."""
    for composition in json.loads(manifest.get_meta("compositions") or "[]"):
        for concept in composition["concepts"]:
            if key in concept["photos"]:
                return composition["id"], concept["folder"], concept["name"]
    raise PhotoError(f"photo {key}: not among the run's concept photos")


class Resegmenter:
    """Runs the segment stage on one photo at a time (one at a time in all: the backend is built once)."""

    def __init__(self, manifest: Manifest) -> None:
        self.manifest = manifest
        self.run_dir = manifest.run_dir
        self._lock = threading.Lock()
        self._pool: Any = None

    def close(self) -> None:
        if self._pool is not None:
            self._pool.close()

    def run(self, key: str) -> dict[str, Any]:
        """Segment the photo again if its record is not current (after a new decision); the stage's summary."""
        from gen4gen.executors import BackendPool, LocalExecutor
        from gen4gen.io.sources import Composition, Concept
        from gen4gen.pipeline import Pipeline
        from gen4gen.progress import Reporter
        from gen4gen.stages.base import Context
        from gen4gen.stages.runner import run_stage
        from gen4gen.stages.segment import SegmentStage

        composition, folder, name = _concept_of(self.manifest, key)
        src = source_root(self.manifest)
        photo = relative_inside(src, key)
        with self._lock:
            config = Pipeline.saved_config(self.run_dir, None, [])  # as the last command left it
            if self._pool is None:
                self._pool = BackendPool(self.run_dir)
            cutouts = self.run_dir / (self.manifest.get_meta("cutouts_root") or "cutouts")
            stage = SegmentStage(
                self.run_dir,
                config,
                src,
                [Composition(composition, [Concept(folder, name, [photo])])],
                cutouts,
            )
            reporter = Reporter()
            ctx = Context(self.run_dir, config, self.manifest, reporter, self._pool, retry_failed=True)
            started = time.perf_counter()
            stats = run_stage(stage, ctx, LocalExecutor(self._pool))
        return {
            "made": stats.made,
            "failed": stats.total_failed,
            "seconds": round(time.perf_counter() - started, 3),
            "warnings": reporter.warnings,
        }
