"""IS-Net (DIS, ``isnet-general-use``) salient-object segmentation through onnxruntime.

The photo is resized to the model's square input (1024² for the released model), scaled to [0, 1] and normalised
as DIS does (mean 0.5, std 1.0); the finest side output is min-max normalised and resized back to the photo, giving
a soft mask. Execution providers are chosen explicitly (CUDA when onnxruntime offers it, else CPU) and the ones the
session really uses are recorded. One session per process per (model file, providers, threads), reused.
"""

from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import Field

from gen4gen import hf
from gen4gen.backends.base import BackendOptions, BackendUnavailable, ItemError, Photo, Segmenter

MODEL_FILE = "isnet-general-use.onnx"
MODEL_URL = "https://github.com/danielgatis/rembg/releases/download/v0.0.0/isnet-general-use.onnx"

#: the ``device`` option of the onnxruntime segmenters
Device = Literal["auto", "cuda", "cpu"]
DEVICE_HELP = "onnxruntime execution provider: auto (CUDA when onnxruntime offers it, else CPU), cuda or cpu"

_Unit = Annotated[float, Field(ge=0.0, le=1.0)]
_Scale = Annotated[float, Field(gt=0.0, le=10.0)]

_SESSIONS: dict[tuple[str, tuple[str, ...], int], Any] = {}
_SHA256: dict[str, str] = {}
_LOCK = threading.Lock()


def _default_locations() -> list[Path]:
    """Where an already downloaded model is looked for when ``model`` is not set."""
    places = []
    if os.environ.get("GEN4GEN_MODELS"):
        places.append(Path(os.environ["GEN4GEN_MODELS"]) / MODEL_FILE)
    places.append(Path(os.environ.get("U2NET_HOME", Path.home() / ".u2net")) / MODEL_FILE)  # rembg's cache
    return places


def file_sha256(path: Path) -> str:
    """sha256 of a model file, computed once per process."""
    key = str(path)
    if key not in _SHA256:
        digest = hashlib.sha256()
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        _SHA256[key] = digest.hexdigest()
    return _SHA256[key]


def choose_providers(device: str, available: list[str]) -> list[str]:
    """onnxruntime execution providers for ``device`` ("auto", "cuda" or "cpu") given the available ones."""
    cuda = "CUDAExecutionProvider" in available
    if device == "cuda" and not cuda:
        raise BackendUnavailable(
            f"segment.device=cuda but this onnxruntime offers only {available}: pip install onnxruntime-gpu "
            "(instead of onnxruntime), or set segment.device=cpu"
        )
    if device == "cpu" or not cuda:
        return ["CPUExecutionProvider"]
    return ["CUDAExecutionProvider", "CPUExecutionProvider"]


def get_session(path: Path, providers: list[str], threads: int = 0) -> Any:
    """The process-wide onnxruntime session for this model file and providers (created on first use)."""
    import onnxruntime as ort

    key = (str(path), tuple(providers), threads)
    with _LOCK:
        session = _SESSIONS.get(key)
        if session is None:
            options = ort.SessionOptions()
            options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
            if threads:
                options.intra_op_num_threads = threads
            try:
                session = ort.InferenceSession(str(path), sess_options=options, providers=providers)
            except Exception as exc:  # onnxruntime raises its own Fail/InvalidGraph types
                raise BackendUnavailable(f"{path}: not a loadable ONNX model ({exc}); re-download it") from exc
            _SESSIONS[key] = session
    return session


class ISNetSegmenter(Segmenter):
    """Soft foreground mask from IS-Net (or any ONNX model with its contract: 1x3xSxS image -> 1x1xSxS map)."""

    name = "isnet"
    process_parallel = False  # one model session per process is the expensive part; it runs its own threads
    version = "1"

    options: Options

    class Options(BackendOptions):
        model: str | None = Field(
            None,
            min_length=1,
            description=f"the ONNX file (or a folder holding {MODEL_FILE}), or hf://OWNER/REPO/FILE.onnx from the "
            "Hugging Face cache; none: $GEN4GEN_MODELS, then $U2NET_HOME (~/.u2net)",
        )
        sha256: str | None = Field(
            None,
            pattern=r"^[0-9a-fA-F]{64}$",
            description="expected sha256 of the model file; a mismatch refuses to run",
        )
        size: int = Field(
            1024, ge=32, le=4096, description="square input side (px), used when the model's input is dynamic"
        )
        mean: tuple[_Unit, _Unit, _Unit] = Field(
            (0.5, 0.5, 0.5), description="per-channel mean subtracted from the [0, 1] image (R, G, B)"
        )
        std: tuple[_Scale, _Scale, _Scale] = Field(
            (1.0, 1.0, 1.0), description="per-channel std the image is divided by (R, G, B)"
        )
        device: Device = Field("auto", description=DEVICE_HELP)
        threads: int = Field(0, ge=0, le=256, description="onnxruntime intra-op threads (0: onnxruntime decides)")

    def __init__(self, options: BackendOptions | None = None) -> None:
        super().__init__(options)
        try:
            import onnxruntime  # noqa: F401
        except ModuleNotFoundError as exc:
            raise BackendUnavailable(
                "segment backend 'isnet' needs onnxruntime: pip install 'gen4gen[neural]' (or onnxruntime-gpu)"
            ) from exc
        self.model_path = self._resolve_model()
        if self.options.sha256 and file_sha256(self.model_path) != self.options.sha256.lower():
            raise BackendUnavailable(
                f"{self.model_path}: sha256 {file_sha256(self.model_path)} does not match segment.sha256="
                f"{self.options.sha256}; the file is damaged or a different model: download it again"
            )

    def _resolve_model(self) -> Path:
        spec = self.options.model
        if spec and spec.startswith("hf://"):
            return self._from_hub(spec[len("hf://") :])
        if spec:
            path = Path(spec).expanduser()
            if path.is_dir():
                path = path / MODEL_FILE
            if not path.is_file():
                raise BackendUnavailable(
                    f"segment.model={spec}: no such ONNX file. Download {MODEL_FILE} from {MODEL_URL} and pass "
                    "--set segment.model=PATH.onnx"
                )
            return path.resolve()
        for candidate in _default_locations():
            if candidate.is_file():
                return candidate.resolve()
        raise BackendUnavailable(
            f"segment backend 'isnet' needs the IS-Net model file {MODEL_FILE} (about 177 MB), not found in "
            f"{', '.join(str(p) for p in _default_locations())}. Download it from {MODEL_URL} (on a machine with "
            "network) and pass --set segment.model=PATH.onnx, or put it in $GEN4GEN_MODELS"
        )

    @staticmethod
    def _from_hub(spec: str) -> Path:
        """``REPO_ID/FILE`` from the Hugging Face cache (downloaded when online; offline with HF_HUB_OFFLINE=1)."""
        repo, _, filename = spec.rpartition("/")
        if not repo or not filename:
            raise BackendUnavailable(f"segment.model=hf://{spec}: expected hf://OWNER/REPO/FILE.onnx")
        return hf.hub_file(repo, filename, "segment.model", "pass a local file with --set segment.model=PATH.onnx")

    def session(self) -> Any:
        import onnxruntime as ort

        providers = choose_providers(self.options.device, ort.get_available_providers())
        return get_session(self.model_path, providers, self.options.threads)

    def input_size(self, session: Any) -> tuple[int, int]:
        """(height, width) of the model input: fixed by the model when it says so, else ``size``²."""
        shape = session.get_inputs()[0].shape
        height = shape[2] if isinstance(shape[2], int) else self.options.size
        width = shape[3] if isinstance(shape[3], int) else self.options.size
        return height, width

    def preprocess(self, rgb: np.ndarray, size: tuple[int, int]) -> np.ndarray:
        """RGB uint8 (H, W, 3) -> normalised float32 (1, 3, h, w), one pass per channel.

        Bilinear like DIS; area averaging only when shrinking more than 2x, where bilinear would alias.
        """
        import cv2

        height, width = size
        shrink = rgb.shape[0] * rgb.shape[1] > 4 * height * width
        resized = cv2.resize(rgb, (width, height), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)
        x = np.empty((1, 3, height, width), np.float32)
        for c in range(3):
            scale = np.float32(1.0 / (255.0 * self.options.std[c]))
            np.multiply(resized[:, :, c], scale, out=x[0, c], casting="unsafe")
            x[0, c] -= np.float32(self.options.mean[c] / self.options.std[c])
        return x

    @staticmethod
    def postprocess(prediction: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
        """Model map (1, 1, h, w) -> float32 (H, W) at the photo's size, min-max normalised to [0, 1] as in DIS."""
        import cv2

        pred = np.asarray(prediction, dtype=np.float32).reshape(prediction.shape[-2:])
        shrink = shape[0] * shape[1] < pred.size
        mask = cv2.resize(pred, (shape[1], shape[0]), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)
        low, high = float(mask.min()), float(mask.max())
        if not (np.isfinite(low) and np.isfinite(high)):
            raise ItemError("IS-Net produced non-finite values for this photo")
        if high <= low:
            return np.zeros(shape, np.float32)
        mask -= low
        mask *= 1.0 / (high - low)
        return np.clip(mask, 0.0, 1.0, out=mask)

    def segment(self, photo: Photo) -> np.ndarray:
        if photo.rgb.ndim != 3 or photo.rgb.shape[2] != 3 or photo.rgb.dtype != np.uint8:
            raise ItemError(f"{photo.path}: expected an RGB uint8 image, got {photo.rgb.dtype} {photo.rgb.shape}")
        session = self.session()
        x = self.preprocess(photo.rgb, self.input_size(session))
        prediction = session.run([session.get_outputs()[0].name], {session.get_inputs()[0].name: x})[0]
        return self.postprocess(prediction, photo.rgb.shape[:2])

    def identity(self) -> dict[str, Any]:
        import onnxruntime as ort

        session = self.session()
        return {
            **super().identity(),
            "model": str(self.model_path),
            "sha256": file_sha256(self.model_path),
            "input": {"name": session.get_inputs()[0].name, "shape": list(self.input_size(session))},
            "providers": session.get_providers(),
            "onnxruntime": ort.__version__,
        }
