"""The curate stage: each check on cases it must pass and must reject, thresholds from the config, verdicts that
survive reruns, compose skipping rejected cut-outs, exports leaving rejected samples out, and the HTML report
(parsed, and opened in headless Chromium when it is installed)."""

from __future__ import annotations

import json
import pickle
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from conftest import FAST, object_photo, write_concepts
from PIL import Image

from gen4gen.backends import REGISTRY, backend_class, build_backend
from gen4gen.backends.base import Placement, RepaintRequest
from gen4gen.backends.repaint.scene import SceneInpainter
from gen4gen.checks.base import FLAG, PASS, REJECT
from gen4gen.checks.caption import CaptionChecker, caption_scores
from gen4gen.checks.cutout import CutoutChecker, cutout_scores
from gen4gen.checks.duplicates import DuplicateChecker, nearest, perceptual_hash
from gen4gen.checks.identity import IdentityChecker
from gen4gen.checks.layout import LayoutChecker, layout_scores
from gen4gen.checks.limits import (
    CaptionLimits,
    CutoutLimits,
    DuplicateLimits,
    IdentityLimits,
    LayoutLimits,
    SeamLimits,
)
from gen4gen.checks.seams import SeamChecker
from gen4gen.checks.subjects import SampleInputs, SampleSubject
from gen4gen.checks.suite import CheckSuite, checks_spec, to_data
from gen4gen.cli import main
from gen4gen.config import load_config
from gen4gen.errors import ConfigError
from gen4gen.geometry.masks import CanvasMask
from gen4gen.io.images import mask_to_u8, save_png
from gen4gen.manifest import Manifest
from gen4gen.manifest.records import CaptionData, ComposeData, ObjectData, RepaintData
from gen4gen.sample import Sample, iter_samples

SIDE = 160


def run_cli(*args: str | Path) -> int:
    return main(["-q", *map(str, args)])


def fast(*extra: str) -> list[str]:
    return [item for key in (*FAST, *extra) for item in ("--set", key)]


# ---------------------------------------------------------------------------------------------- fixtures
def textured(rng: np.random.Generator, shape: tuple[int, int], colour: tuple[int, int, int]) -> np.ndarray:
    base = np.asarray(colour, np.float64) + rng.normal(0, 14, (*shape, 3))
    return np.clip(base, 0, 255).astype(np.uint8)


def ellipse_mask(shape: tuple[int, int], centre: tuple[float, float], radii: tuple[float, float]) -> np.ndarray:
    """A soft (2 px) ellipse mask, float32 in [0, 1]."""
    height, width = shape
    yy, xx = np.mgrid[0:height, 0:width]
    distance = np.sqrt(((xx - centre[0]) / radii[0]) ** 2 + ((yy - centre[1]) / radii[1]) ** 2)
    return np.clip((1.0 - distance) * min(radii) / 2.0 + 0.5, 0.0, 1.0).astype(np.float32)


def photo_with(masks: list[np.ndarray], seed: int = 0) -> np.ndarray:
    """A busy green background with red textured objects where ``masks`` are."""
    rng = np.random.default_rng(seed)
    shape = masks[0].shape
    yy, xx = np.mgrid[0 : shape[0], 0 : shape[1]]
    background = np.stack(
        [60 + 20 * np.sin(xx / 5), 150 + 30 * np.cos(yy / 7), 70 + 20 * np.sin((xx + yy) / 9)], axis=-1
    ) + rng.normal(0, 10, (*shape, 3))
    image = np.clip(background, 0, 255)
    for mask in masks:
        image = image * (1 - mask[..., None]) + textured(rng, shape, (210, 50, 40)) * mask[..., None]
    return np.clip(image, 0, 255).astype(np.uint8)


def cutout_result(photo: np.ndarray, mask: np.ndarray, rounds: list[np.ndarray] | None = None) -> Any:
    ys, xs = np.nonzero(mask >= 0.5)
    box = (int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1)
    crop = photo[box[1] : box[3], box[0] : box[2]]
    checker = CutoutChecker(CutoutLimits())
    return checker.judge(cutout_scores(mask, crop, box, rounds or [], "photo.jpg"))


def obj(name: str, box: tuple[int, int, int, int] | None, planned: tuple[int, int, int, int], **extra: Any) -> Any:
    return ObjectData(
        name=name,
        folder=name,
        photo=f"{name}/photo.jpg",
        bbox=box,
        planned_bbox=planned,
        depth=0,
        augment={},
        visible=extra.pop("visible", 0.95),
        mask=f"masks/s/{name}.png",
        **extra,
    )


def layout(objects: list[Any], **extra: Any) -> ComposeData:
    return ComposeData(
        composition="c", sample_id="c_00000", canvas=(256, 256), objects=objects, scene=None, **extra
    )


def scene_sample(tmp_path: Path, change: str | None = None) -> SampleSubject:
    """A real repainted sample (scene backend, harmonised colours) with its files; ``change`` damages it."""
    shape = (SIDE, SIDE)
    mask = ellipse_mask(shape, (80, 88), (34, 44))
    box = (46, 44, 115, 133)
    rng = np.random.default_rng(1)
    concept = textured(rng, shape, (200, 60, 50))
    yy, xx = np.mgrid[0:SIDE, 0:SIDE]
    concept[((xx // 6 + yy // 6) % 2) == 0] //= 2  # a pattern: structure the checks can see
    composite = (concept.astype(np.float32) * mask[..., None] + 0.5).astype(np.uint8)
    repainter = SceneInpainter()
    crop = CanvasMask((0, 0, SIDE, SIDE), mask_to_u8(mask)).tight()
    request = RepaintRequest(composite, [crop], [Placement("dog", box, 0)], "in a garden", 3)
    image = repainter.repaint(request).image.copy()
    solid = (mask >= 0.5).astype(np.uint8)
    outside = cv2.distanceTransform(1 - solid, cv2.DIST_L2, 3)
    if change == "repainted":  # the repainter redrew the concept: its pixels are a different texture now
        core = mask >= 0.99
        image[core] = textured(np.random.default_rng(9), shape, (180, 80, 60))[core]
    elif change == "dark ring":  # the composite's black background leaked around the concept
        ring = (outside > 0) & (outside <= 3)
        image[ring] = (image[ring] * 0.3).astype(np.uint8)
    elif change == "halo":  # a band of the photo's old grey background along the edge
        band = (mask > 0.02) & (mask < 0.98) | ((outside > 0) & (outside <= 1))
        image[band] = (image[band] * 0.3 + 0.7 * np.array([160, 160, 160])).astype(np.uint8)
    save_png(tmp_path / "images/s.png", image)
    save_png(tmp_path / "composites/s.png", composite)
    save_png(tmp_path / "masks/s/dog.png", mask_to_u8(mask))
    data = layout([obj("dog", box, box)], composite="composites/s.png", union_mask="masks/s/dog.png")
    data = data.model_copy(update={"canvas": (SIDE, SIDE)})
    inputs = SampleInputs(
        "c/00000",
        tmp_path,
        data,
        RepaintData(image="images/s.png", scene="in a garden"),
        CaptionData(text="", raw=""),
        "a photo of a dog",
        30,
    )
    return SampleSubject(inputs)


# ---------------------------------------------------------------------------------------------- cut-outs
def test_cutout_check_passes_a_whole_object() -> None:
    mask = ellipse_mask((120, 160), (80, 60), (40, 34))
    result = cutout_result(photo_with([mask]), mask, [mask, mask, mask])
    assert result.status == PASS, result.reason


def test_cutout_check_rejects_a_fragment_of_the_object() -> None:
    whole = ellipse_mask((120, 160), (80, 60), (50, 40))
    fragment = ellipse_mask((120, 160), (80, 60), (22, 18))  # the middle of the object: its colour goes on past it
    result = cutout_result(photo_with([whole]), fragment)
    assert result.status == REJECT and "a fragment of the object" in result.causes
    assert "photo.jpg: the photo goes on unchanged across" in result.reason


def test_cutout_check_rejects_pieces_and_flags_disagreeing_rounds() -> None:
    left = ellipse_mask((120, 200), (50, 60), (30, 30))
    right = ellipse_mask((120, 200), (150, 60), (30, 30))
    both = np.maximum(left, right)
    pieces = cutout_result(photo_with([left, right]), both)
    assert pieces.status == REJECT and "in pieces" in pieces.causes
    unsure = cutout_result(photo_with([left]), left, [left, right, right])
    assert unsure.status == FLAG and unsure.causes == ("rounds disagree",)


# ---------------------------------------------------------------------------------------------- layout
def test_layout_check() -> None:
    checker = LayoutChecker(LayoutLimits())
    cat, dog = (
        obj("cat", (20, 150, 90, 230), (20, 150, 90, 230)),
        obj("dog", (120, 110, 230, 230), (120, 110, 230, 230)),
    )
    assert checker.judge(layout_scores(layout([cat, dog]))).status == PASS
    rocket = obj("rocket", (10, 10, 40, 240), (10, 10, 40, 240))
    cup = obj("cup", (100, 150, 180, 230), (100, 150, 180, 230))
    sizes = checker.judge(layout_scores(layout([rocket, cup], provenance={"px_per_m": 4.6})))
    assert sizes.status == REJECT and "cup next to rocket" in sizes.reason and "cup is enlarged" in sizes.reason
    hidden = checker.judge(layout_scores(layout([cat, obj("dog", None, (120, 110, 230, 230), visible=0.1)])))
    assert hidden.status == REJECT and "a concept missing" in hidden.causes
    off = obj("dog", (200, 110, 256, 230), (200, 110, 330, 230))  # most of its planned box is off the canvas
    assert "a concept off the canvas" in checker.judge(layout_scores(layout([cat, off]))).causes
    piled = obj("dog", (25, 150, 95, 230), (25, 150, 95, 230))
    assert "concepts piled up" in checker.judge(layout_scores(layout([cat, piled]))).causes


def test_layout_visible_defaults_to_compose_min_visible() -> None:
    cat = obj("cat", (20, 150, 90, 230), (20, 150, 90, 230), visible=0.55)
    scores = {"layout": to_data(layout_scores(layout([cat])))}
    assert CheckSuite.of(load_config()).judge_sample(scores)[0].status == REJECT  # 55% < compose.min_visible 60%
    lenient = CheckSuite.of(load_config(overrides=["compose.min_visible=0.5"]))
    assert lenient.judge_sample(scores)[0].status == PASS


# ---------------------------------------------------------------------------------------------- identity, seams
def test_identity_passes_a_harmonised_concept_and_rejects_a_repainted_one(tmp_path: Path) -> None:
    checker = IdentityChecker(IdentityLimits())
    kept = checker.measure(scene_sample(tmp_path / "kept"))
    assert kept["psnr"].value is not None and kept["psnr"].value >= 40, kept  # colours harmonised, pixels kept
    assert checker.judge(kept).status == PASS
    redrawn = checker.judge(checker.measure(scene_sample(tmp_path / "redrawn", "repainted")))
    assert (
        redrawn.status == REJECT
        and "dog:" in redrawn.reason
        and "concept pixels changed by repaint" in redrawn.causes
    )


def test_seams_pass_a_clean_edge_and_reject_halos(tmp_path: Path) -> None:
    checker = SeamChecker(SeamLimits())
    assert checker.judge(checker.measure(scene_sample(tmp_path / "clean"))).status == PASS
    ring = checker.judge(checker.measure(scene_sample(tmp_path / "ring", "dark ring")))
    assert ring.status == REJECT and "colour leak at the edges" in ring.causes
    halo = checker.judge(checker.measure(scene_sample(tmp_path / "halo", "halo")))
    assert halo.status in (FLAG, REJECT) and "halo at the edges" in halo.causes


# ---------------------------------------------------------------------------------------------- caption
def test_caption_check() -> None:
    checker = CaptionChecker(CaptionLimits())
    names = ["cat", "motorcycle", "teddy bear"]
    assert (
        checker.judge(caption_scores("Two kittens, a motorbike and a teddy bear on grass.", names)).status == PASS
    )
    missing = checker.judge(caption_scores("A cat next to a motorbike on grass.", names))
    assert missing.status == REJECT and "teddy bear" in missing.reason
    unseen = checker.judge(caption_scores("A cat, a motorbike and a teddy bear.", names, ["teddy bear"]))
    assert unseen.status == FLAG and "teddy bear" in unseen.reason
    long_text = "A cat, a motorbike and a teddy bear " + "very " * 40 + "happy."
    suite = CheckSuite.of(load_config(overrides=["caption.max_words=30"]))
    verdict = suite.judge_sample({"caption": to_data(caption_scores(long_text, names))})[-1]
    assert verdict.status == REJECT and "caption too long" in verdict.causes


# ---------------------------------------------------------------------------------------------- duplicates
def test_near_duplicates_reject_the_later_sample() -> None:
    rng = np.random.default_rng(0)
    first = object_photo(1, (220, 40, 40), (256, 256))
    again = np.clip(first.astype(np.int16) + rng.integers(-6, 7, first.shape), 0, 255).astype(np.uint8)
    other = object_photo(7, (40, 60, 220), (256, 256))[:, ::-1].copy()
    hashes = [("a", perceptual_hash(first)), ("b", perceptual_hash(other)), ("c", perceptual_hash(again))]
    checker = DuplicateChecker(DuplicateLimits())
    judged = {key: checker.judge(scores) for key, scores in nearest(hashes, [True, True, True]).items()}
    assert judged["a"].status == PASS and judged["b"].status == PASS
    assert judged["c"].status == REJECT and "the hash of a " in judged["c"].reason
    # an earlier sample rejected by another check does not make its copy a duplicate
    assert nearest(hashes, [False, True, True])["c"]["distance"].value > 3


# ---------------------------------------------------------------------------------------------- config
def test_the_checks_are_built_from_their_spec_alone() -> None:
    """A worker builds the driver's suite from the pickled spec: the values taken from other sections included."""
    config = load_config(
        overrides=["compose.min_visible=0.5", "caption.max_words=12", "curate.seams.enabled=false"]
    )
    spec = pickle.loads(pickle.dumps(checks_spec(config)))
    here, there = CheckSuite.of(config), build_backend(spec.kind, spec.name, json.loads(spec.options))
    assert isinstance(there, CheckSuite) and there.identity() == here.identity()
    assert there.sample_settings() == here.sample_settings() and there.cutout_settings() == here.cutout_settings()
    assert all(there.limits(name) == here.limits(name) for name in here.checkers)
    assert there.limits("layout")["visible"]["reject"] == 0.5 and there.limits("caption")["words"]["reject"] == 12
    assert "seams" not in there.checkers
    assert spec.name == "checks" and backend_class("curate", "checks").process_parallel  # one per worker
    models = checks_spec(load_config(overrides=["curate.clip_model=clip"]))
    assert models.name == "model-checks" and not backend_class("curate", models.name).process_parallel
    assert "curate" not in REGISTRY  # not a backend people choose


def test_thresholds_come_from_the_config() -> None:
    config = load_config(overrides=["curate.layout.size_ratio.flag=1.5", "curate.layout.size_ratio.reject=2"])
    assert config.curate.layout.size_ratio.reject == 2
    partial = load_config(overrides=["curate.layout.size_ratio.reject=10"]).curate.layout.size_ratio
    assert (partial.flag, partial.reject) == (5.0, 10.0)  # the other threshold keeps its default
    with pytest.raises(ConfigError, match="size_ratio: flag"):
        load_config(overrides=["curate.layout.size_ratio.flag=30"])  # flag past reject for a max score
    with pytest.raises(ConfigError, match=r"curate\.layout\.size"):
        load_config(overrides=["curate.layout.size=3"])
    with pytest.raises(ConfigError, match="placeholder"):
        load_config(overrides=["curate.query_template=a photo"])
    off = CheckSuite.of(load_config(overrides=["curate.seams.enabled=false"]))
    assert "seams" not in off.checkers and "layout" in off.checkers


def test_every_threshold_belongs_to_a_score() -> None:
    suite = CheckSuite.of(load_config(overrides=["curate.detector=owl", "curate.clip_model=clip"]))
    assert set(suite.checkers) == {
        "cutout",
        "layout",
        "identity",
        "seams",
        "caption",
        "duplicate",
        "detection",
        "clip",
    }
    for checker in suite.checkers.values():
        assert {m.key for m in checker.metrics} == set(checker.limits.DIRECTIONS), checker.name
        assert checker.headline in checker.limits.DIRECTIONS
        assert all(m.label for m in checker.metrics)


# ---------------------------------------------------------------------------------------------- the stage
def samples_of(out: Path) -> list[Sample]:
    with Manifest(out) as manifest:
        keys = json.loads(manifest.get_meta("samples") or "[]")
        return [s for s in iter_samples(manifest, keys) if isinstance(s, Sample)]


def verdict_rows(out: Path) -> list[tuple[Any, ...]]:
    with Manifest(out) as manifest:
        return manifest._db.execute(
            "SELECT sample, name, status, score, reason FROM verdicts ORDER BY id"
        ).fetchall()


@pytest.mark.slow
def test_run_curates_every_sample_and_a_rerun_adds_nothing(src: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    assert run_cli("run", src, "--out", out, "-n", "3", *fast()) == 0
    samples = samples_of(out)
    assert len(samples) == 3
    for sample in samples:
        assert set(sample.verdicts) == {"cutout", "layout", "identity", "seams", "caption", "duplicate"}
        assert not sample.rejected, {n: v.reason for n, v in sample.verdicts.items()}
        assert sample.verdicts["identity"].score is not None and sample.verdicts["identity"].score > 40
    with Manifest(out) as manifest:
        assert len(manifest.records("curate", "done")) == 3 + 4  # the samples and the 4 cut-outs
        assert manifest.verdicts("cutout:cat/photo_0.jpg")["cutout"].status == PASS
        stats = json.loads(manifest.get_meta("stats.curate") or "{}")
    assert (stats["made"], stats["reused"]) == (3 + 4, 0)  # compose measured the cut-outs for this run
    assert (out / "report.html").is_file() and len((out / "metadata.jsonl").read_text().splitlines()) == 3
    before = verdict_rows(out)
    assert run_cli("run", src, "--out", out, "-n", "3", *fast()) == 0
    assert verdict_rows(out) == before  # same inputs and thresholds: nothing measured, nothing appended
    with Manifest(out) as manifest:
        assert json.loads(manifest.get_meta("stats.curate") or "{}")["reused"] == 7


def curation(out: Path) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """What the checks made: every curate record (no timings) and every verdict (per target and check, in the
    order they were appended; no times)."""
    with Manifest(out) as manifest:
        records = [(r.key, r.status, r.fingerprint, r.backend, r.data) for r in manifest.records("curate")]
        verdicts = manifest._db.execute(
            "SELECT sample, name, status, score, reason, fingerprint FROM verdicts ORDER BY sample, name, id"
        ).fetchall()
    return records, verdicts


@pytest.mark.slow
def test_curation_is_the_same_in_worker_processes(src: Path, tmp_path: Path) -> None:
    """The checks run in the workers (the cut-outs too, when compose does not measure them first) and give the
    scores, verdicts and files of the driver."""
    serial, parallel = tmp_path / "serial", tmp_path / "parallel"
    assert run_cli("run", src, "--out", serial, "-n", "4", "--workers", "1", *fast("batch_size=1")) == 0
    options = fast("batch_size=1", "curate.skip_rejected_cutouts=false")  # the curate stage measures cut-outs
    assert run_cli("run", src, "--out", parallel, "-n", "4", "--workers", "2", *options) == 0
    expected = curation(serial)
    assert curation(parallel) == expected and len(expected[0]) == 4 + 4 and len(expected[1]) > 4 * 6
    assert (parallel / "metadata.jsonl").read_bytes() == (serial / "metadata.jsonl").read_bytes()
    with Manifest(parallel) as manifest:
        assert json.loads(manifest.get_meta("stats.curate") or "{}")["made"] == 4 + 4
    # `gen4gen curate` too: a check turned off measures every sample again, new thresholds re-judge them
    changed = fast("batch_size=1", "curate.seams.enabled=false", "curate.identity.psnr.flag=99.5")
    for out, workers in ((serial, "1"), (parallel, "2")):
        assert run_cli("curate", out, "--workers", workers, *changed) == 0
        with Manifest(out) as manifest:
            assert json.loads(manifest.get_meta("stats.curate") or "{}")["made"] == 4
    assert curation(parallel) == curation(serial) != expected


@pytest.mark.slow
def test_new_thresholds_rejudge_without_measuring_and_rejected_samples_are_not_exported(
    src: Path, tmp_path: Path
) -> None:
    out = tmp_path / "run"
    assert run_cli("run", src, "--out", out, "-n", "3", *fast()) == 0
    strict = ["curate.identity.psnr.flag=99.5", "curate.identity.psnr.reject=99.5"]  # nothing is that identical
    assert run_cli("curate", out, *fast(*strict)) == 0
    with Manifest(out) as manifest:
        stats = json.loads(manifest.get_meta("stats.curate") or "{}")
    assert stats["made"] == 0 and stats["reused"] == 7  # judged again from the recorded scores
    samples = samples_of(out)
    assert all(s.rejected and s.verdicts["identity"].status == REJECT for s in samples)
    assert "concept pixels changed by repaint" in json.dumps(stats["rejected"])
    assert not (out / "metadata.jsonl").exists()  # the selection changed: the stale index is gone
    assert run_cli("export", out) == 1  # nothing left to export
    assert not (out / "metadata.jsonl").read_text().strip()
    # the verdicts stay through reruns of the other stages; back to the defaults, the samples come back
    assert run_cli("repaint", out, *fast()) == 0
    assert all(s.rejected for s in samples_of(out))
    assert run_cli("curate", out, *fast("curate.identity.psnr.flag=40", "curate.identity.psnr.reject=35")) == 0
    assert run_cli("export", out) == 0
    assert len((out / "metadata.jsonl").read_text().splitlines()) == 3
    statuses = [row[2] for row in verdict_rows(out) if row[1] == "identity"]
    assert statuses == [PASS] * 3 + [REJECT] * 3 + [PASS] * 3  # appended, never overwritten


@pytest.mark.slow
def test_flagged_samples_stay_out_of_training_exports_unless_asked(src: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    flag_all = ["curate.identity.psnr.flag=99.5"]
    assert run_cli("run", src, "--out", out, "-n", "2", *fast(*flag_all)) == 0
    assert all(not s.rejected and s.verdicts["identity"].status == FLAG for s in samples_of(out))
    assert len((out / "metadata.jsonl").read_text().splitlines()) == 2  # the run folder's index shows them
    assert run_cli("export", out, "--format", "hf") == 1
    assert run_cli("export", out, "--format", "hf", "--include-flagged") == 0
    assert len((out / "exports/hf/metadata.jsonl").read_text().splitlines()) == 2


def small_object_photo(seed: int) -> np.ndarray:
    """A red object filling ~3% of a busy photo (its cut-out is small: the area check can reject it)."""
    rng = np.random.default_rng(seed)
    width, height = 200, 160
    yy, xx = np.mgrid[0:height, 0:width]
    background = np.stack(
        [90 + 60 * np.sin(xx / 10), 140 + 40 * np.cos(yy / 9), 80 + 30 * np.sin((xx + yy) / 13)], axis=-1
    ) + rng.normal(0, 12, (height, width, 3))
    inside = ((xx - 100) / 17.6) ** 2 + ((yy - 80) / 19.2) ** 2 <= 1.0
    image = np.where(inside[..., None], textured(rng, (height, width), (220, 40, 40)), background)
    return np.clip(image, 0, 255).astype(np.uint8)


@pytest.mark.slow
def test_compose_skips_rejected_cutouts(tmp_path: Path) -> None:
    src = write_concepts(tmp_path / "src", {"cat": 1, "dog": 1})
    Image.fromarray(small_object_photo(3)).save(src / "cat" / "photo_1.jpg", quality=92)
    tiny = ["curate.cutout.area.flag=0.1", "curate.cutout.area.reject=0.1"]  # the small cat's cut-out fails
    out = tmp_path / "run"
    reporter_out = tmp_path / "log.txt"
    assert run_cli("run", src, "--out", out, "-n", "4", *fast(*tiny)) == 0
    with Manifest(out) as manifest:
        rejected = manifest.verdicts("cutout:cat/photo_1.jpg")["cutout"]
        assert rejected.status == REJECT and "the mask covers" in (rejected.reason or "")
        used = {o["photo"] for r in manifest.records("compose", "done") for o in r.data["objects"]}
    assert "cat/photo_1.jpg" not in used and "cat/photo_0.jpg" in used
    assert all(s.verdicts["cutout"].status == PASS for s in samples_of(out))
    del reporter_out
    # composed anyway, the samples using it inherit the rejection and are not exported
    anyway = tmp_path / "anyway"
    options = fast(*tiny, "curate.skip_rejected_cutouts=false")
    assert run_cli("run", src, "--out", anyway, "-n", "4", *options) == 0
    users = [s for s in samples_of(anyway) if any(o.photo == "cat/photo_1.jpg" for o in s.objects)]
    assert users and all(s.rejected and "cat/photo_1.jpg" in (s.verdicts["cutout"].reason or "") for s in users)
    exported = (anyway / "metadata.jsonl").read_text()
    assert all(s.id not in exported for s in users)


@pytest.mark.slow
def test_every_cutout_rejected_skips_the_composition_with_its_reason(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = write_concepts(tmp_path / "src", {"cat": 1, "dog": 1})
    out = tmp_path / "run"
    assert (
        run_cli("run", src, "--out", out, *fast("curate.cutout.area.flag=0.9", "curate.cutout.area.reject=0.9"))
        == 1
    )
    err = capsys.readouterr().err
    assert "the cut-out check rejects every one" in " ".join(err.split())


# ---------------------------------------------------------------------------------------------- the report
class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.body: dict[str, str] = {}
        self.cards: list[dict[str, str]] = []
        self.images: list[str] = []
        self.links: list[str] = []
        self.svgs = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v or "" for k, v in attrs}
        if tag == "body":
            self.body = values
        elif tag == "figure" and "data-status" in values:
            self.cards.append(values)
        elif tag == "img":
            self.images.append(values["src"])
        elif tag == "a" and "href" in values and not values["href"].startswith("#"):
            self.links.append(values["href"])
        elif tag == "svg":
            self.svgs += 1


def expected_counts(out: Path) -> dict[str, int]:
    from gen4gen.stages.export import flagged

    counts = {"accepted": 0, "flagged": 0, "rejected": 0}
    for sample in samples_of(out):
        counts["rejected" if sample.rejected else "flagged" if flagged(sample) else "accepted"] += 1
    return counts


@pytest.fixture(scope="module")
def judged_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run with accepted, flagged and rejected samples (thresholds picked so each kind occurs)."""
    root = tmp_path_factory.mktemp("report")
    src = write_concepts(root / "src", {"cat": 2, "dog": 1})
    out = root / "run"
    assert run_cli("run", src, "--out", out, "-n", "6", *fast()) == 0
    with Manifest(out) as manifest:
        psnr = sorted(s.verdicts["identity"].score or 0 for s in samples_of(out))
        del manifest
    flag, reject = (psnr[3] + psnr[4]) / 2, (psnr[1] + psnr[2]) / 2  # 2 rejected, 2 flagged, 2 accepted
    assert (
        run_cli("curate", out, *fast(f"curate.identity.psnr.flag={flag}", f"curate.identity.psnr.reject={reject}"))
        == 0
    )
    return out


@pytest.mark.slow
def test_report_shows_every_sample_with_its_verdict(judged_run: Path) -> None:
    (judged_run / "report.html").unlink()
    assert run_cli("report", judged_run) == 0
    page = _Page()
    page.feed((judged_run / "report.html").read_text(encoding="utf-8"))
    counts = expected_counts(judged_run)
    assert counts == {"accepted": 2, "flagged": 2, "rejected": 2}
    samples = [c for c in page.cards if c["data-kind"] == "sample"]
    assert {k: sum(c["data-status"] == k for c in samples) for k in counts} == counts
    assert {k: int(page.body[f"data-{k}"]) for k in counts} == counts
    assert sum(c["data-kind"] == "cutout" for c in page.cards) == 3
    assert all(src.startswith("data:image/jpeg;base64,") for src in page.images)  # self-contained thumbnails
    assert all((judged_run / link).is_file() for link in page.links)  # full images, relative to the run folder
    assert page.svgs >= 10  # a histogram per score
    text = (judged_run / "report.html").read_text(encoding="utf-8")
    assert "concept pixels changed by repaint" in text and "53%" in text and "resolved config" in text


def chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


@pytest.mark.slow
@pytest.mark.skipif(chromium() is None, reason="needs a headless Chromium (Debian: apt-get install chromium)")
def test_report_in_headless_chromium(judged_run: Path, tmp_path: Path) -> None:
    browser = chromium()
    assert browser is not None
    command = [
        browser,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        f"--user-data-dir={tmp_path / 'profile'}",
        "--virtual-time-budget=10000",
        "--dump-dom",
        (judged_run / "report.html").as_uri(),
    ]
    dom = subprocess.run(command, capture_output=True, text=True, timeout=120, check=True).stdout
    body = re.search(r"<body([^>]*)>", dom)
    assert body is not None
    attributes = dict(re.findall(r'data-([\w-]+)="([^"]*)"', body.group(1)))
    assert int(attributes["images-checked"]) == len(re.findall(r"<img ", dom)) > 0  # the page's script ran
    assert attributes["images-broken"] == "0"  # every image loaded
    counts = expected_counts(judged_run)
    for status, count in counts.items():
        assert int(attributes[status]) == count
        assert len(re.findall(rf'data-status="{status}" data-kind="sample"', dom)) == count
    assert 'class="filters"' in dom and 'class="filters" hidden' not in dom  # the filters came alive


# ---------------------------------------------------------------------------------------------- model checks
@pytest.mark.slow
@pytest.mark.neural
def test_model_checks_score_every_concept_and_retire_when_turned_off(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    from gen4gen.evaluate import metrics
    from gen4gen.evaluate.models import ClipEmbedder
    from gen4gen.evaluate.run import to_rgb
    from gen4gen.testing import tiny_models

    clip = tiny_models.build_tiny_clip(tmp_path / "clip")
    owl = tiny_models.build_tiny_owlvit(tmp_path / "owl")
    src = write_concepts(tmp_path / "src", {"cat": 2, "dog": 1})
    out = tmp_path / "run"
    models = [
        f"curate.detector={owl}",
        f"curate.clip_model={clip}",
        "curate.device=cpu",
        "curate.detector_threshold=0",
    ]
    lenient = [
        f"curate.{c}.{m}.{t}=null"
        for c, m in (("detection", "detected"), ("clip", "similarity"))
        for t in ("flag", "reject")
    ]  # random weights: the scores mean nothing, only that they are made
    assert run_cli("run", src, "--out", out, "-n", "2", *fast(*models, *lenient)) == 0
    samples = samples_of(out)
    for sample in samples:
        detected, similar = sample.verdicts["detection"], sample.verdicts["clip"]
        assert detected.status == PASS and detected.score is not None and 0.0 <= detected.score <= 1.0
        assert similar.status == PASS and similar.score is not None and -1.0 <= similar.score <= 1.0
    # the clip score is the worst concept's mean similarity of its crop to the concept's photos
    embedder = ClipEmbedder.load(str(clip), "cpu", pytest.importorskip("torch").float32, 8)
    sample = samples[0]
    image = Image.open(out / sample.image).convert("RGB")
    expected = min(
        float(
            metrics.similarity(
                embedder.images([image.crop(o.bbox)]),
                [embedder.images([to_rgb(p) for p in sorted((src / o.folder).iterdir())])],
            )[0, 0]
        )
        for o in sample.objects
    )
    assert sample.verdicts["clip"].score == pytest.approx(expected, abs=1e-4)
    # models unset: their old verdicts are retired, not left to count
    assert run_cli("curate", out, *fast("curate.detector=null", "curate.clip_model=null")) == 0
    for sample in samples_of(out):
        assert sample.verdicts["detection"].status == "skip" and sample.verdicts["clip"].status == "skip"
