"""GrabCut seeded by a person's hints: a box around the object and/or foreground / background strokes.

The review page (``gen4gen review``) and the side-car ``<photo>.hints.json`` give :class:`Hints` in pixels of the
photo as it is displayed (EXIF orientation applied, before any downscaling on load). :func:`segment_with_hints`
turns them into a soft mask in a fraction of a second to a few seconds, deterministically:

1. At a working resolution of at most :data:`WORK_SIDE` pixels, a box alone initialises GrabCut with it
   (``GC_INIT_WITH_RECT``: outside the box is background, inside probably foreground). Strokes are then painted
   in as fixed labels and GrabCut runs again from that mask (``GC_INIT_WITH_MASK``). Without a box, the photo
   starts as probable background, a band around the foreground strokes as probable foreground.
2. The foreground keeps the components that a foreground stroke touches (without strokes: the largest one and
   those of comparable size); small holes are filled. When GrabCut finds nothing at all (a photo without
   contrast), the box itself is the object.
3. The colour-guided filter of the automatic segmenter turns the hard mask into a soft one at full resolution;
   strokes and the box stay hard constraints there (a background stroke is 0, a foreground stroke 1, outside the
   box 0).
"""

from __future__ import annotations

from typing import Literal

import cv2
import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator
from scipy import ndimage

from gen4gen.backends.base import ItemError

VERSION = "1"  # bump when the same hints give a different mask
METHOD = "hints"  # SegmentData.method of a cut-out made from hints
WORK_SIDE = 512  # longest side (px) GrabCut runs at
ITERATIONS = 5
STROKE_BAND = 0.06  # without a box: probable foreground within this fraction of the side around fg strokes
MIN_COMPONENT = 0.2  # without fg strokes: keep components of at least this share of the largest one
MAX_HOLE = 0.01  # fill holes smaller than this share of the foreground
REFINE_SIDE, GUIDED_RADIUS, GUIDED_EPS = 1024, 0.008, 1e-3
MAX_STROKES, MAX_POINTS = 200, 5000
MIN_SAMPLES = 64  # pixels of each side GrabCut's colour models need at least


class Stroke(BaseModel):
    """A painted line: its label, its width and its points, in photo pixels."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    label: Literal["fg", "bg"]
    width: int = Field(12, ge=1, le=1000)
    points: list[tuple[int, int]] = Field(min_length=1, max_length=MAX_POINTS)


class Hints(BaseModel):
    """What a person said about where the object is (``version`` 1). Coordinates are photo pixels."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: Literal[1] = 1
    box: tuple[int, int, int, int] | None = None  # x0, y0, x1, y1, exclusive ends
    strokes: list[Stroke] = Field(default_factory=list, max_length=MAX_STROKES)

    @model_validator(mode="after")
    def _usable(self) -> Hints:
        if self.box is not None:
            x0, y0, x1, y1 = self.box
            if x1 <= x0 or y1 <= y0:
                raise ValueError(f"box {list(self.box)}: x1 must exceed x0 and y1 exceed y0")
        if self.box is None and not any(s.label == "fg" for s in self.strokes):
            raise ValueError("hints need a box or at least one foreground stroke")
        return self


def _paint(
    shape: tuple[int, int], strokes: list[Stroke], label: str, scale: float, widen: float = 0.0
) -> np.ndarray:
    """Boolean (H, W) image of the strokes with ``label``, drawn at ``scale`` (widened by ``widen`` pixels)."""
    canvas = np.zeros(shape, np.uint8)
    for stroke in strokes:
        if stroke.label != label:
            continue
        points = np.round(np.asarray(stroke.points, np.float64) * scale).astype(np.int32)
        thickness = max(1, round(stroke.width * scale + 2 * widen))
        if len(points) == 1:
            x, y = (int(v) for v in points[0])
            cv2.circle(canvas, (x, y), max(1, thickness // 2), 1, -1)
        else:
            cv2.polylines(canvas, [points.reshape(-1, 1, 2)], False, 1, thickness, cv2.LINE_8)
    return canvas > 0


def _box_mask(shape: tuple[int, int], box: tuple[int, int, int, int], scale: float) -> np.ndarray:
    height, width = shape
    x0, y0, x1, y1 = box
    inside = np.zeros(shape, bool)
    left, top = max(0, int(np.floor(x0 * scale))), max(0, int(np.floor(y0 * scale)))
    right, bottom = min(width, int(np.ceil(x1 * scale))), min(height, int(np.ceil(y1 * scale)))
    inside[top:bottom, left:right] = True
    return inside


def _run(bgr: np.ndarray, trimap: np.ndarray, rect: tuple[int, int, int, int] | None) -> np.ndarray:
    bgd_model = np.zeros((1, 65), np.float64)
    fgd_model = np.zeros((1, 65), np.float64)
    cv2.setRNGSeed(0)
    if rect is not None:
        cv2.grabCut(bgr, trimap, rect, bgd_model, fgd_model, ITERATIONS, cv2.GC_INIT_WITH_RECT)
    else:
        cv2.grabCut(bgr, trimap, None, bgd_model, fgd_model, ITERATIONS, cv2.GC_INIT_WITH_MASK)
    return trimap


def _trainable(trimap: np.ndarray) -> bool:
    """GrabCut needs enough background and foreground samples to fit its colour models."""
    background = (trimap == cv2.GC_BGD) | (trimap == cv2.GC_PR_BGD)
    return bool(background.sum() >= MIN_SAMPLES and (~background).sum() >= MIN_SAMPLES)


def hard_mask(rgb: np.ndarray, hints: Hints, scale: float = 1.0) -> tuple[np.ndarray, float]:
    """Boolean foreground at the working resolution and the factor from photo pixels to it.

    ``scale`` maps hint coordinates to ``rgb``'s pixels (below 1 when the photo was downscaled on load).
    """
    height, width = rgb.shape[:2]
    if min(height, width) < 8:
        raise ItemError(f"image too small to segment ({width}x{height})")
    shrink = min(1.0, WORK_SIDE / max(height, width))
    size = (max(1, round(width * shrink)), max(1, round(height * shrink)))
    small = rgb if shrink == 1.0 else cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
    bgr = np.ascontiguousarray(small[..., ::-1])
    shape = small.shape[:2]
    factor = scale * shrink
    fg = _paint(shape, hints.strokes, "fg", factor)
    bg = _paint(shape, hints.strokes, "bg", factor)
    trimap = np.full(shape, cv2.GC_PR_BGD, np.uint8)
    rect: tuple[int, int, int, int] | None = None
    if hints.box is not None:
        inside = _box_mask(shape, hints.box, factor)
        if not inside.any():
            raise ItemError(f"the box {list(hints.box)} lies outside the photo ({width}x{height} as segmented)")
        trimap[:] = cv2.GC_BGD
        trimap[inside] = cv2.GC_PR_FGD
        if (~inside).sum() >= MIN_SAMPLES and inside.sum() >= MIN_SAMPLES:
            ys, xs = np.flatnonzero(inside.any(axis=1)), np.flatnonzero(inside.any(axis=0))
            rect = (int(xs[0]), int(ys[0]), int(xs[-1] - xs[0] + 1), int(ys[-1] - ys[0] + 1))
        elif inside.sum() >= MIN_SAMPLES:  # the object fills the frame: the border starts as probable background
            trimap[~inside] = cv2.GC_PR_BGD
            trimap[0, :] = trimap[-1, :] = trimap[:, 0] = trimap[:, -1] = cv2.GC_PR_BGD
    else:
        band = _paint(shape, hints.strokes, "fg", factor, widen=STROKE_BAND * max(shape))
        trimap[band] = cv2.GC_PR_FGD
    if rect is not None:
        trimap = _run(bgr, trimap, rect)
    if fg.any() or bg.any() or rect is None:
        trimap[fg] = cv2.GC_FGD
        trimap[bg] = cv2.GC_BGD
        if _trainable(trimap):
            trimap = _run(bgr, trimap, None)
    hard = (trimap == cv2.GC_FGD) | (trimap == cv2.GC_PR_FGD)
    if not hard.any() and hints.box is not None:  # nothing tells the object apart: the person's box is it
        hard = _box_mask(shape, hints.box, factor)
    hard[bg] = False
    hard[fg] = True
    return _clean(hard, fg), factor


def _clean(hard: np.ndarray, fg: np.ndarray) -> np.ndarray:
    labels, count = ndimage.label(hard)
    if count == 0:
        return hard
    sizes = np.bincount(labels.ravel())[1:]
    touched = np.unique(labels[fg & hard])
    touched = touched[touched > 0]
    if touched.size:
        kept = np.isin(labels, touched)
    else:
        kept = np.isin(labels, np.flatnonzero(sizes >= max(1.0, MIN_COMPONENT * sizes.max())) + 1)
    holes, _ = ndimage.label(ndimage.binary_fill_holes(kept) & ~kept)
    hole_sizes = np.bincount(holes.ravel())[1:]
    return kept | np.isin(holes, np.flatnonzero(hole_sizes < MAX_HOLE * kept.sum()) + 1)


def segment_with_hints(rgb: np.ndarray, hints: Hints, scale: float = 1.0) -> np.ndarray:
    """Soft mask float32 (H, W) in [0, 1] of ``rgb`` (H, W, 3) uint8 from ``hints`` (see the module docstring).

    ``scale`` maps hint coordinates to ``rgb``'s pixels. Raises :class:`ItemError` when nothing is left.
    """
    from gen4gen.backends.segment.grabcut import refine_mask  # its saliency part imports scikit-image

    hard, _ = hard_mask(rgb, hints, scale)
    if not hard.any():
        raise ItemError("the hints left no foreground; draw the box around the object or paint on it")
    soft = refine_mask(rgb, hard, REFINE_SIDE, GUIDED_RADIUS, GUIDED_EPS)
    shape = rgb.shape[:2]
    if hints.box is not None:
        soft[~_box_mask(shape, hints.box, scale)] = 0.0
    soft[_paint(shape, hints.strokes, "bg", scale)] = 0.0
    soft[_paint(shape, hints.strokes, "fg", scale)] = 1.0
    return soft


def identity() -> dict[str, str]:
    """The backend identity recorded with a cut-out made from hints."""
    return {"name": METHOD, "version": VERSION}
