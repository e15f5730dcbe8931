"""What a person decided about one photo's cut-out: a round to use, or hints to segment it with.

Both live in the manifest's append-only decisions table under the target ``photo:<segment key>`` (kinds
``round`` and ``hints``; the latest of each kind wins). Hints may also come from a side-car file beside the photo
in SRC: ``<photo name>.hints.json`` (``cat.jpg.hints.json``, that photo only) or ``<stem>.hints.json``
(``cat.hints.json``). Hints given in the review page win over a side-car; clearing them there (a ``null``
decision) falls back to the side-car, if any. The segment stage fingerprints what this module returns, so a
changed decision redoes exactly that photo and what was made from its cut-out.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from gen4gen.backends.segment.hints import Hints
from gen4gen.manifest import Manifest

HINTS, ROUND = "hints", "round"  # decision kinds about a photo
SIDECAR_SUFFIX = ".hints.json"
MAX_SIDECAR_BYTES = 4 * 1024 * 1024


def photo_target(key: str) -> str:
    """The decisions-table target of a photo (its segment key, relative to SRC)."""
    return f"photo:{key}"


@dataclass(frozen=True)
class Guidance:
    """A person's say on one photo: hints (validated, as JSON data) and/or a 1-based round choice."""

    hints: dict[str, Any] | None = None
    round: int | None = None
    source: str | None = None  # where the hints came from: "review" or the side-car's file name

    def fingerprint_part(self) -> dict[str, Any]:
        return {"hints": self.hints, "round": self.round}

    def parsed_hints(self) -> Hints | None:
        return None if self.hints is None else Hints.model_validate(self.hints)


def sidecar_paths(photo: Path) -> list[Path]:
    """Where a photo's side-car hints may be, the more specific first."""
    return [photo.with_name(photo.name + SIDECAR_SUFFIX), photo.with_name(photo.stem + SIDECAR_SUFFIX)]


def read_sidecar(photo: Path) -> tuple[Hints | None, Path | None, str | None]:
    """(hints, their file, problem): the first side-car of ``photo`` that exists; a broken one is a problem and
    gives no hints."""
    for path in sidecar_paths(photo):
        if not path.is_file():
            continue
        try:
            if path.stat().st_size > MAX_SIDECAR_BYTES:
                return None, path, f"{path}: larger than {MAX_SIDECAR_BYTES // 1024 // 1024} MiB; hints ignored"
            return Hints.model_validate(json.loads(path.read_text(encoding="utf-8"))), path, None
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            return None, path, f"{path}: not readable as JSON ({exc}); hints ignored"
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "hints"
            return None, path, f"{path}: {where}: {first['msg']}; hints ignored (see docs/review.md)"
    return None, None, None


def review_hints(value: Any) -> Hints | None:
    """A ``hints`` decision's value as Hints (None when cleared or not valid any more)."""
    if value is None:
        return None
    try:
        return Hints.model_validate(value)
    except ValidationError:
        return None


def photo_guidance(manifest: Manifest, key: str, photo: Path | None) -> tuple[Guidance | None, list[str]]:
    """The guidance for the photo with segment key ``key`` at ``photo`` (None: segment it automatically), and
    problems to report (a broken side-car)."""
    decisions = manifest.decisions(photo_target(key))
    problems: list[str] = []
    hints, source = None, None
    if HINTS in decisions and (reviewed := review_hints(decisions[HINTS].value)) is not None:
        hints, source = reviewed, "review"
    elif photo is not None:
        sidecar, path, problem = read_sidecar(photo)
        if problem:
            problems.append(problem)
        if sidecar is not None and path is not None:
            hints, source = sidecar, path.name
    chosen = decisions[ROUND].value if ROUND in decisions else None
    round_choice = chosen if isinstance(chosen, int) and not isinstance(chosen, bool) and chosen >= 1 else None
    if hints is None and round_choice is None:
        return None, problems
    data = hints.model_dump(mode="json") if hints is not None else None
    return Guidance(data, round_choice, source), problems
