"""Offline layout planner: real-world size priors, a ground line with perspective, bounded overlap.

How a layout is made (all randomness from the caller's ``rng``, so a seed gives the same layout):

1. Each concept's real-world height comes from :mod:`gen4gen.priors` (with a little per-object
   jitter: individual cats differ). Each object gets a ground position ``t`` in [0, 1] (0 = farthest): its
   bottom edge lies at that point of the ground band and, by perspective, it is drawn up to ``perspective``
   smaller when far.
2. One pixels-per-metre scale for the whole set keeps relative sizes: it is chosen so that the row of objects
   spans a sampled fraction of the canvas width, then raised until the smallest object meets the paper's minimum
   size, but never so far that the largest one leaves the canvas. Objects that still don't fit are clipped to
   the minimum size or to the canvas one by one; such distortions are reported in ``Layout.notes``.
3. Objects stand side by side in a random left-to-right order. Spare width becomes random gaps; when the row is
   too wide, neighbours overlap, each pair by at most ``overlap_max`` of the narrower one (so the
   ``overlap_fraction`` of any two boxes stays within bounds); when even that is not enough the scale shrinks,
   and as a last resort the objects go on a grid of several ground lines (rows farther up are farther away).
4. Depth follows the ground line: the higher an object's bottom edge, the farther it is (drawn first).
"""

from __future__ import annotations

import math
from typing import Annotated

import numpy as np
from pydantic import Field, model_validator

from gen4gen.backends.base import BackendOptions, Layout, LayoutPlanner
from gen4gen.geometry.boxes import IntBox, int_box_at, overlap_fraction
from gen4gen.geometry.layout import (
    PAPER_MIN_SIZE_DIVISORS,
    ConceptRequest,
    Placement,
    min_box_area,
    min_size_divisor,
)
from gen4gen.priors import size_prior

_SHRINK = 0.92  # scale step when the row doesn't fit


MinSizeDivisors = tuple[
    Annotated[float, Field(ge=1.0, le=100.0)],
    Annotated[float, Field(ge=1.0, le=100.0)],
    Annotated[float, Field(ge=1.0, le=100.0)],
]
"""The divisors ``d`` of the minimum box size (see :func:`~gen4gen.geometry.layout.min_size_divisor`)."""


class PriorPlannerOptions(BackendOptions):
    ground_band: tuple[float, float] = Field(
        (0.62, 0.95),
        description="Where object bottoms stand, fractions of the canvas height: (farthest, nearest), in (0, 1].",
    )
    perspective: float = Field(
        0.2,
        ge=0.0,
        lt=1.0,
        description="How much smaller the farthest object is drawn than the nearest, relative (0 = none).",
    )
    fill: tuple[float, float] = Field(
        (0.5, 0.85),
        description="Range (0 < low <= high <= 1) of the share of the usable width the row of objects spans.",
    )
    max_height: float = Field(0.75, gt=0.0, le=1.0, description="Tallest object, fraction of canvas height.")
    max_width: float = Field(0.9, gt=0.0, le=1.0, description="Widest allowed object, fraction of usable width.")
    overlap_max: float = Field(
        0.15, ge=0.0, le=1.0, description="Largest overlap of two boxes, as a fraction of the smaller box's area."
    )
    margin: float = Field(0.02, ge=0.0, lt=0.25, description="Free border, fraction of the short side.")
    min_size_divisors: MinSizeDivisors = Field(
        PAPER_MIN_SIZE_DIVISORS,
        description="The paper's minimum size: every box has area >= (H / d)² with d for <=3, 4 and >=5 concepts.",
    )
    size_jitter: float = Field(
        0.1, ge=0.0, lt=0.5, description="Per-object random variation of the real-world size (relative, uniform)."
    )
    max_attempts: int = Field(
        30,
        ge=1,
        le=1000,
        description="Scale reductions tried on one ground line before falling back to several rows.",
    )

    @model_validator(mode="after")
    def _check_ranges(self) -> PriorPlannerOptions:
        for key in ("ground_band", "fill"):
            lo, hi = getattr(self, key)
            if not 0.0 < lo <= hi <= 1.0:
                raise ValueError(f"{key} must satisfy 0 < low <= high <= 1, got {(lo, hi)}")
        return self


class PriorPlanner(LayoutPlanner):
    """Size-prior planner: objects on a ground line, real-world relative sizes, bounded overlap, no model."""

    name = "prior"
    version = "1"
    Options = PriorPlannerOptions
    options: PriorPlannerOptions

    def plan(self, concepts: list[ConceptRequest], canvas: tuple[int, int], rng: np.random.Generator) -> Layout:
        width, height = canvas
        n = len(concepts)
        if n == 0:
            return Layout(placements=[], provenance={"px_per_m": None})
        opts = self.options
        notes: list[str] = []
        priors = [size_prior(c.name) for c in concepts]
        for concept, prior in zip(concepts, priors, strict=True):
            if not prior.known:
                notes.append(f"unknown size for {concept.name!r}, assumed {prior.height_m:g} m")
        aspect = np.array([_valid_aspect(c) for c in concepts])
        metres = np.array([p.height_for_aspect(a) for p, a in zip(priors, aspect, strict=True)])
        metres *= rng.uniform(1.0 - opts.size_jitter, 1.0 + opts.size_jitter, n)
        depth_t = rng.uniform(0.0, 1.0, n)  # 0 = farthest
        metres *= 1.0 - opts.perspective * (1.0 - depth_t)
        order = rng.permutation(n)
        fill = rng.uniform(*opts.fill)

        margin = opts.margin * min(width, height)
        usable_w, usable_h = width - 2 * margin, height - 2 * margin
        divisor = min_size_divisor(n, opts.min_size_divisors)
        min_area = min_box_area(n, height, opts.min_size_divisors)
        lo = np.sqrt(min_area / aspect) + np.maximum(1.0, 1.0 / aspect)  # min area, plus room for rounding
        hi = np.minimum(min(opts.max_height * height, usable_h), opts.max_width * usable_w / aspect)
        for i in np.flatnonzero(lo > hi):
            notes.append(f"{concepts[i].name!r} is too elongated (aspect {aspect[i]:.2f}) for the minimum size")
        hi = np.maximum(hi, np.minimum(lo, np.minimum(usable_h, usable_w / aspect)))
        lo = np.minimum(lo, hi)

        scale = fill * usable_w / float(np.sum(metres * aspect))
        scale = max(scale, float(np.max(lo / metres)))  # enlarge the smallest to the minimum size...
        scale = min(scale, float(np.min(hi / metres)))  # ...unless the largest would no longer fit
        first_scale = scale
        boxes = None
        for _ in range(opts.max_attempts):
            heights = np.clip(scale * metres, lo, hi)
            boxes = self._row(heights, aspect, order, depth_t, canvas, margin, rng)
            if boxes is not None or np.all(heights <= lo):
                break
            scale *= _SHRINK
        rows = 1
        if boxes is None:
            scale = first_scale
            heights = np.clip(scale * metres, lo, hi)
            boxes, rows, heights = self._grid(heights, lo, aspect, canvas, margin, rng)
            notes.append(f"too many or too wide objects for one ground line: placed on {rows} rows")
        notes.extend(_distortion_notes(concepts, heights, scale * metres))
        for concept, box in zip(concepts, boxes, strict=True):
            if (box[2] - box[0]) * (box[3] - box[1]) < min_area - 1:
                notes.append(f"{concept.name!r} is below the minimum size (H/{divisor:g})²")

        bottoms = np.array([b[3] for b in boxes], dtype=float)
        far_to_near = np.lexsort((np.arange(n), bottoms))
        depth = np.empty(n, dtype=int)
        depth[far_to_near] = np.arange(n)
        placements = [Placement(c.name, boxes[i], int(depth[i])) for i, c in enumerate(concepts)]
        provenance = {
            "px_per_m": round(scale, 3),
            "rows": rows,
            "sizes_m": {c.name: p.height_m for c, p in zip(concepts, priors, strict=True)},
        }
        return Layout(placements=placements, notes=notes, provenance=provenance)

    def _row(
        self,
        heights: np.ndarray,
        aspect: np.ndarray,
        order: np.ndarray,
        depth_t: np.ndarray,
        canvas: tuple[int, int],
        margin: float,
        rng: np.random.Generator,
    ) -> list[IntBox] | None:
        """Boxes on one ground line in ``order`` left to right, or None if overlap would exceed the bound."""
        width, height = canvas
        opts = self.options
        n = len(heights)
        widths = heights * aspect
        w_ord = widths[order]
        free = (width - 2 * margin) - float(w_ord.sum())
        if free >= 0:
            gaps = rng.dirichlet(np.ones(n + 1)) * free
        else:
            # neighbours may overlap by a share of the narrower one (kept under the bound after rounding)
            capacity = np.maximum(0.0, opts.overlap_max * np.minimum(w_ord[:-1], w_ord[1:]) - 2.0)
            if capacity.sum() < -free:
                return None
            gaps = np.concatenate([[0.0], free * capacity / capacity.sum(), [0.0]])
            rng.dirichlet(np.ones(n + 1))  # keep the stream aligned with the branch above
        lefts = margin + np.cumsum(gaps[:-1]) + np.concatenate([[0.0], np.cumsum(w_ord[:-1])])
        g_far, g_near = opts.ground_band
        boxes: list[IntBox] = [(0, 0, 0, 0)] * n
        for k, i in enumerate(order):
            bottom = height * (g_far + depth_t[i] * (g_near - g_far))
            bottom = min(max(bottom, margin + heights[i]), height - margin)
            boxes[i] = int_box_at(lefts[k], bottom, heights[i], aspect[i], canvas)
        for a in range(n):
            for b in range(a + 1, n):
                if overlap_fraction(boxes[a], boxes[b]) > opts.overlap_max:
                    return None
        return boxes

    def _grid(
        self,
        heights: np.ndarray,
        lo: np.ndarray,
        aspect: np.ndarray,
        canvas: tuple[int, int],
        margin: float,
        rng: np.random.Generator,
    ) -> tuple[list[IntBox], int, np.ndarray]:
        """Several ground lines, one object per cell, no overlap: the fewest rows meeting the minimum size."""
        width, height = canvas
        n = len(heights)
        usable_w, usable_h = width - 2 * margin, height - 2 * margin
        best = None
        for rows in range(1, n + 1):
            cols = math.ceil(n / rows)
            cell_w, cell_h = usable_w / cols, usable_h / rows
            fitted = np.minimum(heights, np.minimum(cell_h, cell_w / aspect))
            shortfall = float(np.sum(np.maximum(0.0, lo - fitted) / lo))
            key = (round(shortfall, 3), rows)  # meet the minimum size first, then as few rows as possible
            if best is None or key < best[0]:
                best = (key, rows, cols, fitted)
        assert best is not None  # n >= 1, so the loop ran
        _, rows, cols, fitted = best
        cell_w, cell_h = usable_w / cols, usable_h / rows
        nearest_first = np.argsort(-fitted, kind="stable")  # the biggest objects go on the nearest (bottom) row
        cells = rng.permutation(rows * cols)
        cells = cells[np.argsort(-(cells // cols), kind="stable")][:n]
        boxes: list[IntBox] = [(0, 0, 0, 0)] * n
        for i, cell in zip(nearest_first, cells, strict=True):
            r, c = divmod(int(cell), cols)
            w = fitted[i] * aspect[i]
            left = margin + c * cell_w + rng.uniform(0.0, max(0.0, cell_w - w))
            bottom = margin + (r + 1) * cell_h - rng.uniform(0.0, max(0.0, min(cell_h - fitted[i], 0.1 * cell_h)))
            boxes[i] = int_box_at(left, bottom, fitted[i], aspect[i], canvas)
        return boxes, rows, fitted


def _valid_aspect(concept: ConceptRequest) -> float:
    if not (concept.aspect > 0 and math.isfinite(concept.aspect)):
        raise ValueError(f"concept {concept.name!r} has an invalid aspect ratio {concept.aspect!r}")
    return float(concept.aspect)


def _distortion_notes(concepts: list[ConceptRequest], heights: np.ndarray, true_scale: np.ndarray) -> list[str]:
    """Say which objects the minimum size or the canvas forced away from their real-world relative size."""
    notes = []
    for concept, h, ideal in zip(concepts, heights, true_scale, strict=True):
        ratio = h / ideal
        if ratio > 1.03:
            notes.append(
                f"{concept.name!r} enlarged x{ratio:.2f} beyond its real-world relative size (minimum size)"
            )
        elif ratio < 0.97:
            notes.append(f"{concept.name!r} shrunk x{ratio:.2f} below its real-world relative size (canvas)")
    return notes
