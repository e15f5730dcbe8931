"""How close the weight-free segmenter gets to IS-Net: IoU per round and of the auto-picked round, per photo.

Usage: python bench/segment_quality.py [--samples DIR] [--rounds N] [--backend NAME] [--option KEY=VALUE ...]

Reads DIR/s0_source_images/<concept>/<photo> and the matching IS-Net soft mask
DIR/isnet_reference/<concept>/<stem>_result_mask_isnet.png; photos without a reference (and references without
a photo) are skipped. Both masks are thresholded at 0.5. As in the segment stage, a segmenter that learns from all
photos of a concept gets ``prepare`` with every photo of the concept (with or without a reference) first; its
time is shared among the concept's photos in the seconds column.

With ``--perturb`` the round-picking score is also checked against the references: each reference is perturbed
(dilated, eroded, a stuck-on background blob, a separate background fragment, the top or a side cut off, its
bounding box) and the score should rank the reference above every perturbed version and follow their IoU.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import cv2
import numpy as np
from rich.console import Console
from rich.table import Table
from scipy.stats import spearmanr

from gen4gen.backends import build_backend
from gen4gen.backends.base import Photo, Segmenter
from gen4gen.backends.segment.quality import mask_quality
from gen4gen.backends.segment.rounds import best_round, multi_round
from gen4gen.io.images import IMAGE_SUFFIXES, load_image, load_mask

DEFAULT_SAMPLES = Path(__file__).resolve().parents[1].parent / "shared" / "samples" / "gen4gen"


def iou(mask: np.ndarray, reference: np.ndarray) -> float:
    a, b = mask >= 0.5, reference >= 0.5
    union = int((a | b).sum())
    return float((a & b).sum()) / union if union else 1.0


def pairs(samples: Path) -> list[tuple[str, Path, Path]]:
    """(concept, photo, reference mask) for every source photo that has an IS-Net reference."""
    found = []
    for concept_dir in sorted((samples / "s0_source_images").iterdir()):
        for photo in sorted(concept_dir.iterdir()):
            reference = samples / "isnet_reference" / concept_dir.name / f"{photo.stem}_result_mask_isnet.png"
            if photo.suffix.lower() in IMAGE_SUFFIXES and reference.is_file():
                found.append((concept_dir.name, photo, reference))
    return found


def perturbations(reference: np.ndarray) -> dict[str, np.ndarray]:
    """Deterministic damaged versions of a reference mask, each a boolean (H, W) array."""
    hard = reference >= 0.5
    height, width = hard.shape
    side = max(height, width)
    ys, xs = np.nonzero(hard)
    yy, xx = np.ogrid[:height, :width]

    def disc(radius: float) -> np.ndarray:
        r = max(1, round(radius * side))
        return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))

    u8 = hard.astype(np.uint8)
    outline_y, outline_x = np.nonzero(hard & ~(cv2.erode(u8, disc(0.002)) > 0))
    far_y, far_x = np.nonzero(cv2.dilate(u8, disc(0.1)) == 0)
    box = np.zeros_like(hard)
    box[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1] = True
    out = {
        "dilated": cv2.dilate(u8, disc(0.03)) > 0,
        "eroded": cv2.erode(u8, disc(0.03)) > 0,
        # A disc of background stuck on the outline at its topmost point.
        "blob": hard | ((yy - outline_y[0]) ** 2 + (xx - outline_x[0]) ** 2 < (0.12 * side) ** 2),
        "top cut": hard & (yy > ys.min() + 0.3 * (ys.max() - ys.min())),
        "side cut": hard & (xx > xs.min() + 0.3 * (xs.max() - xs.min())),
        "box": box,
    }
    if far_y.size:
        i = far_y.size // 2
        out["fragment"] = hard | ((yy - far_y[i]) ** 2 + (xx - far_x[i]) ** 2 < (0.06 * side) ** 2)
    return out


def check_score(photo: Photo, reference: np.ndarray) -> tuple[int, int, float]:
    """(perturbed versions the reference outscores, perturbed versions, Spearman of score vs IoU)."""
    ref_score = mask_quality(photo.rgb, (reference >= 0.5).astype(np.float32))
    scored = [
        (iou(m, reference), mask_quality(photo.rgb, m.astype(np.float32)))
        for m in perturbations(reference).values()
    ]
    wins = sum(score < ref_score for _, score in scored)
    ious, scores = zip(*[(1.0, ref_score), *scored], strict=True)
    return wins, len(scored), float(spearmanr(ious, scores)[0])


def load_photo(path: Path, concept: str) -> Photo:
    image = load_image(path)
    return Photo(image.rgb, path, concept, image.alpha)


def parse_option(text: str) -> tuple[str, object]:
    key, sep, value = text.partition("=")
    if not sep:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    try:
        return key, json.loads(value)
    except json.JSONDecodeError:
        return key, value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--samples", type=Path, default=DEFAULT_SAMPLES, help="sample folder (default: %(default)s)"
    )
    parser.add_argument("--rounds", type=int, default=3, help="segmentation rounds per photo (default: 3)")
    parser.add_argument("--backend", default="grabcut", help="segment backend (default: grabcut)")
    parser.add_argument("--perturb", action="store_true", help="also check the score on perturbed reference masks")
    parser.add_argument("--option", type=parse_option, action="append", default=[], help="backend option K=V")
    args = parser.parse_args(argv)
    console = Console(width=max(Console().width, 140))
    if not (args.samples / "s0_source_images").is_dir() or not (args.samples / "isnet_reference").is_dir():
        console.print(
            f"[red]no samples at {args.samples}[/red]: expected s0_source_images/ and isnet_reference/ there; "
            "pass --samples DIR"
        )
        return 2
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    items = pairs(args.samples)
    if not items:
        console.print(f"[red]no photo in {args.samples}/s0_source_images has an IS-Net reference mask[/red]")
        return 2
    segmenter = build_backend("segment", args.backend, dict(args.option))
    assert isinstance(segmenter, Segmenter)

    table = Table(title=f"{args.backend} vs IS-Net, IoU at 0.5 ({args.rounds} rounds)")
    table.add_column("photo")
    table.add_column("size", justify="right")
    for k in range(1, args.rounds + 1):
        table.add_column(f"IoU r{k}", justify="right")
    table.add_column("picked", justify="right")
    table.add_column("IoU picked", justify="right")
    for k in range(1, args.rounds + 1):
        table.add_column(f"score r{k}", justify="right")
    table.add_column("s / photo", justify="right")
    picked_ious, round_ious, seconds, checks = [], [], [], []
    for concept in sorted({concept for concept, _, _ in items}):
        concept_items = [(path, reference) for c, path, reference in items if c == concept]
        prepare_seconds = 0.0
        if segmenter.uses_concept_photos:
            siblings = sorted(
                p
                for p in (args.samples / "s0_source_images" / concept).iterdir()
                if p.suffix.lower() in IMAGE_SUFFIXES
            )
            start = time.perf_counter()
            segmenter.prepare([load_photo(p, concept) for p in siblings])
            prepare_seconds = (time.perf_counter() - start) / len(concept_items)
        for path, reference_path in concept_items:
            photo = load_photo(path, concept)
            height, width = photo.rgb.shape[:2]
            reference = load_mask(reference_path, size=(width, height))
            start = time.perf_counter()
            results = multi_round(segmenter, photo, args.rounds)
            pick = best_round(results)
            seconds.append(time.perf_counter() - start + prepare_seconds)
            ious = [iou(r.mask, reference) for r in results]
            picked_ious.append(ious[pick])
            round_ious.append(ious)
            if args.perturb:
                checks.append(check_score(photo, reference))
            table.add_row(
                f"{concept}/{path.name}",
                f"{width}x{height}",
                *(f"{v:.3f}" for v in ious),
                str(pick + 1),
                f"{ious[pick]:.3f}",
                *(f"{r.score:.3f}" for r in results),
                f"{seconds[-1]:.1f}",
            )
    table.add_section()
    table.add_row(
        "mean",
        "",
        *(f"{v:.3f}" for v in np.mean(round_ious, axis=0)),
        "",
        f"{np.mean(picked_ious):.3f}",
        *([""] * args.rounds),
        f"{np.mean(seconds):.1f}",
    )
    console.print(table)
    console.print(
        f"mean IoU: round 1 {np.mean(round_ious, axis=0)[0]:.3f}, auto-picked {np.mean(picked_ious):.3f}, "
        f"best round (oracle) {np.mean(np.max(round_ious, axis=1)):.3f}; "
        f"{np.mean(seconds):.1f} s per photo ({args.rounds} rounds)"
    )
    if checks:
        console.print(
            f"score check: the reference outscores {sum(c[0] for c in checks)}/{sum(c[1] for c in checks)} "
            "perturbed masks; Spearman score vs IoU per photo " + ", ".join(f"{c[2]:.2f}" for c in checks)
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
