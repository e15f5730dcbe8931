"""Backends built where they run, once per process, from their :class:`~gen4gen.stages.base.BackendSpec`."""

from __future__ import annotations

import json
from pathlib import Path

from gen4gen.backends import build_backend
from gen4gen.backends.base import Backend
from gen4gen.manifest import SqliteResponseCache
from gen4gen.manifest.store import Manifest
from gen4gen.stages.base import BackendSpec


class BackendPool:
    """The backends of one process, keyed by spec; each gets the run's response cache."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir
        self._backends: dict[BackendSpec, Backend] = {}
        self._cache: SqliteResponseCache | None = None

    def get(self, spec: BackendSpec) -> Backend:
        if spec not in self._backends:
            backend = build_backend(spec.kind, spec.name, json.loads(spec.options))
            if self._cache is None:
                self._cache = SqliteResponseCache(self.run_dir / Manifest.FILENAME)
            backend.cache = self._cache
            self._backends[spec] = backend
        return self._backends[spec]

    def close(self) -> None:
        self._backends.clear()
        if self._cache is not None:
            self._cache.close()
            self._cache = None
