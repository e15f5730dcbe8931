"""The rembg package's segmentation models (u2net, isnet-general-use, birefnet-*, sam...) behind one backend.

rembg downloads its models into ``$U2NET_HOME`` (``~/.u2net``) on first use; offline, put the ``MODEL.onnx`` file
there. Sessions are created once per process per model name and providers, as rembg recommends.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
from pydantic import Field

from gen4gen.backends.base import BackendOptions, BackendUnavailable, ItemError, Photo, Segmenter
from gen4gen.backends.segment.isnet import DEVICE_HELP, Device, choose_providers

_SESSIONS: dict[tuple[str, tuple[str, ...]], Any] = {}
_LOCK = threading.Lock()


class RembgSegmenter(Segmenter):
    """Soft foreground mask from any model rembg knows (``model`` is rembg's model name)."""

    name = "rembg"
    process_parallel = False  # one model session per process is the expensive part; it runs its own threads
    version = "1"

    options: Options

    class Options(BackendOptions):
        model: str = Field(
            "isnet-general-use",
            min_length=1,
            description="rembg model name (u2net, isnet-general-use, birefnet-general, sam...)",
        )
        post_process: bool = Field(
            False, description="rembg's morphological clean-up of the mask (hardens soft edges)"
        )
        device: Device = Field("auto", description=DEVICE_HELP)

    def __init__(self, options: BackendOptions | None = None) -> None:
        super().__init__(options)
        try:
            import rembg  # noqa: F401
        except ModuleNotFoundError as exc:
            raise BackendUnavailable(
                "segment backend 'rembg' needs the rembg package: pip install rembg (or pip install 'rembg[gpu]')"
            ) from exc

    def session(self) -> Any:
        import onnxruntime as ort
        import rembg

        providers = choose_providers(self.options.device, ort.get_available_providers())
        key = (self.options.model, tuple(providers))
        with _LOCK:
            if key not in _SESSIONS:
                try:
                    _SESSIONS[key] = rembg.new_session(self.options.model, providers=providers)
                except ValueError as exc:  # unknown model name
                    raise BackendUnavailable(f"segment.model={self.options.model}: {exc}") from exc
                except OSError as exc:  # download failed (offline) or unreadable file
                    raise BackendUnavailable(
                        f"rembg could not load model {self.options.model!r} ({exc}); offline, download "
                        f"{self.options.model}.onnx elsewhere and put it in $U2NET_HOME (default ~/.u2net)"
                    ) from exc
            return _SESSIONS[key]

    def segment(self, photo: Photo) -> np.ndarray:
        import rembg
        from PIL import Image

        mask = rembg.remove(
            Image.fromarray(photo.rgb),
            session=self.session(),
            only_mask=True,
            post_process_mask=self.options.post_process,
        )
        array = np.asarray(mask.convert("L"), dtype=np.float32) / 255.0
        if array.shape != photo.rgb.shape[:2]:
            raise ItemError(f"{photo.path}: rembg returned a {array.shape} mask for a {photo.rgb.shape[:2]} photo")
        return array

    def identity(self) -> dict[str, Any]:
        from importlib.metadata import version

        session = self.session()
        inner = getattr(session, "inner_session", None)
        providers = inner.get_providers() if inner is not None else None
        return {**super().identity(), "rembg": version("rembg"), "providers": providers}
