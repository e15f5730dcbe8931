"""The run database: one SQLite file (WAL) in RUN_DIR recording every item every stage made.

A record is keyed by (stage, item key) and holds its status, fingerprint (a hash of everything that determines
the output: parameters, seed, backend identity, upstream hashes), outputs (relative path -> sha256) and data
(layout, caption...). Files are written atomically *before* their record is committed, and outputs are a pure
function of the fingerprint, so a run killed at any moment resumes by redoing at most the items in flight,
producing the same bytes. The same database holds the response cache of remote backends.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gen4gen.io.atomic import file_sha256

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS items (
    stage TEXT NOT NULL,
    key TEXT NOT NULL,
    status TEXT NOT NULL,           -- done | rejected | failed
    fingerprint TEXT NOT NULL,
    seed INTEGER,
    backend TEXT,                   -- JSON identity of the backend that made it
    outputs TEXT NOT NULL,          -- JSON {relative path: sha256}
    data TEXT NOT NULL,             -- JSON, stage-specific
    message TEXT,
    seconds REAL,
    updated REAL NOT NULL,
    PRIMARY KEY (stage, key)
);
CREATE TABLE IF NOT EXISTS cache (key TEXT PRIMARY KEY, value TEXT NOT NULL, created REAL NOT NULL);
"""

DONE, REJECTED, FAILED = "done", "rejected", "failed"


def fingerprint(*parts: Any) -> str:
    """Stable hash of JSON-able parts (dict keys sorted)."""
    blob = json.dumps(parts, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:32]


@dataclass
class Record:
    stage: str
    key: str
    status: str
    fingerprint: str
    seed: int | None = None
    backend: dict[str, Any] | None = None
    outputs: dict[str, str] = field(default_factory=dict)
    data: dict[str, Any] = field(default_factory=dict)
    message: str | None = None
    seconds: float | None = None


class Manifest:
    """Thread-safe access to RUN_DIR/manifest.sqlite."""

    FILENAME = "manifest.sqlite"

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir
        run_dir.mkdir(parents=True, exist_ok=True)
        self.path = run_dir / self.FILENAME
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None, timeout=30)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> Manifest:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------------------------------------ meta
    def get_meta(self, key: str) -> str | None:
        with self._lock:
            row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

    # ------------------------------------------------------------------------------------------------ items
    def put(self, record: Record) -> None:
        """Insert or replace one record (committed at once)."""
        row = (
            record.stage,
            record.key,
            record.status,
            record.fingerprint,
            record.seed,
            json.dumps(record.backend, sort_keys=True) if record.backend is not None else None,
            json.dumps(record.outputs, sort_keys=True),
            json.dumps(record.data, sort_keys=True),
            record.message,
            record.seconds,
            time.time(),
        )
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO items VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", row)

    def get(self, stage: str, key: str) -> Record | None:
        with self._lock:
            row = self._db.execute(
                "SELECT stage, key, status, fingerprint, seed, backend, outputs, data, message, seconds "
                "FROM items WHERE stage = ? AND key = ?",
                (stage, key),
            ).fetchone()
        return None if row is None else _record(row)

    def records(self, stage: str, status: str | None = None) -> list[Record]:
        """All records of a stage (optionally of one status), ordered by key."""
        query = (
            "SELECT stage, key, status, fingerprint, seed, backend, outputs, data, message, seconds "
            "FROM items WHERE stage = ?"
        )
        args: tuple[Any, ...] = (stage,)
        if status is not None:
            query += " AND status = ?"
            args += (status,)
        with self._lock:
            rows = self._db.execute(query + " ORDER BY key", args).fetchall()
        return [_record(r) for r in rows]

    def delete(self, stage: str, keys: list[str]) -> None:
        with self._lock:
            self._db.executemany("DELETE FROM items WHERE stage = ? AND key = ?", [(stage, k) for k in keys])

    def is_current(self, stage: str, key: str, fp: str) -> Record | None:
        """The record if it was made with fingerprint ``fp`` and its files are intact, else None."""
        record = self.get(stage, key)
        if record is None or record.fingerprint != fp:
            return None
        for rel, digest in record.outputs.items():
            path = self.run_dir / rel
            if not path.is_file() or file_sha256(path) != digest:
                return None
        return record

    def counts(self, stage: str) -> dict[str, int]:
        with self._lock:
            rows = self._db.execute(
                "SELECT status, COUNT(*) FROM items WHERE stage = ? GROUP BY status", (stage,)
            ).fetchall()
        return {str(s): int(n) for s, n in rows}

    # ------------------------------------------------------------------------------------------------ cache
    def cache_get(self, key: str) -> str | None:
        with self._lock:
            row = self._db.execute("SELECT value FROM cache WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def cache_put(self, key: str, value: str) -> None:
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO cache (key, value, created) VALUES (?, ?, ?)", (key, value, time.time())
            )

    def response_cache(self) -> ManifestCache:
        return ManifestCache(self)

    def iter_cache(self) -> Iterator[tuple[str, str]]:
        with self._lock:
            rows = self._db.execute("SELECT key, value FROM cache ORDER BY key").fetchall()
        yield from rows


class ManifestCache:
    """The :class:`~gen4gen.backends.base.ResponseCache` view of a manifest."""

    def __init__(self, manifest: Manifest) -> None:
        self._manifest = manifest

    def get(self, key: str) -> str | None:
        return self._manifest.cache_get(key)

    def put(self, key: str, value: str) -> None:
        self._manifest.cache_put(key, value)


def _record(row: tuple[Any, ...]) -> Record:
    return Record(
        stage=row[0],
        key=row[1],
        status=row[2],
        fingerprint=row[3],
        seed=row[4],
        backend=json.loads(row[5]) if row[5] else None,
        outputs=json.loads(row[6]),
        data=json.loads(row[7]),
        message=row[8],
        seconds=row[9],
    )
