"""Samples per second per stage on the demo inputs at 1024² (offline default backends), for each worker count.

    python bench/pipeline_speed.py [-n SAMPLES_PER_COMPOSITION] [--canvas 1024] [--workers 1 2] [--set KEY=VALUE ...]

Each worker count runs the whole pipeline in a fresh run folder; the outputs' combined sha256 is printed per run
and must be the same for every worker count. Segmentation runs once per photo and is reported separately; the
target is compose + repaint + caption ≥ 2 samples/s on 2 CPU cores.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from gen4gen.config import load_config
from gen4gen.demo import write_demo_inputs
from gen4gen.pipeline import Pipeline
from gen4gen.stages.base import StageStats


def outputs_digest(run_dir: Path) -> str:
    """One sha256 over every output file (config and manifest left out: they hold the settings and timings)."""
    digest = hashlib.sha256()
    for path in sorted(run_dir.rglob("*")):
        if path.is_file() and not path.name.startswith(("manifest.sqlite", "config.yaml")):
            digest.update(path.relative_to(run_dir).as_posix().encode())
            digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()[:16]


def run_once(src: Path, run_dir: Path, overrides: list[str]) -> tuple[list[StageStats], float, str]:
    config = load_config(overrides=overrides)
    started = time.perf_counter()
    with Pipeline(run_dir, config) as pipeline:
        stats = pipeline.run(src)
    return stats, time.perf_counter() - started, outputs_digest(run_dir)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", "--samples", type=int, default=16, help="accepted samples per composition")
    parser.add_argument("--canvas", type=int, default=1024)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="worker counts to compare")
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    args = parser.parse_args()
    table = Table(title=f"gen4gen pipeline, demo inputs, {args.canvas}², {os.cpu_count()} CPU cores")
    for column in ("workers", "stage", "items", "seconds", "items/s", "s/item"):
        table.add_column(column, justify="left" if column in ("stage", "workers") else "right")
    digests, walls = {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        src = write_demo_inputs(Path(tmp) / "inputs")
        for workers in args.workers:
            overrides = [
                f"samples={args.samples}",
                f"compose.canvas={args.canvas}",
                f"workers={workers}",
                *args.overrides,
            ]
            stats, walls[workers], digests[workers] = run_once(src, Path(tmp) / f"run-{workers}", overrides)
            for s in stats:
                rate = f"{s.made / s.seconds:.2f}" if s.seconds else "-"
                per = f"{s.seconds / s.made:.3f}" if s.made else "-"
                table.add_row(str(workers), s.name, str(s.made), f"{s.seconds:.2f}", rate, per)
            core = [s for s in stats if s.name in ("compose", "repaint", "caption")]
            samples, seconds = core[0].made, sum(s.seconds for s in core)
            table.add_row(
                str(workers),
                "compose+repaint+caption",
                str(samples),
                f"{seconds:.2f}",
                f"{samples / seconds:.2f}",
                f"{seconds / samples:.3f}",
                end_section=True,
            )
    console = Console()
    console.print(table)
    for workers in args.workers:
        console.print(f"workers={workers}: wall {walls[workers]:.1f} s, outputs sha256 {digests[workers]}")
    same = len(set(digests.values())) == 1
    console.print("outputs identical for every worker count" if same else "[red]outputs DIFFER between runs[/]")


if __name__ == "__main__":
    main()
