"""Samples per second per stage on the demo inputs at 1024² (offline default backends), for each worker count,
then whole-process figures: extending a run, an all-skipped rerun, start-up, peak memory, bytes per sample.

    python bench/pipeline_speed.py [-n SAMPLES_PER_COMPOSITION] [--canvas 1024] [--workers 1 2]
                                   [--extend 16] [--rerun 64 256] [--peak-canvas 2048] [--set KEY=VALUE ...]

Each worker count runs the whole pipeline in a fresh run folder; the outputs' combined sha256 is printed per run
and must be the same for every worker count. Segmentation runs once per photo and is reported separately.
Targets on 2 CPU cores: compose ≤ 0.11 s/sample; whole process ≥ 2 samples/s with one worker, ≥ 3.4 with two.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import statistics
import subprocess
import sys
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
    """One sha256 over every output file (config, manifest and report left out: settings and timings)."""
    digest = hashlib.sha256()
    for path in sorted(run_dir.rglob("*")):
        if path.is_file() and not path.name.startswith(("manifest.sqlite", "config.yaml", "report.html")):
            digest.update(path.relative_to(run_dir).as_posix().encode())
            digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()[:16]


def run_once(src: Path, run_dir: Path, overrides: list[str]) -> tuple[list[StageStats], float, str]:
    config = load_config(overrides=overrides)
    started = time.perf_counter()
    with Pipeline(run_dir, config) as pipeline:
        stats = pipeline.run(src)
    return stats, time.perf_counter() - started, outputs_digest(run_dir)


# VmHWM, not ru_maxrss: a child's ru_maxrss starts from its parent's peak (the fork's copy), VmHWM from exec
PEAK = (
    "import re, sys\n"
    "from gen4gen.cli import main\n"
    "code = main(sys.argv[1:])\n"
    "status = open('/proc/self/status').read()\n"
    "print(re.search(r'VmHWM:\\s+(\\d+)', status).group(1), file=sys.stderr)\n"
    "sys.exit(code)\n"
)


def gen4gen(*args: str | Path) -> tuple[float, float]:
    """Run the CLI in a fresh process: (wall seconds, peak resident memory of the main process in MB)."""
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-c", PEAK, "-q", *map(str, args)], check=True, capture_output=True, text=True
    )
    wall = time.perf_counter() - started
    return wall, int(result.stderr.strip().splitlines()[-1]) / 1024


def dataset_bytes(run_dir: Path) -> int:
    """Bytes of what a sample costs on disk: composites, masks, images and metadata (not cut-outs, manifest)."""
    kept = ("composites", "masks", "images")
    return sum(
        p.stat().st_size for p in run_dir.rglob("*") if p.is_file() and p.relative_to(run_dir).parts[0] in kept
    )


def whole_process(src: Path, tmp: Path, args: argparse.Namespace, console: Console) -> None:
    table = Table(title="whole process (`gen4gen run` in a fresh process each time)")
    for column in ("measure", "workers", "samples", "seconds", "samples/s", "peak MB (main)"):
        table.add_column(column, justify="left" if column == "measure" else "right")
    common = [f"compose.canvas={args.canvas}", *args.overrides]
    sets = [item for key in common for item in ("--set", key)]
    compositions = None
    for workers in args.workers:
        run_dir = tmp / f"whole-{workers}"
        flags = ["--workers", str(workers), *sets]
        gen4gen("run", src, "--out", run_dir, "-n", args.samples, *flags)
        compositions = compositions or len({p.name.rsplit("_", 1)[0] for p in (run_dir / "images").iterdir()})
        wall, peak = gen4gen("run", src, "--out", run_dir, "-n", args.samples + args.extend, *flags)
        made = args.extend * compositions
        table.add_row(
            f"extend by {args.extend}/composition",
            str(workers),
            str(made),
            f"{wall:.2f}",
            f"{made / wall:.2f}",
            f"{peak:.0f}",
        )
        if workers == args.workers[-1]:
            total = (args.samples + args.extend) * compositions
            per_sample = dataset_bytes(run_dir) / total
            console.print(f"bytes per sample (composite, masks, image): {per_sample / 1e6:.2f} MB")
    for count in args.rerun:
        run_dir = tmp / f"rerun-{count}"
        per = max(1, count // (compositions or 1))
        flags = ["--workers", str(args.workers[-1]), *sets, "--set", "compose.canvas=256"]
        gen4gen("run", src, "--out", run_dir, "-n", per, *flags)
        wall, peak = gen4gen("run", src, "--out", run_dir, "-n", per, *flags)
        table.add_row(
            "all-skipped rerun (256²)",
            str(args.workers[-1]),
            str(per * (compositions or 1)),
            f"{wall:.2f}",
            "-",
            f"{peak:.0f}",
        )
    run_dir = tmp / f"whole-{args.workers[0]}"
    for canvas in args.peak_canvas:  # memory in canvas size: the same cut-outs recomposed at another size
        flags = ["--workers", "1", *sets, "--set", f"compose.canvas={canvas}"]
        wall, peak = gen4gen("run", src, "--out", run_dir, "-n", 4, *flags)
        made = 4 * (compositions or 1)
        table.add_row(f"run at {canvas}²", "1", str(made), f"{wall:.2f}", f"{made / wall:.2f}", f"{peak:.0f}")
    starts = []
    for _ in range(5):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "gen4gen", "--version"], check=True, capture_output=True)
        starts.append(time.perf_counter() - started)
    table.add_row("start-up (--version, median of 5)", "-", "-", f"{statistics.median(starts):.3f}", "-", "-")
    console.print(table)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", "--samples", type=int, default=16, help="accepted samples per composition")
    parser.add_argument("--canvas", type=int, default=1024)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="worker counts to compare")
    parser.add_argument("--extend", type=int, default=16, help="samples per composition added by a second run")
    parser.add_argument(
        "--rerun", type=int, nargs="*", default=[64, 256], help="sample counts of all-skipped reruns"
    )
    parser.add_argument(
        "--peak-canvas", type=int, nargs="*", default=[2048], help="canvas sizes of a peak-memory run"
    )
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
        console.print(
            "outputs identical for every worker count" if same else "[red]outputs DIFFER between runs[/]"
        )
        whole_process(src, Path(tmp), args, console)


if __name__ == "__main__":
    main()
