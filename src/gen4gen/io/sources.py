"""Reading the input folder: ``SRC/<concept>/<photos>`` or ``SRC/<composition>/<concept>/<photos>``.

A composition is a set of concepts that appear together in every sample. Concept names come from folder names:
``cat`` -> "cat", ``dog2`` -> "dog", ``house_plant`` -> "house plant".
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

from gen4gen.errors import SourceError
from gen4gen.io.images import IMAGE_SUFFIXES

SIDECAR_MASK = re.compile(r"(_mask|\.mask)$", re.IGNORECASE)


@dataclass
class Concept:
    folder: str  # folder name, unique inside its composition ("dog2")
    name: str  # display name ("dog")
    photos: list[Path] = field(default_factory=list)


@dataclass
class Composition:
    id: str  # folder name for nested layouts, else the concept folders joined by '+'
    concepts: list[Concept]


@dataclass
class SourceScan:
    compositions: list[Composition]
    problems: list[str]  # one-line messages about skipped files and folders


def concept_name(folder: str) -> str:
    """Display name from a folder name: separators to spaces, trailing counters dropped, lower-cased."""
    name = unicodedata.normalize("NFC", folder)
    name = re.sub(r"[_\-.]+", " ", name).strip()
    name = re.sub(r"\s*\(?\d+\)?$", "", name).strip()
    name = re.sub(r"\s+", " ", name)
    return name.lower() or folder


def is_photo(path: Path) -> bool:
    return (
        path.is_file()
        and not path.name.startswith(".")
        and path.suffix.lower() in IMAGE_SUFFIXES
        and not SIDECAR_MASK.search(path.stem)
    )


def _listing(folder: Path) -> tuple[list[Path], list[Path], list[Path]]:
    """(photos, sub-folders, other files) of a folder, sorted by name for a stable order."""
    photos, folders, others = [], [], []
    for entry in sorted(folder.iterdir(), key=lambda p: p.name):
        if entry.name.startswith(".") or entry.name == "masks":
            continue
        if entry.is_dir():
            folders.append(entry)
        elif is_photo(entry):
            photos.append(entry)
        elif entry.is_file() and not SIDECAR_MASK.search(entry.stem):
            others.append(entry)
    return photos, folders, others


def ensure_outside(src: Path, out: Path) -> None:
    """Refuse an output folder inside the input folder: outputs would overwrite photos or be read as photos."""
    if out.resolve().is_relative_to(src.resolve()):
        raise SourceError(f"{out}: the output folder is inside the input folder {src}; choose an --out outside it")


def scan_sources(src: Path) -> SourceScan:
    """Find the compositions and concept photos under ``src``; raise SourceError when nothing is usable."""
    if not src.exists():
        raise SourceError(f"{src}: no such folder; give a folder laid out as SRC/<concept>/<photos>")
    if not src.is_dir():
        raise SourceError(f"{src}: not a folder; give a folder laid out as SRC/<concept>/<photos>")
    problems: list[str] = []
    top_photos, top_folders, _ = _listing(src)
    if top_photos:
        problems.append(f"{src}: {len(top_photos)} photo(s) directly in SRC ignored; put them in SRC/<concept>/")
    nested = [f for f in top_folders if _listing(f)[1] and not _listing(f)[0]]
    compositions: list[Composition] = []
    if nested and len(nested) == len(top_folders):
        for folder in top_folders:
            concepts = _concepts(folder, problems)
            if concepts:
                compositions.append(Composition(folder.name, concepts))
    else:
        for folder in nested:
            problems.append(
                f"{folder}: holds sub-folders but no photos; skipped (mixing layouts is not supported)"
            )
        concepts = _concepts(src, problems, skip=set(nested))
        if concepts:
            compositions.append(Composition("+".join(c.folder for c in concepts), concepts))
    if not compositions:
        detail = f" ({problems[-1]})" if problems else ""
        raise SourceError(
            f"{src}: no concept photos found{detail}; expected SRC/<concept>/<photos> or "
            "SRC/<composition>/<concept>/<photos> with JPEG/PNG/WebP files"
        )
    return SourceScan(compositions, problems)


def _concepts(folder: Path, problems: list[str], skip: set[Path] | None = None) -> list[Concept]:
    concepts = []
    for sub in _listing(folder)[1]:
        if skip and sub in skip:
            continue
        photos, _, others = _listing(sub)
        for other in others:
            problems.append(f"{other}: not an image file (by its extension); ignored")
        if not photos:
            problems.append(f"{sub}: concept folder with no images; skipped (add JPEG/PNG/WebP photos)")
            continue
        concepts.append(Concept(sub.name, concept_name(sub.name), photos))
    return concepts
