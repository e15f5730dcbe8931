"""The Hugging Face imagefolder, in two places.

``ImageFolderWriter`` keeps the run folder's own index, ``RUN_DIR/metadata.jsonl`` next to ``images/``: each line
``file_name`` (the image), ``text`` (caption), ``objects`` (name, concept id, bbox [x0, y0, x1, y1] in pixels,
``mask``: the instance mask PNG, cropped to ``mask_box`` [x0, y0, x1, y1]; ``mask_box`` null: a full-image mask, as
runs composed before masks were cropped have), ``scene``, ``seed``, ``sample_id``, ``composition``. The run folder
has no union mask file (it is the pixel-wise maximum of the instance masks); the ``hf`` export writes one.

``HFDatasetWriter`` is the ``hf`` export: a folder holding only the dataset, which
``datasets.load_dataset("imagefolder", data_dir=DIR, split="train")`` loads with any datasets >= 2.19 and any
concept name::

    DIR/metadata.jsonl           file_name, mask_file_name, text (training caption), caption (grounded
                                 caption), objects [{name, concept_id, token, bbox, mask}], scene, seed,
                                 sample_id, composition
    DIR/images/<stem>.png        the samples
    DIR/.masks/<stem>.png        union masks (`mask` column from datasets 3.4 on; a path before)
    DIR/.masks/<stem>/<k>.png    instance masks, ``objects[k].mask``
                                 (masks at the image's size, expanded from the run folder's crops)
    DIR/README.md, export.yaml   how to load it; what was exported, with which caption settings

Stems are hex digits and the masks sit in a hidden folder: datasets never reads a concept's name as a split name
(``train``, ``test``), and datasets before 3.4, which wants a metadata line for every image it finds, never finds
a mask.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from gen4gen.exporters.base import Writer
from gen4gen.exporters.folder import FolderWriter, dataset_stem, mask_png
from gen4gen.geometry.masks import union as union_of
from gen4gen.io.atomic import atomic_write_bytes
from gen4gen.sample import Sample

METADATA = "metadata.jsonl"
MASKS = ".masks"


def metadata_row(sample: Sample) -> dict[str, Any]:
    """The run folder's metadata.jsonl line of one sample."""
    return {
        "file_name": sample.image,
        "text": sample.caption,
        "objects": [
            {
                "name": o.name,
                "concept_id": o.concept_id,
                "bbox": list(o.bbox),
                "mask": o.mask,
                "mask_box": list(o.mask_box) if o.mask_box is not None else None,
            }
            for o in sample.objects
        ],
        "scene": sample.scene,
        "seed": sample.seeds.get("compose"),
        "sample_id": sample.id,
        "composition": sample.composition,
    }


class ImageFolderWriter(Writer):
    """The run folder's own ``metadata.jsonl`` (what ``gen4gen run`` writes), replaced only when its bytes
    change."""

    name = "index"

    def open(self, run_dir: Path) -> None:
        super().open(run_dir)
        self.lines: list[str] = []

    def add(self, sample: Sample) -> None:
        self.lines.append(json.dumps(metadata_row(sample), ensure_ascii=False, sort_keys=True) + "\n")

    def close(self) -> list[Path]:
        path = self.run_dir / METADATA
        data = "".join(self.lines).encode("utf-8")
        try:
            unchanged = path.read_bytes() == data
        except OSError:
            unchanged = False
        if not unchanged:
            atomic_write_bytes(path, data)
        return [path]


class HFDatasetWriter(FolderWriter):
    """The ``hf`` export (see the module docstring)."""

    name = "hf"
    owned = ("images", MASKS)

    def open(self, run_dir: Path) -> None:
        super().open(run_dir)
        self.lines: list[str] = []

    def add(self, sample: Sample) -> None:
        stem = dataset_stem(sample)
        image = self.place_rgb(self.source(sample.image, sample), f"images/{stem}")
        masks = self.masks(sample)
        union = f"{MASKS}/{stem}.png"
        self.put_bytes(union, mask_png(union_of(masks), sample.size))
        objects = []
        for k, (obj, crop) in enumerate(zip(sample.objects, masks, strict=True)):
            mask = f"{MASKS}/{stem}/{k}.png"
            self.put_bytes(mask, mask_png(crop, sample.size))
            concept = self.captions.concept(obj.concept_id)
            objects.append(
                {
                    "name": obj.name,
                    "concept_id": obj.concept_id,
                    "token": concept.token,
                    "bbox": list(obj.bbox),
                    "mask": mask,
                }
            )
        row = {
            "file_name": image,
            "mask_file_name": union,
            "text": self.captions.caption(sample),
            "caption": sample.caption,
            "objects": objects,
            "scene": sample.scene,
            "seed": sample.seeds.get("compose"),
            "sample_id": sample.id,
            "composition": sample.composition,
        }
        self.lines.append(json.dumps(row, ensure_ascii=False, sort_keys=True) + "\n")
        self.count += 1

    def close(self) -> list[Path]:
        self.put_text(METADATA, "".join(self.lines))
        self.put_text("README.md", README.format(dir=self.out_dir.resolve()))
        return self.finish()


README = """\
# gen4gen dataset (Hugging Face imagefolder)

```python
from datasets import load_dataset

dataset = load_dataset("imagefolder", data_dir="{dir}", split="train")
```

Columns: `image`, `mask` (union of the concept masks; a path relative to this folder with datasets < 3.4),
`text` (the training caption, with the concepts' tokens), `caption` (the grounded caption), `objects`
(`name`, `concept_id`, `token`, `bbox` [x0, y0, x1, y1] in pixels, `mask`: the instance mask, relative to this
folder), `scene`, `seed`, `sample_id`, `composition`. `export.yaml` records the caption settings.

Train diffusers' text-to-image LoRA on it:

```bash
accelerate launch train_text_to_image_lora.py \\
  --pretrained_model_name_or_path=stable-diffusion-v1-5/stable-diffusion-v1-5 \\
  --train_data_dir="{dir}" --caption_column=text --resolution=512 --train_batch_size=1 \\
  --max_train_steps=1000 --learning_rate=1e-4 --output_dir=gen4gen-lora
```
"""
