"""Samples per second per stage on the demo inputs at 512² (offline default backends) with each executor: local,
process (``--workers``) and Ray (a local instance with ``--ray-cpus`` CPUs, one actor per CPU).

    python bench/ray_speed.py [-n SAMPLES_PER_COMPOSITION] [--canvas 512] [--workers 2] [--ray-cpus 2]
                              [--set KEY=VALUE ...]

Each executor runs the whole pipeline in a fresh run folder; the outputs' combined sha256 is printed per run and
must be the same for every executor. Ray's start-up (``ray.init``) is reported apart; each Ray stage includes
starting its actors and building their backends.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent))
from pipeline_speed import outputs_digest

from gen4gen.config import load_config
from gen4gen.demo import write_demo_inputs
from gen4gen.pipeline import Pipeline
from gen4gen.progress import Reporter
from gen4gen.stages.base import StageStats


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", "--samples", type=int, default=8, help="accepted samples per composition")
    parser.add_argument("--canvas", type=int, default=512)
    parser.add_argument("--workers", type=int, default=2, help="processes of the process executor")
    parser.add_argument("--ray-cpus", type=int, default=2, help="CPUs of the local Ray instance")
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    args = parser.parse_args()
    import ray

    runs = {
        "local": ["executor.kind=local"],
        f"process ×{args.workers}": ["executor.kind=process", f"workers={args.workers}"],
        f"ray ×{args.ray_cpus}": ["executor.kind=ray"],
    }
    table = Table(title=f"gen4gen executors, demo inputs, {args.canvas}², {os.cpu_count()} CPU cores")
    for column in ("executor", "stage", "items", "seconds", "items/s"):
        table.add_column(column, justify="left" if column in ("executor", "stage") else "right")
    digests, walls, notes = {}, {}, Notes()
    console = Console()
    with tempfile.TemporaryDirectory() as tmp:
        src = write_demo_inputs(Path(tmp) / "inputs")
        started = time.perf_counter()
        ray.init(num_cpus=args.ray_cpus, include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR)
        ray_start = time.perf_counter() - started
        try:
            for index, (name, executor) in enumerate(runs.items()):
                overrides = [
                    f"samples={args.samples}",
                    f"compose.canvas={args.canvas}",
                    *executor,
                    *args.overrides,
                ]
                run_dir = Path(tmp) / f"run-{index}"
                stats, walls[name], digests[name] = run_once(src, run_dir, overrides, notes)
                for s in stats:
                    rate = f"{s.made / s.seconds:.2f}" if s.seconds else "-"
                    table.add_row(name, s.name, str(s.made), f"{s.seconds:.2f}", rate)
                core = [s for s in stats if s.name in ("compose", "repaint", "caption")]
                samples, seconds = core[0].made, sum(s.seconds for s in core)
                table.add_row(
                    name,
                    "compose+repaint+caption",
                    str(samples),
                    f"{seconds:.2f}",
                    f"{samples / seconds:.2f}",
                    end_section=True,
                )
        finally:
            ray.shutdown()
    console.print(table)
    console.print(f"ray.init (local instance, {args.ray_cpus} CPUs): {ray_start:.1f} s")
    for name in runs:
        console.print(f"{name}: wall {walls[name]:.1f} s, outputs sha256 {digests[name]}")
    for line in notes.lines:
        console.print(line, highlight=False)
    same = len(set(digests.values())) == 1
    console.print("outputs identical for every executor" if same else "[red]outputs DIFFER between executors[/]")


if __name__ == "__main__":
    main()
