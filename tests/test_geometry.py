"""Properties of the box geometry."""

from __future__ import annotations

import ast
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import gen4gen
from gen4gen.geometry.boxes import (
    box_area,
    box_iou,
    clamp_box,
    fit_aspect,
    int_box_at,
    intersection,
    mask_bbox,
    overlap_fraction,
    scale_box,
    shift_inside,
    to_int,
    union_box,
)
from gen4gen.geometry.layout import min_box_area, min_size_divisor
from gen4gen.geometry.masks import CanvasMask, union

coord = st.floats(-2000, 2000, allow_nan=False)
size = st.floats(0.5, 1500, allow_nan=False)


@st.composite
def boxes(draw):
    x0, y0 = draw(coord), draw(coord)
    return (x0, y0, x0 + draw(size), y0 + draw(size))


canvases = st.tuples(st.integers(1, 4096), st.integers(1, 4096))


@given(boxes(), boxes())
def test_iou_symmetric_and_bounded(a, b):
    assert box_iou(a, b) == pytest.approx(box_iou(b, a))
    assert 0.0 <= box_iou(a, b) <= 1.0
    assert 0.0 <= overlap_fraction(a, b) <= 1.0 + 1e-9
    assert box_iou(a, b) <= overlap_fraction(a, b) + 1e-9


@given(boxes())
def test_iou_with_itself_is_one(a):
    assert box_iou(a, a) == pytest.approx(1.0)
    assert overlap_fraction(a, a) == pytest.approx(1.0)


@given(boxes(), st.floats(0.05, 0.95))
def test_overlap_fraction_of_contained_box_is_one(a, shrink):
    w, h = a[2] - a[0], a[3] - a[1]
    inner = (a[0] + w * shrink / 2, a[1] + h * shrink / 2, a[2] - w * shrink / 2, a[3] - h * shrink / 2)
    assert overlap_fraction(a, inner) == pytest.approx(1.0)
    assert box_iou(a, inner) == pytest.approx(box_area(inner) / box_area(a))


def test_disjoint_and_empty_boxes():
    assert box_iou((0, 0, 10, 10), (20, 20, 30, 30)) == 0.0
    assert box_iou((0, 0, 0, 0), (0, 0, 0, 0)) == 0.0
    assert overlap_fraction((0, 0, 10, 10), (10, 0, 20, 10)) == 0.0


@given(boxes(), canvases)
def test_clamp_inside_canvas(a, canvas):
    x0, y0, x1, y1 = clamp_box(a, canvas)
    assert 0 <= x0 <= x1 <= canvas[0]
    assert 0 <= y0 <= y1 <= canvas[1]
    assert box_area((x0, y0, x1, y1)) == pytest.approx(intersection(a, (0, 0, *canvas)), abs=1e-6)


@given(boxes(), canvases)
def test_shift_inside_keeps_size_when_it_fits(a, canvas):
    x0, y0, x1, y1 = shift_inside(a, canvas)
    assert 0 <= x0 <= x1 <= canvas[0] + 1e-9
    assert 0 <= y0 <= y1 <= canvas[1] + 1e-9
    assert x1 - x0 == pytest.approx(min(a[2] - a[0], canvas[0]))
    assert y1 - y0 == pytest.approx(min(a[3] - a[1], canvas[1]))


@given(boxes(), st.floats(0.05, 20))
def test_fit_aspect_has_aspect_and_is_contained(a, aspect):
    fitted = fit_aspect(a, aspect)
    w, h = fitted[2] - fitted[0], fitted[3] - fitted[1]
    assert w / h == pytest.approx(aspect, rel=1e-6)
    eps = 1e-6 * (1 + max(map(abs, a)))
    assert a[0] - eps <= fitted[0] and fitted[2] <= a[2] + eps
    assert a[1] - eps <= fitted[1] and fitted[3] <= a[3] + eps
    # largest: touches the box on at least one axis
    assert math.isclose(w, a[2] - a[0], rel_tol=1e-6) or math.isclose(h, a[3] - a[1], rel_tol=1e-6)


def test_fit_aspect_rejects_bad_aspect():
    with pytest.raises(ValueError):
        fit_aspect((0, 0, 10, 10), 0.0)


@given(boxes(), st.floats(0.01, 100), st.floats(0.01, 100))
def test_scale_round_trip(a, sx, sy):
    back = scale_box(scale_box(a, sx, sy), 1 / sx, 1 / sy)
    assert back == pytest.approx(a, rel=1e-9, abs=1e-9)
    assert box_area(scale_box(a, sx, sy)) == pytest.approx(box_area(a) * sx * sy, rel=1e-9)


@given(st.lists(boxes(), min_size=1, max_size=6))
def test_union_box_contains_all(bs):
    u = union_box(bs)
    for b in bs:
        assert u[0] <= b[0] and u[1] <= b[1] and b[2] <= u[2] and b[3] <= u[3]


@given(boxes())
def test_to_int_is_integer_and_close(a):
    r = to_int(a)
    assert all(isinstance(v, int) for v in r)
    assert r[2] > r[0] and r[3] > r[1]
    assert abs(r[0] - a[0]) <= 0.5 and abs(r[1] - a[1]) <= 0.5


def test_mask_bbox():
    mask = np.zeros((20, 30), np.float32)
    assert mask_bbox(mask) is None
    assert mask_bbox(mask, full_if_empty=True) == (0, 0, 30, 20)
    mask[3:7, 10:25] = 1.0
    assert mask_bbox(mask) == (10, 3, 25, 7)
    assert mask_bbox(mask, full_if_empty=True) == (10, 3, 25, 7)
    mask[15, 2] = 0.5  # strictly above the threshold counts
    assert mask_bbox(mask) == (10, 3, 25, 7)
    assert mask_bbox(mask, 0.49) == (2, 3, 25, 16)
    assert all(isinstance(v, int) for v in mask_bbox(mask, full_if_empty=True))


@given(
    st.floats(-100, 1100),
    st.floats(-100, 1100),
    st.floats(1, 1500),
    st.floats(0.1, 10),
    st.sampled_from(["left", "center"]),
)
def test_int_box_at_inside_canvas_with_aspect(x, bottom, h, aspect, anchor):
    canvas = (640, 480)
    x0, y0, x1, y1 = int_box_at(x, bottom, h, aspect, canvas, anchor=anchor)
    assert all(isinstance(v, int) for v in (x0, y0, x1, y1))
    assert 0 <= x0 < x1 <= canvas[0] and 0 <= y0 < y1 <= canvas[1]
    if x1 - x0 < canvas[0] and y1 - y0 < canvas[1]:  # not cut to the canvas: the aspect holds within a pixel
        assert abs((x1 - x0) - (y1 - y0) * aspect) <= max(1.0, aspect)


def test_int_box_at_anchor():
    assert int_box_at(100, 300, 50, 2.0, (640, 480)) == (100, 250, 200, 300)
    assert int_box_at(100, 300, 50, 2.0, (640, 480), anchor="center") == (50, 250, 150, 300)
    assert int_box_at(630, 500, 50, 2.0, (640, 480)) == (540, 430, 640, 480)  # moved back inside


def test_min_size_rule():
    assert [min_size_divisor(n) for n in (1, 2, 3, 4, 5, 9)] == [5.0, 5.0, 5.0, 6.0, 8.0, 8.0]
    assert min_box_area(2, 1000) == 200.0**2
    assert min_box_area(4, 600, (2.0, 3.0, 4.0)) == 200.0**2


LAYERED = ("geometry", "llm")


def _gen4gen_imports(path: Path) -> set[str]:
    """Every gen4gen module a source file imports (absolute or relative), at any depth of the file."""
    package = ".".join(("gen4gen", *path.relative_to(Path(gen4gen.__file__).parent).with_suffix("").parts[:-1]))
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parent, *([base] if base else [])])
            found |= {base} | {f"{base}.{alias.name}" for alias in node.names}
    return {name for name in found if name == "gen4gen" or name.startswith("gen4gen.")}


@pytest.mark.parametrize("layer", LAYERED)
def test_layer_never_imports_backends(layer):
    """geometry/ and llm/ (and the gen4gen modules they use, transitively) import nothing from backends/."""
    root = Path(gen4gen.__file__).parent
    files = sorted((root / layer).glob("*.py"))
    assert files
    seen: set[Path] = set()
    todo = list(files)
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        for name in _gen4gen_imports(path):
            assert not (name == "gen4gen.backends" or name.startswith("gen4gen.backends.")), (
                f"{path.relative_to(root)} imports {name}"
            )
            parts = name.split(".")[1:]
            for candidate in (root.joinpath(*parts).with_suffix(".py"), root.joinpath(*parts, "__init__.py")):
                if parts and candidate.is_file():
                    todo.append(candidate)


# ------------------------------------------------------------------------------------------------- canvas masks
def test_canvas_mask_full_over_and_tight() -> None:
    values = np.zeros((4, 6), np.uint8)
    values[1:3, 2:5] = (10, 200, 255)
    mask = CanvasMask((3, 2, 9, 6), values)
    whole = mask.full((12, 8))
    assert whole.shape == (8, 12) and whole.dtype == np.uint8
    np.testing.assert_array_equal(whole[2:6, 3:9], values)
    assert whole.sum() == values.sum()
    np.testing.assert_array_equal(mask.over((0, 0, 12, 8)), whole)
    np.testing.assert_array_equal(mask.over((8, 5, 11, 7)), whole[5:7, 8:11])  # partly outside the crop
    tight = mask.tight()
    assert tight.box == (5, 3, 8, 5) and tight.values.shape == (2, 3)
    np.testing.assert_array_equal(tight.full((12, 8)), whole)
    soft = mask.soft()
    assert soft.values.dtype == np.float32 and soft.values.max() == 1.0 and soft.soft() is soft
    empty = CanvasMask((3, 2, 9, 6), np.zeros((4, 6), np.uint8)).tight()
    assert empty.empty and not empty.full((12, 8)).any()
    with pytest.raises(ValueError, match="does not fit its box"):
        CanvasMask((0, 0, 5, 5), values)
    with pytest.raises(ValueError, match="not inside"):
        mask.full((8, 8))


@given(st.lists(st.tuples(*(st.integers(0, 20),) * 2, *(st.integers(0, 12),) * 2), max_size=5))
def test_union_is_the_pixelwise_maximum(specs) -> None:
    rng = np.random.default_rng(len(specs))
    masks = [
        CanvasMask((x, y, x + w, y + h), rng.integers(0, 256, (h, w), dtype=np.uint8)) for x, y, w, h in specs
    ]
    expected = np.zeros((32, 32), np.uint8)
    for m in masks:
        expected = np.maximum(expected, m.full((32, 32)))
    combined = union(masks)
    assert combined.values.dtype == np.uint8
    np.testing.assert_array_equal(combined.full((32, 32)), expected)
