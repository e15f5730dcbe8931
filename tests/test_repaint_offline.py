"""Offline repaint backends: scene sources, the scene inpainter and the noise background."""

from __future__ import annotations

import logging

import cv2
import numpy as np
import pytest
from PIL import Image

from gen4gen.backends import build_backend
from gen4gen.backends.base import Placement, RepaintRequest
from gen4gen.backends.repaint.noise import NoiseInpainter
from gen4gen.backends.repaint.scene import SceneInpainter
from gen4gen.backends.repaint.scenes import (
    PROCEDURAL_SCENES,
    SceneLibrary,
    procedural_scene_for,
    render_procedural,
    scene_phrase,
)
from gen4gen.config import load_config
from gen4gen.errors import BackendUnavailable, ConfigError
from gen4gen.geometry.masks import CanvasMask
from gen4gen.io.images import mask_to_u8

SIZE = 192


def _request(seed: int = 0, scene: str | None = None, size: int = SIZE) -> RepaintRequest:
    """Two opaque squares standing on a ground line, pasted on black like the compose stage does."""
    composite = np.zeros((size, size, 3), np.uint8)
    boxes = [(20, 90, 80, 170), (110, 70, 170, 160)]
    masks, placements = [], []
    colours = [(200, 60, 40), (40, 90, 210)]
    for i, (box, colour) in enumerate(zip(boxes, colours, strict=True)):
        x0, y0, x1, y1 = (v * size // SIZE for v in box)
        composite[y0:y1, x0:x1] = colour
        masks.append(CanvasMask((x0, y0, x1, y1), np.full((y1 - y0, x1 - x0), 255, np.uint8)))
        placements.append(Placement(f"thing{i}", (x0, y0, x1, y1), i))
    return RepaintRequest(composite, masks, placements, scene, seed)


def _masks(request: RepaintRequest) -> list[np.ndarray]:
    """The request's instance masks on the whole composite, float32 in [0, 1]."""
    height, width = request.composite.shape[:2]
    return [m.soft().full((width, height)) for m in request.instance_masks]


def _interior(mask: np.ndarray, px: int = 8) -> np.ndarray:
    return cv2.erode((mask >= 1).astype(np.uint8), np.ones((2 * px + 1, 2 * px + 1), np.uint8)).astype(bool)


@pytest.mark.parametrize(
    ("name", "phrase"),
    [
        ("garden", "in a garden"),
        ("grass", "on the grass"),
        ("beach", "on a beach"),
        ("living_room", "in a living room"),
        ("kitchen table", "on a kitchen table"),
        ("orchard", "in an orchard"),
        ("snow", "in the snow"),
        ("garden2", "in a garden"),
        ("on a rooftop", "on a rooftop"),
    ],
)
def test_scene_phrase(name: str, phrase: str) -> None:
    assert scene_phrase(name) == phrase


def test_library_from_folder_skips_unreadable(tmp_path, caplog) -> None:
    for scene, colour in (("garden", (30, 140, 40)), ("beach", (220, 200, 150))):
        (tmp_path / scene).mkdir()
        for k in range(2):
            Image.new("RGB", (300 + 40 * k, 200), colour).save(tmp_path / scene / f"p{k}.jpg")
    (tmp_path / "garden" / "broken.jpg").write_bytes(b"not a jpeg at all")
    (tmp_path / "garden" / "notes.txt").write_text("ignored")
    with caplog.at_level(logging.WARNING, logger="gen4gen"):
        library = SceneLibrary.from_folder(tmp_path)
    assert len(library.entries) == 4
    assert library.phrases == ["in a garden", "on a beach"]
    assert any("broken.jpg" in r.getMessage() for r in caplog.records)

    rng = np.random.default_rng(0)
    for _ in range(5):
        assert library.pick(rng, "on the beach").scene == "beach"
    entry = library.pick(np.random.default_rng(1), "in a garden")
    image = library.render(entry, (128, 96), np.random.default_rng(2))
    assert image.shape == (96, 128, 3) and image.dtype == np.uint8
    assert abs(int(image[..., 1].mean()) - 140) < 10


def test_library_requires_images(tmp_path) -> None:
    (tmp_path / "garden").mkdir()
    (tmp_path / "garden" / "broken.jpg").write_bytes(b"not a jpeg at all")
    with pytest.raises(BackendUnavailable, match="no readable background") as caught:
        SceneLibrary.from_folder(tmp_path)
    message = str(caught.value)
    assert "\n" not in message and f"repaint.backgrounds={tmp_path}" in message
    assert "built-in scenes" in message and ".jpg" in message


def test_backgrounds_without_photos_fail_when_the_backend_is_built(tmp_path) -> None:
    """An empty scene folder is a BackendUnavailable (one line, the stage shows it) at build, not a ValueError."""
    (tmp_path / "garden").mkdir()
    (tmp_path / "garden" / "notes.txt").write_text("no photos here")
    config = load_config(overrides=[f"repaint.backgrounds={tmp_path}"])  # the folder exists: valid config
    options = config.backend_options("repaint").model_dump()
    with pytest.raises(BackendUnavailable, match=r"repaint\.backgrounds=.*no readable background photo"):
        build_backend("repaint", "scene", options)


@pytest.mark.parametrize("backend", ["sdxl", "sd"])
def test_diffusion_backgrounds_without_photos_fail_before_loading_weights(tmp_path, backend: str) -> None:
    """init=scene checks the backgrounds folder first: no weights (nor torch) needed to hear it is empty."""
    with pytest.raises(BackendUnavailable, match="no readable background photo"):
        build_backend("repaint", backend, {"backgrounds": str(tmp_path), "model": str(tmp_path / "absent")})


def test_procedural_scenes_deterministic_and_varied() -> None:
    assert len(PROCEDURAL_SCENES) >= 4
    for phrase in PROCEDURAL_SCENES:
        a = render_procedural(phrase, (160, 120), np.random.default_rng(3))
        b = render_procedural(phrase, (160, 120), np.random.default_rng(3))
        c = render_procedural(phrase, (160, 120), np.random.default_rng(4))
        assert a.shape == (120, 160, 3) and a.dtype == np.uint8
        assert np.array_equal(a, b)
        assert not np.array_equal(a, c)
        assert a.std() > 5  # textured, not a flat fill


def test_procedural_scene_matches_request() -> None:
    rng = np.random.default_rng(0)
    assert procedural_scene_for("at the seaside on the beach", rng) == "on a beach"
    assert procedural_scene_for("in a backyard", rng) == "in a garden"
    assert procedural_scene_for(None, rng) in PROCEDURAL_SCENES


@pytest.mark.parametrize("size", [SIZE, 1024])
def test_scene_inpainter_keeps_concepts_and_changes_background(size: int) -> None:
    request = _request(seed=5, size=size)
    result = SceneInpainter(SceneInpainter.Options(harmonize=0)).repaint(request)
    assert result.image.shape == request.composite.shape and result.image.dtype == np.uint8
    assert result.scene in PROCEDURAL_SCENES
    for mask in _masks(request):
        inside = _interior(mask)
        assert np.array_equal(result.image[inside], request.composite[inside])
    outside = sum(_masks(request)) == 0
    assert (result.image[outside] != 0).any(axis=-1).mean() > 0.95


def test_harmonize_changes_only_concept_pixels() -> None:
    request = _request(seed=2)
    plain = SceneInpainter(SceneInpainter.Options(harmonize=0, feather_px=0)).repaint(request).image
    tuned = SceneInpainter(SceneInpainter.Options(harmonize=1, feather_px=0)).repaint(request).image
    union = sum(_masks(request)) > 0
    assert np.array_equal(plain[~union], tuned[~union])
    assert not np.array_equal(plain[union], tuned[union])


def test_scene_inpainter_deterministic() -> None:
    inpainter = SceneInpainter()
    a = inpainter.repaint(_request(seed=11)).image
    b = SceneInpainter().repaint(_request(seed=11)).image
    c = inpainter.repaint(_request(seed=12)).image
    assert a.tobytes() == b.tobytes()
    assert a.tobytes() != c.tobytes()


def test_requested_scene_is_used() -> None:
    result = SceneInpainter().repaint(_request(scene="on a beach"))
    assert result.scene == "on a beach"


def test_shadow_darkens_just_below_a_box() -> None:
    request = _request(seed=3)
    lit = SceneInpainter(SceneInpainter.Options(harmonize=0, shadow_strength=0)).repaint(request).image
    shaded = SceneInpainter(SceneInpainter.Options(harmonize=0, shadow_strength=0.8)).repaint(request).image
    x0, _, x1, y1 = request.placements[0].bbox
    below = (slice(y1 + 1, y1 + 4), slice(x0 + 10, x1 - 10))
    assert shaded[below].astype(int).sum() < 0.85 * lit[below].astype(int).sum()
    far = (slice(0, 20), slice(0, 20))
    assert np.array_equal(shaded[far], lit[far])


def test_scene_inpainter_uses_folder(tmp_path) -> None:
    (tmp_path / "kitchen_table").mkdir()
    Image.new("RGB", (400, 300), (180, 120, 60)).save(tmp_path / "kitchen_table" / "t.png")
    inpainter = SceneInpainter(SceneInpainter.Options(backgrounds=tmp_path, shadow_strength=0, harmonize=0))
    result = inpainter.repaint(_request())
    assert result.scene == "on a kitchen table"
    assert result.info["background"] == "kitchen_table/t.png"
    assert tuple(result.image[2, 2]) == (180, 120, 60)
    assert "backgrounds_sha256" in inpainter.identity()


def test_missing_backgrounds_folder_is_a_config_error(tmp_path) -> None:
    with pytest.raises(ValueError, match="backgrounds"):
        SceneInpainter.Options(backgrounds=tmp_path / "nope")
    for backend in ("scene", "sdxl", "sd"):
        overrides = [f"repaint.backend={backend}", f"repaint.backgrounds={tmp_path / 'nope'}"]
        with pytest.raises(ConfigError, match=r"repaint\.backgrounds.*does not exist"):
            load_config(overrides=overrides)


@pytest.mark.parametrize("backend", ["sdxl", "sd"])
@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("strength", "1.5"),
        ("strength", "0"),
        ("steps", "0"),
        ("refiner_from", "1"),
        ("guidance", "-1"),
        ("size", "16"),
        ("batch_size", "0"),
        ("device", "gpu"),
        ("dtype", "fp8"),
        ("init", "photo"),
        ("prompt", "a photo {place}"),
    ],
)
def test_diffusion_option_out_of_range_is_a_config_error(backend: str, key: str, value: str) -> None:
    """`--set repaint.strength=1.5` / `repaint.steps=0` used to pass validation and die later with a ValueError."""
    with pytest.raises(ConfigError, match=rf"repaint\.{key}\b"):
        load_config(overrides=[f"repaint.backend={backend}", f"repaint.{key}={value}"])


def test_diffusion_options_in_range_are_valid() -> None:
    config = load_config(
        overrides=["repaint.backend=sdxl", "repaint.strength=1", "repaint.steps=1", "repaint.device=cuda:1"]
    )
    options = config.backend_options("repaint").model_dump()
    assert (options["strength"], options["steps"], options["device"]) == (1.0, 1, "cuda:1")


def test_soft_edge_has_no_black_halo(tmp_path) -> None:
    """A premultiplied soft edge blends between concept and scene colours, never towards black."""
    (tmp_path / "wall").mkdir()
    Image.new("RGB", (300, 300), (128, 128, 128)).save(tmp_path / "wall" / "grey.png")
    request = _request(seed=4)
    soft = cv2.GaussianBlur(_masks(request)[0], (0, 0), 2)
    request.instance_masks = [CanvasMask((0, 0, SIZE, SIZE), mask_to_u8(soft)).tight()]
    request.placements = request.placements[:1]
    colour = np.float32([200, 60, 40])
    request.composite = (colour * soft[..., None] + 0.5).astype(np.uint8)
    options = SceneInpainter.Options(backgrounds=tmp_path, harmonize=0, shadow_strength=0)
    image = SceneInpainter(options).repaint(request).image.astype(int)
    edge = (soft > 0.05) & (soft < 0.95)
    low, high = np.minimum(colour, 128) - 2, np.maximum(colour, 128) + 2
    assert ((image[edge] >= low) & (image[edge] <= high)).all()


def test_noise_inpainter() -> None:
    request = _request(seed=9)
    result = NoiseInpainter().repaint(request)
    assert result.scene == "on a plain background"
    assert result.image.shape == request.composite.shape
    for mask in _masks(request):
        inside = _interior(mask)
        assert np.array_equal(result.image[inside], request.composite[inside])
    outside = sum(_masks(request)) == 0
    assert result.image[outside].std() > 20
    assert NoiseInpainter().repaint(request).image.tobytes() == result.image.tobytes()
    assert NoiseInpainter().repaint(_request(scene="in a garden")).scene == "in a garden"


@pytest.mark.parametrize("backend", [SceneInpainter, NoiseInpainter])
def test_repaint_depends_on_the_masks_not_on_their_crops(backend) -> None:
    """The same masks as whole-canvas arrays or as tight crops (what the compose stage writes): the same image."""
    request = _request(seed=6)
    request.instance_masks = [
        CanvasMask((0, 0, SIZE, SIZE), mask_to_u8(cv2.GaussianBlur(m, (0, 0), 3))) for m in _masks(request)
    ]
    whole = backend().repaint(request).image
    request.instance_masks = [m.tight() for m in request.instance_masks]
    assert all(m.values.size < SIZE * SIZE // 4 for m in request.instance_masks)
    assert backend().repaint(request).image.tobytes() == whole.tobytes()
