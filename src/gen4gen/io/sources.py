"""Reading the input folder: ``SRC/<concept>/<photos>`` or ``SRC/<composition>/<concept>/<photos>``.

A composition is a set of concepts that appear together in every sample. Concept names come from folder names:
``cat`` -> "cat", ``dog2`` -> "dog", ``house_plant`` -> "house plant".
"""

from __future__ import annotations

import errno
import re
import stat
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

from gen4gen.errors import ConfigError, SourceError
from gen4gen.io.images import IMAGE_SUFFIXES

HINTS_SUFFIX = ".hints.json"  # a photo's side-car segmentation hints, read by the segment stage
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


def shown(path: Path | str) -> str:
    """``path`` as printable text: bytes that are not UTF-8 appear as ``\\xNN`` escapes."""
    return str(path).encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def _utf8(name: str) -> bool:
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


@dataclass
class _Listing:
    photos: list[Path] = field(default_factory=list)
    folders: list[Path] = field(default_factory=list)
    others: list[Path] = field(default_factory=list)  # regular files that are not images
    problems: list[str] = field(default_factory=list)  # entries skipped, one line each


def _listing(folder: Path, masks_folder_ok: bool = False) -> _Listing:
    """Photos, sub-folders and other files of ``folder``, sorted by name for a stable order, and one line for
    every entry skipped for a reason the user may not expect.

    ``masks_folder_ok``: a ``masks`` sub-folder holds side-car masks (concept folders); elsewhere a folder of
    that name is reported, never read as a concept.
    """
    found = _Listing()
    sidecars: list[Path] = []
    for entry in sorted(folder.iterdir(), key=lambda p: p.name):
        name = entry.name
        if name.startswith("."):
            continue
        if not _utf8(name):
            found.problems.append(f"{shown(entry)}: the name is not valid UTF-8; skipped (rename it)")
            continue
        try:
            mode = entry.stat().st_mode
        except OSError as exc:
            if entry.is_symlink():
                why = "a symbolic link loop" if exc.errno == errno.ELOOP else "a dangling symbolic link"
                found.problems.append(f"{entry}: {why}; skipped (fix or remove the link)")
            else:
                found.problems.append(f"{entry}: unreadable ({exc.strerror}); skipped")
            continue
        if stat.S_ISDIR(mode):
            if name == "masks":
                if not masks_folder_ok:
                    found.problems.append(
                        f"{entry}: a folder named 'masks' holds side-car masks, not a concept; skipped "
                        "(rename it to use it as a concept)"
                    )
                continue
            found.folders.append(entry)
        elif not stat.S_ISREG(mode):
            kind = "a FIFO" if stat.S_ISFIFO(mode) else "a socket" if stat.S_ISSOCK(mode) else "a device"
            found.problems.append(f"{entry}: not a regular file ({kind}); skipped")
        elif entry.suffix.lower() not in IMAGE_SUFFIXES:
            found.others.append(entry)
        elif SIDECAR_MASK.search(entry.stem):
            sidecars.append(entry)
        else:
            found.photos.append(entry)
    stems = {p.stem.lower() for p in found.photos}
    for sidecar in sidecars:
        partner = SIDECAR_MASK.sub("", sidecar.stem)
        if partner.lower() not in stems:
            found.problems.append(
                f"{sidecar}: named like the side-car mask of a photo {partner!r} that is not there; skipped "
                "(rename it if it is a photo)"
            )
    return found


def ensure_outside(src: Path, out: Path) -> None:
    """Refuse an output folder inside the input folder (outputs would be read as photos) and an input folder
    inside the output folder (gen4gen manages everything under ``--out``); both are usage errors."""
    src_at, out_at = src.resolve(), out.resolve()
    if out_at.is_relative_to(src_at):
        raise ConfigError(
            f"--out {out}: inside the input folder {src}, where outputs would be read as photos; "
            "choose an --out outside SRC"
        )
    if src_at.is_relative_to(out_at):
        raise ConfigError(
            f"{src}: the input folder is inside --out {out}, which gen4gen manages; "
            "move SRC elsewhere or choose another --out"
        )


def scan_sources(src: Path) -> SourceScan:
    """Find the compositions and concept photos under ``src``; raise SourceError when nothing is usable.

    Every entry skipped for a reason the user may not expect (a name that is not UTF-8, a FIFO, a dangling or
    looping symbolic link, a folder named ``masks`` where a concept is expected, a side-car mask without its
    photo, a file that is not an image) is reported in ``problems``, one line each.
    """
    if not src.exists():
        raise SourceError(f"{src}: no such folder; give a folder laid out as SRC/<concept>/<photos>")
    if not src.is_dir():
        raise SourceError(f"{src}: not a folder; give a folder laid out as SRC/<concept>/<photos>")
    if not _utf8(str(src.resolve())):
        raise SourceError(f"{shown(src.resolve())}: the path is not valid UTF-8; rename it or copy the photos")
    problems: list[str] = []
    top = _listing(src)
    if top.photos:
        problems.append(f"{src}: {len(top.photos)} photo(s) directly in SRC ignored; put them in SRC/<concept>/")
    listings = {f: _listing(f, masks_folder_ok=True) for f in top.folders}
    nested = [f for f in top.folders if listings[f].folders and not listings[f].photos]
    compositions: list[Composition] = []
    if nested and len(nested) == len(top.folders):
        problems.extend(top.problems)
        for folder in top.folders:
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
    """The concept folders of ``folder`` (each reported problem of it and of them added to ``problems``)."""
    concepts = []
    listing = _listing(folder)
    problems.extend(listing.problems)
    for sub in listing.folders:
        if skip and sub in skip:
            continue
        inside = _listing(sub, masks_folder_ok=True)
        problems.extend(inside.problems)
        for other in inside.others:
            if not other.name.lower().endswith(HINTS_SUFFIX):  # segmentation hints (docs/review.md)
                problems.append(f"{other}: not an image file (by its extension); ignored")
        if not inside.photos:
            problems.append(f"{sub}: concept folder with no images; skipped (add JPEG/PNG/WebP photos)")
            continue
        concepts.append(Concept(sub.name, concept_name(sub.name), inside.photos))
    return concepts
