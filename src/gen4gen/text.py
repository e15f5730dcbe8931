"""English words for captions: plurals, articles, counts, word limits, and checking that a caption names a concept.

Concept names may contain placeholder tokens (``<new1> dog``); tokens are never inflected and are matched verbatim.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Sequence
from functools import lru_cache

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
    "fungus": "fungi",
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
    "octopus": "octopuses",
    "bus": "buses",
    "die": "dice",
}
_SINGULAR = {p: s for s, p in _IRREGULAR.items()}
_UNCHANGED = {"sheep", "fish", "deer", "moose", "bison", "series", "species", "aircraft", "salmon", "shrimp"}
_PAIRS = {"sunglasses", "glasses", "scissors", "jeans", "pants", "trousers", "shorts", "headphones", "binoculars"}
_A_BEFORE_VOWEL = ("uni", "use", "usu", "uti", "ute", "ure", "uro", "eu", "one", "once", "ukulele", "ewe")
_AN_BEFORE_H = ("hour", "honest", "honor", "honour", "heir")

_HYPONYMS = {
    "cat": ("kitten", "kitty"),
    "dog": ("puppy", "pup"),
    "teddy bear": ("teddy",),
}
"""Words that also name a concept: a caption saying "a kitten" names the concept "cat" (one way only)."""
_SYNONYM_GROUPS = (
    ("plant", "houseplant", "house plant", "potted plant"),
    ("motorcycle", "motorbike"),
    ("bicycle", "bike"),
    ("mug", "cup"),
)
"""Names that stand for each other, every way round."""


def _build_aliases() -> dict[str, frozenset[str]]:
    aliases = {name: set(words) for name, words in _HYPONYMS.items()}
    for group in _SYNONYM_GROUPS:
        for name in group:
            aliases.setdefault(name, set()).update(w for w in group if w != name)
    return {name: frozenset(words) for name, words in aliases.items()}


_ALIASES = _build_aliases()


def _inflectable(word: str) -> bool:
    return word[-1:].isalpha()


def _keep_case(source: str, word: str) -> str:
    return word[:1].upper() + word[1:] if source[:1].isupper() else word


def _plural_word(word: str) -> str:
    low = word.lower()
    if low in _IRREGULAR:
        return _keep_case(word, _IRREGULAR[low])
    if low in _UNCHANGED or low in _PAIRS or low in _SINGULAR or not _inflectable(low):
        return word
    if low.endswith(("s", "x", "z", "ch", "sh")):
        return word + "es"
    if low.endswith("y") and low[-2:-1] not in tuple("aeiou"):
        return word[:-1] + "ies"
    return word + "s"


def _singular_word(word: str) -> str:
    low = word.lower()
    if low in _SINGULAR:
        return _keep_case(word, _SINGULAR[low])
    if low in _UNCHANGED or low in _PAIRS or low in _IRREGULAR or not _inflectable(low):
        return word
    if low.endswith("ies") and len(low) > 4:
        return word[:-3] + "y"
    if low.endswith(("ches", "shes", "xes", "zes", "sses")):
        return word[:-2]
    if low.endswith("s") and not low.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def _last_word(noun: str, inflect: Callable[[str], str]) -> str:
    head, _, last = " ".join(noun.split()).rpartition(" ")
    return f"{head} {inflect(last)}" if head else inflect(last)


def plural(noun: str) -> str:
    """Plural of a noun; a multi-word name inflects its last word ("teddy bears", "mice", "<new1> dogs")."""
    return _last_word(noun, _plural_word)


def singular(noun: str) -> str:
    """Singular of a noun; a multi-word name inflects its last word ("teddy bear", "mouse", "<new1> dog")."""
    return _last_word(noun, _singular_word)


def article(noun: str) -> str:
    """The indefinite article for ``noun``: "an" before a vowel sound ("an owl", "an hour"), else "a"."""
    word = noun.strip().lower()
    vowel_sound = (word[:1] in "aeiou" and not word.startswith(_A_BEFORE_VOWEL)) or word.startswith(_AN_BEFORE_H)
    return "an" if vowel_sound else "a"


def with_article(noun: str) -> str:
    """``noun`` with its indefinite article: "an owl", "a unicorn", "a <new1> dog"."""
    return f"{article(noun)} {noun.strip()}"


def count_phrase(noun: str, count: int) -> str:
    """``count`` of ``noun`` in words: "a cat", "two dogs", "three mice", "a pair of sunglasses", "11 mugs"."""
    noun = " ".join(noun.split())
    number = _NUMBERS[count] if 0 <= count < len(_NUMBERS) else str(count)
    if noun.rpartition(" ")[2].lower() in _PAIRS:
        return f"a pair of {noun}" if count == 1 else f"{number} pairs of {noun}"
    return with_article(noun) if count == 1 else f"{number} {plural(noun)}"


def join(parts: Sequence[str]) -> str:
    """ "a", "a and b", "a, b and c"."""
    if len(parts) <= 1:
        return "".join(parts)
    return ", ".join(parts[:-1]) + " and " + parts[-1]


def limit_words(text: str, max_words: int) -> str:
    """Whitespace-normalised ``text`` of at most ``max_words`` words (no limit when ``max_words <= 0``).

    A longer text is cut at its last sentence end when that keeps at least half of it, else after the last
    allowed word, with a full stop.
    """
    words = text.split()
    if max_words <= 0 or len(words) <= max_words:
        return " ".join(words)
    cut = " ".join(words[:max_words])
    ends = [m.end() for m in re.finditer(r"[.!?](?=\s|$)", cut)]
    if ends and ends[-1] >= len(cut) // 2:
        return cut[: ends[-1]]
    return cut.rstrip(",;:") + "."


def truncate_words(text: str, max_words: int) -> str:
    """Whitespace-normalised ``text`` cut after ``max_words`` words (none when ``max_words <= 0``)."""
    words = text.split()
    if len(words) <= max_words:
        return " ".join(words)
    return " ".join(words[: max(max_words, 0)]).rstrip(",;:")


def _word_forms(word: str) -> set[str]:
    if not _inflectable(word):
        return {word}
    one = _singular_word(word)
    return {word, word + "s", word + "es", _plural_word(word), one, _plural_word(one)}


def _phrase_pattern(words: list[str]) -> str:
    *head, last = words
    forms = sorted(_word_forms(last), key=len, reverse=True)
    return r"[\s-]+".join([*map(re.escape, head), "(?:" + "|".join(map(re.escape, forms)) + ")"])


@lru_cache(maxsize=1024)
def _mention_pattern(name: str) -> re.Pattern[str]:
    words = name.lower().split()
    phrases = [words]
    for start in range(len(words)):  # the longest trailing phrase with aliases: "<new1> cat" -> "<new1> kitten"
        tail = " ".join(_singular_word(w) for w in words[start:])
        if tail in _ALIASES:
            phrases += [words[:start] + alias.split() for alias in sorted(_ALIASES[tail])]
            break
    alternatives = "|".join(_bounded(p) for p in phrases)
    return re.compile(rf"(?:{alternatives})", re.IGNORECASE)


def _bounded(words: list[str]) -> str:
    """A phrase's pattern with a word boundary at each end that is a word character: "cat" does not match in
    "scatter", but a name that starts or ends with another character ("🐶", "c++") is its own boundary, so
    "a🐶" and "two c++s" name it."""
    left = r"(?<!\w)" if re.match(r"\w", words[0]) else ""
    right = r"(?!\w)" if re.search(r"\w$", words[-1]) else ""
    return f"{left}{_phrase_pattern(words)}{right}"


def mentions(text: str, name: str) -> bool:
    """Whether ``text`` names the concept ``name``.

    Whole words, case-insensitive; the last word may be singular or plural (irregulars included), or a listed
    synonym ("kitten" names "cat", "motorbike" names "motorcycle"); placeholder tokens must appear verbatim.
    """
    if not name.split():
        return True
    return _mention_pattern(" ".join(name.split())).search(text) is not None


def ground_caption(text: str, names: list[str], max_words: int) -> tuple[str, list[str]]:
    """Make sure every concept is named: missing ones are added as a phrase ("..., with two mice").

    The word limit is kept by shortening the caption, never by dropping a concept: when the names alone exceed
    ``max_words`` the phrase is returned on its own. Returns the caption and the names it did not mention.
    """
    text = " ".join(text.split())
    unique = list(dict.fromkeys(names))
    counts = Counter(names)
    missing = [name for name in unique if not mentions(text, name)]
    absent = set(missing)
    while True:
        if not absent:
            grounded = truncate_words(text, max_words)
        else:
            phrase = join([count_phrase(name, counts[name]) for name in unique if name in absent])
            addition = f"with {phrase}"
            base = truncate_words(text.rstrip(" ."), max_words - len(addition.split())).rstrip(" .,")
            grounded = f"{base}, {addition}" if base else phrase[:1].upper() + phrase[1:]
        cut = {name for name in unique if name not in absent and not mentions(grounded, name)}
        if not cut:
            return grounded, missing
        absent |= cut
