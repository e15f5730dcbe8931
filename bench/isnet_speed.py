"""Seconds per image of the ``isnet`` segmenter against a bare onnxruntime session on the same model.

The bare path is what a minimal script does: resize with PIL, normalise, ``session.run``, min-max, resize back.
``session.run`` alone is also timed, so the table shows what pre- and post-processing cost. By default the model
is the tiny ONNX file with IS-Net's contract (its run is a few milliseconds, so the overhead looks large); pass
``--model isnet-general-use.onnx`` for the real ratio (the real model runs for seconds on a CPU).

    python bench/isnet_speed.py [--model PATH.onnx] [--photo PATH] [--repeat 5]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

try:
    import gen4gen  # noqa: F401
except ModuleNotFoundError:  # run from a checkout without installing
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from gen4gen.backends.base import Photo
from gen4gen.backends.segment.isnet import ISNetSegmenter, choose_providers
from gen4gen.testing.tiny_models import build_tiny_isnet_onnx


def bare_segment(session, rgb: np.ndarray) -> np.ndarray:
    """A minimal IS-Net call as scripts write it (PIL resizes, DIS normalisation)."""
    from PIL import Image

    x = np.asarray(Image.fromarray(rgb).resize((1024, 1024), Image.BILINEAR), np.float32) / 255.0 - 0.5
    pred = session.run(None, {session.get_inputs()[0].name: x.transpose(2, 0, 1)[None]})[0][0, 0]
    pred = (pred - pred.min()) / max(float(pred.max() - pred.min()), 1e-8)
    return np.asarray(Image.fromarray(pred).resize((rgb.shape[1], rgb.shape[0]), Image.BILINEAR))


def timed(fn, repeat: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=None, help="ONNX model (default: the tiny one, built here)")
    parser.add_argument("--photo", type=Path, default=None, help="photo to segment (default: random 1600x1200)")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--device", default="auto", choices=["auto", "cuda", "cpu"])
    args = parser.parse_args(argv)

    import onnxruntime as ort

    with tempfile.TemporaryDirectory() as tmp:
        model = args.model or build_tiny_isnet_onnx(Path(tmp) / "isnet-general-use.onnx")
        if args.photo:
            from gen4gen.io.images import load_image

            rgb = load_image(args.photo).rgb
        else:
            rgb = np.random.default_rng(0).integers(0, 256, (1200, 1600, 3), dtype=np.uint8)
        photo = Photo(rgb=rgb, path=args.photo or Path("random.png"), concept="x")
        segmenter = ISNetSegmenter(ISNetSegmenter.Options(model=str(model), device=args.device))
        providers = choose_providers(args.device, ort.get_available_providers())
        bare = ort.InferenceSession(str(model), providers=providers)
        x = np.zeros((1, 3, 1024, 1024), np.float32)
        name = bare.get_inputs()[0].name
        rows = [
            ("gen4gen isnet (segment)", timed(lambda: segmenter.segment(photo), args.repeat)),
            ("bare session + PIL pre/post", timed(lambda: bare_segment(bare, rgb), args.repeat)),
            ("bare session.run only", timed(lambda: bare.run(None, {name: x}), args.repeat)),
        ]
        reference = rows[1][1]
        print(
            f"model {model} ({'tiny' if args.model is None else 'given'}), photo {rgb.shape[1]}x{rgb.shape[0]}, "
            f"providers {segmenter.identity()['providers']}, median of {args.repeat}"
        )
        print(f"{'path':<30} {'s/img':>8} {'vs bare':>8}")
        for label, seconds in rows:
            print(f"{label:<30} {seconds:>8.4f} {seconds / reference:>7.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
