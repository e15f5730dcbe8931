"""Training-ready exports, each read back by its consumer's own library (datasets, pycocotools, webdataset) or
checked against its trainer's documented layout (Custom Diffusion's concepts_list, kohya's dataset config), and
the paper's training captions (modifier tokens, global token, repeated concepts, background, short/detailed)."""

from __future__ import annotations

import io
import json
import os
import re
import shlex
import shutil
import sys
import tarfile
from pathlib import Path

import numpy as np
import pytest
import yaml
from conftest import FAST, write_concepts
from PIL import Image

from gen4gen.cli import main
from gen4gen.errors import ConfigError
from gen4gen.exporters.captions import TrainingCaptions, place_tokens
from gen4gen.manifest import Manifest, Verdict
from gen4gen.sample import Sample, SampleObject, sample_target

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

SPLIT_WORDS = re.compile(r"train|test|valid|val|dev|eval", re.IGNORECASE)
FORMATS = ("hf", "coco", "webdataset", "custom-diffusion", "dreambooth", "kohya")


def run_cli(*args: str | Path) -> int:
    return main(["-q", *map(str, args)])


def settings(*keys: str) -> list[str]:
    return [item for key in (*FAST, *keys) for item in ("--set", key)]


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(SRC, RUN_DIR): a cat, two dogs and a concept named `train` (a COCO class, and a datasets split name)."""
    root = tmp_path_factory.mktemp("exports")
    src = write_concepts(root / "src", {"cat": 2, "dog1": 1, "dog2": 1, "train": 1})
    run = root / "run"
    assert run_cli("run", src, "--out", run, "-n", "3", *settings()) == 0
    assert not (run / "exports").exists()  # `gen4gen run` writes no exports unless export.formats names some
    return src, run


@pytest.fixture(scope="module")
def run_dir(made: tuple[Path, Path]) -> Path:
    """The run folder with every format exported to RUN_DIR/exports/<format>."""
    run = made[1]
    formats = [a for name in FORMATS for a in ("--format", name)]
    keys = settings("export.shard_size=2", "export.kohya_masks=true")
    assert run_cli("export", run, *formats, *keys) == 0
    return run


def run_rows(run: Path) -> dict[str, dict]:
    """The run folder's own metadata.jsonl, by sample id."""
    rows = [json.loads(line) for line in (run / "metadata.jsonl").read_text().splitlines()]
    return {row["sample_id"]: row for row in rows}


def expanded(run: Path, obj: dict, size: tuple[int, int] = (256, 256)) -> np.ndarray:
    """An instance mask of the run folder's metadata.jsonl (a crop PNG at ``mask_box``, or a full-image PNG where
    ``mask_box`` is null) on the whole image, uint8, straight from the file and its box."""
    crop = np.asarray(Image.open(run / obj["mask"]))
    if obj["mask_box"] is None:
        return crop
    x0, y0, x1, y1 = obj["mask_box"]
    whole = np.zeros(size[::-1], np.uint8)
    whole[y0:y1, x0:x1] = crop
    return whole


def union_of(run: Path, row: dict) -> np.ndarray:
    return np.max(np.stack([expanded(run, o) for o in row["objects"]]), axis=0)


def files_under(folder: Path) -> set[str]:
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}


# ------------------------------------------------------------------------------------------------------ hf
def test_hf_loads_with_datasets_whatever_the_concept_names(run_dir: Path) -> None:
    datasets = pytest.importorskip("datasets")
    folder = run_dir / "exports" / "hf"
    expected = run_rows(run_dir)
    # the README's way, the dataset-folder way, and diffusers' train_text_to_image*.py --train_data_dir way
    loaded = [
        datasets.load_dataset("imagefolder", data_dir=str(folder), split="train"),
        datasets.load_dataset(str(folder), split="train"),
        datasets.load_dataset("imagefolder", data_files={"train": os.path.join(str(folder), "**")})["train"],
    ]
    for dataset in loaded:
        assert dataset.num_rows == 3
        assert {"image", "mask", "text", "caption", "objects", "scene", "sample_id"} <= set(dataset.column_names)
    for row in loaded[0]:
        assert row["image"].size == (256, 256) and row["image"].mode == "RGB" and row["mask"].mode == "L"
        source = expected[row["sample_id"]]
        assert row["caption"] == source["text"] and row["scene"] == source["scene"]
        assert {o["concept_id"] for o in row["objects"]} == {"cat", "dog1", "dog2", "train"}
        tokens = {o["concept_id"]: o["token"] for o in row["objects"]}
        assert tokens == {"cat": "<new1>", "dog1": "<new2>", "dog2": "<new3>", "train": "<new4>"}
        assert all(f"{t} " in row["text"] for t in tokens.values())
        by_id = {o["concept_id"]: o for o in source["objects"]}
        for obj in row["objects"]:
            assert obj["bbox"] == by_id[obj["concept_id"]]["bbox"]
            mask = np.asarray(Image.open(folder / obj["mask"]))  # image-sized, the run folder's crop expanded
            assert np.array_equal(mask, expanded(run_dir, by_id[obj["concept_id"]]))
        assert np.array_equal(np.asarray(row["mask"]), union_of(run_dir, source))
    # a folder holding only the dataset, named so that no concept can be taken for a split
    names = files_under(folder)
    assert names >= {"metadata.jsonl", "README.md", "export.yaml"}
    assert not [n for n in names if SPLIT_WORDS.search(n)]
    images = [n for n in names if n.startswith("images/")]
    assert len(images) == 3 and all(Image.open(folder / n).mode == "RGB" for n in images)


def test_hf_files_are_hard_links_to_the_run_folder(run_dir: Path) -> None:
    folder = run_dir / "exports" / "hf"
    record = yaml.safe_load((folder / "export.yaml").read_text())
    assert record["format"] == "hf" and record["complete"] and record["samples"] == 3
    assert record["captions"]["tokens"] == "auto" and record["captions"]["style"] == "detailed"
    assert record["captions"]["concepts"]["dog2"] == {"name": "dog", "token": "<new3>", "phrase": "<new3> dog"}
    run_images = {p.stat().st_ino for p in (run_dir / "images").iterdir()}
    assert {p.stat().st_ino for p in (folder / "images").iterdir()} == run_images


# ------------------------------------------------------------------------------------------------------ coco
def test_coco_reads_back_with_pycocotools(run_dir: Path) -> None:
    pytest.importorskip("pycocotools")
    from pycocotools.coco import COCO

    folder = run_dir / "exports" / "coco"
    coco = COCO(str(folder / "instances.json"))
    categories = {c["name"]: c for c in coco.loadCats(coco.getCatIds())}
    assert set(categories) == {"cat", "dog1", "dog2", "train"}
    assert categories["dog1"]["supercategory"] == categories["dog2"]["supercategory"] == "dog"
    assert categories["train"]["supercategory"] == "train" and categories["cat"]["token"] == "<new1>"
    expected = run_rows(run_dir)
    assert len(coco.getImgIds()) == 3
    for image in coco.loadImgs(coco.getImgIds()):
        assert Image.open(folder / image["file_name"]).size == (image["width"], image["height"])
        source = expected[image["sample_id"]]
        masks = {o["concept_id"]: expanded(run_dir, o) for o in source["objects"]}
        annotations = coco.loadAnns(coco.getAnnIds(imgIds=[image["id"]]))
        assert len(annotations) == 4
        for ann in annotations:
            concept = coco.loadCats([ann["category_id"]])[0]["name"]
            decoded = coco.annToMask(ann).astype(bool)
            truth = masks[concept] >= 128
            assert np.array_equal(decoded, truth)
            ys, xs = np.nonzero(truth)
            x, y, w, h = ann["bbox"]
            assert (x, y, x + w, y + h) == (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1)
            assert ann["area"] == truth.sum() and ann["iscrowd"] == 0
            assert isinstance(ann["segmentation"]["counts"], str)
    captions = COCO(str(folder / "captions.json"))
    for image_id in captions.getImgIds():
        (entry,) = captions.loadAnns(captions.getAnnIds(imgIds=[image_id]))
        assert "<new1> cat" in entry["caption"]


# ------------------------------------------------------------------------------------------------------ webdataset
def test_webdataset_shards_read_back_with_webdataset(run_dir: Path) -> None:
    wds = pytest.importorskip("webdataset")
    folder = run_dir / "exports" / "webdataset"
    shards = sorted(p.name for p in folder.glob("*.tar"))
    assert shards == ["shard-000000.tar", "shard-000001.tar"]  # export.shard_size=2, 3 samples
    record = yaml.safe_load((folder / "export.yaml").read_text())
    urls = f"{folder}/{record['urls']}"
    samples = list(wds.WebDataset(urls, shardshuffle=False).decode("pil"))
    expected = run_rows(run_dir)
    assert len(samples) == 3
    for sample in samples:
        assert "." not in sample["__key__"]
        meta = sample["json"]
        source = expected[meta["sample_id"]]
        assert sample["png"].size == (256, 256) and sample["png"].mode == "RGB"
        assert sample["txt"] == meta["text"] and meta["caption"] == source["text"]
        assert meta["scene"] == source["scene"] and meta["seed"] == source["seed"]
        assert meta["provenance"]["planner"]["name"] == "prior"
        assert np.array_equal(np.asarray(sample["mask.png"].convert("L")), union_of(run_dir, source))
        by_id = {o["concept_id"]: o for o in source["objects"]}
        for k, obj in enumerate(meta["objects"]):
            mask = np.asarray(sample[f"mask_{k}.png"].convert("L"))  # decode("pil") gives RGB
            assert np.array_equal(mask, expanded(run_dir, by_id[obj["concept_id"]]))
            assert obj["bbox"] == by_id[obj["concept_id"]]["bbox"]


# ------------------------------------------------------------------------------------------------ custom diffusion
def test_custom_diffusion_matches_train_custom_diffusion(run_dir: Path) -> None:
    folder = run_dir / "exports" / "custom-diffusion"
    entries = json.loads((folder / "concepts_list.json").read_text())
    record = yaml.safe_load((folder / "export.yaml").read_text())
    modifiers = record["modifier_token"].split("+")
    assert modifiers == ["<new1>", "<new2>", "<new3>", "<new4>"]
    assert len(record["initializer_token"].split("+")) == len(modifiers)  # the trainer wants one per modifier
    assert len(entries) == 3
    for entry in entries:
        # what CustomDiffusionDataset reads: every file of instance_data_dir, paired with instance_prompt
        assert set(entry) == {"instance_prompt", "class_prompt", "instance_data_dir", "class_data_dir"}
        assert Path(entry["instance_data_dir"]).is_absolute() and Path(entry["class_data_dir"]).is_absolute()
        files = [p for p in Path(entry["instance_data_dir"]).iterdir() if p.is_file()]
        assert len(files) == 1
        with Image.open(files[0]) as image:
            assert image.mode == "RGB" and image.size == (256, 256)
        assert all(token in entry["instance_prompt"] for token in modifiers)
        assert entry["class_prompt"] == "a cat, two dogs and a train"
    assert len({e["class_data_dir"] for e in entries}) == 1  # one composition: class images generated once
    # the README's command passes exactly these files and tokens
    readme = (folder / "README.md").read_text()
    command = readme.split("```bash\n")[1].split("```")[0].replace("\\\n", " ")
    args = dict(a.split("=", 1) for a in shlex.split(command) if a.startswith("--") and "=" in a)
    assert args["--concepts_list"] == str((folder / "concepts_list.json").resolve())
    assert args["--modifier_token"] == record["modifier_token"]
    assert args["--initializer_token"] == record["initializer_token"] == "cat+dog+dog+train"
    assert shlex.split(command)[:3] == ["accelerate", "launch", "train_custom_diffusion.py"]


# ------------------------------------------------------------------------------------------------------ dreambooth
def test_dreambooth_loads_as_the_lora_scripts_read_it(run_dir: Path) -> None:
    datasets = pytest.importorskip("datasets")
    folder = run_dir / "exports" / "dreambooth"
    dataset = datasets.load_dataset(str(folder))  # train_dreambooth_lora_sdxl.py --dataset_name=DIR
    train = dataset["train"]
    assert train.num_rows == 3 and {"image", "prompt"} <= set(train.column_names)
    captions = {row["sample_id"]: row["text"] for row in run_rows(run_dir).values()}
    for row in train:
        assert row["image"].mode == "RGB" and "<new2> dog" in row["prompt"]
        assert row["prompt"] != captions[row["sample_id"]]
    # train_dreambooth.py --instance_data_dir=DIR/images opens every file there as a photo
    for path in (folder / "images").iterdir():
        with Image.open(path) as image:
            assert image.mode == "RGB"
    readme = (folder / "README.md").read_text()
    assert "--caption_column=prompt" in readme and f"--instance_data_dir={(folder / 'images').resolve()}" in readme


# ------------------------------------------------------------------------------------------------------ kohya
def test_kohya_matches_the_sd_scripts_dataset_config(run_dir: Path) -> None:
    folder = run_dir / "exports" / "kohya"
    config = tomllib.loads((folder / "dataset.toml").read_text())
    assert config["general"]["caption_extension"] == ".caption" and config["general"]["shuffle_caption"] is False
    (dataset,) = config["datasets"]
    assert dataset["resolution"] == 256
    (subset,) = dataset["subsets"]
    image_dir, mask_dir = Path(subset["image_dir"]), Path(subset["conditioning_data_dir"])
    assert image_dir.is_absolute() and image_dir.parent == (folder / "img").resolve()
    repeats, _, name = image_dir.name.partition("_")  # img/<repeats>_<name>, as --train_data_dir reads it
    assert int(repeats) == subset["num_repeats"] == 10 and name == "cat+dog1+dog2+train"
    images = sorted(p for p in image_dir.iterdir() if p.suffix == ".png")
    assert len(images) == 3
    unions = sorted(union_of(run_dir, row).tobytes() for row in run_rows(run_dir).values())
    assert sorted(np.asarray(Image.open(mask_dir / p.name)).tobytes() for p in images) == unions
    assert sorted(p.name for p in image_dir.iterdir()) == sorted(
        [p.name for p in images] + [p.stem + ".caption" for p in images]
    )
    for image in images:
        lines = image.with_suffix(".caption").read_text().splitlines()
        assert len(lines) == 1 and "<new1> cat" in lines[0]
        mask = mask_dir / image.name  # masked loss: the same stem in conditioning_data_dir
        assert Image.open(mask).size == Image.open(image).size
    assert "--masked_loss" in (folder / "README.md").read_text()


# ------------------------------------------------------------------------------------------------------ behaviour
def test_reexport_adds_new_samples_and_leaves_the_rest(made: tuple[Path, Path], tmp_path: Path) -> None:
    src, original = made
    run = tmp_path / "run"
    shutil.copytree(original, run, ignore=shutil.ignore_patterns("exports"))
    keys = settings("export.shard_size=2")
    assert run_cli("export", run, "--format", "hf", "--format", "webdataset", *keys) == 0
    hf, shards = run / "exports" / "hf", run / "exports" / "webdataset"
    before = {p: p.stat().st_mtime_ns for p in [*hf.rglob("*"), *shards.rglob("*")] if p.is_file()}
    assert run_cli("export", run, "--format", "hf", "--format", "webdataset", *keys) == 0
    assert {p: p.stat().st_mtime_ns for p in before} == before  # nothing changed, nothing rewritten
    assert run_cli("run", src, "--out", run, "-n", "5", *keys) == 0
    assert run_cli("export", run, "--format", "hf", "--format", "webdataset", *keys) == 0
    assert len((hf / "metadata.jsonl").read_text().splitlines()) == 5
    old_images = [p for p in before if p.parent == hf / "images"]
    assert len(old_images) == 3 and all(p.stat().st_mtime_ns == before[p] for p in old_images)
    assert shards.joinpath("shard-000000.tar").stat().st_mtime_ns == before[shards / "shard-000000.tar"]
    assert sorted(p.name for p in shards.glob("*.tar")) == [f"shard-00000{i}.tar" for i in range(3)]
    assert not [p for p in run.rglob("*.tmp")]


def test_png_level_reencodes_exported_images_once(made: tuple[Path, Path], tmp_path: Path) -> None:
    run = tmp_path / "run"
    shutil.copytree(made[1], run, ignore=shutil.ignore_patterns("exports"))
    hf, shards = tmp_path / "hf", tmp_path / "wds"
    keys = settings("export.png_level=9")
    assert run_cli("export", run, "--format", "hf", "--out", hf, *keys) == 0
    assert run_cli("export", run, "--format", "webdataset", "--out", shards, *keys) == 0
    sources = {p.name: p for p in (run / "images").iterdir()}
    exported = sorted((hf / "images").iterdir())
    assert len(exported) == len(sources)
    inodes = {p.stat().st_ino for p in sources.values()}
    for path in exported:  # smaller files of the same pixels, not links to the run folder's
        assert path.stat().st_ino not in inodes
    rows = [json.loads(line) for line in (hf / "metadata.jsonl").read_text().splitlines()]
    for row in rows:
        source = run / "images" / f"{row['sample_id']}.png"
        image = hf / row["file_name"]
        assert np.array_equal(np.asarray(Image.open(image)), np.asarray(Image.open(source)))
        assert image.stat().st_size < source.stat().st_size
    assert yaml.safe_load((hf / "export.yaml").read_text())["png_level"] == 9
    with tarfile.open(shards / "shard-000000.tar") as tar:
        member = next(m for m in tar.getmembers() if m.name.endswith(".png") and ".mask" not in m.name)
        data = tar.extractfile(member).read()  # type: ignore[union-attr]
        meta = json.loads(tar.extractfile(member.name.replace(".png", ".json")).read())  # type: ignore[union-attr]
    source = sources[f"{meta['sample_id']}.png"]
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(data))), np.asarray(Image.open(source)))
    assert len(data) < source.stat().st_size
    before = {p: p.stat().st_mtime_ns for p in [*hf.rglob("*"), *shards.rglob("*")] if p.is_file()}
    assert run_cli("export", run, "--format", "hf", "--out", hf) == 0  # the level is the run's setting now
    assert run_cli("export", run, "--format", "webdataset", "--out", shards) == 0
    assert {p: p.stat().st_mtime_ns for p in before} == before  # encoded once
    assert run_cli("export", run, "--format", "hf", "--out", hf, *settings("export.png_level=null")) == 0
    assert {p.stat().st_ino for p in (hf / "images").iterdir()} == inodes


def test_a_shard_is_never_half_written(
    made: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = tmp_path / "run"
    shutil.copytree(made[1], run, ignore=shutil.ignore_patterns("exports"))
    import gen4gen.exporters.webdataset as writer

    class Unreadable:
        def read_bytes(self) -> bytes:
            raise OSError("disk full")

    real = writer._write_tar

    def failing(path: Path, members) -> None:  # the second shard fails after three of its files
        members = list(members)
        real(path, [*members[:3], ("x.bin", Unreadable())] if path.name == "shard-000001.tar" else members)

    monkeypatch.setattr(writer, "_write_tar", failing)
    with pytest.raises(OSError, match="disk full"):
        main(["-q", "export", str(run), "--format", "webdataset", *settings("export.shard_size=2")])
    folder = run / "exports" / "webdataset"
    assert [p.name for p in folder.glob("*.tar")] == ["shard-000000.tar"]
    assert not [p for p in folder.iterdir() if p.name.endswith(".tmp")]
    monkeypatch.setattr(writer, "_write_tar", real)
    assert run_cli("export", run, "--format", "webdataset", *settings("export.shard_size=2")) == 0
    assert sorted(p.name for p in folder.glob("*.tar")) == ["shard-000000.tar", "shard-000001.tar"]


def test_only_accepted_samples_flagged_on_request(made: tuple[Path, Path], tmp_path: Path) -> None:
    datasets = pytest.importorskip("datasets")
    run = tmp_path / "run"
    shutil.copytree(made[1], run, ignore=shutil.ignore_patterns("exports"))
    with Manifest(run) as manifest:
        keys = json.loads(manifest.get_meta("samples") or "[]")
        manifest.add_verdict(Verdict(keys[0], "clip", "reject", reason="concept missing"))
        manifest.add_verdict(Verdict(keys[1], "clip", "flag", reason="low score"))
        manifest.add_verdict(Verdict(keys[2], "clip", "flag", reason="low score"))
        manifest.add_decision(sample_target(keys[2]), "verdict", "accept")  # a person's word wins
    out = tmp_path / "ds"
    assert run_cli("export", run, "--format", "hf", "--out", out, *settings()) == 0
    assert datasets.load_dataset(str(out), split="train").num_rows == 1
    assert run_cli("export", run, "--format", "hf", "--out", out, "--include-flagged", *settings()) == 0
    rows = datasets.load_dataset(str(out), split="train")
    assert rows.num_rows == 2 and yaml.safe_load((out / "export.yaml").read_text())["include_flagged"] is True
    assert run_cli("export", run, "--format", "hf", "--out", out, *settings()) == 0
    assert len(list((out / "images").iterdir())) == 1  # the flagged sample's files are gone again
    assert len([p for p in (out / ".masks").iterdir() if p.is_dir()]) == 1


def test_run_writes_the_formats_of_its_config(tmp_path: Path) -> None:
    src = write_concepts(tmp_path / "src", {"cat": 1, "dog": 1})
    run = tmp_path / "run"
    keys = settings(
        "export.formats=[kohya]", "export.link=false", "export.caption=short", "export.repeat_concepts=1"
    )
    assert run_cli("run", src, "--out", run, "-n", "2", *keys) == 0
    assert (run / "metadata.jsonl").is_file() and (run / "contact_sheet.jpg").is_file()
    folder = run / "exports" / "kohya"
    captions = sorted(p.read_text().strip() for p in folder.rglob("*.caption"))
    scenes = sorted(row["scene"] for row in run_rows(run).values())
    assert captions == sorted(f"<new1> cat and <new2> dog {s}, <new1> cat, <new2> dog" for s in scenes)
    images = [p for p in folder.rglob("*.png")]
    run_inodes = {p.stat().st_ino for p in (run / "images").iterdir()}
    assert len(images) == 2 and not {p.stat().st_ino for p in images} & run_inodes  # copies


def test_chosen_tokens_and_global_token_reach_custom_diffusion(made: tuple[Path, Path], tmp_path: Path) -> None:
    run, out = tmp_path / "run", tmp_path / "cd"
    shutil.copytree(
        made[1], run, ignore=shutil.ignore_patterns("exports")
    )  # export settings persist in config.yaml
    keys = settings('export.tokens={dog1: "<sks> dog", train: "<trn>"}', "export.global_token=<g*>")
    assert run_cli("export", run, "--format", "custom-diffusion", "--out", out, *keys) == 0
    record = yaml.safe_load((out / "export.yaml").read_text())
    assert record["modifier_token"] == "<sks>+<trn>+<g*>" and record["initializer_token"] == "dog+train+photo"
    for entry in json.loads((out / "concepts_list.json").read_text()):
        prompt = entry["instance_prompt"]
        assert prompt.startswith("<g*> ") and "<sks> dog" in prompt and "<trn> train" in prompt
        assert "<new" not in prompt


@pytest.mark.parametrize(
    ("args", "code", "fragment"),
    [
        (["--format", "nope"], 2, "unknown export format 'nope'; available: hf, coco"),
        (["--format", "hf", "--out", "{foreign}"], 1, "holds files that are not a gen4gen hf export"),
        (["--format", "coco", "--out", "{hf}"], 1, "holds a gen4gen hf export, not coco"),
        (["--format", "hf", "--out", "{run}"], 1, "is the run folder"),
        (["--format", "hf", "--set", "export.tokens={dog9: x}"], 2, "unknown concept(s) dog9"),
        (["--format", "hf", "--set", "export.caption=long"], 2, "export.caption"),
        (["--format", "hf", "--set", "export.formats=[tfrecord]"], 2, "unknown export format 'tfrecord'"),
    ],
)
def test_clear_errors(
    run_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], code: int, fragment: str
) -> None:
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    places = {"{foreign}": foreign, "{hf}": run_dir / "exports" / "hf", "{run}": run_dir}
    filled = [str(places.get(a, a)) for a in args]
    assert run_cli("export", run_dir, *filled) == code
    err = capsys.readouterr().err
    assert fragment in " ".join(err.split()) and "Traceback" not in err
    assert (foreign / "notes.txt").read_text() == "mine" and sorted(p.name for p in foreign.iterdir()) == [
        "notes.txt"
    ]


# ------------------------------------------------------------------------------------------------------ captions
def sample(caption: str, concepts: list[tuple[str, str]], scene: str = "in the garden") -> Sample:
    objects = [
        SampleObject(name, cid, cid, (0, 0, 10, 10), f"masks/s/{k}.png", (0, 0, 10, 10), "p.jpg", k, 1.0)
        for k, (cid, name) in enumerate(concepts)
    ]
    return Sample(
        key="c/0",
        id="c_00000",
        composition="c",
        size=(64, 64),
        objects=objects,
        image="images/c.png",
        preview=None,
        composite="composites/c.png",
        caption=caption,
        generated_caption=caption,
        scene=scene,
        seeds={},
        provenance={},
    )


CONCEPTS = {"cat": "cat", "dog1": "dog", "dog2": "dog", "plant": "house plant"}
ALL = [("cat", "cat"), ("dog1", "dog"), ("dog2", "dog"), ("plant", "house plant")]


def test_tokens_go_before_the_class_words_the_caption_names() -> None:
    captions = TrainingCaptions(CONCEPTS)
    assert [captions.concept(c).token for c in sorted(CONCEPTS)] == ["<new1>", "<new2>", "<new3>", "<new4>"]
    text = captions.caption(sample("A kitten between two dogs, a house plant behind the dogs in the garden.", ALL))
    assert text == (
        "A <new1> kitten between <new2> dog and <new3> dog, a <new4> house plant behind the <new2> dog and "
        "<new3> dog in the garden."
    )
    # one dog named twice in the singular: each mention is the next dog; an unnamed concept is added
    text = captions.caption(sample("a dog and another dog on grass", ALL[:3], scene="on grass"))
    assert text == "a <new2> dog and another <new3> dog on grass, with <new1> cat"


def test_background_global_token_repeats_and_short_captions() -> None:
    captions = TrainingCaptions(CONCEPTS, global_token="<g*>", repeat_concepts=2)
    text = captions.caption(
        sample("a cat next to a dog.", [("cat", "cat"), ("dog1", "dog")], scene="in a kitchen")
    )
    assert text == (
        "<g*> a <new1> cat next to a <new2> dog in a kitchen, <new1> cat, <new2> dog, <new1> cat, <new2> dog"
    )
    assert captions.modifier_tokens == ["<new1>", "<new2>", "<new3>", "<new4>", "<g*>"]
    short = TrainingCaptions(CONCEPTS, style="short")
    assert (
        short.caption(sample("anything", ALL))
        == "<new1> cat, <new2> dog, <new3> dog and <new4> house plant in the garden"
    )
    plain = TrainingCaptions(CONCEPTS, tokens="none", style="short")
    assert plain.caption(sample("anything", ALL)) == "a cat, two dogs and a house plant in the garden"
    kept = TrainingCaptions(CONCEPTS, tokens="none")
    assert kept.caption(sample("Two dogs and a cat near a house plant in the garden", ALL)) == (
        "Two dogs and a cat near a house plant in the garden"
    )


def test_chosen_tokens() -> None:
    captions = TrainingCaptions(CONCEPTS, tokens={"dog1": "<sks> dog", "plant": "<p*>"})
    assert (
        captions.concept("dog1").phrase == "<sks> dog" and captions.concept("plant").phrase == "<p*> house plant"
    )
    assert captions.concept("cat").token == "" and captions.modifier_tokens == ["<sks>", "<p*>"]
    text, missing = place_tokens("a cat, two dogs and a plant", [captions.concept(c) for c in CONCEPTS])
    assert text == "a cat, <sks> dog and a dog and a <p*> plant" and missing == []  # "plant" names "house plant"
    text, missing = place_tokens("a cat and two dogs", [captions.concept(c) for c in CONCEPTS])
    assert text == "a cat and <sks> dog and a dog" and missing == ["<p*> house plant"]
    for bad, fragment in (
        ({"dog7": "<x>"}, "unknown concept(s) dog7"),
        ({"dog1": "<x>", "dog2": "<x>"}, "gives <x> to several"),
        ({"dog1": "dog"}, "no token before the class word"),
    ):
        with pytest.raises(ConfigError, match=re.escape(fragment)):
            TrainingCaptions(CONCEPTS, tokens=bad)
