"""The arithmetic of CP-CLIP and TI-CLIP on plain numbers and arrays (no models): boxes, NMS, similarities, means.

Everything here is deterministic and testable by hand; ``docs/evaluation.md`` gives the same definitions as
equations.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

#: ``x0, y0, x1, y1`` in image pixels (``x1``, ``y1`` exclusive)
Box = tuple[float, float, float, float]
#: the concept-count groups of the paper's Table 1, in order
GROUPS: tuple[str, ...] = ("<=3", "4", ">=5")


@dataclass(frozen=True)
class Detection:
    """One detector box: pixels, score and the index of its best-scoring query."""

    box: Box
    score: float
    label: int


def clamp_box(box: Sequence[float], width: int, height: int) -> Box | None:
    """``box`` clamped to the ``width`` x ``height`` image, or None when nothing of it is left inside."""
    x0, y0, x1, y1 = (float(v) for v in box)
    x0, x1 = min(max(x0, 0.0), float(width)), min(max(x1, 0.0), float(width))
    y0, y1 = min(max(y0, 0.0), float(height)), min(max(y1, 0.0), float(height))
    if not (x1 > x0 and y1 > y0):
        return None
    return (x0, y0, x1, y1)


def crop_window(box: Box) -> tuple[int, int, int, int]:
    """The integer pixels a (clamped) box covers: ``(floor(x0), floor(y0), ceil(x1), ceil(y1))``."""
    x0, y0, x1, y1 = box
    return (math.floor(x0), math.floor(y0), math.ceil(x1), math.ceil(y1))


def iou(a: Box, b: Box) -> float:
    """Intersection over union of two boxes (0 when either is empty)."""
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def nms(boxes: Sequence[Box], scores: Sequence[float], iou_threshold: float) -> list[int]:
    """Greedy non-maximum suppression: indices kept, best score first (ties: earlier index first).

    A box is suppressed when its IoU with an already kept box is greater than ``iou_threshold``.
    """
    order = sorted(range(len(boxes)), key=lambda i: (-scores[i], i))
    kept: list[int] = []
    for i in order:
        if all(iou(boxes[i], boxes[j]) <= iou_threshold for j in kept):
            kept.append(i)
    return kept


def select_detections(
    detections: Sequence[Detection], wanted: Sequence[int], width: int, height: int, iou_threshold: float
) -> list[list[Detection]]:
    """For each query label ``q``, its ``wanted[q]`` best boxes (best first).

    Boxes are clamped to the image first and those left empty are dropped; the remaining boxes of each label go
    through NMS at ``iou_threshold``, and the best ``wanted[q]`` survivors are kept (for ``wanted[q] == 1`` that
    is simply the highest-scoring box).
    """
    chosen: list[list[Detection]] = []
    for label, count in enumerate(wanted):
        own = [
            Detection(clamped, d.score, d.label)
            for d in detections
            if d.label == label and (clamped := clamp_box(d.box, width, height)) is not None
        ]
        kept = nms([d.box for d in own], [d.score for d in own], iou_threshold)
        chosen.append([own[i] for i in kept[:count]])
    return chosen


def normalise(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit L2 norm (float64; an all-zero row stays zero)."""
    array = np.asarray(vectors, dtype=np.float64)
    norms = np.linalg.norm(array, axis=-1, keepdims=True)
    return array / np.where(norms > 0, norms, 1.0)


def similarity(crops: np.ndarray, references: Sequence[np.ndarray]) -> np.ndarray:
    """``S[i, j]``: mean cosine between crop ``i`` and each reference embedding of concept ``j``. Shape (n, J)."""
    crops = normalise(np.asarray(crops).reshape(len(crops), -1))
    if len(crops) == 0 or not references:
        return np.zeros((len(crops), len(references)))
    columns = [(crops @ normalise(refs).T).mean(axis=1) for refs in references]
    return np.stack(columns, axis=1)


def credit(scores: np.ndarray) -> tuple[list[int], list[float]]:
    """Per row of ``S``: the column of its maximum (the first on ties) and that maximum."""
    if scores.size == 0:
        return [], []
    best = [int(j) for j in np.argmax(scores, axis=1)]
    return best, [float(scores[i, j]) for i, j in enumerate(best)]


def cp_clip(credited: Sequence[float], n_concepts: int) -> float:
    """Sum of the kept crops' credited similarities over the number of concepts the image should show."""
    if n_concepts < 1:
        raise ValueError("CP-CLIP needs at least one concept")
    return float(sum(credited)) / n_concepts


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    """Cosine between two vectors (TI-CLIP's raw score)."""
    return float(normalise(np.asarray(a).reshape(-1)) @ normalise(np.asarray(b).reshape(-1)))


def group_of(n_concepts: int) -> str:
    """The Table 1 group of an image with ``n_concepts`` concepts."""
    return "<=3" if n_concepts <= 3 else "4" if n_concepts == 4 else ">=5"


@dataclass(frozen=True)
class Stat:
    """Mean, population standard deviation and count of a set of scores (None for an empty set)."""

    mean: float | None
    std: float | None
    count: int

    @classmethod
    def of(cls, values: Sequence[float]) -> Stat:
        if not values:
            return cls(None, None, 0)
        array = np.asarray(values, dtype=np.float64)
        return cls(float(array.mean()), float(array.std()), len(values))

    def as_dict(self) -> dict[str, float | int | None]:
        return {"mean": self.mean, "std": self.std, "count": self.count}


def summarise(scores: Sequence[float], n_concepts: Sequence[int]) -> dict[str, Stat]:
    """``all`` and each Table 1 group (``<=3``, ``4``, ``>=5`` concepts) of one score over images."""
    groups = [group_of(n) for n in n_concepts]
    table = {"all": Stat.of(list(scores))}
    for name in GROUPS:
        table[name] = Stat.of([s for s, g in zip(scores, groups, strict=True) if g == name])
    return table
