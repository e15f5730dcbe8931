"""The process executor with ``workers: 0``: a small job stays in the driver, a long one goes to the pool."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

from gen4gen.backends.base import Backend
from gen4gen.config import RunConfig
from gen4gen.executors import BackendPool, LocalExecutor, make_executor
from gen4gen.executors.process import ProcessExecutor
from gen4gen.manifest import DONE, Record
from gen4gen.stages.base import Context, Outcome, Stage, Tally, WorkItem


class SleepyStage(Stage):
    """Each item takes ``seconds`` and records the process that made it."""

    name = "caption"  # its backend (the template captioner) may run in worker processes

    def __init__(self, run_dir: Path, config: RunConfig, seconds: float) -> None:
        super().__init__(run_dir, config)
        self.seconds = seconds

    def plan(self, ctx: Context, tally: Tally) -> Iterator[list[WorkItem]]:
        yield []

    def work(self, items: list[WorkItem], backend: Backend) -> list[Outcome]:
        time.sleep(self.seconds * len(items))
        return [Outcome(Record(self.name, i.key, DONE, i.fingerprint, data={"pid": os.getpid()})) for i in items]


def made_by(tmp_path: Path, seconds: float, count: int) -> tuple[set[int], bool]:
    """The processes that made ``count`` items of ``seconds`` each, and whether the pool was started."""
    executor = ProcessExecutor(2, tmp_path, LocalExecutor(BackendPool(tmp_path)), adaptive=True)
    stage = SleepyStage(tmp_path, RunConfig(), seconds)
    items = [WorkItem(f"k{i}", "fp", None, None) for i in range(count)]
    try:
        outcomes = [o for batch in executor.map(stage, items, 2) for o in batch]
        started = executor._pool is not None
    finally:
        executor.close()
    assert sorted(o.record.key for o in outcomes) == sorted(i.key for i in items)
    return {o.record.data["pid"] for o in outcomes}, started


def test_a_small_job_never_starts_worker_processes(tmp_path: Path) -> None:
    pids, started = made_by(tmp_path, 0.001, 20)
    assert pids == {os.getpid()} and not started


def test_a_long_job_goes_to_the_pool(tmp_path: Path) -> None:
    pids, started = made_by(tmp_path, 0.4, 8)  # 2.8 s left after the first item: the pool pays
    assert started and pids - {os.getpid()}


def test_the_default_is_one_worker_per_core_started_when_it_pays(tmp_path: Path) -> None:
    executor = make_executor(RunConfig(), tmp_path, BackendPool(tmp_path))
    if (os.cpu_count() or 1) > 1:
        assert isinstance(executor, ProcessExecutor) and executor.adaptive
    explicit = make_executor(RunConfig(workers=2), tmp_path, BackendPool(tmp_path))
    assert isinstance(explicit, ProcessExecutor) and not explicit.adaptive
