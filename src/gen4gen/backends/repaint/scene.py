"""The default repaint backend: a real or procedural scene around the concepts, no weights, a few ms per sample.

Steps: pick a background (a user's scene photo, cover-cropped, or a built-in procedural scene whose horizon sits
above the concepts' ground line), darken it with a contact shadow under each concept, harmonise each concept's
colours towards the scene around it (Reinhard mean/std transfer in Lab, partial), and blend with a mask feathered
inwards so no black from the composite's background leaks into the result. Concept pixels are kept: inside the
masks the output is the (harmonised) composite, exactly the composite when ``harmonize`` is 0.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import cv2
import numpy as np
from pydantic import AfterValidator, Field

from gen4gen.backends.base import BackendOptions, Inpainter, Placement, RepaintRequest, RepaintResult
from gen4gen.backends.repaint.scenes import SceneLibrary, procedural_scene_for, render_procedural
from gen4gen.geometry.masks import CanvasMask


def existing_folder(value: Path | None) -> Path | None:
    """Config-time check of a ``backgrounds`` option: the folder must exist (its photos are checked on build)."""
    if value is not None and not Path(value).is_dir():
        raise ValueError(
            f"backgrounds folder {value} does not exist or is not a folder; pass BKG/<scene>/<photos>"
        )
    return value


#: the ``backgrounds`` option of the scene and diffusion repainters
BackgroundsFolder = Annotated[Path | None, AfterValidator(existing_folder)]


def union_alpha(masks: list[CanvasMask], shape: tuple[int, int]) -> np.ndarray:
    """The concepts' combined soft mask (the sum of the instance masks, which share only soft edges: the alpha the
    composite is premultiplied by), float32 (H, W) in [0, 1]."""
    alpha = np.zeros(shape, np.float32)
    for m in masks:
        x0, y0, x1, y1 = m.box
        alpha[y0:y1, x0:x1] += m.soft().values
    return np.clip(alpha, 0, 1, out=alpha)


def blend_concepts(
    background: np.ndarray, composite: np.ndarray, alpha: np.ndarray, feather_px: float
) -> np.ndarray:
    """Concepts over ``background`` (both RGB uint8) with a mask feathered inwards.

    The composite is the cut-outs pasted on black with their soft masks, i.e. premultiplied by ``alpha``; it is
    un-premultiplied before blending, and the feathered mask never exceeds ``alpha``, so the edge blends into the
    background instead of into black. Where the mask is 1 away from the edge the output equals ``composite``.
    """
    out = background.copy()
    region = _extent(alpha > 0, pad=int(2 * feather_px) + 2)  # room for the erosion and blur below
    if region is None:
        return out
    ys, xs = region
    alpha = alpha[ys, xs].copy()
    alpha[alpha >= 254.5 / 255] = 1.0  # opaque within 8-bit mask precision: a plain copy, no arithmetic
    composite = composite[ys, xs]
    weight = alpha
    if feather_px > 0:
        k = max(1, round(feather_px))
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * k + 1, 2 * k + 1))
        core = cv2.erode((alpha >= 0.5).astype(np.float32), kernel)
        core = cv2.GaussianBlur(core, (0, 0), feather_px / 2)
        core[core > 0.995] = 1.0  # numerical ripple of the blur inside flat regions
        weight = np.minimum(alpha, core)
    roi = np.ascontiguousarray(out[ys, xs])
    cv2.copyTo(composite, (weight >= 1.0).view(np.uint8), roi)
    # Only the feathered band needs arithmetic: un-premultiply the concept there and mix it with the scene.
    band = np.flatnonzero((weight > 0) & (weight < 1.0))
    wb = weight.ravel()[band][:, None]
    fg = composite.reshape(-1, 3)[band].astype(np.float32) / np.maximum(alpha.ravel()[band], 1.0 / 255)[:, None]
    flat = roi.reshape(-1, 3)
    mixed = flat[band].astype(np.float32) * (1 - wb) + np.minimum(fg, 255) * wb
    flat[band] = np.clip(mixed + 0.5, 0, 255).astype(np.uint8)
    out[ys, xs] = roi
    return out


def _extent(mask: np.ndarray, pad: int) -> tuple[slice, slice] | None:
    """Row and column slices bounding the true pixels of ``mask`` (grown by ``pad``), or None when empty."""
    rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
    if rows.size == 0:
        return None
    h, w = mask.shape
    return (
        slice(max(0, rows[0] - pad), min(h, rows[-1] + 1 + pad)),
        slice(max(0, cols[0] - pad), min(w, cols[-1] + 1 + pad)),
    )


def contact_shadows(
    placements: list[Placement],
    masks: list[CanvasMask],
    shape: tuple[int, int],
    blur: float,
    rng: np.random.Generator,
) -> np.ndarray:
    """Darkening (H, W) in [0, 1]: a soft ellipse under each box plus the mask squashed onto the ground.

    Drawn at quarter resolution and upsampled: shadows are soft, so nothing is lost and it costs ~1 ms.
    """
    h, w = shape
    s = 4
    small = np.zeros((max(1, h // s), max(1, w // s)), np.float32)
    lean = float(rng.uniform(-0.6, 0.6))  # light from the side: the cast shadow leans left or right
    for p, mask in zip(placements, masks, strict=True):
        x0, y0, x1, y1 = (v / s for v in p.bbox)
        bw, bh = max(1.0, x1 - x0), max(1.0, y1 - y0)
        layer = np.zeros_like(small)
        cv2.ellipse(layer, (((x0 + x1) / 2, y1 - 0.01 * bh), (0.95 * bw, 0.12 * bh), 0), 1.0, -1, cv2.LINE_AA)
        # The silhouette flattened to 15% of its height onto the ground line, sheared by the light direction.
        m = cv2.resize(mask.soft().full((w, h)), (small.shape[1], small.shape[0]), interpolation=cv2.INTER_AREA)
        flat = np.array([[1, -0.15 * lean, 0.15 * lean * y1], [0, -0.15, 1.15 * y1]], dtype=np.float32)
        cast = cv2.warpAffine(m, flat, (small.shape[1], small.shape[0]), flags=cv2.INTER_LINEAR)
        layer = np.maximum(layer * 0.8, cast * 0.6)
        sigma = max(0.5, blur * bh)
        layer = cv2.GaussianBlur(layer, (0, 0), sigma)
        np.maximum(small, layer, out=small)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)


def harmonize_concepts(
    composite: np.ndarray,
    background: np.ndarray,
    masks: list[CanvasMask],
    placements: list[Placement],
    alpha: np.ndarray,
    strength: float,
) -> np.ndarray:
    """Shift each concept's Lab mean/std part of the way (``strength``) towards the scene around its box.

    Only pixels under a concept's mask change (``alpha`` is the union mask the composite is premultiplied by).
    The std ratio is clamped to [0.7, 1.4] so a dark concept on a bright scene is tinted, not turned inside out.
    """
    if strength <= 0:
        return composite
    h, w = composite.shape[:2]
    out = composite.copy()
    for p, mask in zip(placements, masks, strict=True):
        x0, y0, x1, y1 = max(0, p.bbox[0]), max(0, p.bbox[1]), min(w, p.bbox[2]), min(h, p.bbox[3])
        roi_mask = mask.soft().over((x0, y0, x1, y1)).ravel()
        idx = np.flatnonzero(roi_mask > 0)
        if idx.size < 16:
            continue
        roi = np.ascontiguousarray(out[y0:y1, x0:x1])
        flat = roi.reshape(-1, 3)
        m = roi_mask[idx][:, None]
        a = np.maximum(alpha[y0:y1, x0:x1].ravel()[idx], 1.0 / 255)[:, None]
        pix = flat[idx].astype(np.float32)
        fg = np.minimum(pix / (255.0 * a), 1.0)
        lab = cv2.cvtColor(fg[:, None, :], cv2.COLOR_RGB2LAB)[:, 0, :]
        mx, my = (x1 - x0) // 2, (y1 - y0) // 2
        around = background[max(0, y0 - my) : min(h, y1 + my) : 4, max(0, x0 - mx) : min(w, x1 + mx) : 4]
        ref = cv2.cvtColor(around.astype(np.float32) / 255.0, cv2.COLOR_RGB2LAB).reshape(-1, 3)
        solid = m[:, 0] > 0.5
        src = lab[solid][::4] if solid.sum() >= 64 else lab
        mu_c, sd_c = src.mean(0), src.std(0) + 1e-3
        mu_b, sd_b = ref.mean(0), ref.std(0) + 1e-3
        target = (lab - mu_c) * np.clip(sd_b / sd_c, 0.7, 1.4) + mu_b
        moved = (lab + strength * (target - lab)).astype(np.float32)
        rgb = np.clip(cv2.cvtColor(moved[:, None, :], cv2.COLOR_LAB2RGB)[:, 0, :], 0, 1)
        # The change is weighted by this concept's own mask: shared edge pixels move by each one's part.
        flat[idx] = np.clip(pix + (rgb - fg) * 255.0 * m + 0.5, 0, 255).astype(np.uint8)
        out[y0:y1, x0:x1] = roi
    return out


def horizon_for(placements: list[Placement], height: int, rng: np.random.Generator) -> float | None:
    """A horizon (fraction of the height) a little above the highest ground contact, so objects stand on the
    ground; ``None`` lets the scene choose."""
    if not placements:
        return None
    top_contact = min(p.bbox[3] for p in placements) / height
    return float(np.clip(top_contact - rng.uniform(0.08, 0.22), 0.25, 0.6))


class SceneInpainter(Inpainter):
    """Concepts placed into a scene photo (``backgrounds`` folder) or a built-in procedural scene."""

    name = "scene"
    version = "1"

    options: Options

    class Options(BackendOptions):
        backgrounds: BackgroundsFolder = Field(
            None, description="folder of scene photos, BKG/<scene>/<photos>; none: built-in procedural scenes"
        )
        harmonize: float = Field(0.3, ge=0, le=1, description="colour harmonisation of concepts to the scene")
        feather_px: float = Field(2.0, ge=0, le=50, description="inward feathering of the concept edges")
        shadow_strength: float = Field(0.5, ge=0, le=1, description="darkness of the contact shadows")
        shadow_blur: float = Field(0.04, ge=0, le=1, description="shadow softness, fraction of the box height")
        blur_background: float = Field(0.0, ge=0, le=50, description="gaussian blur of the background (px)")

    def __init__(self, options: BackendOptions | None = None) -> None:
        """Scans the ``backgrounds`` folder once: no usable photo in it is a :class:`BackendUnavailable`."""
        super().__init__(options)
        folder = self.options.backgrounds
        self.library = SceneLibrary.from_folder(folder) if folder is not None else None

    def identity(self) -> dict[str, Any]:
        ident = super().identity()
        if self.library is not None:
            ident["backgrounds_sha256"] = self.library.digest()
        return ident

    def background(self, request: RepaintRequest, rng: np.random.Generator) -> tuple[np.ndarray, str, dict]:
        """The scene image at the composite's size, its phrase and where it came from."""
        h, w = request.composite.shape[:2]
        if self.library is not None:
            entry = self.library.pick(rng, request.scene)
            image = self.library.render(entry, (w, h), rng)
            return image, entry.phrase, {"source": "folder", "background": f"{entry.scene}/{entry.path.name}"}
        phrase = procedural_scene_for(request.scene, rng)
        image = render_procedural(phrase, (w, h), rng, horizon_for(request.placements, h, rng))
        return image, phrase, {"source": "procedural", "background": phrase}

    def repaint(self, request: RepaintRequest) -> RepaintResult:
        opts = self.options
        composite = request.composite
        h, w = composite.shape[:2]
        rng = np.random.default_rng([int(request.seed) & 0xFFFFFFFF, 0x5CE])
        bg, phrase, info = self.background(request, rng)
        if opts.blur_background > 0:
            bg = cv2.GaussianBlur(bg, (0, 0), opts.blur_background)
        if opts.shadow_strength > 0 and request.placements:
            shade = contact_shadows(request.placements, request.instance_masks, (h, w), opts.shadow_blur, rng)
            region = _extent(shade > 1e-3, pad=0)
            if region is not None:
                factor = 1 - opts.shadow_strength * shade[region]
                bg = bg.copy()
                bg[region] = (bg[region].astype(np.float32) * factor[..., None] + 0.5).astype(np.uint8)
        alpha = union_alpha(request.instance_masks, (h, w))
        concepts = harmonize_concepts(
            composite, bg, request.instance_masks, request.placements, alpha, opts.harmonize
        )
        image = blend_concepts(bg, concepts, alpha, opts.feather_px)
        info["requested_scene"] = request.scene
        return RepaintResult(image=image, scene=phrase, info=info)
