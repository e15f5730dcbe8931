"""The seams: item failures, executors, the versioned manifest, decisions, config round trips, a light CLI."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from conftest import FAST, live_processes
from test_run import fast, run_cli, tree_hashes

from gen4gen.backends import REGISTRY, backend_class
from gen4gen.backends.base import Inpainter, RepaintRequest, RepaintResult
from gen4gen.backends.repaint.noise import NoiseInpainter
from gen4gen.config import RunConfig, load_config
from gen4gen.errors import ConfigError, ItemError, ManifestError
from gen4gen.manifest import DONE, FAILED, SCHEMA_VERSION, Manifest, Verdict
from gen4gen.manifest.store import MIGRATIONS
from gen4gen.options import StrictOptions
from gen4gen.sample import iter_samples, sample_target
from gen4gen.testing.fake_openai import FakeOpenAI, Reply

pytestmark = pytest.mark.slow


def rows(run_dir: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (run_dir / "metadata.jsonl").read_text().splitlines()]


def stats(run_dir: Path, stage: str) -> dict[str, Any]:
    with Manifest(run_dir) as manifest:
        return dict(json.loads(manifest.get_meta(f"stats.{stage}") or "{}"))


# ------------------------------------------------------------------------------------------- item failures
class PickyInpainter(Inpainter):
    """Refuses (like an NSFW flag) every sample whose seed is divisible by 3, for the whole batch at once."""

    name = "picky"
    Options = NoiseInpainter.Options

    def repaint(self, request: RepaintRequest) -> RepaintResult:
        if request.seed % 3 == 0 and os.environ.get("PICKY_OFF") != "1":
            raise ItemError("the model's safety checker blanked this sample; change the scene or seed")
        return RepaintResult(request.composite.copy(), "in a test scene")

    def repaint_batch(self, requests: list[RepaintRequest]) -> list[RepaintResult]:  # type: ignore[override]
        return [self.repaint(r) for r in requests]  # raises for the whole batch, as GPU batches do


@pytest.fixture
def picky(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(REGISTRY["repaint"], "picky", "test_seams:PickyInpainter")


def test_a_failing_repaint_item_fails_alone_and_the_dataset_is_written(
    src: Path, tmp_path: Path, picky: None, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "run"
    assert run_cli("run", src, "--out", out, "-n", "9", "--set", "repaint.backend=picky", *fast()) == 0
    err = capsys.readouterr().err
    assert "Traceback" not in err and "safety checker" in err
    with Manifest(out) as manifest:
        failed = manifest.records("repaint", FAILED)
        done = manifest.records("repaint", DONE)
    assert failed and done and len(failed) + len(done) == 9
    assert len(rows(out)) == len(done)  # every other sample is exported
    assert stats(out, "repaint")["failed"] == {
        "the model's safety checker blanked this sample; change the scene or seed": len(failed)
    }
    assert sum(stats(out, "caption")["failed"].values()) == len(failed)  # not captioned: no image

    # a rerun does not retry them (same inputs) ...
    monkeypatch.setenv("PICKY_OFF", "1")
    assert run_cli("run", src, "--out", out, "-n", "9", "--set", "repaint.backend=picky", *fast()) == 0
    assert len(rows(out)) == len(done)
    assert "--retry-failed" in capsys.readouterr().err
    # ... unless asked
    args = ("--set", "repaint.backend=picky", *fast())
    assert run_cli("run", src, "--out", out, "-n", "9", "--retry-failed", *args) == 0
    assert len(rows(out)) == 9


def test_an_http_400_from_the_vlm_for_one_image_fails_only_that_sample(
    src: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    seeds: list[int] = []

    def answer(body: dict[str, Any]) -> Reply | str:
        seed = int(body.get("seed") or 0)
        if seed not in seeds:
            seeds.append(seed)
        if seed == seeds[min(1, len(seeds) - 1)] and len(seeds) > 1:  # always refuses the second image it saw
            return Reply.error(400, "image could not be processed")
        return "a cat, a dog and a house plant in a garden"

    out = tmp_path / "run"
    with FakeOpenAI(answer) as server:
        vlm = ["caption.backend=vlm", f"caption.base_url={server.url}", "caption.model=fake"]
        assert run_cli("run", src, "--out", out, "-n", "4", *fast(*vlm)) == 0
        err = capsys.readouterr().err
        assert "Traceback" not in err and "400" in err
        assert len(rows(out)) == 3
        assert sum(stats(out, "caption")["failed"].values()) == 1
        calls = len(server.requests)
        assert run_cli("caption", out) == 0  # the failure is remembered: no new call
        assert len(server.requests) == calls


# --------------------------------------------------------------------------------------------- executors
def _children(pid: int) -> list[int]:
    return [child for child, fields in live_processes().items() if int(fields[1]) == pid]


def _alive(pid: int) -> bool:
    return pid in live_processes()


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="needs /proc")
@pytest.mark.parametrize("victim", ["driver", "worker"])
def test_kill_9_with_worker_processes_leaves_no_orphans_and_resumes(
    src: Path, tmp_path: Path, victim: str
) -> None:
    reference, killed = tmp_path / "reference", tmp_path / "killed"
    args = ["-n", "6", *fast()]
    assert run_cli("run", src, "--out", reference, "--workers", "1", *args) == 0
    command = [
        sys.executable,
        "-m",
        "gen4gen",
        "-q",
        "run",
        str(src),
        "--out",
        str(killed),
        "--workers",
        "2",
        *args,
    ]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    workers: list[int] = []
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None and len(workers) < 2:
        workers = [p for p in _children(process.pid) if "spawn_main" in Path(f"/proc/{p}/cmdline").read_text()]
        time.sleep(0.02)
    assert workers, "the run never started its worker processes"
    if victim == "driver":
        process.send_signal(signal.SIGKILL)
        process.wait()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and any(_alive(p) for p in workers):
            time.sleep(0.1)
        assert not any(_alive(p) for p in workers), "worker processes outlived the driver"
        assert run_cli("run", src, "--out", killed, "--workers", "2", *args) == 0
    else:
        os.kill(workers[0], signal.SIGKILL)
        assert process.wait(timeout=300) == 0  # the pool is rebuilt and the lost batch redone
    files, expected = tree_hashes(killed), tree_hashes(reference)
    files.pop("config.yaml"), expected.pop("config.yaml")
    assert files == expected
    assert not list(killed.rglob("*.tmp"))


# ---------------------------------------------------------------------------------------------- manifest
def test_a_run_folder_of_the_unversioned_schema_is_migrated_and_resumes(src: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    assert run_cli("run", src, "--out", out, "-n", "2", *fast()) == 0
    before = tree_hashes(out)
    with sqlite3.connect(out / "manifest.sqlite") as db:  # back to what gen4gen 0.1 wrote
        db.executescript(
            "DROP TABLE verdicts; DROP TABLE decisions; ALTER TABLE items DROP COLUMN stats; "
            "PRAGMA user_version = 0;"
        )
    config = yaml.safe_load((out / "config.yaml").read_text())
    config["segment"]["workers"] = 0  # a key 0.1 had
    config.pop("workers")
    (out / "config.yaml").write_text(yaml.safe_dump(config))
    assert run_cli("export", out) == 0
    with Manifest(out) as manifest:
        assert manifest.schema_version == SCHEMA_VERSION == len(MIGRATIONS)
        assert manifest.verdicts("x") == {}
    assert run_cli("caption", out) == 0
    assert stats(out, "caption")["made"] == 0  # nothing redone
    after = tree_hashes(out)
    assert {k for k in before if before[k] != after.get(k)} <= {"config.yaml"}


def test_a_damaged_or_newer_manifest_is_a_clear_error(
    src: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    newer = tmp_path / "newer"
    with Manifest(newer):
        pass
    with sqlite3.connect(newer / "manifest.sqlite") as db:
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(ManifestError, match="newer gen4gen"):
        Manifest(newer)
    damaged = tmp_path / "damaged"
    damaged.mkdir()
    (damaged / "manifest.sqlite").write_bytes(b"this is not a database" * 100)
    assert run_cli("compose", damaged) == 1
    err = capsys.readouterr().err
    assert "not a usable gen4gen run database" in err and "Traceback" not in err


def test_decisions_and_verdicts_survive_reruns_and_exports_honour_them(src: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    assert run_cli("run", src, "--out", out, "-n", "3", *fast()) == 0
    first, second, third = (row["sample_id"] for row in rows(out))
    with Manifest(out) as manifest:
        keys = json.loads(manifest.get_meta("samples") or "[]")
        manifest.add_decision(sample_target(keys[0]), "verdict", "reject")
        manifest.add_decision(sample_target(keys[1]), "caption", "a first caption")
        manifest.add_decision(sample_target(keys[1]), "caption", "my own words about the cat")  # latest wins
        manifest.add_decision(sample_target(keys[2]), "rating", 5)
        manifest.add_verdict(Verdict(keys[2], "external", "flag", 0.4, "a faint halo"))
    assert run_cli("run", src, "--out", out, "-n", "3", "--set", "repaint.backend=noise", *fast()) == 0
    exported = {row["sample_id"]: row for row in rows(out)}
    assert first not in exported
    assert exported[second]["text"] == "my own words about the cat"
    with Manifest(out) as manifest:
        samples = [s for s in iter_samples(manifest, keys) if not isinstance(s, str)]
    assert [s.rating for s in samples] == [None, None, 5]
    assert samples[2].verdicts["external"].reason == "a faint halo" and not samples[2].rejected
    assert samples[1].generated_caption != samples[1].caption
    assert {o.concept_id for o in samples[0].objects} == {"cat", "dog2", "house_plant"}
    assert third in exported


# ------------------------------------------------------------------------------------------------ config
def _required(kind: str, name: str) -> list[str]:
    options = backend_class(kind, name).Options.model_fields
    filled = {"base_url": "http://127.0.0.1:9/v1", "model": "some-model"}
    return [f"{kind}.{key}={filled[key]}" for key in options if key in filled]


@pytest.mark.parametrize(("kind", "name"), [(k, n) for k, table in REGISTRY.items() for n in table])
def test_the_resolved_config_loads_back_to_the_same_config(kind: str, name: str, tmp_path: Path) -> None:
    config = load_config(overrides=[f"{kind}.backend={name}", *_required(kind, name), *FAST])
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config.resolved()))
    again = load_config(path)
    assert again.resolved() == config.resolved()
    for stage in ("segment", "compose", "repaint", "caption"):
        assert again.backend_options(stage) == config.backend_options(stage)
    path.write_text(yaml.safe_dump(again.resolved()))
    assert load_config(path) == again  # a fixed point from then on


def test_caption_max_words_is_the_stage_key_and_a_rerun_reuses_everything(src: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    assert run_cli("run", src, "--out", out, "-n", "2", "--set", "caption.max_words=12", *fast()) == 0
    assert yaml.safe_load((out / "config.yaml").read_text())["caption"]["max_words"] == 12
    assert all(len(row["text"].split()) <= 12 for row in rows(out))
    assert run_cli("caption", out) == 0
    assert stats(out, "caption")["made"] == 0 and stats(out, "caption")["reused"] == 2


class ClashingOptions(StrictOptions):
    max_words: int = 30


def test_a_backend_option_named_like_its_stage_key_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    cls = backend_class("caption", "template")
    monkeypatch.setattr(cls, "Options", ClashingOptions)
    with pytest.raises(ConfigError, match="max_words"):
        load_config()


def test_bad_backend_values_are_config_errors_at_the_cli(
    src: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for setting in ("repaint.strength=1.5", "repaint.steps=0"):
        assert run_cli("run", src, "--out", tmp_path / "o", "--set", "repaint.backend=sdxl", "--set", setting) == 2
        err = capsys.readouterr().err
        assert setting.split("=")[0] in err and "Traceback" not in err
    assert not (tmp_path / "o").exists()  # nothing was started


def test_workers_zero_means_one_per_core() -> None:
    from gen4gen.executors import resolve_workers

    assert resolve_workers(3) == 3
    assert 1 <= resolve_workers(0) <= 8
    assert RunConfig().workers == 0  # one per core, started only when it pays


# ------------------------------------------------------------------------------------------------- the CLI
def test_help_and_version_import_nothing_heavy() -> None:
    code = (
        "import sys; from gen4gen.cli import build_parser; build_parser().format_help(); "
        "heavy = [m for m in ('numpy', 'cv2', 'scipy', 'PIL', 'pydantic', 'rich', 'torch') if m in sys.modules]; "
        "print(','.join(heavy))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == ""
    version = subprocess.run([sys.executable, "-m", "gen4gen", "--version"], capture_output=True, text=True)
    assert version.returncode == 0 and version.stdout.startswith("gen4gen ")


def test_ordering_of_outputs_does_not_depend_on_batching(src: Path, tmp_path: Path) -> None:
    hashes = []
    for batch in ("1", "5"):
        out = tmp_path / f"b{batch}"
        assert (
            run_cli(
                "run", src, "--out", out, "-n", "5", "--set", "compose.canvas=256", "--set", f"batch_size={batch}"
            )
            == 0
        )
        files = tree_hashes(out)
        files.pop("config.yaml")
        hashes.append(files)
    assert hashes[0] == hashes[1]
    assert np.asarray(list(hashes[0])).size > 20
