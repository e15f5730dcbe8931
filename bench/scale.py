"""Scaling figures for docs/scaling.md, in one run: samples/s per stage of the offline pipeline (demo inputs,
default offline backends) with the local executor, the process executor with 1 and 2 workers and the Ray executor
on a local instance with 1 and 2 CPUs; then the per-commit cost of the manifest.

    python bench/scale.py [-n SAMPLES_PER_COMPOSITION] [--canvas 512] [--workers 1 2] [--ray-cpus 1 2]
                          [--commits 2000] [--set KEY=VALUE ...]

Each run makes the whole pipeline in a fresh run folder; the outputs' combined sha256 is printed per run and must
be the same for every executor. Ray's start-up (``ray.init``) is reported apart; each Ray stage includes starting
its actors and building their backends. The manifest figure times ``Manifest.put`` of a real compose record (the
driver's commit of one sample, stats of its files included) into a run folder, each put its own transaction.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import statistics
import tempfile
import time
from pathlib import Path

from pipeline_speed import outputs_digest  # the same digest: config, manifest and report left out
from rich.console import Console
from rich.table import Table

from gen4gen.config import load_config
from gen4gen.demo import write_demo_inputs
from gen4gen.manifest import Manifest
from gen4gen.pipeline import Pipeline
from gen4gen.progress import Reporter
from gen4gen.stages.base import StageStats

CORE = ("compose", "repaint", "caption")


class Notes(Reporter):
    """Keeps the executor's lines (the Ray actors' throughput per stage)."""

    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def info(self, message: str) -> None:
        self.lines.append(message)


def run_once(src: Path, run_dir: Path, overrides: list[str], notes: Notes) -> tuple[list[StageStats], float, str]:
    config = load_config(overrides=overrides)
    started = time.perf_counter()
    with Pipeline(run_dir, config, notes) as pipeline:
        stats = pipeline.run(src)
    return stats, time.perf_counter() - started, outputs_digest(run_dir)


def commit_cost(run_dir: Path, count: int) -> tuple[float, float, int]:
    """Median and 99th-percentile seconds of one ``Manifest.put`` of a compose record, and the record's size."""
    with Manifest(run_dir) as manifest:
        record = manifest.records("compose", "done")[0]
        size = len(repr(dataclasses.asdict(record)))
        times = []
        for index in range(count):
            copy = dataclasses.replace(record, key=f"bench-{index:06d}")
            started = time.perf_counter()
            manifest.put(copy)
            times.append(time.perf_counter() - started)
    times.sort()
    return statistics.median(times), times[int(0.99 * (len(times) - 1))], size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", "--samples", type=int, default=6, help="accepted samples per composition")
    parser.add_argument("--canvas", type=int, default=512)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="process executor sizes")
    parser.add_argument("--ray-cpus", type=int, nargs="+", default=[1, 2], help="local Ray instance sizes")
    parser.add_argument("--commits", type=int, default=2000, help="manifest puts to time")
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    args = parser.parse_args()
    import ray

    runs: dict[str, tuple[list[str], int | None]] = {"local": (["executor.kind=local"], None)}
    for workers in args.workers:
        runs[f"process ×{workers}"] = (["executor.kind=process", f"workers={workers}"], None)
    for cpus in args.ray_cpus:
        runs[f"ray {cpus} CPU"] = (["executor.kind=ray"], cpus)
    table = Table(title=f"gen4gen executors, demo inputs, {args.canvas}², {os.cpu_count()} CPU cores")
    for column in ("executor", "stage", "items", "seconds", "items/s"):
        table.add_column(column, justify="left" if column in ("executor", "stage") else "right")
    digests, walls, starts, notes = {}, {}, {}, Notes()
    console = Console()
    with tempfile.TemporaryDirectory() as tmp:
        src = write_demo_inputs(Path(tmp) / "inputs")
        for index, (name, (executor, cpus)) in enumerate(runs.items()):
            overrides = [f"samples={args.samples}", f"compose.canvas={args.canvas}", *executor, *args.overrides]
            if cpus is not None:  # a fresh local instance of that size; the executor joins it
                started = time.perf_counter()
                ray.init(num_cpus=cpus, include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR)
                starts[name] = time.perf_counter() - started
            try:
                notes.lines.append(f"[{name}]")
                stats, walls[name], digests[name] = run_once(src, Path(tmp) / f"run-{index}", overrides, notes)
            finally:
                if cpus is not None:
                    ray.shutdown()
            for s in stats:
                rate = f"{s.made / s.seconds:.2f}" if s.seconds else "-"
                table.add_row(name, s.name, str(s.made), f"{s.seconds:.2f}", rate)
            core = [s for s in stats if s.name in CORE]
            samples, seconds = core[0].made, sum(s.seconds for s in core)
            table.add_row(
                name, "+".join(CORE), str(samples), f"{seconds:.2f}", f"{samples / seconds:.2f}", end_section=True
            )
        median, p99, size = commit_cost(Path(tmp) / "run-0", args.commits)
    console.print(table)
    for name in runs:
        start = f", ray.init {starts[name]:.1f} s" if name in starts else ""
        console.print(f"{name}: wall {walls[name]:.1f} s{start}, outputs sha256 {digests[name]}")
    same = len(set(digests.values())) == 1
    console.print("outputs identical for every executor" if same else "[red]outputs DIFFER between executors[/]")
    console.print(
        f"manifest commit (Manifest.put of a compose record, ~{size} bytes, {args.commits}×): median "
        f"{median * 1e3:.3f} ms, p99 {p99 * 1e3:.3f} ms → ceiling ≈ {1 / median:,.0f} commits/s"
    )
    for line in notes.lines:
        if line.startswith(("ray:", "[")):  # the Ray actors' throughput per stage, under each run's name
            console.print(line, highlight=False, markup=False)


if __name__ == "__main__":
    main()
