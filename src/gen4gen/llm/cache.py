"""The response-cache protocol of remote calls: reruns cost no calls."""

from __future__ import annotations

from typing import Protocol


class ResponseCache(Protocol):
    """Key-value store for remote answers (the run's manifest implements it): reruns cost no calls."""

    def get(self, key: str) -> str | None: ...

    def put(self, key: str, value: str) -> None: ...
