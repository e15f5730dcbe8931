"""In-process execution: the driver runs each batch itself, with backends built once."""

from __future__ import annotations

from collections.abc import Iterator

from gen4gen.executors.backends import BackendPool
from gen4gen.executors.base import Executor, batches
from gen4gen.stages.base import Outcome, Stage, WorkItem


class LocalExecutor(Executor):
    def __init__(self, backends: BackendPool) -> None:
        self.backends = backends

    def map(self, stage: Stage, items: list[WorkItem], batch_size: int) -> Iterator[list[Outcome]]:
        backend = self.backends.get(stage.spec)
        for batch in batches(items, batch_size):
            yield stage.work(batch, backend)
