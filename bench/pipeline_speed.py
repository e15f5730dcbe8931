"""Samples per second per stage on the demo inputs at 1024² (offline default backends).

    python bench/pipeline_speed.py [-n SAMPLES_PER_COMPOSITION] [--canvas 1024] [--set KEY=VALUE ...]

Segmentation runs once per photo and is reported separately; the target is compose + repaint + caption
≥ 2 samples/s on 2 CPU cores.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from gen4gen.config import load_config
from gen4gen.demo import write_demo_inputs
from gen4gen.pipeline import Pipeline


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", "--samples", type=int, default=16, help="accepted samples per composition")
    parser.add_argument("--canvas", type=int, default=1024)
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    args = parser.parse_args()
    config = load_config(overrides=[f"samples={args.samples}", f"compose.canvas={args.canvas}", *args.overrides])
    with tempfile.TemporaryDirectory() as tmp:
        src = write_demo_inputs(Path(tmp) / "inputs")
        started = time.perf_counter()
        with Pipeline(Path(tmp) / "run", config) as pipeline:
            stats = pipeline.run(src)
        wall = time.perf_counter() - started
    table = Table(title=f"gen4gen pipeline, demo inputs, {args.canvas}², {os.cpu_count()} CPU cores")
    for column in ("stage", "items", "seconds", "items/s", "s/item"):
        table.add_column(column, justify="left" if column == "stage" else "right")
    for s in stats:
        table.add_row(
            s.name, str(s.made), f"{s.seconds:.2f}", f"{s.made / s.seconds:.2f}", f"{s.seconds / s.made:.3f}"
        )
    per_sample = {s.name: s for s in stats}
    core = [per_sample[name] for name in ("compose", "repaint", "caption")]
    samples = core[0].made
    seconds = sum(s.seconds for s in core)
    table.add_row(
        "compose+repaint+caption",
        str(samples),
        f"{seconds:.2f}",
        f"{samples / seconds:.2f}",
        f"{seconds / samples:.3f}",
    )
    rejected = sum(sum(s.rejected.values()) for s in stats)
    Console().print(table)
    Console().print(
        f"wall time {wall:.1f} s; rejected layouts {rejected}; target compose+repaint+caption ≥ 2 samples/s"
    )


if __name__ == "__main__":
    main()
