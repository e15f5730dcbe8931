"""What every stage shares: the run context, per-stage statistics and the skip-if-current loop."""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from gen4gen.backends import build_backend
from gen4gen.backends.base import Backend, BackendUnavailable
from gen4gen.config import RunConfig
from gen4gen.errors import StageError
from gen4gen.manifest import Manifest
from gen4gen.progress import Reporter

T = TypeVar("T")

SAMPLES_META = "samples"  # meta key: JSON list of the accepted sample keys of the current compose run


@dataclass
class StageStats:
    name: str
    made: int = 0
    reused: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    failed: int = 0
    seconds: float = 0.0

    @property
    def total_ok(self) -> int:
        return self.made + self.reused


@dataclass
class Context:
    """Everything a stage needs: where the run lives, its config, its manifest, how to report."""

    run_dir: Path
    config: RunConfig
    manifest: Manifest
    reporter: Reporter
    _backends: dict[str, Backend] = field(default_factory=dict)

    def backend(self, kind: str) -> Backend:
        """The configured backend of a stage, built once; remote backends get the manifest's response cache."""
        if kind not in self._backends:
            section = self.config.stage_section(kind)
            options = self.config.backend_options(kind).model_dump()
            backend = build_backend(kind, section.backend, options)
            backend.cache = self.manifest.response_cache()
            self._backends[kind] = backend
        return self._backends[kind]

    def sample_keys(self) -> list[str]:
        raw = self.manifest.get_meta(SAMPLES_META)
        if raw is None:
            raise StageError(
                f"{self.run_dir}: no composed samples yet; run `gen4gen compose` (or `gen4gen run`) first"
            )
        keys: list[str] = json.loads(raw)
        return keys


def chunks(items: list[T], size: int) -> Iterator[list[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def safe_stem(text: str) -> str:
    """A file-name-safe version of an id (keeps letters of any script, digits, '+', '-', '.')."""
    return re.sub(r"[^\w+\-.]+", "_", text).strip("_") or "item"


def require_backend(ctx: Context, kind: str) -> Backend:
    """The stage's backend, or a StageError with the backend's own explanation."""
    try:
        return ctx.backend(kind)
    except BackendUnavailable as exc:
        raise StageError(str(exc)) from exc
