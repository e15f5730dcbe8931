"""Worker processes (spawned, never forked from a process holding threads and locks) for CPU-bound stages.

Each worker builds a stage's backend once from its spec and keeps it for later batches. At most two batches per
worker are in flight, so the driver's memory does not grow with the run. Workers ignore Ctrl-C: on Ctrl-C or
SIGTERM the driver kills them at once (their half-written files are temporaries, removed by the next run) and
reports once; they exit by themselves within a second when the driver dies, even by ``kill -9``.
A worker that dies mid-batch (killed, out of memory) breaks the pool: a new pool redoes the batches that had not
come back, at most twice per stage. Backends that must not be copied per process (one GPU, a model with its own
threads, a rate-limited endpoint) declare ``process_parallel = False`` and run in the driver.

With ``workers: 0`` (one per core, the default) the pool is started only when it pays: until it exists, the
driver makes the first item of a wave itself and starts the pool when the rest would take longer than starting
it (:data:`POOL_START_S`); a small job finishes in the driver without spawning anything.
"""

from __future__ import annotations

import contextlib
import ctypes
import math
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections import deque
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

from gen4gen.backends import backend_class
from gen4gen.errors import StageError
from gen4gen.executors.backends import BackendPool
from gen4gen.executors.base import Executor, batches
from gen4gen.executors.local import LocalExecutor
from gen4gen.stages.base import Outcome, Stage, WorkItem

IN_FLIGHT_PER_WORKER = 2
POOL_RESTARTS = 2
POOL_START_S = 1.0
"""What starting the pool costs, in seconds of driver time saved before it pays (measured: a spawned worker
imports gen4gen and builds its backend in about 0.5 s, the workers start in parallel)."""


class ProcessExecutor(Executor):
    def __init__(self, workers: int, run_dir: Path, local: LocalExecutor, adaptive: bool = False) -> None:
        self.workers = workers
        self.run_dir = run_dir
        self.local = local
        self.adaptive = adaptive  # start the pool only when a wave is worth it (see the module docstring)
        self._pool: ProcessPoolExecutor | None = None

    def map(self, stage: Stage, items: list[WorkItem], batch_size: int) -> Iterator[list[Outcome]]:
        if len(items) < 2 or not backend_class(stage.spec.kind, stage.spec.name).process_parallel:
            yield from self.local.map(stage, items, batch_size)
            return
        if self.adaptive and self._pool is None:
            backend = self.local.backends.get(stage.spec)
            started = time.perf_counter()
            yield stage.work(items[:1], backend)
            items = items[1:]
            if not self._worth_a_pool(time.perf_counter() - started, len(items)):
                yield from self.local.map(stage, items, batch_size)
                return
        # small batches keep every worker busy; outputs do not depend on the batching
        size = max(1, min(batch_size, math.ceil(len(items) / (IN_FLIGHT_PER_WORKER * self.workers))))
        pending = deque(batches(items, size))
        in_flight: dict[Future[list[Outcome]], list[WorkItem]] = {}
        restarts = 0
        while pending or in_flight:
            pool = self._ensure_pool()
            try:
                while pending and len(in_flight) < IN_FLIGHT_PER_WORKER * self.workers:
                    batch = pending.popleft()
                    in_flight[pool.submit(_run_batch, stage, batch)] = batch
                done, _ = wait(in_flight, return_when=FIRST_COMPLETED)
                for future in done:
                    outcomes = future.result()
                    del in_flight[future]
                    yield outcomes
            except BrokenProcessPool as exc:
                restarts += 1
                if restarts > POOL_RESTARTS:
                    raise StageError(
                        f"{stage.name}: worker processes keep dying (killed or out of memory); "
                        "rerun with fewer --workers to resume"
                    ) from exc
                pending.extendleft(reversed(list(in_flight.values())))
                in_flight.clear()
                self._discard_pool()
            except BaseException:
                self._discard_pool()
                raise

    def _worth_a_pool(self, seconds_per_item: float, remaining: int) -> bool:
        """Whether ``remaining`` items finish sooner on the pool (started now) than in the driver."""
        here = seconds_per_item * remaining
        return here - here / self.workers > POOL_START_S

    def _ensure_pool(self) -> ProcessPoolExecutor:
        if self._pool is None:
            self._pool = ProcessPoolExecutor(
                self.workers,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_init_worker,
                initargs=(self.run_dir, os.getpid()),
            )
        return self._pool

    def _discard_pool(self) -> None:
        if self._pool is not None:
            processes = list((getattr(self._pool, "_processes", None) or {}).values())
            self._pool.shutdown(wait=False, cancel_futures=True)
            for process in processes:
                process.kill()  # a worker in the middle of a long batch is not waited for
            self._pool = None

    def close(self) -> None:
        if self._pool is not None:
            try:
                self._pool.shutdown(wait=True, cancel_futures=True)
            except BaseException:  # Ctrl-C while waiting: stop the workers at once
                self._discard_pool()
                raise
            self._pool = None


# ---------------------------------------------------------------------------------------------- in the worker
_BACKENDS: BackendPool | None = None


def _init_worker(run_dir: Path, driver_pid: int) -> None:
    global _BACKENDS
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _exit_with_driver(driver_pid)
    _BACKENDS = BackendPool(run_dir)


def _exit_with_driver(driver_pid: int) -> None:
    """Leave no orphan behind: die with the driver (the kernel's parent-death signal on Linux, and a watchdog)."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG

    def watch() -> None:
        while os.getppid() == driver_pid:
            time.sleep(0.5)
        os._exit(1)

    threading.Thread(target=watch, name="gen4gen-watchdog", daemon=True).start()


def _run_batch(stage: Stage, items: list[WorkItem]) -> list[Outcome]:
    assert _BACKENDS is not None, "worker not initialised"
    return stage.work(items, _BACKENDS.get(stage.spec))
