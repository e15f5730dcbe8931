"""Cut-out quality, per photo: is the mask the whole object, in one piece, with its outline on the photo's edges?

No reference mask is needed. A fragment (the demo's cat that is two eyes and a nose, a motorbike reduced to its
red panels) shows as several pieces, an outline running through the middle of the object where the photo has
no edge, a small area, a shape far from convex, or rounds that disagree; a mask that bled into the background
touches the photo's frame. Measured at :data:`~gen4gen.checks.subjects.CUTOUT_SIDE` pixels, on the chosen
round's mask, the photo inside the mask's box (from the cut-out file) and every round's mask. Samples inherit
the verdicts of the cut-outs they use, and compose skips the rejected ones.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import cv2
import numpy as np
from scipy import ndimage

from gen4gen.checks.base import Checker, CheckResult, Metric, Score, Scores
from gen4gen.checks.subjects import CutoutSubject
from gen4gen.errors import ItemError

HARD = 0.5  # mask value from which a pixel is foreground
OPEN_DELTA_E = 6.0  # colour step (CIE ΔE) across the outline below which the photo goes on unchanged
SIGMA, BAND = 3.0, (2, 5)  # local colour means: Gaussian width, and the bands' distance from the outline (px)
MIN_WEIGHT = 1e-3
MIN_OUTLINE = 24  # fewer outline pixels with a known inside and outside: not measured


class CutoutChecker(Checker[CutoutSubject]):
    name = "cutout"
    version = "1"
    headline = "open"
    metrics = (
        Metric("pieces", "its largest piece holds {value} of the mask", "{:.0%}", label="in pieces"),
        Metric("holes", "{value} of its outline is holes", "{:.0%}", label="full of holes"),
        Metric("area", "the mask covers {value} of the photo", "{:.1%}", label="tiny in its photo"),
        Metric(
            "border",
            "the mask runs along {value} of the photo's frame",
            "{:.0%}",
            label="cut off by the frame",
        ),
        Metric(
            "open",
            "the photo goes on unchanged across {value} of the outline",
            "{:.0%}",
            label="a fragment of the object",
        ),
        Metric("softness", "the mask's edge is {value} px soft", "{:.1f}", label="soft edge"),
        Metric("rounds", "segmentation rounds agree at IoU {value}", "{:.2f}", label="rounds disagree"),
        Metric("solidity", "the mask fills {value} of its convex hull", "{:.0%}", label="ragged shape"),
    )

    def judge(self, scores: Scores) -> CheckResult:
        """As every check, with the reason naming the photo once."""
        result = super().judge(scores)
        photo = next((score.of for score in scores.values() if score.of), None)
        return replace(result, reason=f"{photo}: {result.reason}") if photo else result

    def measure(self, subject: CutoutSubject) -> Scores:
        crop, box = subject.crop
        return cutout_scores(subject.mask, crop, box, subject.round_masks, subject.label)


def cutout_scores(
    mask: np.ndarray,
    crop: np.ndarray | None,
    box: tuple[int, int, int, int] | None,
    rounds: Sequence[np.ndarray] = (),
    label: str | None = None,
) -> Scores:
    """Every cut-out score of a soft ``mask`` (h, w) of a whole photo.

    ``crop`` is the photo (RGB uint8) inside ``box`` (x0, y0, x1, y1 in mask pixels), for the open outline
    (None: not measured); ``rounds`` are every segmentation round's mask at the same size (fewer than two: no
    agreement to measure).
    """
    hard = np.asarray(mask) >= HARD
    if not hard.any():
        raise ItemError(f"{label}: empty mask; rerun `gen4gen segment`")
    labels, _ = ndimage.label(hard, structure=np.ones((3, 3), bool))
    sizes = np.bincount(labels.ravel())[1:]
    filled = ndimage.binary_fill_holes(hard)
    frame = np.concatenate([hard[0], hard[-1], hard[1:-1, 0], hard[1:-1, -1]])
    scores = {
        "pieces": Score(float(sizes.max()) / float(sizes.sum()), label),
        "holes": Score(1.0 - float(hard.sum()) / float(filled.sum()), label),
        "area": Score(float(hard.mean()), label),
        "border": Score(float(frame.mean()), label),
        "solidity": Score(_solidity(hard), label),
        "open": Score(_open_outline(hard, crop, box) if crop is not None and box is not None else None, label),
        "softness": Score(_softness(np.asarray(mask), hard), label),
        "rounds": Score(_round_agreement(hard, rounds), label),
    }
    return scores


def _solidity(hard: np.ndarray) -> float:
    points = cv2.findNonZero(hard.astype(np.uint8))
    hull = cv2.convexHull(points)
    hull_area = float(cv2.contourArea(hull)) + 0.5 * float(cv2.arcLength(hull, True)) + 1.0  # pixel-centre hull
    return float(min(1.0, hard.sum() / hull_area))


def _open_outline(hard: np.ndarray, crop: np.ndarray, box: tuple[int, int, int, int]) -> float | None:
    """Share of the outline across which the photo does not change: the local mean colours of the band just
    inside and the band just outside (:data:`BAND` px from the outline, a Gaussian of :data:`SIGMA` px) differ
    by less than :data:`OPEN_DELTA_E`. A cut-out that ends where the object does has a contrasting outline; a
    fragment's outline runs through the object, whose colour goes on past it. The outline along the photo's
    frame, and where the photo is not known (outside ``box``), is left out; None when too little is left."""
    x0, y0, x1, y1 = box
    height, width = hard.shape
    if crop.shape[:2] != (y1 - y0, x1 - x0):
        return None
    lab = np.zeros((height, width, 3), np.float32)
    known = np.zeros((height, width), bool)
    lab[y0:y1, x0:x1] = cv2.cvtColor(crop.astype(np.float32) / 255.0, cv2.COLOR_RGB2LAB)
    known[y0:y1, x0:x1] = True
    u8 = hard.astype(np.uint8)
    inside = cv2.distanceTransform(u8, cv2.DIST_L2, 3)
    outside = cv2.distanceTransform(1 - u8, cv2.DIST_L2, 3)

    def local_mean(region: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        weight = (region & known).astype(np.float32)
        total = cv2.GaussianBlur(weight, (0, 0), SIGMA)
        mean = cv2.GaussianBlur(lab * weight[..., None], (0, 0), SIGMA) / np.maximum(total, 1e-6)[..., None]
        return mean, total

    inside_mean, inside_weight = local_mean((inside > BAND[0]) & (inside <= BAND[1]))
    outside_mean, outside_weight = local_mean((outside > BAND[0]) & (outside <= BAND[1]))
    outline = hard & ~ndimage.binary_erosion(hard)
    outline[0, :] = outline[-1, :] = outline[:, 0] = outline[:, -1] = False  # the photo's frame is no outline
    outline &= (inside_weight > MIN_WEIGHT) & (outside_weight > MIN_WEIGHT)
    if outline.sum() < MIN_OUTLINE:
        return None
    step = np.linalg.norm(inside_mean[outline] - outside_mean[outline], axis=1)
    return float((step < OPEN_DELTA_E).mean())


def _softness(mask: np.ndarray, hard: np.ndarray) -> float:
    """Mean width in pixels of the mask's soft edge: undecided pixels (0.1-0.9) per outline pixel."""
    outline = int((hard & ~ndimage.binary_erosion(hard)).sum())
    undecided = int(((mask > 0.1) & (mask < 0.9)).sum())
    return undecided / max(outline, 1)


def _round_agreement(hard: np.ndarray, rounds: Sequence[np.ndarray]) -> float | None:
    """Mean IoU of the chosen mask with every round's mask that differs from it (None: fewer than two rounds)."""
    if len(rounds) < 2:
        return None
    ious = []
    for other in rounds:
        other_hard = np.asarray(other) >= HARD
        union = float((hard | other_hard).sum())
        ious.append(float((hard & other_hard).sum()) / union if union else 1.0)
    ious.sort(reverse=True)
    return float(np.mean(ious[1:]))  # the best match is the chosen round itself
