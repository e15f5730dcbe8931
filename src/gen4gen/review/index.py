"""The review page's list of samples: one small row per sample, filtered, sorted and paged in memory.

Rows are built from the :class:`~gen4gen.sample.Sample` view once, then kept current cheaply: decisions and
verdicts appended since (by this page or by another process, such as a curate run) are read by their ids and
applied to their rows; a change of the stage records (a rerun of compose, repaint or caption) rebuilds the rows.
Several thousand samples page, filter and sort in milliseconds.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from gen4gen.manifest import Manifest
from gen4gen.sample import Sample, iter_samples
from gen4gen.stages.common import SAMPLES_META

VERDICTS = ("accept", "reject", "flag")  # a person's verdict on a sample
STATUSES = ("reject", "flag", "accept", "pass", "none")  # a row's effective status, the strongest first
SAMPLE_PREFIX = "sample:"
SORTS = ("key", "rating", "reviewed")  # besides "score:<check>"


@dataclass
class Row:
    """What the grid shows of one sample, and what its filters and sorts read."""

    key: str
    id: str
    composition: str
    photos: list[str]  # segment keys of the cut-outs it used
    generated_caption: str
    verdicts: dict[str, dict[str, Any]] = field(default_factory=dict)  # check -> status, score, reason
    decisions: dict[str, Any] = field(default_factory=dict)  # kind -> value, the latest of each
    decided: float = 0.0  # time of its latest decision

    @property
    def rating(self) -> int | None:
        value = self.decisions.get("rating")
        return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else None

    @property
    def verdict(self) -> str | None:
        value = self.decisions.get("verdict")
        return value if value in VERDICTS else None

    @property
    def caption(self) -> str:
        edited = self.decisions.get("caption")
        return str(edited) if edited else self.generated_caption

    @property
    def reviewed(self) -> bool:
        """Rated or given a verdict by a person."""
        return self.rating is not None or self.verdict is not None

    @property
    def status(self) -> str:
        """A person's verdict, else the strongest automatic one (as exports read them), else "none"."""
        if self.verdict is not None:
            return self.verdict
        automatic = {v["status"] for v in self.verdicts.values()}
        return next((s for s in ("reject", "flag", "pass") if s in automatic), "none")

    def score(self, check: str) -> float | None:
        value = self.verdicts.get(check, {}).get("score")
        return float(value) if value is not None else None

    def to_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "id": self.id,
            "composition": self.composition,
            "caption": self.caption,
            "edited": bool(self.decisions.get("caption")),
            "rating": self.rating,
            "verdict": self.verdict,
            "status": self.status,
            "reviewed": self.reviewed,
            "scores": {name: v.get("score") for name, v in sorted(self.verdicts.items())},
            "photos": self.photos,
        }


def row_of(sample: Sample, decided: float = 0.0) -> Row:
    return Row(
        key=sample.key,
        id=sample.id,
        composition=sample.composition,
        photos=sorted({o.photo for o in sample.objects}),
        generated_caption=sample.generated_caption,
        verdicts={
            name: {"status": v.status, "score": v.score, "reason": v.reason} for name, v in sample.verdicts.items()
        },
        decisions=dict(sample.decisions),
        decided=decided,
    )


@dataclass(frozen=True)
class Query:
    """Filters and sort order of the grid (each filter optional)."""

    composition: str | None = None
    status: str | None = None  # one of STATUSES
    rating: str | None = None  # "none", "N" (exactly), "N+" (at least)
    unreviewed: bool = False
    check: str | None = None  # with min_score / max_score: that check's score in range
    min_score: float | None = None
    max_score: float | None = None
    sort: str = "key"  # key, rating, reviewed, score:<check>
    descending: bool = False

    @classmethod
    def parse(cls, params: Mapping[str, str]) -> Query:
        """From URL parameters; a ValueError names the first bad one."""

        def number(name: str) -> float | None:
            text = params.get(name, "").strip()
            if not text:
                return None
            try:
                return float(text)
            except ValueError:
                raise ValueError(f"{name}: {text!r} is not a number") from None

        status = params.get("status") or None
        if status is not None and status not in STATUSES:
            raise ValueError(f"status: {status!r} is not one of {', '.join(STATUSES)}")
        rating = params.get("rating") or None
        if rating is not None and rating != "none" and rating.rstrip("+") not in {"1", "2", "3", "4", "5"}:
            raise ValueError(f"rating: {rating!r} is not none, 1..5 or N+")
        sort = params.get("sort") or "key"
        if sort not in SORTS and not (sort.startswith("score:") and len(sort) > len("score:")):
            raise ValueError(f"sort: {sort!r} is not one of {', '.join(SORTS)} or score:<check>")
        return cls(
            composition=params.get("composition") or None,
            status=status,
            rating=rating,
            unreviewed=params.get("unreviewed", "") in ("1", "true", "yes"),
            check=params.get("check") or None,
            min_score=number("min_score"),
            max_score=number("max_score"),
            sort=sort,
            descending=params.get("order", "asc") == "desc",
        )

    def matches(self, row: Row, unreviewed: bool | None = None) -> bool:
        if self.composition is not None and row.composition != self.composition:
            return False
        if self.status is not None and row.status != self.status:
            return False
        if self.rating is not None:
            rating = row.rating
            if self.rating == "none":
                if rating is not None:
                    return False
            elif self.rating.endswith("+"):
                if rating is None or rating < int(self.rating[:-1]):
                    return False
            elif rating != int(self.rating):
                return False
        if (self.unreviewed if unreviewed is None else unreviewed) and row.reviewed:
            return False
        if self.check is not None:
            score = row.score(self.check)
            if self.min_score is not None or self.max_score is not None:
                if score is None:
                    return False
                if self.min_score is not None and score < self.min_score:
                    return False
                if self.max_score is not None and score > self.max_score:
                    return False
            elif self.check not in row.verdicts:
                return False
        return True

    def value(self, row: Row) -> float | None:
        """What the grid is sorted by, for one row (None: the row has no such value)."""
        if self.sort == "rating":
            return row.rating
        if self.sort == "reviewed":
            return row.decided or None
        if self.sort.startswith("score:"):
            return row.score(self.sort[len("score:") :])
        return None

    def order(self, rows: list[Row]) -> list[Row]:
        """``rows`` sorted; rows without the sorted value come last either way; the key breaks ties."""
        if self.sort == "key":
            return sorted(rows, key=lambda row: row.key, reverse=self.descending)
        values = {row.key: self.value(row) for row in rows}
        present = sorted((r for r in rows if values[r.key] is not None), key=lambda r: r.key)
        present.sort(key=lambda r: values[r.key] or 0.0, reverse=self.descending)  # stable: ties in key order
        return present + sorted((r for r in rows if values[r.key] is None), key=lambda r: r.key)


class SampleIndex:
    """Every sample of a run folder as a :class:`Row`, kept current (thread-safe)."""

    def __init__(self, manifest: Manifest) -> None:
        self.manifest = manifest
        self._lock = threading.RLock()
        self._db = sqlite3.connect(f"file:{manifest.path}?mode=ro", uri=True, check_same_thread=False)
        self._rows: dict[str, Row] = {}
        self._order: list[str] = []  # sample keys in the order compose accepted them
        self.unfinished: list[str] = []  # one line per sample that cannot be reviewed yet
        self._stamp: tuple[Any, ...] | None = None
        self._decision_id = 0
        self._verdict_id = 0

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # -------------------------------------------------------------------------------------------- keeping up
    def _items_stamp(self) -> tuple[Any, ...]:
        row = self._db.execute(
            "SELECT COUNT(*), MAX(updated) FROM items WHERE stage IN ('compose', 'repaint', 'caption')"
        ).fetchone()
        samples = self._db.execute("SELECT value FROM meta WHERE key = ?", (SAMPLES_META,)).fetchone()
        return (*row, samples[0] if samples else None)

    def _max_id(self, table: str) -> int:
        return int(self._db.execute(f"SELECT COALESCE(MAX(id), 0) FROM {table}").fetchone()[0])

    def refresh(self, rebuild: bool = False) -> None:
        """Bring the rows up to date with the manifest (``rebuild``: from scratch)."""
        with self._lock:
            stamp = self._items_stamp()
            if rebuild or stamp != self._stamp:
                self._build(stamp)
                return
            self._apply_new_decisions()
            self._apply_new_verdicts()

    def _build(self, stamp: tuple[Any, ...]) -> None:
        decision_id, verdict_id = self._max_id("decisions"), self._max_id("verdicts")
        keys: list[str] = json.loads(self.manifest.get_meta(SAMPLES_META) or "[]")
        rows: dict[str, Row] = {}
        unfinished: list[str] = []
        for sample in iter_samples(self.manifest, keys):
            if isinstance(sample, Sample):
                rows[sample.key] = row_of(sample)
            else:
                unfinished.append(sample)
        times = self._db.execute(
            "SELECT target, MAX(created) FROM decisions WHERE target LIKE 'sample:%' GROUP BY target"
        ).fetchall()
        for target, created in times:
            row = rows.get(target[len(SAMPLE_PREFIX) :])
            if row is not None:
                row.decided = float(created)
        self._rows, self._order, self.unfinished = rows, [k for k in keys if k in rows], unfinished
        self._stamp, self._decision_id, self._verdict_id = stamp, decision_id, verdict_id

    def _apply_new_decisions(self) -> None:
        found = self._db.execute(
            "SELECT id, target, kind, value, created FROM decisions WHERE id > ? ORDER BY id", (self._decision_id,)
        ).fetchall()
        for number, target, kind, value, created in found:
            self._decision_id = max(self._decision_id, int(number))
            if not str(target).startswith(SAMPLE_PREFIX):
                continue
            row = self._rows.get(str(target)[len(SAMPLE_PREFIX) :])
            if row is not None:
                row.decisions[str(kind)] = json.loads(value)
                row.decided = max(row.decided, float(created))

    def _apply_new_verdicts(self) -> None:
        found = self._db.execute(
            "SELECT id, sample, name, status, score, reason FROM verdicts WHERE id > ? ORDER BY id",
            (self._verdict_id,),
        ).fetchall()
        for number, sample, name, status, score, reason in found:
            self._verdict_id = max(self._verdict_id, int(number))
            row = self._rows.get(str(sample))
            if row is not None:
                row.verdicts[str(name)] = {"status": status, "score": score, "reason": reason}

    # -------------------------------------------------------------------------------------------- reading
    def get(self, key: str) -> Row | None:
        with self._lock:
            self.refresh()
            return self._rows.get(key)

    def __len__(self) -> int:
        with self._lock:
            return len(self._rows)

    def summary(self) -> dict[str, Any]:
        """Counts for the page's header and the values its filters offer."""
        with self._lock:
            self.refresh()
            rows = list(self._rows.values())
            compositions = list(dict.fromkeys(r.composition for r in (self._rows[k] for k in self._order)))
            checks = sorted({name for r in rows for name in r.verdicts})
            return {
                "samples": len(rows),
                "reviewed": sum(r.reviewed for r in rows),
                "status": {s: sum(r.status == s for r in rows) for s in STATUSES},
                "compositions": compositions,
                "checks": checks,
                "unfinished": self.unfinished[:20],
                "unfinished_count": len(self.unfinished),
            }

    def select(self, query: Query, unreviewed: bool | None = None) -> list[Row]:
        with self._lock:
            self.refresh()
            matching = [self._rows[k] for k in self._order if query.matches(self._rows[k], unreviewed)]
            return query.order(matching)

    def page(self, query: Query, offset: int, limit: int) -> dict[str, Any]:
        rows = self.select(query)
        return {
            "total": len(rows),
            "offset": offset,
            "rows": [r.to_json() for r in rows[offset : offset + limit]],
        }

    def step(self, query: Query, key: str | None, direction: int, unreviewed: bool) -> str | None:
        """The sample after (``direction`` 1) or before (-1) ``key`` in the grid's order that matches ``query``
        (and is not reviewed yet, with ``unreviewed``; then the search wraps around). ``key`` need not match
        the query any more (it was just reviewed): its place is found among the rows the query would show
        without its own "not yet reviewed" filter."""
        around = self.select(query, unreviewed=False)
        keys = [r.key for r in around]
        start = keys.index(key) if key in keys else (-1 if direction > 0 else len(keys))
        count = len(around)
        for distance in range(1, count + 1):
            position = start + direction * distance
            if unreviewed:
                position %= count
            elif not 0 <= position < count:
                return None
            row = around[position]
            if row.key == key:
                continue
            if query.matches(row) and not (unreviewed and row.reviewed):
                return row.key
        return None
