"""Stage 5: automatic quality checks -> one verdict per sample and check (pass, flag or reject, with its reason).

Runs after caption and before export (``gen4gen run``), or alone (``gen4gen curate RUN_DIR``). Two waves:

1. every cut-out (one per photo) is measured by the cut-out check; its verdict goes to the target
   ``cutout:<photo key>``;
2. every finished sample is measured by the sample checks (layout, identity after repaint, seams, caption, and
   the model checks when configured) and its image hashed; the sample inherits the verdicts of the cut-outs it
   uses.

``finish`` then compares the hashes of the whole run (near-duplicates). ``work`` only measures and records
scores (:class:`~gen4gen.manifest.records.CurateData`, one curate record per cut-out or sample); verdicts are
judged in the driver from the recorded scores with the current thresholds and appended to the manifest's
append-only verdict table only when they changed, so a rerun with the same settings adds nothing and a rerun
with new thresholds re-judges without measuring again. The export stage leaves rejected samples out of every
export, and flagged ones out of training-ready formats unless ``--include-flagged``.

``work`` runs on the run's executor (in the driver, in worker processes or on Ray actors) with the suite built
there from the stage's spec (:func:`~gen4gen.checks.suite.checks_spec`); a suite with a model check runs in one
place (the driver or one actor). Compose asks :func:`cutout_rejection` before using a cut-out, so a fragment is
never pasted; a cut-out it measured counts as made by the curate stage of the same run.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gen4gen.backends.base import Backend
from gen4gen.checks.base import FLAG, PASS, REJECT, SEVERITY, SKIP, CheckResult
from gen4gen.checks.duplicates import nearest
from gen4gen.checks.subjects import CutoutInputs, CutoutSubject, SampleInputs, SampleSubject
from gen4gen.checks.suite import CHECKS, CheckSuite, checks_spec
from gen4gen.config import RunConfig
from gen4gen.errors import ItemError
from gen4gen.exporters.hf import METADATA
from gen4gen.io.atomic import file_sha256
from gen4gen.manifest import DONE, Manifest, Record, Verdict, fingerprint
from gen4gen.manifest.records import CaptionData, ComposeData, CurateData, RepaintData, SegmentData, read
from gen4gen.stages.base import BackendSpec, Context, Outcome, Stage, Tally, WorkItem, timed
from gen4gen.stages.common import SAMPLES_META

NAME = "curate"
CUTOUT = "cutout:"  # prefix of a cut-out's curate record key and verdict target
SUMMARY_META = "curate.summary"  # meta key: JSON counts of the last judgement (report)


def cutout_target(photo_key: str) -> str:
    """The verdict target (and curate record key) of the cut-out of photo ``photo_key``."""
    return CUTOUT + photo_key


@dataclass(frozen=True)
class CurateInputs:
    cutout: CutoutInputs | None = None
    sample: SampleInputs | None = None


class CurateStage(Stage):
    name = NAME
    version = "1"

    def __init__(self, run_dir: Path, config: RunConfig) -> None:
        self.run_dir = run_dir
        self.config = config
        self.spec = checks_spec(config)  # from the curate section, never from ``curate.backend``
        self._judged: dict[str, list[CheckResult]] = {}  # sample key -> its results, this run
        self._changed = False  # whether any verdict was appended

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_judged": {}}

    def suite(self, ctx: Context) -> CheckSuite:
        """The driver's suite (it judges; with the local executor it measures too)."""
        return driver_suite(ctx, self.spec)

    def total(self, ctx: Context) -> int:
        from gen4gen.stages.compose import accepted_samples

        cutouts = len(ctx.manifest.records("segment", DONE)) if self.suite(ctx).cutout is not None else 0
        return cutouts + len(accepted_samples(ctx))

    # ------------------------------------------------------------------------------------------------ plan
    def plan(self, ctx: Context, tally: Tally) -> Iterator[list[WorkItem]]:
        from gen4gen.stages.compose import accepted_samples

        samples = accepted_samples(ctx)  # a clear error when nothing was composed yet
        suite = self.suite(ctx)
        wave = []
        if suite.cutout is not None:
            for segment in ctx.manifest.records("segment", DONE):
                item = cutout_item(ctx, suite, segment)
                current = self.is_current(ctx, item.key, item.fingerprint)
                if current is not None:
                    if current.status == DONE and item.key in suite.measured_for_compose:
                        suite.measured_for_compose.discard(item.key)
                        tally.made()  # measured in this run, when compose chose its cut-outs
                    else:
                        tally.reused(current)
                    if current.status == DONE:
                        self._changed |= judge_cutout(ctx.manifest, suite, current)[1]
                elif not ctx.manifest.intact(segment):
                    ctx.reporter.warn(f"{segment.key}: its cut-out is missing or changed; rerun `gen4gen segment`")
                    tally.skipped("cut-out missing or changed; rerun `gen4gen segment`")
                else:
                    wave.append(item)
        yield wave
        wave = []
        references = _references(ctx)
        for compose in samples:
            records = {stage: ctx.manifest.get(stage, compose.key) for stage in ("repaint", "caption")}
            missing = next((s for s, r in records.items() if r is None or r.status != DONE), None)
            if missing is not None:
                tally.skipped(f"not finished ({missing} failed or not run)")
                continue
            repaint, caption = records["repaint"], records["caption"]
            assert repaint is not None and caption is not None
            if not (ctx.manifest.intact(compose) and ctx.manifest.intact(repaint)):
                ctx.reporter.warn(f"sample {compose.key}: its files are missing or changed")
                tally.skipped("files missing or changed; rerun `gen4gen repaint`")
                continue
            caption_data = read(CaptionData, caption)
            text = caption_data.text  # the generated caption: a person's edit is their own decision
            layout = read(ComposeData, compose)
            refs = {o.concept_id: references.get(o.concept_id, ()) for o in layout.objects}
            fp = fingerprint(
                self.version,
                suite.sample_settings(),
                [(r.fingerprint, r.outputs) for r in (compose, repaint, caption)],
                text,
                self.config.caption.max_words,
                refs if suite.curate.clip_model else None,
            )
            current = self.is_current(ctx, compose.key, fp)
            if current is not None:
                tally.reused(current)
                if current.status == DONE:
                    self._judge_sample(ctx, current)
                continue
            inputs = SampleInputs(
                compose.key,
                self.run_dir,
                layout,
                read(RepaintData, repaint),
                caption_data,
                text,
                self.config.caption.max_words,
                refs,
            )
            wave.append(WorkItem(compose.key, fp, None, CurateInputs(sample=inputs)))
        yield wave

    # ------------------------------------------------------------------------------------------------ work
    def work(self, items: list[WorkItem], backend: Backend) -> list[Outcome]:
        assert isinstance(backend, CheckSuite)
        started = time.perf_counter()
        outcomes: dict[str, Outcome] = {}
        samples: list[tuple[WorkItem, SampleSubject]] = []
        for item in items:
            inputs: CurateInputs = item.inputs
            if inputs.cutout is not None:
                outcomes[item.key] = measure_cutout(backend, item, self.name)
            elif inputs.sample is not None:
                samples.append((item, SampleSubject(inputs.sample)))
        if samples:
            results = backend.measure_samples([subject for _, subject in samples])
            per = timed(started, len(items))
            for (item, _), result in zip(samples, results, strict=True):
                if isinstance(result, ItemError):
                    outcomes[item.key] = self.failed(item, f"sample {item.key}: {result}")
                    continue
                scores, phash = result
                layout = item.inputs.sample.layout
                data = CurateData(
                    kind="sample",
                    scores=scores,
                    phash=phash,
                    cutouts=list(dict.fromkeys(o.photo for o in layout.objects)),
                )
                record = Record(
                    self.name, item.key, DONE, item.fingerprint, None, backend.identity(), {}, _dump(data)
                )
                record.seconds = per
                outcomes[item.key] = Outcome(record)
        return [outcomes[item.key] for item in items]

    # ------------------------------------------------------------------------------------------------ driver
    def commit(self, ctx: Context, outcome: Outcome, tally: Tally) -> None:
        super().commit(ctx, outcome, tally)
        record = outcome.record
        if record.status != DONE:
            return
        if record.key.startswith(CUTOUT):
            self._changed |= judge_cutout(ctx.manifest, self.suite(ctx), record)[1]
        else:
            self._judge_sample(ctx, record)

    def _judge_sample(self, ctx: Context, record: Record) -> None:
        """Judge one sample's recorded scores with the current thresholds; verdicts appended when changed."""
        data = read(CurateData, record)
        suite = self.suite(ctx)
        results = suite.judge_sample(data.scores)
        if suite.cutout is not None:
            inherited = _inherited(ctx.manifest, suite, data.cutouts)
            if inherited is not None:
                results.insert(0, inherited)
        self._judged[record.key] = results
        self._record(ctx, record.key, record, results, skip={"duplicate"})

    def finish(self, ctx: Context, tally: Tally) -> None:
        """Near-duplicates over the whole run, then the counts of the run's verdicts (summary and report)."""
        keys = [key for key in json.loads(ctx.manifest.get_meta(SAMPLES_META) or "[]") if key in self._judged]
        measured = {key: ctx.manifest.get(self.name, key) for key in keys}
        suite = self.suite(ctx)
        if suite.duplicate is not None:
            hashes = [(k, h) for k in keys if (h := _phash(measured[k])) is not None]
            kept = [not any(r.status == REJECT for r in self._judged[k]) for k, _ in hashes]
            for key, scores in nearest(hashes, kept).items():
                result = suite.judge_distances(scores)
                self._judged[key].append(result)
                self._record(ctx, key, measured[key], [result], skip=set())
        else:
            for key in keys:
                self._record(ctx, key, measured[key], [], skip=set(CHECKS) - {"duplicate"})
        summary = summarise({key: self._judged[key] for key in keys})
        ctx.manifest.set_meta(SUMMARY_META, json.dumps(summary, sort_keys=True))
        tally.stats.rejected.update(summary["rejected_by"])
        flagged = ", ".join(f"{count} {cause}" for cause, count in summary["flagged_by"].items())
        ctx.reporter.info(
            f"curate: {summary['samples']} samples: {summary['accepted']} accepted, {summary['flagged']} flagged"
            f"{f' ({flagged})' if flagged else ''}, {summary['rejected']} rejected"
        )
        if self._changed:
            (ctx.run_dir / METADATA).unlink(missing_ok=True)  # the dataset's selection changed: export anew

    def _record(
        self, ctx: Context, key: str, record: Record | None, results: list[CheckResult], skip: set[str]
    ) -> None:
        if record is not None:
            self._changed |= record_verdicts(ctx.manifest, self.suite(ctx), key, record.fingerprint, results, skip)


def driver_suite(ctx: Context, spec: BackendSpec | None = None) -> CheckSuite:
    """The run's suite in the driver, from its backend pool (built once per run)."""
    suite = ctx.backends.get(spec if spec is not None else checks_spec(ctx.config))
    assert isinstance(suite, CheckSuite)
    return suite


def _phash(record: Record | None) -> str | None:
    return read(CurateData, record).phash if record is not None and record.status == DONE else None


# ---------------------------------------------------------------------------------------------- cut-outs
def cutout_item(ctx: Context, suite: CheckSuite, segment: Record) -> WorkItem:
    """The cut-out check's item for a segment record: its masks, and its source photo when that is still the
    photo that was segmented (same size and bytes), for the colours around the outline."""
    data = read(SegmentData, segment)
    rounds = tuple(sorted(path for path in segment.outputs if ".round" in path and path.endswith(".mask.png")))
    photo = _source_photo(ctx, segment.key, data.source_sha256)
    fp = fingerprint(
        CurateStage.version, suite.cutout_settings(), segment.fingerprint, segment.outputs, photo is not None
    )
    inputs = CutoutInputs(segment.key, ctx.run_dir, data, _round_order(rounds), photo)
    return WorkItem(cutout_target(segment.key), fp, None, CurateInputs(cutout=inputs))


def _source_photo(ctx: Context, key: str, sha256: str) -> Path | None:
    src = ctx.manifest.get_meta("src")
    if src is None:
        return None
    path = Path(src) / key
    try:
        return path if path.is_file() and file_sha256(path) == sha256 else None
    except OSError:
        return None


def _round_order(paths: tuple[str, ...]) -> tuple[str, ...]:
    """Round mask files in round order (``...round10...`` after ``...round9...``)."""

    def number(path: str) -> int:
        digits = path.rsplit(".round", 1)[1].split(".", 1)[0]
        return int(digits) if digits.isdigit() else 0

    return tuple(sorted(paths, key=number))


def measure_cutout(suite: CheckSuite, item: WorkItem, stage: str = NAME) -> Outcome:
    """Measure one cut-out item (any process)."""
    inputs: CutoutInputs = item.inputs.cutout
    started = time.perf_counter()
    try:
        scores = suite.measure_cutout(CutoutSubject(inputs))
    except ItemError as exc:
        message = f"{inputs.key}: {exc}" if inputs.key not in str(exc) else str(exc)
        record = Record(stage, item.key, "failed", item.fingerprint, None, message=message)
        return Outcome(record, [f"{message} — not checked"])
    data = CurateData(kind="cutout", scores=scores)
    identity = suite.cutout.settings() if suite.cutout is not None else {}
    record = Record(stage, item.key, DONE, item.fingerprint, None, identity, {}, _dump(data))
    record.seconds = timed(started, 1)
    return Outcome(record)


def judge_cutout(manifest: Manifest, suite: CheckSuite, record: Record) -> tuple[CheckResult | None, bool]:
    """The cut-out check's verdict from a cut-out's curate record, and whether it was appended (it changed)."""
    if suite.cutout is None:
        return None, False
    data = read(CurateData, record)
    if suite.cutout.name not in data.scores:
        return None, False
    result = suite.judge(suite.cutout.name, data.scores[suite.cutout.name])
    return result, record_verdicts(manifest, suite, record.key, record.fingerprint, [result], skip=set())


def cutout_rejection(ctx: Context, segment: Record) -> str | None:
    """Why compose must leave out the cut-out of ``segment`` (a done segment record), or None to use it.

    The cut-out is measured the first time it is asked about (in the driver; the scores are kept as its curate
    record, which the curate stage of the same run counts as made) and judged with the current thresholds.
    Nothing is left out when ``curate.enabled``, ``curate.skip_rejected_cutouts`` or ``curate.cutout.enabled`` is
    false, or when the cut-out cannot be measured (compose then reports its own error for the file).
    """
    curate = ctx.config.curate
    if not (curate.enabled and curate.skip_rejected_cutouts and curate.cutout.enabled):
        return None
    suite = driver_suite(ctx)
    item = cutout_item(ctx, suite, segment)
    record = ctx.manifest.is_current(NAME, item.key, item.fingerprint)
    if record is None:
        if not ctx.manifest.intact(segment):
            return None
        outcome = measure_cutout(suite, item)
        if outcome.record.status != DONE:
            return None
        record = outcome.record
        ctx.manifest.put(record)
        suite.measured_for_compose.add(item.key)
    if record.status != DONE:
        return None
    result, _ = judge_cutout(ctx.manifest, suite, record)
    return result.reason if result is not None and result.status == REJECT else None


def _inherited(manifest: Manifest, suite: CheckSuite, photos: list[str]) -> CheckResult | None:
    """A sample's cut-out verdict: the worst verdict of the cut-outs it uses, with their reasons."""
    assert suite.cutout is not None
    results = []
    for photo in photos:
        record = manifest.get(NAME, cutout_target(photo))
        if record is None or record.status != DONE:
            continue
        data = read(CurateData, record)
        if suite.cutout.name in data.scores:
            results.append(suite.judge(suite.cutout.name, data.scores[suite.cutout.name]))
    if not results:
        return None
    status = max((r.status for r in results), key=SEVERITY.__getitem__)
    worst = [r for r in results if r.status == status]
    causes = tuple(dict.fromkeys(c for r in worst for c in r.causes))
    if status == PASS:
        return CheckResult(suite.cutout.name, PASS, None, f"its {len(results)} cut-out(s) pass")
    return CheckResult(suite.cutout.name, status, None, "; ".join(r.reason for r in worst), causes)


# ---------------------------------------------------------------------------------------------- verdicts
def record_verdicts(
    manifest: Manifest,
    suite: CheckSuite,
    target: str,
    item_fp: str,
    results: list[CheckResult],
    skip: set[str],
) -> bool:
    """Append each result whose verdict differs from the latest one of its check on ``target``. A check that
    judged ``target`` before but is no longer configured (and is not in ``skip``) gets a ``skip`` verdict, so
    its old verdict stops counting. Returns whether anything was appended."""
    latest = manifest.verdicts(target)
    given = {r.check for r in results}
    retired = [
        suite.off(name)
        for name, verdict in latest.items()
        if name in CHECKS and name not in given and name not in skip and name not in suite.checkers
        if verdict.status != SKIP
    ]
    changed = False
    for result in [*results, *retired]:
        limits = suite.limits(result.check) if result.check in suite.checkers else {}
        fp = fingerprint(item_fp, result.check, limits)
        old = latest.get(result.check)
        now = (result.status, result.score, result.reason, fp)
        if old is not None and (old.status, old.score, old.reason, old.fingerprint) == now:
            continue
        manifest.add_verdict(Verdict(target, result.check, result.status, result.score, result.reason, fp))
        changed = True
    return changed


def summarise(judged: dict[str, list[CheckResult]]) -> dict[str, Any]:
    """Counts of the judged samples: accepted, flagged and rejected; each rejected (flagged) sample under the
    first cause of its first rejecting (flagging) check; and every check's causes (a sample may have several)."""
    counts: Counter[str] = Counter()
    rejected_by: Counter[str] = Counter()
    flagged_by: Counter[str] = Counter()
    causes: dict[str, Counter[str]] = {REJECT: Counter(), FLAG: Counter()}
    samples: dict[str, dict[str, Any]] = {}
    order = {name: index for index, name in enumerate(CHECKS)}
    for key, results in judged.items():
        results = sorted(results, key=lambda r: order.get(r.check, len(order)))
        status = max((r.status for r in results), key=SEVERITY.__getitem__, default=PASS)
        status = PASS if status == SKIP else status
        labels = [f"{r.check}: {c}" for r in results if r.status == status and status != PASS for c in r.causes]
        for r in results:
            if r.status in causes:
                causes[r.status].update(f"{r.check}: {c}" for c in r.causes)
        if status == REJECT:
            rejected_by[labels[0] if labels else "rejected"] += 1
        elif status == FLAG:
            flagged_by[labels[0] if labels else "flagged"] += 1
        counts[{REJECT: "rejected", FLAG: "flagged"}.get(status, "accepted")] += 1
        samples[key] = {"status": status, "causes": labels}
    return {
        "samples": len(judged),
        "accepted": counts["accepted"],
        "flagged": counts["flagged"],
        "rejected": counts["rejected"],
        "rejected_by": dict(rejected_by.most_common()),
        "flagged_by": dict(flagged_by.most_common()),
        "causes": {status: dict(c.most_common()) for status, c in causes.items()},
        "by_sample": samples,
    }


def _references(ctx: Context) -> dict[str, tuple[str, ...]]:
    """Concept id (its folder) -> its source photos, or its cut-outs where a photo is not there (clip check)."""
    src, raw = ctx.manifest.get_meta("src"), ctx.manifest.get_meta("compositions")
    if src is None or raw is None:
        return {}
    cutouts = {r.key: r.data.get("cutout") for r in ctx.manifest.records("segment", DONE)}
    found: dict[str, list[str]] = {}
    for composition in json.loads(raw):
        for concept in composition["concepts"]:
            paths = found.setdefault(concept["folder"], [])
            for photo in concept["photos"]:
                path = Path(src) / photo
                if path.is_file():
                    paths.append(str(path))
                elif cutouts.get(photo):
                    paths.append(str(ctx.run_dir / str(cutouts[photo])))
    return {folder: tuple(dict.fromkeys(paths)) for folder, paths in found.items()}


def _dump(data: CurateData) -> dict[str, Any]:
    return data.model_dump(mode="json")


__all__ = ["PASS", "CurateStage", "cutout_rejection", "cutout_target"]
