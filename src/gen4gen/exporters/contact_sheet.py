"""A contact sheet: the first samples of a run in a grid with their boxes drawn, for a quick look.

Tiles are made from each sample's preview (the image itself for runs without previews). The sheet is rendered
again only when what it shows changed: ``state`` digests its inputs (the tiles' files by content, boxes, names,
layout) and the sheet's bytes; built with the ``state`` of the sheet written last, a writer whose inputs and file
are unchanged leaves the file alone.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
from pathlib import Path

from PIL import Image, ImageDraw

from gen4gen.exporters.base import Writer
from gen4gen.io.atomic import atomic_write_bytes, file_sha256
from gen4gen.sample import Sample

CONTACT_SHEET = "contact_sheet.jpg"
VERSION = "2"  # bump when the same inputs render other bytes


class ContactSheetWriter(Writer):
    name = "contact_sheet"

    def __init__(self, thumb: int = 256, limit: int = 24, columns: int = 6, previous: str | None = None) -> None:
        self.thumb, self.limit, self.columns = thumb, limit, columns
        self.previous = previous  # the ``state`` of the sheet written last
        self.state: str | None = None  # after ``close``: this sheet's inputs and bytes (None: no sheet)

    def open(self, run_dir: Path) -> None:
        super().open(run_dir)
        self.samples: list[Sample] = []

    def add(self, sample: Sample) -> None:
        if len(self.samples) < self.limit:
            self.samples.append(sample)

    def close(self) -> list[Path]:
        if not self.samples:
            return []
        path = self.run_dir / CONTACT_SHEET
        inputs = self._inputs()
        if self.previous is not None and path.is_file():
            known = json.loads(self.previous)
            if known.get("inputs") == inputs and known.get("sha256") == file_sha256(path):
                self.state = self.previous
                return [path]
        digest = atomic_write_bytes(path, self._render())
        self.state = json.dumps({"inputs": inputs, "sha256": digest}, sort_keys=True)
        return [path]

    def _inputs(self) -> str:
        """A digest of everything the sheet shows."""
        tiles = []
        for sample in self.samples:
            source = _source(sample)
            tiles.append(
                [
                    source,
                    file_sha256(self.run_dir / source),
                    list(sample.size),
                    [[o.name, list(o.bbox)] for o in sample.objects],
                ]
            )
        described = json.dumps([VERSION, self.thumb, self.columns, tiles], sort_keys=True)
        return hashlib.sha256(described.encode()).hexdigest()

    def _render(self) -> bytes:
        tiles = [self._tile(sample) for sample in self.samples]
        cols = min(self.columns, len(tiles))
        rows = math.ceil(len(tiles) / cols)
        grid = Image.new("RGB", (cols * self.thumb, rows * self.thumb), (24, 24, 24))
        for index, tile in enumerate(tiles):
            grid.paste(tile, ((index % cols) * self.thumb, (index // cols) * self.thumb))
        buffer = io.BytesIO()
        grid.save(buffer, format="JPEG", quality=88)
        return buffer.getvalue()

    def _tile(self, sample: Sample) -> Image.Image:
        """The sample at ``thumb`` px (longest side) with its boxes and names, scaled from the image's size."""
        width, height = sample.size
        scale = self.thumb / max(width, height)
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        with Image.open(self.run_dir / _source(sample)) as im:
            tile = im.convert("RGB")
        if tile.size != size:
            tile = tile.resize(size, Image.Resampling.BILINEAR)
        draw = ImageDraw.Draw(tile)
        for obj in sample.objects:
            x0, y0, x1, y1 = (v * scale for v in obj.bbox)
            draw.rectangle((x0, y0, x1, y1), outline=(255, 210, 0), width=2)
            draw.text((x0 + 3, y0 + 2), obj.name, fill=(255, 210, 0))
        return tile


def _source(sample: Sample) -> str:
    """The file a tile is made from: the preview, else the image (relative to the run folder)."""
    return sample.preview or sample.image
