"""LLM layout planner: any OpenAI-compatible chat model proposes where the concepts go (the paper's step 2).

Per sample, one chat request asks for a box per concept on a template canvas (512² as in the paper, shaped like
the output canvas), with the ``k`` most similar example layouts as few shots and the cut-outs' aspect ratios.
Once per concept set (so cached across samples), a second request asks for real-world relative sizes.

The answer is parsed tolerantly and validated: every concept gets exactly one box, matched by name (plurals and
synonyms through :func:`~gen4gen.priors.canonical_name`; repeated concepts take boxes in
order); boxes must have an area and touch the canvas. Safe repairs (unknown or extra boxes dropped, normalised
coordinates scaled, boxes moved inside the canvas) are recorded; anything else is sent back to the model with the
reason, up to ``reask`` times, after which the offline :class:`PriorPlanner` plans the sample. Endpoint failures
fall back too — ``plan``/``plan_batch`` never raise for them — with one warning per cause.

Sizes: the model's box gives position and overall scale; relative sizes combine the model's size ratios with the
built-in priors in log space (a mug next to a dog keeps looking like a mug next to a dog, unlike the seed's
0.4–1.0 clamp), boxes take the cut-outs' aspect ratios, stand on the model box's bottom centre, and respect the
paper's minimum size. Everything is recorded in ``Layout.provenance``: outcome (``ok``, ``repaired``,
``reasked``, ``fallback``), calls, cache use, reasons, repairs, prompt versions and hashes.
"""

from __future__ import annotations

import json
import logging
import math
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import Field

from gen4gen.backends.base import BackendUnavailable, Layout, LayoutPlanner, PlanJob
from gen4gen.backends.compose.prior import MinSizeDivisors, PriorPlanner
from gen4gen.geometry.boxes import IntBox, int_box_at, intersection, overlap_fraction, shift_inside
from gen4gen.geometry.layout import PAPER_MIN_SIZE_DIVISORS, ConceptRequest, Placement, min_box_area
from gen4gen.llm.client import (
    ChatClient,
    ChatResult,
    EndpointOptions,
    LLMBadResponse,
    LLMError,
    LLMRequestRejected,
    redact_url,
)
from gen4gen.llm.exemplars import ExemplarIndex, builtin_exemplars, coco_exemplars
from gen4gen.llm.parse import ParseError, RawBox, parse_layout, parse_scenes, parse_sizes
from gen4gen.priors import canonical_name, size_prior
from gen4gen.prompts import load_prompt

log = logging.getLogger("gen4gen")

MODEL_ENV = "GEN4GEN_LLM_MODEL"
_FIT = 0.95  # largest box side, as a fraction of the canvas side
_SHRINK, _SHRINK_STEPS = 0.9, 4  # repair of overlaps: shrink the whole set in steps


class LLMPlannerOptions(EndpointOptions):
    reask: int = Field(2, ge=0, le=10, description="Re-asks, with the reason, after an unusable answer.")
    template_canvas: int = Field(
        512, ge=64, le=4096, description="Width (px) of the canvas the model answers on, shaped like the output."
    )
    exemplars: int = Field(4, ge=0, le=50, description="Few-shot example layouts per request (the k nearest).")
    coco_instances: Path | None = Field(
        None, description="COCO instances JSON to draw the examples from; none: the built-in examples."
    )
    coco_captions: Path | None = Field(None, description="COCO captions JSON captioning those examples.")
    ask_sizes: bool = Field(
        True, description="Ask for real-world relative sizes (one cached call per concept set)."
    )
    llm_size_weight: float = Field(
        0.5, ge=0, le=1, description="Weight of the model's relative sizes against the size priors (log space)."
    )
    max_hidden: float = Field(
        0.35, ge=0, le=1, description="Largest share of a box that boxes in front of it may cover."
    )
    min_size_divisors: MinSizeDivisors = Field(
        PAPER_MIN_SIZE_DIVISORS,
        description="The paper's minimum size: area >= (S / d)², S the short side, d for <=3, 4 and >=5 concepts.",
    )


class LayoutProblem(LLMBadResponse):
    """An answer that cannot be used as is; the message is sent back to the model."""


@dataclass
class _Tally:
    """What one sample cost: calls made, answers received, whether all came without a call."""

    calls: int = 0
    answers: int = 0
    cached: bool = True
    notes: list[str] = field(default_factory=list)

    def add(self, result: ChatResult) -> None:
        self.calls += result.calls
        self.answers += 1
        self.cached = self.cached and result.cached


class LLMPlanner(LayoutPlanner):
    """Layouts from an OpenAI-compatible chat model, validated and repaired, with the offline planner as net."""

    name = "llm"
    process_parallel = False  # the endpoint client runs requests concurrently under one rate limit
    version = "1"
    Options = LLMPlannerOptions
    options: LLMPlannerOptions

    def __init__(self, options: LLMPlannerOptions | None = None) -> None:
        super().__init__(options)
        opts = self.options
        try:
            self.client = ChatClient(opts, MODEL_ENV)
        except LLMError as exc:
            raise BackendUnavailable(
                f"compose backend 'llm': {exc} (e.g. --set compose.model=gpt-4o-mini)"
            ) from exc
        for key in ("coco_instances", "coco_captions"):
            path = getattr(opts, key)
            if path is not None and not Path(path).is_file():
                raise BackendUnavailable(f"compose.{key}: no such file {path}")
        if opts.coco_instances is not None:
            try:
                import pycocotools  # noqa: F401
            except ModuleNotFoundError as exc:
                raise BackendUnavailable(
                    "compose.coco_instances needs pycocotools: pip install 'gen4gen[coco]'"
                ) from exc
        self.prompt = load_prompt("layout")
        self.sizes_prompt = load_prompt("sizes")
        self.scenes_prompt = load_prompt("scenes")
        self._fallback = PriorPlanner()
        self._index: ExemplarIndex | None = None
        self._index_lock = threading.Lock()
        self._warned: set[str] = set()
        self._warn_lock = threading.Lock()

    def identity(self) -> dict[str, Any]:
        ident = super().identity()
        if ident["options"].get("base_url"):
            ident["options"]["base_url"] = redact_url(ident["options"]["base_url"])
        ident.update(
            model=self.client.model,
            base_url=self.client.display_url,
            prompts=[p.ref() for p in (self.prompt, self.sizes_prompt, self.scenes_prompt)],
        )
        return ident

    # ------------------------------------------------------------------------------------------------ planning
    def plan(self, concepts: list[ConceptRequest], canvas: tuple[int, int], rng: np.random.Generator) -> Layout:
        return self._plan(concepts, canvas, _draw_seed(rng))

    def plan_batch(self, jobs: list[PlanJob]) -> list[Layout]:
        """All jobs, up to ``max_concurrency`` at once; results in job order, each a function of its job alone."""
        seeds = [_draw_seed(job.rng) for job in jobs]
        if len(jobs) <= 1 or self.options.max_concurrency == 1:
            return [self._plan(job.concepts, job.canvas, seed) for job, seed in zip(jobs, seeds, strict=True)]
        with ThreadPoolExecutor(min(self.options.max_concurrency, len(jobs)), "gen4gen-llm") as pool:
            futures = [
                pool.submit(self._plan, job.concepts, job.canvas, s) for job, s in zip(jobs, seeds, strict=True)
            ]
            return [f.result() for f in futures]

    def suggest_scenes(self, concept_names: list[str], rng: np.random.Generator) -> list[str]:
        """Three background phrases for this set of concepts (one cached call per set); [] when unavailable."""
        names = sorted(set(concept_names))
        if not names:
            return []
        schema = {
            "type": "object",
            "properties": {"scenes": {"type": "array", "items": {"type": "string"}, "minItems": 3, "maxItems": 3}},
            "required": ["scenes"],
            "additionalProperties": False,
        }
        messages = self.scenes_prompt.messages(objects=", ".join(names))
        try:
            result = self.client.chat(messages, cache=self.cache, json_schema=schema, schema_name="scenes")
            return parse_scenes(result.content, limit=3)
        except (LLMError, ParseError) as exc:
            self._warn(type(exc).__name__ + ":scenes", f"compose: no scene suggestions from the model ({exc})")
            return []

    def _plan(self, concepts: list[ConceptRequest], canvas: tuple[int, int], seed: int) -> Layout:
        tally = _Tally()
        prompts: dict[str, Any] = {"prompt": self.prompt.ref()}
        if not concepts:
            return Layout([], provenance=self._provenance("ok", tally, None, prompts))
        template = _template_canvas(canvas, self.options.template_canvas)
        try:
            sizes, size_info = self._relative_sizes(concepts, tally, prompts)
            examples = self._examples([c.name for c in concepts])
        except LLMError as exc:
            return self._fall_back(concepts, canvas, seed, tally, prompts, str(exc), type(exc).__name__)
        prompts["examples"] = [e.id for e in examples]
        messages = self.prompt.messages(
            width=template[0],
            height=template[1],
            count=len(concepts),
            objects="\n".join(f"- {c.name} (width/height ratio {c.aspect:.2f})" for c in concepts),
            examples=_render_examples(examples, template),
        )
        schema = _layout_schema(concepts)
        reason = None
        for attempt in range(self.options.reask + 1):
            try:
                result = self.client.chat(
                    messages, cache=self.cache, json_schema=schema, schema_name="layout", seed=seed
                )
            except LLMError as exc:
                return self._fall_back(concepts, canvas, seed, tally, prompts, str(exc), type(exc).__name__)
            tally.add(result)
            repairs: list[str] = []
            try:
                raw = parse_layout(result.content)
                placements, notes = self._fit(raw, concepts, canvas, template, sizes, repairs)
            except (ParseError, LayoutProblem) as exc:
                reason = str(exc)
                messages = [
                    *messages,
                    {"role": "assistant", "content": result.content},
                    {"role": "user", "content": self.prompt.render("reask", reason=reason, count=len(concepts))},
                ]
                continue
            outcome = "reasked" if attempt else "repaired" if repairs else "ok"
            provenance = self._provenance(outcome, tally, reason, prompts)
            provenance.update(repairs=repairs, sizes=size_info)
            return Layout(placements, notes=[*tally.notes, *repairs, *notes], provenance=provenance)
        return self._fall_back(
            concepts,
            canvas,
            seed,
            tally,
            prompts,
            f"no usable layout after {self.options.reask + 1} answers: {reason}",
            "invalid",
        )

    def _fall_back(
        self,
        concepts: list[ConceptRequest],
        canvas: tuple[int, int],
        seed: int,
        tally: _Tally,
        prompts: dict[str, Any],
        reason: str,
        cause: str,
    ) -> Layout:
        self._warn(cause, f"compose: llm layout fell back to the prior planner: {reason}")
        layout = self._fallback.plan(concepts, canvas, np.random.default_rng(seed))
        layout.provenance = {
            **layout.provenance,
            **self._provenance("fallback", tally, reason, prompts),
            "fallback": self._fallback.name,
        }
        layout.notes = [f"llm layout unusable, planned offline: {reason}", *layout.notes]
        return layout

    def _provenance(
        self, outcome: str, tally: _Tally, reason: str | None, prompts: dict[str, Any]
    ) -> dict[str, Any]:
        return {
            "planner": self.name,
            "outcome": outcome,
            "calls": tally.calls,
            "answers": tally.answers,
            "cached": tally.cached and tally.answers > 0,
            "reason": reason,
            "model": self.client.model,
            **prompts,
        }

    def _warn(self, cause: str, message: str) -> None:
        with self._warn_lock:
            if cause in self._warned:
                return
            self._warned.add(cause)
        log.warning("%s", message)

    # ------------------------------------------------------------------------------------------------ sizes
    def _relative_sizes(
        self, concepts: list[ConceptRequest], tally: _Tally, prompts: dict[str, Any]
    ) -> tuple[list[float], list[dict[str, Any]]]:
        """Relative real-world heights (largest = 1), the model's ratios and the priors combined in log space."""
        priors = [size_prior(c.name) for c in concepts]
        metres = [p.height_for_aspect(c.aspect) for p, c in zip(priors, concepts, strict=True)]
        asked = self._ask_sizes(concepts, tally, prompts) if self.options.ask_sizes else {}
        said = [asked.get(canonical_name(c.name)) for c in concepts]
        # the model's ratios are unitless: align them to metres on the concepts with a known prior (median)
        offsets = [math.log(m / s) for m, s, p in zip(metres, said, priors, strict=True) if s and p.known]
        offsets = offsets or [math.log(m / s) for m, s in zip(metres, said, strict=True) if s]
        offset = float(np.median(offsets)) if offsets else 0.0
        logs = []
        for m, s, p in zip(metres, said, priors, strict=True):
            weight = 0.0 if not s else self.options.llm_size_weight if p.known else 0.9
            logs.append(weight * (math.log(s) + offset if s else 0.0) + (1 - weight) * math.log(m))
        top = max(logs)
        relative = [math.exp(v - top) for v in logs]
        info = [
            {"name": c.name, "relative": round(r, 4), "prior_m": p.height_m, "prior_known": p.known, "llm": s}
            for c, r, p, s in zip(concepts, relative, priors, said, strict=True)
        ]
        return relative, info

    def _ask_sizes(
        self, concepts: list[ConceptRequest], tally: _Tally, prompts: dict[str, Any]
    ) -> dict[str, float]:
        """The model's relative sizes by canonical name ({} when unusable); raises LLMUnavailable."""
        names = sorted({c.name for c in concepts})
        schema = {
            "type": "object",
            "properties": {
                "sizes": {
                    "type": "object",
                    "properties": {n: {"type": "number"} for n in names},
                    "required": names,
                    "additionalProperties": False,
                }
            },
            "required": ["sizes"],
            "additionalProperties": False,
        }
        prompts["sizes_prompt"] = self.sizes_prompt.ref()
        messages = self.sizes_prompt.messages(objects="\n".join(f"- {n}" for n in names))
        try:
            result = self.client.chat(
                messages, cache=self.cache, json_schema=schema, schema_name="sizes", temperature=0
            )
        except (LLMRequestRejected, LLMBadResponse) as exc:  # the layout may still work; unavailable propagates
            tally.notes.append(f"sizes request failed ({exc}); size priors only")
            return {}
        tally.add(result)
        try:
            answer = parse_sizes(result.content)
        except ParseError as exc:
            tally.notes.append(f"sizes answer unusable ({exc}); size priors only")
            return {}
        return {canonical_name(k): v for k, v in answer.items()}

    # ------------------------------------------------------------------------------------------------ examples
    def _examples(self, names: list[str]) -> list[Any]:
        if self.options.exemplars == 0:
            return []
        with self._index_lock:
            if self._index is None:
                opts = self.options
                self._index = (
                    coco_exemplars(opts.coco_instances, opts.coco_captions)
                    if opts.coco_instances is not None
                    else builtin_exemplars()
                )
        return self._index.nearest(names, self.options.exemplars)

    # ------------------------------------------------------------------------------------------------ validation
    def _fit(
        self,
        raw: list[RawBox],
        concepts: list[ConceptRequest],
        canvas: tuple[int, int],
        template: tuple[int, int],
        relative: list[float],
        repairs: list[str],
    ) -> tuple[list[Placement], list[str]]:
        """Placements from the model's boxes, or LayoutProblem saying what is wrong with them."""
        tw, th = template
        if all(0 <= v <= 1 for b in raw for v in (b.x, b.y, b.w, b.h)):
            raw = [RawBox(b.name, b.x * tw, b.y * th, b.w * tw, b.h * th) for b in raw]
            repairs.append("coordinates given as fractions of the canvas; scaled")
        matched = _match(raw, concepts, repairs)
        boxes = []
        moved = []
        for concept, box in zip(concepts, matched, strict=True):
            if box.w < 1 or box.h < 1:
                raise LayoutProblem(f"the box of {box.name!r} has no area (w={box.w:g}, h={box.h:g})")
            xyxy = (box.x, box.y, box.x + box.w, box.y + box.h)
            if intersection(xyxy, (0, 0, tw, th)) <= 0:
                raise LayoutProblem(
                    f"the box of {box.name!r} {[round(v) for v in (box.x, box.y, box.w, box.h)]} lies outside "
                    f"the {tw}x{th} canvas"
                )
            inside = shift_inside(xyxy, template)
            if max(abs(a - b) for a, b in zip(inside, xyxy, strict=True)) > 0.5:
                moved.append(concept.name)
            sx, sy = canvas[0] / tw, canvas[1] / th
            boxes.append((inside[0] * sx, inside[1] * sy, inside[2] * sx, inside[3] * sy))
        if moved:
            repairs.append(f"moved inside the canvas: {', '.join(moved)}")
        return self._resize(boxes, concepts, canvas, relative, repairs)

    def _resize(
        self,
        boxes: list[tuple[float, float, float, float]],
        concepts: list[ConceptRequest],
        canvas: tuple[int, int],
        relative: list[float],
        repairs: list[str],
    ) -> tuple[list[Placement], list[str]]:
        """Boxes with the cut-outs' aspects and the combined relative sizes, on the model boxes' bottom centres.

        One scale for the whole set (pixels per unit of relative height) makes each box, on average, the largest
        one of its aspect that fits in the model's box; the paper's minimum size may raise it, the canvas lower
        it. Where the result hides an object too much, the set shrinks in steps (a repair) before giving up.
        """
        width, height = canvas
        n = len(concepts)
        aspect = np.array([c.aspect if c.aspect > 0 and math.isfinite(c.aspect) else 1.0 for c in concepts])
        rel = np.array(relative)
        inscribed = np.array([min(b[3] - b[1], (b[2] - b[0]) / a) for b, a in zip(boxes, aspect, strict=True)])
        scale = float(np.exp(np.mean(np.log(inscribed / rel))))
        max_h = np.minimum(_FIT * height, _FIT * width / aspect)
        min_area = min_box_area(n, min(width, height), self.options.min_size_divisors)
        min_h = np.minimum(np.sqrt(min_area / aspect), max_h)
        scale = max(scale, float(np.max(min_h / rel)))
        scale = min(scale, float(np.min(max_h / rel)))
        problem = ""
        for step in range(_SHRINK_STEPS + 1):
            factor = _SHRINK**step
            heights = np.clip(scale * factor * rel, min_h, max_h)
            ints = []
            for box, h, a in zip(boxes, heights, aspect, strict=True):
                cx, bottom, w = (box[0] + box[2]) / 2, box[3], h * a
                x0, y0, x1, y1 = shift_inside((cx - w / 2, bottom - h, cx + w / 2, bottom), canvas)
                ints.append(int_box_at((x0 + x1) / 2, y1, y1 - y0, a, canvas, anchor="center"))
            depth = _depth_order(ints)
            problem = self._hidden_problem(ints, depth, concepts)
            if not problem:
                break
        if problem:
            raise LayoutProblem(problem)
        if step:
            repairs.append(f"shrunk x{factor:.2f} so that no object hides another too much")
        notes = [
            f"{c.name!r} enlarged x{h / (scale * factor * r):.2f} beyond its relative size (minimum size)"
            for c, h, r in zip(concepts, heights, rel, strict=True)
            if h > scale * factor * r * 1.03
        ]
        placements = [Placement(c.name, ints[i], depth[i]) for i, c in enumerate(concepts)]
        return placements, notes

    def _hidden_problem(self, boxes: list[IntBox], depth: list[int], concepts: list[ConceptRequest]) -> str:
        """Why one box is covered too much by boxes drawn in front of it, or ''."""
        far_to_near = sorted(range(len(boxes)), key=lambda i: depth[i])
        for pos, i in enumerate(far_to_near):
            area = (boxes[i][2] - boxes[i][0]) * (boxes[i][3] - boxes[i][1])
            for j in far_to_near[pos + 1 :]:
                hidden = intersection(boxes[i], boxes[j]) / area
                if hidden > self.options.max_hidden:
                    return (
                        f"{concepts[j].name!r} would hide {hidden:.0%} of {concepts[i].name!r}; "
                        f"keep overlaps under {self.options.max_hidden:.0%}"
                    )
        return ""


def _draw_seed(rng: np.random.Generator) -> int:
    """The sample's request seed: exactly one draw from its generator, whatever the outcome."""
    return int(rng.integers(0, 2**31 - 1))


def _template_canvas(canvas: tuple[int, int], side: int) -> tuple[int, int]:
    """The canvas the model answers on: ``side`` pixels wide, shaped like the output canvas."""
    return side, max(1, round(side * canvas[1] / canvas[0]))


def _render_examples(examples: list[Any], template: tuple[int, int]) -> str:
    if not examples:
        return ""
    lines = ["", "Examples of good layouts on the same canvas:"]
    for example in examples:
        lines.append(f"Photo: {example.caption}")
        lines.append(json.dumps(example.rescaled(template)))
    return "\n".join(lines) + "\n"


def _layout_schema(concepts: list[ConceptRequest]) -> dict[str, Any]:
    names = sorted({c.name for c in concepts})
    item = {
        "type": "object",
        "properties": {
            "name": {"type": "string", "enum": names},
            "box": {"type": "array", "items": {"type": "number"}, "minItems": 4, "maxItems": 4},
        },
        "required": ["name", "box"],
        "additionalProperties": False,
    }
    n = len(concepts)
    return {
        "type": "object",
        "properties": {"objects": {"type": "array", "items": item, "minItems": n, "maxItems": n}},
        "required": ["objects"],
        "additionalProperties": False,
    }


def _match(raw: list[RawBox], concepts: list[ConceptRequest], repairs: list[str]) -> list[RawBox]:
    """One box per concept, by name: exact, then canonical (plurals, synonyms), then sharing a word."""
    chosen: list[RawBox | None] = [None] * len(concepts)
    free = list(range(len(raw)))
    keys = [
        (lambda name: name.strip().lower()),
        canonical_name,
        lambda name: frozenset(canonical_name(name).split()),
    ]
    for key in keys:
        for i, concept in enumerate(concepts):
            if chosen[i] is not None:
                continue
            want = key(concept.name)
            for j in free:
                got = key(raw[j].name)
                if got == want or (isinstance(want, frozenset) and want & got):
                    chosen[i] = raw[j]
                    free.remove(j)
                    break
    missing = [c.name for c, b in zip(concepts, chosen, strict=True) if b is None]
    if missing:
        extra = [raw[j].name for j in free]
        raise LayoutProblem(
            f"{len(raw)} boxes for {len(concepts)} objects; no box for {', '.join(missing)}"
            + (f" (unexpected names: {', '.join(extra)})" if extra else "")
        )
    if free:
        repairs.append(f"ignored boxes for unlisted or extra objects: {', '.join(raw[j].name for j in free)}")
    return [b for b in chosen if b is not None]


def _depth_order(boxes: list[IntBox]) -> list[int]:
    """Depth per box (0 = farthest, drawn first): a higher bottom edge is farther, as on a ground plane, but a box
    mostly inside a larger one is in front of it (a cat on a sofa)."""
    n = len(boxes)
    area = [(b[2] - b[0]) * (b[3] - b[1]) for b in boxes]
    key = [float(b[3]) for b in boxes]
    for i in sorted(range(n), key=lambda i: (-area[i], i)):
        for j in range(n):
            if area[j] > area[i] and overlap_fraction(boxes[i], boxes[j]) > 0.5:
                key[i] = max(key[i], key[j] + 0.5)
    order = sorted(range(n), key=lambda i: (key[i], i))
    depth = [0] * n
    for rank, i in enumerate(order):
        depth[i] = rank
    return depth
