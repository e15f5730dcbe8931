"""Background repainting with diffusers inpainting: SDXL (``sdxl``, optional refiner) and SD-1.5 (``sd``).

What is repainted: everything but the concepts. The instance masks' union is blurred and stretched
(``keep = clip(2·blur(union) - 1, 0, 1)``), so the kept region shrinks inside each concept edge and the feathering
lies inside the concept, never on the background; the model repaints ``1 - keep``. After inpainting the concept
pixels are composited back with the union mask (on by default; the seed let the model redraw the concepts, which
is how a cup became a lamp), so concepts stay exactly as pasted.

Reproducibility: each sample draws its noise from its own CPU ``torch.Generator`` seeded with the request's seed,
so a sample's noise does not depend on the device or on the other samples of its batch. The same inputs, seed,
options, device and batch give the same bytes.

Weights come from a local folder or the Hugging Face cache (a hub id downloads into the cache when online; with
``HF_HUB_OFFLINE=1`` only the cache is used). Pipelines are loaded once per process per configuration.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import Field, field_validator

from gen4gen import hf
from gen4gen.backends.base import (
    BackendOptions,
    BackendUnavailable,
    Inpainter,
    ItemError,
    RepaintRequest,
    RepaintResult,
)
from gen4gen.backends.repaint.scene import BackgroundsFolder, SceneInpainter
from gen4gen.geometry.masks import CanvasMask
from gen4gen.geometry.masks import union as union_of

DEFAULT_SCENE = "in a garden"
DEFAULT_NEGATIVE = (
    "blurry, low quality, distorted, deformed, cartoon, painting, drawing, text, watermark, extra objects"
)

MODEL_HELP = "inpainting model: a local diffusers folder or a Hugging Face hub id"
SIZE_HELP = "longer side (px) of the working resolution"

_PIPELINES: dict[tuple[Any, ...], Any] = {}
_LOCK = threading.Lock()


def feather_masks(instance_masks: list[np.ndarray], blur_px: float) -> tuple[np.ndarray, np.ndarray]:
    """(union, keep) float32: ``keep`` is the union blurred by ``blur_px`` and stretched to stay inside it."""
    import cv2

    union = np.clip(np.max(np.stack(instance_masks), axis=0), 0.0, 1.0).astype(np.float32)
    if blur_px <= 0:
        return union, union.copy()
    blurred = cv2.GaussianBlur(union, (0, 0), sigmaX=blur_px, sigmaY=blur_px, borderType=cv2.BORDER_REPLICATE)
    keep = np.minimum(np.clip(2.0 * blurred - 1.0, 0.0, 1.0), union)
    return union, keep


def resize(array: np.ndarray, width: int, height: int) -> np.ndarray:
    """Area interpolation when shrinking, cubic when enlarging (uint8 or float32)."""
    import cv2

    if array.shape[1] == width and array.shape[0] == height:
        return array
    shrink = width * height < array.shape[0] * array.shape[1]
    out = cv2.resize(array, (width, height), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_CUBIC)
    return np.clip(out, 0, 1) if out.dtype == np.float32 else out


def working_size(height: int, width: int, size: int, multiple: int) -> tuple[int, int]:
    """(width, height) with the longer side ``size`` and both sides multiples of ``multiple``."""
    scale = size / max(height, width)
    w = max(multiple, round(width * scale / multiple) * multiple)
    h = max(multiple, round(height * scale / multiple) * multiple)
    return w, h


def folder_fingerprint(folder: Path) -> str:
    """sha256 over the relative paths and sizes of a local model folder (cheap; weights are not read)."""
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        digest.update(f"{path.relative_to(folder).as_posix()}:{path.stat().st_size}\n".encode())
    return digest.hexdigest()


def load_component(loader: Any, spec: str, what: str, **kwargs: Any) -> Any:
    """``loader.from_pretrained(spec)`` from a local folder or the HF cache; BackendUnavailable if absent."""
    return hf.load_pretrained(
        lambda source: loader.from_pretrained(source, local_files_only=hf.local_files_only(), **kwargs),
        spec,
        what,
        "diffusers model",
    )


@dataclass
class _Prepared:
    request: RepaintRequest
    scene: str
    prompt: str
    init: Any  # PIL RGB at working size
    mask: Any  # PIL L at working size: white = repaint
    union: CanvasMask  # uint8 crop on the request's composite
    repaint_fraction: float


class DiffusionInpainter(Inpainter):
    """Shared machinery of the SDXL and SD inpainters; subclasses name the pipeline class and defaults."""

    version = "1"
    pipeline_class: ClassVar[str]
    process_parallel = False  # one pipeline on one GPU, batched
    batches = True
    supports_refiner: ClassVar[bool] = False

    options: Options

    class Options(BackendOptions):
        model: str = Field(min_length=1, description=MODEL_HELP)
        revision: str | None = Field(None, min_length=1, description="hub revision (branch, tag or commit)")
        variant: str | None = Field(None, min_length=1, description='weight variant, e.g. "fp16"')
        vae: str | None = Field(
            None, min_length=1, description="replacement VAE folder or hub id, e.g. madebyollin/sdxl-vae-fp16-fix"
        )
        refiner: str | None = Field(
            None,
            min_length=1,
            description="SDXL refiner folder or hub id, e.g. stabilityai/stable-diffusion-xl-refiner-1.0",
        )
        refiner_from: float = Field(
            0.75, gt=0, lt=1, description="fraction of the denoising done by the base model before the refiner"
        )
        steps: int = Field(60, ge=1, le=1000, description="denoising steps (of which strength x steps are run)")
        guidance: float = Field(
            6.0, ge=0, le=50, description="classifier-free guidance scale (1 or less: no guidance)"
        )
        strength: float = Field(
            0.9, gt=0, le=1, description="how much of the starting image is replaced (1: all of the background)"
        )
        prompt: str = Field(
            "a realistic photo {scene}",
            min_length=1,
            description='prompt; {scene} is a phrase like "in a garden", {concepts} the concept names',
        )
        negative_prompt: str = Field(DEFAULT_NEGATIVE, description="what to steer away from (empty: nothing)")
        default_scene: str = Field(DEFAULT_SCENE, min_length=1, description="scene of a sample that has none")
        size: int = Field(1024, ge=64, le=4096, description=SIZE_HELP)
        init: Literal["scene", "composite", "noise", "blur"] = Field(
            "scene",
            description="starting background: scene (a photo from backgrounds, or a built-in scene, with the "
            "concepts harmonised and shadowed, blurred by scene_blur), composite (concepts on black), noise, "
            "or blur (a blurred composite)",
        )
        backgrounds: BackgroundsFolder = Field(
            None, description="folder of scene photos BKG/<scene>/<photos> for init=scene; none: built-in scenes"
        )
        scene_blur: float = Field(8.0, ge=0, le=50, description="gaussian blur (px) of the init=scene background")
        mask_blur: float = Field(
            8.0, ge=0, le=100, description="feathering of the kept concepts: gaussian sigma in px at 1024"
        )
        composite_back: bool = Field(True, description="paste the concept pixels back after inpainting")
        dtype: hf.DType = Field("auto", description=hf.DTYPE_HELP)
        device: hf.Device = Field("auto", description=hf.DEVICE_HELP)
        batch_size: int = Field(1, ge=1, le=64, description="samples per pipeline call")
        attention_slicing: bool = Field(False, description="sliced attention: less GPU memory, slower")
        vae_slicing: bool = Field(False, description="decode a batch one image at a time: less GPU memory")
        vae_tiling: bool = Field(False, description="decode in tiles: less GPU memory for large images")
        cpu_offload: bool = Field(
            False, description="model CPU offload (needs accelerate and a GPU): least GPU memory, slower"
        )
        channels_last: bool = Field(True, description="channels-last UNet memory layout (faster on GPUs)")
        fuse_qkv: bool = Field(False, description="fused attention projections (faster on GPUs)")
        compile: bool = Field(False, description="torch.compile the UNet (slow first call)")

        @field_validator("prompt")
        @classmethod
        def _known_placeholders(cls, value: str) -> str:
            return hf.check_template(value, ("scene", "concepts"))

    def __init__(
        self, options: BackendOptions | None = None, *, pipeline: Any = None, refiner: Any = None
    ) -> None:
        """Load the pipeline(s) named by the options, or use ``pipeline``/``refiner`` built by the caller."""
        super().__init__(options)
        opts = self.options
        self._scene: SceneInpainter | None = None
        if opts.refiner and not self.supports_refiner:
            raise BackendUnavailable(f"repaint backend {self.name!r} has no refiner; use sdxl for refiner=...")
        if opts.init == "scene":
            self._scene_start()  # a backgrounds folder without usable photos fails here, before any weights load
        try:
            import diffusers  # noqa: F401
            import torch  # noqa: F401
        except ModuleNotFoundError as exc:
            raise BackendUnavailable(
                f"repaint backend {self.name!r} needs torch and diffusers: pip install 'gen4gen[neural]'"
            ) from exc
        self.device = hf.resolve_device(opts.device)
        self.dtype = hf.resolve_dtype(opts.dtype, self.device)
        if pipeline is None:
            pipeline, refiner = self._load()
        else:
            self._prepare(pipeline)
            if refiner is not None:
                self._prepare(refiner)
        self.pipe, self.refiner = pipeline, refiner

    def _cache_key(self) -> tuple[Any, ...]:
        opts = self.options
        return (
            self.pipeline_class,
            opts.model,
            opts.revision,
            opts.variant,
            opts.vae,
            opts.refiner,
            self.device,
            str(self.dtype),
            opts.attention_slicing,
            opts.vae_slicing,
            opts.vae_tiling,
            opts.cpu_offload,
            opts.channels_last,
            opts.fuse_qkv,
            opts.compile,
        )

    def _load(self) -> tuple[Any, Any]:
        import diffusers

        key = self._cache_key()
        with _LOCK:
            if key in _PIPELINES:
                return _PIPELINES[key]
            opts = self.options
            common = {"dtype": self.dtype, "revision": opts.revision, "variant": opts.variant}
            extra = {}
            if opts.vae:
                extra["vae"] = load_component(diffusers.AutoencoderKL, opts.vae, "repaint.vae", dtype=self.dtype)
            cls = getattr(diffusers, self.pipeline_class)
            pipe = load_component(cls, opts.model, "repaint.model", **common, **extra)
            refiner = None
            if opts.refiner:
                # The refiner shares the base's second text encoder and VAE, as in the diffusers recipe.
                refiner = load_component(
                    cls,
                    opts.refiner,
                    "repaint.refiner",
                    dtype=self.dtype,
                    text_encoder_2=pipe.text_encoder_2,
                    vae=pipe.vae,
                )
            self._prepare(pipe)
            if refiner is not None:
                self._prepare(refiner)
            _PIPELINES[key] = (pipe, refiner)
            return pipe, refiner

    def _prepare(self, pipe: Any) -> None:
        """Device placement and the speed/memory options."""
        import torch

        opts = self.options
        pipe.set_progress_bar_config(disable=True)
        if self.dtype != torch.float16 and pipe.vae.config.get("force_upcast"):
            # Only fp16 overflows in the SDXL VAE; bf16/fp32 skip the fp32 round trip diffusers does per call.
            pipe.vae.register_to_config(force_upcast=False)
        if opts.channels_last:
            pipe.unet.to(memory_format=torch.channels_last)
        if opts.fuse_qkv:
            pipe.fuse_qkv_projections()
        if opts.attention_slicing:
            pipe.enable_attention_slicing()
        if opts.vae_slicing:
            pipe.vae.enable_slicing()
        if opts.vae_tiling:
            pipe.vae.enable_tiling()
        if opts.cpu_offload:
            if self.device == "cpu":
                raise BackendUnavailable("repaint.cpu_offload needs a GPU device; drop it on the CPU")
            pipe.enable_model_cpu_offload(device=self.device)
        else:
            pipe.to(self.device)
        if opts.compile:
            pipe.unet.compile()

    # ------------------------------------------------------------------------------------------------- per item
    def _prompt(self, request: RepaintRequest, scene: str) -> str:
        names = [p.name for p in request.placements]
        concepts = ", ".join(names[:-1]) + (f" and {names[-1]}" if len(names) > 1 else (names[0] if names else ""))
        return self.options.prompt.format(scene=scene, concepts=concepts).strip()

    def _multiple(self) -> int:
        levels = len(self.pipe.unet.config.block_out_channels) - 1
        return int(self.pipe.vae_scale_factor) * 2**levels

    def _scene_start(self) -> SceneInpainter:
        """The offline scene repainter that makes the starting background for init="scene" (built once)."""
        if self._scene is None:
            self._scene = SceneInpainter(
                SceneInpainter.Options(
                    backgrounds=self.options.backgrounds, blur_background=self.options.scene_blur
                )
            )
        return self._scene

    def _prepare_item(self, request: RepaintRequest) -> _Prepared:
        import cv2
        from PIL import Image

        composite = request.composite
        if composite.ndim != 3 or composite.shape[2] != 3 or composite.dtype != np.uint8:
            raise ItemError(f"repaint needs an RGB uint8 composite, got {composite.dtype} {composite.shape}")
        if not request.instance_masks:
            raise ItemError("repaint needs at least one instance mask")
        height, width = composite.shape[:2]
        if not all(m.inside((width, height)) for m in request.instance_masks):
            raise ItemError("an instance mask reaches outside the composite")
        w, h = working_size(height, width, self.options.size, self._multiple())
        masks = [resize(m.soft().full((width, height)), w, h) for m in request.instance_masks]
        union, keep = feather_masks(masks, self.options.mask_blur * max(w, h) / 1024.0)
        scene = request.scene or self.options.default_scene
        if self.options.init == "scene":
            started = self._scene_start().repaint(request)
            composite, scene = started.image, started.scene
        image = resize(composite, w, h)
        if self.options.init == "noise":
            rng = np.random.default_rng(request.seed)
            noise = rng.integers(0, 256, size=image.shape, dtype=np.uint8)
            image = (union[..., None] * image + (1.0 - union[..., None]) * noise).round().astype(np.uint8)
        elif self.options.init == "blur":
            sigma = max(w, h) / 64.0
            blurred = cv2.GaussianBlur(image, (0, 0), sigmaX=sigma, sigmaY=sigma)
            image = (union[..., None] * image + (1.0 - union[..., None]) * blurred).round().astype(np.uint8)
        repaint = 1.0 - keep
        return _Prepared(
            request=request,
            scene=scene,
            prompt=self._prompt(request, scene),
            init=Image.fromarray(image),
            mask=Image.fromarray(np.clip(repaint * 255.0 + 0.5, 0, 255).astype(np.uint8)),
            union=union_of(request.instance_masks),
            repaint_fraction=round(float(repaint.mean()), 4),
        )

    def _call_kwargs(self, items: list[_Prepared]) -> dict[str, Any]:
        """Arguments shared by the base and refiner calls."""
        opts = self.options
        width, height = items[0].init.size
        return {
            "prompt": [p.prompt for p in items],
            "negative_prompt": [opts.negative_prompt] * len(items) if opts.negative_prompt else None,
            "mask_image": [p.mask for p in items],
            "height": height,
            "width": width,
            "num_inference_steps": opts.steps,
            "guidance_scale": opts.guidance,
            "strength": opts.strength,
        }

    def _generate(self, items: list[_Prepared]) -> list[np.ndarray]:
        """One pipeline call (plus the refiner's) for items of the same working size -> float images in [0, 1]."""
        import torch

        generators = [torch.Generator("cpu").manual_seed(int(p.request.seed) % 2**63) for p in items]
        kwargs = self._call_kwargs(items)
        with torch.inference_mode():
            if self.refiner is None:
                out = self.pipe(image=[p.init for p in items], generator=generators, output_type="np", **kwargs)
            else:
                latents = self.pipe(
                    image=[p.init for p in items],
                    generator=generators,
                    denoising_end=self.options.refiner_from,
                    output_type="latent",
                    **kwargs,
                ).images
                out = self.refiner(
                    image=latents,
                    generator=generators,
                    denoising_start=self.options.refiner_from,
                    output_type="np",
                    **kwargs,
                )
        flagged = getattr(out, "nsfw_content_detected", None) or [False] * len(items)
        images = []
        for image, nsfw in zip(out.images, flagged, strict=True):
            if nsfw:
                raise ItemError("the model's safety checker blanked this sample; change the scene or seed")
            images.append(np.nan_to_num(np.asarray(image, np.float32), nan=0.0))
        return images

    def _finish(self, item: _Prepared, generated: np.ndarray) -> RepaintResult:
        height, width = item.request.composite.shape[:2]
        image = resize(np.clip(generated, 0.0, 1.0).astype(np.float32), width, height) * 255.0
        if self.options.composite_back:
            alpha = item.union.soft().full((width, height))[..., None]
            image = alpha * item.request.composite.astype(np.float32) + (1.0 - alpha) * image
        out = np.clip(image + 0.5, 0, 255).astype(np.uint8)
        info = {
            "prompt": item.prompt,
            "negative_prompt": self.options.negative_prompt,
            "working_size": list(item.init.size),
            "steps": self.options.steps,
            "guidance": self.options.guidance,
            "strength": self.options.strength,
            "refiner_from": self.options.refiner_from if self.refiner is not None else None,
            "init": self.options.init,
            "repaint_fraction": item.repaint_fraction,
            "composite_back": self.options.composite_back,
        }
        return RepaintResult(image=out, scene=item.scene, info=info)

    def repaint(self, request: RepaintRequest) -> RepaintResult:
        return self.repaint_batch([request])[0]

    def repaint_batch(self, requests: list[RepaintRequest]) -> list[RepaintResult]:
        """Requests grouped by working size and run ``batch_size`` at a time; results in request order."""
        prepared = [self._prepare_item(r) for r in requests]
        groups: dict[tuple[int, int], list[int]] = {}
        for index, item in enumerate(prepared):
            groups.setdefault(item.init.size, []).append(index)
        results: list[RepaintResult | None] = [None] * len(requests)
        step = max(1, self.options.batch_size)
        for indices in groups.values():
            for start in range(0, len(indices), step):
                chunk = indices[start : start + step]
                images = self._generate([prepared[i] for i in chunk])
                for i, image in zip(chunk, images, strict=True):
                    results[i] = self._finish(prepared[i], image)
        return [r for r in results if r is not None]

    # ------------------------------------------------------------------------------------------------ identity
    @staticmethod
    def _source(spec: str | None, pipe: Any) -> dict[str, Any] | None:
        if spec is None and pipe is None:
            return None
        path = Path(spec).expanduser() if spec else None
        revision = hf.snapshot_revision(str(getattr(pipe, "name_or_path", "") or ""))
        entry: dict[str, Any] = {"id": spec}
        if path is not None and path.is_dir():
            entry["path"] = str(path.resolve())
            entry["files_sha256"] = folder_fingerprint(path)
        elif revision is not None:
            entry["revision"] = revision
        return entry

    def identity(self) -> dict[str, Any]:
        import diffusers
        import torch

        return {
            **super().identity(),
            "pipeline": type(self.pipe).__name__,
            "model": self._source(self.options.model, self.pipe),
            "refiner": self._source(self.options.refiner, self.refiner) if self.refiner is not None else None,
            "scheduler": type(self.pipe.scheduler).__name__,
            "device": self.device,
            "dtype": str(self.dtype).removeprefix("torch."),
            "diffusers": diffusers.__version__,
            "torch": torch.__version__,
            "start": self._scene_start().identity() if self.options.init == "scene" else self.options.init,
        }


class SDXLInpainter(DiffusionInpainter):
    """Stable Diffusion XL inpainting (the paper's repainter), optionally followed by the SDXL refiner."""

    name = "sdxl"
    pipeline_class = "StableDiffusionXLInpaintPipeline"
    supports_refiner = True

    options: Options

    class Options(DiffusionInpainter.Options):
        model: str = Field(
            "diffusers/stable-diffusion-xl-1.0-inpainting-0.1", min_length=1, description=MODEL_HELP
        )


class SDInpainter(DiffusionInpainter):
    """Stable Diffusion 1.5 inpainting: lighter than SDXL, trained at 512²."""

    name = "sd"
    pipeline_class = "StableDiffusionInpaintPipeline"

    options: Options

    class Options(DiffusionInpainter.Options):
        model: str = Field(
            "stable-diffusion-v1-5/stable-diffusion-inpainting", min_length=1, description=MODEL_HELP
        )
        size: int = Field(512, ge=64, le=4096, description=SIZE_HELP)
