"""An in-memory response cache: for tests, and for remote backends used outside a run."""

from __future__ import annotations


class MemoryCache:
    """Remote answers kept in a dict (``data``) instead of the run's manifest."""

    def __init__(self) -> None:
        self.data: dict[str, str] = {}

    def get(self, key: str) -> str | None:
        return self.data.get(key)

    def put(self, key: str, value: str) -> None:
        self.data[key] = value
