"""The stage protocol every item-by-item stage follows, and what crosses it.

```
            driver (the only manifest writer)                    any process (executor)
  plan(ctx, tally) ──► waves of WorkItems ─── batches ──►  work(items, backend) ──► Outcomes
    skips what is current                                   compute + atomic file writes,
                                                            no manifest access
  commit(ctx, outcome, tally) ◄──────────────── outcomes ◄──┘
  finish(ctx, tally)
```

* ``plan`` fingerprints every item (inputs, settings, backend identity, seed) and yields only those whose
  record is not current. It yields *waves*: lists of independent items. A stage that needs the outcome of one
  wave to plan the next (compose keeps trying until enough samples are accepted) reads them from the manifest
  when asked for the next wave.
* ``work`` is a pure function of the items and the backend: it can run in the driver, a worker process or a
  Ray actor. A failing item becomes a ``failed`` outcome with its message; the others go on.
* ``commit`` records an outcome; ``finish`` writes what depends on all of them.

A stage object holds only the run folder and the config, so it pickles cheaply to workers; workers build the
backend from its :class:`BackendSpec`, never from a pickled backend.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from gen4gen.errors import ItemError
from gen4gen.manifest import DONE, FAILED, Record

if TYPE_CHECKING:
    from gen4gen.backends.base import Backend
    from gen4gen.config import RunConfig
    from gen4gen.executors.backends import BackendPool
    from gen4gen.manifest import Manifest
    from gen4gen.progress import Reporter


@dataclass(frozen=True)
class BackendSpec:
    """What a worker needs to build a stage's backend: kind, registry name and validated options (JSON)."""

    kind: str
    name: str
    options: str  # JSON, keys sorted

    @classmethod
    def of(cls, config: RunConfig, kind: str) -> BackendSpec:
        import json

        options = config.backend_options(kind).model_dump(mode="json")
        return cls(kind, config.stage_section(kind).backend, json.dumps(options, sort_keys=True))


@dataclass(frozen=True)
class WorkItem:
    """One unit of work: the manifest key, its fingerprint and seed, and the stage's own picklable inputs."""

    key: str
    fingerprint: str
    seed: int | None
    inputs: Any


@dataclass
class Outcome:
    """What ``work`` made of one item: the record to commit and messages to show."""

    record: Record
    warnings: list[str] = field(default_factory=list)


@dataclass
class StageStats:
    name: str
    made: int = 0
    reused: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    failed: Counter[str] = field(default_factory=Counter)  # by cause
    seconds: float = 0.0

    @property
    def total_ok(self) -> int:
        return self.made + self.reused

    @property
    def total_failed(self) -> int:
        return sum(self.failed.values())


@dataclass
class Context:
    """Everything the driver side of a stage needs: the run, its config and manifest, how to report."""

    run_dir: Path
    config: RunConfig
    manifest: Manifest
    reporter: Reporter
    backends: BackendPool
    retry_failed: bool = False  # redo items that failed before with the same inputs


@dataclass
class Tally:
    """The running count of one stage and its progress bar."""

    stats: StageStats
    advance: Callable[[int], None]
    reporter: Reporter

    def reused(self, record: Record) -> None:
        """An item already current: counted by its status, its old failure shown again."""
        if record.status == DONE:
            self.stats.reused += 1
        elif record.status == FAILED:
            self.stats.failed[failure_cause(record.message)] += 1
            self.reporter.warn(f"{record.message} (failed before; --retry-failed to try again)")
        else:
            self.stats.rejected[record.message or "rejected"] += 1
        self.advance(1)

    def made(self) -> None:
        """An item made in this run."""
        self.stats.made += 1
        self.advance(1)

    def skipped(self, cause: str) -> None:
        """An item that cannot be made because an earlier stage failed on it."""
        self.stats.failed[cause] += 1
        self.advance(1)


class Stage(ABC):
    """One item-by-item stage: see the module docstring for the protocol."""

    name: ClassVar[str]
    version: ClassVar[str] = "1"  # bump when the same inputs give different outputs

    def __init__(self, run_dir: Path, config: RunConfig) -> None:
        self.run_dir = run_dir
        self.config = config
        self.spec = BackendSpec.of(config, self.name)

    def total(self, ctx: Context) -> int | None:
        """Items the progress bar counts (None: unknown)."""
        return None

    @abstractmethod
    def plan(self, ctx: Context, tally: Tally) -> Iterator[list[WorkItem]]:
        """Waves of independent items still to make (current ones are counted in ``tally`` and skipped)."""

    @abstractmethod
    def work(self, items: list[WorkItem], backend: Backend) -> list[Outcome]:
        """Make the items (files written atomically); no manifest access. One outcome per item, in order."""

    def commit(self, ctx: Context, outcome: Outcome, tally: Tally) -> None:
        """Record one outcome (driver only) and count it."""
        for message in outcome.warnings:
            ctx.reporter.warn(message)
        record = outcome.record
        ctx.manifest.put(record)
        if record.status == DONE:
            tally.made()
        elif record.status == FAILED:
            tally.stats.failed[failure_cause(record.message)] += 1
            tally.advance(1)
        else:
            tally.stats.rejected[record.message or "rejected"] += 1

    def finish(self, ctx: Context, tally: Tally) -> None:  # noqa: B027 (optional hook)
        """After every wave is committed."""

    # ------------------------------------------------------------------------------------------------ helpers
    def is_current(self, ctx: Context, key: str, fp: str) -> Record | None:
        """The item's record if nothing needs redoing (a failure is redone only with ``--retry-failed``)."""
        record = ctx.manifest.is_current(self.name, key, fp)
        if record is not None and record.status == FAILED and ctx.retry_failed:
            return None
        return record

    def failed(self, item: WorkItem, message: str, data: dict[str, Any] | None = None) -> Outcome:
        """A failed outcome for ``item`` (recorded with its message, shown as a warning)."""
        record = Record(self.name, item.key, FAILED, item.fingerprint, item.seed, data=data or {}, message=message)
        return Outcome(record, [f"{message} — skipped"])


def failure_cause(message: str | None) -> str:
    """A failure message without the item it names (the part before the first ': ' when it names a path or
    sample), so the summary can count failures by cause."""
    if not message:
        return "failed"
    head, sep, rest = message.partition(": ")
    return rest if sep and ("/" in head or "\\" in head or head.startswith("sample ")) else message


def per_item(
    batch: Callable[[list[Any]], Sequence[Any]], one: Callable[[Any], Any], requests: list[Any]
) -> list[Any]:
    """A backend's batch call with per-item failures: each result, or the :class:`ItemError` of that item.

    Backends may return ItemErrors in their batch result; one that raises instead for the whole batch is asked
    again item by item, so only the failing item fails.
    """
    try:
        return list(batch(requests))
    except ItemError as exc:
        if len(requests) == 1:
            return [exc]
    results: list[Any] = []
    for request in requests:
        try:
            results.append(one(request))
        except ItemError as exc:
            results.append(exc)
    return results


def timed(started: float, count: int) -> float:
    """Seconds per item of a batch started at ``started``."""
    return (time.perf_counter() - started) / max(count, 1)
