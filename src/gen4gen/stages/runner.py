"""The one loop that drives every item-by-item stage: plan waves, run them on an executor, commit outcomes."""

from __future__ import annotations

import time

from gen4gen.executors.base import Executor
from gen4gen.exporters.hf import METADATA
from gen4gen.stages.base import Context, Stage, StageStats, Tally


def run_stage(stage: Stage, ctx: Context, executor: Executor) -> StageStats:
    """Run ``stage`` to completion; each outcome is committed as soon as its batch comes back.

    Before a stage makes anything anew, the run folder's ``metadata.jsonl`` is removed: it may describe files
    about to be replaced, and a dataset whose boxes describe other images must never be left behind (a failed
    or killed run leaves no dataset rather than a wrong one). The export stage writes it again from the current
    records.
    """
    stats = StageStats(stage.name)
    started = time.perf_counter()
    stale = ctx.run_dir / METADATA
    with ctx.reporter.task(stage.name, stage.total(ctx)) as advance:
        tally = Tally(stats, advance, ctx.reporter)
        for wave in stage.plan(ctx, tally):
            if wave:
                stale.unlink(missing_ok=True)
            for outcomes in executor.map(stage, wave, ctx.config.batch_size):
                for outcome in outcomes:
                    stage.commit(ctx, outcome, tally)
        stage.finish(ctx, tally)
    stats.seconds = time.perf_counter() - started
    return stats
