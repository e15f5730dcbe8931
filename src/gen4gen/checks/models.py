"""Checks with models, run only when their model is configured: the same OWL-ViT and CLIP loading and scoring
as ``gen4gen eval`` (:mod:`gen4gen.evaluate.models`).

* ``detection`` (``curate.detector``): each concept is asked for by its name ("a photo of a cat") and must be found
  where it was placed; the score is the IoU of the detector's best box for that name with the concept's box
  (boxes of one name go through NMS, and each concept of that name takes the best-matching one).
* ``clip`` (``curate.clip_model``): each concept's crop from the finished image must look like the concept's
  photos; the score is the mean CLIP cosine similarity of the crop to every photo of the concept (its source
  photos; its cut-outs flattened on white when the photos are not there).

Both report the worst concept. Models load once, on first use, on ``curate.device``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from PIL import Image

from gen4gen.checks.base import Checker, Metric, Score, Scores
from gen4gen.checks.limits import _Limits
from gen4gen.checks.subjects import SampleSubject
from gen4gen.errors import ItemError


class ModelSettings:
    """What the model checks need besides their thresholds (from ``curate.*``)."""

    def __init__(
        self,
        model: str,
        device: str = "auto",
        dtype: str = "fp32",
        batch_size: int = 16,
        threshold: float = 0.1,
        query_template: str = "a photo of a {}",
        nms_iou: float = 0.5,
    ) -> None:
        self.model, self.device, self.dtype, self.batch_size = model, device, dtype, batch_size
        self.threshold, self.query_template, self.nms_iou = threshold, query_template, nms_iou


class _ModelChecker(Checker[SampleSubject]):
    key: str  # the config key naming the model
    batched = True

    def __init__(self, limits: _Limits, settings: ModelSettings) -> None:
        super().__init__(limits)
        self.model_settings = settings
        self._model: Any = None

    def settings(self) -> dict[str, Any]:
        from gen4gen.evaluate.models import model_identity

        return {**super().settings(), "model": model_identity(self.model_settings.model), **self._scoring()}

    def _scoring(self) -> dict[str, Any]:
        return {}

    def _device(self) -> tuple[str, Any]:
        from gen4gen import hf

        device = hf.resolve_device(self.model_settings.device)
        return device, hf.resolve_dtype(self.model_settings.dtype, device)

    def load(self) -> None:
        """Load the model now (a missing model fails here, with how to get it)."""

    def measure(self, subject: SampleSubject) -> Scores:
        result = self.measure_batch([subject])[0]
        if isinstance(result, ItemError):
            raise result
        return result


def _pil(subject: SampleSubject) -> Image.Image:
    return Image.fromarray(subject.image)


class DetectorChecker(_ModelChecker):
    name = "detection"
    version = "1"
    key = "curate.detector"
    headline = "detected"
    metrics = (
        Metric(
            "detected",
            "the detector finds {of} at IoU {value} of where it was placed",
            "{:.2f}",
            label="a concept not detected where placed",
        ),
    )

    def _scoring(self) -> dict[str, Any]:
        s = self.model_settings
        return {"threshold": s.threshold, "query_template": s.query_template, "nms_iou": s.nms_iou}

    def load(self) -> None:
        if self._model is None:
            from gen4gen.evaluate.models import OwlDetector

            device, dtype = self._device()
            settings = self.model_settings
            self._model = OwlDetector.load(settings.model, device, dtype, settings.batch_size, key=self.key)

    def measure_batch(self, subjects: Sequence[SampleSubject]) -> list[Scores | ItemError]:
        from gen4gen.evaluate import metrics

        self.load()
        settings = self.model_settings
        images, queries, names_of = [], [], []
        results: list[Scores | ItemError | None] = []
        for subject in subjects:
            try:
                images.append(_pil(subject))
            except ItemError as exc:
                results.append(exc)
                continue
            names = list(dict.fromkeys(o.name for o in subject.layout.objects if o.bbox is not None))
            names_of.append(names)
            queries.append([settings.query_template.format(n) for n in names])
            results.append(None)
        found = iter(self._model.detect(images, queries, settings.threshold) if images else [])
        named = iter(zip(names_of, images, strict=True))
        scores: list[Scores | ItemError] = []
        for subject, result in zip(subjects, results, strict=True):
            if result is not None:
                scores.append(result)
                continue
            detections = next(found)
            names, image = next(named)
            objects = [o for o in subject.layout.objects if o.bbox is not None]
            wanted = [sum(o.name == n for o in objects) for n in names]
            chosen = metrics.select_detections(detections, wanted, image.width, image.height, settings.nms_iou)
            worst: tuple[float, str] | None = None
            for obj in objects:
                assert obj.bbox is not None
                boxes = chosen[names.index(obj.name)]
                x0, y0, x1, y1 = obj.bbox
                placed = (float(x0), float(y0), float(x1), float(y1))
                best = max((metrics.iou(placed, d.box) for d in boxes), default=0.0)
                if worst is None or best < worst[0]:
                    worst = (best, obj.name)
            scores.append({"detected": Score(*worst) if worst else Score(None)})
        return scores


class ClipChecker(_ModelChecker):
    name = "clip"
    version = "1"
    key = "curate.clip_model"
    headline = "similarity"
    metrics = (
        Metric(
            "similarity",
            "{of}'s crop is {value} CLIP-similar to its photos",
            "{:.2f}",
            label="a concept unlike its photos",
        ),
    )

    def __init__(self, limits: _Limits, settings: ModelSettings) -> None:
        super().__init__(limits, settings)
        self._references: dict[tuple[str, ...], np.ndarray] = {}

    def load(self) -> None:
        if self._model is None:
            from gen4gen.evaluate.models import ClipEmbedder

            device, dtype = self._device()
            settings = self.model_settings
            self._model = ClipEmbedder.load(settings.model, device, dtype, settings.batch_size, key=self.key)

    def _reference(self, paths: tuple[str, ...]) -> np.ndarray:
        if paths not in self._references:
            from pathlib import Path

            from gen4gen.evaluate.run import to_rgb

            self._references[paths] = self._model.images([to_rgb(Path(p)) for p in paths])
        return self._references[paths]

    def measure_batch(self, subjects: Sequence[SampleSubject]) -> list[Scores | ItemError]:
        from gen4gen.evaluate import metrics

        self.load()
        crops: list[Image.Image] = []
        plans: list[list[tuple[str, tuple[str, ...]]] | ItemError] = []  # per subject: (concept, its photos)
        for subject in subjects:
            try:
                image = _pil(subject)
                plan: list[tuple[str, tuple[str, ...]]] = []
                for obj in subject.layout.objects:
                    if obj.bbox is None:
                        continue
                    refs = subject.inputs.references.get(obj.concept_id or obj.folder, ())
                    if not refs:
                        continue
                    crops.append(image.crop(obj.bbox))
                    plan.append((obj.name, refs))
                    self._reference(refs)
                plans.append(plan)
            except ItemError as exc:
                plans.append(exc)
        embedded = self._model.images(crops) if crops else np.zeros((0, 1))
        scores: list[Scores | ItemError] = []
        used = 0
        for entry in plans:
            if isinstance(entry, ItemError):
                scores.append(entry)
                continue
            worst: tuple[float, str] | None = None
            for name, refs in entry:
                value = float(metrics.similarity(embedded[used : used + 1], [self._reference(refs)])[0, 0])
                used += 1
                if worst is None or value < worst[0]:
                    worst = (value, name)
            scores.append({"similarity": Score(*worst) if worst else Score(None)})
        return scores
