"""Stage 5: the run folder becomes a Hugging Face imagefolder dataset (``metadata.jsonl`` next to ``images/``).

Each line: ``file_name`` (the image), ``mask_file_name`` (union mask; `datasets` loads it as a second image
column), ``text`` (caption), ``objects`` (name, bbox [x0, y0, x1, y1] in pixels, instance mask path), ``scene``,
``seed``, ``sample_id``, ``composition``. Loads with ``datasets.load_dataset("imagefolder", data_dir=RUN_DIR)``.
"""

from __future__ import annotations

import io
import json
import math
import time
from typing import Any

from PIL import Image, ImageDraw

from gen4gen.io.atomic import atomic_write_bytes, atomic_write_text
from gen4gen.manifest import DONE, Record
from gen4gen.stages.common import Context, StageError, StageStats
from gen4gen.stages.compose import require_samples

STAGE = "export"
METADATA = "metadata.jsonl"
CONTACT_SHEET = "contact_sheet.jpg"


def export_stage(ctx: Context) -> StageStats:
    stats = StageStats(STAGE)
    started = time.perf_counter()
    rows = []
    samples = require_samples(ctx)
    with ctx.reporter.task("export", len(samples)) as advance:
        for compose in samples:
            rows.append(_row(ctx, compose))
            advance(1)
    lines = "".join(json.dumps(row, ensure_ascii=False, sort_keys=True) + "\n" for row in rows)
    atomic_write_text(ctx.run_dir / METADATA, lines)
    if ctx.config.export.contact_sheet and rows:
        write_contact_sheet(ctx, rows)
    stats.made = len(rows)
    stats.seconds = time.perf_counter() - started
    return stats


def _row(ctx: Context, compose: Record) -> dict[str, Any]:
    """The metadata.jsonl line of one sample."""
    repaint = ctx.manifest.get("repaint", compose.key)
    caption = ctx.manifest.get("caption", compose.key)
    if repaint is None or caption is None or caption.status != DONE or repaint.status != DONE:
        raise StageError(f"{ctx.run_dir}: sample {compose.key} is not captioned yet; run `gen4gen caption`")
    return {
        "file_name": repaint.data["image"],
        "mask_file_name": compose.data["union_mask"],
        "text": caption.data["text"],
        "objects": [{"name": o["name"], "bbox": o["bbox"], "mask": o["mask"]} for o in compose.data["objects"]],
        "scene": repaint.data["scene"],
        "seed": compose.seed,
        "sample_id": compose.data["sample_id"],
        "composition": compose.data["composition"],
    }


def write_contact_sheet(ctx: Context, rows: list[dict[str, Any]], thumb: int = 256, limit: int = 24) -> None:
    """A grid of the first ``limit`` samples with their boxes drawn, for a quick look at a run."""
    shown = rows[:limit]
    cols = min(6, len(shown))
    grid = Image.new("RGB", (cols * thumb, math.ceil(len(shown) / cols) * thumb), (24, 24, 24))
    for index, row in enumerate(shown):
        with Image.open(ctx.run_dir / row["file_name"]) as im:
            scale = thumb / max(im.size)
            tile = im.convert("RGB").resize(
                (round(im.width * scale), round(im.height * scale)), Image.Resampling.BILINEAR
            )
        draw = ImageDraw.Draw(tile)
        for obj in row["objects"]:
            x0, y0, x1, y1 = (v * scale for v in obj["bbox"])
            draw.rectangle((x0, y0, x1, y1), outline=(255, 210, 0), width=2)
            draw.text((x0 + 3, y0 + 2), obj["name"], fill=(255, 210, 0))
        grid.paste(tile, ((index % cols) * thumb, (index // cols) * thumb))
    buffer = io.BytesIO()
    grid.save(buffer, format="JPEG", quality=88)
    atomic_write_bytes(ctx.run_dir / CONTACT_SHEET, buffer.getvalue())
