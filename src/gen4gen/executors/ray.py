"""Stage work on a Ray cluster (``--executor ray``): a pool of long-lived actors per stage, each with its backend.

```
 driver (plan, commit, the only manifest writer)              Ray actors of the running stage
   items ─► batches ─► at most ``in_flight`` per actor ──►  StageWorker: backend built once from stage.spec
   outcomes ◄── as each batch comes back ◄─────────────────  stage.work(batch, backend)
   (shared_fs=false: the batch's input files go along,       (shared_fs=false: in a private folder shaped
    its output files come back and the driver writes them)    like the run folder, files returned as bytes)
```

* Actors: ``executor.ray.<stage>.num_cpus / num_gpus / actors``. By default a backend with a ``device`` option
  (not ``cpu``) gets one GPU per actor when the cluster has GPUs, and one actor per GPU; a backend that runs one
  copy per machine (``process_parallel = False``: an endpoint client under one rate limit) gets one actor, as does
  one that declares ``single_actor`` (the curate stage's model checks, on a GPU when the cluster has one); any
  other gets one actor per ``num_cpus`` CPUs of the cluster. The next stage keeps the actors when it asks for
  the same resources (warm processes: each drops the old backend and builds the new one), else they are
  released first, so each stage can use the whole cluster.
* Back-pressure: at most ``in_flight`` batches per actor are queued, so the driver's memory does not grow with
  the run, and batches are small enough to keep every actor busy (outputs do not depend on the batching).
* Faults: an actor that crashes is restarted by Ray and its batches retried there (Ray's own retries); one that
  is gone for good (``ray.kill``, its node lost) is replaced and its batches go to the other actors, at most
  ``max_retries`` times each. Files are written atomically, by the actor or by the driver, and the driver commits
  each item once, so a lost batch is never half-written nor recorded twice.
* Remote backends' responses are cached as locally, in the run's manifest, through one small actor on the
  driver's node (SQLite is never opened from two machines).
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import json
import logging
import math
import os
import tempfile
import time
import uuid
from collections import OrderedDict, deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from gen4gen.backends import backend_class, build_backend
from gen4gen.errors import BackendUnavailable, ConfigError, Gen4GenError, StageError
from gen4gen.executors.base import Executor, batches
from gen4gen.io.atomic import TEMP_PREFIX, atomic_write_bytes, remove_stale_temporaries
from gen4gen.stages.base import BackendSpec, Outcome, Stage, WorkItem

if TYPE_CHECKING:
    from gen4gen.backends.base import Backend
    from gen4gen.config import RayConfig, RayResources
    from gen4gen.progress import Reporter

INSTALL_HINT = "pip install 'gen4gen[ray]'"
ACTOR_RESTARTS = 2  # Ray restarts a crashed actor (and retries its batches there) this often
MAX_ACTORS = 1024
WAIT_S = 0.5  # the driver wakes up this often while waiting, so Ctrl-C stops it promptly
SHIPPED_CACHE = 512  # input files kept in the object store for later batches (cut-outs, shared by many)


def import_ray() -> Any:
    """The ``ray`` module, or a one-line error saying how to install it."""
    try:
        import ray
    except ImportError as exc:
        raise BackendUnavailable(
            f"--executor ray needs the ray package, which is not installed here: {INSTALL_HINT} "
            "(or use --executor local or process)"
        ) from exc
    return ray


# --------------------------------------------------------------------------------------------------- driver
@dataclass
class _Slot:
    """One actor of a pool and what it has done."""

    index: int
    actor: Any
    in_flight: int = 0
    items: int = 0
    seconds: float = 0.0


@dataclass
class _Pool:
    """Actors of one shape (CPUs and GPUs each, how many), serving one stage at a time."""

    shape: tuple[float, float, int]
    make: Any  # () -> a new actor handle
    slots: list[_Slot]
    stage: str = ""
    spec: BackendSpec | None = None
    replacements_left: int = 0
    retired: list[_Slot] = field(default_factory=list)
    lost: int = 0

    def serve(self, stage: Stage) -> None:
        """Start counting for ``stage`` (its actors build its backend with their first batch)."""
        self.stage, self.spec = stage.name, stage.spec
        self.replacements_left = max(2, len(self.slots))
        self.retired, self.lost = [], 0
        for slot in self.slots:
            slot.items, slot.seconds = 0, 0.0

    def free_slot(self, limit: int) -> _Slot | None:
        """The least busy actor with room for one more batch."""
        open_slots = [s for s in self.slots if s.in_flight < limit]
        return min(open_slots, key=lambda s: (s.in_flight, s.index)) if open_slots else None

    def lose(self, slot: _Slot, ray: Any) -> None:
        """``slot``'s actor is gone: retire it and start a replacement while the budget allows."""
        if slot not in self.slots:
            return  # already retired (another of its batches came back lost first)
        self.lost += 1
        self.slots.remove(slot)
        self.retired.append(slot)
        with _suppress_ray_errors():
            ray.kill(slot.actor, no_restart=True)
        if self.replacements_left > 0:
            self.replacements_left -= 1
            index = max([s.index for s in self.slots + self.retired]) + 1
            self.slots.append(_Slot(index, self.make()))

    def throughput(self) -> str | None:
        """One line: the stage's actors and how many items per second each made while busy."""
        every = [s for s in self.slots + self.retired if s.items]
        if not every:
            return None
        rates = [s.items / s.seconds for s in every if s.seconds > 0]
        mean = sum(rates) / len(rates) if rates else 0.0
        counts = " + ".join(str(s.items) for s in every)
        lost = f"; {self.lost} actor(s) lost and replaced" if self.lost else ""
        return f"ray: {self.stage} on {len(every)} actor(s), {mean:.2f} items/s per actor ({counts} items){lost}"


class RayExecutor(Executor):
    """Runs each stage's batches on a pool of Ray actors; the driver writes the manifest (see the module doc)."""

    def __init__(self, settings: RayConfig, run_dir: Path, reporter: Reporter | None = None) -> None:
        self.ray = import_ray()
        self.settings = settings
        self.run_dir = run_dir
        self.reporter = reporter
        self._started = False  # whether this executor connected Ray (and so disconnects it)
        self._pool: _Pool | None = None
        self._cache_server: Any = None
        self._cache_name = ""
        self._drain: Any = None  # the driver's side of the response cache (shared_fs=false)
        self._shipped: OrderedDict[tuple[str, int, int], Any] = OrderedDict()

    # ------------------------------------------------------------------------------------------ the cluster
    def _connect(self) -> None:
        ray = self.ray
        if ray.is_initialized():
            return
        address = self.settings.address
        options: dict[str, Any] = {"log_to_driver": False, "logging_level": logging.ERROR}
        if address is None and not os.environ.get("RAY_ADDRESS"):
            options["include_dashboard"] = False  # a new local instance: nothing to look at in a browser
        try:
            ray.init(address=address, **options)
        except (ConnectionError, RuntimeError, ValueError, TimeoutError) as exc:
            where = f"--ray-address {address}" if address else "ray.init()"
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise StageError(
                f"{where}: cannot reach a Ray cluster ({first}); start one with `ray start --head` on the head "
                "node, or leave --ray-address out for a local instance"
            ) from exc
        self._started = True

    def _cache(self) -> Any:
        """The actor that holds the run's response cache, on the driver's node (made once)."""
        if self._cache_server is None:
            ray = self.ray
            options: dict[str, Any] = {"num_cpus": 0, "max_concurrency": 16, "max_restarts": ACTOR_RESTARTS}
            with _suppress_ray_errors():
                from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

                node = ray.get_runtime_context().get_node_id()
                options["scheduling_strategy"] = NodeAffinitySchedulingStrategy(node_id=node, soft=True)
            path = str(self.run_dir / "manifest.sqlite") if self.settings.shared_fs else None
            options["name"] = f"gen4gen-cache-{uuid.uuid4().hex}"  # actors find it by name
            self._cache_server = ray.remote(CacheServer).options(**options).remote(path)
            self._cache_name = options["name"]
        return self._cache_server

    # ------------------------------------------------------------------------------------------------ pools
    def _pool_for(self, stage: Stage, count_hint: int) -> _Pool:
        """The actors for ``stage``: those of its earlier waves, else the previous stage's when they have the
        same shape (warm processes), else new ones (the old ones give their CPUs and GPUs back first)."""
        pool = self._pool
        if pool is not None and pool.stage == stage.name and pool.spec == stage.spec:
            return pool
        from gen4gen.config import RayResources

        resources = getattr(self.settings, stage.name, None)
        if not isinstance(resources, RayResources):  # a stage without its own section: the defaults
            resources = RayResources()
        shape = self._sizing(stage, resources, count_hint)
        if pool is not None:
            self._report(pool)
            if pool.shape != shape:
                self._release()
        if self._pool is None:
            num_cpus, num_gpus, count = shape
            actor_class = self.ray.remote(StageWorker).options(
                num_cpus=num_cpus,
                num_gpus=num_gpus,
                max_restarts=ACTOR_RESTARTS,
                max_task_retries=ACTOR_RESTARTS,
            )
            self._cache()
            cache = self._cache_name

            def make() -> Any:
                return actor_class.remote(cache)

            self._pool = _Pool(shape, make, [_Slot(i, make()) for i in range(count)])
        self._pool.serve(stage)
        return self._pool

    def _sizing(self, stage: Stage, resources: RayResources, count_hint: int) -> tuple[float, float, int]:
        """CPUs and GPUs per actor, and how many actors (see the module docstring for the defaults)."""
        total = self.ray.cluster_resources()
        cpus, gpus = float(total.get("CPU", 0)), float(total.get("GPU", 0))
        cls = backend_class(stage.spec.kind, stage.spec.name)
        device = getattr(cls.Options.model_validate(json.loads(stage.spec.options)), "device", None)
        uses_gpu = device is not None and device != "cpu"
        num_gpus = resources.num_gpus if resources.num_gpus is not None else (1.0 if uses_gpu and gpus else 0.0)
        num_cpus = resources.num_cpus
        key = f"executor.ray.{stage.name}"
        if num_gpus > gpus:
            raise ConfigError(
                f"{key}.num_gpus={num_gpus:g}: the Ray cluster has {gpus:g} GPU(s); add GPU nodes or set "
                f"{key}.num_gpus=0"
            )
        if num_cpus > cpus:
            raise ConfigError(f"{key}.num_cpus={num_cpus:g}: the Ray cluster has {cpus:g} CPU(s); lower it")
        # never more actors than the cluster holds at once: one that cannot start would keep its batches waiting
        fits = min(
            int(cpus // num_cpus) if num_cpus > 0 else MAX_ACTORS,
            int(gpus // num_gpus) if num_gpus else MAX_ACTORS,
        )
        if resources.actors:
            count = resources.actors
        elif getattr(cls, "single_actor", False):  # its scores come from one copy (the model checks)
            count = 1
        elif num_gpus > 0:
            count = fits
        elif not cls.process_parallel:
            count = 1
        else:
            count = fits if num_cpus > 0 else int(cpus)
        return num_cpus, num_gpus, max(1, min(count, fits, count_hint, MAX_ACTORS))

    def _report(self, pool: _Pool) -> None:
        line = pool.throughput()
        if line is not None and self.reporter is not None:
            self.reporter.info(line)
        pool.stage, pool.spec = "", None  # reported once

    def _release(self) -> None:
        if self._pool is not None:
            for slot in self._pool.slots:
                with _suppress_ray_errors():
                    self.ray.kill(slot.actor, no_restart=True)
            self._pool = None

    # -------------------------------------------------------------------------------------------------- map
    def map(self, stage: Stage, items: list[WorkItem], batch_size: int) -> Iterator[list[Outcome]]:
        if not items:
            return
        if not stage.run_dir.is_absolute():
            raise StageError(f"{stage.run_dir}: the Ray executor needs the run folder as an absolute path")
        ray = self.ray
        self._connect()
        pool = self._pool_for(stage, len(items))
        limit = self.settings.in_flight
        size = max(1, min(batch_size, math.ceil(len(items) / (limit * len(pool.slots)))))
        pending = deque((batch, 0) for batch in batches(items, size))
        stage_ref = ray.put(stage)
        shared = self.settings.shared_fs
        in_flight: dict[Any, tuple[_Slot, list[WorkItem], int]] = {}
        done: set[str] = set()
        lost_before = pool.lost
        lost_types = _lost_errors(ray)
        while pending or in_flight:
            while pending and (slot := pool.free_slot(limit)) is not None:
                batch, attempts = pending.popleft()
                in_flight[self._submit(slot, stage_ref, batch)] = (slot, batch, attempts)
            if not in_flight:
                raise StageError(
                    f"{stage.name}: every Ray actor of the stage was lost (killed, out of memory or its node "
                    "gone); rerun the same command to resume"
                )
            ready, _ = ray.wait(list(in_flight), num_returns=1, timeout=WAIT_S)
            for ref in ready:
                slot, batch, attempts = in_flight.pop(ref)
                slot.in_flight -= 1
                try:
                    outcomes, files, seconds = ray.get(ref)
                except lost_types as exc:
                    if attempts >= self.settings.max_retries:
                        raise StageError(
                            f"{stage.name}: a batch lost its Ray actor {attempts + 1} times (killed, out of "
                            "memory or its node gone); rerun the same command to resume"
                        ) from exc
                    if self.reporter is not None and pool.lost == lost_before:
                        self.reporter.warn(
                            f"{stage.name}: a Ray actor was lost (killed, out of memory or its node gone); "
                            "its batches are redone on the other actors"
                        )
                    pool.lose(slot, ray)
                    pending.appendleft((batch, attempts + 1))
                    continue
                except ray.exceptions.RayTaskError as exc:
                    cause = getattr(exc, "cause", None)
                    if isinstance(cause, Gen4GenError):
                        raise cause from exc
                    raise
                slot.items += len(batch)
                slot.seconds += seconds
                if not shared:
                    self._receive(files)
                fresh = [o for o in outcomes if o.record.key not in done]  # an item is committed once
                done.update(o.record.key for o in fresh)
                yield fresh
        if pool.lost > lost_before and shared:
            remove_stale_temporaries(self.run_dir)  # left by an actor killed mid-write on this host

    def _submit(self, slot: _Slot, stage_ref: Any, batch: list[WorkItem]) -> Any:
        """Queue ``batch`` on ``slot``'s actor (with its input files when the run folder is not shared)."""
        if self.settings.shared_fs:
            ref = slot.actor.run.remote(stage_ref, batch, None)
        else:
            names, blobs = self._ship(batch)
            ref = slot.actor.run.remote(stage_ref, batch, names, *blobs)
        slot.in_flight += 1
        return ref

    def _ship(self, batch: list[WorkItem]) -> tuple[list[str], list[Any]]:
        """The run-folder files ``batch`` reads, each put in the object store once (a bounded cache)."""
        names, refs = [], []
        for rel in sorted(named_files([item.inputs for item in batch], self.run_dir)):
            path = self.run_dir / rel
            try:
                info = path.stat()
                key = (rel, info.st_size, info.st_mtime_ns)
                if key not in self._shipped:
                    self._shipped[key] = self.ray.put(path.read_bytes())
                    while len(self._shipped) > SHIPPED_CACHE:
                        self._shipped.popitem(last=False)
            except OSError:
                continue  # gone: the stage reports the missing file as it would locally
            self._shipped.move_to_end(key)
            names.append(rel)
            refs.append(self._shipped[key])
        return names, refs

    def _receive(self, files: dict[str, bytes]) -> None:
        """Write the files a batch made (shared_fs=false) atomically, before its outcomes are committed."""
        for rel, data in files.items():
            atomic_write_bytes(self.run_dir / _inside(rel), data)
        if self._cache_server is not None:  # the responses the batch cached go into the manifest too
            fresh = self.ray.get(self._cache_server.drain.remote())
            if fresh:
                if self._drain is None:
                    from gen4gen.manifest import SqliteResponseCache

                    self._drain = SqliteResponseCache(self.run_dir / "manifest.sqlite")
                for key, value in fresh:
                    self._drain.put(key, value)

    def close(self) -> None:
        if self._pool is not None:
            self._report(self._pool)
            self._release()
        if self._cache_server is not None:
            with _suppress_ray_errors():
                self.ray.kill(self._cache_server, no_restart=True)
            self._cache_server = None
        if self._drain is not None:
            self._drain.close()
            self._drain = None
        self._shipped.clear()
        if self._started:
            self.ray.shutdown()
            self._started = False


def _lost_errors(ray: Any) -> tuple[type[BaseException], ...]:
    """Ray's errors for work lost with its process or node (as opposed to an error raised by the work)."""
    names = ("RayActorError", "ObjectLostError", "WorkerCrashedError", "NodeDiedError", "OutOfMemoryError")
    return tuple(getattr(ray.exceptions, name) for name in names if hasattr(ray.exceptions, name))


def _suppress_ray_errors() -> contextlib.suppress:
    """Ignore what Ray raises while cleaning up after an actor that may be gone already."""
    return contextlib.suppress(Exception)


def _inside(rel: str) -> str:
    """``rel`` when it is a relative path that stays inside the run folder, else a StageError."""
    path = PurePosixPath(rel)
    if path.is_absolute() or ".." in path.parts or not path.parts:
        raise StageError(f"a Ray actor returned a file outside the run folder ({rel!r}); not written")
    return path.as_posix()


# ------------------------------------------------------------------------------------------------ in actors
class CacheServer:
    """The run's response cache, for every actor (a Ray actor on the driver's node).

    With a path it is the run's manifest (shared file system). Without one it keeps the responses in memory and
    hands new ones to the driver, which stores them in the manifest.
    """

    def __init__(self, path: str | None) -> None:
        from gen4gen.manifest import SqliteResponseCache

        self._db = SqliteResponseCache(Path(path)) if path is not None else None
        self._memory: dict[str, str] = {}
        self._fresh: list[tuple[str, str]] = []

    def get(self, key: str) -> str | None:
        return self._db.get(key) if self._db is not None else self._memory.get(key)

    def put(self, key: str, value: str) -> None:
        if self._db is not None:
            self._db.put(key, value)
        else:
            self._memory[key] = value
            self._fresh.append((key, value))

    def drain(self) -> list[tuple[str, str]]:
        fresh, self._fresh = self._fresh, []
        return fresh


class RemoteCache:
    """A backend's response cache that asks the :class:`CacheServer` actor of that name."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._server: Any = None

    def _handle(self) -> Any:
        import ray

        if self._server is None:
            self._server = ray.get_actor(self.name)
        return self._server

    def get(self, key: str) -> str | None:
        import ray

        value: str | None = ray.get(self._handle().get.remote(key))
        return value

    def put(self, key: str, value: str) -> None:
        import ray

        ray.get(self._handle().put.remote(key, value))


class StageWorker:
    """A Ray actor serving one stage at a time: the stage's backend, built once from its spec, and its batches."""

    def __init__(self, cache_name: str) -> None:
        self.cache = RemoteCache(cache_name)
        self.spec: BackendSpec | None = None
        self.backend: Backend | None = None

    def run(
        self, stage: Stage, items: list[WorkItem], shipped: list[str] | None, *blobs: bytes
    ) -> tuple[list[Outcome], dict[str, bytes], float]:
        """``stage.work`` on ``items``: in the run folder itself (``shipped`` None: shared file system), or in a
        private copy holding the ``shipped`` files, whose new files come back as bytes."""
        if self.backend is None or self.spec != stage.spec:
            self.backend = None  # the previous stage's backend goes before the next one is built
            spec = stage.spec
            backend = build_backend(spec.kind, spec.name, json.loads(spec.options))
            backend.cache = self.cache
            self.spec, self.backend = spec, backend
        started = time.perf_counter()  # the work alone: throughput leaves the backend's start-up out
        files: dict[str, bytes] = {}
        if shipped is None:
            outcomes = stage.work(items, self.backend)
        else:
            outcomes, files = run_isolated(stage, items, self.backend, dict(zip(shipped, blobs, strict=True)))
        return outcomes, files, time.perf_counter() - started


def run_isolated(
    stage: Stage, items: list[WorkItem], backend: Backend, inputs: dict[str, bytes]
) -> tuple[list[Outcome], dict[str, bytes]]:
    """``stage.work`` without the run folder: in a temporary folder shaped like it, holding ``inputs`` (files by
    path relative to the run folder). Returns the outcomes, their paths and messages naming the run folder as
    if the work had run there, and every file the work made there, by relative path."""
    real = stage.run_dir
    with tempfile.TemporaryDirectory(prefix="gen4gen-ray-") as scratch:
        home = Path(scratch) / "run"
        for rel, data in inputs.items():
            target = home / _inside(rel)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        moved = copy.copy(stage)
        for name, value in vars(stage).items():
            if name not in ("config", "spec"):
                setattr(moved, name, rebased(value, real, home))
        moved.run_dir = home
        moved_items = [dataclasses.replace(item, inputs=rebased(item.inputs, real, home)) for item in items]
        outcomes = moved.work(moved_items, backend)
        made: dict[str, bytes] = {}
        for folder, _, names in os.walk(home):
            for name in names:
                path = Path(folder) / name
                rel = path.relative_to(home).as_posix()
                if rel not in inputs and not name.startswith(TEMP_PREFIX):
                    made[rel] = path.read_bytes()
    return [_renamed(outcome, str(home), str(real)) for outcome in outcomes], made


def named_files(value: Any, run_dir: Path) -> set[str]:
    """The run-folder files that stage inputs name: strings that are paths relative to the run folder (the
    convention of every record) and absolute paths inside it, as relative POSIX paths."""
    found: set[str] = set()
    stack = [value]
    while stack:
        node = stack.pop()
        if isinstance(node, str):
            if 0 < len(node) < 1024 and "\x00" not in node:
                path = PurePosixPath(node)
                if not path.is_absolute() and ".." not in path.parts and (run_dir / node).is_file():
                    found.add(path.as_posix())
        elif isinstance(node, Path):
            if node.is_absolute() and node.is_relative_to(run_dir) and node.is_file():
                found.add(node.relative_to(run_dir).as_posix())
        elif isinstance(node, BaseModel):
            stack.extend(getattr(node, name) for name in type(node).model_fields)
        elif dataclasses.is_dataclass(node) and not isinstance(node, type):
            stack.extend(getattr(node, f.name) for f in dataclasses.fields(node))
        elif isinstance(node, list | tuple | set | frozenset):
            stack.extend(node)
        elif isinstance(node, dict):
            stack.extend(node.values())
    return found


def rebased(value: Any, old: Path, new: Path) -> Any:
    """``value`` with every absolute path inside ``old`` moved to the same place inside ``new`` (dataclasses,
    pydantic models, tuples, lists and dicts rebuilt only where something changed)."""
    if isinstance(value, Path):
        return new / value.relative_to(old) if value.is_absolute() and value.is_relative_to(old) else value
    if isinstance(value, BaseModel):
        changes = {n: rebased(getattr(value, n), old, new) for n in type(value).model_fields}
        changed = {n: v for n, v in changes.items() if v is not getattr(value, n)}
        return value.model_copy(update=changed) if changed else value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = {f.name: getattr(value, f.name) for f in dataclasses.fields(value) if f.init}
        moved = {n: rebased(v, old, new) for n, v in fields.items()}
        changed = {n: v for n, v in moved.items() if v is not fields[n]}
        return dataclasses.replace(value, **changed) if changed else value
    if type(value) in (list, tuple):
        parts = [rebased(v, old, new) for v in value]
        return type(value)(parts) if any(a is not b for a, b in zip(parts, value, strict=True)) else value
    if type(value) is dict:
        entries = {k: rebased(v, old, new) for k, v in value.items()}
        return entries if any(entries[k] is not v for k, v in value.items()) else value
    return value


def _renamed(outcome: Outcome, scratch: str, real: str) -> Outcome:
    """``outcome`` with the temporary folder's path replaced by the run folder's in its messages and data."""

    def fix(value: Any) -> Any:
        if isinstance(value, str):
            return value.replace(scratch, real)
        if isinstance(value, list):
            return [fix(v) for v in value]
        if isinstance(value, dict):
            return {k: fix(v) for k, v in value.items()}
        return value

    record = outcome.record
    record.message = fix(record.message)
    record.data = fix(record.data)
    outcome.warnings = [fix(w) for w in outcome.warnings]
    return outcome


__all__ = ["INSTALL_HINT", "RayExecutor", "StageWorker", "import_ray", "named_files", "rebased", "run_isolated"]
