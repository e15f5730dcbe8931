"""The size-prior table and the offline layout planner."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from gen4gen.backends import build_backend
from gen4gen.backends.compose.prior import PriorPlanner
from gen4gen.geometry.boxes import box_area, overlap_fraction
from gen4gen.geometry.layout import ConceptRequest
from gen4gen.priors import DEFAULT_HEIGHT_M, canonical_name, size_prior

COCO_NAMES = [
    "person",
    "bicycle",
    "car",
    "motorcycle",
    "airplane",
    "bus",
    "train",
    "truck",
    "boat",
    "traffic light",
    "fire hydrant",
    "stop sign",
    "parking meter",
    "bench",
    "bird",
    "cat",
    "dog",
    "horse",
    "sheep",
    "cow",
    "elephant",
    "bear",
    "zebra",
    "giraffe",
    "backpack",
    "umbrella",
    "handbag",
    "tie",
    "suitcase",
    "frisbee",
    "skis",
    "snowboard",
    "sports ball",
    "kite",
    "baseball bat",
    "baseball glove",
    "skateboard",
    "surfboard",
    "tennis racket",
    "bottle",
    "wine glass",
    "cup",
    "fork",
    "knife",
    "spoon",
    "bowl",
    "banana",
    "apple",
    "sandwich",
    "orange",
    "broccoli",
    "carrot",
    "hot dog",
    "pizza",
    "donut",
    "cake",
    "chair",
    "couch",
    "potted plant",
    "bed",
    "dining table",
    "toilet",
    "tv",
    "laptop",
    "mouse",
    "remote",
    "keyboard",
    "cell phone",
    "microwave",
    "oven",
    "toaster",
    "sink",
    "refrigerator",
    "book",
    "clock",
    "vase",
    "scissors",
    "teddy bear",
    "hair drier",
    "toothbrush",
]
KNOWN = ["cat", "dog", "mug", "barn", "teddy bear", "houseplant", "sunglasses", "car", "lion", "backpack", "vase"]
UNKNOWN = ["zorblax", "my_gizmo", "thingamajig"]
PLANNER = PriorPlanner()


def plan(names_aspects, canvas=(1024, 1024), seed=0, planner=PLANNER):
    concepts = [ConceptRequest(n, a) for n, a in names_aspects]
    return planner.plan(concepts, canvas, np.random.default_rng(seed))


def area(p):
    return box_area(p.bbox)


# ------------------------------------------------------------------------------------------------ size priors
def test_table_covers_all_coco_categories():
    assert len(set(COCO_NAMES)) == 80
    for name in COCO_NAMES:
        prior = size_prior(name)
        assert prior.known and prior.canonical == name and prior.height_m > 0, name


@pytest.mark.parametrize(
    ("name", "canonical"),
    [
        ("puppy", "dog"),
        ("Kitten", "cat"),
        ("house plant", "potted plant"),
        ("houseplant", "potted plant"),
        ("house_plant", "potted plant"),
        ("potted plant", "potted plant"),
        ("TV", "tv"),
        ("television", "tv"),
        ("dogs", "dog"),
        ("dog2", "dog"),
        ("my_cat", "cat"),
        ("red teddy bear", "teddy bear"),
        ("teddy bears", "teddy bear"),
        ("knives", "knife"),
        ("bike", "bicycle"),
        ("sofa", "couch"),
        ("sneaker", "shoe"),
        ("toy_bear", "toy"),
        ("grey_sloth_plushie", "plushie"),
    ],
)
def test_canonical_names(name, canonical):
    assert canonical_name(name) == canonical
    assert size_prior(name).known


def test_unknown_names_fall_back_and_say_so():
    prior = size_prior("Zorblaxes")
    assert not prior.known
    assert prior.height_m == DEFAULT_HEIGHT_M
    assert prior.canonical == canonical_name("Zorblaxes") == "zorblax"
    assert not size_prior("").known


def test_personal_concepts_have_plausible_sizes():
    h = {n: size_prior(n).height_m for n in ["mug", "cat", "dog", "lion", "tractor", "barn", "castle"]}
    assert h["mug"] < h["cat"] < h["dog"] < h["lion"] < h["tractor"] < h["barn"] < h["castle"]


def test_length_measure_uses_the_longest_side():
    shoe = size_prior("shoe")
    assert shoe.measure == "length"
    assert shoe.height_for_aspect(2.0) == pytest.approx(shoe.height_m / 2)
    assert shoe.height_for_aspect(0.5) == pytest.approx(shoe.height_m)


# ------------------------------------------------------------------------------------------------ planner
concept_lists = st.lists(st.tuples(st.sampled_from(KNOWN + UNKNOWN), st.floats(0.3, 3.5)), min_size=1, max_size=6)
canvas_sizes = st.sampled_from([(1024, 1024), (512, 512), (768, 512), (640, 960)])


@settings(max_examples=150, deadline=None)
@given(concept_lists, canvas_sizes, st.integers(0, 2**32 - 1))
def test_layout_properties(names_aspects, canvas, seed):
    layout = plan(names_aspects, canvas, seed)
    width, height = canvas
    n = len(names_aspects)
    assert [p.name for p in layout.placements] == [name for name, _ in names_aspects]
    assert sorted(p.depth for p in layout.placements) == list(range(n))
    divisor = 5 if n <= 3 else 6 if n == 4 else 8
    for p, (_, aspect) in zip(layout.placements, names_aspects, strict=True):
        x0, y0, x1, y1 = p.bbox
        assert all(isinstance(v, int) for v in p.bbox)
        assert 0 <= x0 < x1 <= width and 0 <= y0 < y1 <= height
        assert abs((x1 - x0) - (y1 - y0) * aspect) <= 1.0, "aspect kept within a pixel"
        # the paper's minimum size, unless the planner says the canvas could not hold it
        below = any(f"{p.name!r} is below the minimum size" in note for note in layout.notes)
        assert area(p) >= (height / divisor) ** 2 or below, "minimum size"
    for i, a in enumerate(layout.placements):
        for b in layout.placements[i + 1 :]:
            assert overlap_fraction(a.bbox, b.bbox) <= PLANNER.options.overlap_max + 1e-9
    # farther objects (higher bottom edge) are drawn first
    by_depth = sorted(layout.placements, key=lambda p: p.depth)
    assert [p.bbox[3] for p in by_depth] == sorted(p.bbox[3] for p in by_depth)
    unknown = {name for name, _ in names_aspects if name in UNKNOWN}
    for name in unknown:
        assert any(f"unknown size for {name!r}, assumed 0.4 m" in note for note in layout.notes)
    if not unknown:
        assert not any("unknown size" in note for note in layout.notes)


@settings(max_examples=30, deadline=None)
@given(concept_lists, st.integers(0, 2**32 - 1))
def test_same_seed_same_layout(names_aspects, seed):
    a, b = plan(names_aspects, seed=seed), plan(names_aspects, seed=seed)
    assert a.placements == b.placements and a.notes == b.notes


def test_different_seeds_differ():
    layouts = {tuple(plan([("cat", 1.0), ("dog", 1.2)], seed=s).placements) for s in range(5)}
    assert len(layouts) > 1


@pytest.mark.parametrize("seed", range(10))
def test_relative_real_world_sizes(seed):
    mug, dog = plan([("mug", 1.1), ("dog", 1.2)], seed=seed).placements
    assert area(mug) < area(dog)
    cat, barn = plan([("cat", 1.0), ("barn", 1.4)], seed=seed).placements
    assert area(barn) > area(cat)
    cat, dog, mug = plan([("cat", 0.9), ("dog", 1.2), ("mug", 1.1)], seed=seed).placements
    assert area(mug) < area(cat) and area(mug) < area(dog)


def test_forced_enlargement_is_noted():
    layout = plan([("mug", 1.0), ("barn", 1.5)])
    assert any("'mug' enlarged" in note for note in layout.notes)
    assert not any("'mug'" in n for n in plan([("cat", 1.0), ("dog", 1.1)]).notes)


def test_many_wide_objects_go_on_several_rows():
    layout = plan([("car", 4.0)] * 6, seed=3)
    assert any("rows" in note for note in layout.notes)
    assert layout.provenance["rows"] > 1


def test_empty_and_invalid_requests():
    assert plan([]).placements == []
    with pytest.raises(ValueError, match="aspect"):
        plan([("cat", 0.0)])


def test_options_are_validated_and_registered():
    planner = build_backend("compose", "prior", {"overlap_max": 0.0, "perspective": 0.0})
    assert isinstance(planner, PriorPlanner)
    layout = plan([("cat", 1.0), ("dog", 1.3), ("mug", 1.0), ("vase", 0.5)], planner=planner)
    boxes = [p.bbox for p in layout.placements]
    assert all(overlap_fraction(a, b) == 0.0 for i, a in enumerate(boxes) for b in boxes[i + 1 :])
    with pytest.raises(ValidationError):
        build_backend("compose", "prior", {"ground_band": (0.9, 0.5)})
    with pytest.raises(ValidationError):
        build_backend("compose", "prior", {"no_such_option": 1})
