"""Masks the user already has: the photo's own alpha channel, else a side-car mask file next to the photo.

Side-car files are looked up in this order, in the photo's folder (``<stem>`` is the photo's name without its
suffix): ``<stem>_mask.png``, ``<stem>.mask.png``, ``masks/<stem>.png``. A side-car mask is read as grayscale
(or its alpha channel when it has one) and resized to the photo's size. This backend is the one exception to
"backends never touch files": reading the side-car is the whole point of it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from gen4gen.backends.base import ItemError, Photo, Segmenter
from gen4gen.io.images import ImageError, load_mask


def sidecar_candidates(photo_path: Path) -> list[Path]:
    """The side-car mask paths tried for ``photo_path``, in order."""
    folder, stem = photo_path.parent, photo_path.stem
    return [folder / f"{stem}_mask.png", folder / f"{stem}.mask.png", folder / "masks" / f"{stem}.png"]


class AlphaSegmenter(Segmenter):
    """Uses ``photo.alpha`` when present, else the first side-car mask found; never guesses."""

    name = "alpha"
    version = "1"

    def segment(self, photo: Photo) -> np.ndarray:
        height, width = photo.rgb.shape[:2]
        if photo.alpha is not None:
            mask = np.asarray(photo.alpha, dtype=np.float32)
            if mask.shape != (height, width):
                raise ItemError(f"{photo.path}: alpha channel is {mask.shape}, photo is {(height, width)}")
            if photo.alpha.dtype == np.uint8:
                mask = mask / 255.0
        else:
            candidates = sidecar_candidates(photo.path)
            found = next((path for path in candidates if path.is_file()), None)
            if found is None:
                names = ", ".join(str(path.relative_to(photo.path.parent)) for path in candidates)
                raise ItemError(
                    f"{photo.path}: no alpha channel and no side-car mask (looked for {names} in "
                    f"{photo.path.parent}); add one or use segment.backend=grabcut"
                )
            try:
                mask = load_mask(found, size=(width, height))
            except ImageError as exc:
                raise ItemError(str(exc)) from exc
        mask = np.clip(mask, 0.0, 1.0).astype(np.float32)
        if float(mask.max()) < 0.5:
            raise ItemError(f"{photo.path}: the given mask is empty (no pixel at least half opaque)")
        return mask
