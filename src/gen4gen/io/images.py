"""Image decoding that survives real photo folders, and atomic PNG writes.

Everything is normalised to RGB uint8 (+ an alpha channel when the file has a real one): EXIF orientation applied,
grayscale / palette / CMYK / 16-bit converted, oversized images downscaled (decompression bombs refused).
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from gen4gen.errors import ImageError
from gen4gen.geometry.boxes import IntBox
from gen4gen.geometry.masks import CanvasMask
from gen4gen.io.atomic import atomic_write_bytes

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff"}
MAX_PIXELS = 40_000_000  # larger images are downscaled to this many pixels on load
REFUSE_PIXELS = 400_000_000  # beyond this the header is not trusted at all (decompression bomb)
TRANSPARENT_BELOW = 128  # alpha under this counts as transparent
MIN_TRANSPARENT_SHARE = 0.01
"""An alpha channel is a real cut-out only when at least this share of the pixels (1%) is transparent (alpha
under 128): one pixel at 254, a palette with a transparent index used by a few pixels, or an opaque image saved
as RGBA is a photo, and is segmented like one."""


@dataclass
class LoadedImage:
    rgb: np.ndarray  # (H, W, 3) uint8
    alpha: np.ndarray | None  # (H, W) uint8 when the file has a real alpha channel (see has_real_alpha)
    downscaled_from: tuple[int, int] | None = None  # original (W, H) when the image was shrunk on load


def load_image(path: Path, max_pixels: int = MAX_PIXELS) -> LoadedImage:
    """Decode ``path`` to RGB uint8 (+alpha); raises :class:`ImageError` with a one-line reason."""
    if path.stat().st_size == 0:
        raise ImageError(f"{path}: empty file (0 bytes); replace or remove it")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            Image.MAX_IMAGE_PIXELS = REFUSE_PIXELS
            with Image.open(path) as source:
                im: Image.Image = source
                width, height = im.size
                if width * height > REFUSE_PIXELS:
                    raise ImageError(
                        f"{path}: {width}x{height} is too large to decode safely (decompression bomb?); "
                        "downscale it below 400 MP"
                    )
                downscaled = None
                if width * height > max_pixels:
                    # JPEG can decode directly at a reduced scale: cheap and bounded in memory.
                    scale = (max_pixels / (width * height)) ** 0.5
                    im.draft("RGB", (int(width * scale), int(height * scale)))
                    downscaled = (width, height)
                im.load()
                im = ImageOps.exif_transpose(im)
                im = _to_rgba_or_rgb(im)
                if downscaled is not None and im.width * im.height > max_pixels:
                    scale = (max_pixels / (im.width * im.height)) ** 0.5
                    im = im.resize(
                        (max(1, int(im.width * scale)), max(1, int(im.height * scale))), Image.Resampling.LANCZOS
                    )
    except ImageError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageError(
            f"{path}: too large to decode safely (decompression bomb?); downscale it below 400 MP"
        ) from exc
    except UnidentifiedImageError as exc:
        raise ImageError(
            f"{path}: not a readable image ({_short(exc)}); remove it or convert it to PNG/JPEG"
        ) from exc
    except (OSError, SyntaxError, ValueError) as exc:
        raise ImageError(f"{path}: damaged or truncated image ({_short(exc)}); re-export or remove it") from exc
    array = np.asarray(im)
    if array.shape[2] == 4:
        alpha = array[:, :, 3]
        rgb = np.ascontiguousarray(array[:, :, :3])
        return LoadedImage(rgb, alpha if has_real_alpha(alpha) else None, downscaled)
    return LoadedImage(np.ascontiguousarray(array), None, downscaled)


def has_real_alpha(alpha: np.ndarray) -> bool:
    """Whether an alpha channel makes the image a cut-out: a meaningful share of transparent pixels
    (:data:`MIN_TRANSPARENT_SHARE`), not a stray pixel below 255."""
    return float((alpha < TRANSPARENT_BELOW).mean()) >= MIN_TRANSPARENT_SHARE


def _to_rgba_or_rgb(im: Image.Image) -> Image.Image:
    """Any PIL mode -> 'RGB' or 'RGBA' (8 bits per channel)."""
    if im.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        return Image.fromarray(_to_u8(np.asarray(im, dtype=np.float64), im.mode)).convert("RGB")
    has_alpha = im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info)
    if im.mode == "CMYK":
        return im.convert("RGB")
    return im.convert("RGBA" if has_alpha else "RGB")


def _to_u8(array: np.ndarray, mode: str) -> np.ndarray:
    """A 16-bit, 32-bit integer or floating-point gray image as uint8.

    Integers: 8-bit values stay as they are; wider ones are scaled by the smallest full range that holds them
    (12-bit, 16-bit, 32-bit), so a 12-bit scan is not four bits too dark. Floats: [0, 1] data is taken as it is,
    anything else is stretched from its minimum (or 0) to its maximum; NaN and infinities become 0.
    """
    array = np.nan_to_num(array, nan=0.0, posinf=0.0, neginf=0.0)
    if mode == "F":
        low = min(0.0, float(array.min()))
        high = float(array.max())
        if low >= 0.0 and high <= 1.0:
            low, high = 0.0, 1.0
    else:
        low = 0.0
        peak = float(array.max())
        high = next((float(2**bits - 1) for bits in (8, 12, 16, 32) if peak <= 2**bits - 1), peak)
    scaled = (array - low) / max(high - low, 1e-12)
    return np.clip(scaled * 255.0 + 0.5, 0, 255).astype(np.uint8)


def _short(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text[:120]


def load_mask(path: Path, size: tuple[int, int] | None = None) -> np.ndarray:
    """A grayscale mask file as float32 in [0, 1], resized to ``size`` (W, H) if given."""
    return _load_gray(path, size).astype(np.float32) / 255.0


def load_canvas_mask(path: Path, box: IntBox | None, size: tuple[int, int]) -> CanvasMask:
    """An instance mask file as a uint8 crop on a ``size`` (W, H) canvas.

    The file covers ``box``; with ``box`` None it covers the whole canvas (runs composed before masks were
    cropped), and is cropped here to its pixels above 0. A file that does not fit its box raises ImageError.
    """
    if box is None:
        return CanvasMask((0, 0, *size), _load_gray(path, size)).tight()
    values = _load_gray(path)
    x0, y0, x1, y1 = box
    if values.shape != (y1 - y0, x1 - x0) or not (0 <= x0 <= x1 <= size[0] and 0 <= y0 <= y1 <= size[1]):
        raise ImageError(
            f"{path}: a {values.shape[1]}x{values.shape[0]} mask does not fit its box {list(box)} on a "
            f"{size[0]}x{size[1]} canvas; rerun `gen4gen compose`"
        )
    return CanvasMask(box, values)


def _load_gray(path: Path, size: tuple[int, int] | None = None) -> np.ndarray:
    """A grayscale (or alpha) mask file as uint8, resized to ``size`` (W, H) if given."""
    try:
        with Image.open(path) as source:
            im: Image.Image = ImageOps.exif_transpose(source)
            if im.mode in ("RGBA", "LA"):
                im = im.getchannel("A")
            im = im.convert("L")
            if size is not None and im.size != size:
                im = im.resize(size, Image.Resampling.BILINEAR)
            return np.asarray(im, dtype=np.uint8)
    except (OSError, UnidentifiedImageError, SyntaxError, ValueError) as exc:
        raise ImageError(f"{path}: unreadable mask ({_short(exc)}); re-export it as an 8-bit PNG") from exc


PNG_LEVEL = 1
"""zlib level of every PNG gen4gen writes: level 1 encodes a 1024² image in about 60% of level 3's time for about
6% more bytes (measured on the demo), and a fixed level keeps the bytes the same run to run."""


def encode_png(array: np.ndarray, level: int = PNG_LEVEL) -> bytes:
    """PNG bytes of a uint8 (H, W), (H, W, 3) or (H, W, 4) array, with no time-dependent chunks (same bytes)."""
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG", compress_level=level)
    return buffer.getvalue()


def save_png(path: Path, array: np.ndarray, level: int = PNG_LEVEL) -> str:
    """Atomically write ``array`` as PNG; returns the sha256 of the bytes written."""
    return atomic_write_bytes(path, encode_png(array, level))


def mask_to_u8(mask: np.ndarray) -> np.ndarray:
    """float [0, 1] -> uint8 [0, 255], rounded."""
    return np.clip(mask * 255.0 + 0.5, 0, 255).astype(np.uint8)


PREVIEW_SIDE = 256
"""Longest side of the JPEG preview written beside each finished image (report, contact sheet, review grid)."""


def encode_preview(array: np.ndarray, side: int = PREVIEW_SIDE, quality: int = 85) -> bytes:
    """JPEG bytes of a uint8 RGB image shrunk to fit ``side`` px: the same bytes for the same pixels, so a
    preview can be written by whichever process holds the decoded image."""
    image = Image.fromarray(array)
    scale = min(1.0, side / max(image.size))
    if scale < 1.0:
        size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
        image = image.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()
