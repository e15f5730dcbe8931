"""Hostile command lines and surroundings: one-line messages with the README's exit codes, nothing lost."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest
import yaml
from conftest import write_concepts
from hostile_kit import cli, error_line, fast, rows, snapshot

from gen4gen.io import atomic
from gen4gen.manifest import DONE, Manifest


@pytest.fixture
def src(tmp_path: Path) -> Path:
    return write_concepts(tmp_path / "src", {"cat": 1, "dog": 1})


# case 8 ------------------------------------------------------------------------------------------------------
def test_bad_places_and_files_are_one_line_errors(
    src: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a_file = tmp_path / "a_file"
    a_file.write_text("mine")
    latin1 = tmp_path / "latin1.yaml"
    latin1.write_bytes("samples: 2  # ½\n".encode("latin-1"))
    cases = [
        (["run", src, "--out", a_file], 2, f"--out {a_file}: is a file, not a folder; choose another --out"),
        (["run", src, "--out", a_file / "run"], 2, f"is under {a_file}, which is a file"),
        (["demo", "--out", a_file], 2, f"--out {a_file}: is a file"),
        (["init", tmp_path / "missing" / "g.yaml"], 2, f"no folder {tmp_path / 'missing'}; create it first"),
        (["run", src, "--out", tmp_path / "o", "--config", latin1], 2, f"{latin1}: not UTF-8 text (byte 0xbd"),
        (
            [
                "run",
                src,
                "--out",
                tmp_path / "o",
                "--set",
                "caption.backend=vlm",
                "--set",
                "caption.base_url=http://[::1",
            ],
            2,
            "caption.base_url: 'http://[::1' is not a valid URL (Invalid IPv6 URL); e.g. http://localhost:8000/v1",
        ),
    ]
    for args, code, message in cases:
        got, err = cli(capsys, *args)
        assert (got, message in error_line(err)) == (code, True), (args, err)
    assert a_file.read_text() == "mine" and not (tmp_path / "o").exists() and not (tmp_path / "missing").exists()

    # a run folder whose saved config is not UTF-8: the stage commands name it
    out = tmp_path / "run"
    assert cli(capsys, "run", src, "--out", out, "-n", "1", *fast())[0] == 0
    (out / "config.yaml").write_bytes((out / "config.yaml").read_bytes() + b"# \xff\n")
    got, err = cli(capsys, "caption", out)
    assert got == 2 and f"{out / 'config.yaml'}: not UTF-8 text" in error_line(err)


@pytest.mark.parametrize(
    ("code", "fix"),
    [(errno.ENOSPC, "no space left on the device; free some space"), (errno.EROFS, "read-only file system")],
)
def test_a_full_or_read_only_disk_stops_cleanly_and_a_rerun_resumes(
    src: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    code: int,
    fix: str,
) -> None:
    out = tmp_path / "run"
    assert cli(capsys, "run", src, "--out", out, "-n", "1", *fast())[0] == 0
    made = {k: v for k, v in snapshot(out).items() if "/" in k}  # cut-outs, masks, composites, images
    real_fsync = os.fsync
    calls = {"n": 0}

    def failing_fsync(fd: int) -> None:
        calls["n"] += 1
        if calls["n"] > 3:  # the disk fills up (or turns read-only) in the middle of the second sample
            raise OSError(code, os.strerror(code))
        real_fsync(fd)

    monkeypatch.setattr(atomic.os, "fsync", failing_fsync)
    got, err = cli(capsys, "run", src, "--out", out, "-n", "2", *fast())
    line = error_line(err)
    assert got == 1 and fix in line and "everything finished so far is kept" in line
    assert {k: v for k, v in snapshot(out).items() if k in made} == made  # nothing made before was lost
    assert not [p for p in out.rglob("*.tmp")]
    monkeypatch.setattr(atomic.os, "fsync", real_fsync)
    assert cli(capsys, "run", src, "--out", out, "-n", "2", *fast())[0] == 0
    assert len(rows(out)) == 2


# case 18 -----------------------------------------------------------------------------------------------------
def test_minor_usage_cases(src: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # --out inside SRC is a usage error (2)
    got, err = cli(capsys, "run", src, "--out", src / "out")
    assert got == 2 and "inside the input folder" in error_line(err) and not (src / "out").exists()
    # -q after the subcommand
    out = tmp_path / "run"
    assert cli(capsys, "segment", "-q", src, "--out", out, *fast())[0] == 0
    # an unknown key names the stage's own keys too
    got, err = cli(capsys, "compose", out, "--set", "compose.canvass=512")
    line = error_line(err)
    assert got == 2 and "unknown key 'compose.canvass'" in line
    assert "canvas, flip_p, max_rotation_deg, max_shift_frac, min_visible (the compose stage's)" in line
    # booleans are not numbers
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump({"samples": True}))
    got, err = cli(capsys, "run", src, "--out", out, "--config", config)
    assert got == 2 and "config: samples: Input should be a valid integer (got True)" in error_line(err)


def test_names_with_non_word_edges_are_not_repaired(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = write_concepts(tmp_path / "src", {"🐶": 1, "c++": 1})
    out = tmp_path / "run"
    assert cli(capsys, "run", src, "--out", out, "-n", "2", *fast())[0] == 0
    with Manifest(out) as manifest:
        captions = manifest.records("caption", DONE)
    assert len(captions) == 2
    for record in captions:
        assert record.data["repaired"] is False and record.data["missing"] == []
        text = record.data["text"]
        assert "🐶" in text and "c++" in text and ", with a" not in text
