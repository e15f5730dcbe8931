"""Shared fixtures: synthetic concept photos (no ../shared, no network) and a fast run config."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

os.environ.setdefault("HF_HUB_OFFLINE", "1")

FAST = ["compose.canvas=256", "batch_size=4"]


def live_processes() -> dict[int, list[str]]:
    """Every process in /proc that is not a zombie: pid -> the fields of its ``stat`` after the command name
    (state, ppid, pgrp, ...)."""
    found = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if fields[0] != "Z":
                found[int(entry.name)] = fields
    return found


def object_photo(seed: int, colour: tuple[int, int, int], size: tuple[int, int] = (200, 160)) -> np.ndarray:
    """A textured coloured blob in the middle of a busy, differently coloured background."""
    rng = np.random.default_rng(seed)
    width, height = size
    yy, xx = np.mgrid[0:height, 0:width]
    background = np.stack(
        [
            90 + 60 * np.sin(xx / (7 + seed)) + rng.normal(0, 12, (height, width)),
            140 + 40 * np.cos(yy / 9) + rng.normal(0, 12, (height, width)),
            80 + 30 * np.sin((xx + yy) / 13) + rng.normal(0, 12, (height, width)),
        ],
        axis=-1,
    )
    cx, cy = width * (0.45 + 0.1 * rng.random()), height * (0.5 + 0.05 * rng.random())
    rx, ry = width * 0.22, height * 0.3
    inside = ((xx - cx) / rx) ** 2 + ((yy - cy) / ry) ** 2 <= 1.0
    foreground = np.asarray(colour, dtype=np.float64) + rng.normal(0, 8, (height, width, 3))
    image = np.where(inside[..., None], foreground, background)
    return np.clip(image, 0, 255).astype(np.uint8)


def write_concepts(
    root: Path, concepts: dict[str, int], colours: dict[str, tuple[int, int, int]] | None = None
) -> Path:
    """``root/<concept>/photo_<k>.jpg`` for each concept with the given number of photos."""
    palette = [(220, 40, 40), (40, 60, 220), (240, 220, 40), (230, 120, 230), (250, 250, 250)]
    for index, (name, count) in enumerate(concepts.items()):
        colour = (colours or {}).get(name, palette[index % len(palette)])
        for k in range(count):
            path = root / name / f"photo_{k}.jpg"
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(object_photo(index * 10 + k, colour)).save(path, quality=92)
    return root


@pytest.fixture
def src(tmp_path: Path) -> Path:
    """A one-composition input folder: a cat (2 photos), a dog and a house plant."""
    return write_concepts(tmp_path / "src", {"cat": 2, "dog2": 1, "house_plant": 1})
