"""Case 15: grayscale photos (8-bit, 16-bit, LA, float TIFF) segment about as well as their colour originals."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hostile_kit import cli
from PIL import Image

from gen4gen.backends.base import Photo
from gen4gen.backends.segment.grabcut import GrabCutSegmenter, lacks_chroma
from gen4gen.io.images import load_image, load_mask
from gen4gen.manifest import DONE, Manifest


def furry_photo(seed: int = 0, size: tuple[int, int] = (200, 160)) -> tuple[np.ndarray, np.ndarray]:
    """An orange furry blob on a smooth blue wall of the same brightness (in gray only its texture differs), and
    its true mask."""
    rng = np.random.default_rng(seed)
    width, height = size
    yy, xx = np.mgrid[0:height, 0:width]
    wall = np.stack([60 + 0.1 * xx, 150 + 0 * xx, 200 - 0.1 * yy], -1) + rng.normal(0, 3, (height, width, 3))
    inside = ((xx - width * 0.5) / (width * 0.22)) ** 2 + ((yy - height * 0.55) / (height * 0.3)) ** 2 <= 1
    fur = rng.normal(0, 35, (height, width))
    blob = np.stack([200 + fur, 120 + fur, 60 + fur], -1)
    weights = np.array([0.299, 0.587, 0.114])
    blob += float((wall @ weights).mean() - (blob @ weights).mean())
    return np.clip(np.where(inside[..., None], blob, wall), 0, 255).astype(np.uint8), inside


def gray_variants(rgb: np.ndarray, folder: Path) -> dict[str, Path]:
    """The photo as 8-bit gray, 16-bit gray, gray + alpha and a float TIFF, beside the colour original."""
    folder.mkdir(parents=True, exist_ok=True)
    gray = np.asarray(Image.fromarray(rgb).convert("L"))
    files = {
        "colour.png": Image.fromarray(rgb),
        "gray8.png": Image.fromarray(gray),
        "gray16.png": Image.fromarray(gray.astype(np.uint16) * 257),
        "gray_alpha.png": Image.fromarray(np.dstack([gray, np.full_like(gray, 255)]), "LA"),
        "gray_float.tif": Image.fromarray(gray.astype(np.float32) / 255.0, "F"),
    }
    for name, image in files.items():
        image.save(folder / name)
    return {name: folder / name for name in files}


def test_gray_photos_segment_like_their_colour_originals(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = tmp_path / "src"
    rgb, truth = furry_photo()
    paths = gray_variants(rgb, src / "dog")
    for path in paths.values():
        assert load_image(path).alpha is None  # an opaque alpha channel is no cut-out
    out = tmp_path / "cut"
    code, err = cli(capsys, "segment", src, "--out", out, "--set", "segment.rounds=1")
    assert code == 0 and "Traceback" not in err
    with Manifest(out) as manifest:
        records = {Path(r.key).name: r for r in manifest.records("segment", DONE)}
    assert set(records) == set(paths)  # none fails with "no foreground" or "no object"
    for name, record in records.items():  # the gray ones used to find nothing (IoU 0.00)
        mask = load_mask(out / record.data["mask"]) > 0.5
        iou = (mask & truth).sum() / (mask | truth).sum()
        assert iou > 0.9, (name, iou)


def test_chelsea_in_gray_is_found(tmp_path: Path) -> None:
    from skimage import data

    paths = gray_variants(data.chelsea(), tmp_path)
    gray = load_image(paths["gray8.png"]).rgb
    for name in ("gray16.png", "gray_alpha.png", "gray_float.tif"):  # every format decodes to the same pixels
        assert np.abs(load_image(paths[name]).rgb.astype(int) - gray).max() <= 1
    assert lacks_chroma(gray) and not lacks_chroma(data.chelsea())
    mask = GrabCutSegmenter().segment(Photo(gray, paths["gray8.png"], "cat"))
    area = float((mask > 0.5).mean())
    assert 0.3 < area < 0.6  # the cat's face (2.9% of the photo, its eyes, before luminance and texture cues)
