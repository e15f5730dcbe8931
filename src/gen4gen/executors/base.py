"""The executor interface: run a stage's ``work`` on batches of items, somewhere, and hand back the outcomes.

Implementations: :class:`~gen4gen.executors.local.LocalExecutor` (in the driver, the default) and
:class:`~gen4gen.executors.process.ProcessExecutor` (a pool of spawned worker processes). An executor only moves
work: it never touches the manifest (the driver commits each outcome as it arrives) and builds backends where
the work runs, from the stage's spec. Outputs do not depend on the executor or on how items are batched, since
every item's output is a function of its own inputs and seed.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator

from gen4gen.stages.base import Outcome, Stage, WorkItem


class Executor(ABC):
    """Runs batches of one stage's items; outcomes come back batch by batch, in any order."""

    @abstractmethod
    def map(self, stage: Stage, items: list[WorkItem], batch_size: int) -> Iterator[list[Outcome]]:
        """Outcomes of ``items``, a batch at a time (``batch_size`` items handed to the backend at once)."""

    def close(self) -> None:  # noqa: B027 (optional: only executors that start something override it)
        """Stop whatever the executor started (idempotent)."""

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def batches(items: list[WorkItem], size: int) -> list[list[WorkItem]]:
    return [items[start : start + size] for start in range(0, len(items), max(1, size))]
