"""Pasting cut-outs: alpha compositing, occlusion-aware instance masks, augmentations."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gen4gen.geometry.boxes import shift_inside
from gen4gen.geometry.compositing import Augment, Composite, paste_cutouts, render_cutout, sample_augment
from gen4gen.geometry.layout import Placement
from gen4gen.geometry.masks import union

CANVAS = (256, 192)


def full(comp: Composite) -> list[np.ndarray]:
    """The instance masks on the whole canvas."""
    return [m.full(CANVAS) for m in comp.instance_masks]


def reference_paste(canvas_wh, items) -> tuple[np.ndarray, list[np.ndarray]]:
    """Straightforward full-canvas compositing: one float32 canvas-sized mask per item, each multiplied by
    ``1 - alpha`` of every nearer item over the whole canvas."""
    width, height = canvas_wh
    canvas = np.zeros((height, width, 3), np.float32)
    masks = [np.zeros((height, width), np.float32) for _ in items]
    for i in sorted(range(len(items)), key=lambda i: (items[i][1].depth, i)):
        rgba, placement, augment = items[i]
        x0, y0, x1, y1 = placement.bbox
        dx, dy = augment.shift
        bx0, by0, bx1, by1 = (round(v) for v in shift_inside((x0 + dx, y0 + dy, x1 + dx, y1 + dy), canvas_wh))
        if bx1 <= bx0 or by1 <= by0:
            continue
        patch = render_cutout(rgba, (bx1 - bx0, by1 - by0), augment)
        alpha = np.zeros((height, width), np.float32)
        alpha[by0:by1, bx0:bx1] = patch[..., 3]
        colour = np.zeros((height, width, 3), np.float32)
        colour[by0:by1, bx0:bx1] = patch[..., :3]
        for mask in masks:
            mask *= 1.0 - alpha
        masks[i] = alpha
        canvas = np.floor(np.clip(canvas * (1.0 - alpha)[..., None] + colour + 0.5, 0, 255))
    return canvas.astype(np.uint8), masks


def blob(w: int, h: int, colour=(40, 200, 60), under=(255, 0, 0), soft: int = 5) -> np.ndarray:
    """RGBA ellipse with an opaque core and soft edge; ``under`` is the colour hidden under alpha 0."""
    rgba = np.zeros((h, w, 4), np.uint8)
    rgba[..., :3] = under
    alpha = np.zeros((h, w), np.uint8)
    cv2.ellipse(alpha, (w // 2, h // 2), (w // 2 - soft, h // 2 - soft), 0, 0, 360, 255, -1)
    alpha = cv2.GaussianBlur(alpha, (2 * soft + 1, 2 * soft + 1), 0)
    rgba[alpha > 0, :3] = colour
    rgba[..., 3] = alpha
    return rgba


def asym(w: int = 40, h: int = 30) -> np.ndarray:
    """Opaque cut-out whose left and right halves differ, to see flips."""
    rgba = np.full((h, w, 4), 255, np.uint8)
    rgba[:, : w // 3, :3] = (250, 10, 10)
    rgba[:, w // 3 :, :3] = (10, 10, 250)
    return rgba


def test_paste_keeps_alpha_and_colour():
    cut = blob(60, 40)
    comp = paste_cutouts(CANVAS, [(cut, Placement("a", (10, 20, 70, 60), 0), Augment())])
    alpha = cut[..., 3].astype(np.float32) / 255
    (mask,) = full(comp)
    np.testing.assert_allclose(mask[20:60, 10:70], alpha, atol=1e-6)
    expected = np.asarray((40, 200, 60), np.float32) * alpha[..., None]
    assert np.abs(comp.rgb[20:60, 10:70].astype(np.float32) - expected).max() <= 1.0
    assert comp.rgb[:20].max() == 0 and mask[:20].max() == 0
    assert comp.instance_masks[0].box == (10, 20, 70, 60)  # kept over the region it was pasted in only
    np.testing.assert_array_equal(union(comp.instance_masks).full(CANVAS), mask)
    assert comp.rgb.dtype == np.uint8 and comp.rgb.shape == (192, 256, 3)


def test_hidden_colour_never_bleeds_when_resampling():
    cut = blob(300, 200, colour=(0, 200, 0), under=(255, 0, 0), soft=9)
    for box in [(5, 5, 80, 55), (0, 0, 250, 190)]:  # shrink and enlarge
        comp = paste_cutouts(CANVAS, [(cut, Placement("a", box, 0), Augment(rotation_deg=7.0))])
        assert comp.rgb[..., 0].max() == 0


def test_nearer_object_occludes_farther_mask():
    far, near = blob(80, 80, (200, 0, 0)), blob(80, 80, (0, 0, 200))
    items = [
        (near, Placement("near", (60, 40, 140, 120), 1), Augment()),
        (far, Placement("far", (20, 40, 100, 120), 0), Augment()),
    ]
    comp = paste_cutouts(CANVAS, items)
    m_near, m_far = full(comp)
    core = m_near >= 1.0
    assert core.any() and m_far[core].max() == 0.0
    assert (comp.rgb[core] == (0, 0, 200)).all()  # the near one is drawn on top
    assert (m_near + m_far).max() <= 1.0 + 1e-6
    np.testing.assert_array_equal(union(comp.instance_masks).full(CANVAS), np.maximum(m_near, m_far))
    # the far object's visible box is cut where the near one covers it
    assert comp.boxes[1][2] < 100 and comp.boxes[0] is not None


def test_fully_hidden_object_has_no_box():
    items = [
        (asym(), Placement("front", (10, 10, 110, 110), 1), Augment()),
        (asym(), Placement("back", (30, 30, 60, 60), 0), Augment()),
    ]
    comp = paste_cutouts(CANVAS, items)
    assert comp.boxes == [(10, 10, 110, 110), None]
    assert full(comp)[1].max() == 0.0


def test_flip_mirrors_the_object():
    box = (30, 20, 110, 80)
    plain = paste_cutouts(CANVAS, [(asym(), Placement("a", box, 0), Augment())])
    flipped = paste_cutouts(CANVAS, [(asym(), Placement("a", box, 0), Augment(flip=True))])
    np.testing.assert_array_equal(flipped.rgb[20:80, 30:110], plain.rgb[20:80, 30:110][:, ::-1])
    np.testing.assert_array_equal(full(flipped)[0], full(plain)[0])


@pytest.mark.parametrize("angle", [-30.0, 12.5, 90.0])
def test_rotation_stays_inside_the_box(angle):
    box = (50, 40, 170, 120)
    comp = paste_cutouts(CANVAS, [(asym(60, 40), Placement("a", box, 0), Augment(rotation_deg=angle))])
    (mask,) = full(comp)
    assert mask.sum() > 0
    outside = mask.copy()
    outside[40:120, 50:170] = 0
    assert outside.max() == 0
    x0, y0, x1, y1 = comp.boxes[0]
    assert 50 <= x0 < x1 <= 170 and 40 <= y0 < y1 <= 120


def test_shift_moves_the_box_and_stays_inside_canvas():
    comp = paste_cutouts(CANVAS, [(asym(), Placement("a", (10, 10, 50, 40), 0), Augment(shift=(20, 5)))])
    assert comp.boxes[0] == (30, 15, 70, 45)
    comp = paste_cutouts(CANVAS, [(asym(), Placement("a", (200, 150, 240, 180), 0), Augment(shift=(99, 99)))])
    assert comp.boxes[0] == (216, 162, 256, 192)


def test_render_cutout_shape_and_range():
    patch = render_cutout(blob(90, 70), (45, 35), Augment(flip=True, rotation_deg=20))
    assert patch.shape == (35, 45, 4) and patch.dtype == np.float32
    assert patch[..., 3].min() >= 0.0 and patch[..., 3].max() <= 1.0
    assert (patch[..., :3] <= patch[..., 3:] * 255 + 1).all()  # premultiplied
    with pytest.raises(ValueError):
        render_cutout(np.zeros((10, 10, 3), np.uint8), (5, 5), Augment())


def test_sample_augment_bounds_and_determinism():
    box = (0, 0, 100, 50)
    augs = [sample_augment(np.random.default_rng(s), 0.5, 10.0, 0.1, box) for s in range(200)]
    assert {a.flip for a in augs} == {True, False}
    assert all(abs(a.rotation_deg) <= 10 and abs(a.shift[0]) <= 10 and abs(a.shift[1]) <= 5 for a in augs)
    assert sample_augment(np.random.default_rng(7), 0.5, 10.0, 0.1, box) == augs[7]
    none = sample_augment(np.random.default_rng(1), 0.0, 0.0, 0.0, box)
    assert none == Augment(flip=False, rotation_deg=0.0, shift=(0, 0))


boxes_st = st.tuples(st.integers(-20, 230), st.integers(-20, 170), st.integers(8, 120), st.integers(8, 120))


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(boxes_st, st.booleans(), st.floats(-20, 20)), min_size=1, max_size=5))
def test_masks_partition_coverage(specs):
    cut = blob(50, 50)
    items = [
        (cut, Placement(f"o{i}", (x, y, x + w, y + h), depth), Augment(flip=flip, rotation_deg=rot))
        for depth, (i, ((x, y, w, h), flip, rot)) in enumerate(reversed(list(enumerate(specs))))
    ]
    comp = paste_cutouts(CANVAS, items)
    stack = np.stack(full(comp))
    assert stack.min() >= 0.0 and stack.max() <= 1.0
    assert stack.sum(axis=0).max() <= 1.0 + 1e-5  # no overlap beyond what soft edges share
    np.testing.assert_array_equal(union(comp.instance_masks).full(CANVAS), stack.max(axis=0))
    for mask, box in zip(stack, comp.boxes, strict=True):
        assert (box is None) == (mask.max() < 0.5)


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(boxes_st, st.booleans(), st.floats(-20, 20), st.tuples(st.integers(-9, 9), st.integers(-9, 9))),
        min_size=1,
        max_size=5,
    ),
    st.randoms(use_true_random=False),
)
def test_cropped_masks_expand_to_the_full_canvas_reference(specs, random):
    items = [
        (blob(50, 40, soft=3 + i), Placement(f"o{i}", (x, y, x + w, y + h), random.randrange(3)), Augment(f, r, s))
        for i, ((x, y, w, h), f, r, s) in enumerate(specs)
    ]
    comp = paste_cutouts(CANVAS, items)
    rgb, masks = reference_paste(CANVAS, items)
    np.testing.assert_array_equal(comp.rgb, rgb)
    for crop, mask in zip(comp.instance_masks, masks, strict=True):
        np.testing.assert_array_equal(crop.full(CANVAS), mask)  # exactly, not approximately
        assert crop.values.size < CANVAS[0] * CANVAS[1]
    np.testing.assert_array_equal(union(comp.instance_masks).full(CANVAS), np.max(np.stack(masks), axis=0))
