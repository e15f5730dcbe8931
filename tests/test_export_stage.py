"""The export stage's own files: an all-skipped rerun rewrites neither ``metadata.jsonl`` nor the contact sheet,
a change rewrites them, and the report and contact sheet are made from the previews, not the full images."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from test_run import fast, run_cli

from gen4gen.exporters.contact_sheet import CONTACT_SHEET, ContactSheetWriter
from gen4gen.manifest import Manifest
from gen4gen.sample import Sample, iter_samples, sample_target

pytestmark = pytest.mark.slow

FILES = ("metadata.jsonl", CONTACT_SHEET)


def stamps(out: Path) -> dict[str, int]:
    return {name: (out / name).stat().st_mtime_ns for name in FILES}


def samples_of(out: Path) -> list[Sample]:
    with Manifest(out) as manifest:
        keys = json.loads(manifest.get_meta("samples") or "[]")
        return [s for s in iter_samples(manifest, keys) if isinstance(s, Sample)]


def opened_files(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """Every file PIL opens in this process from now on."""
    opened: list[Path] = []
    real = Image.open

    def spy(fp: Any, *args: Any, **kwargs: Any) -> Image.Image:
        if isinstance(fp, str | Path):
            opened.append(Path(fp))
        return real(fp, *args, **kwargs)

    monkeypatch.setattr(Image, "open", spy)
    return opened


def test_an_all_skipped_rerun_leaves_the_index_and_the_contact_sheet_alone(
    src: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "run"
    assert run_cli("run", src, "--out", out, "-n", "2", *fast()) == 0
    before, first = stamps(out), {name: (out / name).read_bytes() for name in FILES}
    opened = opened_files(monkeypatch)
    assert run_cli("run", src, "--out", out, "-n", "2", *fast()) == 0
    assert stamps(out) == before
    assert (out / "report.html").is_file()  # written again (it shows timings), from the previews
    assert not [p for p in opened if p.parent.name == "images"], opened
    # one more sample: both change
    assert run_cli("run", src, "--out", out, "-n", "3", *fast()) == 0
    after = stamps(out)
    assert all(after[name] != before[name] for name in FILES)
    assert all((out / name).read_bytes() != first[name] for name in FILES)
    assert len((out / "metadata.jsonl").read_text().splitlines()) == 3


def test_a_verdict_change_or_a_damaged_sheet_rewrites_them(src: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    assert run_cli("run", src, "--out", out, "-n", "3", *fast()) == 0
    before = stamps(out)
    rejected = samples_of(out)[0]
    with Manifest(out) as manifest:  # a person rejects a sample: nothing is redone, only the selection changes
        manifest.add_decision(sample_target(rejected.key), "verdict", "reject")
    assert run_cli("export", out) == 0
    after = stamps(out)
    assert all(after[name] != before[name] for name in FILES)
    assert rejected.id not in (out / "metadata.jsonl").read_text()
    assert len((out / "metadata.jsonl").read_text().splitlines()) == 2
    sheet = Image.open(out / CONTACT_SHEET)
    assert sheet.size == (2 * 256, 256)
    # the same selection: untouched; a damaged sheet: made again, the same bytes as before the damage
    good = (out / CONTACT_SHEET).read_bytes()
    assert run_cli("export", out) == 0
    assert stamps(out) == after
    (out / CONTACT_SHEET).write_bytes(good[: len(good) // 2])
    assert run_cli("export", out) == 0
    assert (out / CONTACT_SHEET).read_bytes() == good
    assert stamps(out)["metadata.jsonl"] == after["metadata.jsonl"]


def test_the_contact_sheet_uses_the_preview_and_the_image_without_one(src: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    assert run_cli("run", src, "--out", out, "-n", "2", *fast("export.contact_sheet=false")) == 0
    samples = samples_of(out)
    assert all(s.preview is not None and (out / s.preview).is_file() for s in samples)
    states = []
    for sample_set in (samples, [dataclasses.replace(s, preview=None) for s in samples]):  # an older run's
        writer = ContactSheetWriter()
        writer.open(out)
        for sample in sample_set:
            writer.add(sample)
        assert writer.close() == [out / CONTACT_SHEET]
        assert Image.open(out / CONTACT_SHEET).size == (2 * 256, 256)
        states.append(writer.state)
    assert states[0] != states[1]
