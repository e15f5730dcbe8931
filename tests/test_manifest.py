"""The run database: records, fingerprints, integrity checks, cache."""

from __future__ import annotations

from pathlib import Path

from gen4gen.io.atomic import atomic_write_bytes
from gen4gen.manifest import DONE, Manifest, Record, SqliteResponseCache, fingerprint
from gen4gen.seeds import derive_seed
from gen4gen.stages.compose import sample_id


def test_fingerprint_is_order_independent_for_dicts() -> None:
    assert fingerprint({"a": 1, "b": 2}) == fingerprint({"b": 2, "a": 1})
    assert fingerprint({"a": 1}) != fingerprint({"a": 2})


def test_seeds_depend_on_run_stage_item_only() -> None:
    assert derive_seed(1, "compose", "x/1") == derive_seed(1, "compose", "x/1")
    assert (
        len({derive_seed(1, "compose", "x/1"), derive_seed(2, "compose", "x/1"), derive_seed(1, "repaint", "x/1")})
        == 3
    )


def test_is_current_checks_fingerprint_and_files(tmp_path: Path) -> None:
    with Manifest(tmp_path) as manifest:
        digest = atomic_write_bytes(tmp_path / "images" / "a.png", b"payload")
        manifest.put(Record("repaint", "k", DONE, "fp1", outputs={"images/a.png": digest}, data={"x": 1}))
        assert manifest.is_current("repaint", "k", "fp1") is not None
        assert manifest.is_current("repaint", "k", "other") is None
        (tmp_path / "images" / "a.png").write_bytes(b"tampered")
        assert manifest.is_current("repaint", "k", "fp1") is None
        (tmp_path / "images" / "a.png").unlink()
        assert manifest.is_current("repaint", "k", "fp1") is None
    with Manifest(tmp_path) as manifest:  # reopened: the record survived
        record = manifest.get("repaint", "k")
        assert record is not None and record.data == {"x": 1}
        assert manifest.counts("repaint") == {DONE: 1}


def test_cache_roundtrip(tmp_path: Path) -> None:
    with Manifest(tmp_path) as manifest:
        cache = SqliteResponseCache(manifest.path)
        assert cache.get("q") is None
        cache.put("q", "answer")
        assert cache.get("q") == "answer"
        cache.close()
    other = SqliteResponseCache(tmp_path / "manifest.sqlite")  # another process's connection sees it
    assert other.get("q") == "answer"
    other.close()


def test_sample_ids_are_safe_and_distinct() -> None:
    ids = {sample_id(key) for key in ("cat dog/00001", "cat_dog/00001", "cat+dog/00001")}
    assert len(ids) == 3
    assert sample_id("cat+dog/00001") == "cat+dog_00001"  # readable when nothing needed changing
    assert all("/" not in i and " " not in i for i in ids)
