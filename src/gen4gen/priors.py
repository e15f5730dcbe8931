"""Real-world size priors: how tall (or long) a concept typically is, from a built-in table.

The table ships as ``gen4gen/data/size_priors.csv`` (columns ``name, height_m, measure, synonyms, source``):
``measure`` is ``height`` for things photographed upright (the box height is their height) and ``length`` for
things whose orientation in a photo varies (a knife, a shoe, sunglasses): their longest side is that length.
Names are matched after normalisation (lower case, ``_``/``-`` as spaces, trailing digits dropped, singular),
then by their trailing words ("red teddy bear" -> "teddy bear"), then by a toy word anywhere in the name
("bear toy" -> "toy", so a toy bear is not sized like a bear). Anything else gets :data:`DEFAULT_HEIGHT_M`
with ``known=False`` so callers can say so.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

DEFAULT_HEIGHT_M = 0.4
"""Assumed size of a concept missing from the table: a mid-sized tabletop object or a small pet."""

_TOY_WORDS = ("plushie", "plushy", "plush", "toy", "figurine", "doll", "stuffed")
_IRREGULAR = {
    "people": "person",
    "men": "man",
    "women": "woman",
    "children": "child",
    "mice": "mouse",
    "geese": "goose",
    "knives": "knife",
    "leaves": "leaf",
    "wolves": "wolf",
    "shelves": "shelf",
    "teeth": "tooth",
    "feet": "foot",
    "cacti": "cactus",
}
_NO_S_STRIP = ("ss", "us", "is")


@dataclass(frozen=True)
class SizePrior:
    """A concept's typical real-world size.

    ``height_m`` is the typical height in metres, or the longest extent when ``measure == "length"``;
    ``known`` is False when the name matched nothing in the table and the default was assumed.
    """

    canonical: str
    height_m: float
    known: bool
    measure: str = "height"

    def height_for_aspect(self, aspect: float) -> float:
        """Real-world height (m) of a cut-out of aspect ``aspect`` (w / h) showing this concept."""
        if self.measure == "length":
            return self.height_m / max(1.0, aspect)
        return self.height_m


@dataclass(frozen=True)
class _Entry:
    name: str
    height_m: float
    measure: str


@lru_cache(maxsize=1)
def _table() -> dict[str, _Entry]:
    """Every name and synonym of the built-in table -> its entry."""
    text = resources.files("gen4gen").joinpath("data/size_priors.csv").read_text(encoding="utf-8")
    table: dict[str, _Entry] = {}
    for row in csv.DictReader(text.splitlines()):
        entry = _Entry(row["name"], float(row["height_m"]), row["measure"])
        for alias in [row["name"], *row["synonyms"].split(";")]:
            alias = alias.strip().lower()
            if alias:
                table.setdefault(alias, entry)
    return table


def _normalise(name: str) -> str:
    """Lower case, separators as single spaces, trailing digits (``dog2``, ``cat_1``) and possessives dropped."""
    text = re.sub(r"[_\-./]+", " ", name.strip().lower())
    text = re.sub(r"(?<=[a-z])\d+\b|\b\d+\b", " ", text)
    words = [w for w in re.sub(r"[^a-z' ]+", " ", text).split() if w not in ("my", "our", "the", "a", "an")]
    return " ".join(w.removesuffix("'s") for w in words)


def _singular_forms(word: str) -> list[str]:
    """Candidate singulars of an English noun, most likely first."""
    if word in _IRREGULAR:
        return [_IRREGULAR[word]]
    forms = []
    if word.endswith("ies") and len(word) > 4:
        forms.append(word[:-3] + "y")
    if word.endswith("es"):
        forms.append(word[:-2])
    if word.endswith("s") and not word.endswith(_NO_S_STRIP):
        forms.append(word[:-1])
    return forms


def _guess_singular(word: str) -> str:
    """The usual English singular of a word the table doesn't know ("boxes" -> "box", "gizmos" -> "gizmo")."""
    if word in _IRREGULAR:
        return _IRREGULAR[word]
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith(("ches", "shes", "xes", "zes", "sses")):
        return word[:-2]
    if word.endswith("s") and not word.endswith(_NO_S_STRIP):
        return word[:-1]
    return word


def _variants(words: list[str]) -> list[str]:
    """The phrase as given, then with its last word made singular."""
    phrase = " ".join(words)
    return [phrase] + [" ".join([*words[:-1], s]) for s in _singular_forms(words[-1])]


def _lookup(name: str) -> tuple[str, _Entry | None]:
    """(normalised name, matching table entry or None)."""
    table = _table()
    words = _normalise(name).split()
    if not words:
        return "", None
    for start in range(len(words)):  # whole name first, then ever shorter trailing phrases
        for candidate in _variants(words[start:]):
            if candidate in table and (start == 0 or not _has_toy_word(words[:start])):
                return candidate if start == 0 else " ".join(words), table[candidate]
    for word in words:
        for candidate in _variants([word]):
            if candidate in _TOY_WORDS and candidate in table:
                return " ".join(words), table[candidate]
    return " ".join([*words[:-1], _guess_singular(words[-1])]), None


def _has_toy_word(words: list[str]) -> bool:
    return any(v in _TOY_WORDS for w in words for v in _variants([w]))


def canonical_name(name: str) -> str:
    """The table name a concept name maps to ("Puppy" -> "dog", "house_plant" -> "potted plant", "cats" -> "cat").

    Names the table doesn't know are returned normalised (lower case, singular, single spaces).
    """
    normalised, entry = _lookup(name)
    return entry.name if entry is not None else normalised


def size_prior(name: str) -> SizePrior:
    """Typical real-world size of ``name``; unknown names get :data:`DEFAULT_HEIGHT_M` and ``known=False``."""
    normalised, entry = _lookup(name)
    if entry is None:
        return SizePrior(canonical=normalised or "object", height_m=DEFAULT_HEIGHT_M, known=False)
    return SizePrior(canonical=entry.name, height_m=entry.height_m, known=True, measure=entry.measure)
