"""Stage 5: finished samples go through every configured writer (the run folder becomes a dataset).

Runs in the driver: it reads the :class:`~gen4gen.sample.Sample` view of each accepted sample and hands it to
each :class:`~gen4gen.exporters.base.Writer`. A sample that failed in an earlier stage, or that a person
rejected, is left out and counted by cause; the others are always exported, so one bad item never costs the
dataset.
"""

from __future__ import annotations

import json
import time

from gen4gen.exporters import ContactSheetWriter, ImageFolderWriter, Writer
from gen4gen.sample import Sample, iter_samples
from gen4gen.stages.base import Context, StageStats, failure_cause
from gen4gen.stages.common import SAMPLES_META
from gen4gen.stages.compose import accepted_samples

NAME = "export"


def writers(ctx: Context) -> list[Writer]:
    chosen: list[Writer] = [ImageFolderWriter()]
    if ctx.config.export.contact_sheet:
        chosen.append(ContactSheetWriter())
    return chosen


def export_stage(ctx: Context) -> StageStats:
    stats = StageStats(NAME)
    started = time.perf_counter()
    accepted_samples(ctx)  # a clear error when nothing was composed yet
    keys: list[str] = json.loads(ctx.manifest.get_meta(SAMPLES_META) or "[]")
    chosen = writers(ctx)
    for writer in chosen:
        writer.open(ctx.run_dir)
    with ctx.reporter.task(NAME, len(keys)) as advance:
        for sample in iter_samples(ctx.manifest, keys):
            if isinstance(sample, Sample) and not sample.rejected:
                for writer in chosen:
                    writer.add(sample)
                stats.made += 1
            elif isinstance(sample, Sample):
                stats.rejected["rejected in review"] += 1
            else:
                stats.failed[failure_cause(sample)] += 1
            advance(1)
    for writer in chosen:
        writer.close()
    stats.seconds = time.perf_counter() - started
    return stats
