"""The demo's inputs: the shipped photos, their credits, the layout `gen4gen demo` runs on."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from PIL import Image

from gen4gen.demo import COMPOSITIONS, PHOTOS, write_demo_inputs


def test_write_demo_inputs_lays_out_every_composition(tmp_path: Path) -> None:
    root = write_demo_inputs(tmp_path / "inputs")
    assert sorted(p.name for p in root.iterdir()) == sorted(COMPOSITIONS)
    for composition, concepts in COMPOSITIONS.items():
        assert 2 <= len(concepts) <= 3
        assert sorted(p.name for p in (root / composition).iterdir()) == sorted(concepts)
        for concept in concepts:
            assert sorted(p.name for p in (root / composition / concept).iterdir()) == sorted(PHOTOS[concept])
    first = {p: p.read_bytes() for p in root.rglob("*.jpg")}
    assert len(first) == sum(len(PHOTOS[c]) for cs in COMPOSITIONS.values() for c in cs)
    write_demo_inputs(root)  # idempotent: same files, same bytes
    assert {p: p.read_bytes() for p in root.rglob("*.jpg")} == first


def test_shipped_photos_are_small_and_credited() -> None:
    data = resources.files("gen4gen").joinpath("data", "demo")
    credits = data.joinpath("CREDITS.md").read_text(encoding="utf-8")
    assert "CC-BY-4.0" in credits or "Creative Commons Attribution 4.0" in credits
    total = 0
    for concept, names in PHOTOS.items():
        for name in names:
            photo = data.joinpath(concept, name)
            total += len(photo.read_bytes())
            assert f"`{concept}/{name}`" in credits
            with Image.open(photo) as image:
                assert image.format == "JPEG" and max(image.size) <= 512
    assert total < 1_500_000
