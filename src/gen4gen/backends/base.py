"""The one small interface per stage kind, and the data that crosses it.

Backends are pure: they receive arrays and plain data, return arrays and plain data, and never touch files or
the manifest (stages do). Every backend declares an ``Options`` pydantic model (its own config keys, unknown keys
rejected) and reports an ``identity()`` recorded with everything it produces.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Protocol

import numpy as np
from pydantic import BaseModel, ConfigDict

from gen4gen.errors import BackendUnavailable, ItemError  # noqa: F401


class BackendOptions(BaseModel):
    """Base class of every backend's options: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class ResponseCache(Protocol):
    """Key-value store for remote answers (the run's manifest implements it): reruns cost no calls."""

    def get(self, key: str) -> str | None: ...

    def put(self, key: str, value: str) -> None: ...


class Backend(ABC):
    """Common part of every backend: a registry name, an options model and an identity for provenance."""

    name: ClassVar[str]
    version: ClassVar[str] = "1"
    Options: ClassVar[type[BackendOptions]] = BackendOptions

    def __init__(self, options: BackendOptions | None = None) -> None:
        self.options = options if options is not None else self.Options()
        self.cache: ResponseCache | None = None  # set by the stage for backends that call remote services

    def __getstate__(self) -> dict[str, Any]:
        """Pickled for worker processes without the response cache (the run database stays in the main one)."""
        state = self.__dict__.copy()
        state["cache"] = None
        return state

    def identity(self) -> dict[str, Any]:
        """Name, version and options (plus model id/sha256 where a model is used) for the manifest."""
        return {"name": self.name, "version": self.version, "options": self.options.model_dump(mode="json")}


# ---------------------------------------------------------------------------------------------------- segment
@dataclass
class Photo:
    """One concept photo, decoded: RGB uint8 (H, W, 3), its alpha channel if it had a real one, its source path."""

    rgb: np.ndarray
    path: Path
    concept: str
    alpha: np.ndarray | None = None


class Segmenter(Backend):
    """Finds the concept in a photo.

    A segmenter that learns from all photos of a concept at once (co-segmentation: the concept is what the
    photos share) sets ``uses_concept_photos`` and implements :meth:`prepare`; the stage then calls ``prepare``
    with every photo of the concept before segmenting them one by one, and a photo's result depends on its
    siblings (their hashes are part of its fingerprint).
    """

    uses_concept_photos: ClassVar[bool] = False
    process_parallel: ClassVar[bool] = (
        True  # photos may be segmented in worker processes (False: one model, one process)
    )

    def prepare(self, photos: list[Photo]) -> None:
        """Learn from all photos of one concept before :meth:`segment` is called on each of them."""

    @abstractmethod
    def segment(self, photo: Photo) -> np.ndarray:
        """Soft foreground mask, float32 (H, W) in [0, 1], at the photo's resolution."""


# ---------------------------------------------------------------------------------------------------- compose
@dataclass(frozen=True)
class ConceptRequest:
    """One object to place: its concept name and the aspect ratio (w / h) of the cut-out chosen for it."""

    name: str
    aspect: float


@dataclass(frozen=True)
class Placement:
    """Where one concept goes: box (x0, y0, x1, y1) in canvas pixels, drawn in ``depth`` order (0 = farthest)."""

    name: str
    bbox: tuple[int, int, int, int]
    depth: int


@dataclass
class Layout:
    """A planner's answer: one placement per requested concept, plus how it was obtained."""

    placements: list[Placement]
    scene: str | None = None
    notes: list[str] = field(default_factory=list)
    provenance: dict[str, Any] = field(default_factory=dict)


@dataclass
class PlanJob:
    concepts: list[ConceptRequest]
    canvas: tuple[int, int]
    rng: np.random.Generator


class LayoutPlanner(Backend):
    """Decides where the concepts of a sample go on the canvas."""

    @abstractmethod
    def plan(self, concepts: list[ConceptRequest], canvas: tuple[int, int], rng: np.random.Generator) -> Layout:
        """One placement per concept, same order as ``concepts``; ``canvas`` is (width, height)."""

    def plan_batch(self, jobs: list[PlanJob]) -> list[Layout]:
        """Plan many samples; remote planners override this to run requests concurrently."""
        return [self.plan(job.concepts, job.canvas, job.rng) for job in jobs]

    def suggest_scenes(self, concept_names: list[str], rng: np.random.Generator) -> list[str]:
        """Scene phrases that suit these concepts ("in a garden"...); empty means the repainter decides."""
        return []


# ---------------------------------------------------------------------------------------------------- repaint
@dataclass
class RepaintRequest:
    """A composite to finish: RGB uint8 (H, W, 3) with the concepts pasted, their masks and the sample's scene."""

    composite: np.ndarray
    instance_masks: list[np.ndarray]  # float32 (H, W) in [0, 1], one per placement, after occlusion
    placements: list[Placement]
    scene: str | None
    seed: int


@dataclass
class RepaintResult:
    image: np.ndarray  # RGB uint8 (H, W, 3)
    scene: str  # the scene phrase actually used, e.g. "in a garden"
    info: dict[str, Any] = field(default_factory=dict)


class Inpainter(Backend):
    """Paints a realistic background around the concepts."""

    @abstractmethod
    def repaint(self, request: RepaintRequest) -> RepaintResult: ...

    def repaint_batch(self, requests: list[RepaintRequest]) -> list[RepaintResult]:
        """Repaint several samples; GPU backends override this to batch."""
        return [self.repaint(r) for r in requests]


# ---------------------------------------------------------------------------------------------------- caption
@dataclass
class CaptionRequest:
    image: np.ndarray  # RGB uint8 (H, W, 3)
    placements: list[Placement]
    scene: str
    seed: int
    max_words: int = 30  # the stage's caption.max_words: longer captions are cut


class Captioner(Backend):
    """Describes a finished sample in words."""

    @abstractmethod
    def caption(self, request: CaptionRequest) -> str: ...

    def caption_batch(self, requests: list[CaptionRequest]) -> list[str]:
        """Caption several samples; remote or GPU backends override this to run them concurrently or batched."""
        return [self.caption(r) for r in requests]
