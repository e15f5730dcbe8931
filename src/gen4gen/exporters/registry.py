"""Export formats: name -> ``module:Class``, imported only when chosen (``gen4gen export --format NAME``)."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from gen4gen.errors import ConfigError

if TYPE_CHECKING:
    from gen4gen.exporters.folder import FolderWriter

FORMATS: dict[str, str] = {
    "hf": "gen4gen.exporters.hf:HFDatasetWriter",
    "coco": "gen4gen.exporters.coco:CocoWriter",
    "webdataset": "gen4gen.exporters.webdataset:WebDatasetWriter",
    "custom-diffusion": "gen4gen.exporters.custom_diffusion:CustomDiffusionWriter",
    "dreambooth": "gen4gen.exporters.dreambooth:DreamBoothWriter",
    "kohya": "gen4gen.exporters.kohya:KohyaWriter",
}


def check_format(name: str) -> str:
    """``name`` when it is a known format, else a ConfigError listing them."""
    if name not in FORMATS:
        raise ConfigError(f"unknown export format {name!r}; available: {', '.join(FORMATS)}")
    return name


def writer_class(name: str) -> type[FolderWriter]:
    module, _, attr = FORMATS[check_format(name)].partition(":")
    cls: type[FolderWriter] = getattr(importlib.import_module(module), attr)
    return cls
