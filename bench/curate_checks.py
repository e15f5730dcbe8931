"""How well the curate checks tell broken from good: precision and recall of their rejections, per check.

Usage: python bench/curate_checks.py [--photos DIR] [--samples N] [--work DIR] [--json FILE] [--verbose]

Two labelled sets, both built here:

* cut-outs: good masks are IS-Net's masks of the seed project's photos (``../shared/samples/gen4gen``) and the
  true masks of synthetic photos (textured shapes on busy backgrounds); broken ones are each good mask damaged
  the ways segmenters fail: only its middle (a fragment, like the demo's cat face), its top or a side cut off,
  split in two, grown into the background, with a background blob stuck on or lying apart.
* samples: a real run (``gen4gen run`` on DreamBooth photos, ``../shared/samples/dreambooth``, scene repainter);
  each finished sample is good, and is broken once per check: a concept repainted away or redrawn (identity), a
  concept hidden, a box moved off its concept, a concept made tiny (layout), a dark ring or an old-background
  fringe along the edges (seams), a caption missing a concept or far too long (caption), a re-encoded copy of an
  earlier sample (duplicate).

A check is scored on its own good and broken cases: precision = rejected broken / all rejected, recall =
rejected broken / all broken; flagged counts are shown beside (a flag sends a sample to a person). Timings are
per measured subject.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import replace
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from rich.console import Console
from rich.table import Table

from gen4gen.checks.base import FLAG, REJECT
from gen4gen.checks.cutout import CutoutChecker, cutout_scores
from gen4gen.checks.duplicates import nearest, perceptual_hash
from gen4gen.checks.subjects import CUTOUT_SIDE, SampleInputs, SampleSubject
from gen4gen.checks.suite import CheckSuite, to_data
from gen4gen.config import load_config
from gen4gen.io.images import IMAGE_SUFFIXES, load_image, load_mask
from gen4gen.manifest import Manifest
from gen4gen.manifest.records import CaptionData, ComposeData, RepaintData, read

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "samples"
COMPOSITIONS = {"dog+backpack+teapot": ["dog", "backpack", "teapot"], "cat+duck_toy": ["cat", "duck_toy"]}
PHOTOS = {  # photos whose GrabCut cut-out is whole, so the samples start good
    "dog": ["02.jpg", "03.jpg"],
    "backpack": ["02.jpg", "05.jpg"],
    "teapot": ["01.jpg"],
    "cat": ["01.jpg"],
    "duck_toy": ["00.jpg", "01.jpg"],
}


# ---------------------------------------------------------------------------------------------- cut-outs
def _disc(radius: int) -> np.ndarray:
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))


KINDS = ("fragment", "top cut", "side cut", "split", "grown", "blob stuck on", "blob apart")


def damaged(mask: np.ndarray) -> dict[str, np.ndarray]:
    """Broken versions of a good hard mask (bool), each a bool array."""
    hard = mask.astype(np.uint8)
    ys, xs = np.nonzero(hard)
    height, width = hard.shape
    y0, y1, x0, x1 = ys.min(), ys.max(), xs.min(), xs.max()
    side = max(y1 - y0, x1 - x0)
    yy, xx = np.mgrid[0:height, 0:width]
    cx = (x0 + x1) / 2
    inside = cv2.distanceTransform(hard, cv2.DIST_L2, 5)
    out = {
        "fragment": inside > 0.45 * inside.max(),  # only the middle of the object
        "top cut": mask & (yy > y0 + 0.4 * (y1 - y0)),
        "side cut": mask & (xx > x0 + 0.4 * (x1 - x0)),
        "split": mask & (np.abs(xx - cx) > 0.12 * (x1 - x0)),
        "grown": cv2.dilate(hard, _disc(max(2, round(0.08 * side)))) > 0,
        "blob stuck on": mask | ((yy - y0) ** 2 + (xx - cx) ** 2 < (0.18 * side) ** 2),
    }
    far = np.argwhere(cv2.dilate(hard, _disc(max(2, round(0.15 * side)))) == 0)
    if len(far):
        fy, fx = far[len(far) // 3]
        out["blob apart"] = mask | ((yy - fy) ** 2 + (xx - fx) ** 2 < (0.1 * side) ** 2)
    return {name: m for name, m in out.items() if m.any()}


def synthetic_photos(count: int) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """(name, RGB, true mask) of textured shapes on busy backgrounds of varied contrast."""
    photos = []
    for index in range(count):
        rng = np.random.default_rng(index)
        height, width = 360, 480
        yy, xx = np.mgrid[0:height, 0:width]
        base = rng.uniform(40, 200, 3)
        background = base + 35 * np.stack(
            [np.sin(xx / rng.uniform(5, 20) + k) * np.cos(yy / rng.uniform(5, 20)) for k in range(3)], axis=-1
        )
        background += rng.normal(0, 10, (height, width, 3))
        cx, cy = width * rng.uniform(0.35, 0.65), height * rng.uniform(0.4, 0.6)
        rx, ry = width * rng.uniform(0.12, 0.3), height * rng.uniform(0.15, 0.35)
        if index % 3 == 0:
            shape = ((xx - cx) / rx) ** 2 + ((yy - cy) / ry) ** 2 <= 1
        elif index % 3 == 1:
            shape = (np.abs(xx - cx) <= rx) & (np.abs(yy - cy) <= ry)
        else:  # a blob with a wavy outline
            angle = np.arctan2(yy - cy, xx - cx)
            radius = 1 + 0.25 * np.sin(3 * angle + index)
            shape = ((xx - cx) / rx) ** 2 + ((yy - cy) / ry) ** 2 <= radius**2
        colour = (base + rng.uniform(60, 120, 3) * rng.choice([-1, 1], 3)).clip(10, 245)
        texture = colour + rng.normal(0, 14, (height, width, 3))
        rgb = np.clip(np.where(shape[..., None], texture, background), 0, 255).astype(np.uint8)
        photos.append((f"synthetic/{index:02d}", rgb, shape))
    return photos


def reference_photos(samples: Path) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """(name, RGB, IS-Net mask) of the seed project's photos that have both."""
    found = []
    for concept_dir in sorted((samples / "s0_source_images").glob("*")):
        for photo in sorted(concept_dir.iterdir()):
            reference = samples / "isnet_reference" / concept_dir.name / f"{photo.stem}_result_mask_isnet.png"
            if photo.suffix.lower() in IMAGE_SUFFIXES and reference.is_file():
                rgb = load_image(photo).rgb
                mask = load_mask(reference, (rgb.shape[1], rgb.shape[0])) >= 0.5
                found.append((f"{concept_dir.name}/{photo.name}", rgb, mask))
    return found


def cutout_cases(photos: list[tuple[str, np.ndarray, np.ndarray]]) -> tuple[list[tuple[str, bool, str]], float]:
    """The cut-out check on every good mask and its broken versions, at the measuring size the stage uses and
    with the whole photo (as the stage measures when the source photo is there). Returns (case, broken, status)
    and the seconds per measurement."""
    checker = CutoutChecker(load_config().curate.cutout)
    results: list[tuple[str, bool, str]] = []
    spent, count = 0.0, 0
    for name, rgb, mask in photos:
        height, width = mask.shape
        scale = min(1.0, CUTOUT_SIDE / max(height, width))
        size = (max(8, round(width * scale)), max(8, round(height * scale)))
        small_rgb = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
        for kind, case in [("", mask), *damaged(mask).items()]:
            small = np.clip(cv2.resize(case.astype(np.float32), size, interpolation=cv2.INTER_AREA), 0, 1)
            started = time.perf_counter()
            status = checker.judge(cutout_scores(small, small_rgb, (0, 0, *size), [], name)).status
            spent += time.perf_counter() - started
            count += 1
            results.append((f"{name} {kind}".strip(), bool(kind), status))
    return results, spent / max(count, 1)


# ---------------------------------------------------------------------------------------------- samples
def build_run(photos: Path, work: Path, samples: int) -> Path:
    src = work / "src"
    for composition, concepts in COMPOSITIONS.items():
        for concept in concepts:
            for photo in PHOTOS[concept]:
                target = src / composition / concept / photo
                target.parent.mkdir(parents=True, exist_ok=True)
                if not target.exists():
                    target.write_bytes((photos / concept / photo).read_bytes())
    out = work / "run"
    command = [sys.executable, "-m", "gen4gen", "-q", "run", str(src), "--out", str(out), "-n", str(samples)]
    command += ["--set", "curate.skip_rejected_cutouts=false", "--set", "compose.canvas=768"]
    subprocess.run(command, check=True, capture_output=True)
    return out


def base_samples(run: Path) -> list[SampleInputs]:
    with Manifest(run) as manifest:
        keys = json.loads(manifest.get_meta("samples") or "[]")
        found = []
        for key in keys:
            compose, repaint, caption = (manifest.get(s, key) for s in ("compose", "repaint", "caption"))
            if compose is None or repaint is None or caption is None:
                continue
            text = read(CaptionData, caption)
            found.append(
                SampleInputs(
                    key, run, read(ComposeData, compose), read(RepaintData, repaint), text, text.text, 30, {}
                )
            )
    return found


def write_image(inputs: SampleInputs, image: np.ndarray, work: Path, tag: str) -> SampleInputs:
    """``inputs`` with its finished image replaced by ``image`` (written under ``work``)."""
    from gen4gen.io.images import save_png

    relative = f"broken/{inputs.layout.sample_id}_{tag.replace(' ', '_')}.png"
    save_png(inputs.run_dir / relative, image)
    return replace(inputs, image=inputs.image.model_copy(update={"image": relative}))


def broken_samples(
    base: SampleInputs, work: Path, earlier: SampleInputs | None
) -> dict[str, list[tuple[str, Any]]]:
    """Per check: (kind, broken inputs) made from one good sample."""
    subject = SampleSubject(base)
    image, masks, objects = subject.image.copy(), subject.masks, base.layout.objects
    first = max(range(len(objects)), key=lambda k: float(masks[k].sum()))
    core = (masks[first] >= 0.5).astype(np.uint8)
    out: dict[str, list[tuple[str, Any]]] = defaultdict(list)
    # identity: the concept painted over by its surroundings, or redrawn with another texture
    gone = cv2.inpaint(image, cv2.dilate(core, _disc(3)), 7, cv2.INPAINT_TELEA)
    out["identity"].append(("repainted away", write_image(base, gone, work, "gone")))
    redrawn = image.copy()
    blurred = cv2.GaussianBlur(image, (0, 0), 6)
    redrawn[core > 0] = (0.5 * blurred[core > 0] + 0.5 * np.array([120, 120, 120])).astype(np.uint8)
    out["identity"].append(("redrawn", write_image(base, redrawn, work, "redrawn")))
    # layout: hidden, a box off its concept, a concept made tiny next to the others
    hidden = [o.model_copy(update={"visible": 0.3}) if k == first else o for k, o in enumerate(objects)]
    out["layout"].append(
        ("concept hidden", replace(base, layout=base.layout.model_copy(update={"objects": hidden})))
    )
    width = base.layout.canvas[0]

    def moved(o: Any) -> Any:
        x0, y0, x1, y1 = o.bbox
        dx = width // 3 if x1 + width // 3 <= width else -width // 3
        return o.model_copy(update={"bbox": (x0 + dx, y0, x1 + dx, y1)})

    off = [moved(o) if k == first else o for k, o in enumerate(objects)]
    out["layout"].append(
        ("box off its concept", replace(base, layout=base.layout.model_copy(update={"objects": off})))
    )

    def tiny(o: Any) -> Any:
        x0, y0, x1, y1 = o.planned_bbox
        w, h = max(2, (x1 - x0) // 30), max(2, (y1 - y0) // 30)
        return o.model_copy(update={"planned_bbox": (x0, y1 - h, x0 + w, y1)})

    small = [tiny(o) if k == first else o for k, o in enumerate(objects)]
    out["layout"].append(("concept tiny", replace(base, layout=base.layout.model_copy(update={"objects": small}))))
    # seams: a dark ring from the composite's black, a fringe of the old background
    solid = (subject.union >= 0.5).astype(np.uint8)
    outside = cv2.distanceTransform(1 - solid, cv2.DIST_L2, 3)
    ring = (outside > 0) & (outside <= 3)
    dark = image.copy()
    dark[ring] = (dark[ring] * 0.35).astype(np.uint8)
    out["seams"].append(("dark ring", write_image(base, dark, work, "ring")))
    band = ((subject.union > 0.02) & (subject.union < 0.98)) | ((outside > 0) & (outside <= 1.5))
    fringe = image.copy()
    fringe[band] = (fringe[band] * 0.3 + 0.7 * np.array([150, 150, 150])).astype(np.uint8)
    out["seams"].append(("old-background fringe", write_image(base, fringe, work, "fringe")))
    # caption: a concept left out, far too long
    name = objects[first].name
    words = [w for w in base.text.split() if name.split()[-1] not in w.lower()]
    out["caption"].append(("concept missing", replace(base, text=" ".join(words))))
    out["caption"].append(("far too long", replace(base, text=base.text + " with" + " very" * 40 + " much more")))
    # duplicate: the previous sample again, re-encoded
    if earlier is not None:
        copy = SampleSubject(earlier).image
        _, encoded = cv2.imencode(".jpg", copy[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 80])
        again = cv2.imdecode(encoded, cv2.IMREAD_COLOR)[..., ::-1].copy()
        out["duplicate"].append(("re-encoded copy", (earlier.key, write_image(base, again, work, "copy"))))
    return out


def sample_cases(run: Path, work: Path) -> tuple[dict[str, list[tuple[str, bool, str]]], dict[str, float]]:
    suite = CheckSuite.of(load_config())
    checks = {c.name: c for c in suite.samples}
    bases = base_samples(run)
    results: dict[str, list[tuple[str, bool, str]]] = defaultdict(list)
    seconds: dict[str, list[float]] = defaultdict(list)

    def judge(check: str, inputs: SampleInputs) -> str:
        subject = SampleSubject(inputs)
        started = time.perf_counter()
        scores = checks[check].measure(subject)
        seconds[check].append(time.perf_counter() - started)
        return suite.judge(check, to_data(scores)).status

    duplicates: list[tuple[str, str, bool]] = []  # (key, hash, broken)
    for index, base in enumerate(bases):
        for check in checks:
            results[check].append((base.key, False, judge(check, base)))
        duplicates.append((base.key, perceptual_hash(SampleSubject(base).image), False))
        for check, cases in broken_samples(base, work, bases[index - 1] if index else None).items():
            for kind, inputs in cases:
                if check == "duplicate":
                    _, copy = inputs
                    duplicates.append((f"{base.key} {kind}", perceptual_hash(SampleSubject(copy).image), True))
                else:
                    results[check].append((f"{base.key} {kind}", True, judge(check, inputs)))
    assert suite.duplicate is not None
    # each copy is judged against the good samples only, as the stage judges a run (copies come after them)
    good = [(k, h) for k, h, broken in duplicates if not broken]
    for key, hashed, broken in duplicates:
        pool = [*(g for g in good if g[0] != key), (key, hashed)]
        distances = nearest(pool, [True] * len(pool))[key]
        results["duplicate"].append((key, broken, suite.judge_distances(distances).status))
    return results, {check: float(np.mean(v)) for check, v in seconds.items()}


# ---------------------------------------------------------------------------------------------- report
def row(cases: list[tuple[str, bool, str]]) -> dict[str, Any]:
    broken = [c for c in cases if c[1]]
    good = [c for c in cases if not c[1]]
    tp = sum(c[2] == REJECT for c in broken)
    fp = sum(c[2] == REJECT for c in good)
    return {
        "good": len(good),
        "broken": len(broken),
        "rejected broken": tp,
        "rejected good": fp,
        "precision": tp / (tp + fp) if tp + fp else None,
        "recall": tp / len(broken) if broken else None,
        "flagged good": sum(c[2] == FLAG for c in good),
        "flagged broken": sum(c[2] == FLAG for c in broken),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--photos", type=Path, default=SHARED / "dreambooth", help="DreamBooth photos folder")
    parser.add_argument("--references", type=Path, default=SHARED / "gen4gen", help="photos with IS-Net masks")
    parser.add_argument("--samples", type=int, default=6, help="samples per composition (default: 6)")
    parser.add_argument("--synthetic", type=int, default=24, help="synthetic photos for the cut-out set")
    parser.add_argument("--work", type=Path, help="working folder (default: a temporary one)")
    parser.add_argument("--json", type=Path, help="also write the table here")
    parser.add_argument("--verbose", action="store_true", help="list every broken cut-out that was not rejected")
    args = parser.parse_args(argv)
    console = Console(width=max(Console().width, 140))
    with tempfile.TemporaryDirectory() as scratch:
        work = args.work or Path(scratch)
        photos = synthetic_photos(args.synthetic)
        if (args.references / "s0_source_images").is_dir():
            photos = reference_photos(args.references) + photos
        cutouts, cutout_seconds = cutout_cases(photos)
        if not args.photos.is_dir():
            console.print(f"[red]no DreamBooth photos at {args.photos}[/red]; pass --photos DIR")
            return 2
        run = build_run(args.photos, work, args.samples)
        per_check, seconds = sample_cases(run, work)
    rows = {"cutout": row(cutouts), **{check: row(cases) for check, cases in per_check.items()}}
    seconds["cutout"] = cutout_seconds
    table = Table(title="curate checks: rejections on labelled good and broken cases")
    for column in ("check", "good", "broken", "precision", "recall", "flagged good", "flagged broken", "ms"):
        table.add_column(column, justify="left" if column == "check" else "right")
    for check, r in rows.items():
        table.add_row(
            check,
            str(r["good"]),
            str(r["broken"]),
            "-" if r["precision"] is None else f"{r['precision']:.2f}",
            "-" if r["recall"] is None else f"{r['recall']:.2f}",
            str(r["flagged good"]),
            str(r["flagged broken"]),
            f"{1000 * seconds.get(check, 0.0):.0f}",
        )
    console.print(table)
    kinds: dict[str, list[str]] = defaultdict(list)
    for name, broken, status in cutouts:
        if broken:
            kinds[next(k for k in KINDS if name.endswith(k))].append(status)
    console.print(
        "cut-outs rejected (flagged) by damage: "
        + ", ".join(
            f"{kind} {statuses.count(REJECT)}/{len(statuses)} ({statuses.count(FLAG)})"
            for kind, statuses in kinds.items()
        )
    )
    missed = [c for c in cutouts if c[1] and c[2] != REJECT]
    if missed and args.verbose:
        console.print("cut-outs not rejected: " + ", ".join(f"{name} ({status})" for name, _, status in missed))
    wrong = [c for c in cutouts if not c[1] and c[2] == REJECT]
    if wrong:
        console.print("good cut-outs rejected: " + ", ".join(name for name, _, _ in wrong))
    for check, cases in per_check.items():
        for name, broken, status in cases:
            if broken != (status == REJECT):
                console.print(f"{check}: {name} {'broken' if broken else 'good'} -> {status}")
    if args.json:
        args.json.write_text(json.dumps({"rows": rows, "seconds": seconds}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
