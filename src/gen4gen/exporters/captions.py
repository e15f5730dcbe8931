"""Training captions (the Gen4Gen paper's §3.4): modifier tokens per concept, a global composition token, repeated
concept tokens, the background always named, short or detailed.

```
tokens: auto                 <new1>, <new2>, ... one per concept, in concept-id order
tokens: {dog1: "<sks> dog"}  chosen tokens ("<sks>" alone works too); other concepts keep their plain class word
tokens: none                 no tokens
global_token: "<g*>"         prepended to every caption
repeat_concepts: 1           ", <new1> cat, <new2> dog" appended once per repeat
caption: detailed | short    the grounded caption with the tokens placed before the class words it names, or
                             "<new1> cat and <new2> dog in the garden"
```

In a detailed caption each token goes right before the word that names its concept ("a <new1> cat"). A plural
naming several concepts of one class becomes a list: "two dogs" -> "<new2> dog and <new3> dog". A concept the
caption does not name is added at its end ("..., with <new1> cat"), and the scene ("in the garden") is added when
the caption does not name it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from gen4gen.errors import ConfigError
from gen4gen.sample import Sample
from gen4gen.text import _mention_pattern, count_phrase, join, mentions, singular, with_article

CAPTION_STYLES = ("detailed", "short")
_COUNT_WORD = re.compile(r"(?i)(?:^|(?<=\s))(?:two|three|four|five|six|seven|eight|nine|ten|\d+)\s+$")
_SCENE_LEAD = {"in", "on", "at", "by", "inside", "near", "under", "beside", "a", "an", "the", "of"}


@dataclass(frozen=True)
class ConceptToken:
    """One concept of the run and the token that stands for it in training captions."""

    concept_id: str
    name: str  # class word(s), "dog", "house plant"
    token: str  # "<new2>", "<sks>", or "" for none

    @property
    def phrase(self) -> str:
        """The token before the class word: "<new2> dog" (the class word alone without a token)."""
        return f"{self.token} {self.name}" if self.token else self.name


@dataclass(frozen=True)
class _Edit:
    start: int
    end: int
    text: str


class TrainingCaptions:
    """Makes the training caption of a sample from the export settings and the run's concepts."""

    def __init__(
        self,
        concepts: Mapping[str, str],
        tokens: str | Mapping[str, str] = "auto",
        global_token: str = "",
        repeat_concepts: int = 0,
        style: str = "detailed",
    ) -> None:
        if style not in CAPTION_STYLES:
            raise ConfigError(
                f"config: export.caption: expected one of {', '.join(CAPTION_STYLES)} (got {style!r})"
            )
        self.style = style
        self.global_token = " ".join(global_token.split())
        self.repeat_concepts = repeat_concepts
        self.tokens_setting: str | dict[str, str] = tokens if isinstance(tokens, str) else dict(tokens)
        ids = sorted(concepts)
        self.concepts: dict[str, ConceptToken] = {}
        if isinstance(tokens, str):
            if tokens not in ("auto", "none"):
                raise ConfigError(
                    "config: export.tokens: expected auto, none or a mapping of concept id to token "
                    f"(got {tokens!r})"
                )
            for index, concept_id in enumerate(ids, start=1):
                token = f"<new{index}>" if tokens == "auto" else ""
                self.concepts[concept_id] = ConceptToken(concept_id, concepts[concept_id], token)
        else:
            unknown = sorted(set(tokens) - set(ids))
            if unknown:
                raise ConfigError(
                    f"config: export.tokens names unknown concept(s) {', '.join(unknown)}; "
                    f"the concepts of this run are {', '.join(ids)}"
                )
            for concept_id in ids:
                value = tokens.get(concept_id)
                name = concepts[concept_id]
                token, name = _split_token(concept_id, name, value) if value is not None else ("", name)
                self.concepts[concept_id] = ConceptToken(concept_id, name, token)
        used = [c.token for c in self.concepts.values() if c.token]
        clashes = sorted({t for t in used if used.count(t) > 1})
        if clashes:
            raise ConfigError(
                f"config: export.tokens gives {', '.join(clashes)} to several concepts; use one each"
            )

    @classmethod
    def from_settings(cls, settings: Any, samples: Iterable[Sample]) -> TrainingCaptions:
        """From an ``ExportConfig``-like object and the samples to export (their concepts)."""
        return cls(
            concepts_of(samples),
            tokens=settings.tokens,
            global_token=settings.global_token,
            repeat_concepts=settings.repeat_concepts,
            style=settings.caption,
        )

    # -------------------------------------------------------------------------------------------- queries
    @property
    def modifier_tokens(self) -> list[str]:
        """The tokens in concept order (what a trainer adds to its tokenizer), the global token last."""
        tokens = [c.token for c in self.concepts.values() if c.token]
        return [*tokens, self.global_token] if self.global_token else tokens

    def concept(self, concept_id: str) -> ConceptToken:
        return self.concepts[concept_id]

    def sample_concepts(self, sample: Sample) -> list[ConceptToken]:
        """The sample's concepts, each once, in concept order."""
        present = {o.concept_id for o in sample.objects}
        return [c for cid, c in self.concepts.items() if cid in present]

    def record(self) -> dict[str, Any]:
        """What was used, for an export's ``export.yaml``."""
        return {
            "style": self.style,
            "tokens": self.tokens_setting,
            "global_token": self.global_token,
            "repeat_concepts": self.repeat_concepts,
            "concepts": {
                c.concept_id: {"name": c.name, "token": c.token, "phrase": c.phrase}
                for c in self.concepts.values()
            },
        }

    # -------------------------------------------------------------------------------------------- captions
    def caption(self, sample: Sample) -> str:
        """The training caption of ``sample``."""
        text = self.short(sample) if self.style == "short" else self.detailed(sample)
        if self.repeat_concepts:
            phrases = ", ".join(c.phrase for c in self.sample_concepts(sample))
            text = text.rstrip(" .") + f", {phrases}" * self.repeat_concepts
        return f"{self.global_token} {text}" if self.global_token else text

    def short(self, sample: Sample) -> str:
        """ "<new1> cat and <new2> dog in the garden" (with no tokens: "a cat and two dogs in the garden")."""
        concepts = self.sample_concepts(sample)
        if any(c.token for c in concepts):
            parts = [c.phrase if c.token else with_article(c.name) for c in concepts]
        else:
            counts: dict[str, int] = {}
            for c in concepts:
                counts[c.name] = counts.get(c.name, 0) + 1
            parts = [count_phrase(name, count) for name, count in counts.items()]
        scene = " ".join(sample.scene.split())
        return f"{join(parts)} {scene}".strip()

    def detailed(self, sample: Sample) -> str:
        """The sample's caption with every token placed before the class word naming its concept."""
        text = " ".join(sample.caption.split())
        text, missing = place_tokens(text, self.sample_concepts(sample))
        end = "." if text.endswith(".") else ""
        body = text.rstrip(" .")
        if missing:
            body = f"{body}, with {join(missing)}" if body else join(missing)
        scene = " ".join(sample.scene.split())
        if scene and not names_scene(body, scene):
            body = f"{body} {scene}"
        return body + end


def concepts_of(samples: Iterable[Sample]) -> dict[str, str]:
    """concept id -> class word of every concept in ``samples`` (the first sample's name wins)."""
    found: dict[str, str] = {}
    for sample in samples:
        for obj in sample.objects:
            found.setdefault(obj.concept_id, obj.name)
    return found


def place_tokens(text: str, concepts: list[ConceptToken]) -> tuple[str, list[str]]:
    """``text`` with the tokens of ``concepts`` placed before the words naming them; and the phrases of the
    concepts with a token that ``text`` does not name (to be added by the caller)."""
    groups: dict[str, list[ConceptToken]] = {}
    for concept in concepts:
        groups.setdefault(" ".join(concept.name.lower().split()), []).append(concept)
    edits: list[_Edit] = []
    taken: list[tuple[int, int]] = []
    missing: list[str] = []
    for name in sorted(groups, key=lambda n: (-len(n), n)):  # "teddy bear" before "bear"
        members = groups[name]
        spans = [
            (m.start(), m.end())
            for m in _mention_pattern(name).finditer(text)
            if not any(m.start() < e and s < m.end() for s, e in taken)
        ]
        taken.extend(spans)
        if not any(m.token for m in members):  # nothing to place: the caption's own words stay
            continue
        placed: set[str] = set()
        for start, end in spans:
            words = text[start:end]
            if len(members) == 1:
                only = members[0]
                if only.token:
                    edits.append(_Edit(start, end, f"{only.token} {words}"))
                placed.add(only.concept_id)
                continue
            last = words.rsplit(maxsplit=1)[-1]
            if singular(last).lower() != last.lower():  # "two dogs", "the dogs": all of them, listed
                count = _COUNT_WORD.search(text, 0, start)
                head = words[: len(words) - len(last)] + singular(last)
                listed = join([f"{m.token} {head}" if m.token else with_article(head) for m in members])
                edits.append(_Edit(count.start() if count else start, end, listed))
                placed.update(m.concept_id for m in members)
                continue
            following = next((m for m in members if m.concept_id not in placed), None)
            if following is None:  # "the dog" once each was named: which one is not known
                continue
            if following.token:
                edits.append(_Edit(start, end, f"{following.token} {words}"))
            placed.add(following.concept_id)
        missing += [m.phrase for m in members if m.concept_id not in placed and m.token]
    for edit in sorted(edits, key=lambda e: e.start, reverse=True):
        text = text[: edit.start] + edit.text + text[edit.end :]
    return text, missing


def names_scene(text: str, scene: str) -> bool:
    """Whether ``text`` already names the background ``scene`` ("in a living room" -> "living room")."""
    words = scene.split()
    while words and words[0].lower() in _SCENE_LEAD:
        words = words[1:]
    core = " ".join(words)
    return mentions(text, core) if core else True


def _split_token(concept_id: str, name: str, value: str) -> tuple[str, str]:
    """(token, class word) of a chosen token: "<sks> dog" and "<sks>" both give ("<sks>", "dog")."""
    words = value.split()
    if not words:
        raise ConfigError(f"config: export.tokens.{concept_id}: empty token; give one, e.g. '<sks> {name}'")
    for size in range(1, len(words)):  # the longest tail that names the concept is its class word
        tail = " ".join(words[size:])
        if mentions(tail, name) or mentions(name, tail):
            return " ".join(words[:size]), tail
    if mentions(value, name):
        raise ConfigError(f"config: export.tokens.{concept_id}: {value!r} has no token before the class word")
    return " ".join(words), name
