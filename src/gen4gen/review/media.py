"""Pictures the review page shows, made on demand and cached in ``RUN_DIR/.review/``.

Every cached file is named by a hash of what it is made from (the source files' paths, sizes and modification
times, and the kind of picture), so a remade sample or cut-out gets new pictures and nothing is ever stale. A
cache file is written to a temporary name and renamed, so concurrent requests never see half a file. Nothing here
takes a path from a request: the callers resolve sample and photo ids to the files their records name, and
:func:`inside` checks each path stays inside its folder (a symbolic link out of it is refused).
"""

from __future__ import annotations

import hashlib
import io
import os
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path, PurePosixPath

import numpy as np
from PIL import Image

from gen4gen.geometry.boxes import IntBox
from gen4gen.geometry.masks import CanvasMask
from gen4gen.io.atomic import TEMP_SUFFIX, temporary_prefix

CACHE = ".review"
THUMB_SIDE = 256
VIEW_SIDE = 1024  # longest side of the photo and masks shown in the cut-out view
PALETTE = (
    (255, 99, 71),
    (65, 105, 225),
    (50, 205, 50),
    (255, 215, 0),
    (218, 112, 214),
    (0, 206, 209),
    (255, 140, 0),
    (199, 21, 133),
)
MASK_TINT = (0, 170, 255)


class OutsideError(ValueError):
    """A file that resolves outside the folder it must be in."""


def relative_inside(root: Path, relative: str) -> Path:
    """``root / relative`` for a relative POSIX path without ``..`` (checked by its text: links inside
    ``root`` may point anywhere, as a photo folder's links do)."""
    parts = PurePosixPath(relative).parts
    if not relative or "\\" in relative or relative.startswith("/") or ".." in parts or ":" in parts[0]:
        raise OutsideError(f"{relative}: not a path inside {root}")
    return root.joinpath(*parts)


def inside(root: Path, relative: str | Path) -> Path:
    """``root / relative`` after checking that it resolves (links followed) inside ``root``."""
    base = root.resolve()
    path = (base / relative).resolve()
    if not path.is_relative_to(base):
        raise OutsideError(f"{relative}: not inside {root}")
    return path


class MediaCache:
    """Thumbnails, overlays and previews of one run folder."""

    def __init__(self, run_dir: Path) -> None:
        self.root = run_dir / CACHE

    def _name(self, kind: str, sources: Sequence[Path], extra: str = "") -> Path:
        digest = hashlib.sha256(kind.encode())
        for path in sources:
            info = path.stat()
            digest.update(f"\0{path}\0{info.st_size}\0{info.st_mtime_ns}".encode())
        digest.update(extra.encode())
        folder = "thumbs" if kind == "thumb" else kind
        suffix = ".jpg" if kind in ("thumb", "photo") else ".png"
        return self.root / folder / f"{digest.hexdigest()[:32]}{suffix}"

    def get(self, kind: str, sources: Sequence[Path], make: Callable[[], bytes], extra: str = "") -> Path:
        """The cached picture of ``kind`` made from ``sources`` (made by ``make`` the first time)."""
        target = self._name(kind, sources, extra)
        if not target.is_file():
            data = make()
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=temporary_prefix(target.name), suffix=TEMP_SUFFIX)
            try:
                with os.fdopen(fd, "wb") as handle:
                    handle.write(data)
                os.replace(tmp, target)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
        return target

    # ----------------------------------------------------------------------------------------------- makers
    def thumbnail(self, image: Path) -> Path:
        return self.get("thumb", [image], lambda: jpeg(_fit(_open_rgb(image), THUMB_SIDE), 82))

    def overlay(
        self,
        size: tuple[int, int],
        files: list[Path],
        boxes: list[IntBox | None],
        load: Callable[[], list[CanvasMask]],
    ) -> Path:
        """Every instance mask tinted in its own colour, on transparent, at the sample's size: ``load`` gives the
        masks, read from ``files`` (which cover ``boxes``)."""
        return self.get("overlay", files, lambda: png(instance_overlay(size, load())), extra=f"{size}{boxes}")

    def photo(self, path: Path, load: Callable[[], np.ndarray]) -> Path:
        """The photo as the cut-out view shows it (oriented, at most VIEW_SIDE)."""
        return self.get("photo", [path], lambda: jpeg(_fit(Image.fromarray(load()), VIEW_SIDE), 88))

    def cutout(self, photo: Path, mask: Path, load: Callable[[], np.ndarray]) -> Path:
        """A round's cut-out: the photo with the round's mask as alpha, at the view's size."""
        return self.get("cutout", [photo, mask], lambda: png(cutout_preview(load(), mask)))

    def tint(self, mask: Path) -> Path:
        """A mask as a translucent tint, at the view's size (drawn over the photo while fixing a cut-out)."""
        return self.get("tint", [mask], lambda: png(mask_tint(mask)))


def _open_rgb(path: Path) -> Image.Image:
    with Image.open(path) as im:
        return im.convert("RGB")


def _fit(image: Image.Image, side: int) -> Image.Image:
    image = image.copy()
    image.thumbnail((side, side), Image.Resampling.LANCZOS)
    return image


def view_size(size: tuple[int, int]) -> tuple[int, int]:
    """The size the cut-out view shows a photo of ``size`` (width, height) at."""
    width, height = size
    scale = min(1.0, VIEW_SIDE / max(width, height))
    return max(1, round(width * scale)), max(1, round(height * scale))


def jpeg(image: Image.Image, quality: int) -> bytes:
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()


def png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "PNG", compress_level=3)
    return buffer.getvalue()


def _mask(path: Path, size: tuple[int, int] | None = None) -> np.ndarray:
    with Image.open(path) as im:
        gray = im.convert("L")
        if size is not None and gray.size != size:
            gray = gray.resize(size, Image.Resampling.BILINEAR)
        return np.asarray(gray, dtype=np.uint8)


def instance_overlay(size: tuple[int, int], masks: list[CanvasMask]) -> Image.Image:
    width, height = size
    rgba = np.zeros((height, width, 4), np.uint8)
    for index, mask in enumerate(masks):
        x0, y0, x1, y1 = mask.box
        region, on = rgba[y0:y1, x0:x1], mask.values > 127
        region[on, :3] = PALETTE[index % len(PALETTE)]
        region[on, 3] = 120
    return Image.fromarray(rgba, "RGBA")


def cutout_preview(rgb: np.ndarray, mask_path: Path) -> Image.Image:
    size = view_size((int(rgb.shape[1]), int(rgb.shape[0])))
    photo = Image.fromarray(rgb).resize(size, Image.Resampling.LANCZOS) if size != rgb.shape[1::-1] else None
    pixels = np.asarray(photo) if photo is not None else rgb
    alpha = _mask(mask_path, size)
    return Image.fromarray(np.dstack([pixels, alpha]), "RGBA")


def mask_tint(mask_path: Path) -> Image.Image:
    with Image.open(mask_path) as im:
        size = view_size(im.size)
    alpha = _mask(mask_path, size)
    height, width = alpha.shape
    rgba = np.zeros((height, width, 4), np.uint8)
    rgba[..., :3] = MASK_TINT
    rgba[..., 3] = (alpha.astype(np.float32) * 0.45).astype(np.uint8)
    return Image.fromarray(rgba, "RGBA")
