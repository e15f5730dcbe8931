"""Tolerant parsing of structured model answers — never ``eval``.

Models wrap JSON in code fences, surround it with prose, or answer in the seed's Python tuple-list format
``[('cat', [x, y, w, h]), ...]``. :func:`extract_structured` finds the first JSON value or Python literal in the
text (``json.loads``, then ``ast.literal_eval`` on a bracket-balanced slice, which evaluates literals only); the
``parse_*`` functions then read layouts, sizes and scene phrases from the common shapes. Any input either parses
or raises :class:`ParseError` with a short reason that can be sent back to the model.
"""

from __future__ import annotations

import ast
import json
import math
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

from gen4gen.errors import ParseError

_T = TypeVar("_T")

MAX_ANSWER_CHARS = 200_000
_MAX_STARTS = 32  # bracket positions tried when the JSON is buried in prose
_FENCE = re.compile(r"```[ \t]*[A-Za-z0-9_+-]*[ \t]*\r?\n?(.*?)```", re.DOTALL)
_LITERAL_ERRORS = (ValueError, SyntaxError, TypeError, MemoryError, RecursionError, OverflowError)
_NAME_KEYS = ("name", "label", "object", "concept", "category", "class", "item", "obj")
_BOX_KEYS = ("box", "bbox", "bounding_box", "bounding box", "xywh", "rect", "coordinates", "position")
_LIST_KEYS = ("objects", "layout", "boxes", "bboxes", "items", "placements", "result", "answer", "data")


@dataclass(frozen=True)
class RawBox:
    """A box as the model gave it: name and (x, y, w, h), top-left corner plus size, in template pixels."""

    name: str
    x: float
    y: float
    w: float
    h: float


def extract_structured(text: object) -> Any:
    """The first dict or list found in ``text`` (whole text, code fences, then bracketed slices)."""
    for value in iter_structured(text):
        return value
    raise ParseError("no JSON object or list found in the answer")


def iter_structured(text: object) -> Iterator[Any]:
    """Every dict or list found in ``text``, most likely first; raises ParseError for non-text or empty text."""
    if not isinstance(text, str):
        raise ParseError("the answer is not text")
    text = text.strip()
    if not text:
        raise ParseError("the answer is empty")
    if len(text) > MAX_ANSWER_CHARS:
        raise ParseError(f"the answer is longer than {MAX_ANSWER_CHARS} characters")
    candidates = [text, *(m.group(1).strip() for m in _FENCE.finditer(text))]
    for candidate in candidates:
        value = _load(candidate)
        if value is not None:
            yield value
    for candidate in candidates:
        for piece in _bracketed(candidate):
            value = _load(piece)
            if value is not None:
                yield value


def _first(text: object, read: Callable[[Any], _T | None], what: str) -> _T:
    """The first structure in ``text`` that ``read`` accepts."""
    for data in iter_structured(text):
        found = read(data)
        if found:
            return found
    raise ParseError(f"no {what} found in the answer")


def _load(text: str) -> Any:
    """A dict/list from JSON or a Python literal, else None."""
    if not text or text[0] not in "[{(":
        return None
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        try:
            value = ast.literal_eval(text)
        except _LITERAL_ERRORS:
            return None
    return _plain(value) if isinstance(value, (dict, list, tuple)) else None


def _plain(value: Any, depth: int = 0) -> Any:
    """Tuples to lists, recursively (bounded depth: deeper structure is cut off, never crashes)."""
    if depth > 64:
        return None
    if isinstance(value, (list, tuple)):
        return [_plain(v, depth + 1) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v, depth + 1) for k, v in value.items()}
    return value


def _bracketed(text: str) -> list[str]:
    """Bracket-balanced slices starting at the first few opening brackets (strings respected)."""
    pieces: list[str] = []
    starts = [i for i, c in enumerate(text) if c in "[{("][:_MAX_STARTS]
    pairs = {"[": "]", "{": "}", "(": ")"}
    for start in starts:
        stack: list[str] = []
        quote = ""
        escaped = False
        for i in range(start, len(text)):
            c = text[i]
            if quote:
                if escaped:
                    escaped = False
                elif c == "\\":
                    escaped = True
                elif c == quote:
                    quote = ""
            elif c in "\"'":
                quote = c
            elif c in pairs:
                stack.append(pairs[c])
            elif c in ")]}":
                if not stack or stack.pop() != c:
                    break
                if not stack:
                    pieces.append(text[start : i + 1])
                    break
    return pieces


# ------------------------------------------------------------------------------------------------ layouts
def parse_layout(text: object) -> list[RawBox]:
    """Named boxes from an answer: ``{"objects": [{"name", "box": [x, y, w, h]}]}``, the seed's tuple list,
    ``{"cat": [x, y, w, h]}``, boxes as ``{"x", "y", "width", "height"}`` or ``{"x0", "y0", "x1", "y1"}``..."""
    return _first(text, lambda data: _layout_entries(data, depth=0), "named boxes [x, y, w, h]")


def _layout_entries(data: Any, depth: int) -> list[RawBox]:
    if depth > 4:
        return []
    if isinstance(data, dict):
        for key in _LIST_KEYS:
            if key in data and isinstance(data[key], (list, dict)):
                found = _layout_entries(data[key], depth + 1)
                if found:
                    return found
        single = _entry(data)
        if single is not None:
            return [single]
        mapped = [_entry([name, value]) for name, value in data.items()]
        return [b for b in mapped if b is not None]
    if isinstance(data, list):
        entries = [_entry(item) for item in data]
        found = [b for b in entries if b is not None]
        if found:
            return found
        if len(data) == 1:
            return _layout_entries(data[0], depth + 1)
    return []


def _entry(item: Any) -> RawBox | None:
    if isinstance(item, dict):
        name = next((item[k] for k in _NAME_KEYS if isinstance(item.get(k), str)), None)
        if name is None:
            return None
        box = next((_box(item[k]) for k in _BOX_KEYS if k in item), None) or _box(item)
        return RawBox(name.strip(), *box) if box and name.strip() else None
    if isinstance(item, list) and item and isinstance(item[0], str) and item[0].strip():
        rest = item[1] if len(item) == 2 else item[1:]
        box = _box(rest)
        return RawBox(item[0].strip(), *box) if box else None
    return None


def _box(value: Any) -> tuple[float, float, float, float] | None:
    """(x, y, w, h) from a 4-number list or a dict with x/y/w/h or corner keys."""
    if isinstance(value, list) and len(value) == 4:
        return _numbers4(value)
    if isinstance(value, dict):
        get = {str(k).lower(): v for k, v in value.items()}
        xywh = _numbers4(
            [
                get.get("x", get.get("left")),
                get.get("y", get.get("top")),
                get.get("w", get.get("width")),
                get.get("h", get.get("height")),
            ]
        )
        if xywh is not None:
            return xywh
        corners = _numbers4(
            [
                get.get("x0", get.get("x_min")),
                get.get("y0", get.get("y_min")),
                get.get("x1", get.get("x_max")),
                get.get("y1", get.get("y_max")),
            ]
        )
        if corners is not None:
            x0, y0, x1, y1 = corners
            return (x0, y0, x1 - x0, y1 - y0)
    return None


def _numbers4(values: list[Any]) -> tuple[float, float, float, float] | None:
    """Four numbers, or None when any of them is not a number."""
    numbers = [_number(v) for v in values]
    if any(n is None for n in numbers):
        return None
    a, b, c, d = (float(n) for n in numbers if n is not None)
    return (a, b, c, d)


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        try:
            value = float(value.strip().removesuffix("px"))
        except ValueError:
            return None
    if isinstance(value, (int, float)):
        try:
            number = float(value)
        except OverflowError:
            return None
        return number if math.isfinite(number) else None
    return None


# ------------------------------------------------------------------------------------------------ sizes
def parse_sizes(text: object) -> dict[str, float]:
    """Positive relative sizes by name: ``{"sizes": {"dog": 1.0, "mug": 0.2}}``, a list of pairs or of dicts."""
    return _first(text, _sizes, "positive sizes by name")


def _sizes(data: Any) -> dict[str, float]:
    if isinstance(data, dict):
        for key in ("sizes", "relative_sizes", "heights", "objects", "result"):
            if isinstance(data.get(key), (dict, list)):
                data = data[key]
                break
    pairs: list[tuple[Any, Any]] = []
    if isinstance(data, dict):
        pairs = list(data.items())
    elif isinstance(data, list):
        for item in data:
            if isinstance(item, list) and len(item) == 2:
                pairs.append((item[0], item[1]))
            elif isinstance(item, dict):
                name = next((item[k] for k in _NAME_KEYS if isinstance(item.get(k), str)), None)
                size = next((item[k] for k in ("size", "relative_size", "height", "value") if k in item), None)
                pairs.append((name, size))
    sizes: dict[str, float] = {}
    for name, raw in pairs:
        value = _number(raw)
        if isinstance(name, str) and name.strip() and value is not None and value > 0:
            sizes[name.strip()] = value
    return sizes


# ------------------------------------------------------------------------------------------------ scenes
_BULLET = re.compile(r"^\s*(?:[-*•]|\d+[.)])\s*")


def parse_scenes(text: object, limit: int = 3) -> list[str]:
    """Up to ``limit`` distinct scene phrases from ``{"scenes": [...]}``, a JSON list, or a bulleted list."""
    try:
        return _first(text, lambda data: _scenes(data, limit), "scene phrases")
    except ParseError:
        if not isinstance(text, str) or not text.strip():
            raise
    lines = [line for line in text.splitlines() if _BULLET.match(line)] or text.splitlines()
    phrases = _scenes(lines, limit)
    if not phrases:
        raise ParseError("no scene phrases found in the answer")
    return phrases


def _scenes(data: Any, limit: int) -> list[str]:
    if isinstance(data, dict):
        data = next((data[k] for k in ("scenes", "backgrounds", "places", "phrases") if k in data), [])
    phrases: list[str] = []
    for item in data if isinstance(data, list) else []:
        if not isinstance(item, str):
            continue
        phrase = " ".join(_BULLET.sub("", item).strip().strip("\"'`.,;").split())
        if phrase and len(phrase) <= 80 and phrase.lower() not in (p.lower() for p in phrases):
            phrases.append(phrase)
        if len(phrases) == limit:
            break
    return phrases
