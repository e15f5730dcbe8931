"""Image decoding: every odd photo a user may have is either handled correctly or refused with a clear reason."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from gen4gen.io.images import ImageError, encode_png, load_image, load_mask


def _save(path: Path, image: Image.Image, **kwargs: object) -> Path:
    image.save(path, **kwargs)
    return path


def test_rgb_jpeg_png_webp(tmp_path: Path) -> None:
    rgb = np.random.default_rng(0).integers(0, 255, (20, 30, 3), dtype=np.uint8)
    for ext in ("png", "webp"):
        loaded = load_image(
            _save(tmp_path / f"a.{ext}", Image.fromarray(rgb), **({"lossless": True} if ext == "webp" else {}))
        )
        assert np.array_equal(loaded.rgb, rgb) and loaded.alpha is None
    loaded = load_image(_save(tmp_path / "a.jpg", Image.fromarray(rgb)))
    assert loaded.rgb.shape == (20, 30, 3)


def test_grayscale_palette_cmyk_16bit(tmp_path: Path) -> None:
    gray = np.tile(np.arange(40, dtype=np.uint8) * 6, (10, 1))
    assert load_image(_save(tmp_path / "g.png", Image.fromarray(gray))).rgb[:, :, 1].tolist() == gray.tolist()
    palette = Image.fromarray(np.stack([gray] * 3, -1)).convert("P")
    assert load_image(_save(tmp_path / "p.png", palette)).rgb.shape == (10, 40, 3)
    cmyk = Image.new("CMYK", (8, 8), (0, 255, 255, 0))  # pure red in CMYK
    red = load_image(_save(tmp_path / "c.jpg", cmyk)).rgb
    assert red[4, 4, 0] > 200 and red[4, 4, 1] < 60
    deep = (np.arange(64, dtype=np.uint16).reshape(8, 8) * 1000).astype(np.uint16)
    loaded = load_image(_save(tmp_path / "d.png", Image.fromarray(deep)))
    assert loaded.rgb.dtype == np.uint8 and loaded.rgb.max() > 200 and loaded.rgb.min() == 0


def test_alpha_kept_only_when_real(tmp_path: Path) -> None:
    rgba = np.zeros((10, 10, 4), np.uint8)
    rgba[..., 3] = 255
    assert load_image(_save(tmp_path / "opaque.png", Image.fromarray(rgba))).alpha is None
    rgba[:5, :, 3] = 0
    alpha = load_image(_save(tmp_path / "cut.png", Image.fromarray(rgba))).alpha
    assert alpha is not None and alpha[0, 0] == 0 and alpha[9, 9] == 255


def test_exif_orientation_applied(tmp_path: Path) -> None:
    image = Image.fromarray(np.zeros((10, 30, 3), np.uint8))
    exif = image.getexif()
    exif[0x0112] = 6  # rotate 90° clockwise on display
    loaded = load_image(_save(tmp_path / "rot.jpg", image, exif=exif.tobytes()))
    assert loaded.rgb.shape[:2] == (30, 10)


@pytest.mark.parametrize(
    ("content", "reason"),
    [(b"", "empty file"), (b"not an image at all", "not a readable image")],
)
def test_bad_files_named_with_reason(tmp_path: Path, content: bytes, reason: str) -> None:
    path = tmp_path / "bad photo + ü.jpg"
    path.write_bytes(content)
    with pytest.raises(ImageError, match=reason) as info:
        load_image(path)
    assert str(path) in str(info.value) and "\n" not in str(info.value)


def test_truncated_file(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    Image.fromarray(np.random.default_rng(1).integers(0, 255, (200, 200, 3), dtype=np.uint8)).save(buffer, "PNG")
    path = tmp_path / "cut.png"
    path.write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])
    with pytest.raises(ImageError, match="damaged or truncated"):
        load_image(path)


def test_huge_images_downscaled_and_bombs_refused(tmp_path: Path) -> None:
    path = _save(tmp_path / "big.png", Image.new("RGB", (400, 300), (10, 20, 30)))
    loaded = load_image(path, max_pixels=10_000)
    assert loaded.downscaled_from == (400, 300)
    assert loaded.rgb.shape[0] * loaded.rgb.shape[1] <= 10_000
    # A 1-bit PNG whose header claims 30000 x 30000 pixels (900 MP) is refused before decoding.
    bomb = _save(tmp_path / "bomb.png", Image.new("1", (30000, 30000)))
    with pytest.raises(ImageError, match="too large"):
        load_image(bomb)


def test_png_bytes_are_deterministic(tmp_path: Path) -> None:
    rgb = np.random.default_rng(2).integers(0, 255, (16, 16, 3), dtype=np.uint8)
    assert encode_png(rgb) == encode_png(rgb.copy())
    mask_path = tmp_path / "m.png"
    mask_path.write_bytes(encode_png(np.full((4, 6), 255, np.uint8)))
    assert load_mask(mask_path, (12, 8)).shape == (8, 12)
