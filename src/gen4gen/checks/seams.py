"""Seams: no halo and no colour leak where the concepts meet the new background.

Measured along the outline of the union mask (where it crosses 0.5) in the finished image, in CIE Lab, with
local mean colours (a Gaussian of :data:`SIGMA` px over each band, so texture averages out):

* ``halo``: how far the edge band's colour lies from the blend of the colour just inside and just outside
  (the distance to the segment between them). A correct soft edge is a mix of the two and lies on it; a dark
  ring from the composite's black background, or a fringe of the photo's old background, does not.
* ``leak``: the colour step between the ring just outside the outline (0-3 px) and the next one (4-7 px). The
  new background continues up to a clean edge; a concept's colour bleeding out, or a black or light rim, shows
  as a step.

Both are corrected by the scene's own step between the rings 4-7 and 8-11 px out at the same point (so a busy
or noisy background is no seam) and are medians over the outline (so a contact shadow under one side does not
count). The outline along the canvas edge is left out.
"""

from __future__ import annotations

import cv2
import numpy as np

from gen4gen.checks.base import Checker, Metric, Score, Scores
from gen4gen.checks.subjects import SampleSubject

SIGMA = 3.0
MIN_WEIGHT = 1e-3  # a band with less Gaussian weight than this at an outline pixel is unknown there
EDGE = (0.02, 0.98)  # alpha between these: the soft edge band
INNER = (2, 5)  # inside the outline, pixels
NEAR, MID, FAR = (0, 3), (4, 7), (8, 11)  # outside the outline, pixels: three rings of the same width
MIN_OUTLINE = 32
PAD = FAR[1] + 4


class SeamChecker(Checker[SampleSubject]):
    name = "seams"
    version = "1"
    headline = "halo"
    metrics = (
        Metric("halo", "the concept edges are ΔE {value} off a clean blend", "{:.1f}", label="halo at the edges"),
        Metric(
            "leak",
            "a colour step of ΔE {value} just outside the concepts",
            "{:.1f}",
            label="colour leak at the edges",
        ),
    )

    def measure(self, subject: SampleSubject) -> Scores:
        if subject.image.shape[:2] != subject.union.shape:
            return {"halo": Score(None), "leak": Score(None)}
        halo, leak = seam_scores(subject.image, subject.union)
        return {"halo": Score(halo), "leak": Score(leak)}


def seam_scores(image: np.ndarray, union: np.ndarray) -> tuple[float | None, float | None]:
    """(halo, leak) of RGB uint8 ``image`` around soft mask ``union`` (H, W) in [0, 1]; None when the outline is
    too short to tell.

    Both are measured against the scene's own variation at the same scale: the colour step between the rings
    4-7 and 8-11 px outside, at the same point of the outline, is subtracted, so a busy or noisy background
    does not count as a seam.
    """
    rows, cols = np.flatnonzero((union > EDGE[0]).any(1)), np.flatnonzero((union > EDGE[0]).any(0))
    if rows.size == 0:
        return None, None
    height, width = union.shape
    y0, y1 = max(0, rows[0] - PAD), min(height, rows[-1] + 1 + PAD)
    x0, x1 = max(0, cols[0] - PAD), min(width, cols[-1] + 1 + PAD)
    alpha = union[y0:y1, x0:x1]
    lab = cv2.cvtColor(image[y0:y1, x0:x1].astype(np.float32) / 255.0, cv2.COLOR_RGB2LAB)
    solid = (alpha >= 0.5).astype(np.uint8)
    inside = cv2.distanceTransform(solid, cv2.DIST_L2, 3)
    outside = cv2.distanceTransform(1 - solid, cv2.DIST_L2, 3)
    clear = alpha <= EDGE[0]

    def ring(band: tuple[int, int]) -> np.ndarray:
        return clear & (outside > band[0]) & (outside <= band[1])

    regions = {
        "inner": (alpha >= EDGE[1]) & (inside >= INNER[0]) & (inside <= INNER[1]),
        "band": (alpha > EDGE[0]) & (alpha < EDGE[1]) | ((solid > 0) & (inside <= 1.0)),
        "near": ring(NEAR),
        "mid": ring(MID),
        "far": ring(FAR),
    }
    outline = (solid > 0) & (inside <= 1.0)
    margin = FAR[1]  # the outline this close to the canvas edge has no scene beyond it
    if y0 == 0:
        outline[:margin] = False
    if y1 == height:
        outline[-margin:] = False
    if x0 == 0:
        outline[:, :margin] = False
    if x1 == width:
        outline[:, -margin:] = False
    weights = {name: cv2.GaussianBlur(band.astype(np.float32), (0, 0), SIGMA) for name, band in regions.items()}
    for weight in weights.values():
        outline &= weight > MIN_WEIGHT
    if int(outline.sum()) < MIN_OUTLINE:
        return None, None
    at = {name: _local_mean(lab, region, weights[name], outline) for name, region in regions.items()}
    baseline = np.linalg.norm(at["mid"] - at["far"], axis=1)
    halo = _segment_distance(at["band"], at["inner"], at["mid"]) - baseline
    leak = np.linalg.norm(at["near"] - at["mid"], axis=1) - baseline
    return float(max(0.0, np.median(halo))), float(max(0.0, np.median(leak)))


def _local_mean(lab: np.ndarray, region: np.ndarray, total: np.ndarray, at: np.ndarray) -> np.ndarray:
    """The Gaussian-weighted mean Lab colour of ``region`` around each pixel of ``at`` (N, 3); ``total`` is the
    region's blurred weight. Only the outline's values are kept, not a whole-crop image per band."""
    weighted = cv2.GaussianBlur(lab * region.astype(np.float32)[..., None], (0, 0), SIGMA)
    return np.asarray(weighted[at] / np.maximum(total[at], 1e-6)[..., None])


def _segment_distance(point: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Distance of each row of ``point`` to the segment from the row of ``a`` to the row of ``b``."""
    ab = b - a
    t = np.clip(((point - a) * ab).sum(axis=1) / np.maximum((ab * ab).sum(axis=1), 1e-6), 0.0, 1.0)
    return np.asarray(np.linalg.norm(point - (a + t[:, None] * ab), axis=1))
