"""``gen4gen eval``: score every image of IMAGES against the concepts of SPEC and write OUT.

OUT gets ``scores.jsonl`` (one line per image), ``summary.json`` (means per Table 1 group, models, thresholds,
query template, resolved settings), ``summary.csv`` (the table) and ``config.yaml`` (the settings, reusable with
``--config``). Scores are kept in ``OUT/scores.sqlite`` as they are made, keyed by a fingerprint of everything
that determines them (image bytes, its metadata line, its concepts' class words and reference files, models,
scoring settings), so a rerun — also after an interruption — scores only what is new or changed.
"""

from __future__ import annotations

import csv
import io
import json
import sqlite3
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from PIL import Image

from gen4gen import __version__, hf
from gen4gen.errors import ImageError, ManifestError
from gen4gen.evaluate import metrics
from gen4gen.evaluate.config import SECTION, EvalConfig
from gen4gen.evaluate.metrics import Box, Detection
from gen4gen.evaluate.models import ClipEmbedder, OwlDetector, model_identity
from gen4gen.evaluate.spec import EvalImage, Spec, distinct, read_images, read_spec
from gen4gen.io.atomic import atomic_write_text, file_sha256
from gen4gen.io.images import load_image
from gen4gen.manifest import fingerprint
from gen4gen.progress import Reporter

SCORER_VERSION = "1"
SCORES, SUMMARY_JSON, SUMMARY_CSV, CONFIG, STORE = (
    "scores.jsonl",
    "summary.json",
    "summary.csv",
    "config.yaml",
    "scores.sqlite",
)
#: what a concept slot gets: (detector query, clamped box, detector score); no query nor score for given boxes
Slot = tuple[str | None, Box, float | None]
#: reference images with transparency (cut-outs) are flattened on this colour
BACKDROP = (255, 255, 255)


def to_rgb(path: Path) -> Image.Image:
    """An image file as RGB (EXIF orientation applied; transparent pixels flattened on white)."""
    loaded = load_image(path)
    if loaded.alpha is None:
        return Image.fromarray(loaded.rgb)
    alpha = loaded.alpha[..., None].astype(np.float64) / 255.0
    flat = loaded.rgb * alpha + np.asarray(BACKDROP, dtype=np.float64) * (1.0 - alpha)
    return Image.fromarray(np.clip(flat + 0.5, 0, 255).astype(np.uint8))


class Scorer:
    """CP-CLIP and TI-CLIP of images, with the reference embeddings of each concept computed once."""

    def __init__(
        self, config: EvalConfig, spec: Spec, clip: ClipEmbedder, detector: OwlDetector | None = None
    ) -> None:
        if config.boxes == "detect" and detector is None:
            raise ValueError("eval.boxes=detect needs a detector")
        self.config, self.spec, self.clip, self.detector = config, spec, clip, detector
        self._references: dict[str, np.ndarray] = {}

    def references(self, name: str) -> np.ndarray:
        """(m, d) CLIP embeddings of concept ``name``'s reference images (an unreadable one is an ImageError)."""
        if name not in self._references:
            images = [to_rgb(p) for p in self.spec.concepts[name].references]
            self._references[name] = self.clip.images(images)
        return self._references[name]

    def score(self, items: Sequence[tuple[EvalImage, Image.Image]]) -> list[dict[str, Any]]:
        """The scores.jsonl line of each (metadata, RGB image) pair, all models run once per batch."""
        slots = self._detect(items) if self.config.boxes == "detect" else self._given(items)
        crops = [
            image.crop(metrics.crop_window(slot[1]))
            for (_, image), image_slots in zip(items, slots, strict=True)
            for slot in image_slots
            if slot is not None
        ]
        crop_embeddings = self.clip.images(crops)
        image_embeddings = self.clip.images([image for _, image in items])
        texts = [self._ti_text(meta)[1] for meta, _ in items]
        text_embeddings = self.clip.texts(texts)
        rows, used = [], 0
        for index, ((meta, _), image_slots) in enumerate(zip(items, slots, strict=True)):
            names = distinct(meta.concepts)
            refs = [self.references(n) for n in names]
            count = sum(s is not None for s in image_slots)
            table = metrics.similarity(crop_embeddings[used : used + count], refs)
            used += count
            best, credited = metrics.credit(table)
            detections: list[dict[str, Any] | None] = []
            row_index = 0
            for slot in image_slots:
                if slot is None:
                    detections.append(None)
                    continue
                query, box, score = slot
                detections.append(
                    {
                        "query": query,
                        "box": list(box),
                        "crop": list(metrics.crop_window(box)),
                        "score": score,
                        "similarity": {n: float(table[row_index, j]) for j, n in enumerate(names)},
                        "credited": names[best[row_index]],
                        "credited_similarity": credited[row_index],
                    }
                )
                row_index += 1
            source, text = self._ti_text(meta)
            rows.append(
                {
                    "file_name": meta.file_name,
                    "n_concepts": len(meta.concepts),
                    "concepts": list(meta.concepts),
                    "cp_clip": metrics.cp_clip(credited, len(meta.concepts)),
                    "ti_clip": metrics.cosine(image_embeddings[index], text_embeddings[index]),
                    "ti_text": text,
                    "ti_text_source": source,
                    "detections": detections,
                }
            )
        return rows

    def _ti_text(self, meta: EvalImage) -> tuple[str, str]:
        if self.config.ti_text == "background" and meta.background:
            return "background", meta.background
        return "prompt", meta.text

    def _detect(self, items: Sequence[tuple[EvalImage, Image.Image]]) -> list[list[Slot | None]]:
        """Per image, per concept slot: (query, box, score) of the box it gets, or None when none was found."""
        assert self.detector is not None
        words_of = [distinct(self.spec.concepts[c].word for c in meta.concepts) for meta, _ in items]
        queries = [[self.config.query_template.format(w) for w in words] for words in words_of]
        found = self.detector.detect([image for _, image in items], queries, self.config.threshold)
        slots = []
        for (meta, image), words, own, detections in zip(items, words_of, queries, found, strict=True):
            labels = [words.index(self.spec.concepts[c].word) for c in meta.concepts]
            wanted = [labels.count(q) for q in range(len(words))]
            chosen = metrics.select_detections(detections, wanted, image.width, image.height, self.config.nms_iou)
            taken = [0] * len(words)
            image_slots: list[Slot | None] = []
            for label in labels:
                rank, taken[label] = taken[label], taken[label] + 1
                hit: Detection | None = chosen[label][rank] if rank < len(chosen[label]) else None
                image_slots.append(None if hit is None else (own[label], hit.box, hit.score))
            slots.append(image_slots)
        return slots

    def _given(self, items: Sequence[tuple[EvalImage, Image.Image]]) -> list[list[Slot | None]]:
        slots: list[list[Slot | None]] = []
        for meta, image in items:
            boxes = meta.boxes or (None,) * len(meta.concepts)
            clamped = [None if b is None else metrics.clamp_box(b, image.width, image.height) for b in boxes]
            slots.append([None if b is None else (None, b, None) for b in clamped])
        return slots


class ScoreStore:
    """OUT/scores.sqlite: the scores.jsonl line of every image scored so far, with its fingerprint."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._db = sqlite3.connect(path, isolation_level=None, timeout=30)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS scores (file_name TEXT PRIMARY KEY, fingerprint TEXT NOT NULL, "
                "line TEXT NOT NULL)"
            )
        except sqlite3.DatabaseError as exc:
            raise ManifestError(f"{path}: not a usable score store ({exc}); move it away to score afresh") from exc

    def current(self, file_name: str, fp: str) -> dict[str, Any] | None:
        row = self._db.execute("SELECT fingerprint, line FROM scores WHERE file_name = ?", (file_name,)).fetchone()
        return json.loads(row[1]) if row is not None and row[0] == fp else None

    def put(self, lines: Sequence[tuple[str, dict[str, Any]]]) -> None:
        """Store (fingerprint, line) pairs in one transaction."""
        with self._db:
            self._db.executemany(
                "INSERT OR REPLACE INTO scores (file_name, fingerprint, line) VALUES (?, ?, ?)",
                [(line["file_name"], fp, json.dumps(line)) for fp, line in lines],
            )

    def close(self) -> None:
        self._db.close()


@dataclass
class EvalStats:
    out: Path
    total: int = 0
    scored: int = 0
    reused: int = 0
    failed: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0
    summary: dict[str, Any] = field(default_factory=dict)


def evaluate(
    images_dir: Path, concepts: Path, out: Path, config: EvalConfig, reporter: Reporter | None = None
) -> EvalStats:
    """Score IMAGES against SPEC into OUT (see the module docstring); images already scored are reused."""
    started = time.perf_counter()
    reporter = reporter or Reporter()
    spec = read_spec(concepts, config.references)
    found = read_images(images_dir, spec, need_boxes=config.boxes == "given")
    for problem in found.problems:
        reporter.warn(problem)
    models = {
        "clip": model_identity(config.clip_model),
        "detector": model_identity(config.detector) if config.boxes == "detect" else None,
    }
    settings = fingerprint(SCORER_VERSION, config.scoring_settings(), models)
    stats = EvalStats(out, total=len(found.images))
    store = ScoreStore(out / STORE)
    try:
        lines: dict[str, dict[str, Any]] = {}
        todo: list[tuple[EvalImage, str]] = []
        reference_digests: dict[str, list[str]] = {}
        for meta in found.images:
            try:
                fp = _image_fingerprint(settings, meta, spec, reference_digests)
            except OSError as exc:
                stats.failed[f"unreadable image ({exc.strerror})"] += 1
                reporter.warn(f"{meta.path}: unreadable ({exc.strerror}); skipped")
                continue
            line = store.current(meta.file_name, fp)
            if line is not None:
                lines[meta.file_name] = line
                stats.reused += 1
            else:
                todo.append((meta, fp))
        if todo:
            scorer = _scorer(config, spec)
            with reporter.task("eval", len(todo)) as advance:
                for start in range(0, len(todo), config.batch_size):
                    batch = []
                    for meta, fp in todo[start : start + config.batch_size]:
                        try:
                            batch.append((meta, fp, to_rgb(meta.path)))
                        except ImageError as exc:
                            stats.failed["unreadable image"] += 1
                            reporter.warn(str(exc))
                            advance(1)
                    rows = scorer.score([(meta, image) for meta, _, image in batch]) if batch else []
                    store.put([(fp, row) for (_, fp, _), row in zip(batch, rows, strict=True)])
                    for row in rows:
                        lines[row["file_name"]] = row
                    stats.scored += len(rows)
                    advance(len(rows))
        ordered = [lines[m.file_name] for m in found.images if m.file_name in lines]
    finally:
        store.close()
    stats.seconds = time.perf_counter() - started
    stats.summary = summary(ordered, config, models, images_dir, spec, stats)
    write_outputs(out, ordered, stats.summary, config)
    return stats


def _scorer(config: EvalConfig, spec: Spec) -> Scorer:
    device = hf.resolve_device(config.device)
    dtype = hf.resolve_dtype(config.dtype, device)
    clip = ClipEmbedder.load(config.clip_model, device, dtype, config.batch_size)
    detector = (
        OwlDetector.load(config.detector, device, dtype, config.batch_size) if config.boxes == "detect" else None
    )
    return Scorer(config, spec, clip, detector)


def _image_fingerprint(settings: str, meta: EvalImage, spec: Spec, digests: dict[str, list[str]]) -> str:
    """Hash of the settings, the image's bytes and metadata, and its concepts' words and reference files."""
    concepts = {}
    for name in distinct(meta.concepts):
        if name not in digests:
            digests[name] = [file_sha256(p) for p in spec.concepts[name].references]
        concepts[name] = {"word": spec.concepts[name].word, "references": digests[name]}
    return fingerprint(settings, file_sha256(meta.path), meta.record(), concepts)


def summary(
    lines: Sequence[dict[str, Any]],
    config: EvalConfig,
    models: dict[str, Any],
    images_dir: Path,
    spec: Spec,
    stats: EvalStats,
) -> dict[str, Any]:
    """summary.json: both scores per Table 1 group, what made them, and how many images were scored."""
    counts = [line["n_concepts"] for line in lines]
    return {
        "gen4gen_version": __version__,
        "images_dir": str(images_dir),
        "concepts": str(spec.source),
        "images": {
            "listed": stats.total,
            "scored": len(lines),
            "scored_now": stats.scored,
            "reused": stats.reused,
            "failed": sum(stats.failed.values()),
        },
        "cp_clip": {g: s.as_dict() for g, s in metrics.summarise([ln["cp_clip"] for ln in lines], counts).items()},
        "ti_clip": {g: s.as_dict() for g, s in metrics.summarise([ln["ti_clip"] for ln in lines], counts).items()},
        "models": models,
        "boxes": config.boxes,
        "thresholds": {"detector": config.threshold, "nms_iou": config.nms_iou},
        "query_template": config.query_template,
        "references": config.references,
        "ti_text": config.ti_text,
        "config": {SECTION: config.model_dump(mode="json")},
    }


def summary_csv(data: dict[str, Any]) -> str:
    """The Table 1 layout: one row per group (all, <=3, 4, >=5) with both scores' mean and std."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["group", "count", "cp_clip_mean", "cp_clip_std", "ti_clip_mean", "ti_clip_std"])
    for group in ("all", *metrics.GROUPS):
        cp, ti = data["cp_clip"][group], data["ti_clip"][group]
        cells = [cp["mean"], cp["std"], ti["mean"], ti["std"]]
        writer.writerow([group, cp["count"], *("" if v is None else f"{v:.6f}" for v in cells)])
    return buffer.getvalue()


def write_outputs(out: Path, lines: Sequence[dict[str, Any]], data: dict[str, Any], config: EvalConfig) -> None:
    atomic_write_text(out / SCORES, "".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines))
    atomic_write_text(out / SUMMARY_JSON, json.dumps(data, indent=2, ensure_ascii=False) + "\n")
    atomic_write_text(out / SUMMARY_CSV, summary_csv(data))
    header = "# Settings of this evaluation (defaults filled in); reusable with gen4gen eval --config.\n"
    atomic_write_text(out / CONFIG, header + yaml.safe_dump({SECTION: config.model_dump(mode="json")}))
