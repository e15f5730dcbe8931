"""Hostile files and folders: temporaries, output names, odd photo names, alpha channels, odd entries, modes."""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

import numpy as np
import pytest
from conftest import object_photo, write_concepts
from hostile_kit import cli, error_line, fast, snapshot
from PIL import Image

from gen4gen.io import atomic
from gen4gen.io.images import load_image
from gen4gen.manifest import DONE, Manifest
from gen4gen.stages.segment import MAX_NAME_BYTES


def _dead_pid() -> int:
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


def _temporary(folder: Path, name: str, pid: int) -> Path:
    path = folder / f"{atomic.TEMP_PREFIX}{name}.{atomic._HOST}-{pid}.abc123{atomic.TEMP_SUFFIX}"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"half a file")
    return path


# case 1 ------------------------------------------------------------------------------------------------------
def test_only_our_own_stale_temporaries_are_removed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = write_concepts(tmp_path / "src", {"cat": 1})
    out = tmp_path / "x"
    draft = out / "project" / ".draft.tmp"  # someone else's file in the output folder
    draft.parent.mkdir(parents=True)
    draft.write_text("keep")
    in_git = _temporary(out / ".git", "index", _dead_pid())  # named like ours, but in a folder that is not ours
    stale = _temporary(out / "cutouts" / "cat", "photo_0.jpg.png", _dead_pid())  # a killed run's
    with subprocess.Popen(["sleep", "30"]) as live_writer:  # another run still writing
        try:
            live = _temporary(out / "images", "s.png", live_writer.pid)
            code, _ = cli(capsys, "run", src, "--out", out, "-n", "1", *fast())
            assert code == 0
            assert draft.read_text() == "keep" and in_git.is_file() and live.is_file()
            assert not stale.exists()
        finally:
            live_writer.kill()
    # SRC inside --out is refused as a usage error, before anything is touched
    before = snapshot(out)
    inner = write_concepts(out / "photos", {"dog": 1})
    code, err = cli(capsys, "run", inner, "--out", out, "-n", "1")
    assert code == 2
    assert "the input folder is inside --out" in error_line(err) and str(inner) in err
    assert {k: v for k, v in snapshot(out).items() if not k.startswith("photos/")} == before


# case 2 ------------------------------------------------------------------------------------------------------
def test_output_names_are_unique_by_construction(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "src"
    (src / "dog").mkdir(parents=True)
    names = ["a.jpg", "a.png", "a_png.jpg", "b.jpg", "b_round1.jpg", "b.round1.jpg"]
    for k, name in enumerate(names):
        Image.fromarray(object_photo(k, (200, 40 + 30 * k, 40))).save(src / "dog" / name)
    out = tmp_path / "cut"
    code, err = cli(capsys, "segment", src, "--out", out, "--set", "segment.rounds=2")
    assert code == 0, err
    with Manifest(out) as manifest:
        records = manifest.records("segment", DONE)
    assert len(records) == len(names)
    written = [rel for record in records for rel in record.outputs]
    assert len(written) == len(set(written)) == len(names) * 4  # cut-out, chosen mask, two round masks each
    for record in records:  # every cut-out is its own photo's
        photo = load_image(src / record.key)
        assert record.data["size"] == [photo.rgb.shape[1], photo.rgb.shape[0]]
        assert record.data["cutout"] == f"dog/{Path(record.key).name}.png"
    before = snapshot(out)
    code, _ = cli(capsys, "segment", src, "--out", out, "--set", "segment.rounds=2")
    assert code == 0 and snapshot(out) == before  # the run settles: nothing is redone
    with Manifest(out) as manifest:
        assert manifest.records("segment", DONE) == records


# case 7 ------------------------------------------------------------------------------------------------------
def test_long_and_non_utf8_photo_names(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = write_concepts(tmp_path / "src", {"cat": 1})
    long_name = "ü" * 115 + ".jpg"  # 234 bytes: every output name would pass 255 bytes
    Image.fromarray(object_photo(3, (40, 60, 220))).save(src / "cat" / long_name)
    fd = os.open(os.fsencode(src / "cat") + b"/bad\xff\xfe.jpg", os.O_WRONLY | os.O_CREAT)
    os.close(fd)
    out = tmp_path / "cut"
    code, err = cli(capsys, "segment", src, "--out", out)
    assert code == 0 and "Traceback" not in err
    (line,) = [line for line in err.splitlines() if "bad" in line]
    assert "bad\\xff\\xfe.jpg" in line and "not valid UTF-8" in line and "rename" in line
    with Manifest(out) as manifest:
        record = manifest.get("segment", f"cat/{long_name}")
    assert record is not None and record.status == DONE
    for rel in record.outputs:
        name = Path(rel).name
        assert (out / rel).is_file() and len(name.encode()) <= 255 and name.startswith("ü" * 40)
    assert len(Path(record.data["cutout"]).name.encode()) <= MAX_NAME_BYTES + len(".png")


# case 13 -----------------------------------------------------------------------------------------------------
def test_a_stray_transparent_pixel_is_not_a_cutout(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "src"
    (src / "dog").mkdir(parents=True)
    rgb = object_photo(1, (220, 40, 40))
    one = np.dstack([rgb, np.full(rgb.shape[:2], 255, np.uint8)])
    one[5, 5, 3] = 254
    Image.fromarray(one).save(src / "dog" / "one_pixel.png")
    palette = Image.fromarray(rgb).quantize(64)
    palette.info["transparency"] = int(np.asarray(palette)[0, 0])  # the index of a few corner pixels
    palette.save(src / "dog" / "palette.png", transparency=palette.info["transparency"])
    cut = np.dstack([rgb, np.zeros(rgb.shape[:2], np.uint8)])
    cut[40:120, 50:150, 3] = 255
    Image.fromarray(cut).save(src / "dog" / "real_cutout.png")
    assert (np.asarray(Image.open(src / "dog" / "palette.png")) == palette.info["transparency"]).mean() < 0.01
    out = tmp_path / "cut"
    code, _ = cli(capsys, "segment", src, "--out", out)
    assert code == 0
    with Manifest(out) as manifest:
        methods = {r.key: r.data["method"] for r in manifest.records("segment", DONE)}
    assert methods == {
        "dog/one_pixel.png": "grabcut",
        "dog/palette.png": "grabcut",
        "dog/real_cutout.png": "alpha-channel",
    }


# case 16 -----------------------------------------------------------------------------------------------------
def test_odd_entries_are_reported_not_skipped_silently(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = write_concepts(tmp_path / "src", {"cat": 1, "masks": 1})
    Image.fromarray(object_photo(2, (40, 60, 220))).save(src / "cat" / "lonely_mask.jpg")
    os.mkfifo(src / "cat" / "pipe.jpg")
    (src / "cat" / "loop.jpg").symlink_to(src / "cat" / "loop.jpg")
    (src / "cat" / "gone.jpg").symlink_to(tmp_path / "nowhere.jpg")
    out = tmp_path / "cut"
    code, err = cli(capsys, "segment", src, "--out", out)
    assert code == 0 and "Traceback" not in err
    expected = {
        "masks": "a folder named 'masks' holds side-car masks, not a concept",
        "lonely_mask.jpg": "named like the side-car mask of a photo 'lonely' that is not there",
        "pipe.jpg": "not a regular file (a FIFO)",
        "loop.jpg": "a symbolic link loop",
        "gone.jpg": "a dangling symbolic link",
    }
    for name, what in expected.items():
        (line,) = [line for line in err.splitlines() if f"/{name}:" in line]
        assert what in line and "skipped" in line
    with Manifest(out) as manifest:
        assert [r.key for r in manifest.records("segment", DONE)] == ["cat/photo_0.jpg"]


# case 17 -----------------------------------------------------------------------------------------------------
def test_outputs_honour_the_umask(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = write_concepts(tmp_path / "src", {"cat": 1, "dog": 1})
    out = tmp_path / "run"
    previous = os.umask(0o027)
    try:
        code, _ = cli(capsys, "run", src, "--out", out, "-n", "1", *fast())
    finally:
        os.umask(previous)
    assert code == 0
    modes = {p.relative_to(out).as_posix(): stat.S_IMODE(p.stat().st_mode) for p in out.rglob("*") if p.is_file()}
    made = {k: v for k, v in modes.items() if not k.startswith("manifest.sqlite")}
    assert len(made) > 8 and set(made.values()) == {0o640}, modes
