"""Calls per accepted sample and seconds per sample of the LLM layout planner, against the fake server.

The fake OpenAI-compatible server answers every request after a fixed latency (200 ms by default). Samples are
planned the way the compose stage does it: ``plan_batch`` on batches of ``--batch`` jobs, four concept sets in
turn. Rows: one request at a time; 8 concurrent under a client-side rate limit; 8 concurrent with no limit; 8
concurrent when a quarter of the first answers are unusable (re-asked); and a rerun answered by the cache.

The seed's pattern — one request at a time plus ``sleep(70)`` after every 20 samples — is not slept through: its
cost is computed from the measured one-at-a-time latency. Target: ≥ 5 samples/s at 200 ms with 8 concurrent.

    python bench/llm_layout.py [-n 48] [--latency 0.2] [--rpm 600] [--batch 8]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import time
from collections import Counter
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table

from gen4gen.backends.base import ConceptRequest, PlanJob
from gen4gen.backends.compose.llm import LLMPlanner, LLMPlannerOptions
from gen4gen.testing.fake_openai import FakeOpenAI

CONCEPT_SETS = [
    [ConceptRequest("cat", 1.1), ConceptRequest("dog", 1.3)],
    [ConceptRequest("teddy bear", 0.8), ConceptRequest("mug", 1.2), ConceptRequest("potted plant", 0.6)],
    [ConceptRequest("dog", 1.3), ConceptRequest("dog", 1.2), ConceptRequest("ball", 1.0)],
    [
        ConceptRequest("vase", 0.5),
        ConceptRequest("book", 1.5),
        ConceptRequest("cat", 1.0),
        ConceptRequest("cup", 1.0),
    ],
]
OBJECT_LINE = re.compile(r"^- (.+) \(width/height ratio [0-9.]+\)$", re.MULTILINE)
SEED_SLEEP_S, SEED_SLEEP_EVERY = 70.0, 20


class DictCache(dict):
    def put(self, key: str, value: str) -> None:
        self[key] = value


def answer(body: dict[str, Any], unusable_every: int = 0) -> str:
    """Side-by-side boxes for the objects asked; every ``unusable_every``-th first answer misses one."""
    text = body["messages"][1]["content"]
    if "How tall" in text:
        return json.dumps({"sizes": dict.fromkeys(re.findall(r"^- (.+)$", text, re.MULTILINE), 1.0)})
    names = [n for n in OBJECT_LINE.findall(text)]
    width = 512 // len(names)
    boxes = [{"name": n, "box": [i * width + 8, 220, width - 16, 220]} for i, n in enumerate(names)]
    first_try = len(body["messages"]) == 2
    if unusable_every and first_try and body.get("seed", 0) % unusable_every == 0:
        boxes = boxes[:-1]
    return json.dumps({"objects": boxes})


def run(
    server: FakeOpenAI, n: int, batch: int, cache: DictCache, **options: Any
) -> tuple[float, int, Counter[str]]:
    """Seconds, requests made and outcomes for ``n`` samples planned in batches like the compose stage."""
    planner = LLMPlanner(LLMPlannerOptions(base_url=server.url, model="fake-model", **options))
    planner.cache = cache
    jobs = [
        PlanJob(CONCEPT_SETS[i % len(CONCEPT_SETS)], (1024, 1024), np.random.default_rng(1000 + i))
        for i in range(n)
    ]
    before = len(server.requests)
    started = time.perf_counter()
    layouts = []
    for start in range(0, n, batch):
        layouts += planner.plan_batch(jobs[start : start + batch])
    seconds = time.perf_counter() - started
    return seconds, len(server.requests) - before, Counter(layout.provenance["outcome"] for layout in layouts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=48, help="samples per configuration")
    parser.add_argument("--latency", type=float, default=0.2, help="fake server latency per request (s)")
    parser.add_argument(
        "--rpm", type=float, default=600, help="client-side requests per minute for the limited row"
    )
    parser.add_argument("--batch", type=int, default=8, help="jobs per plan_batch call (the stage's batch_size)")
    args = parser.parse_args()
    os.environ.pop("OPENAI_API_KEY", None)

    rows: list[tuple[str, float, int, Counter[str]]] = []
    with FakeOpenAI(answer, latency_s=args.latency) as server:
        rows.append(("1 at a time", *run(server, args.n, args.batch, DictCache(), max_concurrency=1)))
        limited = f"8 concurrent, {args.rpm:g} req/min"
        rows.append((limited, *run(server, args.n, args.batch, DictCache(), requests_per_minute=args.rpm)))
        cache = DictCache()
        rows.append(("8 concurrent, no limit", *run(server, args.n, args.batch, cache)))
        rows.append(("rerun from the cache", *run(server, args.n, args.batch, cache)))
    with FakeOpenAI(lambda body: answer(body, unusable_every=4), latency_s=args.latency) as server:
        rows.append(("8 concurrent, 1/4 re-asked", *run(server, args.n, args.batch, DictCache())))

    per_request = rows[0][1] / rows[0][2]
    seed_seconds = args.n * per_request + (args.n - 1) // SEED_SLEEP_EVERY * SEED_SLEEP_S
    table = Table(title=f"LLM layout: {args.n} samples, fake server at {args.latency * 1000:.0f} ms per request")
    for column in ("configuration", "requests", "requests / accepted", "s / sample", "samples / s", "outcomes"):
        table.add_column(column, justify="left" if column in ("configuration", "outcomes") else "right")
    table.add_row(
        f"seed: 1 at a time + sleep({SEED_SLEEP_S:g}) / {SEED_SLEEP_EVERY} (computed)",
        str(args.n),
        "1.00",
        f"{seed_seconds / args.n:.3f}",
        f"{args.n / seed_seconds:.2f}",
        "-",
    )
    for name, seconds, requests, outcomes in rows:
        accepted = args.n - outcomes.get("fallback", 0)
        table.add_row(
            name,
            str(requests),
            f"{requests / max(accepted, 1):.2f}",
            f"{seconds / args.n:.3f}",
            f"{args.n / seconds:.1f}",
            ", ".join(f"{k} {v}" for k, v in sorted(outcomes.items())),
        )
    console = Console(width=150)
    console.print(table)
    console.print(
        "requests include one sizes request per concept set (cached afterwards); the seed's sleeps are "
        f"{(args.n - 1) // SEED_SLEEP_EVERY} x {SEED_SLEEP_S:g} s for {args.n} samples"
    )


if __name__ == "__main__":
    main()
