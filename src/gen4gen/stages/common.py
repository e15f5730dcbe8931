"""Small things several stages share."""

from __future__ import annotations

import re

SAMPLES_META = "samples"  # meta key: JSON list of the accepted sample keys of the current compose run


def safe_stem(text: str) -> str:
    """A file-name-safe version of an id (keeps letters of any script, digits, '+', '-', '.')."""
    return re.sub(r"[^\w+\-.]+", "_", text).strip("_") or "item"
