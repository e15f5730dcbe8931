"""Instance masks kept as crops through a run: what compose writes, what repaint requests hold, and run folders
made before masks were cropped (full-canvas mask files, a union file, no mask boxes), which still load, repaint
and export to the same pixels."""

from __future__ import annotations

import hashlib
import json
import shutil
import tarfile
from pathlib import Path

import numpy as np
import pytest
from conftest import FAST, write_concepts
from PIL import Image

from gen4gen.cli import main
from gen4gen.config import load_config
from gen4gen.geometry.masks import CanvasMask, union
from gen4gen.io.images import save_png
from gen4gen.manifest import Manifest
from gen4gen.manifest.records import ComposeData, read
from gen4gen.sample import load_masks
from gen4gen.stages.base import WorkItem
from gen4gen.stages.repaint import RepaintInputs, RepaintStage

pytestmark = pytest.mark.slow

CANVAS = (256, 256)
FORMATS = ("hf", "coco", "webdataset", "kohya")


def run_cli(*args: str | Path) -> int:
    return main(["-q", *map(str, args)])


def settings(*keys: str) -> list[str]:
    return [item for key in (*FAST, *keys) for item in ("--set", key)]


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("crops")
    src = write_concepts(root / "src", {"cat": 1, "dog": 1, "cup": 1})
    out = root / "run"
    assert run_cli("run", src, "--out", out, "-n", "3", *settings()) == 0
    return out


def compose_records(run_dir: Path) -> list[tuple[str, ComposeData]]:
    with Manifest(run_dir) as manifest:
        return [(r.key, read(ComposeData, r)) for r in manifest.records("compose", "done")]


def make_older(run_dir: Path) -> None:
    """Rewrite a run folder's compose records and mask files the way gen4gen wrote them before masks were
    cropped: every instance mask a full-canvas PNG, a ``masks/<id>_union.png`` file, no ``mask_box``."""
    with Manifest(run_dir) as manifest:
        for record in manifest.records("compose", "done"):
            data = read(ComposeData, record)
            masks = load_masks(run_dir, data.objects, data.canvas)
            for obj, mask in zip(data.objects, masks, strict=True):
                record.outputs[obj.mask] = save_png(run_dir / obj.mask, mask.full(data.canvas))
            union_path = f"masks/{data.sample_id}_union.png"
            record.outputs[union_path] = save_png(run_dir / union_path, union(masks).full(data.canvas))
            record.data = data.model_copy(update={"union_mask": union_path}).model_dump(mode="json")
            for obj in record.data["objects"]:
                del obj["mask_box"]
            manifest.put(record)


def tree(folder: Path) -> dict[str, str]:
    """sha256 of each file under ``folder``, tar shards by member (their digests in export.yaml differ)."""
    found = {}
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and p.name != "export.yaml"):
        rel = path.relative_to(folder).as_posix()
        if path.suffix == ".tar":
            with tarfile.open(path) as tar:
                for member in tar.getmembers():
                    data = tar.extractfile(member)
                    assert data is not None
                    found[f"{rel}:{member.name}"] = hashlib.sha256(data.read()).hexdigest()
        elif "README" not in rel and not rel.endswith(".toml"):  # these hold the folder's absolute path
            found[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
    return found


def test_masks_are_tight_crops_and_no_union_file(run: Path) -> None:
    records = compose_records(run)
    assert len(records) == 3
    for _, data in records:
        assert data.union_mask is None
        for obj in data.objects:
            assert obj.mask_box is not None
            crop = np.asarray(Image.open(run / obj.mask))
            x0, y0, x1, y1 = obj.mask_box
            assert crop.dtype == np.uint8 and crop.shape == (y1 - y0, x1 - x0) and crop.size < CANVAS[0] ** 2
            # tight: every edge of the crop has a pixel above 0
            assert crop[0].any() and crop[-1].any() and crop[:, 0].any() and crop[:, -1].any()
            box = obj.bbox
            assert box is not None and x0 <= box[0] < box[2] <= x1 and y0 <= box[1] < box[3] <= y1
    files = {p.relative_to(run).as_posix() for p in (run / "masks").rglob("*") if p.is_file()}
    assert files == {o.mask for _, data in records for o in data.objects}
    assert not [f for f in files if "union" in f]


def test_repaint_requests_hold_uint8_crops(run: Path) -> None:
    stage = RepaintStage(run, load_config(overrides=FAST))
    for key, data in compose_records(run):
        request = stage._request(WorkItem(key, "fp", 1, RepaintInputs(data)))
        assert len(request.instance_masks) == len(data.objects)
        for mask, obj in zip(request.instance_masks, data.objects, strict=True):
            assert isinstance(mask, CanvasMask) and mask.values.dtype == np.uint8
            assert mask.box == obj.mask_box and mask.values.size < CANVAS[0] * CANVAS[1]
            assert np.array_equal(mask.values, np.asarray(Image.open(run / obj.mask)))


def test_an_older_run_still_loads_repaints_and_exports_the_same_pixels(run: Path, tmp_path: Path) -> None:
    formats = [a for name in FORMATS for a in ("--format", name)]
    keys = settings("export.kohya_masks=true", "export.shard_size=2")
    new, old = tmp_path / "new", tmp_path / "old"
    shutil.copytree(run, new, ignore=shutil.ignore_patterns("exports"))
    shutil.copytree(run, old, ignore=shutil.ignore_patterns("exports"))
    make_older(old)
    assert (old / "masks").joinpath(f"{compose_records(old)[0][1].sample_id}_union.png").is_file()
    assert Image.open(old / compose_records(old)[0][1].objects[0].mask).size == CANVAS
    images = {p.name: p.read_bytes() for p in (new / "images").iterdir()}
    # repaint reads the full-canvas masks and paints the very same images
    assert run_cli("repaint", old) == 0 and run_cli("caption", old) == 0 and run_cli("export", old) == 0
    assert {p.name: p.read_bytes() for p in (old / "images").iterdir()} == images
    for folder in (new, old):
        assert run_cli("export", folder, *formats, *keys) == 0
    rows = [json.loads(line) for line in (old / "metadata.jsonl").read_text().splitlines()]
    assert rows and all(o["mask_box"] is None for row in rows for o in row["objects"])
    for name in FORMATS:
        exported = tree(new / "exports" / name)
        assert exported and tree(old / "exports" / name) == exported, name
    with Image.open(next((new / "exports" / "hf" / ".masks").glob("*.png"))) as union_mask:
        assert union_mask.size == CANVAS
