"""Stage 4: a detailed caption per finished sample, checked against the layout (every concept must be named)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from PIL import Image

from gen4gen.backends.base import Backend, Captioner, CaptionRequest
from gen4gen.errors import ItemError
from gen4gen.io.images import load_image
from gen4gen.manifest import DONE, Record, fingerprint
from gen4gen.manifest.records import CaptionData, ComposeData, RepaintData, read
from gen4gen.seeds import derive_seed
from gen4gen.stages.base import Context, Outcome, Stage, Tally, WorkItem, per_item, timed
from gen4gen.stages.compose import accepted_samples
from gen4gen.stages.repaint import placements_of
from gen4gen.text import ground_caption


@dataclass(frozen=True)
class CaptionInputs:
    sample: ComposeData
    image: RepaintData


class CaptionStage(Stage):
    name = "caption"

    def total(self, ctx: Context) -> int:
        return len(accepted_samples(ctx))

    def plan(self, ctx: Context, tally: Tally) -> Iterator[list[WorkItem]]:
        identity = ctx.backends.get(self.spec).identity()
        max_words = self.config.caption.max_words
        wave = []
        for compose in accepted_samples(ctx):
            repaint = ctx.manifest.get("repaint", compose.key)
            if repaint is None or repaint.status != DONE:
                tally.skipped("no image (repaint failed or not run)")
                continue
            if not ctx.manifest.intact(repaint):
                ctx.reporter.warn(f"sample {compose.key}: its image is missing or changed")
                tally.skipped("image missing or changed; rerun `gen4gen repaint`")
                continue
            seed = derive_seed(self.config.seed, self.name, compose.key)
            fp = fingerprint(self.version, repaint.fingerprint, repaint.outputs, identity, max_words, seed)
            current = self.is_current(ctx, compose.key, fp)
            if current is not None:
                tally.reused(current)
                continue
            inputs = CaptionInputs(read(ComposeData, compose), read(RepaintData, repaint))
            wave.append(WorkItem(compose.key, fp, seed, inputs))
        yield wave

    def work(self, items: list[WorkItem], backend: Backend) -> list[Outcome]:
        assert isinstance(backend, Captioner)
        max_words = self.config.caption.max_words
        started = time.perf_counter()
        requests, failures = [], {}
        for item in items:
            try:
                image = self._pixels(item.inputs.image.image, backend.needs_pixels)
            except ItemError as exc:
                failures[item.key] = self.failed(item, f"sample {item.key}: {exc}")
                continue
            placements = placements_of(item.inputs.sample)
            requests.append(
                CaptionRequest(image, placements, item.inputs.image.scene, int(item.seed or 0), max_words)
            )
        texts = iter(per_item(backend.caption_batch, backend.caption, requests) if requests else [])
        per = timed(started, len(items))
        identity = backend.identity()
        outcomes = []
        for item in items:
            if item.key in failures:
                outcomes.append(failures[item.key])
                continue
            text = next(texts)
            if isinstance(text, ItemError):
                outcomes.append(self.failed(item, f"sample {item.key}: {text}"))
                continue
            names = [o.name for o in item.inputs.sample.objects]
            grounded, missing = ground_caption(text, names, max_words)
            data = CaptionData(text=grounded, raw=text, missing=missing, repaired=bool(missing))
            warnings = (
                [f"sample {item.key}: caption did not name {', '.join(missing)}; repaired"] if missing else []
            )
            record = Record(
                self.name, item.key, DONE, item.fingerprint, item.seed, identity, {}, data.model_dump(mode="json")
            )
            record.seconds = per
            outcomes.append(Outcome(record, warnings))
        return outcomes

    def _pixels(self, relative: str, needed: bool) -> np.ndarray:
        """The image, or a placeholder of its shape when the captioner needs no pixels (header read only)."""
        path = self.run_dir / relative
        if needed:
            return load_image(path).rgb
        try:
            with Image.open(path) as im:
                width, height = im.size
        except (OSError, ValueError) as exc:
            raise ItemError(f"{path}: unreadable image ({exc}); rerun `gen4gen repaint`") from exc
        return np.broadcast_to(np.zeros((1, 1, 3), np.uint8), (height, width, 3))
