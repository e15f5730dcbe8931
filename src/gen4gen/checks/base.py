"""The one interface every curate check implements: measure scores, then judge them against thresholds.

```
  subject (a cut-out or a sample) ──measure──► Scores {metric: Score(value, of)} ──judge(limits)──► CheckResult
        any process, files read, no manifest        recorded in the manifest            status, score, reason
```

``measure`` is the expensive part and depends only on the subject and the checker's own settings (its
``settings()`` go into the fingerprint); ``judge`` is cheap and depends only on the scores and the thresholds,
so new thresholds re-judge a run without measuring again. A check's verdict is ``pass``, ``flag`` (a person
should look; left out of training exports unless ``--include-flagged``) or ``reject``, with its reason in words;
``skip`` says a check that judged a sample before no longer runs.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, TypeVar

from gen4gen.checks.limits import Limit, _Limits
from gen4gen.errors import ItemError

PASS, FLAG, REJECT, SKIP = "pass", "flag", "reject", "skip"
SEVERITY = {SKIP: -1, PASS: 0, FLAG: 1, REJECT: 2}

S = TypeVar("S")


@dataclass(frozen=True)
class Metric:
    """One score of a check and how to say it: ``says`` is a phrase with ``{value}`` (and ``{of}``, the concept,
    photo or sample the value is about), ``fmt`` formats the value and its thresholds."""

    key: str
    says: str
    fmt: str = "{:.2f}"
    ok: str | None = None  # what to say when the check passes and this is its headline (default: ``says``)
    label: str = ""  # the cause in a few words, for counts by reason ("in pieces")

    def text(self, value: float) -> str:
        return self.fmt.format(value)

    def phrase(self, score: Score, passed: bool = False) -> str:
        assert score.value is not None
        text = self.ok if passed and self.ok is not None else self.says
        return text.format(value=self.text(score.value), of=score.of or "a concept")


@dataclass(frozen=True)
class Score:
    """A measured value and what it is about (the worst concept or photo, when a check looks at several)."""

    value: float | None
    of: str | None = None


Scores = dict[str, Score]


@dataclass(frozen=True)
class CheckResult:
    """A check's verdict on one subject: status, the headline score, the reason in words."""

    check: str
    status: str
    score: float | None
    reason: str
    causes: tuple[str, ...] = ()  # labels of the metrics that reached ``status``


class Checker(ABC, Generic[S]):
    """One check: ``measure`` a subject into scores, ``judge`` scores against this check's limits."""

    name: ClassVar[str]  # the verdict's name
    version: ClassVar[str] = "1"  # bump when the same subject measures differently
    metrics: ClassVar[tuple[Metric, ...]]
    headline: ClassVar[str]  # the metric whose value is the verdict's score
    batched: ClassVar[bool] = False  # measures a batch at once (a model): given every subject of a batch together

    def __init__(self, limits: _Limits, overrides: dict[str, Limit] | None = None) -> None:
        self.limits = limits
        self.overrides = overrides or {}  # thresholds filled in from other config sections

    def settings(self) -> dict[str, Any]:
        """What determines the measurement (not the thresholds), for the fingerprint."""
        return {"name": self.name, "version": self.version}

    @abstractmethod
    def measure(self, subject: S) -> Scores:
        """The scores of one subject; an :class:`ItemError` when its files cannot be read."""

    def measure_batch(self, subjects: Sequence[S]) -> list[Scores | ItemError]:
        """The scores of several subjects (checks with models override this to batch them, and set
        ``batched``)."""
        results: list[Scores | ItemError] = []
        for subject in subjects:
            try:
                results.append(self.measure(subject))
            except ItemError as exc:
                results.append(exc)
        return results

    def limit(self, key: str) -> Limit:
        return self.overrides.get(key) or self.limits.limit(key)

    def judge(self, scores: Scores) -> CheckResult:
        """Status and reason of ``scores``: the worst level any metric reaches; every metric past a threshold is
        named, worst first."""
        failures: list[tuple[int, str, str]] = []
        status = PASS
        for metric in self.metrics:
            score = scores.get(metric.key)
            if score is None or score.value is None:
                continue
            limit = self.limit(metric.key)
            direction = self.limits.DIRECTIONS[metric.key]
            level = limit.level(score.value, direction)
            if level is None:
                continue
            threshold = limit.reject if level == REJECT else limit.flag
            assert threshold is not None
            side = "below" if direction == "min" else "above"
            text = f"{metric.phrase(score)} ({level} {side} {metric.text(threshold)})"
            failures.append((SEVERITY[level], text, metric.label or metric.key))
            if SEVERITY[level] > SEVERITY[status]:
                status = level
        headline = scores.get(self.headline)
        value = headline.value if headline is not None else None
        failures.sort(key=lambda f: -f[0])
        causes = tuple(label for severity, _, label in failures if severity == SEVERITY[status])
        if failures:
            reason = "; ".join(text for _, text, _ in failures)
        elif headline is not None and headline.value is not None:
            reason = next(m for m in self.metrics if m.key == self.headline).phrase(headline, passed=True)
        else:
            reason = "nothing to check"
        return CheckResult(self.name, status, value, reason, causes)


def worst(results: Sequence[CheckResult]) -> str:
    """The most severe status among ``results`` (pass when there are none)."""
    return max((r.status for r in results), key=SEVERITY.__getitem__, default=PASS)
