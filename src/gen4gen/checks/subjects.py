"""What the checks look at: a cut-out or a finished sample, its files decoded once, on first use.

The inputs are small and picklable (records and paths); the pixels are loaded lazily, so a check that needs
only the layout or the caption never decodes an image, and several checks share one decoding.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import cv2
import numpy as np

from gen4gen.errors import ItemError
from gen4gen.io.images import load_image, load_mask
from gen4gen.manifest.records import CaptionData, ComposeData, RepaintData, SegmentData
from gen4gen.sample import load_masks

CUTOUT_SIDE = 512
"""Cut-outs are measured with the photo's longest side at most this long: cheap, and the same for any size."""


@dataclass(frozen=True)
class CutoutInputs:
    """One photo's cut-out: its segment record and the files it points to (relative to ``run_dir``)."""

    key: str  # the segment record's key (photo path relative to SRC)
    run_dir: Path
    data: SegmentData
    rounds: tuple[str, ...] = ()  # every round's mask, in round order
    photo: Path | None = None  # the source photo, when it is still there as segmented (else the cut-out's box)


class CutoutSubject:
    """A cut-out at measuring size: soft mask of the whole photo, the photo inside the mask's box, every round."""

    def __init__(self, inputs: CutoutInputs) -> None:
        self.inputs = inputs
        width, height = inputs.data.size
        self.scale = min(1.0, CUTOUT_SIDE / max(width, height, 1))
        self.size = (max(8, round(width * self.scale)), max(8, round(height * self.scale)))

    @property
    def label(self) -> str:
        return self.inputs.key

    def _mask(self, relative: str) -> np.ndarray:
        mask = load_mask(self.inputs.run_dir / relative)
        return np.clip(cv2.resize(mask, self.size, interpolation=cv2.INTER_AREA), 0.0, 1.0)

    @cached_property
    def mask(self) -> np.ndarray:
        """The chosen soft mask, float32 (h, w) in [0, 1], of the whole photo."""
        return self._mask(self.inputs.data.mask)

    @cached_property
    def round_masks(self) -> list[np.ndarray]:
        return [self._mask(path) for path in self.inputs.rounds]

    @cached_property
    def crop(self) -> tuple[np.ndarray, tuple[int, int, int, int]]:
        """The photo at measuring size and the box it covers: the whole source photo when it is there, else the
        mask's box from the cut-out file (whose background is kept under alpha 0)."""
        if self.inputs.photo is not None:
            try:
                whole = load_image(self.inputs.photo).rgb
            except ItemError:
                whole = None
            if whole is not None and (whole.shape[1], whole.shape[0]) == tuple(self.inputs.data.size):
                small = cv2.resize(whole, self.size, interpolation=cv2.INTER_AREA)
                return small, (0, 0, self.size[0], self.size[1])
        rgb = load_image(self.inputs.run_dir / self.inputs.data.cutout).rgb
        x0, y0, x1, y1 = self.inputs.data.bbox
        box = tuple(round(v * self.scale) for v in (x0, y0, x1, y1))
        bx0, by0 = min(box[0], self.size[0] - 1), min(box[1], self.size[1] - 1)
        bx1, by1 = max(min(box[2], self.size[0]), bx0 + 1), max(min(box[3], self.size[1]), by0 + 1)
        small = cv2.resize(rgb, (bx1 - bx0, by1 - by0), interpolation=cv2.INTER_AREA)
        return small, (bx0, by0, bx1, by1)


@dataclass(frozen=True)
class SampleInputs:
    """One finished sample: its compose, repaint and caption records, and the caption to check."""

    key: str
    run_dir: Path
    layout: ComposeData
    image: RepaintData
    caption: CaptionData
    text: str  # the generated caption (a person's edit is not second-guessed)
    max_words: int
    references: dict[str, tuple[str, ...]] = field(default_factory=dict)  # concept id -> photos (absolute)


class SampleSubject:
    """A finished sample; the image, composite and instance masks are decoded on first use."""

    def __init__(self, inputs: SampleInputs) -> None:
        self.inputs = inputs

    @property
    def label(self) -> str:
        return self.inputs.key

    @property
    def layout(self) -> ComposeData:
        return self.inputs.layout

    @cached_property
    def image(self) -> np.ndarray:
        return load_image(self.inputs.run_dir / self.inputs.image.image).rgb

    @cached_property
    def composite(self) -> np.ndarray:
        assert self.layout.composite is not None
        return load_image(self.inputs.run_dir / self.layout.composite).rgb

    @cached_property
    def masks(self) -> list[np.ndarray]:
        """One soft instance mask per object (after occlusion), float32 (H, W) in [0, 1]."""
        size = self.layout.canvas
        return [m.soft().full(size) for m in load_masks(self.inputs.run_dir, self.layout.objects, size)]

    @cached_property
    def union(self) -> np.ndarray:
        total = np.zeros(self.layout.canvas[::-1], np.float32)
        for mask in self.masks:
            total += mask
        return np.clip(total, 0.0, 1.0)

    def release(self) -> None:
        """Forget the decoded pixels (decoded again if asked for), so a batch holds one sample's at a time."""
        for name in ("image", "composite", "masks", "union"):
            self.__dict__.pop(name, None)
