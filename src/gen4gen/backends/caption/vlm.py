"""Captions from any OpenAI-compatible vision chat model (GPT-4o, or LLaVA / Qwen-VL served by vLLM or Ollama).

The finished image goes as a base64 data URL (JPEG by default, downscaled to ``max_side``) with the paper's
instruction — describe the image in detail in at most 30 words — and the names of the concepts it shows. The
client, retries, rate limit and response cache are those of the LLM layout planner (:mod:`gen4gen.llm.client`);
the model comes from ``caption.model`` or ``GEN4GEN_VLM_MODEL``. The stage checks that every concept is named.

Errors: when the endpoint cannot answer at all (unreachable, authentication refused, retries exhausted) the
caption raises :class:`BackendUnavailable` — every other sample would fail the same way, so the stage stops with
that one-line reason and a rerun resumes (answers already received are cached). When only this image's request
fails (the server rejects it, or answers with an empty or malformed completion) it raises :class:`ItemError`.
"""

from __future__ import annotations

import base64
import io
import re
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Literal

import numpy as np
from PIL import Image
from pydantic import Field

from gen4gen.backends.base import BackendUnavailable, Captioner, CaptionRequest, ItemError
from gen4gen.llm.client import ChatClient, EndpointOptions, LLMError, LLMUnavailable, redact_url
from gen4gen.prompts import load_prompt

MODEL_ENV = "GEN4GEN_VLM_MODEL"
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
            result = self.client.chat(messages, cache=self.cache, seed=request.seed)
        except LLMUnavailable as exc:
            raise BackendUnavailable(f"caption backend 'vlm': {exc}") from exc
        except LLMError as exc:
            raise ItemError(f"caption backend 'vlm': {exc}") from exc
        text = clean_caption(result.content)
        if not text:
            raise ItemError("caption backend 'vlm': the model returned an empty caption")
        return text

    def caption_batch(self, requests: list[CaptionRequest]) -> list[str]:
        """Up to ``max_concurrency`` requests at once, results in order; the first error (in order) is raised
        after all requests have finished, so the answers received are cached for the rerun."""
        if len(requests) <= 1 or self.options.max_concurrency == 1:
            return [self.caption(r) for r in requests]
        with ThreadPoolExecutor(min(self.options.max_concurrency, len(requests)), "gen4gen-vlm") as pool:
            futures = [pool.submit(self.caption, r) for r in requests]
            errors = [f.exception() for f in futures]
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
