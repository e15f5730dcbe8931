"""Stage 5: finished samples go through every chosen writer (the run folder becomes a dataset).

Runs in the driver: it reads the :class:`~gen4gen.sample.Sample` view of each sample and hands the exported ones
to each :class:`~gen4gen.exporters.base.Writer`. A sample that failed in an earlier stage, or that a person or a
check rejected, is left out and counted by cause; the others are always exported, so one bad item never costs
the dataset. A flagged sample stays in the run folder's index but goes into training-ready formats only with
``include_flagged``.

Without formats it writes the run folder's ``metadata.jsonl`` and contact sheet, plus every format in
``export.formats`` under ``RUN_DIR/exports/<format>``; with formats (``gen4gen export --format``) only those, in
``RUN_DIR/exports/<format>`` or ``--out``. A file whose content would not change is left alone: ``metadata.jsonl``
is replaced only when its bytes differ, and the contact sheet is rendered again only when its inputs or its file
changed (their digest is kept in the manifest's meta), so an all-skipped rerun rewrites neither.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from gen4gen.exporters import ContactSheetWriter, ImageFolderWriter, Writer, check_format, writer_class
from gen4gen.exporters.captions import TrainingCaptions
from gen4gen.exporters.folder import FolderWriter
from gen4gen.sample import Sample, iter_samples
from gen4gen.stages.base import Context, StageStats, failure_cause
from gen4gen.stages.common import SAMPLES_META
from gen4gen.stages.compose import accepted_samples

NAME = "export"
EXPORTS = "exports"  # RUN_DIR/exports/<format>: where formats go by default
FLAGGED = "flagged (export them with --include-flagged)"
SHEET_META = "export.contact_sheet"  # meta key: the contact sheet's state (ContactSheetWriter.state)


def flagged(sample: Sample) -> bool:
    """Flagged by a person, or, when no person decided, by an automatic check."""
    if "verdict" in sample.decisions:
        return bool(sample.decisions["verdict"] == "flag")
    return any(v.status == "flag" for v in sample.verdicts.values())


def export_dir(run_dir: Path, name: str, out: Path | None, several: bool) -> Path:
    """Where format ``name`` goes: RUN_DIR/exports/<name>, or ``out`` for one format and out/<name> for several."""
    if out is None:
        return run_dir / EXPORTS / name
    return out / name if several else out


def export_stage(
    ctx: Context, formats: list[str] | None = None, out: Path | None = None, include_flagged: bool | None = None
) -> StageStats:
    stats = StageStats(NAME)
    started = time.perf_counter()
    settings = ctx.config.export
    if include_flagged is not None:
        settings = settings.model_copy(update={"include_flagged": include_flagged})
    names = list(dict.fromkeys(check_format(name) for name in formats)) if formats else list(settings.formats)
    accepted_samples(ctx)  # a clear error when nothing was composed yet
    keys: list[str] = json.loads(ctx.manifest.get_meta(SAMPLES_META) or "[]")
    finished: list[Sample] = []
    for sample in iter_samples(ctx.manifest, keys):
        if isinstance(sample, Sample):
            finished.append(sample)
        else:
            stats.failed[failure_cause(sample)] += 1
    accepted = [s for s in finished if not s.rejected]
    for sample in finished:
        if sample.rejected:
            by_person = sample.decisions.get("verdict") == "reject"
            stats.rejected["rejected in review" if by_person else "rejected by a check"] += 1
    training = [s for s in accepted if settings.include_flagged or not flagged(s)]
    left_out = len(accepted) - len(training)
    index: list[Writer] = []
    sheet: ContactSheetWriter | None = None
    if not formats:  # the run folder's own index shows every accepted sample, flagged ones included
        index.append(ImageFolderWriter())
        if settings.contact_sheet:
            sheet = ContactSheetWriter(previous=ctx.manifest.get_meta(SHEET_META))
            index.append(sheet)
    exports: list[FolderWriter] = []
    if names:
        captions = TrainingCaptions.from_settings(settings, finished)  # tokens do not move as reviews change
        for name in names:
            folder = export_dir(ctx.run_dir, name, out, several=len(names) > 1)
            exports.append(writer_class(name)(folder, settings, captions))
    for writer in [*index, *exports]:
        writer.open(ctx.run_dir)
    with ctx.reporter.task(NAME, len(accepted)) as advance:
        for sample in accepted:
            for writer in index:
                writer.add(sample)
            if settings.include_flagged or not flagged(sample):
                for export in exports:
                    export.add(sample)
            advance(1)
    for writer in [*index, *exports]:
        writer.close()
    if sheet is not None and sheet.state is not None and sheet.state != sheet.previous:
        ctx.manifest.set_meta(SHEET_META, sheet.state)
    for export in exports:
        note = f" ({left_out} flagged left out; --include-flagged exports them)" if left_out else ""
        ctx.reporter.info(f"{export.name}: {export.count} samples in {export.out_dir}{note}")
    if formats:
        stats.made = len(training)
        if left_out:
            stats.rejected[FLAGGED] += left_out
    else:
        stats.made = len(accepted)
    stats.seconds = time.perf_counter() - started
    return stats
