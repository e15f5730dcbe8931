"""A weight-free score of how plausible a foreground mask is for its photo, used to pick a segmentation round.

Without a reference mask, a good cut-out is one whose inside and outside look different (colour separation), whose
outline runs along the photo's edges (edge agreement), that is one solid piece (fragmentation), that is confident
(binariness) and that does not run along the frame (border touch). Each cue is in [0, 1]; the score is their
weighted geometric mean, so one clearly bad cue pulls the whole score down.
"""

from __future__ import annotations

import cv2
import numpy as np
from scipy import ndimage

WORK_SIDE = 384  # everything is measured at this longest side: cheap and resolution-independent
WEIGHTS = {"separation": 2.0, "edges": 1.5, "solidity": 1.0, "binariness": 0.5, "frame": 0.5}


def mask_quality(rgb: np.ndarray, mask: np.ndarray) -> float:
    """Score in [0, 1] (higher is better) of soft ``mask`` (H, W) in [0, 1] for photo ``rgb`` (H, W, 3) uint8."""
    cues = quality_cues(rgb, mask)
    if min(cues.values()) <= 0.0:
        return 0.0
    total = sum(WEIGHTS.values())
    log_score = sum(w * np.log(cues[name]) for name, w in WEIGHTS.items()) / total
    return float(np.clip(np.exp(log_score), 0.0, 1.0))


def quality_cues(rgb: np.ndarray, mask: np.ndarray) -> dict[str, float]:
    """The individual cues behind :func:`mask_quality`, each in [0, 1]."""
    height, width = mask.shape
    scale = min(1.0, WORK_SIDE / max(height, width))
    size = (max(8, round(width * scale)), max(8, round(height * scale)))
    small_rgb = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
    soft = np.clip(cv2.resize(mask.astype(np.float32), size, interpolation=cv2.INTER_AREA), 0.0, 1.0)
    hard = soft >= 0.5
    area = float(hard.mean())
    if area == 0.0 or area == 1.0:
        return dict.fromkeys(WEIGHTS, 0.0)
    return {
        "separation": _colour_separation(small_rgb, hard),
        "edges": _edge_agreement(small_rgb, hard),
        "solidity": _solidity(hard),
        "binariness": _binariness(soft, hard),
        "frame": _frame(hard),
    }


def _colour_separation(rgb: np.ndarray, hard: np.ndarray) -> float:
    """1 - histogram intersection of the inside and outside colour distributions (8 bins per channel)."""
    bins = (rgb // 32).astype(np.int32)
    codes = (bins[..., 0] * 64 + bins[..., 1] * 8 + bins[..., 2]).ravel()
    inside = np.bincount(codes[hard.ravel()], minlength=512).astype(np.float64)
    outside = np.bincount(codes[~hard.ravel()], minlength=512).astype(np.float64)
    return float(1.0 - np.minimum(inside / inside.sum(), outside / outside.sum()).sum())


def _edge_agreement(rgb: np.ndarray, hard: np.ndarray) -> float:
    """Mean colour-gradient strength on the mask outline, relative to the photo's strong gradients."""
    lab = cv2.cvtColor(cv2.GaussianBlur(rgb, (3, 3), 0), cv2.COLOR_RGB2LAB).astype(np.float32)
    gx = cv2.Sobel(lab, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(lab, cv2.CV_32F, 0, 1, ksize=3)
    magnitude = np.sqrt((gx**2 + gy**2).sum(axis=2))
    # Allow the outline a pixel of slack: take the strongest gradient within a 3x3 neighbourhood.
    magnitude = cv2.dilate(magnitude, np.ones((3, 3), np.uint8))
    outline = hard ^ ndimage.binary_erosion(hard)
    outline[0, :] = outline[-1, :] = outline[:, 0] = outline[:, -1] = False  # the frame is not an edge
    if not outline.any():
        return 1.0
    reference = float(np.percentile(magnitude, 90)) + 1e-6
    return float(np.clip(np.median(magnitude[outline]) / reference, 0.0, 1.0))


def _solidity(hard: np.ndarray) -> float:
    """Share of the foreground in its largest component times share of it that is not a hole."""
    labels, _ = ndimage.label(hard)
    sizes = np.bincount(labels.ravel())[1:]
    largest = float(sizes.max()) / float(sizes.sum())
    filled = ndimage.binary_fill_holes(hard)
    return largest * float(hard.sum()) / float(filled.sum())


def _binariness(soft: np.ndarray, hard: np.ndarray) -> float:
    """How decided the mask is: few uncertain pixels relative to the foreground's size."""
    uncertain = float(((soft > 0.1) & (soft < 0.9)).sum())
    return float(np.exp(-4.0 * uncertain / float(hard.sum())))


def _frame(hard: np.ndarray) -> float:
    """1 - the share of the image frame the foreground covers (a subject rarely fills the frame's outline)."""
    frame = np.concatenate([hard[0], hard[-1], hard[:, 0], hard[:, -1]])
    return float(1.0 - 0.75 * frame.mean())
