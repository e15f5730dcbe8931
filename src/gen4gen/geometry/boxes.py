"""Axis-aligned boxes ``(x0, y0, x1, y1)`` in pixels, x1/y1 exclusive: pure functions, no I/O.

Functions accept any 4-sequence of numbers and return tuples: floats unless the name says otherwise
(:func:`to_int`), so rounding happens once, at the end, where the caller decides.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Literal, overload

import numpy as np

Box = tuple[float, float, float, float]
IntBox = tuple[int, int, int, int]


def box_wh(box: Sequence[float]) -> tuple[float, float]:
    """Width and height (never negative)."""
    return max(0.0, box[2] - box[0]), max(0.0, box[3] - box[1])


def box_area(box: Sequence[float]) -> float:
    """Area; 0 for an empty or inverted box."""
    w, h = box_wh(box)
    return w * h


def box_center(box: Sequence[float]) -> tuple[float, float]:
    return (box[0] + box[2]) / 2.0, (box[1] + box[3]) / 2.0


def intersection(a: Sequence[float], b: Sequence[float]) -> float:
    """Area of the intersection of two boxes."""
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    return w * h if w > 0 and h > 0 else 0.0


def box_iou(a: Sequence[float], b: Sequence[float]) -> float:
    """Intersection over union in [0, 1]; 0 when both boxes are empty."""
    inter = intersection(a, b)
    union = box_area(a) + box_area(b) - inter
    return inter / union if union > 0 else 0.0


def overlap_fraction(a: Sequence[float], b: Sequence[float]) -> float:
    """Intersection divided by the area of the smaller box, in [0, 1]: how much of the smaller one is covered."""
    smaller = min(box_area(a), box_area(b))
    return intersection(a, b) / smaller if smaller > 0 else 0.0


def clamp_box(box: Sequence[float], canvas_wh: Sequence[float]) -> Box:
    """Clip every coordinate to the canvas ``(width, height)``; the box may shrink (see :func:`shift_inside`)."""
    w, h = canvas_wh
    x0, x1 = sorted((min(max(box[0], 0), w), min(max(box[2], 0), w)))
    y0, y1 = sorted((min(max(box[1], 0), h), min(max(box[3], 0), h)))
    return float(x0), float(y0), float(x1), float(y1)


def shift_inside(box: Sequence[float], canvas_wh: Sequence[float]) -> Box:
    """Translate the box into the canvas keeping its size; a side longer than the canvas is clipped to it."""
    out = []
    for lo, hi, limit in ((box[0], box[2], canvas_wh[0]), (box[1], box[3], canvas_wh[1])):
        size = min(hi - lo, limit)
        lo = min(max(lo, 0), limit - size)
        out.append((lo, lo + size))
    (x0, x1), (y0, y1) = out
    return float(x0), float(y0), float(x1), float(y1)


def scale_box(box: Sequence[float], sx: float, sy: float) -> Box:
    """Scale coordinates about the origin, e.g. from a 512² grid to a 1024² canvas: ``sx = sy = 2``."""
    return box[0] * sx, box[1] * sy, box[2] * sx, box[3] * sy


def fit_aspect(box: Sequence[float], aspect: float) -> Box:
    """The largest box of aspect ``aspect`` (w / h) centred in ``box``."""
    if aspect <= 0:
        raise ValueError(f"aspect must be positive, got {aspect}")
    w, h = box_wh(box)
    if w >= h * aspect:
        w = h * aspect
    else:
        h = w / aspect
    cx, cy = box_center(box)
    return cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2


def union_box(boxes: Iterable[Sequence[float]]) -> Box:
    """Smallest box containing all (non-empty) boxes; raises ValueError when there are none."""
    live = [b for b in boxes if box_area(b) > 0]
    if not live:
        raise ValueError("union of no boxes")
    return (
        float(min(b[0] for b in live)),
        float(min(b[1] for b in live)),
        float(max(b[2] for b in live)),
        float(max(b[3] for b in live)),
    )


def to_int(box: Sequence[float]) -> IntBox:
    """Round to integer pixels, keeping at least one pixel in each direction."""
    x0, y0 = round(box[0]), round(box[1])
    x1, y1 = max(round(box[2]), x0 + 1), max(round(box[3]), y0 + 1)
    return int(x0), int(y0), int(x1), int(y1)


def int_size(h: float, aspect: float) -> tuple[int, int]:
    """Integer (w, h) of height ``h`` and aspect w/h: the short side is rounded and the long one derived from it,
    so the aspect stays within rounding of the request."""
    if aspect >= 1.0:
        hi = max(1, round(h))
        return max(1, round(hi * aspect)), hi
    wi = max(1, round(h * aspect))
    return wi, max(1, round(wi / aspect))


def int_box_at(
    x: float,
    bottom: float,
    h: float,
    aspect: float,
    canvas_wh: Sequence[int],
    *,
    anchor: Literal["left", "center"] = "left",
) -> IntBox:
    """Integer box of height ``h`` and aspect ``aspect`` (size from :func:`int_size`) standing on ``bottom``, its
    left edge (``anchor="left"``) or its centre (``"center"``) at ``x``.

    A side longer than the canvas is cut to it, then the box is moved inside the canvas if rounding pushed it out.
    """
    wi, hi = int_size(h, aspect)
    width, height = canvas_wh
    wi, hi = min(wi, width), min(hi, height)
    left = x - wi / 2 if anchor == "center" else x
    x0 = min(max(round(left), 0), width - wi)
    y1 = min(max(round(bottom), hi), height)
    return int(x0), int(y1 - hi), int(x0 + wi), int(y1)


@overload
def mask_bbox(
    mask: np.ndarray, threshold: float = ..., *, full_if_empty: Literal[False] = ...
) -> IntBox | None: ...


@overload
def mask_bbox(mask: np.ndarray, threshold: float = ..., *, full_if_empty: Literal[True]) -> IntBox: ...


def mask_bbox(mask: np.ndarray, threshold: float = 0.5, *, full_if_empty: bool = False) -> IntBox | None:
    """Tight box of the pixels of a 2-D array strictly above ``threshold``.

    When there are none: None, or the whole array ``(0, 0, width, height)`` with ``full_if_empty``.
    """
    on = mask > threshold
    ys = np.flatnonzero(on.any(axis=1))
    if ys.size == 0:
        return (0, 0, int(mask.shape[1]), int(mask.shape[0])) if full_if_empty else None
    xs = np.flatnonzero(on.any(axis=0))
    return int(xs[0]), int(ys[0]), int(xs[-1]) + 1, int(ys[-1]) + 1
