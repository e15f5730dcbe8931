"""COCO: ``instances.json`` (detection and instance segmentation) and ``captions.json`` (COCO captions)::

    DIR/instances.json     images, one category per concept (its class word as supercategory), one annotation
                           per instance: bbox [x, y, w, h], area, RLE segmentation (pycocotools), iscrowd 0
    DIR/captions.json      images and one caption per image (the training caption)
    DIR/images/<id>.png    the samples; ``file_name`` is relative to the JSON files
    DIR/README.md, export.yaml

Instance masks are the run's soft masks (expanded to the image from their crops) thresholded at 128; box and area
come from the thresholded mask, so they agree with the segmentation exactly. Loads with
``pycocotools.coco.COCO(DIR/instances.json)``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from gen4gen import __version__
from gen4gen.errors import BackendUnavailable
from gen4gen.exporters.folder import FolderWriter
from gen4gen.geometry.masks import CanvasMask
from gen4gen.sample import Sample

THRESHOLD = 128


def _mask_utils() -> Any:
    try:
        from pycocotools import mask as mask_utils
    except ImportError as exc:  # pragma: no cover - pycocotools is a dev dependency
        raise BackendUnavailable(
            "the coco export needs pycocotools for its RLE masks: pip install 'gen4gen[coco]'"
        ) from exc
    return mask_utils


def encode_mask(mask: CanvasMask, size: tuple[int, int]) -> tuple[dict[str, Any], list[float], float]:
    """(RLE with string counts, bbox [x, y, w, h], area) of a uint8 soft mask on a ``size`` image, thresholded at
    128."""
    mask_utils = _mask_utils()
    binary = mask.full(size) >= THRESHOLD
    rle = mask_utils.encode(np.asfortranarray(binary.astype(np.uint8)))
    bbox = [float(v) for v in mask_utils.toBbox(rle)]
    area = float(mask_utils.area(rle))
    return {"size": [int(v) for v in rle["size"]], "counts": rle["counts"].decode("ascii")}, bbox, area


class CocoWriter(FolderWriter):
    name = "coco"
    owned = ("images",)

    def open(self, run_dir: Path) -> None:
        super().open(run_dir)
        _mask_utils()  # fail before any file when pycocotools is missing
        self.images: list[dict[str, Any]] = []
        self.annotations: list[dict[str, Any]] = []
        self.captions_list: list[dict[str, Any]] = []

    def add(self, sample: Sample) -> None:
        stem = self.unique_stem(sample)
        rel = self.place_rgb(self.source(sample.image, sample), f"images/{stem}")
        image_id = len(self.images) + 1
        width, height = sample.size
        self.images.append(
            {
                "id": image_id,
                "file_name": rel,
                "width": width,
                "height": height,
                "sample_id": sample.id,
                "composition": sample.composition,
                "scene": sample.scene,
            }
        )
        categories = {cid: index for index, cid in enumerate(self.captions.concepts, start=1)}
        for obj, mask in zip(sample.objects, self.masks(sample), strict=True):
            segmentation, bbox, area = encode_mask(mask, sample.size)
            if area == 0:  # hidden entirely at this threshold: no instance to annotate
                continue
            self.annotations.append(
                {
                    "id": len(self.annotations) + 1,
                    "image_id": image_id,
                    "category_id": categories[obj.concept_id],
                    "bbox": bbox,
                    "area": area,
                    "segmentation": segmentation,
                    "iscrowd": 0,
                }
            )
        self.captions_list.append(
            {"id": len(self.captions_list) + 1, "image_id": image_id, "caption": self.captions.caption(sample)}
        )
        self.count += 1

    def close(self) -> list[Path]:
        info = {"description": "gen4gen multi-concept dataset", "version": __version__}
        categories = [
            {"id": index, "name": c.concept_id, "supercategory": c.name, "token": c.token}
            for index, c in enumerate(self.captions.concepts.values(), start=1)
        ]
        self.put_json(
            "instances.json",
            {
                "info": info,
                "licenses": [],
                "images": self.images,
                "annotations": self.annotations,
                "categories": categories,
            },
        )
        self.put_json(
            "captions.json",
            {"info": info, "licenses": [], "images": self.images, "annotations": self.captions_list},
        )
        self.put_text("README.md", README.format(dir=self.out_dir.resolve()))
        return self.finish()


README = """\
# gen4gen dataset (COCO)

`instances.json`: one category per concept (`name` is the concept id, `supercategory` its class word, `token`
its training token), one annotation per visible instance with an RLE `segmentation`, `bbox` [x, y, w, h] and
`area` from the mask, `iscrowd` 0. `captions.json`: one caption per image. Image paths are relative to this folder.

```python
from pycocotools.coco import COCO

coco = COCO("{dir}/instances.json")
masks = [coco.annToMask(a) for a in coco.loadAnns(coco.getAnnIds(imgIds=[1]))]
```

Detectron2: `register_coco_instances("gen4gen", {{}}, "{dir}/instances.json", "{dir}")`.
"""
