"""Near-duplicates within a run: a sample whose finished image looks like an earlier one adds nothing.

Each image gets a 63-bit perceptual hash (DCT of the 32×32 grey image, the 8×8 lowest frequencies without the
constant term, each bit saying whether a coefficient is above their median): the same picture re-encoded,
slightly shifted or recoloured keeps nearly the same bits, different layouts differ in a quarter to a half of
them (16-38 of 63 between the demo's samples). A sample is judged by its Hamming distance to the closest
*earlier* sample of the run that no other check rejected, so of two near-identical samples the first is kept.
Hashes are measured per sample; the distances need the whole run and are taken once every sample is measured.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from gen4gen.checks.base import Checker, Metric, Score, Scores
from gen4gen.checks.subjects import SampleSubject

BITS = 63
_POPCOUNT = np.array([bin(i).count("1") for i in range(256)], dtype=np.uint8)


class DuplicateChecker(Checker[SampleSubject]):
    name = "duplicate"
    version = "1"
    headline = "distance"
    metrics = (
        Metric(
            "distance", "only {value} of 63 differ from the hash of {of}", "{:.0f} bits", label="near-duplicate"
        ),
    )

    def measure(self, subject: SampleSubject) -> Scores:
        return {}  # the distances need every sample: see nearest()

    @staticmethod
    def hash(subject: SampleSubject) -> str:
        return perceptual_hash(subject.image)


def perceptual_hash(image: np.ndarray) -> str:
    """The 63-bit perceptual hash of an RGB (or grey) uint8 image, as 16 hex digits."""
    grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY) if image.ndim == 3 else image
    small = cv2.resize(grey.astype(np.float32), (32, 32), interpolation=cv2.INTER_AREA)
    low = cv2.dct(small)[:8, :8].ravel()[1:]
    bits = low > np.median(low)
    value = 0
    for bit in bits:
        value = (value << 1) | int(bit)
    return f"{value:016x}"


def nearest(hashes: Sequence[tuple[str, str]], kept: Sequence[bool]) -> dict[str, Scores]:
    """For each (key, hash) in run order: the distance to the closest earlier sample whose ``kept`` is true.

    The first sample (and one with no kept sample before it) gets no distance.
    """
    values = np.array([int(h, 16) for _, h in hashes], dtype=np.uint64)
    as_bytes = values.view(np.uint8).reshape(-1, 8)
    allowed = np.asarray(kept, dtype=bool)
    result: dict[str, Scores] = {}
    for index, (key, _) in enumerate(hashes):
        earlier = np.flatnonzero(allowed[:index])
        if earlier.size == 0:
            result[key] = {"distance": Score(None)}
            continue
        distances = _POPCOUNT[as_bytes[earlier] ^ as_bytes[index]].sum(axis=1)
        best = int(np.argmin(distances))
        result[key] = {"distance": Score(float(distances[best]), hashes[int(earlier[best])][0])}
    return result
