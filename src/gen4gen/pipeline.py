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
from gen4gen.errors import StageError
from gen4gen.executors import BackendPool, Executor, executor_kind, make_executor
from gen4gen.io.atomic import atomic_write_text, remove_stale_temporaries
from gen4gen.io.sources import Composition, Concept, ensure_outside, scan_sources
from gen4gen.manifest import Manifest
from gen4gen.progress import Reporter
from gen4gen.stages.base import BackendSpec, Context, Stage, StageStats
from gen4gen.stages.caption import CaptionStage
from gen4gen.stages.compose import ComposeStage
from gen4gen.stages.curate import CurateStage, driver_suite
from gen4gen.stages.export import export_stage
from gen4gen.stages.repaint import RepaintStage
from gen4gen.stages.runner import run_stage
from gen4gen.stages.segment import SegmentStage

CONFIG_FILE = "config.yaml"
STAGES = ("segment", "compose", "repaint", "caption", "curate", "export")
LEGACY_KEYS = {("segment", "workers"): "workers"}  # moved keys of older config files: old -> new


class Pipeline:
    """One run folder and the stages that fill it."""

    def __init__(
        self,
        run_dir: Path,
        config: RunConfig,
        reporter: Reporter | None = None,
        retry_failed: bool = False,
        verify: bool = False,
    ) -> None:
        if config.executor.kind == "ray":
            run_dir = run_dir.absolute()  # the path every node of the cluster finds the run folder at
        self.run_dir = run_dir
        self.config = config
        self.reporter = reporter or Reporter()
        self.manifest = Manifest(run_dir, verify)
        remove_stale_temporaries(run_dir)  # left by a run killed mid-write; their files are remade
        self.backends = BackendPool(run_dir)
        self.ctx = Context(run_dir, config, self.manifest, self.reporter, self.backends, retry_failed)
        self._executor: Executor | None = None
        self.stats: list[StageStats] = []
        self.report_path: Path | None = None  # RUN_DIR/report.html once written

    @property
    def executor(self) -> Executor:
        if self._executor is None:
            self._executor = make_executor(self.config, self.run_dir, self.backends, self.reporter)
        return self._executor

    def close(self) -> None:
        if self._executor is not None:
            self._executor.close()
        # again at the end: a writer of an earlier, killed run (a Ray actor still finishing) may have died since
        remove_stale_temporaries(self.run_dir)
        self.backends.close()
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
        base = upgrade_config(read_config_file(saved)) if saved.is_file() else {}
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
        cutouts = cutouts_root.absolute().relative_to(self.run_dir.absolute())
        self.manifest.set_meta("cutouts_root", cutouts.as_posix() or ".")
        compositions = [
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
        self.manifest.set_meta("compositions", json.dumps(compositions))

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

    def require_backends(self, kinds: tuple[str, ...] = ("segment", "compose", "repaint", "caption")) -> None:
        """Build every stage's backend now, so a missing package or model fails before any work."""
        for kind in kinds:
            self.backends.get(BackendSpec.of(self.config, kind))

    def require_checks(self) -> None:
        """Build the run's checks now and load the models of its model checks where they will run, in this
        process (not with Ray: one actor loads them), so a missing model fails before any work."""
        suite = driver_suite(self.ctx)
        if executor_kind(self.config) != "ray":
            suite.load()

    # ------------------------------------------------------------------------------------------------ stages
    def segment(self, src: Path | None = None, cutouts_root: Path | None = None) -> StageStats:
        if src is not None:
            self.scan(src, cutouts_root if cutouts_root is not None else self.run_dir / "cutouts")
        root, compositions = self._sources()
        cut_root = self.run_dir / (self.manifest.get_meta("cutouts_root") or "cutouts")
        return self._run(SegmentStage(self.run_dir, self.config, root, compositions, cut_root))

    def compose(self) -> StageStats:
        root, compositions = self._sources()
        return self._run(ComposeStage(self.run_dir, self.config, root, compositions))

    def repaint(self) -> StageStats:
        return self._run(RepaintStage(self.run_dir, self.config))

    def caption(self) -> StageStats:
        return self._run(CaptionStage(self.run_dir, self.config))

    def curate(self, report: bool = True) -> StageStats:
        """Automatic checks: a verdict per sample and check (docs/curation.md); then RUN_DIR/report.html when
        ``report`` and ``curate.report``."""
        stats = self._run(CurateStage(self.run_dir, self.config))
        if report and self.config.curate.report:
            self.report()
        return stats

    def report(self) -> Path:
        """Write RUN_DIR/report.html (the samples with their verdicts, scores and reasons) and return its path."""
        from gen4gen.report import write_report

        self.report_path = write_report(self.run_dir, self.manifest, self.config)
        return self.report_path

    def export(
        self, formats: list[str] | None = None, out: Path | None = None, include_flagged: bool | None = None
    ) -> StageStats:
        """The run folder's metadata.jsonl, contact sheet and ``export.formats``; or only ``formats``, in
        RUN_DIR/exports/<format> (``out`` for one format, ``out``/<format> for several)."""
        return self._record(export_stage(self.ctx, formats, out, include_flagged))

    def run(self, src: Path) -> list[StageStats]:
        """All stages, in order, on ``src``; every backend is built first, so a missing model fails at once."""
        self.require_backends()
        if self.config.curate.enabled:
            self.require_checks()
        self.write_config()
        self.segment(src)
        self.compose()
        self.repaint()
        self.caption()
        if self.config.curate.enabled:
            self.curate(report=False)
        self.export()
        if self.config.curate.enabled and self.config.curate.report:
            self.report()
        return self.stats

    def _run(self, stage: Stage) -> StageStats:
        return self._record(run_stage(stage, self.ctx, self.executor))

    def _record(self, stats: StageStats) -> StageStats:
        self.stats.append(stats)
        self.manifest.set_meta(f"stats.{stats.name}", json.dumps(_jsonable(stats)))
        return stats


def upgrade_config(data: dict[str, Any]) -> dict[str, Any]:
    """A saved config of an older version with its moved keys in their new place."""
    for (section, key), new in LEGACY_KEYS.items():
        old = data.get(section)
        if isinstance(old, dict) and key in old:
            value = old.pop(key)
            data.setdefault(new, value)
    return data


def _jsonable(stats: StageStats) -> dict[str, Any]:
    data = asdict(stats)
    data["rejected"] = dict(stats.rejected)
    data["failed"] = dict(stats.failed)
    return data
