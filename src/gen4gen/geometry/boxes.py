"""Axis-aligned boxes ``(x0, y0, x1, y1)`` in pixels, x1/y1 exclusive: pure functions, no I/O.

Functions accept any 4-sequence of numbers and return tuples: floats unless the name says otherwise
(:func:`to_int`), so rounding happens once, at the end, where the caller decides.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

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


def resize_about_center(box: Sequence[float], factor: float) -> Box:
    """Grow (``factor`` > 1) or shrink the box about its centre."""
    cx, cy = box_center(box)
    w, h = box_wh(box)
    return cx - w * factor / 2, cy - h * factor / 2, cx + w * factor / 2, cy + h * factor / 2


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


def box_from_bottom_center(cx: float, bottom: float, w: float, h: float) -> Box:
    """Box of size ``w`` × ``h`` standing with its bottom edge centred on ``(cx, bottom)``."""
    return cx - w / 2, bottom - h, cx + w / 2, bottom


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


def int_box_of_size(cx: float, bottom: float, w: float, h: float) -> IntBox:
    """Integer box with exactly ``round(w)`` × ``round(h)`` pixels, bottom-centred on ``(cx, bottom)``.

    Rounding the size once (not each edge) keeps the aspect ratio within a pixel of the requested one.
    """
    wi, hi = max(1, round(w)), max(1, round(h))
    x0, y1 = round(cx - wi / 2), round(bottom)
    return int(x0), int(y1 - hi), int(x0 + wi), int(y1)


def bbox_of_mask(mask: np.ndarray, threshold: float = 0.0) -> IntBox | None:
    """Tight box of the pixels of a 2-D array above ``threshold``, or None when there are none."""
    on = mask > threshold
    ys = np.flatnonzero(on.any(axis=1))
    if ys.size == 0:
        return None
    xs = np.flatnonzero(on.any(axis=0))
    return int(xs[0]), int(ys[0]), int(xs[-1]) + 1, int(ys[-1]) + 1
