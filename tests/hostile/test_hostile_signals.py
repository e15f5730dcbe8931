"""Case 9: Ctrl-C and SIGTERM stop a run at once, alike, with one line; no worker outlives it; nothing is lost."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import live_processes, write_concepts
from hostile_kit import FAST

from gen4gen.manifest import DONE, Manifest
from gen4gen.testing.fake_openai import FakeOpenAI, Reply

pytestmark = pytest.mark.skipif(not Path("/proc").is_dir(), reason="needs /proc")
MESSAGE = "interrupted: everything finished so far is kept; rerun the same command to resume"


def _group(pgid: int) -> list[int]:
    """Live processes of process group ``pgid``."""
    return [pid for pid, fields in live_processes().items() if int(fields[2]) == pgid]


def _start(*args: str | Path) -> subprocess.Popen[str]:
    command = [sys.executable, "-m", "gen4gen", "-q", *map(str, args)]
    for key in FAST:
        command += ["--set", key]
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    return subprocess.Popen(command, stderr=subprocess.PIPE, text=True, env=env, start_new_session=True)


def _wait_for(condition: Callable[[], bool], process: subprocess.Popen[str], seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert process.poll() is None and time.monotonic() < deadline, "the run never got there"
        time.sleep(0.05)


def _stop(process: subprocess.Popen[str], signum: int) -> tuple[int, str, float]:
    started = time.monotonic()
    os.killpg(process.pid, signum)  # as a terminal's Ctrl-C does: the whole process group
    _, err = process.communicate(timeout=30)
    return process.returncode, err, time.monotonic() - started


def _intact(run_dir: Path, stage: str) -> int:
    with Manifest(run_dir) as manifest:
        records = manifest.records(stage, DONE)
        assert all(manifest.intact(r) for r in records)
    return len(records)


def test_ctrl_c_during_endpoint_waits_and_sigterm_during_segmentation(tmp_path: Path) -> None:
    src = write_concepts(tmp_path / "src", {"cat": 1, "dog": 1})
    out = tmp_path / "run"
    with FakeOpenAI(default=Reply.hang(60)) as server:  # an endpoint that never answers
        vlm = ["caption.backend=vlm", f"caption.base_url={server.url}", "caption.model=fake"]
        process = _start("run", src, "--out", out, "-n", "2", *(x for key in vlm for x in ("--set", key)))
        _wait_for(lambda: len(server.requests) >= 2, process)
        code, err, took = _stop(process, signal.SIGINT)
    assert (code, took < 3) == (130, True), err
    assert MESSAGE in err.splitlines() and "Traceback" not in err
    assert not _group(process.pid)
    assert _intact(out, "repaint") == 2  # everything before the captions is kept

    photos = write_concepts(tmp_path / "many", {"cat": 6, "dog": 6})
    cut = tmp_path / "cut"
    process = _start("segment", photos, "--out", cut, "--workers", "2")
    _wait_for(lambda: len(_group(process.pid)) >= 3 and any(cut.rglob("*.mask.png")), process)
    code, err, took = _stop(process, signal.SIGTERM)
    assert (code, took < 3) == (143, True), err
    assert MESSAGE in err.splitlines() and "Traceback" not in err
    time.sleep(1.5)  # workers that were mid-batch die with their driver
    assert not _group(process.pid)
    _intact(cut, "segment")
