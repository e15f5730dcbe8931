"""Weight-free captions grounded in the layout: every concept named, spatial relations read off the boxes.

Concepts with the same name are counted ("two dogs"). The objects standing on the front ground line are ordered
left to right ("a cat on the left of a dog", "a dog between a cat and a mug", "an owl between two dogs");
objects standing clearly further back are placed "behind" the nearest front object. Captions stay within
``max_words`` (the paper's LLaVA limit of 30) by dropping relations before names: a concept is never dropped.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from pydantic import Field

from gen4gen.backends.base import BackendOptions, Captioner, CaptionRequest, Placement
from gen4gen.text import count_phrase, join, plural
from gen4gen.text import with_article as with_article  # re-exported for gen4gen.backends.repaint.scenes


@dataclass
class _Unit:
    """All instances of one concept name, described together."""

    name: str
    count: int
    cx: float  # mean box centre x
    x0: float
    x1: float
    bottom: float  # lowest box bottom (nearest ground contact)
    depth: int  # nearest drawing depth

    @property
    def phrase(self) -> str:
        return count_phrase(self.name, self.count)

    @property
    def ref(self) -> str:
        """A definite reference to an already-named unit: "the dog", "the two dogs"."""
        return f"the {self.name}" if self.count == 1 else f"the {plural(self.name)}"


def _units(placements: list[Placement]) -> list[_Unit]:
    groups: dict[str, list[Placement]] = {}
    for p in placements:
        groups.setdefault(p.name.strip(), []).append(p)
    units = []
    for name, items in groups.items():
        boxes = np.array([p.bbox for p in items], dtype=np.float64)
        units.append(
            _Unit(
                name=name,
                count=len(items),
                cx=float(((boxes[:, 0] + boxes[:, 2]) / 2).mean()),
                x0=float(boxes[:, 0].min()),
                x1=float(boxes[:, 2].max()),
                bottom=float(boxes[:, 3].max()),
                depth=max(p.depth for p in items),
            )
        )
    return sorted(units, key=lambda u: u.cx)


class TemplateCaptioner(Captioner):
    """Captions from a few templates filled with counts, left/right, between, next to and behind relations."""

    name = "template"
    needs_pixels = False  # the layout and the image size are enough
    version = "1"

    options: Options

    class Options(BackendOptions):
        style: str | None = Field(
            None, description='fixed opening, e.g. "a realistic photo of"; none: chosen per sample from the seed'
        )

    OPENINGS = ("a photo of", "a realistic photo of", "a photograph of", "a high-quality photo of", "an image of")

    def caption(self, request: CaptionRequest) -> str:
        rng = np.random.default_rng([int(request.seed) & 0xFFFFFFFF, 0xCA])
        opening = self.options.style if self.options.style is not None else str(rng.choice(self.OPENINGS))
        units = _units(request.placements)
        height, width = request.image.shape[:2]
        scene = (request.scene or "").strip()
        bodies = self._bodies(units, float(width), float(height), rng)
        for body in bodies:
            for text in (f"{opening} {body} {scene}", f"{body} {scene}", body):
                text = " ".join(text.split())
                if len(text.split()) <= request.max_words:
                    return text
        return bodies[-1]  # more distinct names than max_words allows: never drop a concept

    def _bodies(self, units: list[_Unit], width: float, height: float, rng: np.random.Generator) -> list[str]:
        """Descriptions of the layout from the richest to the plainest; all of them name every concept."""
        names_only = join([u.phrase for u in units])
        if len(units) == 1:
            return [names_only]
        ground = max(u.bottom for u in units)
        front = [u for u in units if u.bottom >= ground - 0.08 * height]
        back = [u for u in units if u not in front]
        richest = self._front(front, width, rng)
        plain_back = ""
        if back:
            behind = []
            for u in back:
                nearest = min(front, key=lambda f: abs(f.cx - u.cx))
                overlaps = min(u.x1, nearest.x1) - max(u.x0, nearest.x0) > 0
                target = nearest.ref if overlaps and len(front) > 1 else "them" if len(front) > 1 else front[0].ref
                behind.append(f"{u.phrase} behind {target}")
            richest += ", " + join(behind)
            plain_back = f", {join([u.phrase for u in back])} in the background"
        return [richest, join([u.phrase for u in front]) + plain_back, names_only]

    @staticmethod
    def _front(front: list[_Unit], width: float, rng: np.random.Generator) -> str:
        """The front row, left to right, in one of a few phrasings."""
        if len(front) == 1:
            return front[0].phrase
        if len(front) == 2:
            a, b = front
            for pair, other in ((a, b), (b, a)):
                if pair.count == 2 and pair.x0 < other.x0 and other.x1 < pair.x1:
                    return f"{other.phrase} between {pair.phrase}"
            if b.x0 - a.x1 < 0.05 * width:
                return f"{a.phrase} next to {b.phrase}"
            if rng.random() < 0.5:
                return f"{a.phrase} on the left of {b.phrase}"
            return f"{b.phrase} on the right of {a.phrase}"
        if len(front) == 3 and rng.random() < 0.5:
            a, b, c = front
            return f"{b.phrase} between {a.phrase} and {c.phrase}"
        return f"{join([u.phrase for u in front])} side by side"
