"""Demo inputs from photos the package ships (no network): ten photos of seven DreamBooth subjects.

The photos live in ``gen4gen/data/demo/<concept>/NN.jpg`` (DreamBooth dataset, CC-BY-4.0; credits in
``gen4gen/data/demo/CREDITS.md``), downscaled to 512 px. They were chosen so that the weight-free segmenter cuts
each subject out whole: toys and objects that stand apart from their background, several photos for some
concepts, as a user would give them. Three compositions, laid out as
``inputs/<composition>/<concept>/<photo>.jpg``.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from gen4gen.io.atomic import atomic_write_bytes

PHOTOS = {
    "duck_toy": ["00.jpg", "01.jpg"],
    "bear_plushie": ["01.jpg", "03.jpg"],
    "robot_toy": ["03.jpg"],
    "rc_car": ["02.jpg", "04.jpg"],
    "dog": ["02.jpg"],
    "vase": ["02.jpg"],
    "clock": ["04.jpg"],
}

COMPOSITIONS = {
    "duck_toy+bear_plushie": ["duck_toy", "bear_plushie"],
    "robot_toy+rc_car": ["robot_toy", "rc_car"],
    "dog+vase+clock": ["dog", "vase", "clock"],
}


def demo_photos() -> dict[str, list[tuple[str, bytes]]]:
    """Concept name -> [(file name, JPEG bytes)], read from the package data."""
    root = resources.files("gen4gen").joinpath("data", "demo")
    return {
        concept: [(name, root.joinpath(concept, name).read_bytes()) for name in names]
        for concept, names in PHOTOS.items()
    }


def write_demo_inputs(root: Path) -> Path:
    """Write the demo input folder under ``root`` (idempotent: same bytes every time) and return it."""
    photos = demo_photos()
    for composition, concepts in COMPOSITIONS.items():
        for concept in concepts:
            for name, data in photos[concept]:
                path = root / composition / concept / name
                if not path.exists():
                    atomic_write_bytes(path, data)
    return root
