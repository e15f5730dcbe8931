"""Stage 4: a detailed caption per finished sample, checked against the layout (every concept must be named)."""

from __future__ import annotations

import re
import time
from collections import Counter

from gen4gen.backends.base import Captioner, CaptionRequest
from gen4gen.io.images import load_image
from gen4gen.manifest import DONE, Record, fingerprint
from gen4gen.seeds import derive_seed
from gen4gen.stages.common import Context, StageError, StageStats, chunks, require_backend
from gen4gen.stages.compose import require_samples
from gen4gen.stages.repaint import placements_of

STAGE = "caption"
STAGE_VERSION = "1"
NUMBER_WORDS = {2: "two", 3: "three", 4: "four", 5: "five", 6: "six", 7: "seven", 8: "eight", 9: "nine"}


def caption_stage(ctx: Context) -> StageStats:
    stats = StageStats(STAGE)
    started = time.perf_counter()
    samples = require_samples(ctx)
    captioner: Captioner = require_backend(ctx, STAGE)  # type: ignore[assignment]
    identity = captioner.identity()
    max_words = ctx.config.caption.max_words
    with ctx.reporter.task("caption", len(samples)) as advance:
        for batch in chunks(samples, ctx.config.batch_size):
            todo = []
            for compose in batch:
                repaint = ctx.manifest.get("repaint", compose.key)
                if repaint is None or repaint.status != DONE:
                    raise StageError(
                        f"{ctx.run_dir}: sample {compose.key} has no image yet; run `gen4gen repaint`"
                    )
                seed = derive_seed(ctx.config.seed, STAGE, compose.key)
                fp = fingerprint(STAGE_VERSION, repaint.fingerprint, repaint.outputs, identity, max_words, seed)
                if ctx.manifest.is_current(STAGE, compose.key, fp) is not None:
                    stats.reused += 1
                    advance(1)
                else:
                    todo.append((compose, repaint, seed, fp))
            if not todo:
                continue
            requests = [
                CaptionRequest(
                    load_image(ctx.run_dir / repaint.data["image"]).rgb,
                    placements_of(compose),
                    repaint.data["scene"],
                    seed,
                    max_words,
                )
                for compose, repaint, seed, _ in todo
            ]
            batch_started = time.perf_counter()
            texts = captioner.caption_batch(requests)
            per_item = (time.perf_counter() - batch_started) / len(todo)
            for (compose, _, seed, fp), text in zip(todo, texts, strict=True):
                names = [o["name"] for o in compose.data["objects"]]
                grounded, missing = ground_caption(text, names, max_words)
                data = {"text": grounded, "raw": text, "missing": missing, "repaired": bool(missing)}
                if missing:
                    ctx.reporter.warn(f"sample {compose.key}: caption did not name {', '.join(missing)}; repaired")
                ctx.manifest.put(Record(STAGE, compose.key, DONE, fp, seed, identity, {}, data, seconds=per_item))
                stats.made += 1
                advance(1)
    stats.seconds = time.perf_counter() - started
    return stats


def mentions(text: str, name: str) -> bool:
    """Whether ``text`` names ``name`` (whole words, plural tolerated, case-insensitive)."""
    words = r"\s+".join(re.escape(w) for w in name.lower().split())
    return re.search(rf"\b{words}(s|es)?\b", text.lower()) is not None


def ground_caption(text: str, names: list[str], max_words: int) -> tuple[str, list[str]]:
    """Make sure every concept is named: missing ones are added as a phrase; the word limit is kept.

    Returns the caption and the names that were missing.
    """
    text = " ".join(text.split())
    missing = [name for name in dict.fromkeys(names) if not mentions(text, name)]
    if not missing:
        return _limit(text, max_words), []
    counts = Counter(names)
    phrase = ", ".join(_counted(name, counts[name]) for name in missing)
    addition = f"with {phrase}"
    budget = max_words - len(addition.split())
    base = _limit(text.rstrip(" ."), max(budget, 0)).rstrip(" .,")
    repaired = f"{base}, {addition}" if base else phrase[0].upper() + phrase[1:]
    return repaired, missing


def _counted(name: str, count: int) -> str:
    if count == 1:
        return ("an " if name[:1].lower() in "aeiou" else "a ") + name
    return f"{NUMBER_WORDS.get(count, str(count))} {name}s"


def _limit(text: str, max_words: int) -> str:
    words = text.split()
    return text if len(words) <= max_words else " ".join(words[:max_words]).rstrip(",;:")
