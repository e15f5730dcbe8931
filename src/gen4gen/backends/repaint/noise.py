"""The seed's ``noise`` background: the concepts on seeded random noise, concept pixels kept.

Useful as a control (no scene context for a model to latch on to) and as the fastest repaint of all.
"""

from __future__ import annotations

import cv2
import numpy as np
from pydantic import Field

from gen4gen.backends.base import BackendOptions, Inpainter, RepaintRequest, RepaintResult
from gen4gen.backends.repaint.scene import blend_concepts, union_alpha


class NoiseInpainter(Inpainter):
    """Gaussian noise around the concepts, optionally blurred and coloured."""

    name = "noise"
    version = "1"

    options: Options

    class Options(BackendOptions):
        sigma: float = Field(0.25, gt=0, le=1, description="noise standard deviation (1 = full range)")
        blur_px: float = Field(0.0, ge=0, le=50, description="gaussian blur of the noise, for softer blobs")
        color: bool = Field(True, description="independent noise per channel; false: gray noise")
        feather_px: float = Field(2.0, ge=0, le=50, description="inward feathering of the concept edges")

    def repaint(self, request: RepaintRequest) -> RepaintResult:
        opts = self.options
        h, w = request.composite.shape[:2]
        rng = np.random.default_rng([int(request.seed) & 0xFFFFFFFF, 0x401])
        channels = 3 if opts.color else 1
        noise = rng.standard_normal((h, w, channels), dtype=np.float32)
        if opts.blur_px > 0:
            noise = cv2.GaussianBlur(noise, (0, 0), opts.blur_px).reshape(h, w, channels)
            noise /= noise.std() + 1e-6  # keep the requested contrast after blurring
        levels = np.clip(0.5 + opts.sigma * noise, 0, 1)
        background = cv2.convertScaleAbs(np.broadcast_to(levels, (h, w, 3)), alpha=255.0)
        alpha = union_alpha(request.instance_masks, (h, w))
        image = blend_concepts(background, request.composite, alpha, opts.feather_px)
        return RepaintResult(image=image, scene=request.scene or "on a plain background", info={"source": "noise"})
