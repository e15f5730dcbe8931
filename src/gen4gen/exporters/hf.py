"""The Hugging Face imagefolder: ``metadata.jsonl`` next to ``images/`` in the run folder.

Each line: ``file_name`` (the image), ``mask_file_name`` (union mask; `datasets` loads it as a second image
column), ``text`` (caption), ``objects`` (name, concept id, bbox [x0, y0, x1, y1] in pixels, instance mask path),
``scene``, ``seed``, ``sample_id``, ``composition``. Loads with
``datasets.load_dataset("imagefolder", data_dir=RUN_DIR)``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from gen4gen.exporters.base import Writer
from gen4gen.io.atomic import atomic_write_text
from gen4gen.sample import Sample

METADATA = "metadata.jsonl"


def metadata_row(sample: Sample) -> dict[str, Any]:
    """The metadata.jsonl line of one sample."""
    return {
        "file_name": sample.image,
        "mask_file_name": sample.union_mask,
        "text": sample.caption,
        "objects": [
            {"name": o.name, "concept_id": o.concept_id, "bbox": list(o.bbox), "mask": o.mask}
            for o in sample.objects
        ],
        "scene": sample.scene,
        "seed": sample.seeds.get("compose"),
        "sample_id": sample.id,
        "composition": sample.composition,
    }


class ImageFolderWriter(Writer):
    name = "hf"

    def open(self, run_dir: Path) -> None:
        super().open(run_dir)
        self.lines: list[str] = []

    def add(self, sample: Sample) -> None:
        self.lines.append(json.dumps(metadata_row(sample), ensure_ascii=False, sort_keys=True) + "\n")

    def close(self) -> list[Path]:
        path = self.run_dir / METADATA
        atomic_write_text(path, "".join(self.lines))
        return [path]
