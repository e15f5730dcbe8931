"""The typed data each stage records for a finished item (``Record.data``), one pydantic model per stage.

A stage writes its model's ``model_dump(mode="json")``; readers validate it back with :func:`read`, so no module
reads another stage's dict keys. Fields added later have defaults, so run folders made by older versions load.
"""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import Annotated, Any, Literal, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, model_validator

from gen4gen.errors import ManifestError
from gen4gen.manifest.store import Record


def _inside(path: str) -> str:
    """A recorded path must stay inside the run folder: relative, POSIX, no '..' (a crafted manifest cannot make
    a stage read or write elsewhere)."""
    parts = PurePosixPath(path).parts
    if not path or "\\" in path or path.startswith("/") or ".." in parts or (parts and ":" in parts[0]):
        raise ValueError(f"{path!r} is not a path inside the run folder")
    return path


def _stem(text: str) -> str:
    if not text or "/" in text or "\\" in text or text in (".", ".."):
        raise ValueError(f"{text!r} is not a file stem")
    return text


RunPath = Annotated[str, AfterValidator(_inside)]
"""A path relative to the run folder, checked to stay inside it."""

Stem = Annotated[str, AfterValidator(_stem)]


class _Data(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RoundScore(_Data):
    score: float


class SegmentData(_Data):
    """One photo's cut-out: where its files are and how it was obtained."""

    source: str  # photo path relative to SRC
    source_sha256: str
    concept: str  # display name ("dog")
    folder: str  # concept folder ("dog2"), unique within its composition
    method: str  # backend name, or "alpha-channel"
    cutout: RunPath  # RGBA PNG cropped to content, relative to the run folder
    mask: RunPath  # chosen soft mask, full photo size
    bbox: tuple[int, int, int, int]  # of the mask in the photo
    size: tuple[int, int]  # photo (width, height) as segmented
    aspect: float  # cut-out width / height
    area: float  # foreground share of the photo
    rounds: list[RoundScore]
    chosen_round: int  # 1-based
    downscaled_from: tuple[int, int] | None = None


class ObjectData(_Data):
    """One concept instance placed in a sample."""

    name: str  # display name ("dog")
    folder: str  # concept folder ("dog2")
    concept_id: str = ""  # stable id of the concept within the run: its folder ("dog1" and "dog2" stay distinct)
    photo: str  # segment key of the photo whose cut-out was used
    bbox: tuple[int, int, int, int] | None  # visible box after occlusion, canvas pixels; None when hidden
    planned_bbox: tuple[int, int, int, int]
    depth: int  # 0 = farthest
    augment: dict[str, Any]
    visible: float  # visible share of the pasted cut-out
    mask: RunPath  # instance mask PNG, relative to the run folder
    mask_box: tuple[int, int, int, int] | None = None  # canvas box the mask PNG covers; None: the whole canvas

    @model_validator(mode="before")
    @classmethod
    def _default_concept_id(cls, data: Any) -> Any:
        if isinstance(data, dict) and not data.get("concept_id"):  # records made before concept ids existed
            data = {**data, "concept_id": data.get("folder")}
        return data


class ComposeData(_Data):
    """One sample's layout and composite (also for rejected tries, without files)."""

    composition: str
    sample_id: Stem  # file stem of the sample's files
    canvas: tuple[int, int]
    objects: list[ObjectData]
    scene: str | None
    notes: list[str] = Field(default_factory=list)
    provenance: dict[str, Any] = Field(default_factory=dict)
    composite: RunPath | None = None
    union_mask: RunPath | None = None  # runs composed before masks were cropped had a union file (now: no file)
    worst: str | None = None  # rejected: the most hidden concept


class RepaintData(_Data):
    image: RunPath  # finished image, relative to the run folder
    scene: str  # the scene phrase actually used
    preview: RunPath | None = None  # JPEG of the image, longest side PREVIEW_SIDE (report, contact sheet, review)
    info: dict[str, Any] = Field(default_factory=dict)


class CaptionData(_Data):
    text: str  # grounded caption
    raw: str  # the captioner's own text
    missing: list[str] = Field(default_factory=list)  # concepts the captioner did not name (added to ``text``)
    repaired: bool = False


class ScoreData(_Data):
    """One measured score of a check: its value and what it is about (the worst concept, photo or sample)."""

    value: float | None
    of: str | None = None


class CurateData(_Data):
    """What the curate stage measured on a cut-out or a sample: every score of every check (thresholds are
    applied when judging, so new thresholds re-judge without measuring again)."""

    kind: Literal["cutout", "sample"]
    scores: dict[str, dict[str, ScoreData]]  # check -> metric -> score
    phash: str | None = None  # sample: perceptual hash of the finished image (16 hex digits)
    cutouts: list[str] = Field(default_factory=list)  # sample: segment keys of the cut-outs it uses


D = TypeVar("D", bound=_Data)


def read(model: type[D], record: Record) -> D:
    """A record's data as ``model``; a ManifestError naming the record when it does not fit."""
    try:
        return model.model_validate(record.data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ManifestError(
            f"manifest record {record.stage}/{record.key}: {where}: {first['msg']}; rerun `gen4gen {record.stage}`"
        ) from exc
