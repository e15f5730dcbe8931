"""The OpenAI-compatible client against the fake server: retries, Retry-After, timeouts, cache, rate limit."""

from __future__ import annotations

import socket
import threading

import pytest

from gen4gen.llm.client import (
    ChatClient,
    EndpointOptions,
    LLMRequestRejected,
    LLMUnavailable,
    RateLimiter,
    request_key,
)
from gen4gen.testing.fake_openai import FakeOpenAI, Reply
from gen4gen.testing.memory_cache import MemoryCache

SECRET = "sk-test-do-not-leak-1234567890"
HELLO = [{"role": "user", "content": "Say hello as JSON."}]


class Sleeps(list):
    """A sleep that records how long it was asked to wait instead of waiting."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture(autouse=True)
def _env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    monkeypatch.delenv("GEN4GEN_LLM_MODEL", raising=False)


def client(server: FakeOpenAI, sleep: Sleeps | None = None, **options: object) -> ChatClient:
    settings = {"base_url": server.url, "model": "fake", "retry_backoff_s": 0.001, "unavailable_cooldown_s": 0.0}
    settings.update(options)
    return ChatClient(EndpointOptions(**settings), sleep=sleep if sleep is not None else Sleeps())


def test_sends_an_openai_request_with_the_key_only_in_the_header() -> None:
    with FakeOpenAI(["hi"], api_key=SECRET) as server:
        result = client(server).chat(HELLO, json_schema={"type": "object"}, seed=7)
    assert (result.content, result.cached, result.calls) == ("hi", False, 1)
    (request,) = server.requests
    assert request.path == "/v1/chat/completions"
    assert request.headers["Authorization"] == f"Bearer {SECRET}"
    assert SECRET not in request.raw.decode()
    assert request.body["model"] == "fake" and request.body["seed"] == 7 and request.body["messages"] == HELLO
    assert request.body["response_format"]["type"] == "json_schema"


def test_endpoint_and_model_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    with FakeOpenAI(["ok"]) as server:
        monkeypatch.setenv("OPENAI_BASE_URL", server.url + "/chat/completions/")
        monkeypatch.setenv("GEN4GEN_LLM_MODEL", "from-env")
        chat = ChatClient(EndpointOptions())
        assert chat.chat(HELLO).content == "ok"
    assert server.requests[0].body["model"] == "from-env"
    monkeypatch.delenv("GEN4GEN_LLM_MODEL")
    with pytest.raises(LLMUnavailable, match="GEN4GEN_LLM_MODEL"):
        ChatClient(EndpointOptions())


def test_retry_after_is_honoured_on_429() -> None:
    sleeps = Sleeps()
    with FakeOpenAI([Reply.rate_limited(2.0), Reply.rate_limited(3.0), "done"]) as server:
        result = client(server, sleeps).chat(HELLO)
    assert result.content == "done" and result.calls == 3
    assert len(sleeps) == 2 and sleeps[0] >= 2.0 and sleeps[1] >= 3.0


def test_http_date_and_seconds_retry_after() -> None:
    sleeps = Sleeps()
    with FakeOpenAI([Reply(None, 503, {"Retry-After": "4"}, b"{}"), "ok"]) as server:
        assert client(server, sleeps).chat(HELLO).content == "ok"
    assert sleeps[0] >= 4.0


def test_5xx_backs_off_exponentially_then_gives_up() -> None:
    sleeps = Sleeps()
    with FakeOpenAI(default=Reply.error(500, "boom")) as server:
        chat = client(server, sleeps, max_retries=3, retry_backoff_s=1.0)
        with pytest.raises(LLMUnavailable, match=r"HTTP 500 .*boom.*after 4 attempts"):
            chat.chat(HELLO)
    assert len(server.requests) == 4
    assert all(0.5 * 2**i <= s <= 2**i for i, s in enumerate(sleeps))


def test_a_retry_after_beyond_the_limit_gives_up_at_once() -> None:
    with (
        FakeOpenAI([Reply.rate_limited(120)]) as server,
        pytest.raises(LLMUnavailable, match="asks to wait 120 s"),
    ):
        client(server, retry_max_wait_s=10).chat(HELLO)
    assert len(server.requests) == 1


def test_a_hang_past_the_timeout_is_retried_then_reported() -> None:
    with FakeOpenAI([Reply.hang(5.0), "late but fine"]) as server:
        assert client(server, timeout_s=0.3, max_retries=1).chat(HELLO).content == "late but fine"
    with (
        FakeOpenAI(default=Reply.hang(5.0)) as server,
        pytest.raises(LLMUnavailable, match=r"no answer within 0.3 s"),
    ):
        client(server, timeout_s=0.3, max_retries=0).chat(HELLO)


def test_unreachable_endpoint_fails_fast_during_the_cooldown() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    sleeps = Sleeps()
    chat = ChatClient(
        EndpointOptions(base_url=f"http://127.0.0.1:{port}/v1", model="m", max_retries=2, retry_backoff_s=0.001),
        sleep=sleeps,
    )
    with pytest.raises(LLMUnavailable, match="cannot reach"):
        chat.chat(HELLO)
    assert len(sleeps) == 2
    with pytest.raises(LLMUnavailable, match="cannot reach"):
        chat.chat([{"role": "user", "content": "again"}])
    assert len(sleeps) == 2  # no new attempt while the endpoint is known to be down


def test_auth_errors_name_the_variable_and_never_the_key() -> None:
    with (
        FakeOpenAI([Reply.error(401, f"Incorrect API key provided: {SECRET}")]) as server,
        pytest.raises(LLMUnavailable) as info,
    ):
        client(server).chat(HELLO)
    message = str(info.value)
    assert "OPENAI_API_KEY" in message and SECRET not in message and "***" in message
    assert len(server.requests) == 1


def test_other_4xx_are_not_retried() -> None:
    with (
        FakeOpenAI([Reply.error(400, "context length exceeded")]) as server,
        pytest.raises(LLMRequestRejected, match="context length"),
    ):
        client(server).chat(HELLO, json_schema=None)
    assert len(server.requests) == 1


def test_a_200_without_choices_is_a_bad_response() -> None:
    from gen4gen.llm.client import LLMBadResponse

    with (
        FakeOpenAI([Reply(body=b"<html>proxy</html>")]) as server,
        pytest.raises(LLMBadResponse, match="without a chat completion"),
    ):
        client(server).chat(HELLO)


def test_response_format_falls_back_and_is_remembered() -> None:
    with FakeOpenAI(["a", "b"], json_schema=False) as server:
        chat = client(server)
        assert chat.chat(HELLO, json_schema={"type": "object"}).content == "a"
        assert (
            chat.chat([{"role": "user", "content": "json again"}], json_schema={"type": "object"}).content == "b"
        )
    formats = [r.body.get("response_format", {}).get("type") for r in server.requests]
    assert formats == ["json_schema", "json_object", "json_object"]


def test_the_cache_makes_a_rerun_call_nothing() -> None:
    cache = MemoryCache()
    with FakeOpenAI(["first", "second"]) as server:
        chat = client(server)
        assert chat.chat(HELLO, cache=cache, seed=1).content == "first"
        again = chat.chat(HELLO, cache=cache, seed=1)
        assert (again.content, again.cached, again.calls) == ("first", True, 0)
        assert chat.chat(HELLO, cache=cache, seed=2).content == "second"  # another seed is another request
        fresh = client(server)  # a new process with the same run manifest
        assert fresh.chat(HELLO, cache=cache, seed=1).content == "first"
    assert len(server.requests) == 2
    assert all(key.startswith("openai-chat/") and SECRET not in value for key, value in cache.data.items())


def test_cache_key_is_the_request_as_asked() -> None:
    base = {"model": "m", "messages": HELLO, "temperature": 0.7}
    assert request_key(base) == request_key(dict(reversed(base.items())))
    assert request_key(base) != request_key({**base, "temperature": 0.2})


def test_concurrent_identical_requests_share_one_call() -> None:
    with FakeOpenAI(["shared"], latency_s=0.2) as server:
        chat = client(server)
        results: list[str] = []
        threads = [threading.Thread(target=lambda: results.append(chat.chat(HELLO).content)) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert results == ["shared"] * 4 and len(server.requests) == 1


def test_rate_limiter_reserves_tokens_across_threads() -> None:
    waits = Sleeps()
    limiter = RateLimiter(60, burst=1, clock=lambda: 100.0, sleep=waits)  # a frozen clock: one token a second
    assert [limiter.acquire() for _ in range(4)] == [0.0, 1.0, 2.0, 3.0]
    limiter = RateLimiter(120, burst=2, clock=lambda: 0.0, sleep=Sleeps())
    got: list[float] = []
    threads = [threading.Thread(target=lambda: got.append(limiter.acquire())) for _ in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(got) == [0.0, 0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0]


def test_repr_and_errors_hide_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    with FakeOpenAI() as server:
        url = server.url.replace("http://", "http://user:pw@")
        with pytest.raises(ValueError, match="holds credentials"):  # never configuration: it would be stored
            EndpointOptions(base_url=url, model="fake")
        monkeypatch.setenv("OPENAI_BASE_URL", url)  # from the environment it is fine, and never shown
        chat = ChatClient(EndpointOptions(model="fake"))
        assert "pw" not in repr(chat) and "pw" not in chat.display_url and SECRET not in repr(chat)
