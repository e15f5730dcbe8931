"""End to end through the CLI: outputs, the script contract, resume after a kill, reproducibility, bad input."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import FAST, write_concepts
from PIL import Image

from gen4gen.cli import main
from gen4gen.manifest import Manifest

pytestmark = pytest.mark.slow


def run_cli(*args: str | Path) -> int:
    return main(["-q", *map(str, args)])


def fast(*extra: str) -> list[str]:
    return [item for key in (*FAST, *extra) for item in ("--set", key)]


def tree_hashes(run_dir: Path) -> dict[str, str]:
    """sha256 of every output file (the manifest and the report hold timings, so they are left out)."""
    return {
        p.relative_to(run_dir).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(run_dir.rglob("*"))
        if p.is_file() and not p.name.startswith("manifest.sqlite") and p.name != "report.html"
    }


def test_run_writes_the_dataset(src: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run"
    assert run_cli("run", src, "--out", out, "-n", "3", "--seed", "5", *fast()) == 0
    rows = [json.loads(line) for line in (out / "metadata.jsonl").read_text().splitlines()]
    assert len(rows) == 3
    for row in rows:
        image = Image.open(out / row["file_name"])
        assert image.size == (256, 256) and image.mode == "RGB"
        assert sorted(o["name"] for o in row["objects"]) == ["cat", "dog", "house plant"]
        for obj in row["objects"]:
            x0, y0, x1, y1 = obj["bbox"]
            assert 0 <= x0 < x1 <= 256 and 0 <= y0 < y1 <= 256
            mask = np.asarray(Image.open(out / obj["mask"]))  # cropped to the box of its pixels above 0
            mx0, my0, mx1, my1 = obj["mask_box"]
            assert mask.shape == (my1 - my0, mx1 - mx0) and mask.shape != (256, 256)
            assert mask[0].any() and mask[-1].any() and mask[:, 0].any() and mask[:, -1].any()
            ys, xs = np.nonzero(mask > 127)
            xs, ys = xs + mx0, ys + my0
            assert xs.min() >= x0 - 1 and xs.max() < x1 + 1  # the box is the instance mask's box
            assert ys.min() >= y0 - 1 and ys.max() < y1 + 1
        assert all(name in row["text"] for name in ("cat", "dog", "house plant"))
        assert len(row["text"].split()) <= 30 and row["scene"]
    # one cropped instance mask per object, and no union mask file
    masks = sorted(p.relative_to(out).as_posix() for p in (out / "masks").rglob("*") if p.is_file())
    assert masks == sorted(o["mask"] for row in rows for o in row["objects"])
    assert "mask_file_name" not in rows[0]
    # the segment contract: cut-out + full-size soft mask per photo
    cut = Image.open(out / "cutouts" / "cat" / "photo_0.jpg.png")
    assert cut.mode == "RGBA" and cut.size[0] < 200
    assert Image.open(out / "cutouts" / "cat" / "photo_0.jpg.mask.png").size == (200, 160)
    assert (out / "config.yaml").is_file() and (out / "contact_sheet.jpg").is_file()
    with Manifest(out) as manifest:
        assert len(manifest.records("segment", "done")) == 4
        sample = manifest.records("compose", "done")[0]
        assert sample.backend is not None and sample.backend["name"] == "prior"
        assert all(len(o["augment"]) == 3 for o in sample.data["objects"])


def test_loads_as_huggingface_imagefolder(src: Path, tmp_path: Path) -> None:
    datasets = pytest.importorskip("datasets")
    out = tmp_path / "run"
    assert run_cli("run", src, "--out", out, "-n", "2", *fast()) == 0
    dataset = datasets.load_dataset("imagefolder", data_dir=str(out), split="train")
    assert dataset.num_rows == 2
    row = dataset[0]
    assert row["image"].size == (256, 256) and "mask" not in row  # the union is the hf export's
    assert {o["name"] for o in row["objects"]} == {"cat", "dog", "house plant"}
    assert all(len(o["mask_box"]) == 4 for o in row["objects"])


def test_rerun_reuses_everything_and_is_byte_identical(src: Path, tmp_path: Path) -> None:
    first, second = tmp_path / "a", tmp_path / "b"
    assert run_cli("run", src, "--out", first, "-n", "2", *fast()) == 0
    before = tree_hashes(first)
    assert run_cli("run", src, "--out", first, "-n", "2", *fast()) == 0
    assert tree_hashes(first) == before
    assert run_cli("run", src, "--out", second, "-n", "2", *fast()) == 0
    assert tree_hashes(second) == before
    with Manifest(first) as manifest:
        assert json.loads(manifest.get_meta("stats.compose") or "{}")["reused"] == 2
    assert run_cli("run", src, "--out", second, "-n", "2", "--seed", "1", *fast()) == 0
    assert tree_hashes(second)["metadata.jsonl"] != before["metadata.jsonl"]


def test_worker_processes_change_nothing(src: Path, tmp_path: Path) -> None:
    serial, parallel = tmp_path / "serial", tmp_path / "parallel"
    assert run_cli("segment", src, "--out", serial, "--workers", "1") == 0
    assert run_cli("segment", src, "--out", parallel, "--workers", "2") == 0
    serial_files, parallel_files = tree_hashes(serial), tree_hashes(parallel)
    serial_files.pop("config.yaml"), parallel_files.pop("config.yaml")
    assert serial_files == parallel_files and len(serial_files) == 4 * 5  # cut-out, mask, 3 round masks


def test_whole_run_is_the_same_for_any_number_of_workers(src: Path, tmp_path: Path) -> None:
    hashes = []
    for workers in ("1", "2"):
        out = tmp_path / f"w{workers}"
        assert run_cli("run", src, "--out", out, "-n", "5", "--workers", workers, *fast()) == 0
        files = tree_hashes(out)
        files.pop("config.yaml")
        hashes.append(files)
    assert hashes[0] == hashes[1] and len(hashes[0]) > 20


def test_changing_one_stage_redoes_only_what_depends_on_it(src: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    assert run_cli("run", src, "--out", out, "-n", "2", *fast()) == 0
    before = tree_hashes(out)
    assert run_cli("repaint", out, "--set", "repaint.backend=noise") == 0
    after = tree_hashes(out)
    repainted = {k for k in before if k.startswith(("images/", "previews/"))}
    assert {k for k in before if before[k] != after.get(k)} == repainted | {
        "config.yaml",
        "metadata.jsonl",  # removed: it described the old images until `export` writes it again
    }
    assert "metadata.jsonl" not in after
    assert run_cli("caption", out) == 0 and run_cli("export", out) == 0
    rows = [json.loads(line) for line in (out / "metadata.jsonl").read_text().splitlines()]
    assert all(row["scene"] for row in rows)


def test_killed_run_resumes_to_identical_files(src: Path, tmp_path: Path) -> None:
    reference, killed = tmp_path / "reference", tmp_path / "killed"
    args = ["-n", "6", *fast()]
    assert run_cli("run", src, "--out", reference, *args) == 0
    command = [sys.executable, "-m", "gen4gen", "-q", "run", str(src), "--out", str(killed), *args]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None:
        if (killed / "composites").is_dir() and any((killed / "composites").iterdir()):
            break
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert not (killed / "metadata.jsonl").exists()
    assert run_cli("run", src, "--out", killed, *args) == 0
    assert tree_hashes(killed) == tree_hashes(reference)
    assert not [p for p in killed.rglob("*.tmp")]


def test_stage_commands_one_at_a_time(src: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    assert run_cli("segment", src, "--out", out) == 0
    assert (out / "dog2" / "photo_0.jpg.png").is_file() and (out / "dog2" / "photo_0.jpg.mask.png").is_file()
    assert run_cli("repaint", out) == 1  # nothing composed yet: a clear error, not a traceback
    for stage in ("compose", "repaint", "caption", "export"):
        assert run_cli(stage, out, *(["-n", "2"] if stage == "compose" else []), *fast()) == 0
    assert len((out / "metadata.jsonl").read_text().splitlines()) == 2


def test_bad_inputs_are_reported_and_skipped(
    src: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (src / "cat" / "empty file.jpg").write_bytes(b"")
    (src / "cat" / "truncated + ü.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00")
    (src / "cat" / "readme.txt").write_text("hello")
    Image.fromarray(np.full((64, 64, 3), 128, np.uint8)).save(src / "dog2" / "blank.png")  # nothing to segment
    (src / "empty_concept").mkdir()
    out = tmp_path / "run"
    assert run_cli("run", src, "--out", out, "-n", "2", *fast()) == 0
    err = capsys.readouterr().err
    for fragment in ("empty file.jpg", "truncated + ü.png", "readme.txt", "blank.png", "empty_concept"):
        assert fragment in err
    assert "Traceback" not in err
    assert len((out / "metadata.jsonl").read_text().splitlines()) == 2


def test_photos_sharing_a_stem_keep_their_own_cutouts(tmp_path: Path) -> None:
    src = write_concepts(tmp_path / "src", {"dog": 1})
    Image.open(src / "dog" / "photo_0.jpg").save(src / "dog" / "photo_0.png")
    out = tmp_path / "cut"
    assert run_cli("segment", src, "--out", out) == 0
    assert (out / "dog" / "photo_0.jpg.png").is_file() and (out / "dog" / "photo_0.png.png").is_file()


def test_rgba_photo_is_a_ready_cutout(tmp_path: Path) -> None:
    src = write_concepts(tmp_path / "src", {"dog": 1})
    rgba = np.zeros((80, 60, 4), np.uint8)
    rgba[20:60, 10:50] = (200, 30, 30, 255)
    (src / "mug").mkdir()
    Image.fromarray(rgba).save(src / "mug" / "mug.png")
    out = tmp_path / "run"
    assert run_cli("run", src, "--out", out, "-n", "1", *fast()) == 0
    with Manifest(out) as manifest:
        record = manifest.get("segment", "mug/mug.png")
        assert record is not None and record.data["method"] == "alpha-channel"
        assert record.data["bbox"] == [10, 20, 50, 60]


@pytest.mark.parametrize(
    ("args", "code", "fragment"),
    [
        (["run", "{tmp}/missing", "--out", "{tmp}/o"], 1, "no such folder"),
        (["run", "{src}", "--out", "{tmp}/o", "--set", "segment.backend=nope"], 2, "available: alpha, grabcut"),
        (["run", "{src}", "--out", "{tmp}/o", "--set", "compose.canvas=-3"], 2, "compose.canvas"),
        (["compose", "{tmp}/not_a_run"], 1, "no manifest.sqlite"),
        (["segment", "{src}", "--out", "{src}"], 2, "inside the input folder"),
        (["run", "{src}", "--out", "{src}/run"], 2, "inside the input folder"),
    ],
)
def test_clear_errors(
    src: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], code: int, fragment: str
) -> None:
    filled = [a.format(tmp=tmp_path, src=src) for a in args]
    assert run_cli(*filled) == code
    err = capsys.readouterr().err
    assert fragment in err and "Traceback" not in err


def test_init_writes_a_valid_config(tmp_path: Path) -> None:
    path = tmp_path / "gen4gen.yaml"
    assert run_cli("init", path) == 0
    assert run_cli("init", path) == 2  # never overwrites
    src = write_concepts(tmp_path / "src", {"cat": 1})
    assert run_cli("run", src, "--out", tmp_path / "run", "--config", path, "-n", "1", *fast()) == 0


def test_module_entry_point() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "gen4gen", "backends"], capture_output=True, text=True, env={**os.environ}
    )
    assert result.returncode == 0 and "grabcut" in result.stdout


def test_backends_lists_every_option(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli("backends", "--options") == 0
    out = capsys.readouterr().out
    for key in ("segment.shadow_tolerance", "repaint.steps", "repaint.backgrounds", "compose.max_concurrency"):
        assert f"{key} = " in out
    assert "caption.model = " in out
