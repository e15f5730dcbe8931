"""Hostile cases on recorded state: stale datasets (3), trusted files (4), crafted records (5), fingerprints
(14), numbered as in the list of hostile cases."""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path

import pytest
from test_run import fast, run_cli, tree_hashes

from gen4gen.manifest import Manifest

pytestmark = pytest.mark.slow


def stats(run_dir: Path, stage: str) -> dict:
    with Manifest(run_dir) as manifest:
        return dict(json.loads(manifest.get_meta(f"stats.{stage}") or "{}"))


def test_3_a_failed_rerun_leaves_no_dataset_describing_other_images(
    src: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "run"
    assert run_cli("run", src, "--out", out, "-n", "2", *fast()) == 0
    assert (out / "metadata.jsonl").is_file()

    def crash(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt  # the run dies after compose remade the layouts

    monkeypatch.setattr("gen4gen.pipeline.Pipeline.repaint", crash)
    assert run_cli("run", src, "--out", out, "-n", "2", "--set", "compose.flip_p=0.9", *fast()) == 130
    assert not (out / "metadata.jsonl").exists()  # removed before the first layout was replaced
    monkeypatch.undo()
    assert run_cli("run", src, "--out", out, "-n", "2", "--set", "compose.flip_p=0.9", *fast()) == 0
    rows = [json.loads(line) for line in (out / "metadata.jsonl").read_text().splitlines()]
    with Manifest(out) as manifest:
        for row in rows:
            record = manifest.get("compose", f"{row['composition']}/{row['sample_id'].rsplit('_', 1)[1]}")
            assert record is not None
            assert [o["bbox"] for o in row["objects"]] == [o["bbox"] for o in record.data["objects"]]


def test_4_stage_commands_check_their_inputs_instead_of_trusting_them(
    src: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run"
    assert run_cli("run", src, "--out", out, "-n", "2", *fast()) == 0
    images = sorted((out / "images").iterdir())
    images[0].unlink()  # deleted
    data = bytearray(images[1].read_bytes())
    data[-20] ^= 0xFF
    images[1].write_bytes(bytes(data))  # edited
    os.utime(images[1], ns=(1, 1))
    assert run_cli("export", out) == 1  # nothing left to export: both images are damaged
    err = capsys.readouterr().err
    assert "missing or changed since repaint" in err and "Traceback" not in err
    assert run_cli("caption", out) == 1
    assert "image missing or changed" in capsys.readouterr().err
    assert stats(out, "caption")["reused"] == 0
    assert run_cli("repaint", out) == 0 and stats(out, "repaint")["made"] == 2  # made again, same bytes
    assert run_cli("caption", out) == 0 and run_cli("export", out) == 0
    assert len((out / "metadata.jsonl").read_text().splitlines()) == 2
    composite = sorted((out / "composites").iterdir())[0]
    composite.unlink()
    assert run_cli("repaint", out, "--set", "repaint.backend=noise") == 0
    assert "composite missing or changed" in capsys.readouterr().err


def test_4_a_touched_but_unchanged_file_is_still_reused_and_verify_rehashes(src: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    assert run_cli("run", src, "--out", out, "-n", "2", *fast()) == 0
    before = tree_hashes(out)
    for image in (out / "images").iterdir():
        os.utime(image, ns=(10**18, 10**18))  # touched: size + mtime no longer match, content does
    assert run_cli("repaint", out) == 0 and stats(out, "repaint")["reused"] == 2
    assert run_cli("repaint", out, "--verify") == 0 and stats(out, "repaint")["reused"] == 2
    assert tree_hashes(out) == before


def test_5_a_crafted_manifest_cannot_make_a_stage_write_outside_the_run_folder(
    src: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run"
    assert run_cli("run", src, "--out", out, "-n", "1", *fast()) == 0
    with sqlite3.connect(out / "manifest.sqlite") as db:
        (data,) = db.execute("SELECT data FROM items WHERE stage = 'compose' AND status = 'done'").fetchone()
        crafted = json.loads(data)
        crafted["sample_id"] = "../../x"
        db.execute("UPDATE items SET data = ? WHERE stage = 'compose' AND status = 'done'", (json.dumps(crafted),))
        db.execute("DELETE FROM items WHERE stage = 'repaint'")
    assert run_cli("repaint", out) == 1
    err = capsys.readouterr().err
    assert "sample_id" in err and "not a file stem" in err and "Traceback" not in err
    assert not (tmp_path / "x.png").exists() and not (tmp_path.parent / "x.png").exists()


def test_14_alternating_run_and_stage_commands_redoes_nothing(src: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    args = ["-n", "2", *fast("repaint.backend=noise")]
    assert run_cli("run", src, "--out", out, *args) == 0
    before = tree_hashes(out)
    for command in (["compose", out], ["repaint", out], ["caption", out], ["run", src, "--out", out, *args]):
        assert run_cli(*command) == 0
    for stage in ("segment", "compose", "repaint", "caption"):
        assert stats(out, stage)["made"] == 0, stage
    after = tree_hashes(out)
    assert after == before
