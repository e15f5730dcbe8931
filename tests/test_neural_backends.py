"""The neural backends on tiny random models built here and loaded by the production loaders (CPU, offline)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("diffusers")
pytest.importorskip("transformers")
pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")

from gen4gen.backends import build_backend
from gen4gen.backends.base import (
    BackendUnavailable,
    CaptionRequest,
    Photo,
    Placement,
    RepaintRequest,
)
from gen4gen.backends.caption.local import limit_words
from gen4gen.backends.repaint.diffusion import feather_masks, working_size
from gen4gen.geometry.masks import CanvasMask, union
from gen4gen.testing import tiny_models

pytestmark = pytest.mark.neural


@pytest.fixture(autouse=True)
def _offline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("tiny-models")
    return {
        "isnet": tiny_models.build_tiny_isnet_onnx(root / "isnet-general-use.onnx"),
        "sdxl": tiny_models.build_tiny_sdxl_inpaint(root / "sdxl"),
        "refiner": tiny_models.build_tiny_sdxl_refiner(root / "refiner"),
        "sd": tiny_models.build_tiny_sd_inpaint(root / "sd"),
        "blip": tiny_models.build_tiny_blip(root / "blip"),
        "llava": tiny_models.build_tiny_llava(root / "llava"),
    }


def _photo(height: int = 90, width: int = 120) -> Photo:
    rgb = np.random.default_rng(3).integers(0, 256, (height, width, 3), dtype=np.uint8)
    rgb[20:70, 30:90] = (200, 40, 40)
    return Photo(rgb=rgb, path=Path("cup.jpg"), concept="cup")


def _request(seed: int = 11, height: int = 72, width: int = 96, scene: str | None = None) -> RepaintRequest:
    rng = np.random.default_rng(5)
    composite = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    dog = np.zeros((height, width), np.uint8)
    dog[10:50, 8:40] = 255
    dog[10:50, 40] = 128  # a soft edge column
    cup = np.zeros((height, width), np.uint8)
    cup[30:70, 55:90] = 255
    masks = [CanvasMask((0, 0, width, height), m).tight() for m in (dog, cup)]  # crops, as compose writes them
    placements = [Placement("dog", (8, 10, 41, 50), 0), Placement("cup", (55, 30, 90, 70), 1)]
    return RepaintRequest(composite, masks, placements, scene, seed)


def _solid(request: RepaintRequest) -> np.ndarray:
    """Where the concepts are fully opaque."""
    height, width = request.composite.shape[:2]
    return union(request.instance_masks).full((width, height)) == 255


# ------------------------------------------------------------------------------------------------------- isnet
def test_isnet_mask_shape_range_and_provider(models: dict[str, Path]) -> None:
    segmenter = build_backend("segment", "isnet", {"model": str(models["isnet"]), "device": "cpu"})
    photo = _photo()
    mask = segmenter.segment(photo)
    assert mask.shape == photo.rgb.shape[:2]
    assert mask.dtype == np.float32
    assert mask.min() == pytest.approx(0.0) and mask.max() == pytest.approx(1.0)
    assert np.array_equal(mask, segmenter.segment(photo))
    identity = segmenter.identity()
    assert identity["providers"] == ["CPUExecutionProvider"]
    assert identity["sha256"] == hashlib.sha256(models["isnet"].read_bytes()).hexdigest()
    assert identity["input"] == {"name": "input_image", "shape": [1024, 1024]}
    again = build_backend("segment", "isnet", {"model": str(models["isnet"]), "device": "cpu"})
    assert again.session() is segmenter.session()  # one session per process per model


def test_isnet_model_folder_and_checksum(models: dict[str, Path]) -> None:
    folder = build_backend("segment", "isnet", {"model": str(models["isnet"].parent)})
    assert folder.model_path == models["isnet"].resolve()
    with pytest.raises(BackendUnavailable, match="does not match"):
        build_backend("segment", "isnet", {"model": str(models["isnet"]), "sha256": "0" * 64})


def test_isnet_missing_model_says_how_to_fix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("U2NET_HOME", str(tmp_path))
    monkeypatch.delenv("GEN4GEN_MODELS", raising=False)
    with pytest.raises(BackendUnavailable, match=r"isnet-general-use\.onnx.*segment\.model=PATH\.onnx"):
        build_backend("segment", "isnet", {})
    with pytest.raises(BackendUnavailable, match="no such ONNX file"):
        build_backend("segment", "isnet", {"model": str(tmp_path / "absent.onnx")})


def test_isnet_hub_model_offline_says_how_to_get_it() -> None:
    with pytest.raises(
        BackendUnavailable, match=r"HF_HUB_OFFLINE=1.*huggingface-cli download owner/repo model\.onnx"
    ):
        build_backend("segment", "isnet", {"model": "hf://owner/repo/model.onnx"})
    with pytest.raises(BackendUnavailable, match=r"expected hf://OWNER/REPO/FILE\.onnx"):
        build_backend("segment", "isnet", {"model": "hf://model.onnx"})


def test_rembg_absent_says_how_to_install() -> None:
    try:
        import rembg  # noqa: F401
    except ModuleNotFoundError:
        with pytest.raises(BackendUnavailable, match="pip install rembg"):
            build_backend("segment", "rembg", {})
    else:
        pytest.skip("rembg is installed")


# ----------------------------------------------------------------------------------------------------- repaint
def test_feathering_stays_inside_the_concept() -> None:
    mask = np.zeros((64, 64), np.float32)
    mask[16:48, 16:48] = 1.0
    union, keep = feather_masks([mask], blur_px=3.0)
    assert np.array_equal(union, mask)
    assert np.all(keep <= union)  # nothing outside the concept is kept
    assert keep[32, 32] == pytest.approx(1.0)  # the core is kept
    assert 0.0 < keep[16:48, 16:48].mean() < 1.0  # the edge band inside the concept is feathered
    assert working_size(72, 96, 64, 16) == (64, 48)


def test_sdxl_starts_from_a_scene_photo(models: dict[str, Path], tmp_path: Path) -> None:
    from PIL import Image

    beach = tmp_path / "backgrounds" / "beach"
    beach.mkdir(parents=True)
    Image.new("RGB", (96, 80), (200, 180, 120)).save(beach / "sand.png")
    inpainter = _sdxl(models, backgrounds=str(tmp_path / "backgrounds"))
    result = inpainter.repaint(_request(seed=3))
    assert result.scene == "on a beach" and result.info["prompt"] == "a realistic photo on a beach"
    assert inpainter.identity()["start"]["name"] == "scene"
    solid = _solid(_request(seed=3))
    assert np.array_equal(result.image[solid], _request(seed=3).composite[solid])  # concepts kept


def _sdxl(models: dict[str, Path], **extra: object) -> object:
    options = {"model": str(models["sdxl"]), "size": 64, "steps": 2, "device": "cpu", **extra}
    return build_backend("repaint", "sdxl", options)


def test_sdxl_shapes_determinism_and_concepts_kept(models: dict[str, Path]) -> None:
    inpainter = _sdxl(models, init="composite")
    request = _request(seed=11)
    first = inpainter.repaint(request)
    assert first.image.shape == request.composite.shape and first.image.dtype == np.uint8
    assert first.scene == "in a garden"  # the default when the sample has none
    assert first.info["prompt"] == "a realistic photo in a garden"
    assert first.image.tobytes() == inpainter.repaint(_request(seed=11)).image.tobytes()
    assert first.image.tobytes() != inpainter.repaint(_request(seed=12)).image.tobytes()
    solid = _solid(request)
    assert np.array_equal(first.image[solid], request.composite[solid])
    assert not np.array_equal(first.image[~solid], request.composite[~solid])  # the background was repainted
    identity = inpainter.identity()
    assert identity["device"] == "cpu" and identity["dtype"] == "float32"
    assert identity["model"]["path"] == str(models["sdxl"].resolve())
    assert identity["pipeline"] == "StableDiffusionXLInpaintPipeline"


def test_sdxl_without_composite_back_redraws_concepts(models: dict[str, Path]) -> None:
    request = _request(seed=11)
    result = _sdxl(models, composite_back=False).repaint(request)
    solid = _solid(request)
    assert not np.array_equal(result.image[solid], request.composite[solid])


def test_sdxl_refiner_batch_and_scene(models: dict[str, Path]) -> None:
    inpainter = _sdxl(models, refiner=str(models["refiner"]), steps=4, batch_size=2, init="noise")
    requests = [_request(seed=1, scene="on a beach"), _request(seed=2), _request(seed=1, height=64, width=64)]
    results = inpainter.repaint_batch(requests)
    assert [r.image.shape for r in results] == [(72, 96, 3), (72, 96, 3), (64, 64, 3)]
    assert [r.scene for r in results] == ["on a beach", "in a garden", "in a garden"]
    assert results[0].info["refiner_from"] == 0.75
    again = inpainter.repaint_batch(requests[:2])
    assert [r.image.tobytes() for r in again] == [r.image.tobytes() for r in results[:2]]
    assert inpainter.identity()["refiner"]["path"] == str(models["refiner"].resolve())


def test_sd_inpainter(models: dict[str, Path]) -> None:
    options = {"model": str(models["sd"]), "size": 64, "steps": 2, "device": "cpu", "init": "blur"}
    inpainter = build_backend("repaint", "sd", options)
    request = _request(seed=4)
    result = inpainter.repaint(request)
    assert result.image.shape == request.composite.shape
    solid = _solid(request)
    assert np.array_equal(result.image[solid], request.composite[solid])
    assert result.image.tobytes() == inpainter.repaint(_request(seed=4)).image.tobytes()
    with pytest.raises(BackendUnavailable, match="no refiner"):
        build_backend("repaint", "sd", {**options, "refiner": str(models["refiner"])})


def test_missing_diffusion_model_says_how_to_fix(tmp_path: Path) -> None:
    with pytest.raises(BackendUnavailable, match=r"huggingface-cli download diffusers/stable-diffusion-xl"):
        build_backend("repaint", "sdxl", {"device": "cpu"})
    with pytest.raises(BackendUnavailable, match="no such folder"):
        build_backend("repaint", "sd", {"model": str(tmp_path / "absent"), "device": "cpu"})
    (tmp_path / "empty").mkdir()
    with pytest.raises(BackendUnavailable, match="not a loadable diffusers model folder"):
        build_backend("repaint", "sdxl", {"model": str(tmp_path / "empty"), "device": "cpu"})


# ----------------------------------------------------------------------------------------------------- caption
def _caption_request(seed: int) -> CaptionRequest:
    image = np.random.default_rng(seed).integers(0, 256, (48, 64, 3), dtype=np.uint8)
    return CaptionRequest(image, [Placement("dog", (0, 0, 10, 10), 0)], "in a garden", seed)


@pytest.mark.parametrize(("which", "family"), [("blip", "blip"), ("llava", "chat")])
def test_captioner_returns_deterministic_text(models: dict[str, Path], which: str, family: str) -> None:
    options = {"model": str(models[which]), "max_new_tokens": 6, "batch_size": 2, "device": "cpu"}
    captioner = build_backend("caption", "transformers", options)
    requests = [_caption_request(1), _caption_request(2), _caption_request(3)]
    captions = captioner.caption_batch(requests)
    assert len(captions) == 3 and all(isinstance(c, str) and c.strip() for c in captions)
    assert captioner.caption(requests[1]) == captions[1]
    identity = captioner.identity()
    assert identity["family"] == family and identity["model_type"] == which


def test_missing_caption_model_says_how_to_fix(tmp_path: Path) -> None:
    with pytest.raises(BackendUnavailable, match=r"huggingface-cli download llava-hf/llava-1\.5-7b-hf"):
        build_backend("caption", "transformers", {"device": "cpu"})
    with pytest.raises(BackendUnavailable, match="no such folder"):
        build_backend("caption", "transformers", {"model": str(tmp_path / "absent"), "device": "cpu"})


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("instruction", "Describe {thing}."),
        ("instruction", "Describe {scene"),
        ("device", "gpu"),
        ("dtype", "int8"),
        ("max_new_tokens", "0"),
        ("num_beams", "0"),
        ("batch_size", "0"),
    ],
)
def test_caption_option_out_of_range_is_a_config_error(key: str, value: str) -> None:
    from gen4gen.config import load_config
    from gen4gen.errors import ConfigError

    with pytest.raises(ConfigError, match=rf"caption\.{key}\b"):
        load_config(overrides=["caption.backend=transformers", f"caption.{key}={value}"])


def test_limit_words() -> None:
    assert limit_words("  a dog   on grass ", 30) == "a dog on grass"
    long = "A dog sits on the grass. " + "word " * 40
    assert limit_words(long, 30) == "A dog sits on the grass." or len(limit_words(long, 30).split()) <= 30
    assert len(limit_words("word " * 40, 30).split()) == 30


def test_cli_contract_with_neural_backends(models: dict[str, Path], tmp_path: Path) -> None:
    """`--set` points each stage at local weights; the run finishes and records the models it used."""
    import json

    from conftest import write_concepts

    from gen4gen.cli import main
    from gen4gen.manifest import Manifest

    src = write_concepts(tmp_path / "src", {"cat": 1, "dog": 1})
    out = tmp_path / "run"
    settings = {
        "compose.canvas": 128,
        "repaint.backend": "sdxl",
        "repaint.model": models["sdxl"],
        "repaint.steps": 2,
        "repaint.size": 64,
        "repaint.device": "cpu",
        "caption.backend": "transformers",
        "caption.model": models["blip"],
        "caption.device": "cpu",
    }
    args = [item for key, value in settings.items() for item in ("--set", f"{key}={value}")]
    assert main(["-q", "run", str(src), "--out", str(out), "-n", "2", *args]) == 0
    rows = [json.loads(line) for line in (out / "metadata.jsonl").read_text().splitlines()]
    assert len(rows) == 2 and all("cat" in row["text"] and "dog" in row["text"] for row in rows)  # grounded
    with Manifest(out) as manifest:
        repaint = manifest.records("repaint", "done")[0]
        assert repaint.backend is not None and repaint.backend["name"] == "sdxl"
        assert repaint.backend["model"]["path"] == str(models["sdxl"].resolve())
        assert len(repaint.backend["model"]["files_sha256"]) == 64
