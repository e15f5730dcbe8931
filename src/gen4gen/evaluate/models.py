"""CLIP embeddings and OWL-ViT detections, batched, from a local folder or the Hugging Face cache.

Models load through :mod:`gen4gen.hf` (offline handling, the one-line error for missing weights). Embeddings come
back as float64 numpy arrays, not normalised (:mod:`gen4gen.evaluate.metrics` does the arithmetic).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from gen4gen import hf
from gen4gen.errors import BackendUnavailable
from gen4gen.evaluate.metrics import Detection

#: CLIP's text context: longer texts are truncated to this many tokens (start and end tokens included)
CLIP_MAX_TOKENS = 77
_SMALL_FILE = 4 << 20  # model files up to this size are hashed whole, larger ones by size, head and tail


@contextmanager
def _quiet() -> Iterator[None]:
    """No progress bars and no transformers notices (e.g. about optional image backends) while loading."""
    import transformers

    logging = transformers.utils.logging
    level = logging.get_verbosity()
    logging.set_verbosity_error()
    try:
        with hf.quiet_loading():
            yield
    finally:
        logging.set_verbosity(level)


def _pooled(output: Any) -> Any:
    """The projected embedding of ``get_*_features`` (a tensor in older transformers, an output object now)."""
    return output if hasattr(output, "shape") else output.pooler_output


def _batches(count: int, size: int) -> Iterator[slice]:
    for start in range(0, count, size):
        yield slice(start, min(start + size, count))


def _model_type(source: str, key: str, spec: str, expected: str, example: str) -> None:
    import transformers

    config = transformers.AutoConfig.from_pretrained(source, local_files_only=hf.local_files_only())
    if config.model_type != expected:
        raise BackendUnavailable(
            f"{key}={spec}: a {config.model_type!r} model, not {expected}; pass a {expected} model such as "
            f"{example}"
        )


class ClipEmbedder:
    """CLIP image and text embeddings (the projections CLIP compares), ``batch_size`` inputs per forward pass."""

    def __init__(self, model: Any, processor: Any, device: str, dtype: Any, batch_size: int) -> None:
        self.model, self.processor = model.to(device).eval(), processor
        self.device, self.dtype, self.batch_size = device, dtype, batch_size
        limit = getattr(getattr(model.config, "text_config", None), "max_position_embeddings", CLIP_MAX_TOKENS)
        self.max_tokens = min(CLIP_MAX_TOKENS, int(limit))

    @classmethod
    def load(
        cls, spec: str, device: str, dtype: Any, batch_size: int, key: str = "eval.clip_model"
    ) -> ClipEmbedder:
        import transformers

        def load(source: str) -> tuple[Any, Any]:
            _model_type(source, key, spec, "clip", "openai/clip-vit-base-patch32")
            kwargs = {"local_files_only": hf.local_files_only()}
            processor = transformers.AutoProcessor.from_pretrained(source, **kwargs)
            return transformers.CLIPModel.from_pretrained(source, dtype=dtype, **kwargs), processor

        with _quiet():
            model, processor = hf.load_pretrained(load, spec, key, "CLIP model")
        return cls(model, processor, device, dtype, batch_size)

    def images(self, images: Sequence[Image.Image]) -> np.ndarray:
        """(n, d) embeddings of RGB images (CLIP's processor: resize, centre crop, normalise)."""
        import torch

        chunks = []
        for part in _batches(len(images), self.batch_size):
            inputs = self.processor(images=list(images[part]), return_tensors="pt")
            pixels = inputs["pixel_values"].to(self.device, self.dtype)
            with torch.inference_mode():
                chunks.append(_pooled(self.model.get_image_features(pixel_values=pixels)).float().cpu().numpy())
        return np.concatenate(chunks).astype(np.float64) if chunks else np.zeros((0, self.dim))

    def texts(self, texts: Sequence[str]) -> np.ndarray:
        """(n, d) embeddings of texts, each truncated to CLIP's 77 tokens."""
        import torch

        chunks = []
        for part in _batches(len(texts), self.batch_size):
            tokens = self.processor.tokenizer(
                list(texts[part]), padding=True, truncation=True, max_length=self.max_tokens, return_tensors="pt"
            ).to(self.device)
            with torch.inference_mode():
                features = self.model.get_text_features(
                    input_ids=tokens["input_ids"], attention_mask=tokens["attention_mask"]
                )
            chunks.append(_pooled(features).float().cpu().numpy())
        return np.concatenate(chunks).astype(np.float64) if chunks else np.zeros((0, self.dim))

    @property
    def dim(self) -> int:
        return int(self.model.config.projection_dim)


class OwlDetector:
    """OWL-ViT open-vocabulary detection: each image with its own text queries, ``batch_size`` images at once.

    Images of one batch with fewer queries than the others get padding queries, whose logits are masked out, so
    every image is labelled with its own queries only, as if it were run alone.
    """

    def __init__(self, model: Any, processor: Any, device: str, dtype: Any, batch_size: int) -> None:
        self.model, self.processor = model.to(device).eval(), processor
        self.device, self.dtype, self.batch_size = device, dtype, batch_size

    @classmethod
    def load(cls, spec: str, device: str, dtype: Any, batch_size: int, key: str = "eval.detector") -> OwlDetector:
        import transformers

        def load(source: str) -> tuple[Any, Any]:
            _model_type(source, key, spec, "owlvit", "google/owlvit-base-patch32")
            kwargs = {"local_files_only": hf.local_files_only()}
            processor = transformers.AutoProcessor.from_pretrained(source, **kwargs)
            return transformers.OwlViTForObjectDetection.from_pretrained(source, dtype=dtype, **kwargs), processor

        with _quiet():
            model, processor = hf.load_pretrained(load, spec, key, "OWL-ViT detector")
        return cls(model, processor, device, dtype, batch_size)

    def detect(
        self, images: Sequence[Image.Image], queries: Sequence[Sequence[str]], threshold: float
    ) -> list[list[Detection]]:
        """Per image, every box scoring above ``threshold``, in image pixels, labelled with its best query."""
        import torch

        asked = [i for i, own in enumerate(queries) if own]  # an image without queries has no detections
        found: dict[int, list[Detection]] = {}
        for part in _batches(len(asked), self.batch_size):
            batch = [images[i] for i in asked[part]]
            texts = [list(queries[i]) for i in asked[part]]
            inputs = self.processor(text=texts, images=batch, truncation=True, return_tensors="pt")
            inputs = {k: v.to(self.device) for k, v in inputs.items()}
            inputs["pixel_values"] = inputs["pixel_values"].to(self.dtype)
            with torch.inference_mode():
                outputs = self.model(**inputs)
                logits = outputs.logits.float()
                for row, own in enumerate(texts):
                    logits[row, :, len(own) :] = torch.finfo(logits.dtype).min  # padding queries never win
                outputs.logits, outputs.pred_boxes = logits, outputs.pred_boxes.float()
                results = self.processor.image_processor.post_process_object_detection(
                    outputs, threshold=threshold, target_sizes=[(im.height, im.width) for im in batch]
                )
            for index, result in zip(asked[part], results, strict=True):
                found[index] = [
                    Detection(tuple(float(v) for v in box), float(score), int(label))  # type: ignore[arg-type]
                    for score, label, box in zip(
                        result["scores"].tolist(),
                        result["labels"].tolist(),
                        result["boxes"].tolist(),
                        strict=True,
                    )
                ]
        return [found.get(i, []) for i in range(len(images))]


def model_identity(spec: str) -> dict[str, Any]:
    """What identifies a model's weights without loading them: the hub commit, or a digest of a local folder."""
    path = Path(spec).expanduser()
    if path.is_dir():
        return {"model": spec, "path": str(path.resolve()), "digest": _folder_digest(path)}
    revision = None
    try:
        from huggingface_hub import try_to_load_from_cache

        cached = try_to_load_from_cache(spec, "config.json")
        if isinstance(cached, str):
            revision = hf.snapshot_revision(cached)
    except Exception:  # not a valid repo id, or no huggingface_hub: the model then fails to load, with its message
        revision = None
    return {"model": spec, "revision": revision}


def _folder_digest(folder: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and not p.name.startswith(".")):
        size = path.stat().st_size
        digest.update(f"{path.relative_to(folder).as_posix()}\0{size}\0".encode())
        with path.open("rb") as handle:
            if size <= _SMALL_FILE:
                digest.update(handle.read())
            else:
                digest.update(handle.read(1 << 20))
                handle.seek(size - (1 << 20))
                digest.update(handle.read(1 << 20))
    return digest.hexdigest()[:32]
