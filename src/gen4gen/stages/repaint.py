"""Stage 3: a realistic background around the concepts of each composed sample -> ``images/<id>.png``, and its
small JPEG ``previews/<id>.jpg`` (what the report, the contact sheet and the review grid show)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass

from gen4gen.backends.base import Backend, Inpainter, Placement, RepaintRequest
from gen4gen.errors import ItemError
from gen4gen.io.atomic import atomic_write_bytes
from gen4gen.io.images import encode_preview, load_image, save_png
from gen4gen.manifest import DONE, Record, fingerprint
from gen4gen.manifest.records import ComposeData, RepaintData, read
from gen4gen.sample import load_masks
from gen4gen.seeds import derive_seed
from gen4gen.stages.base import Context, Outcome, Stage, Tally, WorkItem, per_item, timed
from gen4gen.stages.compose import accepted_samples


def placements_of(data: ComposeData) -> list[Placement]:
    """The visible boxes of a sample's objects, as the repainter and captioner see them."""
    return [Placement(o.name, o.bbox, o.depth) for o in data.objects if o.bbox is not None]


@dataclass(frozen=True)
class RepaintInputs:
    sample: ComposeData


class RepaintStage(Stage):
    name = "repaint"
    version = "2"  # 2: previews

    def total(self, ctx: Context) -> int:
        return len(accepted_samples(ctx))

    def plan(self, ctx: Context, tally: Tally) -> Iterator[list[WorkItem]]:
        identity = ctx.backends.get(self.spec).identity()
        wave = []
        for compose in accepted_samples(ctx):
            if not ctx.manifest.intact(compose):
                ctx.reporter.warn(f"sample {compose.key}: its composite or masks are missing or changed")
                tally.skipped("composite missing or changed; rerun `gen4gen compose`")
                continue
            seed = derive_seed(self.config.seed, self.name, compose.key)
            fp = fingerprint(self.version, compose.fingerprint, compose.outputs, identity, seed)
            current = self.is_current(ctx, compose.key, fp)
            if current is not None:
                tally.reused(current)
            else:
                wave.append(WorkItem(compose.key, fp, seed, RepaintInputs(read(ComposeData, compose))))
        yield wave

    def work(self, items: list[WorkItem], backend: Backend) -> list[Outcome]:
        assert isinstance(backend, Inpainter)
        # one sample at a time unless the backend paints batches: memory does not grow with the batch size
        size = len(items) if backend.batches else 1
        chunks = [items[start : start + size] for start in range(0, len(items), size)]
        return [outcome for chunk in chunks for outcome in self._paint(chunk, backend)]

    def _paint(self, items: list[WorkItem], backend: Inpainter) -> list[Outcome]:
        started = time.perf_counter()
        requests, outcomes = [], {}
        for item in items:
            try:
                requests.append((item, self._request(item)))
            except ItemError as exc:
                outcomes[item.key] = self.failed(item, f"sample {item.key}: {exc}")
        results = per_item(backend.repaint_batch, backend.repaint, [r for _, r in requests]) if requests else []
        per = timed(started, len(items))
        identity = backend.identity()
        for (item, _), result in zip(requests, results, strict=True):
            if isinstance(result, ItemError):
                outcomes[item.key] = self.failed(item, f"sample {item.key}: {result}")
                continue
            sample: ComposeData = item.inputs.sample
            path, preview = f"images/{sample.sample_id}.png", f"previews/{sample.sample_id}.jpg"
            outputs = {
                path: save_png(self.run_dir / path, result.image),
                preview: atomic_write_bytes(self.run_dir / preview, encode_preview(result.image)),
            }
            data = RepaintData(image=path, scene=result.scene, info=result.info, preview=preview)
            record = Record(
                self.name,
                item.key,
                DONE,
                item.fingerprint,
                item.seed,
                identity,
                outputs,
                data.model_dump(mode="json"),
            )
            record.seconds = per
            outcomes[item.key] = Outcome(record)
        return [outcomes[item.key] for item in items]

    def _request(self, item: WorkItem) -> RepaintRequest:
        sample: ComposeData = item.inputs.sample
        assert sample.composite is not None
        composite = load_image(self.run_dir / sample.composite).rgb
        height, width = composite.shape[:2]
        return RepaintRequest(
            composite=composite,
            instance_masks=load_masks(self.run_dir, sample.objects, (width, height)),
            placements=placements_of(sample),
            scene=sample.scene,
            seed=int(item.seed or 0),
        )
