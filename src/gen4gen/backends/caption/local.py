"""Local captioning with transformers: LLaVA-1.5 (or any chat vision-language model) and BLIP.

The model family is read from the model's config (``model_type``): ``blip`` uses BLIP's captioning head (it takes
no instructions, only an optional text prefix); everything else is loaded as an image-text-to-text model and given
the paper's instruction through its chat template. Generation is greedy, so captions are deterministic. Weights
come from a local folder or the Hugging Face cache (``HF_HUB_OFFLINE=1``: cache only).
"""

from __future__ import annotations

import threading
from typing import Any

from pydantic import Field, field_validator

from gen4gen import hf
from gen4gen.backends.base import BackendOptions, BackendUnavailable, Captioner, CaptionRequest, ItemError
from gen4gen.text import limit_words

INSTRUCTION = "Describe this image in detail in at most 30 words."
LLAVA_15_TEMPLATE = (
    "{% for message in messages %}{% if message['role'] == 'user' %}USER: {% else %}ASSISTANT: {% endif %}"
    "{% for item in message['content'] %}{% if item['type'] == 'image' %}<image>\n"
    "{% elif item['type'] == 'text' %}{{ item['text'] }}{% endif %}{% endfor %} {% endfor %}"
    "{% if add_generation_prompt %}ASSISTANT:{% endif %}"
)

_MODELS: dict[tuple[str, str, str], tuple[Any, Any, str]] = {}
_LOCK = threading.Lock()


class TransformersCaptioner(Captioner):
    """Detailed captions from a local LLaVA-style model (instruction-following) or BLIP (plain captioning)."""

    name = "transformers"
    process_parallel = False  # one model in memory, batched on its device
    version = "1"

    options: Options

    class Options(BackendOptions):
        model: str = Field(
            "llava-hf/llava-1.5-7b-hf",
            min_length=1,
            description="LLaVA-style chat model or BLIP: a local folder or a Hugging Face hub id",
        )
        revision: str | None = Field(None, min_length=1, description="hub revision (branch, tag or commit)")
        instruction: str = Field(
            INSTRUCTION,
            min_length=1,
            description="instruction for chat models; {concepts} and {scene} are filled in (BLIP ignores it)",
        )
        blip_prefix: str = Field(
            "a photography of",
            description="BLIP's conditional-captioning prefix, cut from the caption (empty: none)",
        )
        max_new_tokens: int = Field(77, ge=1, le=1024, description="longest caption generated, in tokens")
        num_beams: int = Field(
            1, ge=1, le=16, description="beam-search width (1: greedy); decoding is deterministic"
        )
        batch_size: int = Field(4, ge=1, le=256, description="images per generate call")
        dtype: hf.DType = Field("auto", description=hf.DTYPE_HELP)
        device: hf.Device = Field("auto", description=hf.DEVICE_HELP)

        @field_validator("instruction")
        @classmethod
        def _known_placeholders(cls, value: str) -> str:
            return hf.check_template(value, ("concepts", "scene"))

    def __init__(self, options: BackendOptions | None = None) -> None:
        super().__init__(options)
        try:
            import torch  # noqa: F401
            import transformers  # noqa: F401
        except ModuleNotFoundError as exc:
            raise BackendUnavailable(
                "caption backend 'transformers' needs torch and transformers: pip install 'gen4gen[neural]'"
            ) from exc
        self.device = hf.resolve_device(self.options.device)
        self.dtype = hf.resolve_dtype(self.options.dtype, self.device)
        self.model, self.processor, self.family = self._load()

    def _load(self) -> tuple[Any, Any, str]:
        key = (self.options.model, str(self.options.revision), f"{self.device}/{self.dtype}")
        with _LOCK:
            if key not in _MODELS:
                _MODELS[key] = self._load_uncached()
            return _MODELS[key]

    def _load_uncached(self) -> tuple[Any, Any, str]:
        import transformers

        kwargs = {"revision": self.options.revision, "local_files_only": hf.local_files_only()}

        def load(source: str) -> tuple[Any, Any, str]:
            config = transformers.AutoConfig.from_pretrained(source, **kwargs)
            if config.model_type == "blip":
                family, model_cls = "blip", transformers.BlipForConditionalGeneration
            else:
                family, model_cls = "chat", transformers.AutoModelForImageTextToText
            processor = transformers.AutoProcessor.from_pretrained(source, **kwargs)
            return model_cls.from_pretrained(source, dtype=self.dtype, **kwargs), processor, family

        model, processor, family = hf.load_pretrained(
            load, self.options.model, "caption.model", "captioning model"
        )
        model.to(self.device).eval()
        tokenizer = getattr(processor, "tokenizer", None)
        if family == "chat" and tokenizer is not None:
            tokenizer.padding_side = "left"  # decoder-only batches must be left-padded for generation
        return model, processor, family

    def _instruction(self, request: CaptionRequest) -> str:
        concepts = ", ".join(p.name for p in request.placements)
        return self.options.instruction.format(concepts=concepts, scene=request.scene)

    def _inputs(self, requests: list[CaptionRequest]) -> Any:
        from PIL import Image

        images = [Image.fromarray(r.image) for r in requests]
        if self.family == "blip":
            text = [self.options.blip_prefix] * len(requests) if self.options.blip_prefix else None
            return self.processor(images=images, text=text, return_tensors="pt")
        template = getattr(self.processor, "chat_template", None) or LLAVA_15_TEMPLATE
        prompts = [
            self.processor.apply_chat_template(
                [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": self._instruction(r)}]}],
                chat_template=template,
                add_generation_prompt=True,
            )
            for r in requests
        ]
        return self.processor(images=images, text=prompts, return_tensors="pt", padding=True)

    def _generate(self, requests: list[CaptionRequest]) -> list[str]:
        import torch

        inputs = self._inputs(requests).to(self.device)
        if "pixel_values" in inputs:
            inputs["pixel_values"] = inputs["pixel_values"].to(self.dtype)
        with torch.inference_mode():
            output = self.model.generate(
                **inputs,
                do_sample=False,
                num_beams=self.options.num_beams,
                max_new_tokens=self.options.max_new_tokens,
            )
        if self.family == "chat":  # decoder-only: the output repeats the prompt
            output = output[:, inputs["input_ids"].shape[1] :]
        texts = self.processor.batch_decode(output, skip_special_tokens=True)
        prefix = self.options.blip_prefix.strip().lower() if self.family == "blip" else ""
        captions = []
        for text, request in zip(texts, requests, strict=True):
            text = text.strip()
            if prefix and text.lower().startswith(prefix):
                text = text[len(prefix) :].strip()
            text = limit_words(text, request.max_words)
            if not text:
                raise ItemError(f"{self.options.model} returned an empty caption")
            captions.append(text)
        return captions

    def caption(self, request: CaptionRequest) -> str:
        return self._generate([request])[0]

    def caption_batch(self, requests: list[CaptionRequest]) -> list[str]:
        step = max(1, self.options.batch_size)
        captions: list[str] = []
        for start in range(0, len(requests), step):
            captions.extend(self._generate(requests[start : start + step]))
        return captions

    def identity(self) -> dict[str, Any]:
        import transformers

        where = str(getattr(self.model, "name_or_path", "") or "")
        revision = hf.snapshot_revision(where) or self.options.revision
        return {
            **super().identity(),
            "model": self.options.model,
            "model_type": self.model.config.model_type,
            "family": self.family,
            "revision": revision,
            "device": self.device,
            "dtype": str(self.dtype).removeprefix("torch."),
            "transformers": transformers.__version__,
        }
