"""Loading Hugging Face models the same way everywhere: local folder or hub id, offline mode, device and dtype.

A model option (``repaint.model``, ``caption.model``...) is either a local folder or a hub id (``OWNER/NAME``);
a hub id loads from the Hugging Face cache, downloading into it when online. With ``HF_HUB_OFFLINE=1`` only the
cache is used, and a missing model fails at once with a :class:`BackendUnavailable` that says how to get it.

torch, diffusers, transformers and huggingface_hub are imported inside the functions that need them, so
importing this module costs nothing.
"""

from __future__ import annotations

import importlib
import os
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

from pydantic import AfterValidator

from gen4gen.errors import BackendUnavailable

T = TypeVar("T")

_DEVICE = re.compile(r"auto|cpu|mps|cuda(:[0-9]+)?")


def _check_device(value: str) -> str:
    if not _DEVICE.fullmatch(value):
        raise ValueError(f"unknown device {value!r}; expected auto, cpu, cuda, cuda:N or mps")
    return value


def check_template(value: str, names: tuple[str, ...]) -> str:
    """``value`` if it is a ``str.format`` template using only ``{name}`` placeholders of ``names``."""
    try:
        value.format(**dict.fromkeys(names, ""))
    except KeyError as exc:
        allowed = ", ".join(f"{{{name}}}" for name in names)
        raise ValueError(f"unknown placeholder {{{exc.args[0]}}}; only {allowed} are filled in") from None
    except (IndexError, ValueError) as exc:
        raise ValueError(f"not a valid template ({exc}); write {{{{ and }}}} for literal braces") from None
    return value


#: the ``device`` option of every torch backend, checked at config time
Device = Annotated[str, AfterValidator(_check_device)]
#: the ``dtype`` option of every torch backend
DType = Literal["auto", "fp16", "bf16", "fp32"]
DEVICE_HELP = "torch device: auto (CUDA GPU, else Apple mps, else cpu), cpu, cuda, cuda:N or mps"
DTYPE_HELP = (
    "weights dtype: auto (bf16 on GPUs that support it, else fp16 on GPUs, fp32 on the CPU), fp16, bf16 or fp32"
)
#: errors ``from_pretrained`` raises for a missing or unusable model (anything else is a bug and propagates)
LOAD_ERRORS: tuple[type[Exception], ...] = (OSError, ValueError, KeyError)


def offline() -> bool:
    """Whether ``HF_HUB_OFFLINE`` asks for the cache only (read at each call, not at import)."""
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


def local_files_only() -> bool | None:
    """The ``local_files_only`` argument for ``from_pretrained``: True offline, else the library's default."""
    return True if offline() else None


@contextmanager
def quiet_loading() -> Iterator[None]:
    """No diffusers/transformers progress bars while weights load (the stage shows its own progress)."""
    saved = []
    for name in ("diffusers.utils.logging", "transformers.utils.logging"):
        try:
            module = importlib.import_module(name)
        except ImportError:  # only one of the two libraries installed
            continue
        saved.append((module, module.is_progress_bar_enabled()))
        module.disable_progress_bar()
    try:
        yield
    finally:
        for module, enabled in saved:
            if enabled:
                module.enable_progress_bar()


def resolve_device(device: str) -> str:
    """``auto`` -> ``cuda`` when torch sees a GPU, else ``mps`` on Apple silicon, else ``cpu``."""
    import torch

    if device != "auto":
        if device.startswith("cuda") and not torch.cuda.is_available():
            raise BackendUnavailable(
                f"device={device} but torch sees no CUDA GPU (torch {torch.__version__}); install a CUDA build "
                "of torch or set device=cpu"
            )
        return device
    if torch.cuda.is_available():
        return "cuda"
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return "mps"
    return "cpu"


def resolve_dtype(dtype: str, device: str) -> Any:
    """``auto``: bf16 on CUDA GPUs that support it (no fp16 VAE overflow), else fp16 on GPUs, fp32 on the CPU."""
    import torch

    table = {"fp16": torch.float16, "bf16": torch.bfloat16, "fp32": torch.float32}
    if dtype != "auto":
        return table[dtype]
    if device.startswith("cuda"):
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.float16 if device == "mps" else torch.float32


def model_source(spec: str, key: str, what: str) -> str:
    """The local folder ``spec`` names (as a path) or ``spec`` itself as a hub id.

    Something that can only be a path (absolute, relative with ``./``, ``~``, or with more than one ``/``) and
    does not exist is a :class:`BackendUnavailable` naming ``key``.
    """
    path = Path(spec).expanduser()
    if path.exists():
        return str(path)
    if spec.startswith(("/", "./", "../", "~")) or spec.count("/") > 1:
        raise BackendUnavailable(f"{key}={spec}: no such folder; pass a {what} folder or a hub id")
    return spec


def first_line(exc: BaseException, limit: int = 200) -> str:
    """The first line of an exception's message (its type name when it has none), for one-line errors."""
    text = str(exc).strip()
    return text.splitlines()[0][:limit] if text else type(exc).__name__


def load_error(key: str, spec: str, exc: BaseException, what: str) -> BackendUnavailable:
    """The error for a model that would not load: how to get it (hub id) or what is wrong (local folder)."""
    reason = first_line(exc)
    if not Path(spec).expanduser().exists():
        where = "not in the Hugging Face cache" + (" and HF_HUB_OFFLINE=1" if offline() else "")
        return BackendUnavailable(
            f"{key}={spec}: {where} ({reason}). Get it with `huggingface-cli download {spec}` on a machine with "
            f"network (then copy the Hugging Face cache here, or pass the downloaded folder: --set {key}=DIR)"
        )
    return BackendUnavailable(f"{key}={spec}: not a loadable {what} folder ({reason})")


def load_pretrained(load: Callable[[str], T], spec: str, key: str, what: str) -> T:
    """``load(source)`` for the folder or hub id ``spec`` (option ``key``) without progress bars.

    ``load`` calls ``from_pretrained(source, local_files_only=local_files_only(), ...)`` once or more; a missing
    or unusable model becomes a :class:`BackendUnavailable` that says how to get it (``what``: "diffusers model").
    """
    source = model_source(spec, key, what)
    try:
        with quiet_loading():
            return load(source)
    except LOAD_ERRORS as exc:
        raise load_error(key, spec, exc, what) from exc


def hub_file(repo: str, filename: str, key: str, local_hint: str) -> Path:
    """One file of hub repo ``repo`` from the Hugging Face cache (downloaded when online; cache only offline)."""
    try:
        from huggingface_hub import hf_hub_download

        return Path(hf_hub_download(repo, filename, local_files_only=offline()))
    except Exception as exc:  # hub errors: offline, missing repo, missing file, no huggingface_hub
        raise BackendUnavailable(
            f"{key}=hf://{repo}/{filename}: not in the Hugging Face cache"
            + (" and HF_HUB_OFFLINE=1" if offline() else " and not downloadable here")
            + f" ({type(exc).__name__}); run `huggingface-cli download {repo} {filename}` where there is network, "
            f"or {local_hint}"
        ) from exc


def snapshot_revision(name_or_path: str) -> str | None:
    """The commit of a model loaded from the Hugging Face cache (``.../snapshots/<commit>/...``), else None."""
    if "/snapshots/" not in name_or_path:
        return None
    return name_or_path.split("/snapshots/")[1].split("/")[0]
