"""WebDataset: POSIX tar shards of ``export.shard_size`` samples (default 1000), for streaming training::

    DIR/shard-000000.tar ...   per sample <key>.png (image), <key>.txt (training caption), <key>.json (objects,
                               scene, seed, provenance, caption), <key>.mask.png (union mask) and
                               <key>.mask_<k>.png (instance mask of objects[k]), masks at the image's size
    DIR/README.md, export.yaml

Keys are the sample ids without dots (webdataset splits a member name at its first dot). A shard is written to a
temporary name and renamed when complete, so a reader never sees half a shard; re-exporting rewrites only the
shards whose samples changed (``export.yaml`` keeps each shard's digest, of the files and text its members are made
from). A shard's members are made one sample at a time while it is written.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import secrets
import tarfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from PIL import Image

from gen4gen.exporters.folder import FolderWriter, mask_png
from gen4gen.geometry.masks import union
from gen4gen.sample import Sample

SHARD = "shard-{:06d}.tar"


class WebDatasetWriter(FolderWriter):
    name = "webdataset"

    def open(self, run_dir: Path) -> None:
        super().open(run_dir)
        self.samples: list[tuple[str, Sample]] = []

    def add(self, sample: Sample) -> None:
        key = self.unique_stem(sample)
        self.samples.append((key, sample))
        self.count += 1

    def members(self, key: str, sample: Sample, expand: bool = True) -> list[tuple[str, Path | bytes]]:
        """(member name, file or bytes) of one sample, in the order they go in the shard.

        With ``expand`` false each mask stands for what it is made from (its crop file, box and the image size),
        not its PNG: all the shard digest needs, without encoding a mask that is not written.
        """
        objects = []
        files: list[tuple[str, Path | bytes]] = []
        if expand:
            masks = self.masks(sample)
            made = [mask_png(m, sample.size) for m in masks]
            whole = mask_png(union(masks), sample.size)
        else:
            made = [
                f"{list(sample.size)} {o.mask_box}\n".encode() + self.source(o.mask, sample).read_bytes()
                for o in sample.objects
            ]
            whole = b"union\n" + b"".join(made)
        for k, (obj, mask) in enumerate(zip(sample.objects, made, strict=True)):
            concept = self.captions.concept(obj.concept_id)
            objects.append(
                {
                    "name": obj.name,
                    "concept_id": obj.concept_id,
                    "token": concept.token,
                    "bbox": list(obj.bbox),
                    "mask": f"mask_{k}.png",
                    "depth": obj.depth,
                    "visible": obj.visible,
                }
            )
            files.append((f"{key}.mask_{k}.png", mask))
        meta = {
            "sample_id": sample.id,
            "composition": sample.composition,
            "size": list(sample.size),
            "caption": sample.caption,
            "text": self.captions.caption(sample),
            "objects": objects,
            "scene": sample.scene,
            "seed": sample.seeds.get("compose"),
            "seeds": sample.seeds,
            "provenance": sample.provenance,
        }
        image = self.source(sample.image, sample)
        picture: tuple[str, Path | bytes] = (f"{key}{image.suffix.lower()}", image)
        if expand and self.level is not None and image.suffix.lower() == ".png":
            with Image.open(image) as im:
                picture = (f"{key}.png", self.png_bytes(im))
        return [
            picture,
            (f"{key}.txt", self.captions.caption(sample).encode("utf-8")),
            (f"{key}.json", json.dumps(meta, ensure_ascii=False, sort_keys=True, default=str).encode("utf-8")),
            (f"{key}.mask.png", whole),
            *files,
        ]

    def close(self) -> list[Path]:
        size = self.settings.shard_size
        previous: dict[str, Any] = self.previous.get("shards") or {}
        shards: dict[str, dict[str, Any]] = {}
        for index in range(0, len(self.samples), size):
            name = SHARD.format(index // size)
            chunk = self.samples[index : index + size]
            members = (m for key, sample in chunk for m in self.members(key, sample, expand=False))
            level: list[tuple[str, Path | bytes]] = [(f"png_level={self.level}", b"")] if self.level else []
            digest = _digest([*level, *members])
            shards[name] = {"samples": len(chunk), "digest": digest}
            self.wanted.add(name)
            path = self.out_dir / name
            if path.is_file() and (previous.get(name) or {}).get("digest") == digest:
                continue
            _write_tar(path, (m for key, sample in chunk for m in self.members(key, sample)))
            self.written.append(path)
        for stale in sorted(self.out_dir.glob("shard-*.tar")):
            if stale.name not in shards:
                stale.unlink()
        last = max(len(shards) - 1, 0)
        pattern = f"shard-{{000000..{last:06d}}}.tar"
        self.put_text("README.md", README.format(dir=self.out_dir.resolve(), pattern=pattern))
        return self.finish(shards=shards, shard_size=size, urls=pattern)


def _content(member: Path | bytes) -> bytes:
    return member if isinstance(member, bytes) else member.read_bytes()


def _digest(members: Iterable[tuple[str, Path | bytes]]) -> str:
    digest = hashlib.sha256()
    for name, member in members:
        digest.update(name.encode("utf-8") + b"\0" + hashlib.sha256(_content(member)).digest())
    return digest.hexdigest()


def _write_tar(path: Path, members: Iterable[tuple[str, Path | bytes]]) -> None:
    """A reproducible tar (no times, owners or modes of the run folder), complete before it takes ``path``;
    ``members`` are made one at a time as they are written."""
    tmp = path.parent / f".{path.name}.{secrets.token_hex(4)}.tmp"
    try:
        with tmp.open("wb") as handle:
            with tarfile.open(fileobj=handle, mode="w", format=tarfile.PAX_FORMAT) as tar:
                for name, member in members:
                    data = _content(member)
                    info = tarfile.TarInfo(name)
                    info.size, info.mtime, info.mode = len(data), 0, 0o644
                    info.uid = info.gid = 0
                    info.uname = info.gname = ""
                    tar.addfile(info, io.BytesIO(data))
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


README = """\
# gen4gen dataset (WebDataset)

Shards `{pattern}`; per sample `png` (image), `txt` (training caption), `json` (objects with bbox, concept id
and token, scene, seed, provenance), `mask.png` (union mask) and `mask_<k>.png` (instance mask of `objects[k]`).

```python
import webdataset as wds

dataset = wds.WebDataset("{dir}/{pattern}", shardshuffle=False).decode("pil")
for sample in dataset:
    image, caption, meta = sample["png"], sample["txt"], sample["json"]
```
"""
