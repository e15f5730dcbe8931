"""What ``gen4gen eval`` scores: the images (``IMAGES/metadata.jsonl``) and the concepts (``SPEC``).

``IMAGES/metadata.jsonl`` has one JSON object per line: ``file_name`` (relative to IMAGES), ``text`` (the prompt),
``concepts`` (the names of the concepts the image should show, repeated names allowed), optional ``background``
(the scene part of the prompt) and optional ``objects`` (``[{concept, bbox: [x0, y0, x1, y1]}]``, the boxes
``eval.boxes=given`` uses). A gen4gen run folder's own ``metadata.jsonl`` fits as it is: without ``concepts``, the
objects name them (``concept_id``, else ``name``), and ``scene`` is the background.

``SPEC`` is a YAML or JSON file ``{concepts: {NAME: {class: WORD, references: PATH_OR_LIST}}}`` (a folder of
reference images or a list of image files, relative to the file), or a gen4gen run folder: each concept
(``concept_id``, its folder) with its display name as the class word and its source photos — or, with
``eval.references=cutouts``, its cut-outs — as references.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from gen4gen.errors import ConfigError, SourceError
from gen4gen.evaluate.metrics import Box
from gen4gen.io.sources import is_photo

METADATA = "metadata.jsonl"
MANIFEST = "manifest.sqlite"


@dataclass(frozen=True)
class ConceptSpec:
    """One concept: its name, the class word the detector is asked for, and its reference images."""

    name: str
    word: str
    references: tuple[Path, ...]


@dataclass(frozen=True)
class Spec:
    source: Path  # the SPEC file or run folder
    concepts: dict[str, ConceptSpec]


@dataclass(frozen=True)
class EvalImage:
    """One generated image to score, as its metadata line describes it."""

    file_name: str  # relative to IMAGES, as written in metadata.jsonl
    path: Path
    concepts: tuple[str, ...]  # one entry per concept slot (repeats allowed)
    text: str
    background: str | None
    boxes: tuple[Box | None, ...] | None = None  # given boxes, one per slot; None when the line has no objects
    line: int = 0

    def record(self) -> dict[str, Any]:
        """Everything of the metadata line that changes its scores (for the resume fingerprint)."""
        return {
            "concepts": list(self.concepts),
            "text": self.text,
            "background": self.background,
            "boxes": None if self.boxes is None else [None if b is None else list(b) for b in self.boxes],
        }


@dataclass
class ImageSet:
    root: Path
    images: list[EvalImage]
    problems: list[str] = field(default_factory=list)  # one-line messages about lines that were skipped


# ------------------------------------------------------------------------------------------------------ SPEC
class _Entry(BaseModel):
    model_config = ConfigDict(extra="forbid")
    word: str = Field(alias="class", min_length=1)
    references: str | list[str] = Field(min_length=1)


class _SpecFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    concepts: dict[str, _Entry] = Field(min_length=1)


def read_spec(path: Path, references: str = "photos") -> Spec:
    """The concepts of a SPEC file or run folder; a ConfigError naming the file (and key) when unusable."""
    if path.is_dir():
        if not (path / MANIFEST).is_file():
            raise ConfigError(
                f"{path}: --concepts is a folder without {MANIFEST}; give a gen4gen run folder or a YAML/JSON "
                "file {concepts: {NAME: {class: WORD, references: PATH}}}"
            )
        return _spec_from_run(path, references)
    if references == "cutouts":
        raise ConfigError(f"eval.references=cutouts needs a gen4gen run folder as --concepts, not the file {path}")
    return _spec_from_file(path)


def _spec_from_file(path: Path) -> Spec:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the concepts file ({exc.strerror}); check the path") from exc
    try:
        data = json.loads(text) if path.suffix.lower() == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        kind = "JSON" if path.suffix.lower() == ".json" else "YAML"
        raise ConfigError(f"{path}: not valid {kind} ({str(exc).splitlines()[0]})") from exc
    try:
        parsed = _SpecFile.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in error['loc']) or 'top level'}: {error['msg']}" for error in exc.errors()
        )
        raise ConfigError(
            f"{path}: {problems}; expected {{concepts: {{NAME: {{class: WORD, references: FOLDER_OR_LIST}}}}}}"
        ) from exc
    base = path.parent
    concepts = {}
    for name, entry in parsed.concepts.items():
        listed = [entry.references] if isinstance(entry.references, str) else entry.references
        files: list[Path] = []
        for item in listed:
            ref = (
                (base / item).expanduser()
                if not Path(item).expanduser().is_absolute()
                else Path(item).expanduser()
            )
            if ref.is_dir():
                found = sorted((p for p in ref.iterdir() if is_photo(p)), key=lambda p: p.name)
                if not found:
                    raise ConfigError(f"{path}: concepts.{name}.references: {ref} holds no images")
                files.extend(found)
            elif ref.is_file():
                files.append(ref)
            else:
                raise ConfigError(f"{path}: concepts.{name}.references: {ref} does not exist")
        concepts[name] = ConceptSpec(name, entry.word.strip(), tuple(dict.fromkeys(files)))
    return Spec(path, concepts)


def _spec_from_run(run_dir: Path, references: str) -> Spec:
    from gen4gen.manifest import DONE, Manifest
    from gen4gen.manifest.records import SegmentData, read

    with Manifest(run_dir) as manifest:
        src, raw = manifest.get_meta("src"), manifest.get_meta("compositions")
        segments = (
            [read(SegmentData, r) for r in manifest.records("segment", DONE)] if references == "cutouts" else []
        )
    if src is None or raw is None:
        raise ConfigError(f"{run_dir}: not a gen4gen run folder yet (no inputs recorded); run `gen4gen run` first")
    words: dict[str, str] = {}
    files: dict[str, list[Path]] = {}
    for composition in json.loads(raw):
        for concept in composition["concepts"]:
            words.setdefault(concept["folder"], concept["name"])
            files.setdefault(concept["folder"], [])
            if references == "photos":
                files[concept["folder"]].extend(Path(src) / p for p in concept["photos"])
    for segment in segments:
        words.setdefault(segment.folder, segment.concept)
        files.setdefault(segment.folder, []).append(run_dir / segment.cutout)
    concepts = {}
    for name, word in words.items():
        paths = tuple(dict.fromkeys(files[name]))
        if not paths:
            what = "cut-outs (run `gen4gen segment`)" if references == "cutouts" else "source photos"
            raise ConfigError(f"{run_dir}: concept {name!r} has no {what}")
        missing = next((p for p in paths if not p.is_file()), None)
        if missing is not None:
            hint = "rerun `gen4gen segment`" if references == "cutouts" else "use --set eval.references=cutouts"
            raise ConfigError(
                f"{run_dir}: reference {missing} of concept {name!r} is missing; {hint} or a SPEC file"
            )
        concepts[name] = ConceptSpec(name, word, paths)
    return Spec(run_dir, concepts)


# ---------------------------------------------------------------------------------------------------- IMAGES
def read_images(root: Path, spec: Spec, need_boxes: bool = False) -> ImageSet:
    """Every line of ``root/metadata.jsonl`` checked against ``spec``.

    A broken line (not JSON, no ``file_name`` or ``text``, a box that is not four numbers) is a
    :class:`SourceError` naming the line; a concept SPEC lacks is a :class:`ConfigError`; a line without concepts
    is skipped with a problem message.
    """
    metadata = root / METADATA
    if not metadata.is_file():
        raise SourceError(
            f"{metadata}: not found; IMAGES must hold a metadata.jsonl with one line per image (file_name, "
            "concepts, text, optional background), or be a gen4gen run folder"
        )
    try:
        lines = metadata.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise SourceError(f"{metadata}: unreadable ({exc}); rewrite it as UTF-8 JSON lines") from exc
    found = ImageSet(root, [])
    seen: set[str] = set()
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        image = _parse_line(metadata, number, line, spec, need_boxes)
        if image is None:
            found.problems.append(f"{metadata}:{number}: no concepts listed; skipped")
            continue
        if image.file_name in seen:
            raise SourceError(f"{metadata}:{number}: {image.file_name} is listed twice; keep one line per image")
        seen.add(image.file_name)
        found.images.append(image)
    if not found.images:
        raise SourceError(f"{metadata}: no images with concepts listed; nothing to score")
    return found


def _parse_line(metadata: Path, number: int, line: str, spec: Spec, need_boxes: bool) -> EvalImage | None:
    where = f"{metadata}:{number}"
    try:
        row = json.loads(line)
    except json.JSONDecodeError as exc:
        raise SourceError(f"{where}: not a JSON object ({exc.msg}); one object per line") from exc
    if not isinstance(row, dict):
        raise SourceError(f"{where}: not a JSON object; one object per line")
    file_name, text = row.get("file_name"), row.get("text")
    if not isinstance(file_name, str) or not file_name:
        raise SourceError(f"{where}: no file_name; every line names its image")
    if not isinstance(text, str):
        raise SourceError(f"{where}: no text (the prompt); every line needs one")
    background = row.get("background", row.get("scene"))
    if background is not None and not isinstance(background, str):
        raise SourceError(f"{where}: background must be text")
    objects = row.get("objects")
    if objects is not None and not isinstance(objects, list):
        raise SourceError(f"{where}: objects must be a list of {{concept, bbox}}")
    listed = row.get("concepts")
    parsed = [_object(where, o, spec) for o in objects or []]
    if listed is None:
        if objects is None:
            raise SourceError(f"{where}: no concepts (nor objects naming them); list the concepts the image shows")
        concepts = [name for name, _ in parsed]
    elif isinstance(listed, list) and all(isinstance(c, str) for c in listed):
        concepts = list(listed)
    else:
        raise SourceError(f"{where}: concepts must be a list of concept names")
    unknown = sorted({c for c in concepts if c not in spec.concepts})
    if unknown:
        known = ", ".join(sorted(spec.concepts))
        raise ConfigError(
            f"{where}: concept(s) {', '.join(unknown)} not in {spec.source} (it has: {known}); add them to the "
            "concepts SPEC"
        )
    if not concepts:
        return None
    boxes = None
    if objects is not None:
        pool: dict[str, list[Box | None]] = {}
        for name, box in parsed:
            pool.setdefault(name, []).append(box)
        boxes = tuple(pool[c].pop(0) if pool.get(c) else None for c in concepts)
    elif need_boxes:
        raise SourceError(f"{where}: eval.boxes=given needs objects with boxes ({{concept, bbox}}) on every line")
    return EvalImage(file_name, metadata.parent / file_name, tuple(concepts), text, background, boxes, number)


def _object(where: str, obj: Any, spec: Spec) -> tuple[str, Box | None]:
    """(concept name, box) of one ``objects`` entry; the name is the first of concept, concept_id, name in SPEC."""
    if not isinstance(obj, dict):
        raise SourceError(f"{where}: each object must be {{concept, bbox: [x0, y0, x1, y1]}}")
    names = [obj[k] for k in ("concept", "concept_id", "name") if isinstance(obj.get(k), str) and obj[k]]
    if not names:
        raise SourceError(f"{where}: an object names no concept (concept, concept_id or name)")
    name = next((n for n in names if n in spec.concepts), names[0])
    bbox = obj.get("bbox")
    if bbox is None:  # a concept that is not visible: its slot gets no crop
        return name, None
    if not _is_box(bbox):
        raise SourceError(f"{where}: object {name!r}: bbox must be [x0, y0, x1, y1] in pixels (or null)")
    x0, y0, x1, y1 = (float(v) for v in bbox)
    return name, (x0, y0, x1, y1)


def _is_box(value: Any) -> bool:
    return (
        isinstance(value, list | tuple)
        and len(value) == 4
        and all(isinstance(v, int | float) and not isinstance(v, bool) for v in value)
    )


def distinct(values: Iterable[str]) -> list[str]:
    """``values`` without repeats, in order of first appearance."""
    return list(dict.fromkeys(values))
