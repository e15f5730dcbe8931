"""Tolerant parsing of model answers: the shapes models produce, and no input that crashes the parser."""

from __future__ import annotations

import contextlib
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gen4gen.llm.parse import ParseError, RawBox, extract_structured, parse_layout, parse_scenes, parse_sizes

CAT_DOG = [RawBox("cat", 10, 20, 100, 120), RawBox("dog", 200, 30, 150, 160)]
JSON_ANSWER = json.dumps(
    {"objects": [{"name": "cat", "box": [10, 20, 100, 120]}, {"name": "dog", "box": [200, 30, 150, 160]}]}
)


@pytest.mark.parametrize(
    "text",
    [
        JSON_ANSWER,
        f"```json\n{JSON_ANSWER}\n```",
        f"```\n{JSON_ANSWER}```",
        f"Sure! Here is the layout (as requested) [1]:\n{JSON_ANSWER}\nLet me know if it works.",
        "Objects: [('cat', [10, 20, 100, 120]), ('dog', [200, 30, 150, 160])]\nBackground prompt: a garden",
        '[["cat", 10, 20, 100, 120], ["dog", 200, 30, 150, 160]]',
        '{"cat": [10, 20, 100, 120], "dog": [200, 30, 150, 160]}',
        '{"layout": [{"label": "cat", "bbox": {"x": 10, "y": 20, "width": 100, "height": 120}},'
        ' {"label": "dog", "bbox": {"x0": 200, "y0": 30, "x1": 350, "y1": 190}}]}',
        '{"objects": [{"name": "cat", "box": ["10", "20", "100px", "120"]},'
        ' {"name": "dog", "box": [200,30,150,160]}]}',
    ],
)
def test_layout_shapes(text: str) -> None:
    assert parse_layout(text) == CAT_DOG


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "empty"),
        ("   \n ", "empty"),
        ("I cannot help with that.", "no named boxes"),
        ('{"objects": [{"name": "cat", "box": [1, 2, 3]}]}', "no named boxes"),
        ('{"objects": [{"name": "cat", "box": [NaN, 2, 3, 4]}]}', "no named boxes"),
        ("[('cat', [1, 2, 3, 4]", "no named boxes"),  # truncated
        ("__import__('os').system('true')", "no named boxes"),
    ],
)
def test_layout_failures_raise_parse_error(text: str, reason: str) -> None:
    with pytest.raises(ParseError, match=reason):
        parse_layout(text)


def test_literal_eval_is_never_eval() -> None:
    with pytest.raises(ParseError):
        parse_layout("[(__import__('os').getcwd(), [1, 2, 3, 4])]")


def test_sizes_and_scenes() -> None:
    assert parse_sizes('```json\n{"sizes": {"dog": 1.0, "mug": 0.17}}\n```') == {"dog": 1.0, "mug": 0.17}
    assert parse_sizes('[{"name": "dog", "size": 1}, ["mug", "0.2"], ["bad", -1]]') == {"dog": 1.0, "mug": 0.2}
    with pytest.raises(ParseError):
        parse_sizes('{"sizes": {"dog": -1}}')
    assert parse_scenes('{"scenes": ["in the garden", "On the grass.", "in the garden", "in a living room"]}') == [
        "in the garden",
        "On the grass",
        "in a living room",
    ]
    assert parse_scenes("Here you go:\n1. in the garden\n2) on a beach\n- in a kitchen\n") == [
        "in the garden",
        "on a beach",
        "in a kitchen",
    ]
    with pytest.raises(ParseError):
        parse_scenes("")


# ------------------------------------------------------------------------------------------------ properties
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=8), inner, max_size=5),
    max_leaves=30,
)
brackety = st.text(alphabet="[](){}'\"\\,:.-0123456789eE abcxyz`\n", max_size=200)
PARSERS = (parse_layout, parse_sizes, parse_scenes, extract_structured)


def _only_parse_errors(text: object) -> None:
    for parser in PARSERS:
        with contextlib.suppress(ParseError):
            parser(text)


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=300) | brackety)
def test_no_text_crashes_the_parsers(text: str) -> None:
    _only_parse_errors(text)


@settings(max_examples=150, deadline=None)
@given(json_values, st.sampled_from(["{}", "```json\n{}\n```", "Answer: {} thanks", "{}]]"]))
def test_no_structure_crashes_the_parsers(value: object, frame: str) -> None:
    _only_parse_errors(frame.replace("{}", json.dumps(value)))
    _only_parse_errors(frame.replace("{}", repr(value)))


@settings(max_examples=20, deadline=None)
@given(st.integers(min_value=1, max_value=1500))
def test_deep_nesting_is_a_parse_error(depth: int) -> None:
    _only_parse_errors("[" * depth + "]" * depth)
    _only_parse_errors("(" * depth)


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.text(alphabet="abcdefghij ", min_size=1, max_size=10).filter(lambda s: s.strip()),
            st.lists(st.integers(min_value=0, max_value=2000), min_size=4, max_size=4),
        ),
        min_size=1,
        max_size=6,
    ),
    st.sampled_from(["json", "fenced", "prose", "tuples"]),
)
def test_boxes_survive_every_wrapping(objects: list[tuple[str, list[int]]], style: str) -> None:
    payload = json.dumps({"objects": [{"name": n, "box": b} for n, b in objects]})
    text = {
        "json": payload,
        "fenced": f"```json\n{payload}\n```",
        "prose": f"Here is my plan.\n{payload}\nDone.",
        "tuples": "Objects: " + repr([(n, b) for n, b in objects]),
    }[style]
    assert parse_layout(text) == [RawBox(n.strip(), *map(float, b)) for n, b in objects]
