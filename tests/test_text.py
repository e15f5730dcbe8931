"""English words for captions: inflection, articles, counts, word limits, concept mentions and grounding."""

from __future__ import annotations

import subprocess
import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gen4gen.text import (
    _IRREGULAR,
    _PAIRS,
    _SINGULAR,
    _UNCHANGED,
    count_phrase,
    ground_caption,
    join,
    limit_words,
    mentions,
    plural,
    singular,
    truncate_words,
    with_article,
)

IRREGULAR = [
    ("mouse", "mice"),
    ("wolf", "wolves"),
    ("knife", "knives"),
    ("leaf", "leaves"),
    ("person", "people"),
    ("child", "children"),
    ("man", "men"),
    ("woman", "women"),
    ("foot", "feet"),
    ("tooth", "teeth"),
    ("goose", "geese"),
    ("sheep", "sheep"),
    ("fish", "fish"),
    ("deer", "deer"),
    ("cactus", "cacti"),
    ("fungus", "fungi"),
    ("bus", "buses"),
    ("tomato", "tomatoes"),
    ("potato", "potatoes"),
]
REGULAR = [
    ("dog", "dogs"),
    ("box", "boxes"),
    ("glass", "glasses"),
    ("church", "churches"),
    ("puppy", "puppies"),
    ("toy", "toys"),
    ("shoe", "shoes"),
    ("teddy bear", "teddy bears"),
    ("<new1> dog", "<new1> dogs"),
    ("<new1>", "<new1>"),
    ("Mouse", "Mice"),
]


@pytest.mark.parametrize(("one", "many"), IRREGULAR + REGULAR)
def test_plural_and_singular(one: str, many: str) -> None:
    assert plural(one) == many
    assert singular(many) == (one if one != "glass" else "glasses")  # "glasses" are a pair


@pytest.mark.parametrize(
    ("noun", "expected"),
    [
        ("astronaut", "an astronaut"),
        ("owl", "an owl"),
        ("cat", "a cat"),
        ("unicorn", "a unicorn"),
        ("umbrella", "an umbrella"),
        ("hour glass", "an hour glass"),
        ("teddy bear", "a teddy bear"),
        ("<new1> owl", "a <new1> owl"),
    ],
)
def test_articles(noun: str, expected: str) -> None:
    assert with_article(noun) == expected


@pytest.mark.parametrize(
    ("noun", "count", "expected"),
    [
        ("cat", 1, "a cat"),
        ("owl", 1, "an owl"),
        ("dog", 2, "two dogs"),
        ("mouse", 3, "three mice"),
        ("dog", 10, "ten dogs"),
        ("dog", 11, "11 dogs"),
        ("<new1> cat", 2, "two <new1> cats"),
        ("sunglasses", 1, "a pair of sunglasses"),
        ("sunglasses", 2, "two pairs of sunglasses"),
    ],
)
def test_count_phrase(noun: str, count: int, expected: str) -> None:
    assert count_phrase(noun, count) == expected


def test_join() -> None:
    assert join([]) == ""
    assert join(["a cat"]) == "a cat"
    assert join(["a cat", "a dog"]) == "a cat and a dog"
    assert join(["a cat", "a dog", "two mice"]) == "a cat, a dog and two mice"


def test_limit_words_cuts_at_a_close_sentence_end() -> None:
    assert limit_words("  a dog   on grass ", 30) == "a dog on grass"
    assert limit_words("A dog sits on the grass. It is sunny and warm today", 8) == "A dog sits on the grass."
    assert limit_words("word " * 40, 30) == " ".join(["word"] * 30) + "."
    assert limit_words("word " * 40, 0) == " ".join(["word"] * 40)


def test_truncate_words() -> None:
    assert truncate_words("a dog,  on grass", 2) == "a dog"
    assert truncate_words("a dog on grass", 10) == "a dog on grass"
    assert truncate_words("a dog", 0) == ""


@pytest.mark.parametrize(
    ("text", "name", "expected"),
    [
        ("A Dog on grass", "dog", True),
        ("two dogs", "dog", True),
        ("a hotdog stand", "dog", False),
        ("three mice and a cat", "mouse", True),
        ("two wolves", "wolf", True),
        ("two mice", "mice", True),
        ("a mouse", "mice", True),
        ("two teddy bears", "teddy bear", True),
        ("a teddy-bear", "teddy bear", True),
        ("a bear", "teddy bear", False),
        ("a photo of a <new2> dog", "<new2> dog", True),
        ("a photo of a dog", "<new2> dog", False),
        ("a photo of a <new1> dog", "<new2> dog", False),
        ("two <new1> cats", "<new1> cat", True),
        ("a kitten on a sofa", "cat", True),
        ("a kitty", "cat", True),
        ("two puppies", "dog", True),
        ("a pup", "dog", True),
        ("a <new1> kitten", "<new1> cat", True),
        ("a teddy", "teddy bear", True),
        ("a cat", "kitten", False),
        ("a houseplant", "plant", True),
        ("a house plant", "houseplant", True),
        ("a plant", "house plant", True),
        ("a motorbike", "motorcycle", True),
        ("a bike", "bicycle", True),
        ("a cup", "mug", True),
        ("a coffee cup", "coffee mug", True),
    ],
)
def test_mentions(text: str, name: str, expected: bool) -> None:
    assert mentions(text, name) is expected


def test_ground_caption_keeps_a_caption_that_names_everything() -> None:
    assert ground_caption("A kitten on a sofa.", ["cat"], 30) == ("A kitten on a sofa.", [])
    assert ground_caption("Two mice  on a table", ["mouse", "mouse"], 30) == ("Two mice on a table", [])


def test_ground_caption_appends_missing_concepts_counted() -> None:
    text, missing = ground_caption("A cat on a sofa.", ["cat", "mouse", "mouse", "<new1> dog"], 30)
    assert text == "A cat on a sofa, with two mice and a <new1> dog"
    assert missing == ["mouse", "<new1> dog"]


def test_ground_caption_keeps_the_word_limit_without_dropping_a_concept() -> None:
    caption = "A small grey cat sits on a soft red sofa next to a tall window in the warm light of a dog"
    text, missing = ground_caption(caption, ["dog", "owl"], 12)
    assert missing == ["owl"]
    assert len(text.split()) <= 12
    assert mentions(text, "dog") and mentions(text, "owl")
    names = ["teddy bear", "astronaut", "sunglasses", "houseplant", "wooden chair"]
    text, missing = ground_caption("A room.", names, 5)
    assert missing == names and all(mentions(text, n) for n in names)


_WORDS = st.sampled_from(
    ["cat", "dog", "mouse", "wolf", "sunglasses", "<new1> dog", "<new2> cat", "teddy bear", "person", "owl"]
)


_CAPTION_WORDS = st.sampled_from(
    ["a", "two", "cat", "kitten", "mice", "dogs.", "<new1>", "dog,", "teddy", "bear", "wolves", "on", "sofa", "."]
)


@given(
    st.lists(_CAPTION_WORDS, max_size=30).map(" ".join),
    st.lists(_WORDS, min_size=1, max_size=6),
    st.integers(0, 40),
)
def test_ground_caption_always_names_every_concept(text: str, names: list[str], max_words: int) -> None:
    grounded, missing = ground_caption(text, names, max_words)
    assert all(mentions(grounded, name) for name in names)
    assert set(missing) <= set(names)
    if not missing and all(mentions(truncate_words(text, max_words), n) for n in names):
        assert len(grounded.split()) <= max_words


@given(st.sampled_from(sorted(_IRREGULAR)))
def test_irregular_round_trip(word: str) -> None:
    assert singular(plural(word)) == word
    assert plural(singular(_IRREGULAR[word])) == _IRREGULAR[word]


@given(st.from_regex(r"[a-z]{1,6}(?:[bdgklmnprt]|[bdgklmnprt]y|ch|sh|x)", fullmatch=True))
def test_regular_round_trip(word: str) -> None:
    if not {word} & (_IRREGULAR.keys() | _SINGULAR.keys() | _UNCHANGED | _PAIRS):
        assert singular(plural(word)) == word
        assert mentions(f"two {plural(word)}", word)


def test_imports_nothing_heavy() -> None:
    code = "import sys, gen4gen.text; print(sorted({'numpy', 'pydantic'} & set(sys.modules)))"
    assert (
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout == "[]\n"
    )
