"""`gen4gen run --set compose.backend=llm --set caption.backend=vlm` end to end against the fake server."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from conftest import FAST

from gen4gen.cli import main
from gen4gen.manifest import Manifest
from gen4gen.testing.fake_openai import FakeOpenAI, Reply

pytestmark = pytest.mark.slow

SECRET = "sk-test-end-to-end-777777"
OBJECT_LINE = re.compile(r"^- (.+) \(width/height ratio ([0-9.]+)\)$", re.MULTILINE)


def answer(body: dict[str, Any]) -> Reply | str:
    """Layouts side by side for whatever objects are asked; sizes, scenes and captions likewise."""
    text = body["messages"][1]["content"]
    if isinstance(text, list):
        return "A photo of a cat, a dog and a house plant together in a sunny garden."
    if "How tall" in text:
        names = re.findall(r"^- (.+)$", text, re.MULTILINE)
        return json.dumps({"sizes": dict.fromkeys(names, 1.0)})
    if "three different places" in text:
        return '```json\n{"scenes": ["in the garden", "on a porch", "in a living room"]}\n```'
    objects = OBJECT_LINE.findall(text)
    width = 512 // len(objects)
    boxes = [{"name": n, "box": [i * width + 8, 200, width - 16, 240]} for i, (n, _) in enumerate(objects)]
    return "Here it is:\n" + json.dumps({"objects": boxes})


def test_llm_composition_and_vlm_captions(src: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    out = tmp_path / "run"
    with FakeOpenAI(answer, api_key=SECRET) as server:
        settings = [
            "compose.backend=llm",
            f"compose.base_url={server.url}",
            "compose.model=fake-llm",
            "caption.backend=vlm",
            f"caption.base_url={server.url}",
            "caption.model=fake-vlm",
            *FAST,
        ]
        args = [item for s in settings for item in ("--set", s)]
        assert main(["-q", "run", str(src), "--out", str(out), "-n", "3", *args]) == 0
        calls = len(server.requests)
        assert main(["-q", "run", str(src), "--out", str(out), "-n", "3", *args]) == 0
        assert len(server.requests) == calls  # the rerun is answered by the manifest's cache
    assert all(r.headers["Authorization"] == f"Bearer {SECRET}" for r in server.requests)
    with Manifest(out) as manifest:
        samples = manifest.records("compose", "done")
        assert len(samples) >= 3
        assert all(s.data["provenance"]["outcome"] == "ok" for s in samples)
        assert {s.data["scene"] for s in samples} <= {"in the garden", "on a porch", "in a living room"}
        captions = manifest.records("caption", "done")
        assert captions and all("cat" in c.data["text"] for c in captions)
    leaked = [p for p in out.rglob("*") if p.is_file() and SECRET.encode() in p.read_bytes()]
    assert leaked == []
