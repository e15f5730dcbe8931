"""Where backgrounds come from: a user's folder of scene photos, or built-in procedural scenes.

A user folder is laid out ``BKG/<scene>/<photos>``; the folder name is the scene (``garden`` -> "in a garden").
Without a folder, six procedural scenes are drawn from the seed (sky, tree line, textured ground seen in
perspective, haze and blur towards the horizon, lighting gradient, vignette, grain) so the tool works with no
inputs at all. Everything here is deterministic given the ``numpy.random.Generator`` passed in.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import re
import zlib
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from gen4gen.backends.caption.template import with_article
from gen4gen.errors import BackendUnavailable
from gen4gen.io.images import IMAGE_SUFFIXES, ImageError, load_image

log = logging.getLogger("gen4gen")

# Head noun -> how the phrase starts; anything else reads "in a/an <name>".
_PREPOSITIONS: dict[str, str] = {
    **dict.fromkeys(
        ("grass", "lawn", "floor", "ground", "carpet", "rug", "street", "road", "ice", "moss", "pavement"),
        "on the",
    ),
    **dict.fromkeys(
        (
            "beach",
            "table",
            "desk",
            "bed",
            "sofa",
            "couch",
            "bench",
            "path",
            "shelf",
            "counter",
            "countertop",
            "rock",
            "pier",
            "dock",
            "blanket",
            "windowsill",
            "hill",
            "boat",
            "balcony",
            "porch",
            "terrace",
            "patio",
            "deck",
            "stage",
            "trail",
            "bridge",
            "mountain",
            "cliff",
            "picnic blanket",
            "tablecloth",
        ),
        "on a",
    ),
    **dict.fromkeys(("snow", "city", "desert", "mountains", "woods", "sky", "rain", "water", "sea"), "in the"),
    **dict.fromkeys(("lake", "river", "pool", "fireplace", "window"), "by a"),
}
_LEADING_PREPOSITION = re.compile(r"^(in|on|at|by|under|near|inside|beside|under)\b")


def scene_phrase(name: str) -> str:
    """A folder name as a natural phrase: ``garden`` -> "in a garden", ``kitchen_table`` -> "on a kitchen table".

    Trailing digits are ignored (``garden2``); a name that already starts with a preposition is kept as is.
    """
    words = re.sub(r"[_\-]+", " ", name).strip().lower()
    words = re.sub(r"\s*\d+$", "", words).strip() or "scene"
    if _LEADING_PREPOSITION.match(words):
        return words
    key = words if words in _PREPOSITIONS else words.split()[-1]
    prefix = _PREPOSITIONS.get(key)
    if prefix is None:
        return f"in {with_article(words)}"
    if prefix.endswith(" a"):
        return f"{prefix[:-2]} {with_article(words)}"
    return f"{prefix} {words}"


def _head(phrase: str) -> str:
    """The last word of a phrase, for loose matching ("in the garden" ~ "in a garden")."""
    return phrase.strip().lower().split()[-1] if phrase.strip() else ""


# ------------------------------------------------------------------------------------------------ user folder
@dataclass(frozen=True)
class SceneEntry:
    """One usable background photo and the phrase of the scene folder it came from."""

    path: Path
    scene: str  # the folder name, e.g. "garden"
    phrase: str  # e.g. "in a garden"


class SceneLibrary:
    """Background photos grouped by scene, picked deterministically per sample."""

    def __init__(self, entries: list[SceneEntry], cache_size: int = 8) -> None:
        if not entries:
            raise ValueError("a scene library needs at least one readable background photo")
        self.entries = entries
        self._cache: OrderedDict[tuple[Path, int, int], np.ndarray] = OrderedDict()
        self._cache_size = cache_size

    @classmethod
    def from_folder(cls, root: Path) -> SceneLibrary:
        """Scan ``root/<scene>/<photos>`` (photos directly in ``root`` count as scene ``root.name``).

        Every file is decoded once at a small size so unreadable ones are skipped here, each with a one-line
        warning, rather than failing a sample later. A folder that is missing or holds no readable photo is a
        :class:`BackendUnavailable` naming it and the fix.
        """
        root = Path(root)
        suffixes = ", ".join(sorted(IMAGE_SUFFIXES))
        fix = f"put photos ({suffixes}) in {root}/<scene>/, or drop repaint.backgrounds for the built-in scenes"
        try:
            folders = [root, *sorted(p for p in root.iterdir() if p.is_dir())]
        except OSError as exc:
            reason = (
                "does not exist or is not a folder" if not root.is_dir() else f"cannot be read ({exc.strerror})"
            )
            raise BackendUnavailable(f"repaint.backgrounds={root}: {reason}; {fix}") from exc
        entries = []
        for folder in folders:
            try:
                paths = sorted(p for p in folder.iterdir() if p.is_file())
            except OSError as exc:
                log.warning("skipping background folder %s (%s)", folder, exc.strerror)
                continue
            for path in paths:
                if path.suffix.lower() not in IMAGE_SUFFIXES:
                    continue
                try:
                    load_image(path, max_pixels=256 * 256)
                except (ImageError, OSError) as exc:
                    log.warning("skipping background %s", exc)
                    continue
                entries.append(SceneEntry(path, folder.name, scene_phrase(folder.name)))
        if not entries:
            raise BackendUnavailable(f"repaint.backgrounds={root}: no readable background photo in it; {fix}")
        return cls(entries)

    @property
    def phrases(self) -> list[str]:
        return sorted({e.phrase for e in self.entries})

    def digest(self) -> str:
        """A short hash of the library's content (relative paths and sizes) for provenance."""
        h = hashlib.sha256()
        for e in self.entries:
            h.update(f"{e.scene}/{e.path.name}:{e.path.stat().st_size}\n".encode())
        return h.hexdigest()[:16]

    def pick(self, rng: np.random.Generator, scene: str | None = None) -> SceneEntry:
        """A photo of the requested scene when the library has it (matched loosely by phrase), else any."""
        candidates = self.entries
        if scene:
            wanted = scene_phrase(scene)
            matching = [e for e in self.entries if e.phrase == wanted or _head(e.phrase) == _head(wanted)]
            candidates = matching or self.entries
        return candidates[int(rng.integers(len(candidates)))]

    def render(self, entry: SceneEntry, size: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
        """The photo cover-resized to ``size`` (width, height) and cropped at a seeded offset."""
        key = (entry.path, *size)
        image = self._cache.get(key)
        if image is None:
            image = self._cover(entry.path, size)
            self._cache[key] = image
            if len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        else:
            self._cache.move_to_end(key)
        height, width = image.shape[:2]
        x0 = int(rng.integers(0, width - size[0] + 1))
        y0 = int(rng.integers(0, height - size[1] + 1))
        return np.ascontiguousarray(image[y0 : y0 + size[1], x0 : x0 + size[0]])

    @staticmethod
    def _cover(path: Path, size: tuple[int, int]) -> np.ndarray:
        """Decode ``path`` at about the resolution needed (JPEG draft mode keeps this cheap) and resize it to
        just cover ``size``, keeping its aspect ratio."""
        probe = load_image(path, max_pixels=256 * 256)
        full_w, full_h = probe.downscaled_from or probe.rgb.shape[1::-1]
        scale = min(1.0, max(size[0] / full_w, size[1] / full_h))
        rgb = load_image(path, max_pixels=int(full_w * full_h * scale * scale * 1.05) + 1).rgb
        h, w = rgb.shape[:2]
        scale = max(size[0] / w, size[1] / h)
        new_size = (max(size[0], round(w * scale)), max(size[1], round(h * scale)))
        return cv2.resize(rgb, new_size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC)


# ------------------------------------------------------------------------------------------ procedural scenes
_Drawn = tuple[np.ndarray, np.ndarray | None]  # a drawn scene (float32 RGB) and the haze colour of its horizon


def _noise(rng: np.random.Generator, shape: tuple[int, int], grid: tuple[int, int]) -> np.ndarray:
    """Smooth random field of ``shape`` from a ``grid`` of gaussian values (bicubic), float32 ~N(0, 1)."""
    small = rng.standard_normal(grid, dtype=np.float32)
    return cv2.resize(small, (shape[1], shape[0]), interpolation=cv2.INTER_CUBIC)


def _fractal(rng: np.random.Generator, shape: tuple[int, int], base: int = 3, octaves: int = 5) -> np.ndarray:
    """Multi-scale noise (1/f-like), normalised to zero mean and unit std."""
    h, w = shape
    out = np.zeros(shape, np.float32)
    for k in range(octaves):
        cells = base * 2**k
        grid = (max(2, round(cells * h / max(h, w))), max(2, round(cells * w / max(h, w))))
        out += _noise(rng, shape, grid) * (0.55**k)
    out -= out.mean()
    return out / (out.std() + 1e-6)


def _periodic_noise(rng: np.random.Generator, size: int, cells: tuple[int, int]) -> np.ndarray:
    """Smooth noise that tiles seamlessly (wrap-padded grid, bicubic upsampling, centre crop)."""
    cy, cx = cells
    grid = np.pad(rng.standard_normal(cells, dtype=np.float32), 2, mode="wrap")
    py, px = size // cy, size // cx
    big = cv2.resize(grid, ((cx + 4) * px, (cy + 4) * py), interpolation=cv2.INTER_CUBIC)
    return cv2.resize(big[2 * py : 2 * py + cy * py, 2 * px : 2 * px + cx * px], (size, size))


_SHIPPED = frozenset({"grass", "gravel", "brick"})


@functools.cache
def _texture(name: str) -> np.ndarray:
    """A scikit-image texture (grass, gravel, brick) made seamless and normalised: float32, mean 0, std 1."""
    import skimage.data

    t = getattr(skimage.data, name)().astype(np.float32)
    n = t.shape[0]
    ramp = 1 - np.abs(np.linspace(-1, 1, n, dtype=np.float32))
    weight = np.minimum.outer(ramp, ramp)  # 1 at the centre, 0 on the border
    rolled = np.roll(t, (n // 2, n // 2), axis=(0, 1))
    mean = t.mean()
    seamless = mean + ((t - mean) * weight + (rolled - mean) * (1 - weight)) / np.sqrt(
        weight**2 + (1 - weight) ** 2
    )
    seamless -= seamless.mean()
    return seamless / seamless.std()


@functools.cache
def _texture_blurred(name: str) -> np.ndarray:
    """The same texture pre-filtered, sampled far away instead of the sharp one (poor man's mipmap)."""
    return _wrap_blur(_texture(name), 3)


def _wrap_blur(tile: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur of a seamless tile that stays seamless."""
    pad = int(3 * sigma) + 1
    padded = np.pad(tile, pad, mode="wrap")
    return np.ascontiguousarray(cv2.GaussianBlur(padded, (0, 0), sigma)[pad:-pad, pad:-pad])


def _tint(values: np.ndarray, dark: np.ndarray, light: np.ndarray) -> np.ndarray:
    """Map a zero-mean field to colours between ``dark`` and ``light`` (float32 RGB in [0, 1])."""
    t = np.clip(0.5 + 0.22 * values, 0, 1)[..., None]
    return dark + (light - dark) * t


def _jitter(rng: np.random.Generator, rgb: tuple[float, float, float], amount: float = 0.06) -> np.ndarray:
    """A base colour varied a little per sample."""
    return np.clip(np.array(rgb, np.float32) + rng.uniform(-amount, amount, 3).astype(np.float32), 0, 1)


@dataclass
class _Ground:
    """Per-pixel ground-plane coordinates for the rows below the horizon (``top`` is the first row)."""

    top: int
    u: np.ndarray  # lateral position, world units (0 at the image centre)
    v: np.ndarray  # distance, world units (1 at the bottom row)

    def sample(self, name: str, rng: np.random.Generator, scale: float) -> np.ndarray:
        """A texture laid on the ground plane (``scale`` texels per world unit), blurred with distance."""
        if name in _SHIPPED:
            tex, soft = _texture(name), _texture_blurred(name)
        else:
            tex, soft = _procedural_tile(name, int(rng.integers(_TILE_VARIANTS)))
        n = tex.shape[0]
        off = rng.uniform(0, n, 2).astype(np.float32)
        mx = np.mod(self.u * scale + off[0], n).astype(np.float32)
        my = np.mod(self.v * scale + off[1], n).astype(np.float32)
        near = cv2.remap(tex, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_WRAP)
        far = cv2.remap(soft, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_WRAP)
        w = np.clip((self.v - 2.0) / 3.0, 0, 1)
        return near * (1 - w) + far * w


_TILE_VARIANTS = 8


@functools.cache
def _procedural_tile(name: str, variant: int) -> tuple[np.ndarray, np.ndarray]:
    """Seamless tiles, sharp and pre-blurred: ``planks`` (wooden boards running away from the viewer) or
    ``ripples`` (sand). A few variants per kind are drawn once and cached, so a scene costs no tile synthesis."""
    rng = np.random.default_rng([variant, zlib.crc32(name.encode())])
    tile = _draw_tile(name, rng)
    return tile, _wrap_blur(tile, 3)


def _draw_tile(name: str, rng: np.random.Generator) -> np.ndarray:
    size = 512
    if name == "planks":
        boards = 8
        x = np.arange(size, dtype=np.float32)[None, :]
        y = np.arange(size, dtype=np.float32)[:, None]
        board = (x * boards / size).astype(np.int32)
        frac = (x * boards / size) % 1
        # Each board is cut in two at its own staggered offset: joints across it and a tone per piece.
        cut = rng.uniform(0, size, boards).astype(np.float32)[board]
        along = np.mod(y - cut, size)
        piece = board * 2 + (along >= size / 2)
        tone = rng.standard_normal(2 * boards).astype(np.float32)[piece] * 0.45
        joint = np.exp(-((np.minimum(along % (size / 2), size / 2 - along % (size / 2))) ** 2) / 1.5) * 2.5
        seam = np.exp(-((np.minimum(frac, 1 - frac) * size / boards) ** 2) / 1.5) * 2.5
        streaks = _periodic_noise(rng, size, (6, 96)) * 0.7 + _periodic_noise(rng, size, (24, 128)) * 0.3
        rings = np.sin(frac * 11 + _periodic_noise(rng, size, (8, 32)) * 2.5 + board)
        return (streaks + 0.3 * rings + tone - np.maximum(seam, joint)).astype(np.float32)
    if name == "ripples":
        y = np.arange(size, dtype=np.float32)[:, None]
        warp = _periodic_noise(rng, size, (8, 8)) * 2.0
        return (np.sin(y * 2 * np.pi * 12 / size + warp) * 0.6 + _texture("gravel") * 0.5).astype(np.float32)
    raise KeyError(name)


def _ground(h: int, w: int, horizon: int) -> _Ground:
    rows = np.arange(horizon, h, dtype=np.float32)[:, None] + 0.5
    depth = np.maximum((rows - horizon) / max(1, h - horizon), 1e-3)
    v = np.minimum(1.0 / depth, 60.0)
    u = (np.arange(w, dtype=np.float32)[None, :] - w / 2) / (h - horizon) * v
    return _Ground(horizon, np.broadcast_to(u, (h - horizon, w)).astype(np.float32), np.broadcast_to(v, u.shape))


def _sky(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    top = _jitter(rng, (0.36, 0.55, 0.82), 0.05)
    bottom = _jitter(rng, (0.78, 0.85, 0.92), 0.04)
    t = np.linspace(0, 1, h, dtype=np.float32)[:, None, None] ** 0.8
    sky = top + (bottom - top) * t
    clouds = np.clip(_fractal(rng, (h, w), base=2, octaves=4) * 0.8 - rng.uniform(0.0, 0.6), 0, 1)[..., None]
    return sky + (0.95 - sky) * clouds * 0.8


def _treeline(
    rng: np.random.Generator, img: np.ndarray, horizon: int, height: float, colour: tuple[float, float, float]
) -> None:
    """Foliage above the horizon (a ragged silhouette textured like leaves), painted in place."""
    h, w = img.shape[:2]
    top = max(0, int(horizon - height * h * 1.6))
    band = horizon - top
    if band <= 2:
        return
    profile = height * h * (0.65 + 0.35 * _noise(rng, (1, w), (1, 6))[0] + 0.1 * _noise(rng, (1, w), (1, 40))[0])
    rows = np.arange(top, horizon, dtype=np.float32)[:, None]
    ragged = _fractal(rng, (band, w), base=6, octaves=4) * 0.06 * h
    alpha = np.clip((rows - (horizon - profile) + ragged) / 3.0, 0, 1)[..., None]
    leaves = cv2.resize(_texture("gravel"), (w // 2, w // 2))
    leaves = np.tile(leaves, (band // leaves.shape[0] + 1, 3))[:band, :w]
    shade = np.linspace(1.0, 0.6, band, dtype=np.float32)[:, None]
    foliage = (
        _tint(
            leaves + 0.8 * _fractal(rng, (band, w), 4, 3),
            _jitter(rng, colour, 0.03) * 0.45,
            _jitter(rng, colour, 0.03) * 1.2,
        )
        * shade[..., None]
    )
    img[top:horizon] = img[top:horizon] * (1 - alpha) + foliage * alpha


def _finish(rng: np.random.Generator, img: np.ndarray, horizon: int, haze: np.ndarray | None) -> np.ndarray:
    """Depth-of-field blur and haze towards the horizon, a lighting gradient and a vignette (float32 RGB)."""
    h, w = img.shape[:2]
    rows = np.arange(h, dtype=np.float32)[:, None, None]
    near = np.clip(np.abs(rows - horizon) / (0.45 * h), 0, 1)
    small = cv2.resize(img, (w // 4, h // 4), interpolation=cv2.INTER_AREA)
    blurred = cv2.resize(cv2.GaussianBlur(small, (0, 0), 1.0), (w, h), interpolation=cv2.INTER_LINEAR)
    img = blurred + (img - blurred) * near**0.7
    if haze is not None:
        img = img + (haze - img) * (0.35 * (1 - near) ** 3)
    angle = rng.uniform(0, 2 * np.pi)
    xs = np.linspace(-0.5, 0.5, w, dtype=np.float32)[None, :]
    ys = np.linspace(-0.5, 0.5, h, dtype=np.float32)[:, None]
    light = 1 + rng.uniform(0.1, 0.25) * (np.cos(angle) * xs + np.sin(angle) * ys)
    vignette = 1 - rng.uniform(0.15, 0.3) * (xs**2 + ys**2) * 2
    return img * (light * vignette)[..., None]


def _sky_haze(img: np.ndarray, horizon: int) -> np.ndarray:
    """The colour just above the horizon, which distant ground fades into."""
    return img[max(0, horizon - 2)].mean(0)


def _grass_ground(rng: np.random.Generator, g: _Ground, w: int) -> np.ndarray:
    blades = g.sample("grass", rng, 180)
    patches = _fractal(rng, g.u.shape, base=3, octaves=3)
    dark, light = _jitter(rng, (0.10, 0.22, 0.05), 0.03), _jitter(rng, (0.45, 0.62, 0.22), 0.05)
    col = _tint(blades + 0.5 * patches, dark, light)
    return col * (1 + 0.08 * patches[..., None] * np.array([1.0, 0.4, 0.2], np.float32))


def _outdoor(rng: np.random.Generator, h: int, w: int, horizon: int, ground: np.ndarray, tree: float) -> _Drawn:
    """Sky, a tree line above the horizon and ``ground`` below it."""
    img = _sky(rng, h, w)
    _treeline(rng, img, horizon, tree, (0.16, 0.30, 0.12))
    img[horizon:] = ground
    return img, _sky_haze(img, horizon)


def _on_grass(rng: np.random.Generator, h: int, w: int, horizon: int) -> _Drawn:
    return _outdoor(rng, h, w, horizon, _grass_ground(rng, _ground(h, w, horizon), w), rng.uniform(0.06, 0.14))


def _garden(rng: np.random.Generator, h: int, w: int, horizon: int) -> _Drawn:
    g = _ground(h, w, horizon)
    ground = _grass_ground(rng, g, w)
    img = _sky(rng, h, w)
    _treeline(rng, img, horizon, rng.uniform(0.18, 0.28), (0.14, 0.32, 0.10))
    img[horizon:] = ground
    # Flower beds: coloured specks along the hedge foot, denser towards the horizon.
    count = int(0.004 * w * (h - horizon) * 0.3)
    ys = horizon - rng.uniform(0, 0.12, count) ** 1.5 * h + rng.uniform(0, 0.06, count) * h
    xs = rng.uniform(0, w, count)
    palette = np.array([[0.9, 0.4, 0.6], [0.95, 0.85, 0.2], [0.95, 0.95, 0.95], [0.6, 0.35, 0.8], [0.9, 0.3, 0.2]])
    colours = palette[rng.integers(len(palette), size=count)].astype(np.float32)
    layer = np.zeros_like(img)
    mask = np.zeros((h, w), np.float32)
    for x, y, c in zip(xs, ys, colours, strict=True):
        r = max(1, int(0.004 * h * (1 + 2 * max(0.0, y - horizon) / h * 4)))
        cv2.circle(layer, (int(x), int(y)), r, tuple(float(v) for v in c), -1, cv2.LINE_AA)
        cv2.circle(mask, (int(x), int(y)), r, 1.0, -1, cv2.LINE_AA)
    shade = (0.75 + 0.25 * np.clip(_fractal(rng, (h, w), 8, 2), -1, 1))[..., None]
    img = img * (1 - mask[..., None]) + layer * shade * mask[..., None]
    return img, _sky_haze(img, horizon)


def _gravel_path(rng: np.random.Generator, h: int, w: int, horizon: int) -> _Drawn:
    g = _ground(h, w, horizon)
    stones = _tint(
        g.sample("gravel", rng, 260) + 0.3 * _fractal(rng, g.u.shape, 4, 3),
        _jitter(rng, (0.30, 0.27, 0.24), 0.04),
        _jitter(rng, (0.80, 0.76, 0.70), 0.04),
    )
    grass = _grass_ground(rng, g, w)
    half = rng.uniform(0.9, 1.4)
    edge = half + 0.08 * _fractal(rng, g.u.shape, 6, 3) - np.abs(g.u - rng.uniform(-0.2, 0.2))
    path = np.clip(edge * 6, 0, 1)[..., None]
    return _outdoor(rng, h, w, horizon, grass * (1 - path) + stones * path, rng.uniform(0.08, 0.18))


def _beach(rng: np.random.Generator, h: int, w: int, horizon: int) -> _Drawn:
    img = _sky(rng, h, w)
    g = _ground(h, w, horizon)
    shore_v = rng.uniform(3.0, 6.0) + 0.4 * _noise(rng, (1, w), (1, 5))[0]
    deep, shallow = _jitter(rng, (0.10, 0.28, 0.45), 0.03), _jitter(rng, (0.25, 0.55, 0.60), 0.04)
    waves = _fractal(rng, g.u.shape, base=4, octaves=3)
    sea_t = np.clip((g.v - shore_v) / 20, 0, 1)[..., None]
    sea = shallow + (deep - shallow) * sea_t + 0.04 * waves[..., None]
    sand = _tint(
        g.sample("ripples", rng, 150) + 0.6 * _fractal(rng, g.u.shape, 3, 3),
        _jitter(rng, (0.62, 0.52, 0.38), 0.04),
        _jitter(rng, (0.92, 0.85, 0.70), 0.03),
    )
    wet = np.clip((g.v - (shore_v - 0.6)) * 2, 0, 1)[..., None]
    sand = sand * (1 - 0.25 * wet)
    foam = np.exp(-(((g.v - shore_v) / 0.12) ** 2))[..., None] * np.clip(0.6 + 0.5 * waves[..., None], 0, 1)
    water = (g.v > shore_v)[..., None]
    ground = np.where(water, sea, sand)
    img[horizon:] = ground + (0.95 - ground) * foam
    return img, _sky_haze(img, horizon)


def _wall(rng: np.random.Generator, h: int, w: int, colour: tuple[float, float, float]) -> np.ndarray:
    base = _jitter(rng, colour, 0.05)
    texture = 0.015 * _fractal(rng, (h, w), 2, 4) + 0.006 * cv2.resize(_texture("brick"), (w, h))
    glow = np.exp(-(((np.arange(w, dtype=np.float32) / w - rng.uniform(0.2, 0.8)) / 0.35) ** 2))[None, :]
    return base * (0.85 + 0.2 * glow + texture)[..., None]


def _wooden_table(rng: np.random.Generator, h: int, w: int, horizon: int) -> _Drawn:
    img = _wall(rng, h, w, ((0.72, 0.68, 0.62), (0.55, 0.62, 0.66), (0.80, 0.76, 0.66))[rng.integers(3)])
    img = cv2.GaussianBlur(img, (0, 0), 0.01 * w)
    g = _ground(h, w, horizon)
    wood = _tint(
        g.sample("planks", rng, 120),
        _jitter(rng, (0.28, 0.15, 0.07), 0.04),
        _jitter(rng, (0.66, 0.44, 0.25), 0.05),
    )
    gloss = np.exp(-((g.u / 1.5) ** 2)) * np.clip(1 - (g.v - 3) ** 2 / 25, 0, 1)
    wood = wood + (1 - wood) * 0.12 * gloss[..., None]
    img[horizon:] = wood
    img[horizon : horizon + max(1, h // 300)] *= 0.75  # the table's back edge
    return img, None


def _living_room(rng: np.random.Generator, h: int, w: int, horizon: int) -> _Drawn:
    img = _wall(rng, h, w, ((0.80, 0.76, 0.70), (0.70, 0.74, 0.72), (0.78, 0.70, 0.62))[rng.integers(3)])
    skirting = max(2, int(0.035 * h))
    img[horizon - skirting : horizon] = (
        _jitter(rng, (0.92, 0.91, 0.88), 0.02) * np.linspace(1.0, 0.8, skirting, dtype=np.float32)[:, None, None]
    )
    g = _ground(h, w, horizon)
    floor = _tint(
        g.sample("planks", rng, 90), _jitter(rng, (0.35, 0.22, 0.12), 0.04), _jitter(rng, (0.78, 0.60, 0.40), 0.05)
    )
    reflection = np.exp(-((g.v - 1.5) ** 2) / 4) * 0.1
    img[horizon:] = floor + (1 - floor) * reflection[..., None]
    return img, None


SceneGenerator = Callable[[np.random.Generator, int, int, int], _Drawn]

#: Built-in scenes: phrase -> generator(rng, height, width, horizon_row) -> (float32 RGB, haze colour or None).
PROCEDURAL_SCENES: dict[str, SceneGenerator] = {
    "on the grass": _on_grass,
    "in a garden": _garden,
    "on a wooden table": _wooden_table,
    "on a beach": _beach,
    "in a living room": _living_room,
    "on a gravel path": _gravel_path,
}

# Words of a requested scene that point to one of the built-in ones.
_KEYWORDS: dict[str, str] = {
    **dict.fromkeys(("grass", "lawn", "field", "meadow", "park", "outdoors"), "on the grass"),
    **dict.fromkeys(("garden", "yard", "backyard", "flowers", "flower"), "in a garden"),
    **dict.fromkeys(("table", "desk", "kitchen", "counter", "countertop", "tabletop"), "on a wooden table"),
    **dict.fromkeys(("beach", "sea", "ocean", "coast", "shore", "sand"), "on a beach"),
    **dict.fromkeys(("room", "house", "home", "indoors", "floor", "sofa", "couch", "bedroom"), "in a living room"),
    **dict.fromkeys(("path", "gravel", "road", "street", "trail", "driveway"), "on a gravel path"),
}


def procedural_scene_for(scene: str | None, rng: np.random.Generator) -> str:
    """The built-in scene best matching a requested phrase (by keyword), else one drawn from ``rng``."""
    if scene:
        for word in reversed(re.findall(r"[a-z]+", scene.lower())):
            if word in _KEYWORDS:
                return _KEYWORDS[word]
    names = list(PROCEDURAL_SCENES)
    return names[int(rng.integers(len(names)))]


def render_procedural(
    phrase: str, size: tuple[int, int], rng: np.random.Generator, horizon: float | None = None
) -> np.ndarray:
    """Draw built-in scene ``phrase`` at ``size`` (width, height) as RGB uint8; ``horizon`` is a fraction of the
    height. Large canvases are drawn at half resolution (the scene is soft background anyway) and get their
    film grain at full resolution."""
    width, height = size
    if horizon is None:
        horizon = float(rng.uniform(0.35, 0.5))
    step = 2 if max(width, height) >= 768 else 1
    w, h = -(-width // step), -(-height // step)
    row = int(np.clip(horizon, 0.1, 0.9) * h)
    img, haze = PROCEDURAL_SCENES[phrase](rng, h, w, row)
    img = _finish(rng, img, row, haze)
    if step > 1:
        img = cv2.resize(img, (width, height), interpolation=cv2.INTER_LINEAR)
    grain = cv2.resize(rng.standard_normal((h, w), dtype=np.float32), (width, height)) * 0.012
    img += grain[..., None]
    return cv2.convertScaleAbs(np.maximum(img, 0, out=img), alpha=255.0)
