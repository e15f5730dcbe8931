"""Layout: every concept present, inside the canvas, visible enough, not piled on another, at a plausible size.

Sizes are judged against the real-world size priors (:mod:`gen4gen.priors`): a concept's *scale* is its planned
box height over its real-world height (for a concept measured by its length, the height a cut-out of that aspect
has), in pixels per metre. ``size_ratio`` is the largest scale over the smallest, so a 10 cm cup drawn as tall as
a 50 m rocket shows as ×500 whatever the planner; ``enlargement`` is the largest scale over the layout's own
pixels-per-metre when the planner recorded it (the prior planner does), the factor by which a concept had to be
enlarged to meet the minimum size. Concepts with no known size take part in neither. ``box_fit`` checks that each
recorded box is its instance mask's box (the boxes exports write), so a box that drifted off its concept shows.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from gen4gen.checks.base import Checker, Metric, Score, Scores
from gen4gen.checks.subjects import SampleSubject
from gen4gen.geometry.boxes import box_area, box_iou, intersection, mask_bbox
from gen4gen.manifest.records import ComposeData
from gen4gen.priors import size_prior


class LayoutChecker(Checker[SampleSubject]):
    name = "layout"
    version = "1"
    headline = "size_ratio"
    metrics = (
        Metric("present", "{value} of the concepts are visible", "{:.0%}", label="a concept missing"),
        Metric("visible", "{of} is {value} visible", "{:.0%}", label="a concept mostly hidden"),
        Metric("inside", "{value} of {of}'s box is inside the canvas", "{:.0%}", label="a concept off the canvas"),
        Metric(
            "overlap", "{value} of {of}'s box is covered by another concept's", "{:.0%}", label="concepts piled up"
        ),
        Metric("box_fit", "{of}'s box covers its mask at IoU {value}", "{:.2f}", label="a box off its concept"),
        Metric(
            "enlargement",
            "{of} is enlarged {value} beyond its real-world size",
            "×{:.1f}",
            label="a concept enlarged far beyond its size",
        ),
        Metric(
            "size_ratio",
            "{of}: relative size {value} off the real-world sizes",
            "×{:.1f}",
            label="implausible relative sizes",
        ),
    )

    def measure(self, subject: SampleSubject) -> Scores:
        return layout_scores(subject.layout, subject.masks)


def layout_scores(layout: ComposeData, masks: Sequence[np.ndarray] | None = None) -> Scores:
    """Every layout score of one sample's compose record (``box_fit`` only with the instance masks, one per
    object)."""
    objects = layout.objects
    width, height = layout.canvas
    scores: Scores = {}
    if not objects:
        return {"present": Score(0.0)}
    shown = [o for o in objects if o.bbox is not None]
    scores["present"] = Score(len(shown) / len(objects), ", ".join(o.name for o in objects if o.bbox is None))
    least = min(objects, key=lambda o: o.visible if o.bbox is not None else -1.0)
    scores["visible"] = Score(least.visible if least.bbox is not None else 0.0, least.name)
    inside = [
        (intersection(o.planned_bbox, (0, 0, width, height)) / max(box_area(o.planned_bbox), 1.0), o.name)
        for o in objects
    ]
    scores["inside"] = Score(*min(inside))
    covered: list[tuple[float, str]] = [(0.0, shown[0].name)] if shown else [(0.0, "")]
    for o in shown:
        assert o.bbox is not None
        area = max(box_area(o.bbox), 1.0)
        for other in shown:
            if other is not o and other.bbox is not None:
                covered.append((intersection(o.bbox, other.bbox) / area, o.name))
    scores["overlap"] = Score(*max(covered))
    fits: list[tuple[float, str]] = []
    for o, mask in zip(objects, masks or (), strict=False):
        if o.bbox is not None:
            fits.append((box_iou(o.bbox, mask_bbox(mask, 0.5, full_if_empty=False) or (0, 0, 0, 0)), o.name))
    scores["box_fit"] = Score(*min(fits)) if fits else Score(None)
    scales = []
    for o in objects:
        prior = size_prior(o.name)
        x0, y0, x1, y1 = o.planned_bbox
        if not prior.known or y1 <= y0 or x1 <= x0:
            continue
        scales.append(((y1 - y0) / prior.height_for_aspect((x1 - x0) / (y1 - y0)), o.name))
    if len(scales) >= 2:
        (low, small), (high, big) = min(scales), max(scales)
        scores["size_ratio"] = Score(high / low, f"{big} next to {small}")
    else:
        scores["size_ratio"] = Score(None)
    px_per_m = layout.provenance.get("px_per_m")
    if isinstance(px_per_m, int | float) and px_per_m > 0 and scales:
        factor, name = max(scales)
        scores["enlargement"] = Score(factor / float(px_per_m), name)
    else:
        scores["enlargement"] = Score(None)
    return scores
