"""The one small interface per stage kind, and the data that crosses it.

Backends are pure: they receive arrays and plain data, return arrays and plain data, and never touch files or
the manifest (stages do). Every backend declares an ``Options`` pydantic model (its own config keys, unknown keys
rejected, each with bounds and a description) and reports an ``identity()`` recorded with everything it produces.
Backends are built where they run, from (kind, name, options), and never pickled.

Batch methods (``plan_batch``, ``repaint_batch``, ``caption_batch``) return one entry per request: the result,
or the :class:`~gen4gen.errors.ItemError` of that request, so one bad item never fails its batch. (A batch
method that raises ItemError instead is retried item by item by the stage.)
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import numpy as np

from gen4gen.errors import BackendUnavailable, ItemError  # noqa: F401
from gen4gen.geometry.layout import ConceptRequest, Placement
from gen4gen.geometry.masks import CanvasMask
from gen4gen.llm.cache import ResponseCache
from gen4gen.options import StrictOptions as BackendOptions

R = TypeVar("R")
T = TypeVar("T")


class Backend(ABC):
    """Common part of every backend: a registry name, an options model and an identity for provenance."""

    name: ClassVar[str]
    version: ClassVar[str] = "1"
    Options: ClassVar[type[BackendOptions]] = BackendOptions

    #: may run as one copy per worker process (False: one GPU, a model with its own threads, a remote endpoint
    #: with its own concurrency and rate limit — such a backend runs in the driver)
    process_parallel: ClassVar[bool] = True

    def __init__(self, options: BackendOptions | None = None) -> None:
        self.options = options if options is not None else self.Options()
        self.cache: ResponseCache | None = None  # the run's response cache, for backends that call remote services

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
    """Finds the concept in a photo."""

    @abstractmethod
    def segment(self, photo: Photo) -> np.ndarray:
        """Soft foreground mask, float32 (H, W) in [0, 1], at the photo's resolution."""


# ---------------------------------------------------------------------------------------------------- compose
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

    def plan_batch(self, jobs: list[PlanJob]) -> Sequence[Layout | ItemError]:
        """Plan many samples; remote planners override this to run requests concurrently."""
        return [_or_error(lambda job: self.plan(job.concepts, job.canvas, job.rng), job) for job in jobs]

    def suggest_scenes(self, concept_names: list[str], rng: np.random.Generator) -> list[str]:
        """Scene phrases that suit these concepts ("in a garden"...); empty means the repainter decides."""
        return []


# ---------------------------------------------------------------------------------------------------- repaint
@dataclass
class RepaintRequest:
    """A composite to finish: RGB uint8 (H, W, 3) with the concepts pasted, their masks and the sample's scene.

    The masks are uint8 crops (their full-canvas arrays are made per item where a backend needs them, so a batch
    of requests holds only crops).
    """

    composite: np.ndarray
    instance_masks: list[CanvasMask]  # uint8 crops on the composite, one per placement, after occlusion
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

    batches: ClassVar[bool] = False  # repaint_batch paints several at once (a GPU pipeline): give it whole batches

    @abstractmethod
    def repaint(self, request: RepaintRequest) -> RepaintResult: ...

    def repaint_batch(self, requests: list[RepaintRequest]) -> Sequence[RepaintResult | ItemError]:
        """Repaint several samples; GPU backends override this to batch."""
        return [_or_error(self.repaint, r) for r in requests]


# ---------------------------------------------------------------------------------------------------- caption
@dataclass
class CaptionRequest:
    image: np.ndarray  # RGB uint8 (H, W, 3)
    placements: list[Placement]
    scene: str
    seed: int
    max_words: int = 30  # the stage's caption.max_words: longer captions are cut


class Captioner(Backend):
    """Describes a finished sample in words.

    A captioner that reads only the layout (``needs_pixels = False``) gets an ``image`` of the right shape that
    costs nothing (the image is not decoded).
    """

    needs_pixels: ClassVar[bool] = True

    @abstractmethod
    def caption(self, request: CaptionRequest) -> str: ...

    def caption_batch(self, requests: list[CaptionRequest]) -> Sequence[str | ItemError]:
        """Caption several samples; remote or GPU backends override this to run them concurrently or batched."""
        return [_or_error(self.caption, r) for r in requests]


def _or_error(call: Callable[[R], T], request: R) -> T | ItemError:
    """``call(request)``, or the ItemError it raised."""
    try:
        return call(request)
    except ItemError as exc:
        return exc
