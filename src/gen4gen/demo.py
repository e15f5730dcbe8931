"""Demo inputs from the photos scikit-image ships (no network): a cat, a cup, a motorbike, a rocket, an astronaut.

Three compositions, laid out as ``inputs/<composition>/<concept>/<photo>.png``; the motorbike has two photos
(scikit-image's stereo pair), as a user would give several photos of one concept.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from gen4gen.io.images import save_png


def demo_photos() -> dict[str, list[tuple[str, np.ndarray]]]:
    """Concept name -> [(photo stem, RGB uint8)], all from scikit-image's bundled data."""
    from skimage import data

    left, right, _ = data.stereo_motorcycle()
    return {
        "cat": [("chelsea", data.chelsea())],
        "cup": [("coffee", data.coffee())],
        "motorbike": [("motorcycle_left", left), ("motorcycle_right", right)],
        "rocket": [("rocket", data.rocket())],
        "astronaut": [("astronaut", data.astronaut())],
    }


COMPOSITIONS = {
    "cat+cup": ["cat", "cup"],
    "motorbike+cat": ["motorbike", "cat"],
    "astronaut+rocket+cup": ["astronaut", "rocket", "cup"],
}


def write_demo_inputs(root: Path) -> Path:
    """Write the demo input folder under ``root`` (idempotent: same bytes every time) and return it."""
    photos = demo_photos()
    for composition, concepts in COMPOSITIONS.items():
        for concept in concepts:
            for stem, rgb in photos[concept]:
                path = root / composition / concept / f"{stem}.png"
                if not path.exists():
                    save_png(path, rgb)
    return root
