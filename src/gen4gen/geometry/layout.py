"""What a layout is made of: the objects asked for, where each one goes, and the paper's minimum box size."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

PAPER_MIN_SIZE_DIVISORS: tuple[float, float, float] = (5.0, 6.0, 8.0)
"""The paper's minimum size: every box has an area of at least (H / d)², d for <= 3, 4 and >= 5 objects."""


@dataclass(frozen=True)
class ConceptRequest:
    """One object to place: its concept name and the aspect ratio (w / h) of the cut-out chosen for it."""

    name: str
    aspect: float


@dataclass(frozen=True)
class Placement:
    """Where one concept goes: box (x0, y0, x1, y1) in canvas pixels, drawn in ``depth`` order (0 = farthest)."""

    name: str
    bbox: tuple[int, int, int, int]
    depth: int


def min_size_divisor(count: int, divisors: Sequence[float] = PAPER_MIN_SIZE_DIVISORS) -> float:
    """The divisor ``d`` of the minimum box size for ``count`` objects: ``divisors`` are for <= 3, 4 and >= 5."""
    return divisors[0 if count <= 3 else 1 if count == 4 else 2]


def min_box_area(count: int, side: float, divisors: Sequence[float] = PAPER_MIN_SIZE_DIVISORS) -> float:
    """Smallest area of a box among ``count`` objects: ``(side / d)²``, ``d`` from :func:`min_size_divisor`."""
    return (side / min_size_divisor(count, divisors)) ** 2
