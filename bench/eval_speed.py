"""Images per second of ``gen4gen eval`` with full-size ViT-B/32 CLIP and OWL-ViT, batched vs one at a time.

The models have the architectures of ``openai/clip-vit-base-patch32`` and ``google/owlvit-base-patch32`` (default
transformers configs, random weights: nothing is downloaded) and their pre-processing (224 px CLIP crops, 768 px
OWL-ViT input). Each image shows three concepts, two sharing a class word, and the detector threshold is 0 so every
slot gets a crop: the work per image is the same for every batch size. Reference embeddings are computed before
timing (the command computes them once per run). Each row times the detector, the CLIP embeddings (crops, whole
images, texts) and the whole scorer on the same images.

    python bench/eval_speed.py [--images 16] [--size 512] [--batch 1 8 16] [--device cpu]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

try:
    import gen4gen  # noqa: F401
except ModuleNotFoundError:  # run from a checkout without installing
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from PIL import Image

from gen4gen.evaluate.config import EvalConfig
from gen4gen.evaluate.models import ClipEmbedder, OwlDetector
from gen4gen.evaluate.run import Scorer
from gen4gen.evaluate.spec import ConceptSpec, EvalImage, Spec
from gen4gen.testing.tiny_models import tiny_clip_tokenizer


def full_size_models(seed: int = 0) -> tuple[tuple[object, object], tuple[object, object]]:
    """(model, processor) of a random ViT-B/32 CLIP and a random OWL-ViT B/32, with the real pre-processing."""
    import torch
    from transformers import (
        CLIPConfig,
        CLIPImageProcessor,
        CLIPModel,
        CLIPProcessor,
        OwlViTConfig,
        OwlViTForObjectDetection,
        OwlViTImageProcessor,
        OwlViTProcessor,
    )

    torch.manual_seed(seed)
    tokenizer = tiny_clip_tokenizer()  # the real vocabulary is not needed to time the towers
    ids = {
        "bos_token_id": tokenizer.bos_token_id,
        "eos_token_id": tokenizer.eos_token_id,
        "pad_token_id": tokenizer.pad_token_id,
    }
    clip = CLIPModel(CLIPConfig(text_config=ids)).eval()
    clip_processor = CLIPProcessor(image_processor=CLIPImageProcessor(), tokenizer=tokenizer)
    owl_tokenizer = tiny_clip_tokenizer()
    owl_tokenizer.model_max_length = 16
    owl = OwlViTForObjectDetection(OwlViTConfig(text_config=ids)).eval()
    owl_processor = OwlViTProcessor(image_processor=OwlViTImageProcessor(), tokenizer=owl_tokenizer)
    return (clip, clip_processor), (owl, owl_processor)


def workload(folder: Path, count: int, size: int) -> tuple[Spec, list[tuple[EvalImage, Image.Image]]]:
    rng = np.random.default_rng(0)
    concepts = {}
    for name, word in (("dog1", "dog"), ("dog2", "dog"), ("cat1", "cat")):
        refs = []
        for k in range(2):
            path = folder / f"{name}_{k}.png"
            Image.fromarray(rng.integers(0, 255, (300, 260, 3), dtype=np.uint8)).save(path)
            refs.append(path)
        concepts[name] = ConceptSpec(name, word, tuple(refs))
    items = []
    for i in range(count):
        meta = EvalImage(
            f"{i}.png",
            folder / f"{i}.png",
            ("dog1", "dog2", "cat1"),
            "a realistic photo of two dogs and a cat in a garden",
            "in a garden",
        )
        items.append((meta, Image.fromarray(rng.integers(0, 255, (size, size, 3), dtype=np.uint8))))
    return Spec(folder, concepts), items


def timed(fn: object) -> float:
    started = time.perf_counter()
    fn()  # type: ignore[operator]
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=16)
    parser.add_argument("--size", type=int, default=512, help="side of the square generated images")
    parser.add_argument("--batch", type=int, nargs="+", default=[1, 8, 16], help="batch sizes to compare")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args(argv)

    import torch

    (clip_model, clip_processor), (owl_model, owl_processor) = full_size_models()
    with tempfile.TemporaryDirectory() as tmp:
        spec, items = workload(Path(tmp), args.images, args.size)
        print(
            f"gen4gen eval scoring, {args.images} images of {args.size}x{args.size}, 3 concepts each; "
            f"ViT-B/32 CLIP + OWL-ViT B/32 (random weights), {args.device}, fp32, torch {torch.__version__}, "
            f"{torch.get_num_threads()} threads"
        )
        print(
            f"{'batch':>5}  {'detector s':>10}  {'CLIP s':>7}  {'total s':>7}  {'images/s':>8}  {'vs batch 1':>10}"
        )
        baseline = None
        for batch in args.batch:
            clip = ClipEmbedder(clip_model, clip_processor, args.device, torch.float32, batch)
            owl = OwlDetector(owl_model, owl_processor, args.device, torch.float32, batch)
            scorer = Scorer(EvalConfig(threshold=0.0, batch_size=batch), spec, clip, owl)
            for name in spec.concepts:
                scorer.references(name)
            scorer.score(items[:1])  # warm-up
            chunks = [items[i : i + batch] for i in range(0, len(items), batch)]
            images = [image for _, image in items]
            queries = [["a photo of a dog", "a photo of a cat"]] * len(items)
            detector_s = timed(lambda: owl.detect(images, queries, 0.0))  # noqa: B023
            crops = [image.crop((0, 0, 200, 180)) for image in images for _ in range(3)]
            clip_s = timed(
                lambda: (clip.images(crops), clip.images(images), clip.texts([m.text for m, _ in items]))  # noqa: B023
            )
            total_s = timed(lambda: [scorer.score(chunk) for chunk in chunks])  # noqa: B023
            rate = len(items) / total_s
            baseline = baseline or rate
            print(
                f"{batch:>5}  {detector_s:>10.2f}  {clip_s:>7.2f}  {total_s:>7.2f}  {rate:>8.2f}  "
                f"{rate / baseline:>9.2f}x"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
