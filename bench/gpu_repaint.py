"""SDXL inpainting speed and memory at the paper's settings, on the full-size architecture with random weights.

Compute does not depend on the weights' values, so the real SDXL inpainting UNet (9 input channels), the SDXL
refiner UNet, the SDXL VAE and both text encoders (CLIP ViT-L and OpenCLIP bigG) are built from their published
configs, written out below, with no download. Each configuration repaints 1024² composites with the paper's
settings (guidance 6.0, strength 0.9, refiner from 0.75) and is compared with the seed's way of calling diffusers
(fp16, batch 1, base then a separately loaded refiner with its own text encoder and VAE, default attention).

To keep the run short, each configuration runs at ``--steps`` and twice that (the fastest of ``--repeat`` runs
each, after a warm-up); CUDA events time every UNet call.
The 60-step figure is extrapolated, per configuration, as
    t60 = fixed + overhead_per_call * (calls60) + ms_base * base_calls60 + ms_refiner * refiner_calls60
where ``fixed`` and ``overhead_per_call`` (scheduler, guidance arithmetic, launch gaps) come from the two runs and
the call counts at 60 steps from running the same scheduler on the tiny pipeline. The table says which columns
are measured and which are extrapolated.

    python bench/gpu_repaint.py                  # full size, needs a CUDA GPU (about 3 minutes on an H200)
    python bench/gpu_repaint.py --tiny           # tiny configs, CPU smoke test
    python bench/gpu_repaint.py --json out.json --steps 8 --compile
"""

from __future__ import annotations

import argparse
import copy
import gc
import json
import platform
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

try:
    import gen4gen  # noqa: F401
except ModuleNotFoundError:  # run from a checkout without installing
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from gen4gen.backends.base import Placement, RepaintRequest
from gen4gen.backends.repaint.diffusion import SDXLInpainter
from gen4gen.geometry.masks import CanvasMask
from gen4gen.geometry.masks import union as masks_union
from gen4gen.testing.tiny_models import tiny_clip_tokenizer

PAPER = {"steps": 60, "guidance": 6.0, "strength": 0.9, "refiner_from": 0.75}
PROMPT = "a realistic photo of in a garden"
NEGATIVE = "blurry, low quality, distorted, deformed, cartoon, painting, drawing, text, watermark, extra objects"

SCHEDULER = {
    "beta_start": 0.00085,
    "beta_end": 0.012,
    "beta_schedule": "scaled_linear",
    "num_train_timesteps": 1000,
    "steps_offset": 1,
    "timestep_spacing": "leading",
    "prediction_type": "epsilon",
    "interpolation_type": "linear",
    "use_karras_sigmas": False,
}

# diffusers/stable-diffusion-xl-1.0-inpainting-0.1, unet/config.json
SDXL_INPAINT_UNET = {
    "sample_size": 128,
    "in_channels": 9,
    "out_channels": 4,
    "down_block_types": ["DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"],
    "up_block_types": ["CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"],
    "mid_block_type": "UNetMidBlock2DCrossAttn",
    "block_out_channels": [320, 640, 1280],
    "layers_per_block": 2,
    "transformer_layers_per_block": [1, 2, 10],
    "attention_head_dim": [5, 10, 20],
    "cross_attention_dim": 2048,
    "use_linear_projection": True,
    "addition_embed_type": "text_time",
    "addition_embed_type_num_heads": 64,
    "addition_time_embed_dim": 256,
    "projection_class_embeddings_input_dim": 2816,
    "norm_num_groups": 32,
    "norm_eps": 1e-05,
    "act_fn": "silu",
    "flip_sin_to_cos": True,
    "freq_shift": 0,
}
# stabilityai/stable-diffusion-xl-refiner-1.0, unet/config.json
SDXL_REFINER_UNET = {
    "sample_size": 128,
    "in_channels": 4,
    "out_channels": 4,
    "down_block_types": ["DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"],
    "up_block_types": ["UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"],
    "mid_block_type": "UNetMidBlock2DCrossAttn",
    "block_out_channels": [384, 768, 1536, 1536],
    "layers_per_block": 2,
    "transformer_layers_per_block": 4,
    "attention_head_dim": [6, 12, 24, 24],
    "cross_attention_dim": 1280,
    "use_linear_projection": True,
    "addition_embed_type": "text_time",
    "addition_embed_type_num_heads": 64,
    "addition_time_embed_dim": 256,
    "projection_class_embeddings_input_dim": 2560,
    "norm_num_groups": 32,
    "norm_eps": 1e-05,
    "act_fn": "silu",
    "flip_sin_to_cos": True,
    "freq_shift": 0,
}
# stabilityai/stable-diffusion-xl-base-1.0, vae/config.json
SDXL_VAE = {
    "in_channels": 3,
    "out_channels": 3,
    "down_block_types": ["DownEncoderBlock2D"] * 4,
    "up_block_types": ["UpDecoderBlock2D"] * 4,
    "block_out_channels": [128, 256, 512, 512],
    "layers_per_block": 2,
    "latent_channels": 4,
    "norm_num_groups": 32,
    "act_fn": "silu",
    "sample_size": 1024,
    "scaling_factor": 0.13025,
    "force_upcast": True,
}
# text_encoder (CLIP ViT-L/14) and text_encoder_2 (OpenCLIP ViT-bigG/14) of SDXL
CLIP_L = {
    "vocab_size": 49408,
    "hidden_size": 768,
    "intermediate_size": 3072,
    "num_hidden_layers": 12,
    "num_attention_heads": 12,
    "max_position_embeddings": 77,
    "hidden_act": "quick_gelu",
    "projection_dim": 768,
    "bos_token_id": 0,
    "eos_token_id": 2,
    "pad_token_id": 1,
}
CLIP_BIGG = {**CLIP_L, "hidden_size": 1280, "intermediate_size": 5120, "num_hidden_layers": 32}
CLIP_BIGG.update({"num_attention_heads": 20, "hidden_act": "gelu", "projection_dim": 1280})

TINY_UNET = {
    **SDXL_INPAINT_UNET,
    "sample_size": 8,
    "down_block_types": ["DownBlock2D", "CrossAttnDownBlock2D"],
    "up_block_types": ["CrossAttnUpBlock2D", "UpBlock2D"],
    "block_out_channels": [16, 32],
    "layers_per_block": 1,
    "transformer_layers_per_block": [1, 1],
    "attention_head_dim": [2, 4],
    "cross_attention_dim": 32,
    "addition_embed_type_num_heads": 4,
    "addition_time_embed_dim": 8,
    "projection_class_embeddings_input_dim": 6 * 8 + 16,
    "norm_num_groups": 8,
}
TINY_REFINER_UNET = {**TINY_UNET, "in_channels": 4, "cross_attention_dim": 16}
TINY_REFINER_UNET["projection_class_embeddings_input_dim"] = 5 * 8 + 16
TINY_VAE = {**SDXL_VAE, "block_out_channels": [8, 8, 16, 16], "layers_per_block": 1, "norm_num_groups": 8}
TINY_VAE["sample_size"] = 64
TINY_CLIP = {**CLIP_L, "vocab_size": 1000, "hidden_size": 16, "intermediate_size": 32}
TINY_CLIP.update({"num_hidden_layers": 2, "num_attention_heads": 2, "projection_dim": 16, "hidden_act": "gelu"})


def build_pipelines(tiny: bool, device: str) -> tuple[Any, Any]:
    """Base inpainting pipeline and refiner (sharing text encoder 2 and VAE), random fp32 weights on ``device``."""
    import torch
    from diffusers import (
        AutoencoderKL,
        EulerDiscreteScheduler,
        StableDiffusionXLInpaintPipeline,
        UNet2DConditionModel,
    )
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    torch.manual_seed(0)
    tokenizer = tiny_clip_tokenizer()  # token ids only; the vocabulary size does not change the compute
    with torch.device(device):
        unet = UNet2DConditionModel(**(TINY_UNET if tiny else SDXL_INPAINT_UNET))
        refiner_unet = UNet2DConditionModel(**(TINY_REFINER_UNET if tiny else SDXL_REFINER_UNET))
        vae = AutoencoderKL(**(TINY_VAE if tiny else SDXL_VAE))
        text_encoder = CLIPTextModel(CLIPTextConfig(**(TINY_CLIP if tiny else CLIP_L)))
        text_encoder_2 = CLIPTextModelWithProjection(CLIPTextConfig(**(TINY_CLIP if tiny else CLIP_BIGG)))
    base = StableDiffusionXLInpaintPipeline(
        vae=vae,
        text_encoder=text_encoder.eval(),
        text_encoder_2=text_encoder_2.eval(),
        tokenizer=tokenizer,
        tokenizer_2=tokenizer,
        unet=unet,
        scheduler=EulerDiscreteScheduler(**SCHEDULER),
        requires_aesthetics_score=False,
    )
    refiner = StableDiffusionXLInpaintPipeline(
        vae=vae,
        text_encoder=None,
        text_encoder_2=text_encoder_2,
        tokenizer=None,
        tokenizer_2=tokenizer,
        unet=refiner_unet,
        scheduler=EulerDiscreteScheduler(**SCHEDULER),
        requires_aesthetics_score=True,
    )
    for pipe in (base, refiner):
        pipe.set_progress_bar_config(disable=True)
    return base, refiner


def make_requests(count: int, size: int) -> list[RepaintRequest]:
    """Composites like the compose stage makes: three concepts pasted on black, with their instance masks."""
    rng = np.random.default_rng(0)
    requests = []
    for k in range(count):
        composite = np.zeros((size, size, 3), np.uint8)
        masks, placements = [], []
        for j, (x0, y0, x1, y1) in enumerate(
            [(0.05, 0.3, 0.4, 0.9), (0.35, 0.2, 0.65, 0.85), (0.6, 0.4, 0.95, 0.9)]
        ):
            box = (int(x0 * size), int(y0 * size), int(x1 * size), int(y1 * size))
            composite[box[1] : box[3], box[0] : box[2]] = rng.integers(0, 256, 3, dtype=np.uint8)
            masks.append(CanvasMask(box, np.full((box[3] - box[1], box[2] - box[0]), 255, np.uint8)))
            placements.append(Placement(f"concept{j}", box, j))
        requests.append(RepaintRequest(composite, masks, placements, "in a garden", 1000 + k))
    return requests


class UNetTimer:
    """Counts and times (CUDA events, or wall clock on the CPU) every forward of the given UNets."""

    def __init__(self, unets: dict[str, Any], cuda: bool) -> None:
        import torch

        self.cuda, self.torch = cuda, torch
        self.events: dict[str, list[tuple[Any, Any]]] = {name: [] for name in unets}
        self.handles = []
        for name, unet in unets.items():
            self.handles.append(unet.register_forward_pre_hook(self._start(name)))
            self.handles.append(unet.register_forward_hook(self._stop(name)))

    def _now(self) -> Any:
        if self.cuda:
            event = self.torch.cuda.Event(enable_timing=True)
            event.record()
            return event
        return time.perf_counter()

    def _start(self, name: str) -> Any:
        def hook(module: Any, args: Any) -> None:
            self.events[name].append((self._now(), None))

        return hook

    def _stop(self, name: str) -> Any:
        def hook(module: Any, args: Any, output: Any) -> None:
            start, _ = self.events[name][-1]
            self.events[name][-1] = (start, self._now())

        return hook

    def reset(self) -> None:
        for name in self.events:
            self.events[name] = []

    def totals(self) -> dict[str, tuple[int, float]]:
        """name -> (calls, seconds)."""
        if self.cuda:
            self.torch.cuda.synchronize()
        out = {}
        for name, pairs in self.events.items():
            if self.cuda:
                seconds = sum(a.elapsed_time(b) for a, b in pairs) / 1000.0
            else:
                seconds = sum(b - a for a, b in pairs)
            out[name] = (len(pairs), seconds)
        return out

    def remove(self) -> None:
        for handle in self.handles:
            handle.remove()


def unet_calls(steps: list[int]) -> dict[int, dict[str, int]]:
    """UNet calls of the base and the refiner per step count, with the paper's strength and refiner split.

    The counts depend only on the scheduler and these settings, so the tiny pipeline on the CPU gives them.
    """
    base, ref = build_pipelines(tiny=True, device="cpu")
    timer = UNetTimer({"base": base.unet, "refiner": ref.unet}, cuda=False)
    options = SDXLInpainter.Options(
        size=64, device="cpu", dtype="fp32", init="composite", **{k: v for k, v in PAPER.items()}
    )
    backend = SDXLInpainter(options, pipeline=base, refiner=ref)
    counts = {}
    for n in steps:
        timer.reset()
        backend.options = backend.options.model_copy(update={"steps": n})
        backend.repaint(make_requests(1, 64)[0])
        counts[n] = {name: calls for name, (calls, _) in timer.totals().items()}
    timer.remove()
    return counts


@dataclass
class Config:
    label: str
    dtype: str
    batch: int
    refiner: bool
    path: str = "ours"  # "seed" or "ours"
    fuse_qkv: bool = False
    compile: bool = False


@dataclass
class Row:
    config: Config
    runs: list[dict[str, Any]] = field(default_factory=list)
    estimate: dict[str, Any] = field(default_factory=dict)
    error: str | None = None


def run_seed(base: Any, refiner: Any, requests: list[RepaintRequest], steps: int, device: str) -> None:
    """The seed's call: one image at a time, PIL in, base to latents, then the refiner, cuda generator."""
    import torch
    from PIL import Image

    for request in requests:
        height, width = request.composite.shape[:2]
        union = masks_union(request.instance_masks).soft().full((width, height))
        image = Image.fromarray(request.composite)
        mask = Image.fromarray(((1.0 - union) * 255).astype(np.uint8))
        generator = torch.Generator(device).manual_seed(request.seed)
        common = {
            "prompt": PROMPT,
            "negative_prompt": NEGATIVE,
            "mask_image": mask,
            "num_inference_steps": steps,
            "guidance_scale": PAPER["guidance"],
            "strength": PAPER["strength"],
            "generator": generator,
        }
        latents = base(image=image, denoising_end=PAPER["refiner_from"], output_type="latent", **common).images
        refiner(image=latents, denoising_start=PAPER["refiner_from"], **common).images[0].convert("RGB")


def measure(
    config: Config,
    base: Any,
    refiner: Any,
    args: argparse.Namespace,
    device: str,
    counts: dict[int, dict[str, int]],
) -> Row:
    """Warm up, then time ``--steps`` and twice that (best of ``--repeat``); extrapolate to 60 steps."""
    import torch

    cuda = device.startswith("cuda")
    row = Row(config)
    dtype = {"fp16": torch.float16, "bf16": torch.bfloat16, "fp32": torch.float32}[config.dtype]
    if not cuda:
        dtype = torch.float32
    for module in (base.unet, base.vae, base.text_encoder, base.text_encoder_2, refiner.unet):
        module.to(dtype=dtype)
    base.vae.register_to_config(force_upcast=True)  # diffusers' default; our backend lifts it for bf16
    refiner.unet.to(device if config.refiner else "cpu")
    seed_refiner = None
    if config.path == "seed":
        # The seed loads the refiner as a whole pipeline: its own text encoder 2 and VAE on the GPU.
        seed_refiner = copy.copy(refiner)
        seed_refiner.register_modules(
            text_encoder_2=copy.deepcopy(refiner.text_encoder_2), vae=copy.deepcopy(refiner.vae)
        )
        backend = None
    else:
        options = SDXLInpainter.Options(
            size=args.size,
            steps=args.steps,
            dtype=config.dtype if cuda else "fp32",
            device=device,
            batch_size=config.batch,
            channels_last=True,
            fuse_qkv=config.fuse_qkv,
            compile=config.compile,
            init="composite",  # the GPU work only: the starting scene is CPU work common to both paths
            **{k: v for k, v in PAPER.items() if k != "steps"},
        )
        backend = SDXLInpainter(options, pipeline=base, refiner=refiner if config.refiner else None)
    # Hooks would be traced into a compiled UNet: compiled runs are timed as a whole.
    timer = None if config.compile else UNetTimer({"base": base.unet, "refiner": refiner.unet}, cuda=cuda)
    requests = make_requests(config.batch, args.size)

    def once(steps: int) -> dict[str, Any]:
        if timer is not None:
            timer.reset()
        if cuda:
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
        started = time.perf_counter()
        if backend is None:
            run_seed(base, seed_refiner, requests, steps, device)
        else:
            backend.options = backend.options.model_copy(update={"steps": steps})
            backend.repaint_batch(requests)
        if cuda:
            torch.cuda.synchronize()
        wall = time.perf_counter() - started
        calls = counts[steps] if config.refiner else {"base": counts[steps]["base"] + counts[steps]["refiner"]}
        totals = timer.totals() if timer is not None else {}
        return {
            "steps": steps,
            "seconds": wall,
            "base_calls": calls["base"],
            "refiner_calls": calls.get("refiner", 0),
            "base_unet_s": totals["base"][1] if totals else None,
            "refiner_unet_s": totals["refiner"][1] if totals else None,
            "peak_gb": torch.cuda.max_memory_allocated() / 2**30 if cuda else None,
        }

    try:
        for n in (args.steps, 2 * args.steps) if config.compile else (args.steps,):
            once(n)  # warm-up: kernel selection; compilation (again when the step count changes)
        # The fastest of --repeat runs per step count: noise from other work only ever adds time.
        row.runs = [
            min((once(n) for _ in range(args.repeat)), key=lambda run: run["seconds"])
            for n in (args.steps, 2 * args.steps)
        ]
        row.estimate = extrapolate(row.runs, row.runs[0]["base_unet_s"] is not None, counts[60], config)
    finally:
        if timer is not None:
            timer.remove()
        if seed_refiner is not None:
            del seed_refiner
        gc.collect()
        if cuda:
            torch.cuda.empty_cache()
    return row


def extrapolate(
    runs: list[dict[str, Any]], timed: bool, counts60: dict[str, int], config: Config
) -> dict[str, Any]:
    """Seconds per image at 60 steps from two shorter runs (see the module docstring).

    Without per-call UNet times (compiled runs) base and refiner calls are taken to cost the same.
    """
    a, b = runs
    if not config.refiner:
        counts60 = {"base": counts60["base"] + counts60["refiner"], "refiner": 0}
    per_base = per_ref = 0.0
    if timed:
        per_base = (a["base_unet_s"] + b["base_unet_s"]) / max(1, a["base_calls"] + b["base_calls"])
        per_ref = (a["refiner_unet_s"] + b["refiner_unet_s"]) / max(1, a["refiner_calls"] + b["refiner_calls"])
    rest_a = a["seconds"] - (a["base_unet_s"] + a["refiner_unet_s"] if timed else 0.0)
    rest_b = b["seconds"] - (b["base_unet_s"] + b["refiner_unet_s"] if timed else 0.0)
    calls_a = a["base_calls"] + a["refiner_calls"]
    calls_b = b["base_calls"] + b["refiner_calls"]
    overhead = max(0.0, (rest_b - rest_a) / max(1, calls_b - calls_a))
    fixed = max(0.0, rest_a - overhead * calls_a)
    calls60 = counts60["base"] + counts60["refiner"]
    total = fixed + overhead * calls60 + per_base * counts60["base"] + per_ref * counts60["refiner"]
    return {
        "ms_per_base_call": per_base * 1000 if timed else None,
        "ms_per_refiner_call": per_ref * 1000 if timed and config.refiner else None,
        "fixed_s": fixed,
        "overhead_ms_per_call": overhead * 1000,
        "seconds_per_image_60": total / config.batch,
        "images_per_s_60": config.batch / total,
    }


def default_configs(compile_too: bool) -> list[Config]:
    configs = [
        Config("seed fp16 b1 +ref (own TE2/VAE)", "fp16", 1, True, path="seed"),
        Config("ours fp16 b1 +ref", "fp16", 1, True),
        Config("ours fp16 b1 no ref", "fp16", 1, False),
        Config("ours bf16 b1 +ref", "bf16", 1, True),
        Config("ours bf16 b1 no ref", "bf16", 1, False),
        Config("ours bf16 b2 +ref", "bf16", 2, True),
        Config("ours bf16 b4 +ref", "bf16", 4, True),
        Config("ours bf16 b4 +ref fused-qkv", "bf16", 4, True, fuse_qkv=True),
        Config("ours bf16 b1 +ref fused-qkv", "bf16", 1, True, fuse_qkv=True),
    ]
    if compile_too:
        configs.append(Config("ours bf16 b4 +ref fused-qkv compile", "bf16", 4, True, fuse_qkv=True, compile=True))
    return configs


def table(rows: list[Row], steps: int, device_name: str) -> str:
    seed = next((r for r in rows if r.config.path == "seed" and r.estimate), None)
    head = (
        f"{'configuration':<34} {'UNet calls':>10} {'ms/call':>14} {f's/img @{steps}':>9} "
        f"{'s/img @60*':>10} {'img/s @60*':>10} {'vs seed':>8} {'peak GB':>8}"
    )
    lines = [f"SDXL inpainting, {device_name}; measured at {steps} and {2 * steps} steps, * = extrapolated", head]
    lines.append("-" * len(head))
    for row in rows:
        if row.error:
            lines.append(f"{row.config.label:<34} {row.error}")
            continue
        run, est = row.runs[0], row.estimate
        ms = f"{est['ms_per_base_call']:.1f}" if est["ms_per_base_call"] is not None else "n/a"
        if est["ms_per_refiner_call"] is not None:
            ms += f"/{est['ms_per_refiner_call']:.1f}"
        speed = f"{est['images_per_s_60'] / seed.estimate['images_per_s_60']:.2f}x" if seed else "-"
        peak = max((r["peak_gb"] or 0.0) for r in row.runs) if row.runs[0]["peak_gb"] is not None else None
        lines.append(
            f"{row.config.label:<34} {run['base_calls']:>5}+{run['refiner_calls']:<4} {ms:>14} "
            f"{run['seconds'] / row.config.batch:>9.3f} {est['seconds_per_image_60']:>10.3f} "
            f"{est['images_per_s_60']:>10.3f} {speed:>8} {(f'{peak:.2f}' if peak is not None else '-'):>8}"
        )
    lines.append(
        "UNet calls: base+refiner per run at the measured steps (each call runs the guidance pair for the "
        "whole batch); ms/call: base/refiner UNet per call (CUDA events); s/img @60 = extrapolated to the paper's "
        "60 steps; vs seed = images/s against the seed's way."
    )
    if not device_name.startswith("NVIDIA") and "cuda" not in device_name.lower():
        lines.append("CPU smoke test: every dtype runs as fp32, timings are not meaningful.")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", action="store_true", help="tiny configs (CPU smoke test)")
    parser.add_argument("--steps", type=int, default=8, help="measured steps (also run at twice this)")
    parser.add_argument("--size", type=int, default=None, help="image side (default 1024, tiny 64)")
    parser.add_argument("--repeat", type=int, default=2, help="runs per step count (the fastest is kept)")
    parser.add_argument("--json", type=Path, default=None, help="write the results here")
    parser.add_argument("--compile", action="store_true", help="also time torch.compile (slow first call)")
    parser.add_argument("--only", default=None, help="comma-separated substrings of configuration labels")
    parser.add_argument(
        "--budget", type=float, default=330.0, help="stop starting configurations after this many s"
    )
    args = parser.parse_args(argv)
    started = time.perf_counter()

    import diffusers
    import torch

    args.size = args.size or (64 if args.tiny else 1024)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cpu" and not args.tiny:
        print("no CUDA GPU: the full-size run needs one (use --tiny for a CPU smoke test)", file=sys.stderr)
        return 2
    device_name = torch.cuda.get_device_name() if device == "cuda" else f"CPU ({platform.processor() or 'cpu'})"
    if device == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    diffusers.utils.logging.set_verbosity_error()
    counts = unet_calls([args.steps, 2 * args.steps, PAPER["steps"]])
    print(f"UNet calls (base/refiner) per step count, strength 0.9, refiner from 0.75: {counts}", flush=True)
    base, refiner = build_pipelines(args.tiny, device)
    print(f"built random-weight pipelines in {time.perf_counter() - started:.1f}s on {device_name}", flush=True)
    configs = default_configs(args.compile)
    if args.only:
        wanted = [w.strip() for w in args.only.split(",")]
        configs = [c for c in configs if any(w in c.label for w in wanted)]
    # fp16 first, then bf16: weights are cast in place once per dtype change.
    rows: list[Row] = []
    for config in configs:
        if time.perf_counter() - started > args.budget:
            rows.append(Row(config, error="skipped: time budget spent"))
            continue
        try:
            row = measure(config, base, refiner, args, device, counts)
        except Exception as exc:  # an OOM or a failing option must not lose the other rows
            row = Row(config, error=f"failed: {type(exc).__name__}: {str(exc).splitlines()[0][:120]}")
            gc.collect()
            if device == "cuda":
                torch.cuda.empty_cache()
        rows.append(row)
        print(f"  {config.label}: {row.estimate or row.error}", flush=True)
    report = table(rows, args.steps, device_name)
    print(report)
    if args.json:
        payload = {
            "device": device_name,
            "torch": torch.__version__,
            "diffusers": diffusers.__version__,
            "size": args.size,
            "tiny": args.tiny,
            "measured_steps": [args.steps, 2 * args.steps],
            "repeat": args.repeat,
            "paper": PAPER,
            "unet_calls": counts,
            "rows": [
                {
                    **r.config.__dict__,
                    "runs": r.runs,
                    "estimate": r.estimate,
                    "error": r.error,
                }
                for r in rows
            ],
            "table": report,
            "wall_s": time.perf_counter() - started,
        }
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(payload, indent=2))
    print(f"total {time.perf_counter() - started:.1f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
