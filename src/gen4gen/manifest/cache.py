"""The response cache of remote backends (LLM layouts, VLM captions), in the run database's ``cache`` table.

Keyed by the exact request, so a rerun costs no calls. Each process opens its own connection: worker processes
read and write the cache directly (SQLite in WAL mode serialises the writers), while item records stay the
driver's alone.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

from gen4gen.errors import ManifestError


class SqliteResponseCache:
    """A :class:`~gen4gen.llm.cache.ResponseCache` on ``RUN_DIR/manifest.sqlite`` (safe across threads)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        try:
            self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=60)
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS cache "
                "(key TEXT PRIMARY KEY, value TEXT NOT NULL, created REAL NOT NULL)"
            )
        except sqlite3.DatabaseError as exc:
            raise ManifestError(f"{path}: cannot open the response cache ({exc})") from exc

    def get(self, key: str) -> str | None:
        with self._lock:
            row = self._db.execute("SELECT value FROM cache WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def put(self, key: str, value: str) -> None:
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO cache (key, value, created) VALUES (?, ?, ?)", (key, value, time.time())
            )

    def close(self) -> None:
        with self._lock:
            self._db.close()
