"""The Ray executor on a local Ray instance with 2 CPUs: the same bytes as the local executor, a killed actor
loses nothing, and the run folder need not be shared."""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import FAST, write_concepts
from test_curate import curation
from test_llm_e2e import answer
from test_run import fast, run_cli, tree_hashes

from gen4gen.backends import build_backend
from gen4gen.cli import _overrides, build_parser
from gen4gen.config import ConfigError, load_config
from gen4gen.executors import executor_kind
from gen4gen.manifest import Manifest
from gen4gen.pipeline import Pipeline
from gen4gen.progress import Reporter
from gen4gen.stages.base import StageStats, Tally
from gen4gen.stages.repaint import RepaintStage
from gen4gen.testing.fake_openai import FakeOpenAI

pytestmark = pytest.mark.slow

SAMPLES = "6"
SETTINGS = [*FAST, "batch_size=1"]  # one item per batch: many batches in flight, and one to lose
RAY = ["--executor", "ray"]


@pytest.fixture(scope="module")
def ray_session() -> Iterator[Any]:
    """One local Ray instance for the module (starting one takes seconds)."""
    ray = pytest.importorskip("ray", reason="the Ray executor needs ray: pip install 'gen4gen[ray]'")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR)
    yield ray
    ray.shutdown()


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_concepts(tmp_path_factory.mktemp("src"), {"cat": 2, "dog2": 1, "house_plant": 1})


@pytest.fixture(scope="module")
def reference_run(inputs: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run of the local executor."""
    out = tmp_path_factory.mktemp("local") / "run"
    assert run_cli("run", inputs, "--out", out, "-n", SAMPLES, *fast("batch_size=1")) == 0
    return out


@pytest.fixture(scope="module")
def reference(reference_run: Path) -> dict[str, str]:
    """Every output file's hash from the local executor."""
    return outputs(reference_run)


def outputs(run_dir: Path) -> dict[str, str]:
    files = tree_hashes(run_dir)
    files.pop("config.yaml")  # records the executor
    files.pop("report.html", None)  # names the run folder and the time it was written
    return files


def temporaries(run_dir: Path) -> list[Path]:
    return [p for p in run_dir.rglob("*") if p.name.startswith(".gen4gen-")]


def test_a_ray_run_makes_the_same_bytes_as_the_local_executor(
    ray_session: Any, inputs: Path, reference: dict[str, str], reference_run: Path, tmp_path: Path
) -> None:
    out = tmp_path / "run"
    assert run_cli("run", inputs, "--out", out, "-n", SAMPLES, *RAY, *fast("batch_size=1")) == 0
    assert outputs(out) == reference and len(reference) > 30
    assert curation(out) == curation(reference_run)  # the checks ran on the actors: same scores and verdicts
    with Manifest(out) as manifest:
        assert len(manifest.records("repaint", "done")) == int(SAMPLES)
    assert run_cli("run", inputs, "--out", out, "-n", SAMPLES, *RAY, *fast("batch_size=1")) == 0
    with Manifest(out) as manifest:  # a rerun resumes like a local one: nothing redone
        made = [json.loads(manifest.get_meta(f"stats.{name}") or "{}")["made"] for name in ("segment", "repaint")]
    assert made == [0, 0]


def test_a_killed_driver_resumes_to_the_same_bytes(
    ray_session: Any, inputs: Path, reference: dict[str, str], tmp_path: Path
) -> None:
    """``kill -9`` of the driver mid-run (a subprocess joined to the module's Ray instance), then the same command
    again: it resumes like a local run and ends with the local executor's bytes."""
    out = tmp_path / "run"
    address = ray_session.get_runtime_context().gcs_address
    args = ["-n", SAMPLES, *RAY, "--ray-address", address, *fast("batch_size=1")]
    command = [sys.executable, "-m", "gen4gen", "-q", "run", str(inputs), "--out", str(out), *args]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and process.poll() is None:
        if (out / "composites").is_dir() and any((out / "composites").iterdir()):
            break
        time.sleep(0.01)
    assert process.poll() is None, "the run ended before it could be killed"
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert not (out / "metadata.jsonl").exists()
    with Manifest(out) as manifest:
        assert len(manifest.records("repaint", "done")) < int(SAMPLES)
    assert run_cli("run", inputs, "--out", out, *args) == 0  # joins the same instance, as the first did
    assert outputs(out) == reference
    assert temporaries(out) == []
    with Manifest(out) as manifest:
        assert len(manifest.records("repaint", "done")) == int(SAMPLES)


@pytest.mark.parametrize("restart", [False, True], ids=["killed-for-good", "killed-and-restarted"])
def test_a_killed_actor_loses_nothing_and_duplicates_nothing(
    ray_session: Any,
    inputs: Path,
    reference: dict[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    restart: bool,
) -> None:
    from gen4gen.executors import ray as ray_executor

    killed: list[int] = []
    submit = ray_executor.RayExecutor._submit

    def submit_then_kill(self: Any, slot: Any, stage_ref: Any, batch: list[Any]) -> Any:
        ref = submit(self, slot, stage_ref, batch)
        pool = self._pool
        if pool.stage == "repaint" and not killed and any(s.items for s in pool.slots):
            ray_session.kill(slot.actor, no_restart=not restart)  # mid-stage, with this batch just queued
            killed.append(slot.index)
        return ref

    monkeypatch.setattr(ray_executor.RayExecutor, "_submit", submit_then_kill)
    out, reporter = tmp_path / "run", Reporter()
    config = load_config(None, [*SETTINGS, f"samples={SAMPLES}", "executor=ray"])
    with Pipeline(out, config, reporter) as pipeline:
        stats = {s.name: s for s in pipeline.run(inputs)}
    assert killed, "no actor was killed"
    assert outputs(out) == reference  # nothing lost, nothing half-written
    assert temporaries(out) == []
    assert stats["repaint"].made == int(SAMPLES)  # each item committed once
    with Manifest(out) as manifest:
        assert len(manifest.records("repaint", "done")) == int(SAMPLES)
    lost = [w for w in reporter.warnings if "Ray actor was lost" in w]
    assert len(lost) == (0 if restart else 1)  # a restarted actor is retried by Ray itself


def test_without_a_shared_file_system_the_files_travel_through_the_driver(
    ray_session: Any, inputs: Path, reference: dict[str, str], reference_run: Path, tmp_path: Path
) -> None:
    out = tmp_path / "run"
    extra = fast("batch_size=1", "executor.ray.shared_fs=false", "curate.skip_rejected_cutouts=false")
    assert run_cli("run", inputs, "--out", out, "-n", SAMPLES, *RAY, *extra) == 0
    assert outputs(out) == reference
    assert curation(out) == curation(reference_run)  # cut-outs and samples checked from the shipped files
    assert temporaries(out) == []


@pytest.mark.parametrize("shared_fs", ["true", "false"])
def test_actors_answers_go_to_the_runs_response_cache(
    ray_session: Any, inputs: Path, tmp_path: Path, shared_fs: str
) -> None:
    """An LLM layout planner in the actors: its answers end up in the run's manifest, so a later local run that
    redoes the samples costs no calls."""
    out = tmp_path / "run"
    with FakeOpenAI(answer) as server:
        settings = fast("compose.backend=llm", f"compose.base_url={server.url}", "compose.model=fake-llm")
        settings += ["--set", f"executor.ray.shared_fs={shared_fs}"]
        assert run_cli("run", inputs, "--out", out, "-n", "3", *RAY, *settings) == 0
        layouts = [r for r in server.requests if "layout" in json.dumps(r.body)]
        assert layouts
        calls = len(server.requests)
        shutil.rmtree(out / "composites")
        assert run_cli("compose", out, "--executor", "local") == 0
        assert len(server.requests) == calls
    with Manifest(out) as manifest:
        assert len(manifest.records("compose", "done")) >= 3


def test_isolated_work_never_touches_the_run_folder(
    inputs: Path, reference: dict[str, str], tmp_path: Path
) -> None:
    """What an actor does with shared_fs=false, here in this process: the run folder is moved away first."""
    from gen4gen.executors.ray import named_files, run_isolated

    run = tmp_path / "run"
    config = load_config(None, [*SETTINGS, f"samples={SAMPLES}"])
    with Pipeline(run, config) as pipeline:
        pipeline.require_backends()
        pipeline.segment(inputs)
        pipeline.compose()
        stage = RepaintStage(run, config)
        tally = Tally(StageStats("repaint"), lambda n: None, Reporter())
        items = [item for wave in stage.plan(pipeline.ctx, tally) for item in wave]
    assert len(items) == int(SAMPLES)
    names = named_files([item.inputs for item in items], run)
    assert names and all(n.startswith(("composites/", "masks/")) for n in names)
    shipped = {name: (run / name).read_bytes() for name in names}
    broken = items[0].inputs.sample.composite
    shipped[broken] = b""  # one input broken: reported with its place in the run folder
    run.rename(tmp_path / "elsewhere")

    backend = build_backend("repaint", stage.spec.name, {})
    outcomes, made = run_isolated(stage, items, backend, shipped)
    assert not run.exists()
    failed = outcomes[0].record
    assert failed.status == "failed" and str(run / broken) in (failed.message or "")
    assert "gen4gen-ray-" not in (failed.message or "")
    ids = [item.inputs.sample.sample_id for item in items[1:]]
    images = {f"{folder}/{id_}.{ext}" for id_ in ids for folder, ext in (("images", "png"), ("previews", "jpg"))}
    assert {n: hashlib.sha256(b).hexdigest() for n, b in made.items()} == {n: reference[n] for n in images}
    assert all(o.record.status == "done" and set(o.record.outputs) <= images for o in outcomes[1:])


def test_without_ray_the_message_says_how_to_install_it(
    inputs: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray fails as where it is not installed
    out = tmp_path / "run"
    assert run_cli("run", inputs, "--out", out, *RAY, *fast()) == 1
    error = capsys.readouterr().err.strip()
    assert "pip install 'gen4gen[ray]'" in error and len(error.splitlines()) == 1
    assert not (out / "cutouts").exists()


def test_executor_choice_from_the_command_line_and_config() -> None:
    parser = build_parser()
    args = parser.parse_args(["run", "src", "--out", "o", "--ray-address", "10.0.0.1:6379"])
    config = load_config(None, _overrides(args))
    assert config.executor.kind == "ray" and config.executor.ray.address == "10.0.0.1:6379"
    args = parser.parse_args(["repaint", "o", "--executor", "process", "--workers", "3"])
    assert executor_kind(load_config(None, _overrides(args))) == "process"
    assert executor_kind(load_config(None, ["workers=1"])) == "local"
    assert executor_kind(load_config(None, ["workers=2"])) == "process"
    assert executor_kind(load_config(None, ["workers=2", "executor=local"])) == "local"
    config = load_config(None, ["executor.ray.repaint.num_gpus=1", "executor.ray.repaint.actors=4"])
    assert config.executor.ray.repaint.num_gpus == 1.0 and config.executor.ray.segment.num_gpus is None
    with pytest.raises(ConfigError, match=r"executor\.ray\.caption\.num_cpus"):
        load_config(None, ["executor.ray.caption.num_cpus=-1"])


class FakeCluster:
    """What the executor asks Ray when sizing a stage: the cluster's resources."""

    def __init__(self, **resources: float) -> None:
        self.resources = resources

    def cluster_resources(self) -> dict[str, float]:
        return dict(self.resources)


@pytest.mark.parametrize(
    ("settings", "kind", "cluster", "expected"),
    [
        ([], "segment", {"CPU": 8}, (1.0, 0.0, 8)),  # CPU backend: one actor per CPU
        (["repaint.backend=sdxl"], "repaint", {"CPU": 16, "GPU": 4}, (1.0, 1.0, 4)),  # one actor per GPU
        (["repaint.backend=sdxl"], "repaint", {"CPU": 16}, (1.0, 0.0, 1)),  # no GPU: one copy, on a CPU
        (["repaint.backend=sdxl", "repaint.device=cpu"], "repaint", {"CPU": 16, "GPU": 4}, (1.0, 0.0, 1)),
        (["executor.ray.repaint.num_gpus=0.5"], "repaint", {"CPU": 16, "GPU": 2}, (1.0, 0.5, 4)),
        (["caption.backend=vlm"], "caption", {"CPU": 16}, (1.0, 0.0, 1)),  # one endpoint client, one rate limit
        (["executor.ray.caption.actors=4", "caption.backend=vlm"], "caption", {"CPU": 16}, (1.0, 0.0, 4)),
        (["executor.ray.segment.actors=64"], "segment", {"CPU": 8}, (1.0, 0.0, 8)),  # what the cluster holds
        (["executor.ray.compose.num_cpus=4"], "compose", {"CPU": 10}, (4.0, 0.0, 2)),
    ],
)
def test_actors_and_resources_per_stage(
    settings: list[str], kind: str, cluster: dict[str, float], expected: tuple[float, float, int]
) -> None:
    from types import SimpleNamespace

    from gen4gen.executors.ray import RayExecutor
    from gen4gen.stages.base import BackendSpec

    config = load_config(None, settings)
    executor = RayExecutor.__new__(RayExecutor)  # sizing needs only the cluster's resources
    executor.ray = FakeCluster(**cluster)
    stage: Any = SimpleNamespace(name=kind, spec=BackendSpec.of(config, kind))
    assert executor._sizing(stage, getattr(config.executor.ray, kind), 100) == expected
    assert executor._sizing(stage, getattr(config.executor.ray, kind), 1)[2] == 1  # never more than items


@pytest.mark.parametrize(
    ("settings", "cluster", "expected"),
    [
        ([], {"CPU": 8, "GPU": 2}, (1.0, 0.0, 8)),  # the checks: one actor per CPU
        (["curate.detector=owl"], {"CPU": 8}, (1.0, 0.0, 1)),  # with a model: one actor
        (["curate.clip_model=clip"], {"CPU": 8, "GPU": 2}, (1.0, 1.0, 1)),  # ... on a GPU when there is one
        (["curate.clip_model=clip", "curate.device=cpu"], {"CPU": 8, "GPU": 2}, (1.0, 0.0, 1)),
    ],
)
def test_actors_of_the_checks(settings: list[str], cluster: dict[str, float], expected: tuple[float, ...]) -> None:
    from types import SimpleNamespace

    from gen4gen.checks.suite import checks_spec
    from gen4gen.config import RayResources
    from gen4gen.executors.ray import RayExecutor

    executor = RayExecutor.__new__(RayExecutor)
    executor.ray = FakeCluster(**cluster)
    stage: Any = SimpleNamespace(name="curate", spec=checks_spec(load_config(None, settings)))
    assert executor._sizing(stage, RayResources(), 100) == expected


def test_a_request_the_cluster_cannot_meet_names_the_key() -> None:
    from types import SimpleNamespace

    from gen4gen.executors.ray import RayExecutor
    from gen4gen.stages.base import BackendSpec

    config = load_config(None, ["executor.ray.repaint.num_gpus=1"])
    executor = RayExecutor.__new__(RayExecutor)
    executor.ray = FakeCluster(CPU=4)
    stage: Any = SimpleNamespace(name="repaint", spec=BackendSpec.of(config, "repaint"))
    with pytest.raises(ConfigError, match=r"executor\.ray\.repaint\.num_gpus=1: the Ray cluster has 0 GPU"):
        executor._sizing(stage, config.executor.ray.repaint, 10)
