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

_NUMBERS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten")
_IRREGULAR = {
    "mouse": "mice",
    "person": "people",
    "child": "children",
    "man": "men",
    "woman": "women",
    "goose": "geese",
    "tooth": "teeth",
    "foot": "feet",
    "ox": "oxen",
    "cactus": "cacti",
    "knife": "knives",
    "leaf": "leaves",
    "wolf": "wolves",
    "shelf": "shelves",
    "calf": "calves",
    "loaf": "loaves",
    "half": "halves",
    "scarf": "scarves",
    "tomato": "tomatoes",
    "potato": "potatoes",
    "hero": "heroes",
    "echo": "echoes",
    "mango": "mangoes",
    "fungus": "fungi",
    "octopus": "octopuses",
    "bus": "buses",
    "die": "dice",
}
_UNCHANGED = {"sheep", "fish", "deer", "moose", "bison", "series", "species", "aircraft", "salmon", "shrimp"}
_PAIRS = {"sunglasses", "glasses", "scissors", "jeans", "pants", "trousers", "shorts", "headphones", "binoculars"}
_A_BEFORE_VOWEL = ("uni", "use", "usu", "uti", "ute", "ure", "uro", "eu", "one", "once", "ukulele", "ewe")
_AN_BEFORE_H = ("hour", "honest", "honor", "honour", "heir")


def with_article(noun: str) -> str:
    """``noun`` with its indefinite article: "an owl", "a unicorn", "an hour"."""
    word = noun.strip().lower()
    vowel_sound = (word[:1] in "aeiou" and not word.startswith(_A_BEFORE_VOWEL)) or word.startswith(_AN_BEFORE_H)
    return f"{'an' if vowel_sound else 'a'} {noun.strip()}"


def plural(noun: str) -> str:
    """Plural of a (possibly multi-word) noun: the last word is inflected ("teddy bears", "two mice")."""
    head, _, last = noun.strip().rpartition(" ")
    low = last.lower()
    if low in _IRREGULAR:
        last = _IRREGULAR[low]
    elif low in _UNCHANGED or low in _PAIRS:
        pass
    elif low.endswith(("s", "x", "z", "ch", "sh")):
        last += "es"
    elif low.endswith("y") and low[-2:-1] not in tuple("aeiou"):
        last = last[:-1] + "ies"
    else:
        last += "s"
    return f"{head} {last}" if head else last


def count_phrase(noun: str, count: int) -> str:
    """ "a cat", "two dogs", "a pair of sunglasses", "12 mugs"."""
    number = _NUMBERS[count] if count < len(_NUMBERS) else str(count)
    if noun.strip().rpartition(" ")[2].lower() in _PAIRS:
        return f"a pair of {noun}" if count == 1 else f"{number} pairs of {noun}"
    return with_article(noun) if count == 1 else f"{number} {plural(noun)}"


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


def _join(parts: list[str]) -> str:
    if len(parts) <= 1:
        return "".join(parts)
    return ", ".join(parts[:-1]) + " and " + parts[-1]


class TemplateCaptioner(Captioner):
    """Captions from a few templates filled with counts, left/right, between, next to and behind relations."""

    name = "template"
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
        names_only = _join([u.phrase for u in units])
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
            richest += ", " + _join(behind)
            plain_back = f", {_join([u.phrase for u in back])} in the background"
        return [richest, _join([u.phrase for u in front]) + plain_back, names_only]

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
        return f"{_join([u.phrase for u in front])} side by side"
