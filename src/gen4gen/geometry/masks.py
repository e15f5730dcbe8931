"""Soft masks on a canvas stored as a crop: :class:`CanvasMask`, and :func:`union` of several.

An instance mask covers a small part of its canvas, so it is kept (in memory, in repaint requests and on disk) as
the array over its box only; outside the box it is 0. :meth:`CanvasMask.full` gives exactly the full-canvas array.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from gen4gen.geometry.boxes import IntBox, mask_bbox

EMPTY_BOX: IntBox = (0, 0, 0, 0)


@dataclass(frozen=True)
class CanvasMask:
    """A soft mask on a canvas: ``values`` over ``box`` = (x0, y0, x1, y1) in canvas pixels (exclusive ends), 0
    everywhere else. ``values`` is (y1 - y0, x1 - x0), uint8 in [0, 255] (files, repaint requests) or float32 in
    [0, 1] (while compositing); an empty box holds an empty array (a mask that is 0 everywhere)."""

    box: IntBox
    values: np.ndarray

    def __post_init__(self) -> None:
        x0, y0, x1, y1 = self.box
        if x1 < x0 or y1 < y0 or self.values.shape != (y1 - y0, x1 - x0):
            raise ValueError(f"mask of shape {self.values.shape} does not fit its box {self.box}")

    @property
    def empty(self) -> bool:
        return self.values.size == 0

    def inside(self, size_wh: tuple[int, int]) -> bool:
        """Whether the box lies within a canvas of ``size_wh`` = (width, height)."""
        x0, y0, x1, y1 = self.box
        return self.empty or (x0 >= 0 and y0 >= 0 and x1 <= size_wh[0] and y1 <= size_wh[1])

    def full(self, size_wh: tuple[int, int]) -> np.ndarray:
        """The mask on the whole canvas, (height, width), in the dtype of ``values``."""
        if not self.inside(size_wh):
            raise ValueError(f"mask box {self.box} is not inside a {size_wh[0]}x{size_wh[1]} canvas")
        out = np.zeros((size_wh[1], size_wh[0]), self.values.dtype)
        if not self.empty:
            x0, y0, x1, y1 = self.box
            out[y0:y1, x0:x1] = self.values
        return out

    def over(self, box: IntBox) -> np.ndarray:
        """The mask over any ``box`` of the canvas, (y1 - y0, x1 - x0), 0 where the crop does not reach."""
        bx0, by0, bx1, by1 = box
        out = np.zeros((max(0, by1 - by0), max(0, bx1 - bx0)), self.values.dtype)
        x0, y0, x1, y1 = self.box
        ix0, iy0, ix1, iy1 = max(x0, bx0), max(y0, by0), min(x1, bx1), min(y1, by1)
        if ix1 > ix0 and iy1 > iy0:
            part = self.values[iy0 - y0 : iy1 - y0, ix0 - x0 : ix1 - x0]
            out[iy0 - by0 : iy1 - by0, ix0 - bx0 : ix1 - bx0] = part
        return out

    def soft(self) -> CanvasMask:
        """The same mask as float32 in [0, 1] (uint8 values divided by 255)."""
        if self.values.dtype == np.float32:
            return self
        return CanvasMask(self.box, self.values.astype(np.float32) / 255.0)

    def tight(self) -> CanvasMask:
        """The same mask cropped to its pixels above 0 (an empty box at the crop's corner when there are none)."""
        inner = mask_bbox(self.values, 0) if not self.empty else None
        x0, y0 = self.box[:2]
        if inner is None:
            return CanvasMask((x0, y0, x0, y0), self.values[:0, :0])
        ix0, iy0, ix1, iy1 = inner
        return CanvasMask((x0 + ix0, y0 + iy0, x0 + ix1, y0 + iy1), self.values[iy0:iy1, ix0:ix1])


def union(masks: Sequence[CanvasMask]) -> CanvasMask:
    """The pixel-wise maximum of ``masks`` (all of one dtype), over the box that holds them all."""
    present = [m for m in masks if not m.empty]
    dtype = masks[0].values.dtype if masks else np.dtype(np.uint8)
    if not present:
        return CanvasMask(EMPTY_BOX, np.zeros((0, 0), dtype))
    box = (
        min(m.box[0] for m in present),
        min(m.box[1] for m in present),
        max(m.box[2] for m in present),
        max(m.box[3] for m in present),
    )
    out = np.zeros((box[3] - box[1], box[2] - box[0]), dtype)
    for m in present:
        x0, y0, x1, y1 = m.box
        view = out[y0 - box[1] : y1 - box[1], x0 - box[0] : x1 - box[0]]
        np.maximum(view, m.values, out=view)
    return CanvasMask(box, out)
