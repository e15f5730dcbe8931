"""Scanning input folders: both layouts, concept names, and the problems reported."""

from __future__ import annotations

from pathlib import Path

import pytest

from gen4gen.io.sources import SourceError, concept_name, scan_sources


@pytest.mark.parametrize(
    ("folder", "name"),
    [("cat", "cat"), ("dog2", "dog"), ("house_plant", "house plant"), ("Teddy-Bear (3)", "teddy bear")],
)
def test_concept_names(folder: str, name: str) -> None:
    assert concept_name(folder) == name


def _touch(path: Path, data: bytes = b"x") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def test_single_composition(tmp_path: Path) -> None:
    _touch(tmp_path / "dog2" / "b.JPG")
    _touch(tmp_path / "dog2" / "a photo + ü.png")
    _touch(tmp_path / "dog2" / "a photo + ü_mask.png")  # side-car mask, not a photo
    _touch(tmp_path / "cat" / "notes.txt")
    _touch(tmp_path / "cat" / "c.webp")
    _touch(tmp_path / "empty" / ".hidden.jpg")
    scan = scan_sources(tmp_path)
    (comp,) = scan.compositions
    assert comp.id == "cat+dog2"
    assert [(c.folder, c.name, [p.name for p in c.photos]) for c in comp.concepts] == [
        ("cat", "cat", ["c.webp"]),
        ("dog2", "dog", ["a photo + ü.png", "b.JPG"]),
    ]
    assert any("notes.txt" in p for p in scan.problems)
    assert any("empty" in p and "no images" in p for p in scan.problems)


def test_several_compositions(tmp_path: Path) -> None:
    _touch(tmp_path / "pets" / "cat" / "1.jpg")
    _touch(tmp_path / "pets" / "dog" / "1.jpg")
    _touch(tmp_path / "desk" / "mug" / "1.jpg")
    scan = scan_sources(tmp_path)
    assert [(c.id, [k.name for k in c.concepts]) for c in scan.compositions] == [
        ("desk", ["mug"]),
        ("pets", ["cat", "dog"]),
    ]


def test_missing_or_empty_src(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="no such folder"):
        scan_sources(tmp_path / "nope")
    with pytest.raises(SourceError, match="no concept photos"):
        scan_sources(tmp_path)
    (tmp_path / "cat").mkdir()
    with pytest.raises(SourceError, match="no images"):
        scan_sources(tmp_path)
