"""Versioned prompt templates shipped with the package.

A template file (``<name>.txt``) starts with ``#`` header lines (``# version: N`` among them), then a ``[system]``
and a ``[user]`` section, and optionally others (``[reask]``), using ``$placeholders`` (:class:`string.Template`,
so JSON braces need no escaping).
Every sample records the template's name, version and the sha256 of the file, so a changed wording is visible in
the manifest even when someone forgets to bump the version.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from functools import cache
from importlib import resources
from string import Template
from typing import Any

_SECTION = re.compile(r"^\[([a-z_]+)\]\s*$", re.MULTILINE)


@dataclass(frozen=True)
class Prompt:
    name: str
    version: str
    sha256: str
    sections: dict[str, str]

    def ref(self) -> dict[str, str]:
        """What a sample records about the template it was made with."""
        return {"name": self.name, "version": self.version, "sha256": self.sha256}

    def render(self, section: str, **values: object) -> str:
        """One section with its placeholders filled (a missing value is a KeyError)."""
        return Template(self.sections[section]).substitute(values)

    def messages(self, **values: object) -> list[dict[str, Any]]:
        """The system and user chat messages."""
        return [
            {"role": "system", "content": self.render("system", **values)},
            {"role": "user", "content": self.render("user", **values)},
        ]


def _read(filename: str) -> bytes:
    return resources.files(__name__).joinpath(filename).read_bytes()


@cache
def load_prompt(name: str) -> Prompt:
    """The template ``<name>.txt``; raises FileNotFoundError / ValueError for a missing or malformed one."""
    raw = _read(f"{name}.txt")
    text = raw.decode("utf-8")
    version = re.search(r"^#\s*version:\s*(\S+)\s*$", text, re.MULTILINE)
    if version is None:
        raise ValueError(f"prompt {name!r} has no '# version:' header")
    parts = _SECTION.split(text)
    sections = dict(zip(parts[1::2], (p.strip() for p in parts[2::2]), strict=True))
    if not {"system", "user"} <= set(sections):
        raise ValueError(f"prompt {name!r} needs a [system] and a [user] section")
    return Prompt(name, version.group(1), hashlib.sha256(raw).hexdigest(), sections)


@cache
def load_data(filename: str) -> tuple[Any, dict[str, str]]:
    """A JSON file shipped beside the templates, with its reference (name, version, sha256) for provenance."""
    raw = _read(filename)
    data = json.loads(raw)
    version = str(data.get("version", "0")) if isinstance(data, dict) else "0"
    return data, {"name": filename, "version": version, "sha256": hashlib.sha256(raw).hexdigest()}
