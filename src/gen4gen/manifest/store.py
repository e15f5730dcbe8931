"""The run database: one SQLite file (WAL) in RUN_DIR recording every item every stage made.

A record is keyed by (stage, item key) and holds its status, fingerprint (a hash of everything that determines
the output: parameters, seed, backend identity, upstream hashes), outputs (relative path -> sha256, plus each
file's size and mtime when committed, so an unchanged file is trusted without re-hashing it) and data (the
stage's typed record, see :mod:`gen4gen.manifest.records`). Files are written atomically *before* their
record is committed, and outputs are a pure function of the fingerprint, so a run killed at any moment resumes
by redoing at most the items in flight, producing the same bytes. Only the driver process writes records.

Verdicts (automatic checks) and decisions (a person's rating, verdict override, caption edit, round choice,
hints) live in append-only tables: no rerun of any stage overwrites them, and the latest entry wins.

The schema carries a version (``PRAGMA user_version``); older run folders are migrated on open, a newer one is
refused with a clear message.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import stat as stat_module
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gen4gen.errors import ManifestError
from gen4gen.io.atomic import file_sha256

DONE, REJECTED, FAILED = "done", "rejected", "failed"

_V1 = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS items (
    stage TEXT NOT NULL,
    key TEXT NOT NULL,
    status TEXT NOT NULL,           -- done | rejected | failed
    fingerprint TEXT NOT NULL,
    seed INTEGER,
    backend TEXT,                   -- JSON identity of the backend that made it
    outputs TEXT NOT NULL,          -- JSON {relative path: sha256}
    data TEXT NOT NULL,             -- JSON, the stage's typed record
    message TEXT,
    seconds REAL,
    updated REAL NOT NULL,
    PRIMARY KEY (stage, key)
);
CREATE TABLE IF NOT EXISTS cache (key TEXT PRIMARY KEY, value TEXT NOT NULL, created REAL NOT NULL);
"""

_V2 = """
CREATE TABLE IF NOT EXISTS verdicts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    sample TEXT NOT NULL,           -- sample key (compose stage)
    name TEXT NOT NULL,             -- the check
    status TEXT NOT NULL,           -- pass | flag | reject
    score REAL,
    reason TEXT,
    fingerprint TEXT,               -- what was checked (a changed sample gets a new verdict)
    created REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS verdicts_by_sample ON verdicts (sample);
CREATE TABLE IF NOT EXISTS decisions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    target TEXT NOT NULL,           -- "sample:<key>" or "photo:<key>"
    kind TEXT NOT NULL,             -- rating | verdict | caption | round | hints
    value TEXT NOT NULL,            -- JSON
    created REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS decisions_by_target ON decisions (target);
"""

_V3 = """
ALTER TABLE items ADD COLUMN stats TEXT;  -- JSON {relative path: [size, mtime_ns]} when committed
"""

#: one script per schema version; version 0 is an empty file, version 1 is the unversioned schema of gen4gen 0.1
MIGRATIONS: tuple[str, ...] = (_V1, _V2, _V3)
SCHEMA_VERSION = len(MIGRATIONS)


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
    stats: dict[str, list[int]] = field(default_factory=dict)  # relative path -> [size, mtime_ns] at commit


@dataclass(frozen=True)
class Verdict:
    sample: str
    name: str
    status: str
    score: float | None = None
    reason: str | None = None
    fingerprint: str | None = None
    created: float = 0.0


@dataclass(frozen=True)
class Decision:
    target: str
    kind: str
    value: Any
    created: float = 0.0


class Manifest:
    """Thread-safe access to RUN_DIR/manifest.sqlite."""

    FILENAME = "manifest.sqlite"

    def __init__(self, run_dir: Path, verify: bool = False) -> None:
        self.run_dir = run_dir
        self.verify = verify  # re-hash every output instead of trusting an unchanged size and mtime
        run_dir.mkdir(parents=True, exist_ok=True)
        self.path = run_dir / self.FILENAME
        self._lock = threading.Lock()
        try:
            self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None, timeout=30)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._migrate()
        except sqlite3.DatabaseError as exc:
            raise ManifestError(
                f"{self.path}: not a usable gen4gen run database ({exc}); move it away to start the run afresh"
            ) from exc

    def _migrate(self) -> None:
        version = int(self._db.execute("PRAGMA user_version").fetchone()[0])
        if version == 0 and self._db.execute("SELECT 1 FROM sqlite_master WHERE name = 'items'").fetchone():
            version = 1  # made by gen4gen 0.1, before the schema had a version
        if version > SCHEMA_VERSION:
            raise ManifestError(
                f"{self.path}: made by a newer gen4gen (schema {version}, this one knows {SCHEMA_VERSION}); "
                "upgrade gen4gen to use this run folder"
            )
        for number in range(version, SCHEMA_VERSION):
            self._db.executescript(f"BEGIN; {MIGRATIONS[number]}; PRAGMA user_version = {number + 1}; COMMIT;")

    @property
    def schema_version(self) -> int:
        with self._lock:
            return int(self._db.execute("PRAGMA user_version").fetchone()[0])

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
            json.dumps({rel: _stat(self.run_dir / rel) for rel in record.outputs}, sort_keys=True),
        )
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO items (stage, key, status, fingerprint, seed, backend, outputs, data, "
                "message, seconds, updated, stats) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                row,
            )

    def get(self, stage: str, key: str) -> Record | None:
        with self._lock:
            row = self._db.execute(
                "SELECT stage, key, status, fingerprint, seed, backend, outputs, data, message, seconds, stats "
                "FROM items WHERE stage = ? AND key = ?",
                (stage, key),
            ).fetchone()
        return None if row is None else _record(row)

    def records(self, stage: str, status: str | None = None) -> list[Record]:
        """All records of a stage (optionally of one status), ordered by key."""
        query = (
            "SELECT stage, key, status, fingerprint, seed, backend, outputs, data, message, seconds, stats "
            "FROM items WHERE stage = ?"
        )
        args: tuple[Any, ...] = (stage,)
        if status is not None:
            query += " AND status = ?"
            args += (status,)
        with self._lock:
            rows = self._db.execute(query + " ORDER BY key", args).fetchall()
        return [_record(r) for r in rows]

    def is_current(self, stage: str, key: str, fp: str) -> Record | None:
        """The record if it was made with fingerprint ``fp`` and its files are intact, else None."""
        record = self.get(stage, key)
        if record is None or record.fingerprint != fp:
            return None
        return record if self.intact(record) else None

    def intact(self, record: Record) -> bool:
        """Whether every output of ``record`` is there with its recorded content (size and mtime as when it was
        committed, else its sha256; always the sha256 when verifying)."""
        for rel, digest in record.outputs.items():
            path = self.run_dir / rel
            stat = _stat(path)
            if stat is None:
                return False
            if (self.verify or record.stats.get(rel) != stat) and file_sha256(path) != digest:
                return False
        return True

    def counts(self, stage: str) -> dict[str, int]:
        with self._lock:
            rows = self._db.execute(
                "SELECT status, COUNT(*) FROM items WHERE stage = ? GROUP BY status", (stage,)
            ).fetchall()
        return {str(s): int(n) for s, n in rows}

    # ------------------------------------------------------------------------------------- verdicts, decisions
    def add_verdict(self, verdict: Verdict) -> None:
        """Append an automatic check's verdict on a sample (never overwritten; the latest per check wins)."""
        with self._lock:
            self._db.execute(
                "INSERT INTO verdicts (sample, name, status, score, reason, fingerprint, created) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    verdict.sample,
                    verdict.name,
                    verdict.status,
                    verdict.score,
                    verdict.reason,
                    verdict.fingerprint,
                    verdict.created or time.time(),
                ),
            )

    def verdicts(self, sample: str) -> dict[str, Verdict]:
        """The latest verdict of each check on ``sample``."""
        with self._lock:
            rows = self._db.execute(
                "SELECT sample, name, status, score, reason, fingerprint, created FROM verdicts "
                "WHERE sample = ? ORDER BY id",
                (sample,),
            ).fetchall()
        return {row[1]: Verdict(*row) for row in rows}

    def add_decision(self, target: str, kind: str, value: Any) -> Decision:
        """Append a person's decision about ``target`` ("sample:<key>", "photo:<key>"); the latest one wins."""
        decision = Decision(target, kind, value, time.time())
        with self._lock:
            self._db.execute(
                "INSERT INTO decisions (target, kind, value, created) VALUES (?, ?, ?, ?)",
                (target, kind, json.dumps(value, sort_keys=True), decision.created),
            )
        return decision

    def decisions(self, target: str) -> dict[str, Decision]:
        """The latest decision of each kind about ``target``."""
        with self._lock:
            rows = self._db.execute(
                "SELECT target, kind, value, created FROM decisions WHERE target = ? ORDER BY id", (target,)
            ).fetchall()
        return {row[1]: Decision(row[0], row[1], json.loads(row[2]), row[3]) for row in rows}


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
        stats=json.loads(row[10]) if row[10] else {},
    )


def _stat(path: Path) -> list[int] | None:
    """[size, mtime_ns] of a regular file, or None when it is missing (or not a file)."""
    try:
        info = path.stat()
    except OSError:
        return None
    return [info.st_size, info.st_mtime_ns] if stat_module.S_ISREG(info.st_mode) else None
