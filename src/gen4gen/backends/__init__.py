"""Backend registry: stage kind -> backend name -> ``module:Class``, imported only when chosen.

Lazy import strings keep heavy dependencies (torch, diffusers, onnxruntime) out of the default path and let the
CLI list every backend without importing any.
"""

from __future__ import annotations

import importlib
from typing import Any

from gen4gen.backends.base import Backend, BackendUnavailable
from gen4gen.errors import UnknownBackend

REGISTRY: dict[str, dict[str, str]] = {
    "segment": {
        "grabcut": "gen4gen.backends.segment.grabcut:GrabCutSegmenter",
        "alpha": "gen4gen.backends.segment.alpha:AlphaSegmenter",
        "isnet": "gen4gen.backends.segment.isnet:ISNetSegmenter",
        "rembg": "gen4gen.backends.segment.rembg:RembgSegmenter",
    },
    "compose": {
        "prior": "gen4gen.backends.compose.prior:PriorPlanner",
        "llm": "gen4gen.backends.compose.llm:LLMPlanner",
    },
    "repaint": {
        "scene": "gen4gen.backends.repaint.scene:SceneInpainter",
        "noise": "gen4gen.backends.repaint.noise:NoiseInpainter",
        "sdxl": "gen4gen.backends.repaint.diffusion:SDXLInpainter",
        "sd": "gen4gen.backends.repaint.diffusion:SDInpainter",
    },
    "caption": {
        "template": "gen4gen.backends.caption.template:TemplateCaptioner",
        "vlm": "gen4gen.backends.caption.vlm:VLMCaptioner",
        "transformers": "gen4gen.backends.caption.local:TransformersCaptioner",
    },
}

DEFAULTS = {"segment": "grabcut", "compose": "prior", "repaint": "scene", "caption": "template"}

#: backends a stage builds from its own config section, never chosen with ``<stage>.backend`` (so not listed or
#: validated as a stage's backend): the curate stage's checks, one copy per worker or, with a model, one in all
STAGE_OWNED: dict[str, dict[str, str]] = {
    "curate": {
        "checks": "gen4gen.checks.suite:CheckSuite",
        "model-checks": "gen4gen.checks.suite:ModelCheckSuite",
    },
}


def backend_class(kind: str, name: str) -> type[Backend]:
    """The class registered as ``name`` for stage ``kind``; a clear error lists the available names."""
    table = REGISTRY[kind] if kind in REGISTRY else STAGE_OWNED[kind]
    if name not in table:
        raise UnknownBackend(
            f"unknown {kind} backend {name!r}; available: {', '.join(sorted(table))} (set {kind}.backend=NAME)"
        )
    module_name, _, class_name = table[name].partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.split(".")[0] == "gen4gen":
            raise
        raise BackendUnavailable(
            f"{kind} backend {name!r} needs the Python package {exc.name!r}: pip install 'gen4gen[neural]'"
        ) from exc
    cls: type[Backend] = getattr(module, class_name)
    return cls


def build_backend(kind: str, name: str, options: dict[str, Any]) -> Backend:
    """Instantiate a backend from its validated options (pydantic raises on unknown or bad keys)."""
    cls = backend_class(kind, name)
    return cls(cls.Options.model_validate(options))
