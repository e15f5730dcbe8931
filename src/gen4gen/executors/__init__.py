"""Where a stage's work runs: see :mod:`gen4gen.executors.base` for the interface."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from gen4gen.executors.backends import BackendPool
from gen4gen.executors.base import Executor
from gen4gen.executors.local import LocalExecutor

if TYPE_CHECKING:
    from gen4gen.config import RunConfig
    from gen4gen.progress import Reporter

MAX_AUTO_WORKERS = 8


def resolve_workers(requested: int) -> int:
    """``workers`` from the config: 0 means one per available CPU core (at most 8)."""
    if requested > 0:
        return requested
    available = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return max(1, min(available, MAX_AUTO_WORKERS))


def executor_kind(config: RunConfig) -> str:
    """``executor.kind``, or when unset: local for one worker, else process."""
    if config.executor.kind is not None:
        return config.executor.kind
    return "local" if resolve_workers(config.workers) == 1 else "process"


def make_executor(
    config: RunConfig, run_dir: Path, backends: BackendPool, reporter: Reporter | None = None
) -> Executor:
    """The executor ``config`` asks for: in this process, a pool of ``workers`` processes, or Ray actors (the
    ``ray`` package is imported only then)."""
    local = LocalExecutor(backends)
    kind = executor_kind(config)
    if kind == "local":
        return local
    if kind == "process":
        from gen4gen.executors.process import ProcessExecutor

        return ProcessExecutor(resolve_workers(config.workers), run_dir, local, adaptive=config.workers == 0)
    from gen4gen.executors.ray import RayExecutor

    return RayExecutor(config.executor.ray, run_dir, reporter)


__all__ = ["BackendPool", "Executor", "LocalExecutor", "executor_kind", "make_executor", "resolve_workers"]
