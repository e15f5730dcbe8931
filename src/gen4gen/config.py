"""Run configuration: one validated YAML/TOML file plus ``--set key=value`` overrides.

Each stage section has the stage's own keys and a ``backend``; every other key in the section belongs to that
backend and is validated by the backend's ``Options`` model, so an unknown key is an error naming it. Secrets are
never configuration: backends read them from environment variables.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from gen4gen.errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from gen4gen import hf
from gen4gen.backends import DEFAULTS, REGISTRY, UnknownBackend, backend_class
from gen4gen.backends.base import BackendOptions
from gen4gen.checks.limits import (
    CaptionLimits,
    ClipLimits,
    CutoutLimits,
    DetectorLimits,
    DuplicateLimits,
    IdentityLimits,
    LayoutLimits,
    SeamLimits,
)
from gen4gen.exporters.registry import check_format


class _Section(BaseModel):
    """A stage section: its own fields plus the chosen backend's options as extra keys."""

    model_config = ConfigDict(extra="allow", validate_assignment=True)
    backend: str

    def backend_options(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class SegmentConfig(_Section):
    backend: str = DEFAULTS["segment"]
    rounds: int = Field(
        3, ge=1, le=5, strict=True, description="segmentation rounds; each re-segments the previous cut-out"
    )
    use_alpha: bool = Field(
        True, strict=True, description="use a photo's own alpha channel as the mask when it has one"
    )
    min_area: float = Field(
        0.005, ge=0, lt=1, strict=True, description="smallest mask, as a fraction of the photo, accepted"
    )


class ComposeConfig(_Section):
    backend: str = DEFAULTS["compose"]
    canvas: int = Field(1024, ge=64, le=4096, strict=True, description="square canvas side in pixels")
    flip_p: float = Field(0.5, ge=0, le=1, strict=True, description="probability of mirroring a cut-out")
    max_rotation_deg: float = Field(5.0, ge=0, le=45, strict=True, description="largest random in-plane rotation")
    max_shift_frac: float = Field(
        0.03, ge=0, le=0.25, strict=True, description="largest random shift, fraction of the box"
    )
    min_visible: float = Field(
        0.6, ge=0, le=1, strict=True, description="reject a sample where a concept is more hidden"
    )


class RepaintConfig(_Section):
    backend: str = DEFAULTS["repaint"]


class CaptionConfig(_Section):
    backend: str = DEFAULTS["caption"]
    max_words: int = Field(30, ge=5, le=200, strict=True, description="captions are limited to this many words")


class ExportConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    contact_sheet: bool = Field(True, strict=True, description="write contact_sheet.jpg with the accepted samples")
    formats: list[str] = Field(
        default_factory=list,
        description="training-ready exports `run` and `export` also write, each to RUN_DIR/exports/<format>",
    )
    include_flagged: bool = Field(
        False, strict=True, description="also export samples a check or a person flagged"
    )
    caption: Literal["detailed", "short"] = Field(
        "detailed", description="training caption: the grounded caption with tokens, or '<new1> cat and ...'"
    )
    tokens: Literal["auto", "none"] | dict[str, str] = Field(
        "auto", description="modifier token per concept: auto (<new1>, <new2>...), none, or {concept id: token}"
    )
    global_token: str = Field(
        "", strict=True, description="composition token prepended to every training caption (e.g. <g*>)"
    )
    repeat_concepts: int = Field(
        0, ge=0, le=10, strict=True, description="times the concept tokens are repeated at the end"
    )
    shard_size: int = Field(1000, ge=1, le=1_000_000, strict=True, description="samples per webdataset shard")
    link: bool = Field(True, strict=True, description="hard-link files from the run folder (false: copy them)")
    png_level: int | None = Field(
        None,
        ge=0,
        le=9,
        strict=True,
        description="zlib level of exported PNG images (9: smallest files, slowest); unset: the run folder's "
        "images as written (fast level 1), hard-linked",
    )
    kohya_repeats: int = Field(
        10, ge=1, le=10_000, strict=True, description="kohya folder repeats (img/<repeats>_<name>)"
    )
    kohya_masks: bool = Field(False, strict=True, description="kohya: also write union masks for --masked_loss")

    @field_validator("formats", mode="after")
    @classmethod
    def _known_formats(cls, formats: list[str]) -> list[str]:
        try:
            return list(dict.fromkeys(check_format(name) for name in formats))
        except ConfigError as exc:
            raise ValueError(str(exc)) from exc


class RayResources(BaseModel):
    """What each Ray actor of one stage reserves, and how many actors the stage gets."""

    model_config = ConfigDict(extra="forbid")
    num_cpus: float = Field(1.0, ge=0, le=256, strict=True, description="CPUs each actor of the stage reserves")
    num_gpus: float | None = Field(
        None,
        ge=0,
        le=16,
        strict=True,
        description="GPUs each actor reserves (none: 1 for a backend with a device option other than cpu when "
        "the cluster has GPUs, else 0)",
    )
    actors: int = Field(
        0,
        ge=0,
        le=1024,
        strict=True,
        description="actors of the stage (0: one per GPU, or per num_cpus CPUs, of the cluster; 1 for a backend "
        "that runs one copy per machine, such as an endpoint client)",
    )


class RayConfig(BaseModel):
    """The Ray executor: where the cluster is, how files travel, what each stage's actors reserve."""

    model_config = ConfigDict(extra="forbid")
    address: str | None = Field(
        None,
        min_length=1,
        max_length=512,
        strict=True,
        description="cluster to join: host:port, ray://host:port or auto (none: $RAY_ADDRESS, else a new local "
        "instance) (--ray-address)",
    )
    shared_fs: bool = Field(
        True,
        strict=True,
        description="the run folder is on a file system every node mounts at the same path (false: files travel "
        "to and from the actors through the driver)",
    )
    in_flight: int = Field(
        2, ge=1, le=16, strict=True, description="batches queued per actor at once (back-pressure)"
    )
    max_retries: int = Field(
        3, ge=0, le=100, strict=True, description="times one batch is redone after losing its actor"
    )
    segment: RayResources = RayResources()
    compose: RayResources = RayResources()
    repaint: RayResources = RayResources()
    caption: RayResources = RayResources()


class ExecutorConfig(BaseModel):
    """Where the stages' work runs (--executor); a plain string is the kind (``executor: ray``)."""

    model_config = ConfigDict(extra="forbid")
    kind: Literal["local", "process", "ray"] | None = Field(
        None,
        description="local (this process), process (a pool of `workers` processes) or ray (actors on a Ray "
        "cluster) (none: local for workers=1, process otherwise) (--executor)",
    )
    ray: RayConfig = RayConfig()

    @model_validator(mode="before")
    @classmethod
    def _kind_alone(cls, data: Any) -> Any:
        return {"kind": data} if isinstance(data, str) else data


class CurateConfig(BaseModel):
    """The curate stage: automatic checks, each with its thresholds (see docs/curation.md)."""

    model_config = ConfigDict(extra="forbid")
    enabled: bool = Field(True, strict=True, description="`gen4gen run` checks every sample before export")
    skip_rejected_cutouts: bool = Field(
        True, strict=True, description="compose leaves out the cut-outs the cut-out check rejects"
    )
    report: bool = Field(True, strict=True, description="write RUN_DIR/report.html after `run` and `curate`")
    detector: str | None = Field(
        None, min_length=1, description="OWL-ViT detector (local folder or hub id) for the detection check"
    )
    clip_model: str | None = Field(
        None, min_length=1, description="CLIP model (local folder or hub id) for the clip similarity check"
    )
    detector_threshold: float = Field(
        0.1, ge=0, lt=1, strict=True, description="detector score a box must exceed to count"
    )
    query_template: str = Field(
        "a photo of a {}", min_length=2, strict=True, description="detector query; {} is the concept's name"
    )
    device: hf.Device = Field("auto", description=hf.DEVICE_HELP)
    dtype: hf.DType = Field("fp32", description="model weights dtype: fp32, fp16, bf16 or auto")
    batch_size: int = Field(16, ge=1, le=1024, strict=True, description="samples per model call")
    cutout: CutoutLimits = CutoutLimits()
    layout: LayoutLimits = LayoutLimits()
    identity: IdentityLimits = IdentityLimits()
    seams: SeamLimits = SeamLimits()
    caption: CaptionLimits = CaptionLimits()
    duplicate: DuplicateLimits = DuplicateLimits()
    detection: DetectorLimits = DetectorLimits()
    clip: ClipLimits = ClipLimits()

    @field_validator("query_template")
    @classmethod
    def _one_placeholder(cls, value: str) -> str:
        if value.count("{}") != 1 or value.replace("{}", "").count("{") or value.replace("{}", "").count("}"):
            raise ValueError("needs exactly one {} placeholder (the concept's name), e.g. 'a photo of a {}'")
        return value


class RunConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    seed: int = Field(0, ge=0, strict=True, description="run seed; every item's seed derives from it")
    samples: int = Field(
        8, ge=1, le=1_000_000, strict=True, description="accepted samples to make per composition"
    )
    batch_size: int = Field(8, ge=1, le=1024, strict=True, description="items handed to a backend at once")
    workers: int = Field(
        0,
        ge=0,
        le=64,
        strict=True,
        description="processes for CPU-bound stages (1: this one; 0: one per core, at most 8, started only "
        "when a stage's work outweighs starting them)",
    )
    executor: ExecutorConfig = ExecutorConfig()
    segment: SegmentConfig = SegmentConfig()
    compose: ComposeConfig = ComposeConfig()
    repaint: RepaintConfig = RepaintConfig()
    caption: CaptionConfig = CaptionConfig()
    export: ExportConfig = ExportConfig()
    curate: CurateConfig = CurateConfig()

    @field_validator("segment", "compose", "repaint", "caption", mode="after")
    @classmethod
    def _known_backend(cls, section: _Section, info: Any) -> _Section:
        if section.backend not in REGISTRY[info.field_name]:
            names = ", ".join(sorted(REGISTRY[info.field_name]))
            raise ValueError(f"unknown backend {section.backend!r}; available: {names}")
        return section

    def stage_section(self, kind: str) -> _Section:
        section: _Section = getattr(self, kind)
        return section

    def backend_options(self, kind: str) -> BackendOptions:
        """The chosen backend's validated options for stage ``kind`` (raises ConfigError naming the key)."""
        section = self.stage_section(kind)
        try:
            cls = backend_class(kind, section.backend)
        except UnknownBackend as exc:
            raise ConfigError(str(exc)) from exc
        own = set(type(section).model_fields) - {"backend"}
        clash = sorted(own & set(cls.Options.model_fields))
        if clash:  # a backend option would shadow (or be shadowed by) the stage's key of the same name
            raise ConfigError(
                f"{kind} backend {section.backend!r} declares option(s) {', '.join(clash)} that the {kind} stage "
                "already has; rename the backend option"
            )
        try:
            return cls.Options.model_validate(section.backend_options())
        except ValidationError as exc:
            raise ConfigError(
                _describe(
                    exc,
                    prefix=f"{kind}.",
                    backend=section.backend,
                    options=cls.Options,
                    own=tuple(type(section).model_fields),
                )
            ) from exc

    def settings(self, kind: str) -> dict[str, Any]:
        """One stage's section in its canonical form (own keys and every backend option, defaults filled), for
        fingerprints: the same however the config was given (command line, file or a run folder's config.yaml)."""
        section = self.stage_section(kind)
        data: dict[str, Any] = section.model_dump(mode="json", exclude=set(section.backend_options()))
        data.update(self.backend_options(kind).model_dump(mode="json"))
        return data

    def resolved(self) -> dict[str, Any]:
        """Everything, defaults included, with each backend's options filled in (for RUN_DIR/config.yaml)."""
        data = self.model_dump(mode="json")
        for kind in DEFAULTS:
            data[kind].update(self.backend_options(kind).model_dump(mode="json"))
        return data


def _describe(
    exc: ValidationError,
    prefix: str = "",
    backend: str | None = None,
    options: type[BaseModel] | None = None,
    own: tuple[str, ...] = (),
) -> str:
    """One line per problem, each naming the dotted key; an unknown key comes with the valid ones (the stage's
    own keys ``own`` and the backend's ``options``, or the keys of the section it was found in)."""
    lines = []
    for error in exc.errors():
        key = prefix + ".".join(str(p) for p in error["loc"])
        if error["type"] == "extra_forbidden":
            if options is not None:
                owner = f"backend {backend!r}" if backend else "this section"
                valid = ", ".join(options.model_fields)
                if own:
                    stage = prefix.rstrip(".") or "this"
                    valid = f"{', '.join(own)} (the {stage} stage's); {valid or 'none'} (the {backend} backend's)"
            else:
                owner = "this section" if len(error["loc"]) > 1 else "the config"
                valid = ", ".join(_section_keys(error["loc"][:-1]))
            lines.append(f"config: unknown key {key!r} for {owner}" + (f"; valid keys: {valid}" if valid else ""))
        elif error["type"] == "value_error":  # a validator's own message says what is wrong (and never echoes
            # a value that may hold a secret, such as a URL with a password)
            lines.append(f"config: {key}: {error['msg'].removeprefix('Value error, ')}")
        else:
            got = error.get("input")
            shown = f" (got {got!r})" if got is not None and not isinstance(got, dict) else ""
            lines.append(f"config: {key}: {error['msg']}{shown}")
    return "; ".join(lines)


def _section_keys(loc: tuple[int | str, ...]) -> list[str]:
    """The keys of the config section at ``loc`` (the top level for ``()``); none when it is not a section."""
    model: type[BaseModel] = RunConfig
    for part in loc:
        field = model.model_fields.get(str(part))
        annotation = field.annotation if field is not None else None
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return []
        model = annotation
    return list(model.model_fields)


def read_config_file(path: Path) -> dict[str, Any]:
    """Parse a YAML or TOML config file into a dict (ConfigError naming the file on any problem)."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"{path}: not UTF-8 text (byte 0x{exc.object[exc.start]:02x} at offset {exc.start}); "
            "save the config as UTF-8"
        ) from exc
    except OSError as exc:
        why = "a folder, not a file" if path.is_dir() else exc.strerror
        raise ConfigError(f"{path}: cannot read config ({why}); check the path") from exc
    try:
        data = tomllib.loads(text) if path.suffix.lower() == ".toml" else yaml.safe_load(text)
    except (tomllib.TOMLDecodeError, yaml.YAMLError) as exc:
        first = str(exc).splitlines()[0]
        raise ConfigError(f"{path}: not valid {'TOML' if path.suffix == '.toml' else 'YAML'} ({first})") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the config must be a mapping of sections (segment:, compose:, ...)")
    return data


def apply_override(data: dict[str, Any], assignment: str) -> None:
    """Apply one ``a.b=value`` override in place; the value is parsed as a YAML scalar (1, 0.5, true, text)."""
    key, sep, raw = assignment.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"--set {assignment!r}: expected KEY=VALUE, e.g. --set repaint.backend=noise")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    parts = key.strip().split(".")
    node = data
    for part in parts[:-1]:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ConfigError(f"--set {assignment!r}: {part!r} is a value, not a section")
        node = child
    node[parts[-1]] = value


def load_config(
    path: Path | None = None, overrides: list[str] | tuple[str, ...] = (), base: dict[str, Any] | None = None
) -> RunConfig:
    """Defaults < ``base`` < file < overrides, validated; every backend's options checked too."""
    data: dict[str, Any] = dict(base or {})
    if path is not None:
        data = _merge(data, read_config_file(path))
    for assignment in overrides:
        apply_override(data, assignment)
    try:
        config = RunConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_describe(exc)) from exc
    for kind in DEFAULTS:
        config.backend_options(kind)
    return config


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


EXAMPLE_CONFIG = """\
# gen4gen run configuration (YAML; TOML works too). Every key is optional.
# Use with: gen4gen run SRC --out RUN_DIR --config gen4gen.yaml [--set compose.canvas=768 ...]

seed: 0            # run seed; every item's seed derives from it (same inputs + config + seed -> same bytes)
samples: 8         # accepted samples per composition (-n on the command line)
batch_size: 8      # items handed to a backend at once (LLM concurrency, GPU batches)
workers: 0         # processes for CPU-bound stages (1: this one; 0: one per CPU core, when it pays) (--workers)

executor:
  kind: null       # local | process | ray (--executor); null: local for one worker, process otherwise
  ray:             # actors on a Ray cluster (pip install 'gen4gen[ray]'; see docs/architecture.md)
    address: null  # host:port, ray://host:port or auto; null: $RAY_ADDRESS, else a local instance (--ray-address)
    shared_fs: true # every node mounts the run folder at the same path (false: files travel via the driver)
    repaint: {num_cpus: 1, num_gpus: null, actors: 0} # also segment, compose, caption; null GPUs: 1 if used

segment:
  backend: grabcut # grabcut (weight-free) | alpha (photo alpha or side-car mask) | isnet | rembg
  rounds: 3        # re-segment the previous cut-out; the best round is picked by a quality score
  use_alpha: true  # a photo with a real alpha channel is already a cut-out

compose:
  backend: prior   # prior (real-world size priors, offline) | llm (any OpenAI-compatible endpoint)
  canvas: 1024
  flip_p: 0.5
  max_rotation_deg: 5
  max_shift_frac: 0.03
  min_visible: 0.6 # reject samples where a concept is hidden behind others more than this

repaint:
  backend: scene   # scene (photos from a folder or built-in scenes, offline) | noise | sdxl | sd
  # backgrounds: path/to/BKG   # BKG/<scene>/<photos>; the folder name is the scene ("garden")

caption:
  backend: template # template (grounded in the layout, offline) | vlm | transformers
  max_words: 30

export:
  contact_sheet: true
  formats: []          # also write these on every run: hf, coco, webdataset, custom-diffusion, dreambooth, kohya
  include_flagged: false
  caption: detailed    # detailed (the grounded caption with tokens) | short ("<new1> cat and <new2> dog ...")
  tokens: auto         # auto (<new1>, <new2>... by concept id) | none | {dog1: "<sks> dog", cat: "<ktn> cat"}
  global_token: ""     # e.g. "<g*>", prepended to every training caption
  repeat_concepts: 0   # append ", <new1> cat, <new2> dog" this many times
  shard_size: 1000     # webdataset samples per shard
  link: true           # hard-link files from the run folder into exports (false: copy)
  png_level: null      # 0-9: re-encode exported PNG images at this zlib level (9: smallest); null: link them
  kohya_repeats: 10
  kohya_masks: false   # kohya: union masks for --masked_loss

curate:                # automatic checks after caption (docs/curation.md); `gen4gen curate RUN_DIR` re-judges
  enabled: true
  skip_rejected_cutouts: true # compose leaves out cut-outs the cut-out check rejects
  report: true         # RUN_DIR/report.html
  detector: null       # OWL-ViT folder or hub id: every concept detected where it was placed
  clip_model: null     # CLIP folder or hub id: every concept's crop like its photos
  # thresholds: {flag: X, reject: Y} per score; a min score is bad below, a max score above; null: off
  cutout: {open: {flag: 0.12, reject: 0.18}, pieces: {flag: 0.95, reject: 0.8}}
  layout: {size_ratio: {flag: 5, reject: 20}, enlargement: {flag: 5, reject: 20}}
  identity: {psnr: {flag: 40, reject: 35}, ssim: {flag: 0.97, reject: 0.9}}
  seams: {halo: {flag: 8, reject: 15}, leak: {flag: 8, reject: 15}}
  duplicate: {distance: {flag: 8, reject: 3}}
"""
