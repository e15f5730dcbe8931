"""The review page's HTTP server: one self-contained page and a small JSON API (standard library only).

Security, for a server that writes to a run folder:

* It binds 127.0.0.1 unless told otherwise. On a loopback address, a request must carry a loopback ``Host``
  (``127.0.0.1``, ``localhost`` or ``[::1]`` with the server's port), which defeats DNS rebinding. On any other
  address, every request needs the access token (``--token``, or one generated and printed with the URL): the
  page's URL carries it once, the server turns it into a same-site, HTTP-only cookie.
* A request that writes must send JSON (``Content-Type: application/json``, which a foreign page cannot send
  without the browser asking first) from the page's own origin, with a body of at most :data:`MAX_BODY` bytes.
* No file path is ever taken from a request: samples and photos are named by their manifest keys, known keys
  only, and every file is found through its record and checked to stay inside the run folder (the photo inside
  SRC). Unknown query parameters are refused. The only files written are the manifest's decisions, the
  ``.review/`` cache and what the segment stage writes when it re-segments a photo.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import logging
import mimetypes
import secrets
import threading
import traceback
from collections.abc import Callable
from functools import partial
from http import HTTPStatus
from http.cookies import SimpleCookie
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from pydantic import ValidationError

from gen4gen.backends.segment.hints import Hints
from gen4gen.errors import Gen4GenError, StageError
from gen4gen.io.images import load_image
from gen4gen.manifest import Manifest
from gen4gen.review.guidance import HINTS, ROUND, photo_target
from gen4gen.review.index import VERDICTS, Query, SampleIndex
from gen4gen.review.media import MediaCache, OutsideError, inside
from gen4gen.review.photos import PhotoError, Resegmenter, photo_files, photo_json, photo_list
from gen4gen.sample import Sample, iter_samples, load_masks, sample_target

log = logging.getLogger("gen4gen.review")

MAX_BODY = 1024 * 1024  # bytes of a request body
DRAIN_LIMIT = 16 * MAX_BODY  # a larger body is refused without being read (the connection is closed)
MAX_CAPTION = 2000  # characters of an edited caption
PAGE_LIMIT = 500  # rows per /api/samples request at most
COOKIE = "gen4gen_review"
TOKEN_HEADER = "X-Gen4gen-Token"
LOOPBACK_NAMES = {"localhost", "127.0.0.1", "::1"}
STATIC = {"app.js": "text/javascript; charset=utf-8", "app.css": "text/css; charset=utf-8"}
BOX_MARGIN = 0.05  # hints without a box get the current cut-out's box widened by this share of its side


def is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class ApiError(Exception):
    def __init__(self, status: HTTPStatus, message: str) -> None:
        super().__init__(message)
        self.status = status


def _static(name: str) -> bytes:
    return (resources.files("gen4gen.review") / "static" / name).read_bytes()


class ReviewApp:
    """What the handlers work on: the run folder's manifest, the sample rows, the picture cache."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir
        self.manifest = Manifest(run_dir)
        self.index = SampleIndex(self.manifest)
        self.media = MediaCache(run_dir)
        self.resegmenter = Resegmenter(self.manifest)
        self.index.refresh(rebuild=True)

    def close(self) -> None:
        self.resegmenter.close()
        self.index.close()
        self.manifest.close()

    # ----------------------------------------------------------------------------------------------- samples
    def sample(self, key: str) -> Sample:
        if self.index.get(key) is None:
            raise ApiError(HTTPStatus.NOT_FOUND, f"sample {key!r}: not in this run")
        found = next(iter_samples(self.manifest, [key]))
        if not isinstance(found, Sample):
            raise ApiError(HTTPStatus.NOT_FOUND, found)
        return found

    def sample_json(self, key: str) -> dict[str, Any]:
        sample = self.sample(key)
        row = self.index.get(key)
        assert row is not None
        decisions = self.manifest.decisions(sample_target(key))
        return {
            **row.to_json(),
            "size": list(sample.size),
            "caption": sample.caption,
            "generated_caption": sample.generated_caption,
            "scene": sample.scene,
            "objects": [
                {
                    "name": o.name,
                    "concept_id": o.concept_id,
                    "folder": o.folder,
                    "bbox": list(o.bbox),
                    "photo": o.photo,
                    "depth": o.depth,
                    "visible": o.visible,
                }
                for o in sample.objects
            ],
            "verdicts": [
                {"name": v.name, "status": v.status, "score": v.score, "reason": v.reason}
                for v in sorted(sample.verdicts.values(), key=lambda v: v.name)
            ],
            "decisions": {kind: {"value": d.value, "created": d.created} for kind, d in decisions.items()},
            "seeds": sample.seeds,
            "provenance": {k: v for k, v in sample.provenance.items() if k != "layout"},
        }

    def sample_file(self, key: str, kind: str) -> Path:
        sample = self.sample(key)
        try:
            if kind == "image":
                return inside(self.run_dir, sample.image)
            if kind == "composite":
                return inside(self.run_dir, sample.composite)
            if kind == "thumb":  # the preview repaint wrote (runs from before previews: one made and cached)
                preview = inside(self.run_dir, sample.preview) if sample.preview else None
                if preview is not None and preview.is_file():
                    return preview
                return self.media.thumbnail(inside(self.run_dir, sample.image))
            if kind == "overlay":
                files = [inside(self.run_dir, o.mask) for o in sample.objects]
                boxes = [o.mask_box for o in sample.objects]
                load = partial(load_masks, self.run_dir, sample.objects, sample.size)
                return self.media.overlay(sample.size, files, boxes, load)
        except OutsideError as exc:
            raise ApiError(
                HTTPStatus.FORBIDDEN, f"sample {key!r}: its files are not inside the run folder"
            ) from exc
        raise ApiError(HTTPStatus.BAD_REQUEST, f"kind: {kind!r} is not image, composite, thumb or overlay")

    # ------------------------------------------------------------------------------------------------ photos
    def used_by(self, key: str) -> list[str]:
        return [r.key for r in self.index.select(Query()) if key in r.photos]

    def photos(self) -> list[dict[str, Any]]:
        counts: dict[str, int] = {}
        for row in self.index.select(Query()):
            for photo in row.photos:
                counts[photo] = counts.get(photo, 0) + 1
        return photo_list(self.manifest, counts)

    def photo_json(self, key: str) -> dict[str, Any]:
        try:
            return photo_json(self.manifest, key, self.used_by(key))
        except PhotoError as exc:
            raise ApiError(HTTPStatus.NOT_FOUND, str(exc)) from exc

    def photo_file(self, key: str, kind: str, round_number: int | None) -> Path:
        try:
            files = photo_files(self.manifest, key)
        except PhotoError as exc:
            raise ApiError(HTTPStatus.NOT_FOUND, str(exc)) from exc
        if not files.source.is_file():
            raise ApiError(HTTPStatus.NOT_FOUND, f"photo {key!r}: the photo is gone from the source folder")

        def load() -> Any:
            return load_image(files.source).rgb

        if kind == "photo":
            return self.media.photo(files.source, load)
        if files.mask is None:
            raise ApiError(HTTPStatus.NOT_FOUND, f"photo {key!r}: no cut-out ({files.record.message})")
        if kind == "tint":
            return self.media.tint(files.mask)
        if kind == "cutout":
            return self.media.cutout(files.source, files.mask, load)
        if kind == "round":
            if round_number is None or not 1 <= round_number <= len(files.rounds):
                raise ApiError(HTTPStatus.NOT_FOUND, f"photo {key!r}: no round {round_number}")
            return self.media.cutout(files.source, files.rounds[round_number - 1], load)
        raise ApiError(HTTPStatus.BAD_REQUEST, f"kind: {kind!r} is not photo, round, cutout or tint")

    # ----------------------------------------------------------------------------------------------- decide
    def decide(self, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict) or set(body) - {"target", "kind", "value"} or "target" not in body:
            raise ApiError(HTTPStatus.BAD_REQUEST, "expected {target, kind, value}")
        target, kind, value = body.get("target"), body.get("kind"), body.get("value")
        if not isinstance(target, str) or not isinstance(kind, str):
            raise ApiError(HTTPStatus.BAD_REQUEST, "target and kind must be strings")
        if target.startswith("sample:"):
            key = target[len("sample:") :]
            self.sample(key)  # known and finished
            self.manifest.add_decision(sample_target(key), kind, _sample_value(kind, value))
            self.index.refresh()
            return {"sample": self.sample_json(key)}
        if target.startswith("photo:"):
            key = target[len("photo:") :]
            try:
                files = photo_files(self.manifest, key)
            except PhotoError as exc:
                raise ApiError(HTTPStatus.NOT_FOUND, str(exc)) from exc
            checked = self._photo_value(kind, value, files)
            self.manifest.add_decision(photo_target(key), kind, checked)
            try:
                run = self.resegmenter.run(key)
            except Gen4GenError as exc:
                run = {"made": 0, "failed": 1, "seconds": 0.0, "warnings": [str(exc)]}
            return {"photo": self.photo_json(key), "run": run}
        raise ApiError(HTTPStatus.BAD_REQUEST, f"target: {target!r} is not sample:<key> or photo:<key>")

    def _photo_value(self, kind: str, value: Any, files: Any) -> Any:
        data = files.data
        if kind == ROUND:
            if value is None:
                return None
            rounds = len(data.rounds) if data is not None else 0
            if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= max(rounds, 1):
                raise ApiError(
                    HTTPStatus.BAD_REQUEST, f"round: {value!r} is not a round of this photo (1..{rounds})"
                )
            return value
        if kind == HINTS:
            if value is None:
                return None
            if isinstance(value, dict) and value.get("box") is None and data is not None:
                value = {**value, "box": _widened_box(data.bbox, data.size, data.downscaled_from)}
            try:
                return Hints.model_validate(value).model_dump(mode="json")
            except ValidationError as exc:
                first = exc.errors()[0]
                where = ".".join(str(p) for p in first["loc"]) or "hints"
                raise ApiError(HTTPStatus.BAD_REQUEST, f"hints: {where}: {first['msg']}") from exc
        raise ApiError(HTTPStatus.BAD_REQUEST, f"kind: {kind!r} is not round or hints")


def _sample_value(kind: str, value: Any) -> Any:
    if kind == "rating":
        if value is None or (isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 5):
            return value
        raise ApiError(HTTPStatus.BAD_REQUEST, f"rating: {value!r} is not 1..5 (or null to clear it)")
    if kind == "verdict":
        if value is None or value in VERDICTS:
            return value
        raise ApiError(HTTPStatus.BAD_REQUEST, f"verdict: {value!r} is not one of {', '.join(VERDICTS)} or null")
    if kind == "caption":
        if value is None:
            return None
        if not isinstance(value, str) or len(value) > MAX_CAPTION:
            raise ApiError(HTTPStatus.BAD_REQUEST, f"caption: a string of at most {MAX_CAPTION} characters")
        text = " ".join(value.split())
        return text or None
    raise ApiError(HTTPStatus.BAD_REQUEST, f"kind: {kind!r} is not rating, verdict or caption")


def _widened_box(
    bbox: tuple[int, int, int, int], size: tuple[int, int], original: tuple[int, int] | None
) -> list[int]:
    """The cut-out's box in original photo pixels, widened by BOX_MARGIN of its longer side."""
    width, height = size
    scale = original[0] / width if original else 1.0
    x0, y0, x1, y1 = bbox
    pad = BOX_MARGIN * max(x1 - x0, y1 - y0)
    box = (max(0.0, x0 - pad), max(0.0, y0 - pad), min(width, x1 + pad), min(height, y1 + pad))
    return [round(v * scale) for v in box]


# ------------------------------------------------------------------------------------------------------ HTTP
class ReviewServer(ThreadingHTTPServer):
    """The HTTP server of one run folder (see the module docstring for its security rules)."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, app: ReviewApp, host: str, port: int, token: str | None) -> None:
        self.app = app
        self.token = token
        self.loopback = is_loopback(host)
        self.bind_name = host.strip("[]").lower()
        self.address_family = _family(host)
        super().__init__((host.strip("[]"), port), Handler)
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    @property
    def url(self) -> str:
        host = self.bind_name
        shown = f"[{host}]" if ":" in host else host
        base = f"http://{shown}:{self.port}/"
        return f"{base}?token={self.token}" if self.token else base

    def start(self) -> None:
        """Serve in a background thread (tests, embedding)."""
        self._thread = threading.Thread(target=self.serve_forever, name="gen4gen-review", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self.shutdown()
        self.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self.app.close()


def _family(host: str) -> Any:
    import socket

    return socket.AF_INET6 if ":" in host else socket.AF_INET


class Handler(BaseHTTPRequestHandler):
    server: ReviewServer
    protocol_version = "HTTP/1.1"
    server_version = "gen4gen-review"
    sys_version = ""
    timeout = 60  # a silent connection is dropped

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s %s", self.address_string(), format % args)

    # --------------------------------------------------------------------------------------------- replies
    def _send(
        self, status: HTTPStatus, body: bytes, content_type: str, headers: dict[str, str] | None = None
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Referrer-Policy", "no-referrer")
        self.send_header("X-Frame-Options", "DENY")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, data: Any, status: HTTPStatus = HTTPStatus.OK) -> None:
        body = json.dumps(data, allow_nan=False, default=str).encode()
        self._send(status, body, "application/json; charset=utf-8", {"Cache-Control": "no-store"})

    def _error(self, status: HTTPStatus, message: str) -> None:
        self.close_connection = status in (HTTPStatus.REQUEST_ENTITY_TOO_LARGE, HTTPStatus.LENGTH_REQUIRED)
        self._json({"error": message}, status)

    def _file(self, path: Path) -> None:
        info = path.stat()
        tag = f'"{info.st_size:x}-{info.st_mtime_ns:x}"'
        if self.headers.get("If-None-Match") == tag:
            self.send_response(HTTPStatus.NOT_MODIFIED)
            self.send_header("ETag", tag)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        kind = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        self._send(HTTPStatus.OK, path.read_bytes(), kind, {"ETag": tag, "Cache-Control": "no-cache"})

    # ----------------------------------------------------------------------------------------------- guards
    def _host_ok(self) -> bool:
        if not self.server.loopback:
            return True  # reached by any name: the token guards it
        host = (self.headers.get("Host") or "").strip().lower()
        name, _, port = host.rpartition(":") if not host.endswith("]") else (host, "", "")
        if not name:
            name, port = host, ""
        name = name.strip("[]")
        return name in LOOPBACK_NAMES | {self.server.bind_name} and port == str(self.server.port)

    def _supplied_token(self) -> str | None:
        header = self.headers.get(TOKEN_HEADER)
        if header:
            return header
        cookie = SimpleCookie()
        try:
            cookie.load(self.headers.get("Cookie") or "")
        except Exception:
            return None
        morsel = cookie.get(COOKIE)
        return morsel.value if morsel is not None else None

    def _token_ok(self, supplied: str | None) -> bool:
        expected = self.server.token
        if expected is None:
            return True
        return supplied is not None and hmac.compare_digest(supplied.encode(), expected.encode())

    def _same_origin(self) -> bool:
        if self.headers.get("Sec-Fetch-Site") not in (None, "same-origin", "none"):
            return False
        origin = self.headers.get("Origin")
        if origin is None:
            return True
        return urlsplit(origin).netloc.lower() == (self.headers.get("Host") or "").lower()

    # ---------------------------------------------------------------------------------------------- methods
    def do_GET(self) -> None:
        self._handle(self._get)

    def do_HEAD(self) -> None:
        self._handle(self._get)

    def do_POST(self) -> None:
        self._handle(self._post)

    def _refuse(self) -> None:
        self._error(HTTPStatus.METHOD_NOT_ALLOWED, f"{self.command} is not supported")

    do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _refuse

    def _handle(self, route: Callable[[str, dict[str, str]], None]) -> None:
        try:
            if not self._host_ok():
                raise ApiError(HTTPStatus.FORBIDDEN, "foreign Host header; open the page at the URL printed")
            parts = urlsplit(self.path)
            params = _params(parts.query)
            route(parts.path, params)
        except ApiError as exc:
            self._error(exc.status, str(exc))
        except (BrokenPipeError, ConnectionResetError):
            pass
        except Exception as exc:
            log.error("review: %s %s failed: %s", self.command, self.path, exc)
            log.debug("%s", traceback.format_exc())
            message = str(exc) if isinstance(exc, Gen4GenError) else f"internal error ({type(exc).__name__})"
            self._error(HTTPStatus.INTERNAL_SERVER_ERROR, message)

    def _authorise(self, path: str, params: dict[str, str]) -> bool:
        """Whether the request may go on; answers it (a redirect that sets the cookie, or 401) when not."""
        if self.server.token is None:
            return True
        if path == "/" and "token" in params:
            if not self._token_ok(params["token"]):
                raise ApiError(HTTPStatus.UNAUTHORIZED, "wrong token")
            cookie = f"{COOKIE}={params['token']}; Path=/; HttpOnly; SameSite=Strict"
            self._send(HTTPStatus.SEE_OTHER, b"", "text/plain", {"Location": "/", "Set-Cookie": cookie})
            return False
        if not self._token_ok(self._supplied_token()):
            raise ApiError(HTTPStatus.UNAUTHORIZED, "this server needs its token: open the URL it printed")
        return True

    def _get(self, path: str, params: dict[str, str]) -> None:
        if not self._authorise(path, params):
            return
        app = self.server.app
        if path == "/":
            _only(params, set())
            self._send(HTTPStatus.OK, _static("index.html"), "text/html; charset=utf-8", _page_headers())
        elif path.startswith("/static/"):
            name = path[len("/static/") :]
            if name not in STATIC:
                raise ApiError(HTTPStatus.NOT_FOUND, "no such file")
            self._send(HTTPStatus.OK, _static(name), STATIC[name], {"Cache-Control": "no-cache"})
        elif path == "/api/summary":
            _only(params, set())
            self._json({"run_dir": str(app.run_dir), **app.index.summary()})
        elif path == "/api/samples":
            query = _query(params, {"offset", "limit"})
            offset, limit = _int(params, "offset", 0), min(_int(params, "limit", 100), PAGE_LIMIT)
            self._json(app.index.page(query, max(0, offset), max(0, limit)))
        elif path == "/api/step":
            query = _query(params, {"key", "direction", "next_unreviewed"})
            direction = 1 if _int(params, "direction", 1) >= 0 else -1
            unreviewed = params.get("next_unreviewed") in ("1", "true")
            self._json({"key": app.index.step(query, params.get("key"), direction, unreviewed)})
        elif path == "/api/sample":
            _only(params, {"key"})
            self._json(app.sample_json(_required(params, "key")))
        elif path == "/api/sample/file":
            _only(params, {"key", "kind", "v"})
            self._file(app.sample_file(_required(params, "key"), params.get("kind", "image")))
        elif path == "/api/photos":
            _only(params, set())
            self._json({"photos": app.photos()})
        elif path == "/api/photo":
            _only(params, {"key"})
            self._json(app.photo_json(_required(params, "key")))
        elif path == "/api/photo/file":
            _only(params, {"key", "kind", "round", "v"})
            number = _int(params, "round", 0) if "round" in params else None
            self._file(app.photo_file(_required(params, "key"), params.get("kind", "photo"), number))
        else:
            raise ApiError(HTTPStatus.NOT_FOUND, "no such page")

    def _post(self, path: str, params: dict[str, str]) -> None:
        if not self._authorise(path, {}):
            return
        if not self._same_origin():
            raise ApiError(HTTPStatus.FORBIDDEN, "cross-origin request refused")
        if self.headers.get("Transfer-Encoding"):
            raise ApiError(HTTPStatus.LENGTH_REQUIRED, "send the body with a Content-Length")
        length_text = self.headers.get("Content-Length")
        if length_text is None or not length_text.isdigit():
            raise ApiError(HTTPStatus.LENGTH_REQUIRED, "Content-Length required")
        length = int(length_text)
        if length > MAX_BODY:
            if length <= DRAIN_LIMIT:  # read it away, so the client gets the answer rather than a reset
                remaining = length
                while remaining > 0 and (chunk := self.rfile.read(min(1 << 16, remaining))):
                    remaining -= len(chunk)
            raise ApiError(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, f"request body over {MAX_BODY} bytes")
        content_type = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if content_type != "application/json":
            raise ApiError(HTTPStatus.UNSUPPORTED_MEDIA_TYPE, "send JSON (Content-Type: application/json)")
        raw = self.rfile.read(length)
        _only(params, set())
        try:
            body = json.loads(raw) if raw else None
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ApiError(HTTPStatus.BAD_REQUEST, f"not JSON: {exc}") from exc
        app = self.server.app
        if path == "/api/decide":
            self._json(app.decide(body))
        elif path == "/api/refresh":
            app.index.refresh(rebuild=True)
            self._json(app.index.summary())
        else:
            raise ApiError(HTTPStatus.NOT_FOUND, "no such endpoint")


def _page_headers() -> dict[str, str]:
    policy = (
        "default-src 'self'; img-src 'self' data: blob:; style-src 'self'; script-src 'self'; "
        "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
    )
    return {"Content-Security-Policy": policy, "Cache-Control": "no-cache"}


def _params(query: str) -> dict[str, str]:
    try:
        parsed = parse_qs(query, keep_blank_values=True, strict_parsing=False, max_num_fields=50)
    except ValueError as exc:
        raise ApiError(HTTPStatus.BAD_REQUEST, f"bad query: {exc}") from exc
    for name, values in parsed.items():
        if len(values) > 1:
            raise ApiError(HTTPStatus.BAD_REQUEST, f"{name}: given more than once")
    return {name: values[0] for name, values in parsed.items()}


def _only(params: dict[str, str], allowed: set[str]) -> None:
    unknown = sorted(set(params) - allowed - {"token"})
    if unknown:
        raise ApiError(HTTPStatus.BAD_REQUEST, f"unknown parameter {unknown[0]!r} (files are named by their ids)")


def _query(params: dict[str, str], extra: set[str]) -> Query:
    allowed = {"composition", "status", "rating", "unreviewed", "check", "min_score", "max_score", "sort", "order"}
    _only(params, allowed | extra)
    try:
        return Query.parse(params)
    except ValueError as exc:
        raise ApiError(HTTPStatus.BAD_REQUEST, str(exc)) from exc


def _required(params: dict[str, str], name: str) -> str:
    value = params.get(name)
    if not value:
        raise ApiError(HTTPStatus.BAD_REQUEST, f"{name}: required")
    return value


def _int(params: dict[str, str], name: str, default: int) -> int:
    text = params.get(name)
    if text is None or text == "":
        return default
    try:
        return int(text)
    except ValueError:
        raise ApiError(HTTPStatus.BAD_REQUEST, f"{name}: {text!r} is not a whole number") from None


def make_server(run_dir: Path, host: str = "127.0.0.1", port: int = 0, token: str | None = None) -> ReviewServer:
    """A server for ``run_dir`` bound to ``host``:``port`` (0: any free port). A non-loopback ``host`` always
    gets a token (``token``, or a new random one)."""
    if not (run_dir / Manifest.FILENAME).is_file():
        raise StageError(
            f"{run_dir}: no manifest.sqlite here; make the run folder with `gen4gen run SRC --out DIR`"
        )
    if token is None and not is_loopback(host):
        token = secrets.token_urlsafe(24)
    app = ReviewApp(run_dir)
    try:
        return ReviewServer(app, host, port, token)
    except BaseException:
        app.close()
        raise
