"""A contact sheet: the first samples of a run in a grid with their boxes drawn, for a quick look."""

from __future__ import annotations

import io
import math
from pathlib import Path

from PIL import Image, ImageDraw

from gen4gen.exporters.base import Writer
from gen4gen.io.atomic import atomic_write_bytes
from gen4gen.sample import Sample

CONTACT_SHEET = "contact_sheet.jpg"


class ContactSheetWriter(Writer):
    name = "contact_sheet"

    def __init__(self, thumb: int = 256, limit: int = 24, columns: int = 6) -> None:
        self.thumb, self.limit, self.columns = thumb, limit, columns

    def open(self, run_dir: Path) -> None:
        super().open(run_dir)
        self.tiles: list[Image.Image] = []

    def add(self, sample: Sample) -> None:
        if len(self.tiles) >= self.limit:
            return
        with Image.open(self.run_dir / sample.image) as im:
            scale = self.thumb / max(im.size)
            tile = im.convert("RGB").resize(
                (round(im.width * scale), round(im.height * scale)), Image.Resampling.BILINEAR
            )
        draw = ImageDraw.Draw(tile)
        for obj in sample.objects:
            x0, y0, x1, y1 = (v * scale for v in obj.bbox)
            draw.rectangle((x0, y0, x1, y1), outline=(255, 210, 0), width=2)
            draw.text((x0 + 3, y0 + 2), obj.name, fill=(255, 210, 0))
        self.tiles.append(tile)

    def close(self) -> list[Path]:
        if not self.tiles:
            return []
        cols = min(self.columns, len(self.tiles))
        rows = math.ceil(len(self.tiles) / cols)
        grid = Image.new("RGB", (cols * self.thumb, rows * self.thumb), (24, 24, 24))
        for index, tile in enumerate(self.tiles):
            grid.paste(tile, ((index % cols) * self.thumb, (index // cols) * self.thumb))
        buffer = io.BytesIO()
        grid.save(buffer, format="JPEG", quality=88)
        path = self.run_dir / CONTACT_SHEET
        atomic_write_bytes(path, buffer.getvalue())
        return [path]
