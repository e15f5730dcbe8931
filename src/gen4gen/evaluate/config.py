"""``gen4gen eval`` settings: the ``eval:`` section of a config file plus ``--set eval.KEY=VALUE`` overrides."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from string import Formatter
from typing import Any, Literal

from pydantic import Field, ValidationError, field_validator

from gen4gen import hf
from gen4gen.config import _describe, apply_override, read_config_file
from gen4gen.errors import ConfigError
from gen4gen.options import StrictOptions

SECTION = "eval"
DEFAULT_CLIP = "openai/clip-vit-base-patch32"
DEFAULT_DETECTOR = "google/owlvit-base-patch32"
DEFAULT_TEMPLATE = "a photo of a {}"


class EvalConfig(StrictOptions):
    """Every setting of ``gen4gen eval`` (unknown keys are errors)."""

    clip_model: str = Field(
        DEFAULT_CLIP, min_length=1, description="CLIP model for the similarities: a local folder or a hub id"
    )
    detector: str = Field(
        DEFAULT_DETECTOR, min_length=1, description="OWL-ViT detector: a local folder or a hub id"
    )
    boxes: Literal["detect", "given"] = Field(
        "detect",
        description="detect: find the concepts with the detector; given: use the boxes of metadata.jsonl "
        "(oracle CP-CLIP)",
    )
    query_template: str = Field(
        DEFAULT_TEMPLATE, min_length=2, description="detector text query; {} is replaced by the class word"
    )
    threshold: float = Field(0.1, ge=0, lt=1, description="detector score a box must exceed to count")
    nms_iou: float = Field(
        0.5, gt=0, le=1, description="IoU above which a box is suppressed among boxes of a repeated class word"
    )
    references: Literal["photos", "cutouts"] = Field(
        "photos",
        description="with a run folder as --concepts: compare with its source photos or with its cut-outs",
    )
    ti_text: Literal["background", "prompt"] = Field(
        "background",
        description="TI-CLIP text: the background (scene) text, falling back to the prompt; or the prompt",
    )
    batch_size: int = Field(16, ge=1, le=1024, description="images per model call")
    device: hf.Device = Field("auto", description=hf.DEVICE_HELP)
    dtype: hf.DType = Field(
        "fp32", description="weights dtype: fp32 (default, the reference numbers), fp16, bf16 or auto"
    )

    @field_validator("query_template")
    @classmethod
    def _one_placeholder(cls, value: str) -> str:
        try:
            fields = [name for _, name, _, _ in Formatter().parse(value) if name is not None]
        except ValueError as exc:
            raise ValueError(f"not a valid template ({exc}); write {{{{ and }}}} for literal braces") from None
        if fields != [""]:
            raise ValueError("needs exactly one {} placeholder (the class word), e.g. 'a photo of a {}'")
        return value

    def scoring_settings(self) -> dict[str, Any]:
        """The settings that change scores (batch size and device do not), for the resume fingerprint."""
        return self.model_dump(mode="json", exclude={"batch_size", "device"})


def load_eval_config(path: Path | None = None, overrides: Sequence[str] = ()) -> EvalConfig:
    """Defaults < the file's ``eval:`` section < ``--set eval.KEY=VALUE``; ConfigError naming the key."""
    section: Any = {}
    if path is not None:
        section = read_config_file(path).get(SECTION) or {}
        if not isinstance(section, dict):
            raise ConfigError(f"{path}: the {SECTION}: section must be a mapping of keys (threshold: 0.1, ...)")
    tree: dict[str, Any] = {SECTION: dict(section)}
    for assignment in overrides:
        key = assignment.partition("=")[0].strip()
        if not key.startswith(SECTION + "."):
            raise ConfigError(
                f"--set {assignment!r}: gen4gen eval takes {SECTION}.KEY=VALUE, e.g. --set {SECTION}.threshold=0.2"
            )
        apply_override(tree, assignment)
    try:
        return EvalConfig.model_validate(tree[SECTION])
    except ValidationError as exc:
        raise ConfigError(_describe(exc, prefix=SECTION + ".", options=EvalConfig)) from exc
