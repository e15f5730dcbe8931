"""Identity kept after repaint: inside each concept, the finished image must still be the pasted composite.

Compared over each concept's core (its instance mask at full opacity, shrunk by :data:`CORE_MARGIN` pixels so the
feathered edge, where repainters blend on purpose, is left out). Repainters may harmonise a concept's colours
with the scene (the scene backend shifts each concept's Lab mean and contrast towards its surroundings), which
costs PSNR but not identity, so the composite is first mapped onto the image by the best per-channel gain and
offset in Lab, the gain bounded to [0.5, 2] and fitted on the pixels the repainter did not clip to the RGB gamut
(a harmonised white or saturated yellow is clipped, which no such map explains); PSNR and SSIM are then measured
against that, over the whole core. A concept redrawn,
repainted away or covered keeps its error, since no colour map explains changed structure. ``colour_shift`` is
the colour change itself (ΔE of the concept's mean colour), recorded so a strong harmonisation can be flagged.
"""

from __future__ import annotations

import cv2
import numpy as np
from skimage.metrics import structural_similarity

from gen4gen.checks.base import Checker, Metric, Score, Scores
from gen4gen.checks.subjects import SampleSubject

CORE_MARGIN = 2  # pixels left out along each concept's edge
MIN_CORE = 64  # a concept with fewer core pixels is not measured
MAX_PSNR = 99.0  # identical pixels
GAIN = (0.5, 2.0)


class IdentityChecker(Checker[SampleSubject]):
    name = "identity"
    version = "2"
    headline = "psnr"
    metrics = (
        Metric(
            "psnr", "{of}: {value} against the composite", "{:.1f} dB", label="concept pixels changed by repaint"
        ),
        Metric(
            "ssim",
            "{of}: SSIM {value} against the composite",
            "{:.3f}",
            label="concept structure changed by repaint",
        ),
        Metric("colour_shift", "{of}: colours shifted by ΔE {value}", "{:.1f}", label="concept colours shifted"),
    )

    def measure(self, subject: SampleSubject) -> Scores:
        image, composite = subject.image, subject.composite
        if image.shape != composite.shape:
            return {"psnr": Score(0.0, "the image"), "ssim": Score(0.0, "the image")}
        rows = []
        for obj, mask in zip(subject.layout.objects, subject.masks, strict=True):
            if obj.bbox is None:
                continue
            measured = concept_identity(image, composite, mask, obj.bbox)
            if measured is not None:
                rows.append((*measured, obj.name))
        if not rows:
            return {"psnr": Score(None), "ssim": Score(None), "colour_shift": Score(None)}
        psnr = min((r[0], r[3]) for r in rows)
        ssim = min((r[1], r[3]) for r in rows)
        shift = max((r[2], r[3]) for r in rows)
        return {"psnr": Score(*psnr), "ssim": Score(*ssim), "colour_shift": Score(*shift)}


def concept_identity(
    image: np.ndarray, composite: np.ndarray, mask: np.ndarray, bbox: tuple[int, int, int, int]
) -> tuple[float, float, float] | None:
    """(PSNR dB, SSIM, ΔE of the mean colour) of one concept's core after the colour fit; None when its core is
    too small to measure."""
    x0, y0, x1, y1 = bbox
    core = mask[y0:y1, x0:x1] >= 254.5 / 255
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * CORE_MARGIN + 1, 2 * CORE_MARGIN + 1))
    core = cv2.erode(core.astype(np.uint8), kernel, borderType=cv2.BORDER_CONSTANT, borderValue=0) > 0
    if int(core.sum()) < MIN_CORE:
        return None
    made = image[y0:y1, x0:x1]
    pasted = composite[y0:y1, x0:x1]
    lab_made = cv2.cvtColor(made.astype(np.float32) / 255.0, cv2.COLOR_RGB2LAB)
    lab_pasted = cv2.cvtColor(pasted.astype(np.float32) / 255.0, cv2.COLOR_RGB2LAB)
    fitted = np.empty_like(lab_pasted)
    unclipped = core & ~((made <= 1) | (made >= 254)).any(axis=2)  # a repainter's gamut clipping is no map
    fit_on = unclipped if int(unclipped.sum()) >= MIN_CORE else core
    for channel in range(3):
        source, target = lab_pasted[..., channel][fit_on], lab_made[..., channel][fit_on]
        spread = float(source.var())
        gain = float(np.cov(source, target, bias=True)[0, 1]) / spread if spread > 1e-6 else 1.0
        gain = float(np.clip(gain, *GAIN))
        offset = float(target.mean() - gain * source.mean())
        fitted[..., channel] = lab_pasted[..., channel] * gain + offset
    rgb = np.clip(cv2.cvtColor(fitted, cv2.COLOR_LAB2RGB), 0.0, 1.0) * 255.0
    error = float(((rgb[core] - made[core].astype(np.float32)) ** 2).mean())
    psnr = MAX_PSNR if error <= 0 else min(MAX_PSNR, 10.0 * np.log10(255.0**2 / error))
    fitted_u8 = np.where(core[..., None], np.clip(rgb + 0.5, 0, 255), made).astype(
        np.uint8
    )  # only the core differs
    if min(core.shape) >= 7:
        _, ssim_map = structural_similarity(fitted_u8, made, channel_axis=2, data_range=255, full=True)
        ssim = float(ssim_map.mean(axis=2)[core].mean())
    else:
        ssim = 1.0 if error <= 1.0 else 0.0
    shift = float(np.linalg.norm(lab_made[core].mean(axis=0) - lab_pasted[core].mean(axis=0)))
    return float(psnr), ssim, shift
