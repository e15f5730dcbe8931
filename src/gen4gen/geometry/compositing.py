"""Paste RGBA cut-outs onto a canvas in depth order: augmentations, alpha compositing, occlusion-aware masks.

Pure numpy + OpenCV, no I/O. Work is done on each object's box region only, and each instance mask is kept over
that region only (a :class:`~gen4gen.geometry.masks.CanvasMask`); colours are premultiplied by alpha before any
resampling so that whatever RGB hides under transparent pixels never bleeds into the edges.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from gen4gen.geometry.boxes import IntBox, box_wh, mask_bbox, shift_inside
from gen4gen.geometry.layout import Placement
from gen4gen.geometry.masks import EMPTY_BOX, CanvasMask

VISIBLE_THRESHOLD = 0.5
"""Mask value from which a pixel counts as part of an instance when computing its tight box."""


@dataclass(frozen=True)
class Augment:
    """How one cut-out is altered when pasted: mirrored left-right, rotated (degrees, counter-clockwise, the
    rotated object shrunk to stay inside its box), then its box moved by ``shift = (dx, dy)`` pixels."""

    flip: bool = False
    rotation_deg: float = 0.0
    shift: tuple[int, int] = (0, 0)


@dataclass
class Composite:
    """The pasted canvas and where each object ended up.

    ``instance_masks`` are float32 in [0, 1] over the region each item was pasted in (an empty mask for an item
    that was not pasted), one per item in the order given, each reduced by the nearer objects drawn over it (their
    union is :func:`~gen4gen.geometry.masks.union`); ``boxes`` are the tight boxes of the visible part of each
    instance (mask >= :data:`VISIBLE_THRESHOLD`), None for an instance that is hidden entirely.
    """

    rgb: np.ndarray
    instance_masks: list[CanvasMask]
    boxes: list[IntBox | None]


def sample_augment(
    rng: np.random.Generator,
    flip_p: float,
    max_rotation_deg: float,
    max_shift_frac: float,
    box: Sequence[float],
) -> Augment:
    """Random augmentation: flip with probability ``flip_p``, rotation uniform in ±``max_rotation_deg``, shift
    uniform in ±``max_shift_frac`` of the box's width and height. Always draws the same numbers from ``rng``."""
    w, h = box_wh(box)
    flip, rot, sx, sy = rng.random(), rng.uniform(-1.0, 1.0), rng.uniform(-1.0, 1.0), rng.uniform(-1.0, 1.0)
    return Augment(
        flip=bool(flip < flip_p),
        rotation_deg=float(rot * max_rotation_deg),
        shift=(round(sx * max_shift_frac * w), round(sy * max_shift_frac * h)),
    )


@dataclass(frozen=True)
class PreparedCutout:
    """A cut-out ready to be pasted many times: RGBA uint8 with premultiplied colour, shrunk (once, with area
    averaging) so that it is no larger than needed for the canvas, and its mean alpha (coverage of its box).

    Premultiplying before any resampling keeps whatever RGB hides under transparent pixels out of the edges;
    shrinking once saves resampling a multi-megapixel photo crop for every sample.
    """

    premultiplied: np.ndarray
    coverage: float


def prepare_cutout(rgba: np.ndarray, max_side: int | None = None) -> PreparedCutout:
    """``rgba`` (h, w, 4) uint8 premultiplied and, when ``max_side`` is given, shrunk to fit in max_side²."""
    if rgba.ndim != 3 or rgba.shape[2] != 4 or rgba.dtype != np.uint8:
        raise ValueError(f"cut-out must be RGBA uint8 (h, w, 4), got {rgba.dtype} {rgba.shape}")
    coverage = float(rgba[:, :, 3].mean()) / 255.0
    premult = cv2.cvtColor(np.ascontiguousarray(rgba), cv2.COLOR_RGBA2mRGBA)
    h, w = premult.shape[:2]
    if max_side is not None and max(h, w) > max_side:
        scale = max_side / max(h, w)
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
        premult = cv2.resize(premult, size, interpolation=cv2.INTER_AREA)
    return PreparedCutout(premult, coverage)


def render_cutout(cutout: np.ndarray | PreparedCutout, size_wh: tuple[int, int], augment: Augment) -> np.ndarray:
    """The cut-out resized to ``size_wh`` with ``augment``'s flip and rotation applied (the shift is the caller's):
    float32 (h, w, 4), premultiplied RGB in [0, 255] and alpha in [0, 1]. ``cutout`` is a prepared cut-out or
    a plain RGBA uint8 array."""
    prepared = cutout if isinstance(cutout, PreparedCutout) else prepare_cutout(cutout)
    premult = prepared.premultiplied
    bw, bh = size_wh
    src_h, src_w = premult.shape[:2]
    theta = math.radians(augment.rotation_deg)
    c, s = abs(math.cos(theta)), abs(math.sin(theta))
    if augment.rotation_deg % 360.0 == 0.0:
        tw, th = bw, bh
    else:  # largest size whose rotated bounding box fits the box
        k = min(bw / (src_w * c + src_h * s), bh / (src_w * s + src_h * c))
        tw, th = max(1, round(src_w * k)), max(1, round(src_h * k))
    shrinking = tw * th < src_w * src_h
    patch = cv2.resize(premult, (tw, th), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR)
    if augment.flip:
        patch = cv2.flip(patch, 1)
    if (tw, th) != (bw, bh) or augment.rotation_deg % 360.0 != 0.0:
        matrix = cv2.getRotationMatrix2D(((tw - 1) / 2.0, (th - 1) / 2.0), augment.rotation_deg, 1.0)
        matrix[:, 2] += ((bw - tw) / 2.0, (bh - th) / 2.0)
        patch = cv2.warpAffine(
            patch, matrix, (bw, bh), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0
        )
    patch = patch.astype(np.float32)
    patch[..., 3] *= 1.0 / 255.0
    return patch


def paste_cutouts(
    canvas_wh: tuple[int, int], items: Sequence[tuple[np.ndarray | PreparedCutout, Placement, Augment]]
) -> Composite:
    """Alpha-composite each ``(rgba cut-out, placement, augment)`` onto a black canvas, farthest first.

    Each cut-out fills its placement box (shifted by the augment, then moved back inside the canvas if needed);
    instance masks are returned in the order of ``items`` after occlusion by nearer objects.
    """
    width, height = canvas_wh
    canvas = np.zeros((height, width, 3), np.uint8)
    masks = [CanvasMask(EMPTY_BOX, np.zeros((0, 0), np.float32)) for _ in items]
    order = sorted(range(len(items)), key=lambda i: (items[i][1].depth, i))
    for i in order:
        rgba, placement, augment = items[i]
        x0, y0, x1, y1 = placement.bbox
        dx, dy = augment.shift
        moved = shift_inside((x0 + dx, y0 + dy, x1 + dx, y1 + dy), canvas_wh)
        bx0, by0, bx1, by1 = (round(v) for v in moved)
        if bx1 <= bx0 or by1 <= by0:
            continue
        patch = render_cutout(rgba, (bx1 - bx0, by1 - by0), augment)
        alpha = patch[..., 3]
        keep = 1.0 - alpha
        for mask in masks:  # nearer object hides part of what is already there
            rx0, ry0, rx1, ry1 = mask.box
            ix0, iy0, ix1, iy1 = max(rx0, bx0), max(ry0, by0), min(rx1, bx1), min(ry1, by1)
            if ix1 > ix0 and iy1 > iy0:
                cover = keep[iy0 - by0 : iy1 - by0, ix0 - bx0 : ix1 - bx0]
                mask.values[iy0 - ry0 : iy1 - ry0, ix0 - rx0 : ix1 - rx0] *= cover
        view = canvas[by0:by1, bx0:bx1].astype(np.float32)
        view *= keep[..., None]
        view += patch[..., :3]
        view += 0.5
        canvas[by0:by1, bx0:bx1] = np.clip(view, 0, 255).astype(np.uint8)
        masks[i] = CanvasMask((bx0, by0, bx1, by1), np.ascontiguousarray(alpha))
    boxes = [_visible_box(m) for m in masks]
    return Composite(rgb=canvas, instance_masks=masks, boxes=boxes)


def _visible_box(mask: CanvasMask) -> IntBox | None:
    """Tight box of the visible part of an instance, searched within the region it was pasted in."""
    inner = mask_bbox(mask.values, VISIBLE_THRESHOLD - 1e-6)
    if inner is None:
        return None
    x0, y0 = mask.box[:2]
    return inner[0] + x0, inner[1] + y0, inner[2] + x0, inner[3] + y0
