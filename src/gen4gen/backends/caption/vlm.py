"""Captions from any OpenAI-compatible vision chat model (GPT-4o, or LLaVA / Qwen-VL served by vLLM or Ollama).

The finished image goes as a base64 data URL (JPEG by default, downscaled to ``max_side``) with the paper's
instruction — describe the image in detail in at most 30 words — and the names of the concepts it shows. The
client, retries, rate limit and response cache are those of the LLM layout planner (:mod:`gen4gen.llm.client`);
the model comes from ``caption.model`` or ``GEN4GEN_VLM_MODEL``. The stage checks that every concept is named.

Errors: when the endpoint cannot answer at all (unreachable, authentication refused, retries exhausted) the
caption raises :class:`BackendUnavailable` — every other sample would fail the same way, so the stage stops with
that one-line reason and a rerun resumes (answers already received are cached). When only this image's request
fails (the server rejects it, or answers with an empty, malformed or oversized completion) that image's caption
is an :class:`ItemError` (the stage records it and goes on); such an answer is never cached, so a rerun with
``--retry-failed`` asks again.

Answers are untrusted: at most ``max_response_bytes`` are read (see the client), and a caption keeps at most
twice ``caption.max_words`` words and :data:`MAX_CAPTION_CHARS` characters; an answer with a "word" longer than
:data:`MAX_WORD_CHARS` characters is not a caption.
"""

from __future__ import annotations

import base64
import io
import re
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Literal

import numpy as np
from PIL import Image
from pydantic import Field

from gen4gen.backends.base import BackendUnavailable, Captioner, CaptionRequest, ItemError
from gen4gen.llm.client import ChatClient, EndpointOptions, LLMBadResponse, LLMError, LLMUnavailable, redact_url
from gen4gen.prompts import load_prompt
from gen4gen.text import truncate_words

MODEL_ENV = "GEN4GEN_VLM_MODEL"
MAX_CAPTION_CHARS = 2000  # characters of a caption kept
MAX_WORD_CHARS = 64  # a longer "word" means the answer is not a caption
_PREFIX = re.compile(r"^\s*(?:caption|description)\s*:\s*", re.IGNORECASE)


class VLMCaptionerOptions(EndpointOptions):
    """Options of the ``vlm`` captioner: the endpoint's, plus how the image is sent."""

    temperature: float = Field(0.2, ge=0.0, le=2.0, description="sampling temperature (low: literal captions)")
    max_tokens: int | None = Field(
        120, ge=1, le=4096, description="longest answer in tokens; none: the server's default"
    )
    image_format: Literal["jpeg", "png"] = Field("jpeg", description="how the image is encoded for the request")
    jpeg_quality: int = Field(90, ge=50, le=100, description="JPEG quality of the image sent")
    max_side: int = Field(1024, ge=64, le=4096, description="longest image side sent; larger images are shrunk")
    detail: Literal["auto", "low", "high"] = Field(
        "auto", description="OpenAI image detail level (low: fewer image tokens)"
    )


class VLMCaptioner(Captioner):
    """Detailed captions from an OpenAI-compatible vision chat endpoint."""

    name = "vlm"
    process_parallel = False  # the endpoint client runs requests concurrently under one rate limit
    version = "1"
    Options = VLMCaptionerOptions
    options: VLMCaptionerOptions

    def __init__(self, options: VLMCaptionerOptions | None = None) -> None:
        super().__init__(options)
        try:
            self.client = ChatClient(self.options, MODEL_ENV)
        except LLMError as exc:
            raise BackendUnavailable(
                f"caption backend 'vlm': {exc} (e.g. --set caption.model=gpt-4o-mini)"
            ) from exc
        self.prompt = load_prompt("caption")

    def identity(self) -> dict[str, Any]:
        ident = super().identity()
        if ident["options"].get("base_url"):
            ident["options"]["base_url"] = redact_url(ident["options"]["base_url"])
        ident.update(model=self.client.model, base_url=self.client.display_url, prompts=[self.prompt.ref()])
        return ident

    def caption(self, request: CaptionRequest) -> str:
        messages = self.messages(request)
        try:
            result = self.client.chat(
                messages,
                cache=self.cache,
                seed=request.seed,
                validate=lambda answer: usable_caption(answer, request.max_words),
            )
        except LLMUnavailable as exc:
            raise BackendUnavailable(f"caption backend 'vlm': {exc}") from exc
        except LLMError as exc:
            raise ItemError(f"caption backend 'vlm': {exc}") from exc
        return usable_caption(result.content, request.max_words)

    def caption_batch(self, requests: list[CaptionRequest]) -> list[str | ItemError]:
        """Up to ``max_concurrency`` requests at once, results in order: each a caption or that image's
        :class:`ItemError`. When the endpoint is unavailable the first such error (in order) is raised after all
        requests have finished, so the answers received are cached for the rerun."""
        if len(requests) <= 1 or self.options.max_concurrency == 1:
            return [_or_item_error(self.caption, r) for r in requests]
        pool = ThreadPoolExecutor(min(self.options.max_concurrency, len(requests)), "gen4gen-vlm")
        try:
            futures = [pool.submit(_or_item_error, self.caption, r) for r in requests]
            errors = [f.exception() for f in futures]
        except BaseException:  # Ctrl-C: do not wait for the requests still queued
            pool.shutdown(wait=False, cancel_futures=True)
            raise
        pool.shutdown()
        for error in errors:
            if error is not None:
                raise error
        return [f.result() for f in futures]

    def messages(self, request: CaptionRequest) -> list[dict[str, Any]]:
        """The chat messages for one image: the instruction with the concept names, then the image."""
        counts = Counter(p.name for p in request.placements)
        objects = ", ".join(name if n == 1 else f"{name} (x{n})" for name, n in counts.items())
        system, user = self.prompt.messages(
            max_words=request.max_words,
            objects=objects or "a scene",
            scene=f", {request.scene}" if request.scene else "",
        )
        image = {"url": self.data_url(request.image), "detail": self.options.detail}
        user["content"] = [{"type": "text", "text": user["content"]}, {"type": "image_url", "image_url": image}]
        return [system, user]

    def data_url(self, rgb: np.ndarray) -> str:
        """The image as a ``data:`` URL, shrunk so that its longest side is at most ``max_side``."""
        image = Image.fromarray(np.ascontiguousarray(rgb[..., :3]).astype(np.uint8), "RGB")
        scale = self.options.max_side / max(image.size)
        if scale < 1:
            image = image.resize(
                (max(1, round(image.width * scale)), max(1, round(image.height * scale))), Image.Resampling.LANCZOS
            )
        buffer = io.BytesIO()
        if self.options.image_format == "png":
            image.save(buffer, "PNG")
        else:
            image.save(buffer, "JPEG", quality=self.options.jpeg_quality)
        mime = "image/png" if self.options.image_format == "png" else "image/jpeg"
        return f"data:{mime};base64,{base64.b64encode(buffer.getvalue()).decode('ascii')}"


def clean_caption(text: str) -> str:
    """One line of caption text: no "Caption:" prefix, no wrapping quotes, single spaces."""
    text = " ".join(text.split())
    text = _PREFIX.sub("", text).strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'“”":
        text = text[1:-1].strip()
    return text.strip("“”").strip()


def usable_caption(answer: str, max_words: int) -> str:
    """The caption in a model's answer, bounded (at most ``2 * max_words`` words and :data:`MAX_CAPTION_CHARS`
    characters); raises :class:`LLMBadResponse` for an answer that is no caption (empty, or a "word" longer than
    :data:`MAX_WORD_CHARS` characters)."""
    text = truncate_words(clean_caption(answer[: MAX_CAPTION_CHARS * 4]), 2 * max_words)
    if not text:
        raise LLMBadResponse("the model returned an empty caption")
    longest = max(text.split(), key=len)
    if len(longest) > MAX_WORD_CHARS:
        raise LLMBadResponse(
            f"the answer is not a caption (a {len(longest)}-character word); check the model and its prompt"
        )
    if len(text) > MAX_CAPTION_CHARS:
        text = text[:MAX_CAPTION_CHARS].rsplit(" ", 1)[0]
    return text


def _or_item_error(call: Callable[[CaptionRequest], str], request: CaptionRequest) -> str | ItemError:
    """``call(request)``, or the ItemError it raised (an unavailable endpoint still raises)."""
    try:
        return call(request)
    except ItemError as exc:
        return exc
