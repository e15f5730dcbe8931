"""The run database (``RUN_DIR/manifest.sqlite``): item records, typed stage data, append-only verdicts and
human decisions, and the response cache of remote backends."""

from gen4gen.manifest.cache import SqliteResponseCache
from gen4gen.manifest.store import (
    DONE,
    FAILED,
    REJECTED,
    SCHEMA_VERSION,
    Decision,
    Manifest,
    Record,
    Verdict,
    fingerprint,
)

__all__ = [
    "DONE",
    "FAILED",
    "REJECTED",
    "SCHEMA_VERSION",
    "Decision",
    "Manifest",
    "Record",
    "SqliteResponseCache",
    "Verdict",
    "fingerprint",
]
