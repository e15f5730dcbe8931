"""`gen4gen review`: its JSON API on a real server (127.0.0.1, port 0), decisions that outlive restarts and
reruns and reach the exports, hints that redo exactly one photo and what used it, the security rules, the hint-
seeded segmenter on a real photo, and the page itself in headless Chromium driven over the DevTools protocol."""

from __future__ import annotations

import hashlib
import http.client
import io
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import numpy as np
import pytest
from conftest import FAST, write_concepts
from PIL import Image
from skimage import data as skimage_data

from gen4gen.backends.segment.hints import Hints, Stroke, segment_with_hints
from gen4gen.cli import main
from gen4gen.manifest import Manifest, Record, Verdict
from gen4gen.manifest.records import CaptionData, ComposeData, ObjectData, RepaintData, SegmentData, read
from gen4gen.review.guidance import SIDECAR_SUFFIX, photo_target, read_sidecar
from gen4gen.review.index import Query, SampleIndex
from gen4gen.review.server import MAX_BODY, ReviewServer, make_server
from gen4gen.sample import sample_target
from gen4gen.stages.compose import sample_id

pytestmark = pytest.mark.slow

CAT = "pets/cat/photo_0.jpg"  # one of the cat's two photos: some pets samples use it, some the other one
DOG = "pets/dog/photo_0.jpg"  # the dog's only photo: every pets sample uses it
CUP = "home/cup/photo_0.jpg"


def run_cli(*args: str | Path) -> int:
    return main(["-q", *map(str, args)])


def fast() -> list[str]:
    return [item for key in FAST for item in ("--set", key)]


def rerun(src: Path, out: Path) -> None:
    assert run_cli("run", src, "--out", out, "-n", "4", *fast()) == 0


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def metadata(run_dir: Path) -> dict[str, dict[str, Any]]:
    lines = (run_dir / "metadata.jsonl").read_text().splitlines()
    return {row["sample_id"]: row for row in map(json.loads, lines)}


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(SRC, RUN_DIR): two compositions, `pets` (a cat with two photos, a dog) and `home` (a cup, a teapot),
    four samples each."""
    root = tmp_path_factory.mktemp("review")
    src = root / "src"
    write_concepts(src / "pets", {"cat": 2, "dog": 1})
    write_concepts(src / "home", {"cup": 1, "teapot": 1})
    out = root / "run"
    rerun(src, out)
    return src, out


@pytest.fixture
def run(made: tuple[Path, Path], tmp_path: Path) -> tuple[Path, Path]:
    """A private copy of the module's SRC and run folder (the manifest pointed at the copied SRC)."""
    src, out = tmp_path / "src", tmp_path / "run"
    shutil.copytree(made[0], src)
    shutil.copytree(made[1], out)
    with Manifest(out) as manifest:
        manifest.set_meta("src", str(src.resolve()))
    return src, out


# ----------------------------------------------------------------------------------------------- client
class Client:
    """Plain HTTP/1.1 requests to a review server, with full control of the headers."""

    def __init__(self, server: ReviewServer) -> None:
        self.port = server.port
        self.server = server

    def request(
        self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
    ) -> tuple[int, dict[str, str], bytes]:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        sent = {"Host": f"127.0.0.1:{self.port}", **(headers or {})}
        if body is not None and not isinstance(body, bytes):
            body = json.dumps(body).encode()
            sent.setdefault("Content-Type", "application/json")
        try:
            connection.request(method, path, body=body, headers=sent)
            reply = connection.getresponse()
            return reply.status, {k.lower(): v for k, v in reply.getheaders()}, reply.read()
        finally:
            connection.close()

    def get(self, path: str, **params: Any) -> Any:
        status, _, body = self.request("GET", f"{path}?{urlencode(params)}" if params else path)
        assert status == 200, body
        return json.loads(body)

    def decide(self, target: str, kind: str, value: Any) -> Any:
        status, _, body = self.request("POST", "/api/decide", {"target": target, "kind": kind, "value": value})
        assert status == 200, body
        return json.loads(body)

    def status(self, method: str, path: str, body: Any = None, **headers: str) -> int:
        return self.request(method, path, body, {k.replace("_", "-"): v for k, v in headers.items()})[0]


@contextmanager
def serving(run_dir: Path, host: str = "127.0.0.1", token: str | None = None) -> Iterator[Client]:
    server = make_server(run_dir, host, 0, token)
    server.start()
    try:
        yield Client(server)
    finally:
        server.stop()


def sample_keys(client: Client, **params: Any) -> list[str]:
    return [row["key"] for row in client.get("/api/samples", limit=500, **params)["rows"]]


def records(run_dir: Path, stage: str) -> dict[str, Record]:
    with Manifest(run_dir) as manifest:
        return {r.key: r for r in manifest.records(stage)}


def users(run_dir: Path, photo: str) -> set[str]:
    """Keys of the samples whose layout uses the cut-out of ``photo``."""
    return {
        key
        for key, record in records(run_dir, "compose").items()
        if record.status == "done" and any(o.photo == photo for o in read(ComposeData, record).objects)
    }


# ------------------------------------------------------------------------------------------------ decisions
def test_decisions_are_recorded_at_once_and_the_latest_wins(run: tuple[Path, Path]) -> None:
    _, out = run
    with serving(out) as client:
        summary = client.get("/api/summary")
        assert summary["samples"] == 8 and set(summary["compositions"]) == {"pets", "home"}
        first, second, third, *_ = keys = sample_keys(client)
        assert len(keys) == 8
        client.decide(sample_target(first), "rating", 3)
        shown = client.decide(sample_target(first), "rating", 5)["sample"]
        assert shown["rating"] == 5 and shown["reviewed"]
        client.decide(sample_target(second), "verdict", "reject")
        edited = client.decide(sample_target(third), "caption", "  a cat and a dog,\n checked by hand ")["sample"]
        assert edited["caption"] == "a cat and a dog, checked by hand" != edited["generated_caption"]
        with Manifest(out) as manifest:  # in the manifest at once, read by another connection
            assert manifest.decisions(sample_target(first))["rating"].value == 5
            assert manifest.decisions(sample_target(second))["verdict"].value == "reject"
            assert manifest.decisions(sample_target(third))["caption"].created > 0
        with sqlite3.connect(out / "manifest.sqlite") as db:  # append-only: both ratings are kept
            rows = db.execute(
                "SELECT value FROM decisions WHERE target = ? AND kind = 'rating' ORDER BY id",
                (sample_target(first),),
            ).fetchall()
        assert [json.loads(v) for (v,) in rows] == [3, 5]

        assert sample_keys(client, rating="5") == [first]
        assert sample_keys(client, rating="4+") == [first]
        assert set(sample_keys(client, rating="none")) == set(keys) - {first}
        assert second in sample_keys(client, status="reject")
        assert set(sample_keys(client, unreviewed="1")) == set(keys) - {first, second}
        assert sample_keys(client, composition="home") == [k for k in keys if k.startswith("home/")]
        assert sample_keys(client, sort="rating", order="desc")[0] == first
        checks = summary["checks"]
        if checks:  # automatic verdicts exist (a curate stage ran): sort and filter by a check's score
            by_score = client.get("/api/samples", sort=f"score:{checks[0]}", order="desc", limit=500)["rows"]
            scores = [r["scores"].get(checks[0]) for r in by_score]
            present = [s for s in scores if s is not None]
            assert present == sorted(present, reverse=True)
        assert client.get("/api/step", key=first, next_unreviewed="1")["key"] == third
        assert client.get("/api/step", key=third, direction="-1")["key"] == second
        summary = client.get("/api/summary")
        assert summary["reviewed"] == 2 and summary["status"]["reject"] >= 1
        cleared = client.decide(sample_target(third), "caption", None)["sample"]  # back to the generated one
        assert cleared["caption"] == cleared["generated_caption"] and not cleared["edited"]


def test_decisions_outlive_a_restart_and_reruns_and_the_exports_honour_them(run: tuple[Path, Path]) -> None:
    src, out = run
    with serving(out) as client:
        rejected, captioned, rescued, *_ = sample_keys(client)
        client.decide(sample_target(rejected), "verdict", "reject")
        client.decide(sample_target(captioned), "caption", "my own words about a cat and a dog")
        client.decide(sample_target(captioned), "verdict", "accept")
        client.decide(sample_target(rescued), "rating", 4)
        client.decide(sample_target(rescued), "verdict", "accept")
    rerun(src, out)  # every stage again
    with Manifest(out) as manifest:  # a re-curate: a check rejects the sample a person accepted
        manifest.add_verdict(Verdict(rescued, "identity", "reject", 0.1, "concept changed"))
        manifest.add_verdict(Verdict(captioned, "identity", "reject", 0.1, "concept changed"))
    with serving(out) as client:  # a restart
        assert client.get("/api/sample", key=rejected)["verdict"] == "reject"
        again = client.get("/api/sample", key=rescued)
        assert again["rating"] == 4 and again["verdict"] == "accept" and again["status"] == "accept"
        assert any(v["name"] == "identity" and v["status"] == "reject" for v in again["verdicts"])
        assert client.get("/api/sample", key=captioned)["caption"] == "my own words about a cat and a dog"
        ids = {key: client.get("/api/sample", key=key)["id"] for key in (rejected, captioned, rescued)}
    assert run_cli("export", out) == 0
    exported = metadata(out)
    assert ids[rejected] not in exported
    assert exported[ids[captioned]]["text"] == "my own words about a cat and a dog"
    assert ids[rescued] in exported  # a person's accept wins over the check


# --------------------------------------------------------------------------------------------- cut-outs
def test_a_round_choice_and_hints_redo_exactly_that_photo_and_the_samples_that_used_it(
    run: tuple[Path, Path],
) -> None:
    src, out = run
    segment_before = {k: r.fingerprint for k, r in records(out, "segment").items()}
    images_before = {k: r.outputs for k, r in records(out, "repaint").items()}
    captions_before = {k: r.fingerprint for k, r in records(out, "caption").items()}
    used, home = users(out, CAT), {k for k in images_before if k.startswith("home/")}
    assert used and home
    with serving(out) as client:
        photo = client.get("/api/photo", key=CAT)
        assert set(photo["used_by"]) == used
        assert len(photo["rounds"]) == 3
        other = 1 if photo["chosen_round"] != 1 else 2
        picked = client.decide(photo_target(CAT), "round", other)
        assert picked["photo"]["chosen_round"] == other and picked["run"]["made"] == 1
        record = records(out, "segment")[CAT]
        data = read(SegmentData, record)
        rounds = sorted(p for p in record.outputs if "round" in Path(p).name)
        assert sha(out / data.mask) == sha(out / rounds[other - 1])  # the chosen mask is that round's
        changed = {k for k, r in records(out, "segment").items() if r.fingerprint != segment_before[k]}
        assert changed == {CAT}

        w, h = data.size
        hinted = client.decide(photo_target(CAT), "hints", {"box": [w // 5, h // 6, w * 4 // 5, h * 5 // 6]})
        assert hinted["photo"]["method"] == "hints" and hinted["photo"]["hints_source"] == "review"
        assert len(hinted["photo"]["rounds"]) == 1 and hinted["run"]["seconds"] < 10
        changed = {k for k, r in records(out, "segment").items() if r.fingerprint != segment_before[k]}
        assert changed == {CAT}
        assert client.get("/api/photo", key=DOG)["hints"] is None
    rerun(src, out)
    repaint_after = records(out, "repaint")
    redone = {k for k, r in repaint_after.items() if r.outputs != images_before.get(k)}
    assert redone == used  # new images for exactly the samples that used the cut-out
    assert all(records(out, "caption")[k].fingerprint == captions_before[k] for k in home)
    assert {k for k, r in records(out, "segment").items() if r.fingerprint != segment_before[k]} == {CAT}

    with serving(out) as client:  # hints removed: the automatic rounds again, with the person's round choice
        back = client.decide(photo_target(CAT), "hints", None)["photo"]
        assert back["method"] == "grabcut" and back["chosen_round"] == other and back["hints"] is None


def test_sidecar_hints_are_read_fingerprinted_and_overridden_by_the_page(run: tuple[Path, Path]) -> None:
    src, out = run
    before = {k: r.fingerprint for k, r in records(out, "segment").items()}
    sidecar = (src / CUP).with_name(Path(CUP).name + SIDECAR_SUFFIX)
    sidecar.write_text(json.dumps({"version": 1, "box": [30, 20, 170, 140], "strokes": []}))
    assert read_sidecar(src / CUP)[0] == Hints(box=(30, 20, 170, 140))
    rerun(src, out)
    after = records(out, "segment")
    assert {k for k, r in after.items() if r.fingerprint != before[k]} == {CUP}
    assert read(SegmentData, after[CUP]).method == "hints"
    with serving(out) as client:
        photo = client.get("/api/photo", key=CUP)
        assert photo["hints_source"] == sidecar.name and photo["hints"]["box"] == [30, 20, 170, 140]
        mine = client.decide(photo_target(CUP), "hints", {"box": [40, 30, 160, 130]})["photo"]
        assert mine["hints_source"] == "review" and mine["hints"]["box"] == [40, 30, 160, 130]
        fallback = client.decide(photo_target(CUP), "hints", None)["photo"]  # cleared: the side-car again
        assert fallback["hints_source"] == sidecar.name

    broken = (src / CUP).with_name("photo_0" + SIDECAR_SUFFIX)
    sidecar.unlink()
    broken.write_text('{"box": [5, 5, 1, 1]}')
    hints, path, problem = read_sidecar(src / CUP)
    assert hints is None and path == broken and problem is not None and "hints ignored" in problem


def test_a_photo_that_failed_to_segment_is_listed_first_and_fixed_with_a_box(run: tuple[Path, Path]) -> None:
    src, out = run
    blank = src / "home" / "cup" / "blank.png"
    Image.new("RGB", (120, 90), (128, 128, 128)).save(blank)  # nothing to find: segmentation fails
    rerun(src, out)
    key = "home/cup/blank.png"
    with serving(out) as client:
        photos = client.get("/api/photos")["photos"]
        assert photos[0]["key"] == key and photos[0]["status"] == "failed" and "uniform" in photos[0]["message"]
        assert {p["key"] for p in photos} >= {CAT, DOG, CUP} and all(p["status"] == "done" for p in photos[1:])
        failed = client.get("/api/photo", key=key)
        assert failed["original"] == [120, 90] and "rounds" not in failed
        assert (
            client.status("POST", "/api/decide", {"target": photo_target(key), "kind": "hints", "value": {}})
            == 400
        )
        fixed = client.decide(photo_target(key), "hints", {"box": [30, 20, 90, 70]})
        assert fixed["run"]["made"] == 1 and fixed["photo"]["status"] == "done"
        assert fixed["photo"]["method"] == "hints" and fixed["photo"]["bbox"][0] >= 30
        assert all(p["status"] == "done" for p in client.get("/api/photos")["photos"])


def test_hints_fix_a_real_photo_in_seconds(tmp_path: Path) -> None:
    photo = skimage_data.chelsea()  # a tabby's head filling most of the frame, a blurred room on the right
    box = Hints(box=(0, 0, 395, 300))
    started = time.perf_counter()
    mask = segment_with_hints(photo, box)
    seconds = time.perf_counter() - started
    hard = mask > 0.5
    assert mask.shape == photo.shape[:2] and mask.dtype == np.float32
    assert not hard[:, 396:].any() and 0.6 < hard.mean() < 0.85
    assert seconds < 5, seconds
    stroked = Hints(
        box=(0, 0, 395, 300),
        strokes=[Stroke(label="bg", width=14, points=[(380, 60), (370, 150), (360, 250)])],
    )
    fixed = segment_with_hints(photo, stroked) > 0.5
    assert not fixed[150, 370] and fixed[150, 200]
    assert np.array_equal(segment_with_hints(photo, box), mask)  # deterministic

    src, out = tmp_path / "src", tmp_path / "run"
    (src / "tabby").mkdir(parents=True)
    Image.fromarray(photo).save(src / "tabby" / "chelsea.png")
    assert run_cli("segment", src, "--out", out) == 0
    with serving(out) as client:  # the whole round trip: decision, segment stage, record, reply
        started = time.perf_counter()
        reply = client.decide(photo_target("tabby/chelsea.png"), "hints", {"box": [0, 0, 395, 300]})
        elapsed = time.perf_counter() - started
    assert reply["photo"]["method"] == "hints" and reply["run"]["made"] == 1
    assert elapsed < 8, elapsed
    print(f"\nhints on chelsea (451x300): segmenter {seconds:.2f} s, page round trip {elapsed:.2f} s")


# ---------------------------------------------------------------------------------------------- security
def test_requests_cannot_name_files_leave_the_run_folder_or_come_from_elsewhere(
    run: tuple[Path, Path], tmp_path: Path
) -> None:
    src, out = run
    source_before = {p: sha(p) for p in src.rglob("*") if p.is_file()}
    with serving(out) as client:
        key = sample_keys(client)[0]
        port = client.port
        assert client.status("GET", "/api/sample/file?" + urlencode({"key": "../../../etc/passwd"})) == 404
        assert client.status("GET", "/api/sample/file?path=/etc/passwd") == 400
        assert client.status("GET", "/api/sample/file?" + urlencode({"key": key, "file": "/etc/passwd"})) == 400
        assert client.status("GET", "/static/../manifest.sqlite") == 404
        assert client.status("GET", "/static/%2e%2e/manifest.sqlite") == 404
        assert client.status("GET", "/api/photo?" + urlencode({"key": "../../etc/passwd"})) == 404
        assert client.status("GET", "/api/photo?" + urlencode({"key": "/etc/passwd"})) == 404
        assert (
            client.status("POST", "/api/decide", {"target": "photo:../x", "kind": "hints", "value": None}) == 404
        )
        assert (
            client.status("POST", "/api/decide", {"target": "/etc/passwd", "kind": "caption", "value": "x"}) == 400
        )

        sample_image = next((out / "images").glob("*.png"))
        outside = tmp_path / "outside.png"
        shutil.copy2(sample_image, outside)  # same bytes, same mtime: the record still matches
        sample_image.unlink()
        sample_image.symlink_to(outside)
        owner = next(k for k in sample_keys(client) if client.get("/api/sample", key=k)["id"] == sample_image.stem)
        assert client.status("GET", "/api/sample/file?" + urlencode({"key": owner, "kind": "image"})) == 403

        assert client.status("GET", "/api/summary", Host="evil.example") == 403
        assert client.status("GET", "/api/summary", Host=f"evil.example:{port}") == 403
        assert client.status("GET", "/api/summary", Host=f"127.0.0.1:{port + 1}") == 403
        assert client.status("GET", "/api/summary", Host=f"localhost:{port}") == 200

        decision = {"target": sample_target(key), "kind": "rating", "value": 4}
        assert (
            client.status("POST", "/api/decide", json.dumps(decision).encode(), Content_Type="text/plain") == 415
        )
        assert client.status("POST", "/api/decide", decision, Origin="http://evil.example") == 403
        assert client.status("POST", "/api/decide", decision, Sec_Fetch_Site="cross-site") == 403
        huge = json.dumps({**decision, "value": "x" * MAX_BODY}).encode()
        assert client.status("POST", "/api/decide", huge, Content_Type="application/json") == 413
        assert client.status("POST", "/api/decide", {**decision, "value": 6}) == 400
        assert client.status("POST", "/api/decide", {**decision, "kind": "verdict", "value": "maybe"}) == 400
        assert client.status("POST", "/api/decide", {**decision, "kind": "delete"}) == 400
        bad_box = {"target": photo_target(DOG), "kind": "hints", "value": {"box": [50, 50, 10, 10]}}
        assert client.status("POST", "/api/decide", bad_box) == 400
        assert client.status("PUT", "/api/decide", decision) == 405
        with Manifest(out) as manifest:
            assert manifest.decisions(sample_target(key)) == {}  # nothing refused was written
            assert manifest.decisions(photo_target(DOG)) == {}
        assert client.status("POST", "/api/decide", decision, Origin=f"http://127.0.0.1:{port}") == 200
    assert {p: sha(p) for p in src.rglob("*") if p.is_file()} == source_before  # SRC is never written

    with serving(out, host="0.0.0.0") as client:  # any other address: the token is required
        token = client.server.token
        assert token and token in client.server.url
        assert client.status("GET", "/api/summary") == 401
        assert client.status("GET", "/api/summary", X_Gen4gen_Token="wrong") == 401
        assert client.status("GET", "/api/summary", X_Gen4gen_Token=token) == 200
        assert client.status("POST", "/api/decide", decision) == 401
        status, headers, _ = client.request("GET", "/?" + urlencode({"token": token}))
        assert status == 303 and headers["location"] == "/" and "HttpOnly" in headers["set-cookie"]
        cookie = headers["set-cookie"].split(";")[0]
        assert client.status("GET", "/api/summary", Cookie=cookie) == 200
        assert client.status("GET", "/?" + urlencode({"token": "wrong"})) == 401


def test_the_command_serves_until_ctrl_c_and_refuses_bad_arguments(run: tuple[Path, Path], tmp_path: Path) -> None:
    _, out = run
    assert run_cli("review", out, "--port", "70000") == 2
    assert run_cli("review", tmp_path / "nothing-here") == 1
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        [sys.executable, "-m", "gen4gen", "review", str(out)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline().decode()
        assert line.startswith("gen4gen review: http://127.0.0.1:"), line
        port = int(line.split("127.0.0.1:")[1].split("/")[0])
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        connection.request("GET", "/")
        page = connection.getresponse()
        assert page.status == 200 and b"gen4gen review" in page.read()
        assert "script-src 'self'" in (page.getheader("Content-Security-Policy") or "")
        connection.close()
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_thumbnails_are_the_previews_and_pictures_are_cached_in_the_run_folder(run: tuple[Path, Path]) -> None:
    _, out = run
    with serving(out) as client:
        key = sample_keys(client)[0]
        path = "/api/sample/file?" + urlencode({"key": key, "kind": "thumb"})
        status, headers, body = client.request("GET", path)
        assert status == 200 and headers["content-type"] == "image/jpeg"
        with Image.open(io.BytesIO(body)) as thumb:
            assert max(thumb.size) == 256
        assert body == (out / "previews" / f"{sample_id(key)}.jpg").read_bytes()  # repaint's, not decoded again
        assert not (out / ".review" / "thumbs").exists()
        assert client.request("GET", path, headers={"If-None-Match": headers["etag"]})[0] == 304
        overlay = client.request("GET", "/api/sample/file?" + urlencode({"key": key, "kind": "overlay"}))
        assert overlay[0] == 200 and overlay[1]["content-type"] == "image/png"
        tinted = np.zeros((256, 256), bool)  # where an instance mask, expanded from its crop, is above half
        for obj in metadata(out)[sample_id(key)]["objects"]:
            x0, y0, x1, y1 = obj["mask_box"]
            tinted[y0:y1, x0:x1] |= np.asarray(Image.open(out / obj["mask"])) > 127
        with Image.open(io.BytesIO(overlay[2])) as picture:
            assert picture.size == (256, 256) and np.array_equal(np.asarray(picture)[..., 3] > 0, tinted)
        for kind, extra in (("photo", {}), ("tint", {}), ("round", {"round": 2})):
            reply = client.request("GET", "/api/photo/file?" + urlencode({"key": DOG, "kind": kind, **extra}))
            assert reply[0] == 200, (kind, reply[2])
        assert (
            client.status("GET", "/api/photo/file?" + urlencode({"key": DOG, "kind": "round", "round": 9})) == 404
        )


# ------------------------------------------------------------------------------------------------- scale
def _fake_run(run_dir: Path, count: int) -> list[str]:
    """A manifest with ``count`` finished samples (records only) and a verdict on each."""
    keys = [f"big/{i:05d}" for i in range(count)]
    with Manifest(run_dir) as manifest:
        for i, key in enumerate(keys):
            objects = [
                ObjectData(
                    name="cat",
                    folder="cat",
                    photo="cat/a.jpg",
                    bbox=(1, 1, 9, 9),
                    planned_bbox=(1, 1, 9, 9),
                    depth=0,
                    augment={},
                    visible=1.0,
                    mask=f"masks/{i}/0_cat.png",
                )
            ]
            layout = ComposeData(
                composition="big",
                sample_id=f"big_{i:05d}",
                canvas=(16, 16),
                objects=objects,
                scene=None,
                composite=f"composites/{i}.png",
                union_mask=f"masks/{i}_union.png",
            )
            image = RepaintData(image=f"images/{i}.png", scene="in a garden")
            words = CaptionData(text=f"a cat number {i}", raw="a cat")
            for stage, model in (("compose", layout), ("repaint", image), ("caption", words)):
                manifest.put(Record(stage, key, "done", "fp", data=model.model_dump(mode="json")))
            manifest.add_verdict(Verdict(key, "clip", "pass" if i % 3 else "flag", score=(i * 7919 % 1000) / 1000))
        manifest.set_meta("samples", json.dumps(keys))
    return keys


def test_the_grid_stays_fast_with_thousands_of_samples(tmp_path: Path) -> None:
    keys = _fake_run(tmp_path, 3000)
    with Manifest(tmp_path) as manifest:
        index = SampleIndex(manifest)
        started = time.perf_counter()
        index.refresh(rebuild=True)
        built = time.perf_counter() - started
        assert len(index) == 3000
        started = time.perf_counter()
        for _ in range(10):
            page = index.page(Query.parse({"sort": "score:clip", "order": "desc", "status": "pass"}), 400, 200)
        paged = (time.perf_counter() - started) / 10
        scores = [row["scores"]["clip"] for row in page["rows"]]
        assert page["total"] == 2000 and len(scores) == 200 and scores == sorted(scores, reverse=True)
        with Manifest(tmp_path) as other:  # another process decides: picked up without a rebuild
            other.add_decision(sample_target(keys[7]), "rating", 2)
        started = time.perf_counter()
        row = index.get(keys[7])
        assert row is not None and row.rating == 2
        caught_up = time.perf_counter() - started
        index.close()
    assert built < 10 and paged < 0.25 and caught_up < 0.25, (built, paged, caught_up)
    with serving(tmp_path) as client:
        started = time.perf_counter()
        rows = client.get("/api/samples", offset=2700, limit=200, rating="none")["rows"]
        assert len(rows) == 200 and time.perf_counter() - started < 1.0


# ------------------------------------------------------------------------------------------------ browser
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
KEYS = {
    "Enter": ("Enter", 13, "\r"),
    "Escape": ("Escape", 27, ""),
    "ArrowRight": ("ArrowRight", 39, ""),
    "ArrowLeft": ("ArrowLeft", 37, ""),
}


def _high(fd: int) -> int:
    """A copy of ``fd`` numbered 10 or above (the original is closed)."""
    import fcntl

    copy = fcntl.fcntl(fd, fcntl.F_DUPFD, 10)
    os.close(fd)
    return copy


class Chromium:
    """Headless Chromium driven over the DevTools protocol on a pipe (--remote-debugging-pipe): no port, no
    extra package."""

    def __init__(self, binary: str, profile: Path) -> None:
        command_read, command_write = os.pipe()
        reply_read, reply_write = os.pipe()
        # the browser's ends, moved above 3 and 4 so that the shell's redirections cannot clobber them
        command_read, reply_write = (_high(fd) for fd in (command_read, reply_write))
        flags = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            "--no-default-browser-check",
            f"--user-data-dir={profile}",
            "--remote-debugging-pipe",
            "--window-size=1280,900",
            "about:blank",
        ]
        self._log = (profile / "chromium.log").open("wb")
        script = f'exec "$0" "$@" 3<&{command_read} 4>&{reply_write}'
        self.process = subprocess.Popen(
            [shutil.which("bash") or "/bin/bash", "-c", script, binary, *flags],
            pass_fds=(command_read, reply_write),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=self._log,
        )
        os.close(command_read)
        os.close(reply_write)
        self._out = os.fdopen(command_write, "wb", buffering=0)
        self._in = os.fdopen(reply_read, "rb", buffering=0)
        self._replies: dict[int, dict[str, Any]] = {}
        self._next = 0
        self._closed = False
        self._lock = threading.Lock()
        self._arrived = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        pending = b""
        while chunk := self._in.read(1 << 16):
            pending += chunk
            while b"\0" in pending:
                message, pending = pending.split(b"\0", 1)
                data = json.loads(message)
                if "id" in data:
                    with self._arrived:
                        self._replies[data["id"]] = data
                        self._arrived.notify_all()
        with self._arrived:
            self._closed = True
            self._arrived.notify_all()

    def call(self, method: str, params: dict[str, Any] | None = None, session: str | None = None) -> Any:
        with self._lock:
            self._next += 1
            number = self._next
            message: dict[str, Any] = {"id": number, "method": method, "params": params or {}}
            if session is not None:
                message["sessionId"] = session
            self._out.write(json.dumps(message).encode() + b"\0")
        with self._arrived:
            if not self._arrived.wait_for(lambda: number in self._replies or self._closed, timeout=60):
                raise TimeoutError(f"{method}: no reply from chromium")
            if number not in self._replies:
                raise RuntimeError(f"{method}: chromium went away")
            reply = self._replies.pop(number)
        if "error" in reply:
            raise RuntimeError(f"{method}: {reply['error']}")
        return reply.get("result", {})

    def page(self) -> Page:
        target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        page = Page(self, session, target)
        page.call("Page.enable")
        page.call("Runtime.enable")
        return page

    def close(self) -> None:
        with suppress(RuntimeError, TimeoutError, OSError):
            self.call("Browser.close")
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self._out.close()
        self._log.close()


class Page:
    def __init__(self, browser: Chromium, session: str, target: str) -> None:
        self.browser, self.session, self.target = browser, session, target

    def call(self, method: str, **params: Any) -> Any:
        return self.browser.call(method, params, self.session)

    def eval(self, expression: str) -> Any:
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in result:
            raise AssertionError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def wait(self, expression: str, timeout: float = 20.0) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            value = self.eval(expression)
            if value:
                return value
            if time.monotonic() > deadline:
                state = self.eval("JSON.stringify({...document.body.dataset, hash: location.hash})")
                raise AssertionError(f"timed out waiting for {expression} (page: {state})")
            time.sleep(0.05)

    def idle(self, extra: str = "true") -> None:
        self.wait(f"!document.body.dataset.busy && ({extra})")

    def goto(self, url: str) -> None:
        self.call("Page.navigate", url=url)
        self.wait("document.readyState === 'complete'")

    def key(self, name: str) -> None:
        key, code, text = KEYS[name] if name in KEYS else (name, ord(name.upper()), name)
        dom_code = name if name in KEYS else (f"Digit{name}" if name.isdigit() else f"Key{name.upper()}")
        down = {"type": "keyDown", "key": key, "code": dom_code, "windowsVirtualKeyCode": code}
        if text:
            down["text"] = text
        self.call("Input.dispatchKeyEvent", **down)
        self.call("Input.dispatchKeyEvent", type="keyUp", key=key, code=dom_code, windowsVirtualKeyCode=code)

    def type(self, text: str) -> None:
        self.call("Input.insertText", text=text)

    def drag(self, start: tuple[float, float], end: tuple[float, float], steps: int = 8) -> None:
        (x0, y0), (x1, y1) = start, end
        self.call("Input.dispatchMouseEvent", type="mouseMoved", x=x0, y=y0)
        self.call(
            "Input.dispatchMouseEvent", type="mousePressed", x=x0, y=y0, button="left", buttons=1, clickCount=1
        )
        for k in range(1, steps + 1):
            x, y = x0 + (x1 - x0) * k / steps, y0 + (y1 - y0) * k / steps
            self.call("Input.dispatchMouseEvent", type="mouseMoved", x=x, y=y, button="left", buttons=1)
        self.call(
            "Input.dispatchMouseEvent", type="mouseReleased", x=x1, y=y1, button="left", buttons=0, clickCount=1
        )

    def close(self) -> None:
        self.browser.call("Target.closeTarget", {"targetId": self.target})


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Chromium]:
    if CHROMIUM is None:
        pytest.skip("chromium is not installed (apt-get install chromium): the page's browser tests need it")
    chromium = Chromium(CHROMIUM, tmp_path_factory.mktemp("chromium-profile"))
    try:
        yield chromium
    finally:
        chromium.close()


@contextmanager
def opened(browser: Chromium, run_dir: Path, fragment: str) -> Iterator[tuple[Page, Client]]:
    with serving(run_dir) as client:
        page = browser.page()
        try:
            page.goto(f"http://127.0.0.1:{client.port}/{fragment}")
            yield page, client
        finally:
            page.close()


def poll(check: Callable[[], Any], timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while not (value := check()):
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)
    return value


def decision(run_dir: Path, target: str, kind: str) -> Any:
    with Manifest(run_dir) as manifest:
        found = manifest.decisions(target).get(kind)
    return None if found is None else found.value


def js(text: str) -> str:
    return json.dumps(text)


def test_the_page_rates_rejects_and_recaptions_from_the_keyboard(
    browser: Chromium, run: tuple[Path, Path]
) -> None:
    _, out = run
    with opened(browser, out, "#/") as (page, client):
        keys = sample_keys(client)
        page.wait(
            "document.body.dataset.view === 'grid' && document.querySelectorAll('.cell[data-key]').length > 0"
        )
        page.key("n")  # the first sample not yet reviewed
        page.idle(f"document.body.dataset.key === {js(keys[0])}")
        for press, now, then in (("4", keys[0], keys[1]), ("4", keys[1], keys[2]), ("5", keys[2], keys[3])):
            page.key(press)
            page.idle(f"document.body.dataset.key === {js(then)}")  # the next unreviewed one opened by itself
            assert decision(out, sample_target(now), "rating") == int(press)
        page.key("r")
        page.idle(f"document.body.dataset.key === {js(keys[4])}")
        assert decision(out, sample_target(keys[3]), "verdict") == "reject"

        page.eval(f"location.hash = '#/sample/' + encodeURIComponent({js(keys[1])})")
        page.idle(f"document.body.dataset.key === {js(keys[1])}")
        page.key("a")
        page.idle(f"document.body.dataset.key === {js(keys[4])}")  # the next unreviewed after keys[1]
        page.key("ArrowLeft")  # back along the grid's order
        page.idle(f"document.body.dataset.key === {js(keys[3])}")
        page.eval(f"location.hash = '#/sample/' + encodeURIComponent({js(keys[1])})")
        page.idle(f"document.body.dataset.key === {js(keys[1])}")
        page.key("e")
        page.wait("!document.getElementById('s-caption').readOnly")
        page.eval("document.getElementById('s-caption').select()")
        page.type("a cat and a dog on a table, checked by hand")
        page.key("Enter")
        words = poll(lambda: decision(out, sample_target(keys[1]), "caption"))
        assert words == "a cat and a dog on a table, checked by hand"

        page.call("Page.reload")
        page.wait("document.readyState === 'complete'")
        page.idle(
            f"document.body.dataset.key === {js(keys[1])} && document.getElementById('s-caption').value === "
            f"{js(words)} && document.getElementById('s-rating').dataset.rating === '4'"
        )
        assert page.eval("document.getElementById('s-status').dataset.status") == "accept"
        page.key("ArrowRight")
        page.idle(f"document.body.dataset.key === {js(keys[2])}")
        assert page.eval("document.getElementById('s-rating').dataset.rating") == "5"
        page.key("Escape")
        page.idle("document.body.dataset.view === 'grid'")
        ids = {k: client.get("/api/sample", key=k)["id"] for k in keys[:4]}
    assert run_cli("export", out) == 0
    exported = metadata(out)
    assert ids[keys[3]] not in exported
    assert exported[ids[keys[1]]]["text"] == words


def test_the_page_picks_a_round_and_reruns_segmentation_from_a_drawn_box(
    browser: Chromium, run: tuple[Path, Path]
) -> None:
    _, out = run
    before = records(out, "segment")[DOG]
    with opened(browser, out, f"#/photo/{quote(DOG, safe='')}") as (page, _client):
        page.idle("document.body.dataset.view === 'photo' && document.getElementById('p-photo').naturalWidth > 0")
        chosen = int(page.eval("document.body.dataset.chosenRound"))
        other = 1 if chosen != 1 else 3
        page.key(str(other))
        page.idle(f"document.body.dataset.chosenRound === '{other}'")
        assert decision(out, photo_target(DOG), "round") == other
        assert read(SegmentData, records(out, "segment")[DOG]).chosen_round == other

        rect = page.eval("JSON.stringify(document.getElementById('p-canvas').getBoundingClientRect())")
        left, top, width, height = (json.loads(rect)[k] for k in ("left", "top", "width", "height"))
        page.key("x")
        page.drag((left + 0.15 * width, top + 0.1 * height), (left + 0.85 * width, top + 0.9 * height))
        page.key("g")  # and a background stroke along the bottom edge of the box
        page.drag((left + 0.2 * width, top + 0.86 * height), (left + 0.8 * width, top + 0.86 * height))
        page.key("Enter")
        page.idle("document.body.dataset.method === 'hints'")
        hints = decision(out, photo_target(DOG), "hints")
        w, h = read(SegmentData, before).size
        expected = [0.15 * w, 0.1 * h, 0.85 * w, 0.9 * h]
        assert all(abs(a - b) <= 2 for a, b in zip(hints["box"], expected, strict=True)), hints["box"]
        assert [s["label"] for s in hints["strokes"]] == ["bg"]
        record = records(out, "segment")[DOG]
        assert record.fingerprint != before.fingerprint and read(SegmentData, record).method == "hints"

        page.call("Page.reload")
        page.wait("document.readyState === 'complete'")
        page.idle("document.body.dataset.method === 'hints' && state.hints.box !== null")
        assert page.eval("state.hints.strokes.length") == 1
