"""What every training-ready export shares: a folder of its own, images hard-linked (or copied) from the run
folder, masks expanded to the image's size, incremental re-export, and ``export.yaml`` recording what was written
and how.

The run folder keeps each instance mask cropped to its box; an export writes the full-image-size PNGs its
consumers expect (:func:`mask_png`), the union mask being the pixel-wise maximum of the instance masks.

An export folder is new, empty, or holds an earlier export of the same format (its ``export.yaml`` says which);
anything else is refused, so an export never writes into (or prunes) a folder it does not own. Re-exporting
leaves files that did not change alone, adds the new ones and removes, from the sub-folders the format owns, the
files of samples no longer exported. Every file appears atomically (temporary name, then rename).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import secrets
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import yaml
from PIL import Image

from gen4gen import __version__
from gen4gen.errors import ImageError, StageError
from gen4gen.exporters.base import Writer
from gen4gen.exporters.captions import TrainingCaptions
from gen4gen.geometry.masks import CanvasMask
from gen4gen.io.atomic import atomic_write_bytes, atomic_write_text, remove_stale_temporaries
from gen4gen.io.images import PNG_LEVEL, encode_png
from gen4gen.sample import Sample, load_masks

if TYPE_CHECKING:
    from gen4gen.config import ExportConfig

RECORD = "export.yaml"  # not .json: datasets would count it when it infers a folder's format


def dataset_stem(sample: Sample) -> str:
    """A file stem for datasets-loaded exports: stable per sample and free of words (hex digits only), so no
    concept or composition name (``train``, ``test``...) can steer `datasets`' split inference."""
    return hashlib.sha256(sample.key.encode("utf-8")).hexdigest()[:16]


def file_safe(text: str, default: str = "item") -> str:
    """A file or folder name from an id: letters of any script, digits, '+', '-', '_'; no dots."""
    return re.sub(r"[^\w+\-]+", "_", text).strip("_") or default


def readable_stem(sample: Sample) -> str:
    """A file stem (and webdataset key) from the sample id (:func:`file_safe`)."""
    return file_safe(sample.id, "sample")


def mask_png(mask: CanvasMask, size: tuple[int, int]) -> bytes:
    """PNG bytes of a uint8 mask expanded to the whole image (``size`` = width, height)."""
    return encode_png(mask.full(size))


def read_record(out_dir: Path) -> dict[str, Any] | None:
    """The ``export.yaml`` of an export folder, or None when there is none (or it is not one of ours)."""
    try:
        data = yaml.safe_load((out_dir / RECORD).read_text(encoding="utf-8"))
    except (OSError, ValueError, yaml.YAMLError):
        return None
    return data if isinstance(data, dict) and isinstance(data.get("format"), str) else None


class FolderWriter(Writer):
    """A writer that owns one output folder (see the module docstring)."""

    name: ClassVar[str]
    owned: ClassVar[tuple[str, ...]] = ()  # sub-folders wholly the export's: pruned of files it no longer writes

    def __init__(self, out_dir: Path, settings: ExportConfig, captions: TrainingCaptions) -> None:
        self.out_dir = out_dir
        self.settings = settings
        self.captions = captions

    # ------------------------------------------------------------------------------------------------ life cycle
    def open(self, run_dir: Path) -> None:
        super().open(run_dir)
        self.previous = self.claim()
        remove_stale_temporaries(self.out_dir)
        self.wanted: set[str] = {RECORD}
        self.written: list[Path] = []
        self.count = 0
        self._can_link = self.settings.link
        self._stems: set[str] = set()

    def unique_stem(self, sample: Sample, within: str = "") -> str:
        """The sample's readable stem, with ``_`` appended until no other sample of this export (in the same
        ``within`` folder) has it."""
        stem = readable_stem(sample)
        while f"{within}/{stem}" in self._stems:
            stem += "_"
        self._stems.add(f"{within}/{stem}")
        return stem

    def claim(self) -> dict[str, Any]:
        """Make sure the output folder is ours (StageError otherwise); the previous record, if any."""
        out = self.out_dir
        if out.exists() and not out.is_dir():
            raise StageError(f"{out}: not a folder; choose another --out for the {self.name} export")
        run = self.run_dir.resolve()
        if out.exists() and (out.resolve() == run or out.resolve() in run.parents):
            raise StageError(
                f"{out}: is the run folder or holds it; choose another --out for the {self.name} export"
            )
        record = read_record(out) if out.is_dir() else None
        if record is not None and record["format"] != self.name:
            raise StageError(
                f"{out}: holds a gen4gen {record['format']} export, not {self.name}; choose another --out "
                "(or remove the folder)"
            )
        if record is None and out.is_dir() and any(out.iterdir()):
            raise StageError(
                f"{out}: holds files that are not a gen4gen {self.name} export; choose an empty or new folder "
                "with --out (nothing was written)"
            )
        if record is None:  # mark the folder as ours before the first file, so an interrupted export can resume
            atomic_write_text(out / RECORD, yaml.safe_dump({"format": self.name, "complete": False}))
            return {}
        return record

    def finish(self, **extra: Any) -> list[Path]:
        """Prune what is no longer exported and write ``export.yaml``; the files written this time."""
        for folder in self.owned:
            root = self.out_dir / folder
            if not root.is_dir():
                continue
            for path in sorted(root.rglob("*"), reverse=True):
                rel = path.relative_to(self.out_dir).as_posix()
                if path.is_dir():
                    if not any(path.iterdir()):
                        path.rmdir()
                elif rel not in self.wanted:
                    path.unlink()
        record = {
            "format": self.name,
            "complete": True,
            "gen4gen_version": __version__,
            "samples": self.count,
            "include_flagged": self.settings.include_flagged,
            "files": (
                f"images re-encoded at zlib level {self.level}"
                if self.level is not None
                else "hard links to the run folder's images"
                if self._can_link
                else "copies"
            ),
            "png_level": self.level,
            "captions": self.captions.record(),
            **extra,
        }
        header = f"# gen4gen {self.name} export: what was exported and how (rewritten by every export)\n"
        self.put_text(RECORD, header + yaml.safe_dump(record, allow_unicode=True, sort_keys=True, width=1000))
        return self.written

    # ------------------------------------------------------------------------------------------------ files
    def source(self, rel: str, sample: Sample) -> Path:
        """A file of the run folder named by ``sample`` (StageError when it is gone)."""
        path = self.run_dir / rel
        if not path.is_file():
            raise StageError(
                f"{path}: missing (sample {sample.key}); rerun `gen4gen run` (or the stage that makes it) "
                "on this run folder"
            )
        return path

    def masks(self, sample: Sample) -> list[CanvasMask]:
        """The sample's instance masks, uint8 crops on its image (StageError when a file is gone or damaged)."""
        for obj in sample.objects:
            self.source(obj.mask, sample)
        try:
            return load_masks(self.run_dir, sample.objects, sample.size)
        except ImageError as exc:
            raise StageError(f"sample {sample.key}: {exc}") from exc

    def place(self, src: Path, rel: str) -> None:
        """``rel`` in the export becomes ``src``: a hard link (a copy where links are off or impossible).

        An existing file that already is ``src`` (same file, or same size and modification time) is left alone.
        """
        self.wanted.add(rel)
        dst = self.out_dir / rel
        if dst.exists():
            a, b = src.stat(), dst.stat()
            if os.path.samestat(a, b) or (a.st_size == b.st_size and a.st_mtime_ns == b.st_mtime_ns):
                return
        dst.parent.mkdir(parents=True, exist_ok=True)
        tmp = dst.parent / f".{dst.name}.{secrets.token_hex(4)}.tmp"
        try:
            linked = False
            if self._can_link:
                try:
                    os.link(src, tmp)
                    linked = True
                except OSError:  # another file system, or links not supported: copy from now on
                    self._can_link = False
            if not linked:
                shutil.copy2(src, tmp)
            os.replace(tmp, dst)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        self.written.append(dst)

    def place_rgb(self, src: Path, stem: str) -> str:
        """A training image at ``stem`` + its suffix, as plain RGB: linked when it already is (the finished
        samples are), else written as an RGB PNG (no alpha, no palette); the relative path used. With
        ``export.png_level`` set, PNG images are re-encoded at that level (once: a re-encoded file carries its
        source's modification time and is left alone while that and the level stay the same)."""
        with Image.open(src) as im:
            if im.mode == "RGB" and (self.level is None or im.format != "PNG"):
                rel = stem + src.suffix.lower()
                self.place(src, rel)
                return rel
            rel = stem + ".png"
            mtime = src.stat().st_mtime_ns
            if self._reencoded(rel, mtime):
                self.wanted.add(rel)
                return rel
            self.put_bytes(rel, self.png_bytes(im))
        os.utime(self.out_dir / rel, ns=(mtime, mtime))
        return rel

    @property
    def level(self) -> int | None:
        return self.settings.png_level

    def png_bytes(self, image: Image.Image) -> bytes:
        """``image`` as an RGB PNG at the export's zlib level."""
        buffer = io.BytesIO()
        level = PNG_LEVEL if self.level is None else self.level
        image.convert("RGB").save(buffer, format="PNG", compress_level=level)
        return buffer.getvalue()

    def _reencoded(self, rel: str, source_mtime: int) -> bool:
        """Whether ``rel`` is already its source re-encoded at the current level."""
        try:
            same_time = (self.out_dir / rel).stat().st_mtime_ns == source_mtime
        except OSError:
            return False
        return same_time and self.previous.get("png_level") == self.level

    def put_bytes(self, rel: str, data: bytes) -> None:
        """Write ``rel`` atomically unless it already holds exactly ``data``."""
        self.wanted.add(rel)
        path = self.out_dir / rel
        try:
            if path.stat().st_size == len(data) and path.read_bytes() == data:
                return
        except OSError:
            pass
        atomic_write_bytes(path, data)
        self.written.append(path)

    def put_text(self, rel: str, text: str) -> None:
        self.put_bytes(rel, text.encode("utf-8"))

    def put_json(self, rel: str, data: Any) -> None:
        self.put_text(rel, json.dumps(data, indent=1, ensure_ascii=False) + "\n")
