"""Where a stage's work runs: see :mod:`gen4gen.executors.base` for the interface."""

from __future__ import annotations

import os
from pathlib import Path

from gen4gen.executors.backends import BackendPool
from gen4gen.executors.base import Executor
from gen4gen.executors.local import LocalExecutor

MAX_AUTO_WORKERS = 8


def resolve_workers(requested: int) -> int:
    """``workers`` from the config: 0 means one per available CPU core (at most 8)."""
    if requested > 0:
        return requested
    available = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return max(1, min(available, MAX_AUTO_WORKERS))


def make_executor(workers: int, run_dir: Path, backends: BackendPool) -> Executor:
    """The local executor for one worker, else a process pool of ``workers`` (0: one per core)."""
    local = LocalExecutor(backends)
    count = resolve_workers(workers)
    if count == 1:
        return local
    from gen4gen.executors.process import ProcessExecutor

    return ProcessExecutor(count, run_dir, local)


__all__ = ["BackendPool", "Executor", "LocalExecutor", "make_executor", "resolve_workers"]
