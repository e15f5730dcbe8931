"""The OpenAI-compatible vision captioner against the fake server."""

from __future__ import annotations

import base64
import io
import json
import socket
from typing import Any

import numpy as np
import pytest
from PIL import Image

from gen4gen.backends.base import BackendUnavailable, CaptionRequest, ItemError, Placement
from gen4gen.backends.caption.vlm import VLMCaptioner, VLMCaptionerOptions, clean_caption
from gen4gen.testing.fake_openai import FakeOpenAI, Reply
from gen4gen.testing.memory_cache import MemoryCache

SECRET = "sk-test-vision-key-424242"


@pytest.fixture(autouse=True)
def _env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    monkeypatch.setenv("GEN4GEN_VLM_MODEL", "fake-vision")


def request(seed: int = 0, size: tuple[int, int] = (300, 200)) -> CaptionRequest:
    image = np.random.default_rng(seed).integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)
    placements = [Placement("cat", (0, 0, 50, 50), 0), Placement("dog", (60, 0, 120, 60), 1)]
    placements.append(Placement("dog", (130, 0, 190, 60), 2))
    return CaptionRequest(image, placements, "in the garden", seed)


def captioner(server: FakeOpenAI, **options: Any) -> VLMCaptioner:
    built = VLMCaptioner(VLMCaptionerOptions(base_url=server.url, retry_backoff_s=0.001, **options))
    built.cache = MemoryCache()
    return built


def test_sends_the_image_as_a_data_url_with_the_instruction() -> None:
    with FakeOpenAI(['Caption: "A tabby cat and two dogs rest on a lawn."']) as server:
        text = captioner(server, max_side=128).caption(request())
    assert text == "A tabby cat and two dogs rest on a lawn."
    body = server.requests[0].body
    assert body["model"] == "fake-vision" and body["seed"] == 0 and "response_format" not in body
    _, user = body["messages"]
    prompt, image = user["content"]
    assert "at most 30 words" in prompt["text"] and "cat, dog (x2), in the garden" in prompt["text"]
    url = image["image_url"]["url"]
    assert url.startswith("data:image/jpeg;base64,")
    decoded = Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1])))
    assert decoded.size == (128, 85)  # the longest side shrunk to max_side, aspect kept


def test_png_is_lossless() -> None:
    req = request(size=(64, 48))
    with FakeOpenAI(["A cat."]) as server:
        captioner(server, image_format="png").caption(req)
    url = server.requests[0].body["messages"][1]["content"][1]["image_url"]["url"]
    decoded = np.asarray(Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))))
    assert url.startswith("data:image/png;base64,") and np.array_equal(decoded, req.image)


def test_batch_is_ordered_and_cached() -> None:
    def by_seed(body: dict[str, Any]) -> str:
        return f"caption number {body['seed']}"

    with FakeOpenAI(by_seed, latency_s=0.02) as server:
        vlm = captioner(server, max_concurrency=4)
        first = vlm.caption_batch([request(s) for s in range(6)])
        again = vlm.caption_batch([request(s) for s in range(6)])
    assert first == again == [f"caption number {s}" for s in range(6)]
    assert len(server.requests) == 6


def test_unreachable_endpoint_is_backend_unavailable() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    vlm = VLMCaptioner(VLMCaptionerOptions(base_url=f"http://127.0.0.1:{port}/v1", max_retries=0))
    with pytest.raises(BackendUnavailable, match="cannot reach") as info:
        vlm.caption(request())
    assert SECRET not in str(info.value) and "\n" not in str(info.value)


def test_item_errors() -> None:
    with FakeOpenAI([Reply.error(400, "image too large"), "   "]) as server:
        vlm = captioner(server)
        with pytest.raises(ItemError, match="image too large"):
            vlm.caption(request(1))
        with pytest.raises(ItemError, match="empty caption"):
            vlm.caption(request(2))


def test_missing_model_and_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GEN4GEN_VLM_MODEL")
    with pytest.raises(BackendUnavailable, match="GEN4GEN_VLM_MODEL"):
        VLMCaptioner(VLMCaptionerOptions())
    with FakeOpenAI(["ok"]) as server:
        vlm = captioner(server, model="m")
        assert SECRET not in json.dumps(vlm.identity()) and vlm.identity()["model"] == "m"


def test_clean_caption() -> None:
    assert clean_caption("  Description:  “A dog\n on grass.” ") == "A dog on grass."
    assert clean_caption("'A cat.'") == "A cat."
