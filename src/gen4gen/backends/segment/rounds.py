"""Multi-round segmentation (Gen4Gen, Sec. 3.1): segment, then segment the previous round's cut-out again.

Round 1 runs the segmenter on the photo. Round k > 1 crops the photo to the previous mask's box plus a margin and
composites the previous cut-out on a neutral grey, so the segmenter sees the subject large on a plain background
and can drop background that the previous round let through (measured on the sample photos: a dog's tree stump).
A band of original pixels around the previous outline can be kept (``band`` > 0) so a missed part may come back;
on the samples that hurt more than it helped, so the default keeps only the cut-out, as the paper does. The crop's
mask is placed back into a full-resolution mask. Every round is scored with
:func:`~gen4gen.backends.segment.quality.mask_quality`; :func:`best_round` picks the best.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import cv2
import numpy as np

from gen4gen.backends.base import ItemError, Photo, Segmenter
from gen4gen.backends.segment.quality import mask_quality

NEUTRAL = 128  # grey that stands in for the removed background


@dataclass
class RoundResult:
    """One round: full-resolution soft mask float32 (H, W), its quality score, its content box (x0, y0, x1, y1).

    The box is in pixels with exclusive ends (``mask[y0:y1, x0:x1]`` holds every pixel >= 0.5).
    """

    mask: np.ndarray
    score: float
    bbox: tuple[int, int, int, int]


def mask_bbox(mask: np.ndarray, threshold: float = 0.5) -> tuple[int, int, int, int]:
    """Box (x0, y0, x1, y1), exclusive ends, of the pixels at or above ``threshold``; the whole image if none."""
    rows = np.flatnonzero((mask >= threshold).any(axis=1))
    cols = np.flatnonzero((mask >= threshold).any(axis=0))
    if rows.size == 0:
        return 0, 0, mask.shape[1], mask.shape[0]
    return int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1


def multi_round(
    segmenter: Segmenter, photo: Photo, rounds: int, margin: float = 0.05, band: float = 0.0
) -> list[RoundResult]:
    """Run ``rounds`` rounds; each later round re-segments the previous cut-out (see the module docstring).

    ``margin`` widens the crop around the previous box and ``band`` is the width of the kept band of original
    pixels around the previous outline, both as fractions of the previous box's longest side. An
    :class:`ItemError` in round 1 propagates; when a later round finds nothing, the previous mask is repeated.
    """
    if rounds < 1:
        raise ValueError(f"rounds must be at least 1, got {rounds}")
    mask = np.asarray(segmenter.segment(photo), dtype=np.float32)
    results = [RoundResult(mask, mask_quality(photo.rgb, mask), mask_bbox(mask))]
    for _ in range(rounds - 1):
        previous = results[-1]
        try:
            mask = _resegment(segmenter, photo, previous, margin, band)
        except ItemError:
            mask = previous.mask
        results.append(RoundResult(mask, mask_quality(photo.rgb, mask), mask_bbox(mask)))
    return results


def best_round(results: list[RoundResult]) -> int:
    """Index of the round with the highest score (the earliest on ties)."""
    if not results:
        raise ValueError("no rounds to choose from")
    return int(np.argmax([r.score for r in results]))


def _resegment(
    segmenter: Segmenter, photo: Photo, previous: RoundResult, margin: float, band: float
) -> np.ndarray:
    height, width = previous.mask.shape
    x0, y0, x1, y1 = previous.bbox
    side = max(x1 - x0, y1 - y0)
    pad = max(4, round(margin * side))
    x0, y0, x1, y1 = max(0, x0 - pad), max(0, y0 - pad), min(width, x1 + pad), min(height, y1 + pad)
    crop = photo.rgb[y0:y1, x0:x1]
    composite = _neutral_outside(crop, previous.mask[y0:y1, x0:x1] >= 0.5, band * side)
    alpha = None if photo.alpha is None else photo.alpha[y0:y1, x0:x1]
    inner = segmenter.segment(replace(photo, rgb=composite, alpha=alpha))
    full = np.zeros((height, width), np.float32)
    full[y0:y1, x0:x1] = inner
    return full


def _neutral_outside(crop: np.ndarray, inside: np.ndarray, band_px: float, work_side: int = 512) -> np.ndarray:
    """``crop`` with what lies beyond ``band_px`` of ``inside`` faded to neutral grey (at low resolution)."""
    height, width = inside.shape
    scale = min(1.0, work_side / max(height, width))
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    keep = cv2.resize(inside.astype(np.uint8), size, interpolation=cv2.INTER_NEAREST)
    radius = max(1, round(band_px * scale))
    keep = cv2.dilate(keep, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1)))
    # Feather the kept region so the grey does not draw a hard, edge-like outline of its own.
    weight = cv2.GaussianBlur(keep.astype(np.float32), (0, 0), max(1.0, radius / 3))
    weight = cv2.resize(weight, (width, height), interpolation=cv2.INTER_LINEAR)[..., None]
    return (crop.astype(np.float32) * weight + NEUTRAL * (1.0 - weight) + 0.5).astype(np.uint8)
