"""Exporters: one :class:`~gen4gen.exporters.base.Writer` per output format, and the registry of export formats."""

from gen4gen.exporters.base import Writer
from gen4gen.exporters.contact_sheet import ContactSheetWriter
from gen4gen.exporters.hf import ImageFolderWriter
from gen4gen.exporters.registry import FORMATS, check_format, writer_class

__all__ = ["FORMATS", "ContactSheetWriter", "ImageFolderWriter", "Writer", "check_format", "writer_class"]
