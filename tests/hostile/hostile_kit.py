"""Shared helpers of the hostile-case tests: run the CLI, read its one-line error, snapshot a folder."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from gen4gen.cli import main

FAST = ["compose.canvas=256", "batch_size=4", "segment.rounds=1"]


def fast(*extra: str) -> list[str]:
    return [item for key in (*FAST, *extra) for item in ("--set", key)]


def cli(capsys: pytest.CaptureFixture[str], *args: str | Path) -> tuple[int, str]:
    """Exit status and stderr of ``gen4gen -q ARGS`` run in this process."""
    capsys.readouterr()
    code = main(["-q", *map(str, args)])
    return code, capsys.readouterr().err


def error_line(err: str) -> str:
    """The one ``error:`` line of ``err`` (and nothing that looks like a traceback)."""
    assert "Traceback" not in err, err
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, err
    return lines[0]


def snapshot(root: Path) -> dict[str, str]:
    """sha256 of every file under ``root`` (the run database aside: it holds timings)."""
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and not p.is_symlink() and not p.name.startswith("manifest.sqlite")
    }


def rows(run_dir: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (run_dir / "metadata.jsonl").read_text().splitlines()]


def everything_written(run_dir: Path) -> bytes:
    """Every byte gen4gen keeps in a run folder (files, run database and its journal)."""
    return b"".join(p.read_bytes() for p in sorted(run_dir.rglob("*")) if p.is_file())
