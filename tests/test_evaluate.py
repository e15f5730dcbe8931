"""gen4gen eval: CP-CLIP and TI-CLIP with tiny random CLIP and OWL-ViT, checked against direct computations."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import object_photo, write_concepts
from PIL import Image

from gen4gen.cli import main
from gen4gen.errors import BackendUnavailable, ConfigError, SourceError
from gen4gen.evaluate import metrics, run
from gen4gen.evaluate.config import EvalConfig, load_eval_config
from gen4gen.evaluate.metrics import Detection
from gen4gen.evaluate.models import ClipEmbedder, OwlDetector
from gen4gen.evaluate.spec import read_images, read_spec
from gen4gen.progress import Reporter
from gen4gen.testing import tiny_models

pytestmark = pytest.mark.neural
torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

SIZE = (96, 72)  # generated images, (width, height)


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("eval-models")
    return {"clip": tiny_models.build_tiny_clip(root / "clip"), "owl": tiny_models.build_tiny_owlvit(root / "owl")}


@pytest.fixture(scope="module")
def run_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real gen4gen run: a cat and two dogs (dog2, dog3: class word "dog") in every sample."""
    root = tmp_path_factory.mktemp("eval-run")
    src = write_concepts(root / "src", {"cat": 2, "dog2": 1, "dog3": 2})
    fast = ["compose.canvas=128", "samples=3", "segment.rounds=1"]
    assert main(["-q", "run", str(src), "--out", str(root / "run"), *(a for k in fast for a in ("--set", k))]) == 0
    return root / "run"


def config(models: dict[str, Path], **changes: Any) -> EvalConfig:
    settings = {"clip_model": str(models["clip"]), "detector": str(models["owl"]), "device": "cpu", **changes}
    return EvalConfig(**settings)


def write_set(root: Path, lines: list[dict[str, Any]]) -> tuple[Path, Path]:
    """IMAGES (one textured image per line) and a SPEC with dog, cat and lamp, two reference photos each."""
    images = root / "images"
    images.mkdir(parents=True)
    for index, line in enumerate(lines):
        colour = ((40 * index) % 255, 120, 200)
        Image.fromarray(object_photo(index, colour, SIZE)).save(images / line["file_name"])
    (images / "metadata.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    refs = write_concepts(root / "refs", {"dog": 2, "cat": 2, "lamp": 2})
    spec = root / "spec.yaml"
    spec.write_text(
        "concepts:\n"
        f"  dog: {{class: dog, references: {refs / 'dog'}}}\n"
        "  cat: {class: cat, references: [refs/cat/photo_0.jpg, refs/cat/photo_1.jpg]}\n"
        "  lamp: {class: lamp, references: refs/lamp}\n",
        encoding="utf-8",
    )
    return images, spec


class Direct:
    """CLIP embeddings computed one input at a time straight with transformers (the reference computation)."""

    def __init__(self, folder: Path) -> None:
        self.model = transformers.CLIPModel.from_pretrained(folder).eval()
        self.processor = transformers.CLIPProcessor.from_pretrained(folder)
        self._references: dict[Path, np.ndarray] = {}

    @staticmethod
    def _unit(output: Any) -> np.ndarray:
        vector = (output if isinstance(output, torch.Tensor) else output.pooler_output)[0].double().numpy()
        return vector / np.linalg.norm(vector)

    def image(self, image: Image.Image) -> np.ndarray:
        with torch.no_grad():
            pixels = self.processor(images=[image.convert("RGB")], return_tensors="pt")["pixel_values"]
            return self._unit(self.model.get_image_features(pixel_values=pixels))

    def text(self, text: str) -> np.ndarray:
        tokens = self.processor.tokenizer([text], truncation=True, max_length=77, return_tensors="pt")
        with torch.no_grad():
            return self._unit(self.model.get_text_features(**tokens))

    def reference(self, path: Path) -> np.ndarray:
        if path not in self._references:
            self._references[path] = self.image(Image.open(path))
        return self._references[path]

    def similarity(self, crop: Image.Image, references: list[Path]) -> float:
        embedding = self.image(crop)
        return float(np.mean([embedding @ self.reference(p) for p in references]))


def lines_of(out: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (out / "scores.jsonl").read_text(encoding="utf-8").splitlines()]


# ------------------------------------------------------------------------------------------------ pure math
def test_k_best_boxes_after_nms_for_a_repeated_class_word() -> None:
    dog, cat = 0, 1
    detections = [
        Detection((0, 0, 10, 10), 0.9, dog),
        Detection((1, 1, 11, 11), 0.85, dog),  # IoU 0.68 with the best dog: suppressed
        Detection((20, 20, 30, 30), 0.7, dog),
        Detection((-30, -30, -5, -5), 0.99, dog),  # outside the image: dropped before the k best are taken
        Detection((40, 0, 60, 20), 0.5, dog),
        Detection((0, 20, 10, 30), 0.6, cat),
        Detection((30, 30, 70, 70), 0.95, cat),  # clamped to (30, 30, 50, 40)
    ]
    chosen = metrics.select_detections(detections, [2, 1], width=50, height=40, iou_threshold=0.5)
    assert [d.box for d in chosen[dog]] == [(0, 0, 10, 10), (20, 20, 30, 30)]
    assert [d.box for d in chosen[cat]] == [(30, 30, 50, 40)]
    assert [d.score for d in chosen[dog]] == [0.9, 0.7]
    assert metrics.select_detections(detections, [0, 3], 50, 40, 0.5)[1] == [
        Detection((30, 30, 50, 40), 0.95, cat),
        Detection((0, 20, 10, 30), 0.6, cat),
    ]


def test_box_clamping_crop_rounding_and_iou() -> None:
    assert metrics.clamp_box((-3.2, 4.5, 120.0, 30.1), 96, 72) == (0.0, 4.5, 96.0, 30.1)
    assert metrics.clamp_box((100, 10, 130, 20), 96, 72) is None
    assert metrics.crop_window((10.4, 5.6, 50.2, 40.0)) == (10, 5, 51, 40)
    assert metrics.iou((0, 0, 10, 10), (5, 0, 15, 10)) == pytest.approx(50 / 150)
    assert metrics.nms([(0, 0, 10, 10), (0, 0, 10, 10), (5, 0, 15, 10)], [0.5, 0.5, 0.4], 0.5) == [0, 2]


def test_similarity_credit_cp_clip_and_groups() -> None:
    crops = np.array([[1.0, 0.0], [0.0, 2.0]])
    references = [np.array([[1.0, 0.0], [1.0, 1.0]]), np.array([[0.0, 1.0]])]
    table = metrics.similarity(crops, references)
    np.testing.assert_allclose(table, [[(1 + 1 / math.sqrt(2)) / 2, 0.0], [1 / (2 * math.sqrt(2)), 1.0]])
    best, credited = metrics.credit(table)
    assert best == [0, 1]
    assert metrics.cp_clip(credited, 3) == pytest.approx(((1 + 1 / math.sqrt(2)) / 2 + 1.0) / 3)
    table = metrics.summarise([0.1, 0.3, 0.5, 0.7, 0.9], [2, 3, 4, 5, 7])
    assert (table["<=3"].count, table["4"].count, table[">=5"].count, table["all"].count) == (2, 1, 2, 5)
    assert table["<=3"].mean == pytest.approx(0.2) and table["<=3"].std == pytest.approx(0.1)
    assert table[">=5"].mean == pytest.approx(0.8)


# ------------------------------------------------------------------------------------------------ models
def test_tiny_models_load_through_the_production_loaders(models: dict[str, Path]) -> None:
    clip = ClipEmbedder.load(str(models["clip"]), "cpu", torch.float32, batch_size=2)
    images = [Image.fromarray(object_photo(i, (200, 40, 40), (40 + 7 * i, 30))) for i in range(3)]
    images.append(Image.new("RGB", (1, 1)))  # a one-pixel crop is a valid input
    assert clip.images(images).shape == (4, clip.dim)
    assert clip.texts(["a dog", "a cat in a garden " * 40]).shape == (2, clip.dim)
    detector = OwlDetector.load(str(models["owl"]), "cpu", torch.float32, batch_size=2)
    found = detector.detect(images[:3], [["a photo of a dog"], ["a photo of a dog", "a photo of a cat"], []], 0.0)
    assert [len(f) > 0 for f in found] == [True, True, False]
    assert {d.label for d in found[0]} == {0} and {d.label for d in found[1]} <= {0, 1}


def test_batching_changes_no_score(models: dict[str, Path], tmp_path: Path) -> None:
    """Images with one, two and three class words in one detector batch: padding queries never win a box."""
    lines = [
        {"file_name": "a.png", "concepts": ["dog"], "text": "a dog"},
        {"file_name": "b.png", "concepts": ["dog", "cat", "lamp"], "text": "a dog, a cat and a lamp"},
        {"file_name": "c.png", "concepts": ["cat", "cat"], "text": "two cats", "background": "in a room"},
        {"file_name": "d.png", "concepts": ["lamp", "dog"], "text": "a lamp and a dog"},
    ]
    images, spec = write_set(tmp_path, lines)
    one = run.evaluate(images, spec, tmp_path / "one", config(models, threshold=0.0, batch_size=1))
    four = run.evaluate(images, spec, tmp_path / "four", config(models, threshold=0.0, batch_size=4))
    assert one.scored == four.scored == 4
    for a, b in zip(lines_of(tmp_path / "one"), lines_of(tmp_path / "four"), strict=True):
        assert a["cp_clip"] == pytest.approx(b["cp_clip"], abs=1e-6)
        assert a["ti_clip"] == pytest.approx(b["ti_clip"], abs=1e-6)
        assert [d and d["query"] for d in a["detections"]] == [d and d["query"] for d in b["detections"]]
        assert any(a["detections"])
        for da, db in zip(a["detections"], b["detections"], strict=True):
            assert (da is None) == (db is None)
            if da is not None:
                np.testing.assert_allclose(da["box"], db["box"], atol=1e-3)


# ------------------------------------------------------------------------------------------------ scores
def test_cp_clip_with_given_boxes_matches_a_hand_computation(models: dict[str, Path], tmp_path: Path) -> None:
    line = {
        "file_name": "x.png",
        "text": "a dog and a cat",
        "objects": [
            {"concept": "dog", "bbox": [10.4, 5.6, 50.2, 40.9]},
            {"concept": "cat", "bbox": [40, 30, 120, 90]},  # runs off the image: clamped
        ],
    }
    images, spec = write_set(tmp_path, [line])
    stats = run.evaluate(images, spec, tmp_path / "out", config(models, boxes="given"))
    assert stats.scored == 1
    (scored,) = lines_of(tmp_path / "out")

    direct = Direct(models["clip"])
    image = Image.open(images / "x.png").convert("RGB")
    concepts = read_spec(spec).concepts
    table = {
        slot: {
            name: direct.similarity(image.crop(window), list(concepts[name].references)) for name in ("dog", "cat")
        }
        for slot, window in (("dog", (10, 5, 51, 41)), ("cat", (40, 30, 96, 72)))
    }
    expected = (max(table["dog"].values()) + max(table["cat"].values())) / 2
    assert scored["cp_clip"] == pytest.approx(expected, abs=1e-6)
    assert scored["concepts"] == ["dog", "cat"] and scored["n_concepts"] == 2
    dog, cat = scored["detections"]
    assert (
        dog["crop"] == [10, 5, 51, 41]
        and cat["box"] == [40.0, 30.0, 96.0, 72.0]
        and cat["crop"] == [40, 30, 96, 72]
    )
    assert dog["query"] is None and dog["score"] is None
    for slot, got in (("dog", dog), ("cat", cat)):
        assert got["similarity"] == pytest.approx(table[slot], abs=1e-6)
        assert got["credited"] == max(table[slot], key=table[slot].__getitem__)
    assert scored["ti_text_source"] == "prompt"  # no background: the prompt
    assert scored["ti_clip"] == pytest.approx(direct.image(image) @ direct.text("a dog and a cat"), abs=1e-6)


def test_a_missing_concept_counts_zero(models: dict[str, Path], tmp_path: Path) -> None:
    line = {
        "file_name": "x.png",
        "concepts": ["dog", "cat", "lamp"],
        "text": "a dog, a cat and a lamp",
        "objects": [
            {"concept": "dog", "bbox": [0, 0, 48, 36]},
            {"concept": "cat", "bbox": [200, 200, 300, 300]},  # nothing of it inside the image
            {"concept": "lamp", "bbox": None},  # not visible
        ],
    }
    images, spec = write_set(tmp_path, [line])
    run.evaluate(images, spec, tmp_path / "given", config(models, boxes="given"))
    (scored,) = lines_of(tmp_path / "given")
    dog, cat, lamp = scored["detections"]
    assert cat is None and lamp is None
    assert scored["cp_clip"] == pytest.approx(dog["credited_similarity"] / 3, abs=1e-12)


def test_more_concepts_than_detected_boxes_are_missing(models: dict[str, Path], tmp_path: Path) -> None:
    """The tiny detector predicts 16 boxes per image: 20 cats cannot all be found, and the rest count zero."""
    line = {"file_name": "x.png", "concepts": ["cat"] * 20, "text": "twenty cats"}
    images, spec = write_set(tmp_path, [line])
    run.evaluate(images, spec, tmp_path / "out", config(models, threshold=0.0))
    (scored,) = lines_of(tmp_path / "out")
    found = [d for d in scored["detections"] if d is not None]
    assert 0 < len(found) <= 16 and scored["detections"][len(found) :] == [None] * (20 - len(found))
    assert [d["score"] for d in found] == sorted((d["score"] for d in found), reverse=True)
    assert all(metrics.iou(a["box"], b["box"]) <= 0.5 for i, a in enumerate(found) for b in found[i + 1 :])
    assert scored["cp_clip"] == pytest.approx(sum(d["credited_similarity"] for d in found) / 20, abs=1e-12)


def test_ti_clip_matches_transformers_and_truncates_at_77_tokens(models: dict[str, Path], tmp_path: Path) -> None:
    long_scene = "in a garden next to a red wooden table " * 20  # far beyond 77 tokens
    lines = [
        {"file_name": "a.png", "concepts": ["dog"], "text": "a dog on a beach", "background": "on a beach"},
        {"file_name": "b.png", "concepts": ["cat"], "text": "a cat", "background": long_scene},
    ]
    images, spec = write_set(tmp_path, lines)
    run.evaluate(images, spec, tmp_path / "bg", config(models))
    run.evaluate(images, spec, tmp_path / "prompt", config(models, ti_text="prompt"))
    direct = Direct(models["clip"])
    for line, by_bg, by_prompt in zip(
        lines, lines_of(tmp_path / "bg"), lines_of(tmp_path / "prompt"), strict=True
    ):
        image = direct.image(Image.open(images / line["file_name"]))
        assert by_bg["ti_clip"] == pytest.approx(image @ direct.text(line["background"]), abs=1e-6)
        assert by_prompt["ti_clip"] == pytest.approx(image @ direct.text(line["text"]), abs=1e-6)
        assert by_bg["ti_text_source"] == "background" and by_prompt["ti_text_source"] == "prompt"


# ------------------------------------------------------------------------------------------------ run folders
def test_run_folder_as_images_and_as_spec_two_dogs(
    models: dict[str, Path], run_folder: Path, tmp_path: Path
) -> None:
    spec = read_spec(run_folder)
    assert {n: c.word for n, c in spec.concepts.items()} == {"cat": "cat", "dog2": "dog", "dog3": "dog"}
    assert len(spec.concepts["dog3"].references) == 2 and all(
        p.is_file() for p in spec.concepts["dog3"].references
    )
    settings = config(models, threshold=0.0)
    stats = run.evaluate(run_folder, run_folder, tmp_path / "out", settings)
    assert stats.scored == 3 and stats.failed == {}
    metadata = [json.loads(line) for line in (run_folder / "metadata.jsonl").read_text().splitlines()]

    owl = transformers.OwlViTForObjectDetection.from_pretrained(models["owl"]).eval()
    processor = transformers.OwlViTProcessor.from_pretrained(models["owl"])
    for meta, scored in zip(metadata, lines_of(tmp_path / "out"), strict=True):
        assert scored["concepts"] == [o["concept_id"] for o in meta["objects"]]
        assert scored["ti_text"] == meta["scene"]
        words = list(dict.fromkeys(o["name"] for o in meta["objects"]))  # in order of first appearance
        image = Image.open(run_folder / meta["file_name"]).convert("RGB")
        inputs = processor(text=[[f"a photo of a {w}" for w in words]], images=[image], return_tensors="pt")
        with torch.no_grad():
            result = processor.post_process_grounded_object_detection(
                owl(**inputs), threshold=0.0, target_sizes=[(image.height, image.width)]
            )[0]
        dog = words.index("dog")
        boxes = [
            (clamped, s)
            for b, s, label in zip(
                result["boxes"].tolist(), result["scores"].tolist(), result["labels"].tolist(), strict=True
            )
            if label == dog and (clamped := metrics.clamp_box(b, image.width, image.height)) is not None
        ]
        boxes.sort(key=lambda item: -item[1])
        first = boxes[0]
        second = next(b for b in boxes[1:] if metrics.iou(b[0], first[0]) <= 0.5)
        dog_slots = [d for d, o in zip(scored["detections"], meta["objects"], strict=True) if o["name"] == "dog"]
        assert [d["query"] for d in dog_slots] == ["a photo of a dog"] * 2
        for got, want in zip(dog_slots, (first, second), strict=True):
            np.testing.assert_allclose(got["box"], want[0], atol=1e-4)
            assert got["score"] == pytest.approx(want[1], abs=1e-6)
            assert set(got["similarity"]) == {"cat", "dog2", "dog3"}

    oracle = run.evaluate(run_folder, run_folder, tmp_path / "oracle", config(models, boxes="given"))
    assert oracle.scored == 3
    direct = Direct(models["clip"])
    meta, scored = metadata[0], lines_of(tmp_path / "oracle")[0]
    image = Image.open(run_folder / meta["file_name"]).convert("RGB")
    credited = [
        max(direct.similarity(image.crop(tuple(o["bbox"])), list(c.references)) for c in spec.concepts.values())
        for o in meta["objects"]
    ]
    assert scored["cp_clip"] == pytest.approx(sum(credited) / 3, abs=1e-6)

    cutouts = read_spec(run_folder, references="cutouts")
    assert all(
        p.suffix == ".png" and run_folder in p.parents for c in cutouts.concepts.values() for p in c.references
    )
    run.evaluate(run_folder, run_folder, tmp_path / "cut", config(models, boxes="given", references="cutouts"))
    assert lines_of(tmp_path / "cut")[0]["cp_clip"] != pytest.approx(scored["cp_clip"], abs=1e-9)


# ------------------------------------------------------------------------------------------------ resume, outputs
def test_rerun_skips_scored_images(
    models: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lines = [{"file_name": f"{i}.png", "concepts": ["dog", "cat"][: i % 2 + 1], "text": "a dog"} for i in range(3)]
    images, spec = write_set(tmp_path, lines)
    with (images / "metadata.jsonl").open("a", encoding="utf-8") as metadata:
        metadata.write(json.dumps({"file_name": "gone.png", "concepts": ["dog"], "text": "a dog"}) + "\n")
    out = tmp_path / "out"
    reporter = Reporter()
    first = run.evaluate(images, spec, out, config(models), reporter)
    assert (first.scored, first.reused, sum(first.failed.values())) == (3, 0, 1)
    assert any("gone.png" in warning for warning in reporter.warnings)
    assert [line["file_name"] for line in lines_of(out)] == ["0.png", "1.png", "2.png"]
    before = {name: (out / name).read_bytes() for name in ("scores.jsonl", "summary.csv")}

    def no_models(*args: Any) -> None:
        raise AssertionError("models loaded although every image was scored already")

    with monkeypatch.context() as patch:
        patch.setattr(run, "_scorer", no_models)
        again = run.evaluate(images, spec, out, config(models, batch_size=2))  # batch size changes no score
    assert (again.scored, again.reused) == (0, 3)
    assert {name: (out / name).read_bytes() for name in before} == before

    Image.fromarray(object_photo(9, (10, 200, 10), SIZE)).save(images / "1.png")
    changed = run.evaluate(images, spec, out, config(models))
    assert (changed.scored, changed.reused) == (1, 2)
    stricter = run.evaluate(images, spec, out, config(models, threshold=0.5))
    assert (stricter.scored, stricter.reused) == (3, 0)

    summary = json.loads((out / "summary.json").read_text())
    assert summary["thresholds"] == {"detector": 0.5, "nms_iou": 0.5}
    assert summary["query_template"] == "a photo of a {}"
    assert summary["models"]["clip"]["path"] == str(models["clip"].resolve())
    assert summary["cp_clip"]["all"]["count"] == 3 and summary["cp_clip"]["<=3"]["count"] == 3
    assert load_eval_config(out / "config.yaml") == config(models, threshold=0.5)


def test_cli_eval_writes_the_outputs(
    models: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    images, spec = write_set(tmp_path, [{"file_name": "a.png", "concepts": ["dog"], "text": "a dog"}])
    settings = tmp_path / "eval.yaml"
    settings.write_text(f"eval:\n  clip_model: {models['clip']}\n  detector: {models['owl']}\n", encoding="utf-8")
    out = tmp_path / "out"
    args = ["-q", "eval", str(images), "--concepts", str(spec), "--out", str(out), "--config", str(settings)]
    assert main([*args, "--set", "eval.threshold=0.05", "--set", "eval.device=cpu"]) == 0
    assert {p.name for p in out.iterdir()} >= {"scores.jsonl", "summary.json", "summary.csv", "config.yaml"}
    assert (out / "summary.csv").read_text().splitlines()[0].startswith("group,count,cp_clip_mean")
    assert "CP-CLIP" in capsys.readouterr().err

    assert main([*args, "--set", "eval.treshold=0.2"]) == 2
    assert "eval.treshold" in capsys.readouterr().err
    assert main([*args, "--set", "threshold=0.2"]) == 2
    assert (
        main(["-q", "eval", str(tmp_path), "--concepts", str(spec), "--out", str(out), "--config", str(settings)])
        == 1
    )
    assert "metadata.jsonl" in capsys.readouterr().err


# ------------------------------------------------------------------------------------------------ errors
def test_missing_weights_say_how_to_get_them(
    models: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    images, spec = write_set(tmp_path, [{"file_name": "a.png", "concepts": ["dog"], "text": "a dog"}])
    with pytest.raises(BackendUnavailable) as missing:
        run.evaluate(images, spec, tmp_path / "a", EvalConfig(clip_model="someone/no-such-clip", device="cpu"))
    message = str(missing.value)
    assert (
        "eval.clip_model=someone/no-such-clip" in message
        and "huggingface-cli download someone/no-such-clip" in message
    )
    assert "\n" not in message
    with pytest.raises(BackendUnavailable, match=r"eval.detector=\./nowhere: no such folder"):
        run.evaluate(images, spec, tmp_path / "b", config(models, detector="./nowhere"))
    with pytest.raises(BackendUnavailable, match="not clip"):
        run.evaluate(images, spec, tmp_path / "c", config(models, clip_model=str(models["owl"])))


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("concepts: [dog", "not valid YAML"),
        ("concepts:\n  dog: {references: refs}\n", "concepts.dog.class"),
        ("concepts:\n  dog: {class: dog, references: nowhere}\n", "concepts.dog.references"),
        ("concepts:\n  dog: {class: dog, references: refs, colour: red}\n", "concepts.dog.colour"),
        ("concepts: {}\n", "concepts"),
        ("dogs: {}\n", "dogs"),
    ],
)
def test_bad_spec_is_a_config_error_naming_the_file(tmp_path: Path, text: str, needle: str) -> None:
    (tmp_path / "refs").mkdir()
    Image.new("RGB", (8, 8)).save(tmp_path / "refs" / "a.png")
    spec = tmp_path / "spec.yaml"
    spec.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as error:
        read_spec(spec)
    assert str(spec) in str(error.value) and needle in str(error.value)


def test_spec_and_images_problems(run_folder: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"without manifest.sqlite"):
        read_spec(tmp_path)
    with pytest.raises(ConfigError, match="needs a gen4gen run folder"):
        read_spec(tmp_path / "spec.yaml", references="cutouts")
    images, spec_path = write_set(tmp_path, [{"file_name": "a.png", "concepts": ["dog", "horse"], "text": "x"}])
    spec = read_spec(spec_path)
    with pytest.raises(ConfigError, match=r"metadata.jsonl:1: concept\(s\) horse not in"):
        read_images(images, spec)
    (images / "metadata.jsonl").write_text('{"file_name": "a.png", "concepts": ["dog"]}\n', encoding="utf-8")
    with pytest.raises(SourceError, match=r"metadata.jsonl:1: no text"):
        read_images(images, spec)
    (images / "metadata.jsonl").write_text(
        '{"file_name": "a.png", "concepts": ["dog"], "text": "a"}\n', encoding="utf-8"
    )
    with pytest.raises(SourceError, match=r"eval.boxes=given needs objects"):
        read_images(images, spec, need_boxes=True)
    with pytest.raises(SourceError, match="not found"):
        read_images(tmp_path, spec)
    # a run folder's objects name their concept by concept_id, else by name: cat, dog2, dog3 -> cat, dog, dog here
    assert [image.concepts for image in read_images(run_folder, spec).images] == [("cat", "dog", "dog")] * 3


@pytest.mark.parametrize(
    ("override", "needle"),
    [
        ("eval.query_template=a photo", "exactly one {}"),
        ("eval.threshold=1.5", "eval.threshold"),
        ("eval.boxes=oracle", "eval.boxes"),
        ("eval.colour=red", "unknown key 'eval.colour'"),
    ],
)
def test_bad_settings_are_config_errors_naming_the_key(override: str, needle: str) -> None:
    with pytest.raises(ConfigError, match=needle.replace("{", r"\{").replace("}", r"\}")):
        load_eval_config(None, [override])
