"""Weight-free segmenters, the mask quality score and multi-round segmentation, on synthetic and bundled images."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image
from skimage import data

from gen4gen.backends import build_backend
from gen4gen.backends.base import ItemError, Photo, Segmenter
from gen4gen.backends.segment.alpha import AlphaSegmenter
from gen4gen.backends.segment.grabcut import GrabCutSegmenter, _clean, background_saliency, cast_shadow
from gen4gen.backends.segment.quality import mask_quality
from gen4gen.backends.segment.rounds import RoundResult, best_round, mask_bbox, multi_round


def iou(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a >= 0.5, b >= 0.5
    return float((a & b).sum() / (a | b).sum())


def blob_scene(height: int = 240, width: int = 320, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """An orange ellipse (with a little texture) on a noisy blue-green checkered background, and its true mask."""
    rng = np.random.default_rng(seed)
    yy, xx = np.indices((height, width))
    checker = ((yy // 16 + xx // 16) % 2).astype(np.float32)
    background = np.stack([40 + 30 * checker, 110 + 20 * checker, 120 + 25 * checker], axis=-1)
    truth = ((xx - width * 0.5) / (width * 0.22)) ** 2 + ((yy - height * 0.55) / (height * 0.3)) ** 2 <= 1.0
    foreground = np.array([220.0, 120.0, 40.0]) + 15 * np.sin(xx / 5.0)[..., None]
    image = np.where(truth[..., None], foreground, background) + rng.normal(0, 6, (height, width, 3))
    return np.clip(image, 0, 255).astype(np.uint8), truth.astype(np.float32)


def photo(rgb: np.ndarray, path: Path = Path("photo.png"), alpha: np.ndarray | None = None) -> Photo:
    return Photo(rgb=rgb, path=path, concept="thing", alpha=alpha)


@pytest.fixture(scope="module")
def grabcut() -> GrabCutSegmenter:
    return GrabCutSegmenter()


# ---------------------------------------------------------------------------------------------------- grabcut
def test_grabcut_finds_synthetic_blob(grabcut: GrabCutSegmenter) -> None:
    rgb, truth = blob_scene()
    mask = grabcut.segment(photo(rgb))
    assert mask.dtype == np.float32 and mask.shape == truth.shape
    assert float(mask.min()) >= 0.0 and float(mask.max()) <= 1.0
    assert iou(mask, truth) > 0.9


def test_grabcut_finds_object_touching_the_border(grabcut: GrabCutSegmenter) -> None:
    rgb, truth = blob_scene()
    rgb, truth = np.ascontiguousarray(rgb[:180]), truth[:180]  # the ellipse now runs into the bottom edge
    assert truth[-1].sum() > 50
    assert iou(grabcut.segment(photo(rgb)), truth) > 0.85


def test_saliency_trusts_the_bottom_edge_less_than_the_top() -> None:
    rgb, truth = blob_scene()
    rgb, inside = np.ascontiguousarray(rgb[:130]), truth[:130] > 0  # a subject cut off by the bottom edge
    standing = background_saliency(rgb, 300)[inside].mean()
    hanging = background_saliency(np.ascontiguousarray(rgb[::-1]), 300)[::-1][inside].mean()
    assert standing > hanging + 0.1


def test_grabcut_coffee_cup(grabcut: GrabCutSegmenter) -> None:
    rgb = data.coffee()  # red cup and saucer on a wooden table, 400x600
    mask = grabcut.segment(photo(rgb))
    hard = mask >= 0.5
    assert 0.1 < hard.mean() < 0.6
    assert hard[200, 300]  # inside the cup
    assert not hard[10, 10] and not hard[-10, -10]  # table corners
    assert mask_bbox(mask)[0] > 0  # the cup does not span the whole width


def test_grabcut_is_deterministic(grabcut: GrabCutSegmenter) -> None:
    rgb, _ = blob_scene(seed=3)
    first = grabcut.segment(photo(rgb)).tobytes()
    assert GrabCutSegmenter().segment(photo(rgb.copy())).tobytes() == first


def test_grabcut_full_resolution_output_for_large_photo() -> None:
    rgb, truth = blob_scene(120, 160)
    big = cv2.resize(rgb, (1600, 1200), interpolation=cv2.INTER_LINEAR)
    big_truth = cv2.resize(truth, (1600, 1200), interpolation=cv2.INTER_NEAREST)
    mask = GrabCutSegmenter(GrabCutSegmenter.Options(max_side=160, refine_side=400)).segment(photo(big))
    assert mask.shape == (1200, 1600)
    assert iou(mask, big_truth) > 0.9
    assert ((mask > 0.05) & (mask < 0.95)).any()  # soft edges, not a blocky upscaled mask


def test_cast_shadow_takes_the_darker_floor_under_the_subject_but_not_the_subject() -> None:
    yy, xx = np.indices((200, 200))
    floor = np.array([200.0, 199.0, 197.0])  # a light grey floor
    subject = ((xx - 100) / 50.0) ** 2 + ((yy - 90) / 60.0) ** 2 <= 1.0
    shadow = (((xx - 100) / 70.0) ** 2 + ((yy - 150) / 15.0) ** 2 <= 1.0) & ~subject
    rgb = np.where(subject[..., None], [150.0, 90.0, 60.0], np.where(shadow[..., None], 0.6 * floor, floor))
    mask = subject | shadow
    found = cast_shadow(rgb.astype(np.uint8), mask, chroma_tolerance=1.5)
    assert found[shadow].mean() > 0.9
    assert not found[subject].any()
    assert not cast_shadow(rgb.astype(np.uint8), subject, chroma_tolerance=1.5).any()


def test_grabcut_clean_fills_speckle_but_keeps_background_seen_through_the_subject() -> None:
    mask = np.zeros((200, 200), bool)
    mask[20:180, 20:180] = True
    mask[40:43, 40:43] = False  # speckle: under 1% of the area
    mask[80:140, 80:140] = False  # a gap between legs: 14% of the area
    mask[190:195, 5:10] = True  # a crumb, far smaller than the subject
    cleaned = _clean(mask, min_fraction=0.2, max_hole=0.01)
    assert cleaned[41, 41] and not cleaned[110, 110].any() and not cleaned[192, 7]
    assert _clean(mask, min_fraction=0.2, max_hole=1.0)[110, 110]


@pytest.mark.parametrize("value", [0, 128, 255])
def test_grabcut_uniform_image_is_an_item_error(grabcut: GrabCutSegmenter, value: int) -> None:
    with pytest.raises(ItemError, match="uniform"):
        grabcut.segment(photo(np.full((64, 80, 3), value, np.uint8)))


def test_grabcut_options_validated_through_registry() -> None:
    backend = build_backend("segment", "grabcut", {"max_side": 256, "iterations": 3})
    assert isinstance(backend, GrabCutSegmenter)
    assert backend.identity()["options"]["max_side"] == 256
    with pytest.raises(ValueError):
        build_backend("segment", "grabcut", {"no_such_option": 1})


# ---------------------------------------------------------------------------------------------------- alpha
def test_alpha_uses_the_alpha_channel(tmp_path: Path) -> None:
    rgb, truth = blob_scene(60, 80)
    alpha = (truth * 255).astype(np.uint8)
    mask = AlphaSegmenter().segment(photo(rgb, tmp_path / "a.png", alpha=alpha))
    assert mask.dtype == np.float32
    np.testing.assert_array_equal(mask, truth)


@pytest.mark.parametrize("relative", ["my photo_mask.png", "my photo.mask.png", "masks/my photo.png"])
def test_alpha_reads_a_sidecar_mask(tmp_path: Path, relative: str) -> None:
    rgb, truth = blob_scene(60, 80)
    target = tmp_path / relative
    target.parent.mkdir(exist_ok=True)
    small = Image.fromarray((truth * 255).astype(np.uint8)).resize((40, 30), Image.NEAREST)
    small.save(target)  # half the photo's size: resized on load
    mask = AlphaSegmenter().segment(photo(rgb, tmp_path / "my photo.jpg"))
    assert mask.shape == (60, 80)
    assert iou(mask, truth) > 0.85


def test_alpha_without_mask_names_what_it_looked_for(tmp_path: Path) -> None:
    rgb, _ = blob_scene(60, 80)
    with pytest.raises(ItemError, match=r"cat 1\.jpg.*cat 1_mask\.png.*cat 1\.mask\.png.*masks/cat 1\.png"):
        AlphaSegmenter().segment(photo(rgb, tmp_path / "cat 1.jpg"))


def test_alpha_empty_mask_is_an_item_error(tmp_path: Path) -> None:
    rgb, _ = blob_scene(60, 80)
    with pytest.raises(ItemError, match="empty"):
        AlphaSegmenter().segment(photo(rgb, tmp_path / "a.png", alpha=np.zeros((60, 80), np.uint8)))


# ---------------------------------------------------------------------------------------------------- quality
def test_quality_prefers_the_true_mask_to_corrupted_ones() -> None:
    rgb, truth = blob_scene()
    good = mask_quality(rgb, truth)
    assert 0.0 <= good <= 1.0
    shifted = np.roll(truth, 60, axis=1)
    eroded = cv2.erode(truth, np.ones((25, 25), np.uint8))
    box = np.zeros_like(truth)
    box[20:-20, 20:-20] = 1.0
    speckled = truth.copy()
    speckled[::7, ::7] = 1.0
    for corrupted in (shifted, eroded, box, speckled):
        assert mask_quality(rgb, corrupted) < good


def test_quality_ranks_the_coffee_cup_above_it_with_background_stuck_on(grabcut: GrabCutSegmenter) -> None:
    rgb = data.coffee()
    cup = (grabcut.segment(photo(rgb)) >= 0.5).astype(np.float32)
    ys, xs = np.nonzero(cup)
    yy, xx = np.ogrid[: cup.shape[0], : cup.shape[1]]
    stuck = cup.copy()  # a disc of table attached at the top of the cup
    stuck[(yy - ys.min()) ** 2 + (xx - xs[np.argmin(ys)]) ** 2 < 50**2] = 1.0
    fragment = cup.copy()  # a separate piece of table in the bottom-left corner
    fragment[-60:-20, 20:60] = 1.0
    good = mask_quality(rgb, cup)
    assert mask_quality(rgb, stuck) < good
    assert mask_quality(rgb, fragment) < good


def test_quality_of_empty_and_full_masks_is_zero() -> None:
    rgb, truth = blob_scene(60, 80)
    assert mask_quality(rgb, np.zeros_like(truth)) == 0.0
    assert mask_quality(rgb, np.ones_like(truth)) == 0.0


# ---------------------------------------------------------------------------------------------------- rounds
class ShrinkingSegmenter(Segmenter):
    """Test double: the centred box covering the middle half of whatever it is given."""

    name = "shrinking"

    def segment(self, photo: Photo) -> np.ndarray:
        height, width = photo.rgb.shape[:2]
        mask = np.zeros((height, width), np.float32)
        mask[height // 4 : height - height // 4, width // 4 : width - width // 4] = 1.0
        return mask


def test_multi_round_returns_full_resolution_rounds(grabcut: GrabCutSegmenter) -> None:
    rgb, truth = blob_scene()
    results = multi_round(grabcut, photo(rgb), 3)
    assert len(results) == 3
    for result in results:
        assert isinstance(result, RoundResult)
        assert result.mask.shape == truth.shape and result.mask.dtype == np.float32
        assert 0.0 <= result.score <= 1.0
        assert result.bbox == mask_bbox(result.mask)
        assert iou(result.mask, truth) > 0.85
    assert results[best_round(results)].score == max(r.score for r in results)


def test_later_rounds_work_inside_the_previous_box() -> None:
    rgb, _ = blob_scene(200, 200)
    results = multi_round(ShrinkingSegmenter(), photo(rgb), 2, margin=0.0)
    x0, y0, x1, y1 = results[0].bbox
    assert (x0, y0, x1, y1) == (50, 50, 150, 150)
    inner = results[1].bbox
    assert x0 <= inner[0] and y0 <= inner[1] and inner[2] <= x1 and inner[3] <= y1
    assert (inner[2] - inner[0]) < (x1 - x0)


def test_best_round_picks_the_highest_score() -> None:
    mask = np.ones((4, 4), np.float32)
    results = [RoundResult(mask, s, (0, 0, 4, 4)) for s in (0.2, 0.9, 0.5, 0.9)]
    assert best_round(results) == 1
    with pytest.raises(ValueError):
        best_round([])


def test_multi_round_rejects_zero_rounds(grabcut: GrabCutSegmenter) -> None:
    rgb, _ = blob_scene(60, 80)
    with pytest.raises(ValueError):
        multi_round(grabcut, photo(rgb), 0)
