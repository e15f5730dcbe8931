"""A small OpenAI-compatible chat client: timeouts, retries honouring Retry-After, a rate limit, a response cache.

Works against OpenAI, vLLM, Ollama, llama.cpp server and LM Studio (``POST {base_url}/chat/completions``). The
endpoint comes from the options, else ``OPENAI_BASE_URL``; the API key only ever from an environment variable
(``OPENAI_API_KEY`` unless ``api_key_env`` names another), and it never appears in options, identities, errors or
logs.

Every answer is cached under a hash of the request as asked (model, messages, temperature, response format, seed,
max tokens): a cached answer costs no call, and concurrent identical requests share one call. Only usable answers
are cached: an empty one, or one the caller's ``validate`` refuses, is asked for again next time.

Untrusted answers are bounded: at most ``max_response_bytes`` are read, the API key (and any credentials of the
URL) is masked in answers and in error text before anything is cut or stored, and one request waits at most
``total_timeout_s`` in all, retries included, with a warning (shown even with ``-q``) once the wait gets long.
Ctrl-C interrupts every wait within a tenth of a second (:mod:`gen4gen.llm.abort`).
"""

from __future__ import annotations

import email.utils
import hashlib
import json
import logging
import os
import random
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

import httpx
from pydantic import Field, field_validator

from gen4gen import __version__
from gen4gen.errors import LLMBadResponse, LLMError, LLMRequestRejected, LLMUnavailable  # noqa: F401
from gen4gen.llm.abort import ABORTED, POLL_S
from gen4gen.llm.cache import ResponseCache
from gen4gen.options import StrictOptions

log = logging.getLogger("gen4gen")

DEFAULT_BASE_URL = "https://api.openai.com/v1"
RETRY_STATUSES = frozenset({408, 409, 425, 429, 500, 502, 503, 504})
_FORMAT_LEVELS = ("none", "json_object", "json_schema")
_FORMAT_WORDS = ("response_format", "json_schema", "json_object", "schema", "structured output", "guided")
SLOW_NOTICE_S = 15.0  # a request still waiting after this long is reported (once per client)
SNIPPET_CHARS = 200  # server text kept in an error message


def check_base_url(url: str, *, credentials: bool = False) -> str:
    """``url`` if it is a usable http(s) endpoint URL, else ValueError saying why; credentials in it
    (``http://user:pw@host``) are refused unless ``credentials`` (they would be stored with the config)."""
    example = "e.g. http://localhost:8000/v1"
    try:
        parts = urlsplit(url.strip())
        parts.port  # noqa: B018 (raises for a bad port)
    except ValueError as exc:
        raise ValueError(f"{url!r} is not a valid URL ({exc}); {example}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{redact_url(url)!r} is not an http(s) URL with a host; {example}")
    if not credentials and (parts.username is not None or parts.password is not None):
        raise ValueError(
            "the URL holds credentials (user:password@), which would be stored with the config; give the key in "
            "$OPENAI_API_KEY (or the variable api_key_env names), or the whole URL in $OPENAI_BASE_URL"
        )
    return url


class EndpointOptions(StrictOptions):
    """Options shared by every backend that talks to an OpenAI-compatible endpoint (flat keys under the stage)."""

    base_url: str | None = Field(
        None,
        min_length=1,
        description="Endpoint, e.g. http://localhost:8000/v1; none: $OPENAI_BASE_URL, else https://api.openai.com/v1.",
    )
    model: str | None = Field(None, min_length=1, description="Model name; none: the backend's model variable.")
    api_key_env: str = Field(
        "OPENAI_API_KEY",
        pattern=r"^[A-Za-z_][A-Za-z0-9_]*$",
        description="Name of the environment variable holding the API key (the key itself is never config).",
    )
    temperature: float = Field(0.7, ge=0.0, le=2.0, description="Sampling temperature.")
    max_tokens: int | None = Field(
        None, ge=1, le=1_000_000, description="Longest answer in tokens; none: the server's default."
    )
    timeout_s: float = Field(60.0, gt=0, le=3600, description="Seconds to wait for one answer (one attempt).")
    total_timeout_s: float = Field(
        180.0,
        gt=0,
        le=86400,
        description="Longest wait for one request, retries included (s); then the endpoint counts as unavailable.",
    )
    max_response_bytes: int = Field(
        1_048_576,
        ge=1024,
        le=1 << 30,
        description="Largest answer read (bytes); a longer one is refused as a bad answer, never stored.",
    )
    max_concurrency: int = Field(8, ge=1, le=256, description="Requests in flight at once.")
    requests_per_minute: float | None = Field(
        None, gt=0, le=1_000_000, description="Client-side rate limit; none: no limit."
    )
    max_retries: int = Field(
        4, ge=0, le=20, description="Retries after a timeout, a connection error or HTTP 408/409/425/429/5xx."
    )
    retry_backoff_s: float = Field(
        0.5, ge=0, le=600, description="First wait before a retry (s); doubles per retry, with jitter."
    )
    retry_max_wait_s: float = Field(
        60.0, ge=0, le=3600, description="Longest single wait (s), Retry-After included; longer: give up."
    )
    unavailable_cooldown_s: float = Field(
        30.0, ge=0, le=3600, description="Once the endpoint is found down, fail fast for this long (s)."
    )
    response_format: Literal["auto", "json_schema", "json_object", "none"] = Field(
        "auto",
        description="Structured output asked for; auto: JSON schema, downgraded when the server rejects it.",
    )
    send_seed: bool = Field(
        True, description="Send a per-sample seed (OpenAI, vLLM, Ollama and llama.cpp accept it)."
    )

    @field_validator("base_url")
    @classmethod
    def _usable_url(cls, url: str | None) -> str | None:
        return None if url is None else check_base_url(url)


@dataclass(frozen=True)
class ChatResult:
    """One answer: its text, whether it came without a call (cache or a concurrent twin), calls spent on it."""

    content: str
    cached: bool
    calls: int


@dataclass(frozen=True)
class _Answer:
    """What came back for one attempt: status, headers and at most ``max_response_bytes`` of the body."""

    status_code: int
    headers: httpx.Headers
    content: bytes
    truncated: bool = False

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", "replace")

    def json(self) -> Any:
        return json.loads(self.content)


def redact_url(url: str) -> str:
    """The URL without user info (``https://user:secret@host`` -> ``https://host``)."""
    try:
        parts = urlsplit(url)
        if parts.username is None and parts.password is None:
            return url
        host = parts.hostname or ""
        netloc = f"{host}:{parts.port}" if parts.port else host
    except ValueError:  # not a URL at all: keep what cannot be a password
        return url.rpartition("@")[2]
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def _abortable_sleep(seconds: float) -> None:
    """Sleep, unless requests are aborted (Ctrl-C) first."""
    if ABORTED.wait(seconds):
        raise LLMUnavailable("interrupted")


def normalise_base_url(url: str) -> str:
    """Accept ``.../v1``, ``.../v1/`` and a full ``.../chat/completions`` URL alike."""
    url = url.strip().rstrip("/")
    suffix = "/chat/completions"
    return url[: -len(suffix)] if url.endswith(suffix) else url


def request_key(body: dict[str, Any]) -> str:
    """Cache key of a chat request: sha256 of its canonical JSON."""
    blob = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return "openai-chat/" + hashlib.sha256(blob.encode("utf-8")).hexdigest()


def parse_retry_after(headers: httpx.Headers) -> float | None:
    """Seconds to wait from ``retry-after-ms`` or ``Retry-After`` (seconds or an HTTP date), if given."""
    raw_ms = headers.get("retry-after-ms")
    if raw_ms:
        try:
            return max(0.0, float(raw_ms) / 1000.0)
        except ValueError:
            pass
    raw = headers.get("retry-after")
    if not raw:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


class RateLimiter:
    """Token bucket shared by all threads of a client: ``per_minute`` requests a minute, bursts up to ``burst``.

    A caller reserves a token under the lock and sleeps outside it for exactly as long as its reservation needs,
    so waiting threads neither spin nor serialise behind one another's sleeps.
    """

    def __init__(
        self,
        per_minute: float,
        burst: int = 1,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = _abortable_sleep,
    ) -> None:
        self.rate = per_minute / 60.0
        self.capacity = float(max(1, burst))
        self._tokens = self.capacity
        self._clock = clock
        self._sleep = sleep
        self._stamp = clock()
        self._lock = threading.Lock()

    def acquire(self) -> float:
        """Take one token, waiting if none is left; returns the seconds waited."""
        with self._lock:
            now = self._clock()
            self._tokens = min(self.capacity, self._tokens + (now - self._stamp) * self.rate)
            self._stamp = now
            self._tokens -= 1.0
            wait = 0.0 if self._tokens >= 0 else -self._tokens / self.rate
        if wait > 0:
            self._sleep(wait)
        return wait


class ChatClient:
    """Thread-safe chat client for one endpoint and model; see the module docstring."""

    def __init__(
        self,
        options: EndpointOptions,
        model_env: str = "GEN4GEN_LLM_MODEL",
        *,
        jitter_seed: int = 0,
        sleep: Callable[[float], None] | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.options = options
        base_url = options.base_url or os.environ.get("OPENAI_BASE_URL") or DEFAULT_BASE_URL
        try:
            check_base_url(base_url, credentials=True)  # from the environment, credentials are fine
        except ValueError as exc:
            raise LLMUnavailable(f"base URL: {exc}") from None
        self.base_url = normalise_base_url(base_url)
        model = options.model or os.environ.get(model_env)
        if not model:
            raise LLMUnavailable(f"no model named: set the backend's `model` option or ${model_env}")
        self.model: str = model
        self._api_key = os.environ.get(options.api_key_env) or None
        parts = urlsplit(self.base_url)
        secrets = [self._api_key, parts.password, f"{parts.username}:{parts.password}" if parts.password else None]
        self._secrets = sorted({x for x in secrets if x}, key=len, reverse=True)
        self._sleep = sleep if sleep is not None else _abortable_sleep
        self._slow_noticed = False
        self._rng = random.Random(jitter_seed)
        self._rng_lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(options.max_concurrency)
        self._limiter = (
            RateLimiter(
                options.requests_per_minute,
                burst=min(options.max_concurrency, max(1, int(options.requests_per_minute // 60))),
                sleep=self._sleep,
            )
            if options.requests_per_minute
            else None
        )
        self._format_level = _FORMAT_LEVELS.index("json_schema")
        self._state_lock = threading.Lock()
        self._inflight: dict[str, Future[str]] = {}
        self._down_until = 0.0
        self._down_reason = ""
        self._cache_lock = threading.Lock()
        headers = {"User-Agent": f"gen4gen/{__version__}"}
        if self._api_key:
            headers["Authorization"] = f"Bearer {self._api_key}"
        self._http = httpx.Client(
            headers=headers,
            timeout=httpx.Timeout(options.timeout_s, connect=min(options.timeout_s, 10.0)),
            limits=httpx.Limits(max_connections=options.max_concurrency),
            transport=transport,
        )

    def __repr__(self) -> str:
        return f"ChatClient(base_url={self.display_url!r}, model={self.model!r})"

    @property
    def display_url(self) -> str:
        return redact_url(self.base_url)

    def close(self) -> None:
        self._http.close()

    # -------------------------------------------------------------------------------------------- requests
    def build_body(
        self,
        messages: list[dict[str, Any]],
        *,
        json_schema: dict[str, Any] | None = None,
        schema_name: str = "answer",
        temperature: float | None = None,
        seed: int | None = None,
        max_tokens: int | None = None,
    ) -> dict[str, Any]:
        """The request as asked (the response format it would like; the server may get less, see ``chat``)."""
        body: dict[str, Any] = {
            "model": self.model,
            "messages": messages,
            "temperature": self.options.temperature if temperature is None else temperature,
        }
        limit = max_tokens or self.options.max_tokens
        if limit:
            body["max_tokens"] = limit
        if seed is not None and self.options.send_seed:
            body["seed"] = int(seed)
        wanted = self.options.response_format
        if json_schema is not None and wanted != "none":
            if wanted in ("auto", "json_schema"):
                body["response_format"] = {
                    "type": "json_schema",
                    "json_schema": {"name": schema_name, "schema": json_schema, "strict": False},
                }
            else:
                body["response_format"] = {"type": "json_object"}
        return body

    def chat(
        self,
        messages: list[dict[str, Any]],
        *,
        cache: ResponseCache | None = None,
        json_schema: dict[str, Any] | None = None,
        schema_name: str = "answer",
        temperature: float | None = None,
        seed: int | None = None,
        max_tokens: int | None = None,
        validate: Callable[[str], object] | None = None,
    ) -> ChatResult:
        """The assistant's text for ``messages``; a cached answer (or one being fetched) costs no call.

        ``validate`` checks an answer before it is cached (and a cached one before it is used): it raises
        :class:`LLMBadResponse` (or a :class:`~gen4gen.errors.ParseError`) for an answer that cannot be used,
        which is then raised here and never cached. An empty answer is returned but never cached either.

        Raises ``LLMUnavailable``, ``LLMRequestRejected`` or ``LLMBadResponse``.
        """
        body = self.build_body(
            messages,
            json_schema=json_schema,
            schema_name=schema_name,
            temperature=temperature,
            seed=seed,
            max_tokens=max_tokens,
        )
        key = request_key(body)
        if cache is not None:
            with self._cache_lock:
                hit = cache.get(key)
            if hit is not None and _usable(hit, validate):
                return ChatResult(hit, cached=True, calls=0)
        with self._state_lock:
            twin = self._inflight.get(key)
            if twin is None:
                mine: Future[str] = Future()
                self._inflight[key] = mine
        if twin is not None:
            return ChatResult(twin.result(), cached=True, calls=0)
        try:
            content, calls = self._send(body)
            if validate is not None:
                validate(content)
        except BaseException as exc:
            mine.set_exception(exc)
            raise
        else:
            if cache is not None and content.strip():
                with self._cache_lock:
                    cache.put(key, content)
            mine.set_result(content)
            return ChatResult(content, cached=False, calls=calls)
        finally:
            with self._state_lock:
                self._inflight.pop(key, None)

    # -------------------------------------------------------------------------------------------- transport
    def _send(self, body: dict[str, Any]) -> tuple[str, int]:
        url = f"{self.base_url}/chat/completions"
        total = self.options.total_timeout_s
        started = time.monotonic()
        deadline = started + total
        calls = 0
        failures = 0
        cause = "no attempt"
        while True:
            self._check_up()
            sent = self._downgraded(body)
            if self._limiter is not None:
                self._limiter.acquire()
            retry_after: float | None = None
            with self._slots:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise self._mark_down(self._gave_up(cause, calls, started))
                attempt_s = min(self.options.timeout_s, remaining)
                calls += 1
                try:
                    response = self._exchange(url, sent, attempt_s, started)
                except httpx.TimeoutException:
                    cause = f"no answer within {round(attempt_s, 1):g} s"
                except httpx.TransportError as exc:
                    cause = f"cannot reach {self.display_url} ({type(exc).__name__}: {self._clean(str(exc))})"
                else:
                    if response.status_code < 300:
                        return self._content(response), calls
                    cause = self._http_cause(response)
                    if response.status_code in RETRY_STATUSES:
                        retry_after = parse_retry_after(response.headers)
                    elif response.status_code in (400, 422) and self._rejects_format(sent, response):
                        continue
                    elif response.status_code in (401, 403):
                        raise self._mark_down(
                            f"{cause}: check ${self.options.api_key_env}"
                            + ("" if self._api_key else " (it is not set)")
                        )
                    elif response.status_code == 404:
                        raise self._mark_down(f"{cause}: check the base URL and that model {self.model!r} exists")
                    else:
                        raise LLMRequestRejected(cause)
            if failures >= self.options.max_retries:
                suffix = f" (after {calls} attempts)" if calls > 1 else ""
                raise self._mark_down(cause + suffix)
            delay = self._backoff(failures, retry_after)
            if delay > self.options.retry_max_wait_s:
                raise self._mark_down(
                    f"{cause}; the server asks to wait {delay:.0f} s, more than retry_max_wait_s="
                    f"{self.options.retry_max_wait_s:g}"
                )
            if time.monotonic() + delay >= deadline:
                raise self._mark_down(self._gave_up(cause, calls, started))
            failures += 1
            log.debug("gen4gen: retrying %s in %.2f s: %s", self.display_url, delay, cause)
            self._sleep(delay)

    def _gave_up(self, cause: str, calls: int, started: float) -> str:
        waited = time.monotonic() - started
        return (
            f"{cause}; gave up after {waited:.1f} s and {calls} attempt(s) "
            f"(total_timeout_s={self.options.total_timeout_s:g})"
        )

    def _exchange(self, url: str, sent: dict[str, Any], timeout_s: float, started: float) -> _Answer:
        """One POST, run in a daemon thread so that the wait for it can be interrupted (and reported when slow)."""
        if ABORTED.is_set():
            raise LLMUnavailable("interrupted")
        box: dict[str, Any] = {}
        done = threading.Event()

        def call() -> None:
            try:
                box["answer"] = self._post(url, sent, timeout_s)
            except BaseException as exc:  # handed to the waiting thread
                box["error"] = exc
            finally:
                done.set()

        threading.Thread(target=call, name="gen4gen-http", daemon=True).start()
        while not done.wait(POLL_S):
            if ABORTED.is_set():
                raise LLMUnavailable("interrupted")
            waited = time.monotonic() - started
            if waited > SLOW_NOTICE_S and not self._slow_noticed:
                self._slow_noticed = True
                log.warning(
                    "gen4gen: still waiting for %s after %.0f s; giving up after %g s in all "
                    "(timeout_s=%g per attempt, total_timeout_s)",
                    self.display_url,
                    waited,
                    self.options.total_timeout_s,
                    self.options.timeout_s,
                )
        if "error" in box:
            raise box["error"]
        answer: _Answer = box["answer"]
        return answer

    def _post(self, url: str, sent: dict[str, Any], timeout_s: float) -> _Answer:
        """POST ``sent`` and read at most ``max_response_bytes`` of the answer within ``timeout_s`` in all."""
        limit = self.options.max_response_bytes
        ends = time.monotonic() + timeout_s
        timeout = httpx.Timeout(timeout_s, connect=min(timeout_s, 10.0))
        with self._http.stream("POST", url, json=sent, timeout=timeout) as response:
            chunks: list[bytes] = []
            size = 0
            for chunk in response.iter_bytes():
                if size + len(chunk) > limit:
                    chunks.append(chunk[: limit - size])
                    return _Answer(response.status_code, response.headers, b"".join(chunks), truncated=True)
                chunks.append(chunk)
                size += len(chunk)
                if time.monotonic() > ends:
                    raise httpx.ReadTimeout(f"no complete answer within {timeout_s:g} s")
            return _Answer(response.status_code, response.headers, b"".join(chunks))

    def _backoff(self, failures: int, retry_after: float | None) -> float:
        """Exponential backoff with jitter (seeded), never shorter than the server's Retry-After."""
        with self._rng_lock:
            jitter = 0.5 + 0.5 * self._rng.random()
        delay = self.options.retry_backoff_s * (2**failures) * jitter
        return max(delay, retry_after) if retry_after is not None else delay

    def _downgraded(self, body: dict[str, Any]) -> dict[str, Any]:
        """The body with the richest response format this server has not rejected."""
        wanted = body.get("response_format")
        if wanted is None:
            return body
        level = min(_FORMAT_LEVELS.index(wanted["type"]), self._format_level)
        sent = {k: v for k, v in body.items() if k != "response_format"}
        if level == _FORMAT_LEVELS.index("json_schema"):
            sent["response_format"] = wanted
        elif level == _FORMAT_LEVELS.index("json_object"):
            sent["response_format"] = {"type": "json_object"}
        return sent

    def _rejects_format(self, sent: dict[str, Any], response: _Answer) -> bool:
        """True (and remembered) when a 4xx says this server does not take the response format just sent."""
        rf = sent.get("response_format")
        text = response.text.lower()
        if rf is None or not any(word in text for word in _FORMAT_WORDS):
            return False
        with self._state_lock:
            level = _FORMAT_LEVELS.index(rf["type"])
            if self._format_level >= level:
                self._format_level = level - 1
                log.info(
                    "gen4gen: %s does not accept response_format %s; using %s",
                    self.display_url,
                    rf["type"],
                    _FORMAT_LEVELS[level - 1],
                )
        return True

    def _content(self, response: _Answer) -> str:
        if response.truncated:
            raise LLMBadResponse(
                f"{self.display_url} sent an answer longer than max_response_bytes="
                f"{self.options.max_response_bytes}; lower max_tokens or raise max_response_bytes"
            )
        try:
            payload = response.json()
            message = payload["choices"][0]["message"]
        except (ValueError, KeyError, IndexError, TypeError):
            raise LLMBadResponse(
                f"{self.display_url} answered HTTP {response.status_code} without a chat completion: "
                f"{self._snippet(response)}"
            ) from None
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, list):  # content parts, as some servers return
            content = "".join(p["text"] for p in content if isinstance(p, dict) and isinstance(p.get("text"), str))
        return self._clean(content) if isinstance(content, str) else ""

    def _http_cause(self, response: _Answer) -> str:
        return f"HTTP {response.status_code} from {self.display_url}: {self._snippet(response)}"

    def _snippet(self, response: _Answer) -> str:
        """The server's error text on one line: secrets masked first, then cut to ``SNIPPET_CHARS``."""
        text = response.text
        try:
            error = response.json().get("error")
            if isinstance(error, dict) and isinstance(error.get("message"), str):
                text = error["message"]
            elif isinstance(error, str):
                text = error
        except (ValueError, AttributeError):
            pass
        text = " ".join(self._clean(text).split())
        return (text[:SNIPPET_CHARS] + ("…" if len(text) > SNIPPET_CHARS else "")) or "(empty body)"

    def _clean(self, text: str) -> str:
        """``text`` with the API key and the URL's credentials masked (some servers echo them)."""
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text

    def _check_up(self) -> None:
        if ABORTED.is_set():
            raise LLMUnavailable("interrupted")
        with self._state_lock:
            if time.monotonic() < self._down_until:
                raise LLMUnavailable(self._down_reason)

    def _mark_down(self, reason: str) -> LLMUnavailable:
        """Remember that the endpoint is unavailable so that the next requests fail fast for a while."""
        with self._state_lock:
            self._down_until = time.monotonic() + self.options.unavailable_cooldown_s
            self._down_reason = reason
        return LLMUnavailable(reason)


def _usable(answer: str, validate: Callable[[str], object] | None) -> bool:
    """Whether a cached answer may be used: not empty, and accepted by ``validate``."""
    if not answer.strip():
        return False
    if validate is None:
        return True
    try:
        validate(answer)
    except LLMBadResponse:
        return False
    return True
