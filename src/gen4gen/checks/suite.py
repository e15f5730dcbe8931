"""Every configured check of a run, as one object: the curate stage's backend.

The checks are not a user-selectable backend (they are not interchangeable, they all run): :func:`checks_spec`
makes the curate stage's :class:`~gen4gen.stages.base.BackendSpec` from the run config, and the suite is built
from it where the work runs, like any stage's backend (``gen4gen.backends.STAGE_OWNED``). Its options hold the
``curate`` section and the two values it takes from other sections, so a suite built in a worker process or a
Ray actor is the driver's. It measures cut-outs and samples, and judges recorded scores with the current
thresholds. Thresholds that default to another section's value are filled in here: ``layout.visible.reject`` is
``compose.min_visible`` and ``caption.words.reject`` is ``caption.max_words`` unless set.

A suite with a model check (``curate.detector``, ``curate.clip_model``) is a :class:`ModelCheckSuite`: it holds
its models once, in the driver or in one Ray actor (``process_parallel = False``); the other checks run in every
worker.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import Field

from gen4gen.backends.base import Backend, BackendOptions
from gen4gen.checks.base import SKIP, Checker, CheckResult, Score, Scores
from gen4gen.checks.caption import CaptionChecker
from gen4gen.checks.cutout import CutoutChecker
from gen4gen.checks.duplicates import DuplicateChecker
from gen4gen.checks.identity import IdentityChecker
from gen4gen.checks.layout import LayoutChecker
from gen4gen.checks.limits import Limit
from gen4gen.checks.models import ClipChecker, DetectorChecker, ModelSettings
from gen4gen.checks.seams import SeamChecker
from gen4gen.checks.subjects import CutoutSubject, SampleSubject
from gen4gen.config import CurateConfig
from gen4gen.errors import ItemError
from gen4gen.manifest.records import ScoreData

if TYPE_CHECKING:
    from gen4gen.config import RunConfig
    from gen4gen.stages.base import BackendSpec

#: every check a sample can have a verdict from, in the order reports list them
CHECKS = ("cutout", "layout", "identity", "seams", "caption", "duplicate", "detection", "clip")


class CheckOptions(BackendOptions):
    """Everything a suite is built from: the ``curate`` section and the values it takes from other sections."""

    curate: CurateConfig = CurateConfig()
    min_visible: float = Field(0.6, ge=0, le=1, description="compose.min_visible")
    max_words: int = Field(30, ge=5, le=200, description="caption.max_words")

    @property
    def device(self) -> str | None:
        """Where the models of the model checks run (None without a model check)."""
        return self.curate.device if has_model_checks(self.curate) else None


def has_model_checks(curate: CurateConfig) -> bool:
    """Whether ``curate`` turns on a check that holds a model."""
    return (curate.detector is not None and curate.detection.enabled) or (
        curate.clip_model is not None and curate.clip.enabled
    )


def checks_spec(config: RunConfig) -> BackendSpec:
    """The curate stage's backend spec: the suite the run config asks for (a model suite when it has models)."""
    from gen4gen.stages.base import BackendSpec

    options = CheckOptions(
        curate=config.curate, min_visible=config.compose.min_visible, max_words=config.caption.max_words
    )
    cls = ModelCheckSuite if has_model_checks(config.curate) else CheckSuite
    return BackendSpec("curate", cls.name, json.dumps(options.model_dump(mode="json"), sort_keys=True))


class CheckSuite(Backend):
    """The checks ``curate.*`` turns on, with their thresholds (no model check: one copy per worker)."""

    name = "checks"
    version = "1"
    Options = CheckOptions

    def __init__(self, options: CheckOptions | None = None) -> None:
        super().__init__(options)
        assert isinstance(self.options, CheckOptions)
        curate = self.options.curate
        self.curate = curate
        self.cutout = CutoutChecker(curate.cutout) if curate.cutout.enabled else None
        visible, words = curate.layout.visible, curate.caption.words
        min_visible, max_words = self.options.min_visible, float(self.options.max_words)
        layout_overrides = (
            {"visible": Limit(flag=visible.flag, reject=min_visible)} if visible.reject is None else {}
        )
        caption_overrides = {"words": Limit(flag=words.flag, reject=max_words)} if words.reject is None else {}
        candidates: list[tuple[bool, Checker[SampleSubject]]] = [
            (curate.layout.enabled, LayoutChecker(curate.layout, layout_overrides)),
            (curate.identity.enabled, IdentityChecker(curate.identity)),
            (curate.seams.enabled, SeamChecker(curate.seams)),
            (curate.caption.enabled, CaptionChecker(curate.caption, caption_overrides)),
        ]
        if curate.detector is not None:
            settings = self.model_settings(curate, curate.detector)
            candidates.append((curate.detection.enabled, DetectorChecker(curate.detection, settings)))
        if curate.clip_model is not None:
            settings = self.model_settings(curate, curate.clip_model)
            candidates.append((curate.clip.enabled, ClipChecker(curate.clip, settings)))
        self.samples: list[Checker[SampleSubject]] = [checker for on, checker in candidates if on]
        self.duplicate = DuplicateChecker(curate.duplicate) if curate.duplicate.enabled else None
        self.checkers: dict[str, Checker[Any]] = {c.name: c for c in self.samples}
        if self.cutout is not None:
            self.checkers[self.cutout.name] = self.cutout
        if self.duplicate is not None:
            self.checkers[self.duplicate.name] = self.duplicate
        #: cut-out targets the driver's suite measured for compose in this run (the curate stage counts them)
        self.measured_for_compose: set[str] = set()

    @classmethod
    def of(cls, config: RunConfig) -> CheckSuite:
        """The suite of ``config`` (the one :func:`checks_spec` builds, for the driver and tests)."""
        from gen4gen.backends import build_backend

        spec = checks_spec(config)
        suite = build_backend(spec.kind, spec.name, json.loads(spec.options))
        assert isinstance(suite, CheckSuite)
        return suite

    @staticmethod
    def model_settings(curate: CurateConfig, model: str) -> ModelSettings:
        return ModelSettings(
            model,
            device=curate.device,
            dtype=curate.dtype,
            batch_size=curate.batch_size,
            threshold=curate.detector_threshold,
            query_template=curate.query_template,
        )

    # ------------------------------------------------------------------------------------------- identity
    def identity(self) -> dict[str, Any]:
        return {"name": self.name, "version": self.version, "checks": sorted(self.checkers)}

    def cutout_settings(self) -> dict[str, Any]:
        """What determines a cut-out's scores."""
        return self.cutout.settings() if self.cutout is not None else {}

    def sample_settings(self) -> list[dict[str, Any]]:
        """What determines a sample's scores (every sample check, and the duplicate check's hash)."""
        measuring: list[Checker[Any]] = [*self.samples, *([self.duplicate] if self.duplicate else [])]
        return [c.settings() for c in measuring]

    def limits(self, name: str) -> dict[str, Any]:
        """The thresholds check ``name`` judges with, for its verdict's fingerprint."""
        checker = self.checkers[name]
        data: dict[str, Any] = checker.limits.model_dump(mode="json")
        data.update({key: limit.model_dump(mode="json") for key, limit in checker.overrides.items()})
        return data

    def load(self) -> None:
        """Load the models of the model checks now (a missing model fails here, before any other work)."""
        for checker in self.samples:
            if isinstance(checker, DetectorChecker | ClipChecker):
                checker.load()

    # ------------------------------------------------------------------------------------------- measure
    def measure_cutout(self, subject: CutoutSubject) -> dict[str, dict[str, ScoreData]]:
        assert self.cutout is not None
        return {self.cutout.name: to_data(self.cutout.measure(subject))}

    def measure_samples(
        self, subjects: Sequence[SampleSubject]
    ) -> list[tuple[dict[str, dict[str, ScoreData]], str | None] | ItemError]:
        """Every sample check's scores and the perceptual hash of each subject (or its ItemError).

        The pixel checks run subject by subject, each subject's pixels released before the next is decoded, so a
        batch holds one sample's images at a time whatever its size; checks with a model then get the batch
        together.
        """
        measured: list[dict[str, Scores] | ItemError] = []
        phashes: list[str | None] = []
        for subject in subjects:
            try:
                measured.append({c.name: c.measure(subject) for c in self.samples if not c.batched})
                phashes.append(DuplicateChecker.hash(subject) if self.duplicate is not None else None)
            except ItemError as exc:
                measured.append(exc)
                phashes.append(None)
            subject.release()
        for checker in (c for c in self.samples if c.batched):
            todo = [i for i, m in enumerate(measured) if not isinstance(m, ItemError)]
            results = checker.measure_batch([subjects[i] for i in todo])
            for index, result in zip(todo, results, strict=True):
                found = measured[index]
                if isinstance(result, ItemError):
                    measured[index] = result
                elif not isinstance(found, ItemError):
                    found[checker.name] = result
                subjects[index].release()
        out: list[tuple[dict[str, dict[str, ScoreData]], str | None] | ItemError] = []
        for found, phash in zip(measured, phashes, strict=True):
            if isinstance(found, ItemError):
                out.append(found)
            else:  # in the order the checks are configured
                out.append(({c.name: to_data(found[c.name]) for c in self.samples}, phash))
        return out

    # ------------------------------------------------------------------------------------------- judge
    def judge(self, name: str, scores: dict[str, ScoreData]) -> CheckResult:
        return self.checkers[name].judge(from_data(scores))

    def judge_sample(self, scores: dict[str, dict[str, ScoreData]]) -> list[CheckResult]:
        """The verdict of every configured sample check whose scores were recorded."""
        return [self.judge(c.name, scores[c.name]) for c in self.samples if c.name in scores]

    def judge_distances(self, scores: Scores) -> CheckResult:
        assert self.duplicate is not None
        return self.duplicate.judge(scores)

    def off(self, name: str) -> CheckResult:
        """The verdict that replaces an earlier one of a check that no longer runs."""
        return CheckResult(name, SKIP, None, f"not checked: curate.{name} is turned off or has no model")


class ModelCheckSuite(CheckSuite):
    """A suite with a model check: its models load once, in the driver or in one Ray actor."""

    name = "model-checks"
    process_parallel: ClassVar[bool] = False
    single_actor: ClassVar[bool] = True  # on Ray too: one actor, with a GPU when the cluster has one


def to_data(scores: Scores) -> dict[str, ScoreData]:
    """Scores as recorded in a :class:`~gen4gen.manifest.records.CurateData`."""
    return {key: ScoreData(value=score.value, of=score.of) for key, score in scores.items()}


def from_data(scores: dict[str, ScoreData]) -> Scores:
    """Recorded scores back as :class:`~gen4gen.checks.base.Score` values."""
    return {key: Score(data.value, data.of) for key, data in scores.items()}
