"""Exporters: one :class:`~gen4gen.exporters.base.Writer` per output format."""

from gen4gen.exporters.base import Writer
from gen4gen.exporters.contact_sheet import ContactSheetWriter
from gen4gen.exporters.hf import ImageFolderWriter

__all__ = ["ContactSheetWriter", "ImageFolderWriter", "Writer"]
