"""The one glue module: opens a run folder, builds the stages from the config, runs them, summarises.

A run folder holds ``config.yaml`` (the resolved config of the last command), ``manifest.sqlite`` and the
outputs. Stage commands other than ``segment`` work on an existing run folder; they read the composition list
and source folder from its manifest, so they can run on another machine than the one that segmented.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

import yaml

from gen4gen import __version__
from gen4gen.backends import DEFAULTS
from gen4gen.config import RunConfig, apply_override, load_config, read_config_file
from gen4gen.io.atomic import atomic_write_text, remove_stale_temporaries
from gen4gen.io.sources import Composition, Concept, ensure_outside, scan_sources
from gen4gen.manifest import Manifest
from gen4gen.progress import Reporter
from gen4gen.stages.caption import caption_stage
from gen4gen.stages.common import Context, StageError, StageStats, require_backend
from gen4gen.stages.compose import compose_stage
from gen4gen.stages.export import export_stage
from gen4gen.stages.repaint import repaint_stage
from gen4gen.stages.segment import segment_stage

CONFIG_FILE = "config.yaml"
STAGES = ("segment", "compose", "repaint", "caption", "export")


class Pipeline:
    """One run folder and the stages that fill it."""

    def __init__(self, run_dir: Path, config: RunConfig, reporter: Reporter | None = None) -> None:
        self.run_dir = run_dir
        self.config = config
        self.reporter = reporter or Reporter()
        self.manifest = Manifest(run_dir)
        remove_stale_temporaries(run_dir)  # left by a run killed mid-write; their files are remade
        self.ctx = Context(run_dir, config, self.manifest, self.reporter)
        self.stats: list[StageStats] = []

    def close(self) -> None:
        self.manifest.close()

    def __enter__(self) -> Pipeline:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------------------------------------ setup
    @staticmethod
    def saved_config(run_dir: Path, config_path: Path | None, overrides: list[str]) -> RunConfig:
        """The run folder's saved config, then ``config_path``, then ``overrides`` on top (stage commands)."""
        saved = run_dir / CONFIG_FILE
        base = read_config_file(saved) if saved.is_file() else {}
        base.pop("gen4gen_version", None)
        changes = read_config_file(config_path) if config_path is not None else {}
        for assignment in overrides:
            apply_override(changes, assignment)
        for kind in DEFAULTS:
            new_backend = (changes.get(kind) or {}).get("backend")
            if new_backend and isinstance(base.get(kind), dict) and base[kind].get("backend") != new_backend:
                # another backend: the saved options belonged to the old one; keep only the stage's own keys
                own = RunConfig.model_fields[kind].annotation.model_fields  # type: ignore[union-attr]
                base[kind] = {k: v for k, v in base[kind].items() if k in own}
        return load_config(config_path, overrides, base=base)

    def write_config(self) -> None:
        resolved = {"gen4gen_version": __version__, **self.config.resolved()}
        text = "# Resolved configuration of this run (defaults filled in); reusable with --config.\n"
        atomic_write_text(self.run_dir / CONFIG_FILE, text + yaml.safe_dump(resolved, sort_keys=False))

    def scan(self, src: Path, cutouts_root: Path) -> None:
        """Scan the input folder and remember it (and where cut-outs go) in the manifest."""
        ensure_outside(src, self.run_dir)
        scan = scan_sources(src)
        for problem in scan.problems:
            self.reporter.warn(problem)
        self.manifest.set_meta("src", str(src.resolve()))
        self.manifest.set_meta("cutouts_root", cutouts_root.relative_to(self.run_dir).as_posix() or ".")
        self.manifest.set_meta(
            "compositions",
            json.dumps(
                [
                    {
                        "id": c.id,
                        "concepts": [
                            {
                                "folder": k.folder,
                                "name": k.name,
                                "photos": [p.relative_to(src).as_posix() for p in k.photos],
                            }
                            for k in c.concepts
                        ],
                    }
                    for c in scan.compositions
                ]
            ),
        )

    def _sources(self) -> tuple[Path, list[Composition]]:
        src, raw = self.manifest.get_meta("src"), self.manifest.get_meta("compositions")
        if src is None or raw is None:
            raise StageError(
                f"{self.run_dir}: not a gen4gen run folder yet; start with `gen4gen run SRC --out DIR`"
            )
        root = Path(src)
        compositions = [
            Composition(
                c["id"], [Concept(k["folder"], k["name"], [root / p for p in k["photos"]]) for k in c["concepts"]]
            )
            for c in json.loads(raw)
        ]
        return root, compositions

    # ------------------------------------------------------------------------------------------------ stages
    def segment(self, src: Path | None = None, cutouts_root: Path | None = None) -> StageStats:
        if src is not None:
            self.scan(src, cutouts_root if cutouts_root is not None else self.run_dir / "cutouts")
        root, compositions = self._sources()
        cut_root = self.run_dir / (self.manifest.get_meta("cutouts_root") or "cutouts")
        return self._record(segment_stage(self.ctx, root, compositions, cut_root))

    def compose(self) -> StageStats:
        root, compositions = self._sources()
        return self._record(compose_stage(self.ctx, root, compositions))

    def repaint(self) -> StageStats:
        return self._record(repaint_stage(self.ctx))

    def caption(self) -> StageStats:
        return self._record(caption_stage(self.ctx))

    def export(self) -> StageStats:
        return self._record(export_stage(self.ctx))

    def run(self, src: Path) -> list[StageStats]:
        """All stages, in order, on ``src``; every backend is built first, so a missing model fails at once."""
        for kind in ("segment", "compose", "repaint", "caption"):
            require_backend(self.ctx, kind)
        self.write_config()
        self.segment(src)
        self.compose()
        self.repaint()
        self.caption()
        self.export()
        return self.stats

    def _record(self, stats: StageStats) -> StageStats:
        self.stats.append(stats)
        self.manifest.set_meta(f"stats.{stats.name}", json.dumps(_jsonable(stats)))
        return stats


def _jsonable(stats: StageStats) -> dict[str, Any]:
    data = asdict(stats)
    data["rejected"] = dict(stats.rejected)
    return data
