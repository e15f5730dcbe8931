"""The thresholds of every curate check: one model per check, one :class:`Limit` per score.

A limit has a ``flag`` and a ``reject`` threshold; which side is bad depends on the score (its ``direction``,
listed per model in ``DIRECTIONS``): a ``min`` score is flagged or rejected *below* its threshold, a ``max`` score
*above* it. ``null`` turns a threshold off. Thresholds are applied to recorded scores when the curate stage judges
a sample, so changing them re-judges a run without measuring anything again.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Direction = Literal["min", "max"]


class Limit(BaseModel):
    """Two thresholds of one score: past ``flag`` a person should look, past ``reject`` the sample is dropped."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    flag: float | None = Field(None, description="flag past this value (null: never flag)")
    reject: float | None = Field(None, description="reject past this value (null: never reject)")

    def level(self, value: float, direction: Direction) -> str | None:
        """``"reject"``, ``"flag"`` or None for ``value`` (a ``min`` score is bad below, a ``max`` one above)."""
        for status, threshold in (("reject", self.reject), ("flag", self.flag)):
            if threshold is not None and (value < threshold if direction == "min" else value > threshold):
                return status
        return None


def _limit(flag: float | None, reject: float | None, description: str) -> Any:
    return Field(Limit(flag=flag, reject=reject), description=description)


class _Limits(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    DIRECTIONS: ClassVar[dict[str, Direction]] = {}
    enabled: bool = Field(True, strict=True, description="run this check")

    def limit(self, key: str) -> Limit:
        value: Limit = getattr(self, key)
        return value

    @model_validator(mode="before")
    @classmethod
    def _partial(cls, data: Any) -> Any:
        """A limit given in part (``--set curate.layout.size_ratio.reject=10``) keeps its other default."""
        if not isinstance(data, dict):
            return data
        merged = dict(data)
        for key in cls.DIRECTIONS:
            given = data.get(key)
            if isinstance(given, dict):
                default = cls.model_fields[key].get_default()
                merged[key] = {**default.model_dump(), **given}
        return merged

    @model_validator(mode="after")
    def _ordered(self) -> _Limits:
        for key, direction in self.DIRECTIONS.items():
            limit = self.limit(key)
            if limit.flag is None or limit.reject is None:
                continue
            if (direction == "min" and limit.flag < limit.reject) or (
                direction == "max" and limit.flag > limit.reject
            ):
                side = "at or above" if direction == "min" else "at or below"
                raise ValueError(
                    f"{key}: flag ({limit.flag:g}) must be {side} reject ({limit.reject:g}): a {direction} score "
                    f"is flagged before it is rejected"
                )
        return self


class CutoutLimits(_Limits):
    """A cut-out (one per photo): is it the whole object, in one piece, with an outline on the photo's edges?"""

    DIRECTIONS: ClassVar[dict[str, Direction]] = {
        "pieces": "min",
        "holes": "max",
        "area": "min",
        "border": "max",
        "open": "max",
        "softness": "max",
        "rounds": "min",
        "solidity": "min",
    }
    pieces: Limit = _limit(0.95, 0.8, "share of the mask in its largest connected piece")
    holes: Limit = _limit(0.1, 0.3, "share of the mask's filled outline that is holes")
    area: Limit = _limit(0.02, 0.005, "share of the photo the mask covers")
    border: Limit = _limit(0.15, 0.5, "share of the photo's frame the mask touches (the object is cut off)")
    open: Limit = _limit(0.12, 0.18, "share of the outline across which the photo goes on unchanged (a fragment)")
    softness: Limit = _limit(6.0, None, "mean width in pixels (at 512 px) of the mask's soft edge")
    rounds: Limit = _limit(0.5, None, "agreement (IoU) of the chosen segmentation round with the other rounds")
    solidity: Limit = _limit(0.5, None, "mask area over the area of its convex hull")


class LayoutLimits(_Limits):
    """A sample's layout: every concept present, inside, visible, not piled up, at a plausible size."""

    DIRECTIONS: ClassVar[dict[str, Direction]] = {
        "present": "min",
        "visible": "min",
        "inside": "min",
        "overlap": "max",
        "box_fit": "min",
        "enlargement": "max",
        "size_ratio": "max",
    }
    present: Limit = _limit(None, 1.0, "share of the composition's concepts that are visible in the sample")
    visible: Limit = _limit(
        None, None, "visible share of the least visible concept (reject null: compose.min_visible)"
    )
    inside: Limit = _limit(0.9, 0.6, "share of the least contained concept's box that lies inside the canvas")
    overlap: Limit = _limit(0.5, 0.85, "largest share of a concept's box covered by another concept's box")
    box_fit: Limit = _limit(0.9, 0.5, "IoU of each concept's recorded box with its instance mask's box")
    enlargement: Limit = _limit(
        5.0, 20.0, "largest forced enlargement beyond a concept's real-world size (prior planner)"
    )
    size_ratio: Limit = _limit(
        5.0, 20.0, "largest ratio of two concepts' sizes relative to their real-world sizes (size priors)"
    )


class IdentityLimits(_Limits):
    """The concepts after repaint: the pixels pasted at compose time, up to a colour harmonisation."""

    DIRECTIONS: ClassVar[dict[str, Direction]] = {"psnr": "min", "ssim": "min", "colour_shift": "max"}
    psnr: Limit = _limit(40.0, 35.0, "concept-region PSNR (dB) against the composite, after the colour fit")
    ssim: Limit = _limit(0.97, 0.9, "concept-region SSIM against the composite, after the colour fit")
    colour_shift: Limit = _limit(
        None, None, "mean colour change of a concept (CIE ΔE): harmonisation; off by default"
    )


class SeamLimits(_Limits):
    """The concept edges in the finished image: no halo, no colour leaking across the outline."""

    DIRECTIONS: ClassVar[dict[str, Direction]] = {"halo": "max", "leak": "max"}
    halo: Limit = _limit(8.0, 15.0, "colour (ΔE) of the edge band off the blend of inside and outside")
    leak: Limit = _limit(8.0, 15.0, "colour step (ΔE) just outside the outline against the scene further out")


class CaptionLimits(_Limits):
    """The caption a training run will see: it names every concept and keeps to the word limit."""

    DIRECTIONS: ClassVar[dict[str, Direction]] = {"named": "min", "words": "max", "unrecognised": "max"}
    named: Limit = _limit(None, 1.0, "share of the sample's concepts the caption names")
    words: Limit = _limit(None, None, "words in the caption (reject null: caption.max_words)")
    unrecognised: Limit = _limit(0.0, None, "concepts the captioner itself did not name (added afterwards)")


class DuplicateLimits(_Limits):
    """Near-identical samples within a run (perceptual hash of the finished image)."""

    DIRECTIONS: ClassVar[dict[str, Direction]] = {"distance": "min"}
    distance: Limit = _limit(
        8.0, 3.0, "differing bits (of 63) of the perceptual hash to the closest earlier sample"
    )


class DetectorLimits(_Limits):
    """Every concept found by the detector (``curate.detector``) where it was placed."""

    DIRECTIONS: ClassVar[dict[str, Direction]] = {"detected": "min"}
    detected: Limit = _limit(0.5, 0.1, "IoU of the detector's best box for a concept with where it was placed")


class ClipLimits(_Limits):
    """Every concept's crop still looks like the concept's photos (``curate.clip_model``)."""

    DIRECTIONS: ClassVar[dict[str, Direction]] = {"similarity": "min"}
    similarity: Limit = _limit(0.75, 0.6, "CLIP similarity of a concept's crop to the concept's photos")
