"""A fake OpenAI-compatible chat server for tests and benchmarks: a real HTTP server on 127.0.0.1.

::

    with FakeOpenAI(['{"objects": []}', Reply.rate_limited(0.01), Reply.error(500)]) as server:
        client_options = EndpointOptions(base_url=server.url, model="fake")
        ...
        assert len(server.requests) == 3

Answers come from a queue (strings or :class:`Reply` objects, then ``default`` once it is empty) or from a
function of the request body. It can add a fixed latency, answer 429 with ``Retry-After``, fail with any status,
hang past the client's timeout, reject ``response_format`` like servers that lack structured output, and demand
an API key. Every request is recorded (path, headers, parsed body) so tests can count calls and check what was
sent.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Reply:
    """One scripted answer: assistant ``content`` with ``status`` 200, or an error status, extra headers, a raw
    body, a delay before answering (``hang``), or ``drop`` to close the connection without answering."""

    content: str | None = ""
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | None = None
    delay_s: float = 0.0
    drop: bool = False

    @classmethod
    def rate_limited(cls, retry_after_s: float = 1.0) -> Reply:
        """429 with ``Retry-After`` (whole seconds, as the standard says) and ``retry-after-ms``."""
        headers = {
            "Retry-After": str(max(0, round(retry_after_s))),
            "retry-after-ms": str(int(retry_after_s * 1000)),
        }
        return cls(None, 429, headers, _error_body("Rate limit reached", "rate_limit_exceeded"))

    @classmethod
    def error(cls, status: int = 500, message: str = "internal error") -> Reply:
        return cls(None, status, {}, _error_body(message, "server_error"))

    @classmethod
    def hang(cls, seconds: float, content: str = "") -> Reply:
        """Answer only after ``seconds`` (longer than the client's timeout, to test it)."""
        return cls(content, delay_s=seconds)


def _error_body(message: str, kind: str) -> bytes:
    return json.dumps({"error": {"message": message, "type": kind, "code": kind}}).encode()


@dataclass(frozen=True)
class RecordedRequest:
    path: str
    headers: dict[str, str]
    body: Any  # parsed JSON, or the raw text when it was not JSON
    raw: bytes


Script = Callable[[dict[str, Any]], "Reply | str"]


class FakeOpenAI:
    """The server; use as a context manager. ``url`` is the base URL to give a client (``.../v1``)."""

    def __init__(
        self,
        answers: Iterable[Reply | str] | Script | None = None,
        *,
        default: Reply | str = "",
        latency_s: float = 0.0,
        json_schema: bool = True,
        api_key: str | None = None,
        model: str = "fake-model",
    ) -> None:
        self.script: Script | None = answers if callable(answers) else None
        self._queue: deque[Reply | str] = deque([] if answers is None or callable(answers) else answers)
        self.default = default
        self.latency_s = latency_s
        self.json_schema = json_schema
        self.api_key = api_key
        self.model = model
        self.requests: list[RecordedRequest] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------------------------------------ control
    def __enter__(self) -> FakeOpenAI:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        handler = type("Handler", (_Handler,), {"fake": self})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, name="fake-openai", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()  # wakes hanging handlers
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    @property
    def url(self) -> str:
        assert self._server is not None, "server not started"
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def push(self, *answers: Reply | str) -> None:
        with self._lock:
            self._queue.extend(answers)

    @property
    def chat_requests(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.path.endswith("/chat/completions")]

    # ------------------------------------------------------------------------------------------------ serving
    def _next(self, body: Any) -> Reply:
        with self._lock:
            if self.script is not None:
                answer: Reply | str = self.script(body)
            else:
                answer = self._queue.popleft() if self._queue else self.default
        return Reply(answer) if isinstance(answer, str) else answer

    def _completion(self, content: str | None, model: str) -> bytes:
        return json.dumps(
            {
                "id": f"chatcmpl-fake-{len(self.requests)}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": model,
                "choices": [
                    {"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}
                ],
                "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
            }
        ).encode()


class _Handler(BaseHTTPRequestHandler):
    fake: FakeOpenAI
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in separate writes: no delayed-ACK stalls

    def log_message(self, format: str, *args: Any) -> None:  # silence the default stderr logging
        pass

    def do_GET(self) -> None:
        if self.path.rstrip("/").endswith("/models"):
            self._send(200, json.dumps({"object": "list", "data": [{"id": self.fake.model, "object": "model"}]}))
        else:
            self._send(404, _error_body("not found", "not_found"))

    def do_POST(self) -> None:
        fake = self.fake
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        try:
            body: Any = json.loads(raw)
        except ValueError:
            body = raw.decode("utf-8", "replace")
        with fake._lock:
            fake.requests.append(RecordedRequest(self.path, dict(self.headers.items()), body, raw))
        if not self.path.rstrip("/").endswith("/chat/completions"):
            self._send(404, _error_body(f"unknown path {self.path}", "not_found"))
            return
        if fake.api_key is not None and self.headers.get("Authorization") != f"Bearer {fake.api_key}":
            self._send(401, _error_body("Incorrect API key provided", "invalid_api_key"))
            return
        if not isinstance(body, dict) or not isinstance(body.get("messages"), list):
            self._send(400, _error_body("'messages' is required", "invalid_request_error"))
            return
        rf = body.get("response_format")
        if not fake.json_schema and isinstance(rf, dict) and rf.get("type") == "json_schema":
            self._send(400, _error_body("response_format of type json_schema is not supported", "invalid_request"))
            return
        reply = fake._next(body)
        wait = fake.latency_s + reply.delay_s
        if wait > 0 and fake._stop.wait(wait):
            return
        if reply.drop:
            self.close_connection = True
            return
        payload = reply.body if reply.body is not None else fake._completion(reply.content, body.get("model", ""))
        self._send(reply.status, payload, reply.headers)

    def _send(self, status: int, payload: bytes | str, headers: dict[str, str] | None = None) -> None:
        data = payload.encode() if isinstance(payload, str) else payload
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (e.g. its timeout)
            self.close_connection = True
