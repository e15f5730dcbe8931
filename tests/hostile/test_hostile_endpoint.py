"""A misbehaving OpenAI-compatible server: bad answers, silence, echoed secrets, huge answers."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import write_concepts
from hostile_kit import cli, error_line, everything_written, fast, rows

from gen4gen.llm import client as llm_client
from gen4gen.llm.client import ChatClient, EndpointOptions, LLMUnavailable
from gen4gen.manifest import FAILED, Manifest
from gen4gen.testing.fake_openai import FakeOpenAI, Reply

KEY = "sk-hostile-0123456789abcdefghijklmnop"
GOOD = "a cat and a dog on the grass"


@pytest.fixture
def src(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    return write_concepts(tmp_path / "src", {"cat": 1, "dog": 1})


class Script:
    """Answers by sample: the first samples seen get the bad answers in order, the rest (and all, once
    ``healed``) a good caption."""

    def __init__(self, bad: list[Reply | str]) -> None:
        self.bad = bad
        self.seeds: list[int] = []
        self.healed = False

    def __call__(self, body: dict[str, Any]) -> Reply | str:
        seed = int(body.get("seed") or 0)
        if seed not in self.seeds:
            self.seeds.append(seed)
        index = self.seeds.index(seed)
        return GOOD if self.healed or index >= len(self.bad) else self.bad[index]


def vlm(server: FakeOpenAI, *extra: str) -> list[str]:
    return fast("caption.backend=vlm", f"caption.base_url={server.url}", "caption.model=fake", *extra)


# case 6 ------------------------------------------------------------------------------------------------------
def test_bad_answers_fail_their_sample_only_and_are_never_cached(
    src: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = [
        Reply(body=b'{"choices": []}'),
        Reply(body=b"<html><body>502 Bad Gateway</body></html>"),
        Reply(body=b'{"choices": [{"message": {"content": "a cat'),
        "",
    ]
    script = Script(bad)
    out = tmp_path / "run"
    with FakeOpenAI(script) as server:
        code, err = cli(capsys, "run", src, "--out", out, "-n", "6", *vlm(server))
        assert code == 0 and "Traceback" not in err
        assert len(rows(out)) == 2
        with Manifest(out) as manifest:
            failed = manifest.records("caption", FAILED)
        messages = sorted(r.message or "" for r in failed)
        assert len(failed) == 4 and all("\n" not in m for m in messages)
        assert sum("without a chat completion" in m for m in messages) == 3
        assert sum("empty caption" in m for m in messages) == 1
        calls = len(server.chat_requests)
        script.healed = True  # the server is fixed: the failed samples are asked again, not read from a cache
        assert cli(capsys, "caption", out, "--retry-failed")[0] == 0
        assert len(server.chat_requests) == calls + 4
        assert cli(capsys, "export", out)[0] == 0
    assert len(rows(out)) == 6 and {r["text"] for r in rows(out)} == {GOOD}


# case 10 -----------------------------------------------------------------------------------------------------
def test_an_endpoint_that_never_answers_is_given_up_in_bounded_time(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(llm_client, "SLOW_NOTICE_S", 0.3)
    options = EndpointOptions(model="m", timeout_s=0.4, total_timeout_s=1.5, max_retries=20, retry_backoff_s=0.01)
    with FakeOpenAI(default=Reply.hang(30)) as server, caplog.at_level(logging.WARNING, "gen4gen"):
        chat = ChatClient(options.model_copy(update={"base_url": server.url}))
        started = time.monotonic()
        with pytest.raises(LLMUnavailable) as info:
            chat.chat([{"role": "user", "content": "hello?"}])
        waited = time.monotonic() - started
    assert waited < 2.5 and 2 <= len(server.requests) <= 5
    message = str(info.value)
    assert "no answer within" in message and "gave up after 1." in message and "(total_timeout_s=1.5)" in message
    (notice,) = [r.getMessage() for r in caplog.records if "still waiting" in r.getMessage()]
    assert server.url in notice and "giving up after 1.5 s in all" in notice


# case 11 -----------------------------------------------------------------------------------------------------
def test_the_key_is_never_shown_or_stored(src: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    padded = "x" * 190 + f" key={KEY}"  # cut at 200 characters before masking, part of the key would show
    script = Script([Reply.error(400, padded), f"a cat and a dog, as {KEY} asked"])
    out = tmp_path / "run"
    with FakeOpenAI(script) as server:
        code, err = cli(capsys, "run", src, "--out", out, "-n", "3", *vlm(server))
    assert code == 0
    for part in (KEY, KEY[:12], KEY[-12:]):
        assert part not in err and part.encode() not in everything_written(out)
    assert "***" in err and any("***" in r["text"] for r in rows(out))
    # credentials in the URL are never configuration: refused before anything is written
    url = server.url.replace("http://", "http://user:hunter2@")
    code, err = cli(capsys, "run", src, "--out", tmp_path / "other", *vlm(server, f"caption.base_url={url}"))
    assert code == 2 and "holds credentials" in error_line(err) and "hunter2" not in err
    assert not (tmp_path / "other").exists()


# case 12 -----------------------------------------------------------------------------------------------------
def test_huge_answers_are_bounded(src: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    script = Script(["x" * 10_000_000, " ".join(["word"] * 50_000), "y" * 200_000])
    out = tmp_path / "run"
    with FakeOpenAI(script) as server:
        code, err = cli(capsys, "run", src, "--out", out, "-n", "4", *vlm(server))
    assert code == 0 and "Traceback" not in err
    with Manifest(out) as manifest:
        failed = sorted(r.message or "" for r in manifest.records("caption", FAILED))
        done = {r.key: r.data for r in manifest.records("caption", "done")}
    assert len(failed) == 2
    assert any("sent an answer longer than max_response_bytes=1048576" in m for m in failed)
    assert any("not a caption (a 8000-character word)" in m for m in failed)
    assert len(done) == 2
    for data in done.values():
        assert len(data["raw"].split()) <= 60 and len(data["text"].split()) <= 30
    assert (out / "metadata.jsonl").stat().st_size < 10_000
    assert sum(p.stat().st_size for p in out.glob("manifest.sqlite*")) < 2_000_000
    assert json.dumps(done).count("word") < 200
