"""The LLM layout planner against the fake OpenAI-compatible server: answers good and bad, failures, the cache."""

from __future__ import annotations

import json
import logging
import re
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pydantic import BaseModel, ValidationError

from gen4gen.backends import build_backend
from gen4gen.backends.base import BackendUnavailable, ConceptRequest, Layout, PlanJob
from gen4gen.backends.compose.llm import LLMPlanner, LLMPlannerOptions
from gen4gen.backends.compose.prior import PriorPlannerOptions
from gen4gen.llm.client import EndpointOptions
from gen4gen.testing.fake_openai import FakeOpenAI, Reply
from gen4gen.testing.memory_cache import MemoryCache

SECRET = "sk-test-do-not-leak-0987654321"
CANVAS = (1024, 1024)
CAT_MUG = [ConceptRequest("cat", 1.0), ConceptRequest("mug", 1.25)]


@pytest.fixture(autouse=True)
def _env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    monkeypatch.delenv("GEN4GEN_LLM_MODEL", raising=False)


def layout_json(*objects: tuple[str, list[float]]) -> str:
    return json.dumps({"objects": [{"name": n, "box": b} for n, b in objects]})


GOOD = layout_json(("cat", [40, 250, 200, 200]), ("mug", [300, 380, 100, 80]))


def kind(body: dict[str, Any]) -> str:
    first = body["messages"][1]["content"]
    return "sizes" if "How tall" in first else "scenes" if "three different places" in first else "layout"


def routed(layouts: list[Reply | str] | Callable[[dict[str, Any]], Reply | str], sizes: str | Reply = "") -> Any:
    """A server script: layout requests get the next of ``layouts`` (the last repeats), sizes get ``sizes``."""
    queue = list(layouts) if isinstance(layouts, list) else None

    def script(body: dict[str, Any]) -> Reply | str:
        what = kind(body)
        if what == "sizes":
            return sizes or json.dumps({"sizes": {"cat": 1.0, "mug": 0.3}})
        if what == "scenes":
            return '{"scenes": ["in the garden", "on a kitchen table", "in a living room"]}'
        if queue is None:
            return layouts(body)  # type: ignore[operator]
        return queue.pop(0) if len(queue) > 1 else queue[0]

    return script


def planner(server: FakeOpenAI, cache: MemoryCache | None = None, **options: Any) -> LLMPlanner:
    settings: dict[str, Any] = {
        "base_url": server.url,
        "model": "fake-model",
        "retry_backoff_s": 0.001,
        "unavailable_cooldown_s": 0.0,
        "timeout_s": 2.0,
    }
    settings.update(options)
    built = LLMPlanner(LLMPlannerOptions(**settings))
    built.cache = cache if cache is not None else MemoryCache()
    return built


def plan(p: LLMPlanner, concepts: list[ConceptRequest] = CAT_MUG, seed: int = 0) -> Layout:
    return p.plan(concepts, CANVAS, np.random.default_rng(seed))


def assert_sane(layout: Layout, concepts: list[ConceptRequest], canvas: tuple[int, int] = CANVAS) -> None:
    assert [p.name for p in layout.placements] == [c.name for c in concepts]
    assert sorted(p.depth for p in layout.placements) == list(range(len(concepts)))
    for placement, concept in zip(layout.placements, concepts, strict=True):
        x0, y0, x1, y1 = placement.bbox
        assert 0 <= x0 < x1 <= canvas[0] and 0 <= y0 < y1 <= canvas[1]
        assert (x1 - x0) / (y1 - y0) == pytest.approx(concept.aspect, rel=0.02)


def layout_requests(server: FakeOpenAI) -> list[dict[str, Any]]:
    return [r.body for r in server.chat_requests if kind(r.body) == "layout"]


# ------------------------------------------------------------------------------------------------ answers
@pytest.mark.parametrize(
    "answer",
    [
        GOOD,
        f"```json\n{GOOD}\n```",
        f"Here is a balanced layout for your photo:\n{GOOD}\nThe mug stands to the right of the cat.",
        "Objects: [('a cat', [40, 250, 200, 200]), ('a mug', [300, 380, 100, 80])]\nBackground prompt: a kitchen",
        layout_json(("Cats", [40, 250, 200, 200]), ("coffee mug", [300, 380, 100, 80])),  # plural, longer name
    ],
    ids=["json", "fenced", "prose", "seed-tuples", "plural-synonym"],
)
def test_usable_answers_make_the_layout(answer: str) -> None:
    with FakeOpenAI(routed([answer])) as server:
        layout = plan(planner(server))
    assert_sane(layout, CAT_MUG)
    prov = layout.provenance
    assert prov["outcome"] == "ok" and prov["calls"] == 2 and prov["answers"] == 2 and not prov["cached"]
    assert prov["prompt"]["name"] == "layout" and len(prov["prompt"]["sha256"]) == 64 and prov["prompt"]["version"]
    assert prov["sizes_prompt"]["name"] == "sizes"
    cat, mug = layout.placements
    assert cat.bbox[0] < mug.bbox[0]  # the model's arrangement is kept: cat on the left


def test_the_request_carries_the_template_canvas_aspects_examples_and_schema() -> None:
    with FakeOpenAI(routed([GOOD])) as server:
        plan(planner(server, exemplars=2))
    (body,) = layout_requests(server)
    text = body["messages"][1]["content"]
    assert "512 pixels wide and 512 pixels tall" in text
    assert "- cat (width/height ratio 1.00)" in text and "- mug (width/height ratio 1.25)" in text
    examples = text.split("Photo:")[1:]
    assert len(examples) == 2 and all('"cat"' in e or '"mug"' in e for e in examples)  # the nearest ones
    schema = body["response_format"]["json_schema"]["schema"]
    assert schema["properties"]["objects"]["minItems"] == 2
    assert isinstance(body["seed"], int) and body["temperature"] == 0.7


def test_template_boxes_are_rescaled_to_a_non_square_canvas() -> None:
    answer = layout_json(("cat", [0, 100, 256, 156]), ("mug", [300, 150, 80, 100]))
    with FakeOpenAI(routed([answer])) as server:
        layout = planner(server).plan(CAT_MUG, (2048, 1024), np.random.default_rng(0))
    text = layout_requests(server)[0]["messages"][1]["content"]
    assert "512 pixels wide and 256 pixels tall" in text
    assert_sane(layout, CAT_MUG, (2048, 1024))
    assert layout.placements[1].bbox[0] > 1024  # the mug's centre (340/512) stays right of the middle


def test_sizes_follow_real_world_ratios_not_a_clamp() -> None:
    dog_mug = [ConceptRequest("dog", 1.4), ConceptRequest("mug", 1.0)]
    answer = layout_json(("dog", [40, 150, 300, 300]), ("mug", [360, 300, 150, 150]))  # the model's mug is too big
    with FakeOpenAI(routed([answer], sizes='{"sizes": {"dog": 1.0, "mug": 0.15}}')) as server:
        layout = plan(planner(server), dog_mug)
    assert_sane(layout, dog_mug)
    dog, mug = (p.bbox[3] - p.bbox[1] for p in layout.placements)
    assert mug / dog < 0.4  # the seed clamped every object to 0.4-1.0 of the largest
    sizes = {s["name"]: s for s in layout.provenance["sizes"]}
    assert sizes["mug"]["llm"] == 0.15 and sizes["mug"]["prior_known"] and sizes["dog"]["relative"] == 1.0


def test_repeated_concepts_get_one_box_each() -> None:
    dogs = [ConceptRequest("dog", 1.2), ConceptRequest("dog", 1.2), ConceptRequest("cat", 1.0)]
    answer = layout_json(
        ("dog", [10, 250, 160, 150]), ("cat", [200, 300, 100, 100]), ("dog 2", [330, 250, 160, 150])
    )
    with FakeOpenAI(routed([answer], sizes='{"sizes": {"dog": 1, "cat": 0.6}}')) as server:
        layout = plan(planner(server), dogs)
    assert_sane(layout, dogs)
    assert layout.provenance["outcome"] == "ok"
    first, second, _ = layout.placements
    assert first.bbox[0] < second.bbox[0]


# ------------------------------------------------------------------------------------------------ repairs
def test_unknown_extra_boxes_are_dropped_as_a_repair() -> None:
    answer = layout_json(("cat", [40, 250, 200, 200]), ("tree", [0, 0, 100, 400]), ("mug", [300, 380, 100, 80]))
    with FakeOpenAI(routed([answer])) as server:
        layout = plan(planner(server))
    assert_sane(layout, CAT_MUG)
    assert layout.provenance["outcome"] == "repaired" and "tree" in layout.provenance["repairs"][0]


def test_boxes_partly_outside_are_moved_in() -> None:
    answer = layout_json(("cat", [-60, 250, 200, 200]), ("mug", [450, 470, 100, 80]))
    with FakeOpenAI(routed([answer])) as server:
        layout = plan(planner(server))
    assert_sane(layout, CAT_MUG)
    assert layout.provenance["outcome"] == "repaired" and "moved inside" in layout.provenance["repairs"][0]


def test_fractional_coordinates_are_scaled() -> None:
    answer = layout_json(("cat", [0.1, 0.45, 0.4, 0.4]), ("mug", [0.6, 0.7, 0.2, 0.16]))
    with FakeOpenAI(routed([answer])) as server:
        layout = plan(planner(server))
    assert_sane(layout, CAT_MUG)
    assert layout.provenance["outcome"] == "repaired"


# ------------------------------------------------------------------------------------------------ re-asks
@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        (layout_json(("cat", [40, 250, 200, 200])), r"1 boxes for 2 objects; no box for mug"),
        (layout_json(("cat", [40, 250, 200, 200]), ("lamp", [300, 380, 100, 80])), r"unexpected names: lamp"),
        (layout_json(("cat", [40, 250, 200, 200]), ("mug", [900, 900, 100, 80])), r"outside the 512x512 canvas"),
        (layout_json(("cat", [40, 250, 200, 200]), ("mug", [300, 380, 0, 80])), r"no area"),
        ("{'objects': [cat: (40, 250, 200, 200), mug: (300, 380, 100, 80)]}", r"no named boxes"),
        ("", r"empty"),
    ],
    ids=["wrong-count", "unknown-name", "out-of-canvas", "degenerate", "invalid-json", "empty"],
)
def test_unusable_answers_are_reasked_with_the_reason(bad: str, reason: str) -> None:
    with FakeOpenAI(routed([bad, GOOD])) as server:
        layout = plan(planner(server))
    assert_sane(layout, CAT_MUG)
    prov = layout.provenance
    assert prov["outcome"] == "reasked" and prov["calls"] == 3 and re.search(reason, prov["reason"])
    second = layout_requests(server)[1]["messages"]
    assert second[-2] == {"role": "assistant", "content": bad}
    assert re.search(reason, second[-1]["content"])


def test_overlapping_boxes_are_reasked() -> None:
    two_cats = [ConceptRequest("cat", 1.0), ConceptRequest("cat", 1.0)]
    stacked = layout_json(("cat", [100, 200, 250, 250]), ("cat", [110, 210, 250, 250]))
    apart = layout_json(("cat", [10, 250, 220, 220]), ("cat", [270, 250, 220, 220]))
    with FakeOpenAI(routed([stacked, apart], sizes='{"sizes": {"cat": 1.0}}')) as server:
        layout = plan(planner(server), two_cats)
    assert_sane(layout, two_cats)
    assert layout.provenance["outcome"] == "reasked" and "would hide" in layout.provenance["reason"]


def test_after_the_reasks_the_offline_planner_takes_over(caplog: pytest.LogCaptureFixture) -> None:
    bad = layout_json(("cat", [40, 250, 200, 200]))
    with caplog.at_level(logging.WARNING, "gen4gen"), FakeOpenAI(routed([bad])) as server:
        p = planner(server, reask=2)
        layouts = [plan(p, seed=s) for s in range(3)]
    for layout in layouts:
        assert_sane(layout, CAT_MUG)
        prov = layout.provenance
        assert prov["outcome"] == "fallback" and prov["fallback"] == "prior" and prov["answers"] == 4
        assert "no usable layout after 3 answers" in prov["reason"]
    assert len(layout_requests(server)) == 9  # three samples, three answers each (sizes cached after the first)
    assert len([r for r in caplog.records if "fell back" in r.getMessage()]) == 1  # one warning per cause


def test_fallback_is_the_prior_planners_layout_for_the_same_seed() -> None:
    from gen4gen.backends.compose.prior import PriorPlanner

    with FakeOpenAI(routed([""])) as server:
        layout = plan(planner(server, reask=0), seed=5)
        seed = layout_requests(server)[0]["seed"]
    expected = PriorPlanner().plan(CAT_MUG, CANVAS, np.random.default_rng(seed))
    assert layout.placements == expected.placements


# ------------------------------------------------------------------------------------------------ endpoint
def test_429_with_retry_after_then_success() -> None:
    with FakeOpenAI(routed([Reply.rate_limited(0.02), GOOD])) as server:
        layout = plan(planner(server))
    assert layout.provenance["outcome"] == "ok" and layout.provenance["calls"] == 3


def test_500s_fall_back_without_raising(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, "gen4gen"), FakeOpenAI(default=Reply.error(500, "overloaded")) as server:
        p = planner(server, max_retries=2, unavailable_cooldown_s=30)
        layouts = [plan(p, seed=s) for s in range(3)]
        layouts += p.plan_batch([PlanJob(CAT_MUG, CANVAS, np.random.default_rng(s)) for s in range(4)])
    for layout in layouts:
        assert_sane(layout, CAT_MUG)
        assert layout.provenance["outcome"] == "fallback" and "HTTP 500" in layout.provenance["reason"]
    assert len(server.requests) == 3  # the first sample tried three times; the others knew the endpoint was down
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "overloaded" in warnings[0] and SECRET not in warnings[0]


def test_a_hang_past_the_timeout_falls_back() -> None:
    with FakeOpenAI(routed([Reply.hang(5.0)])) as server:
        layout = plan(planner(server, timeout_s=0.3, max_retries=1))
    assert layout.provenance["outcome"] == "fallback" and "no answer within 0.3 s" in layout.provenance["reason"]
    assert len(layout_requests(server)) == 2


def test_an_unreachable_endpoint_falls_back() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    p = LLMPlanner(LLMPlannerOptions(base_url=f"http://127.0.0.1:{port}/v1", model="m", max_retries=1))
    p.options.__dict__["retry_backoff_s"] = 0.001  # keep the test fast (options are frozen)
    layout = plan(p)
    assert_sane(layout, CAT_MUG)
    assert layout.provenance["outcome"] == "fallback" and "cannot reach" in layout.provenance["reason"]
    assert p.suggest_scenes(["cat", "mug"], np.random.default_rng(0)) == []


def test_a_server_without_json_schema_still_works() -> None:
    with FakeOpenAI(routed([GOOD]), json_schema=False) as server:
        p = planner(server)
        assert plan(p).provenance["outcome"] == "ok"
        assert plan(p, seed=1).provenance["outcome"] == "ok"
    formats = [r.body["response_format"]["type"] for r in server.chat_requests]
    assert formats == ["json_schema", "json_object", "json_object", "json_object"]


# ------------------------------------------------------------------------------------------------ cache & batch
def answer_by_seed(body: dict[str, Any]) -> str:
    """Deterministic layouts that differ per request seed."""
    shift = body["seed"] % 100
    return layout_json(("cat", [20 + shift, 250, 200, 200]), ("mug", [330 + shift // 2, 380, 100, 80]))


def test_the_cache_makes_a_rerun_call_nothing_and_give_the_same_layouts() -> None:
    cache = MemoryCache()
    jobs = lambda: [PlanJob(CAT_MUG, CANVAS, np.random.default_rng(s)) for s in range(6)]  # noqa: E731
    with FakeOpenAI(routed(answer_by_seed)) as server:
        first = planner(server, cache).plan_batch(jobs())
        calls = len(server.requests)
        again = planner(server, cache).plan_batch(jobs())
        scenes = planner(server, cache).suggest_scenes(["mug", "cat"], np.random.default_rng(0))
        scenes_again = planner(server, cache).suggest_scenes(["cat", "mug"], np.random.default_rng(1))
    assert calls == 7  # one sizes request for the concept set, one layout per sample
    assert len(server.requests) == calls + 1  # the rerun cost nothing; scenes asked once
    assert [a.placements for a in first] == [b.placements for b in again]
    assert all(a.provenance["cached"] and a.provenance["calls"] == 0 for a in again)
    assert scenes == scenes_again == ["in the garden", "on a kitchen table", "in a living room"]


def test_plan_batch_is_concurrent_but_ordered_and_deterministic() -> None:
    jobs = lambda: [PlanJob(CAT_MUG, CANVAS, np.random.default_rng(s)) for s in range(8)]  # noqa: E731
    with FakeOpenAI(routed(answer_by_seed), latency_s=0.02) as server:
        batch = planner(server, max_concurrency=8).plan_batch(jobs())
        sequential = planner(server, max_concurrency=1)
        one_by_one = [plan(sequential, seed=s) for s in range(8)]
    assert [a.placements for a in batch] == [b.placements for b in one_by_one]
    assert len({a.placements[0].bbox for a in batch}) > 1  # samples differ


def test_the_stage_rng_advances_the_same_whatever_the_outcome() -> None:
    with FakeOpenAI(routed([GOOD])) as good, FakeOpenAI(routed([""])) as bad:
        rngs = [np.random.default_rng(3), np.random.default_rng(3)]
        planner(good).plan(CAT_MUG, CANVAS, rngs[0])
        planner(bad, reask=0).plan(CAT_MUG, CANVAS, rngs[1])
    assert rngs[0].random() == rngs[1].random()


# ------------------------------------------------------------------------------------------------ setup & secrets
def test_coco_exemplars_are_retrieved_and_rescaled(tmp_path: Path) -> None:
    cats = [{"id": 1, "name": "cat"}, {"id": 2, "name": "cup"}, {"id": 3, "name": "car"}]
    images = [
        {"id": 10, "width": 1000, "height": 500, "file_name": "a.jpg"},
        {"id": 11, "width": 640, "height": 480},
    ]
    anns = [
        {"id": 1, "image_id": 10, "category_id": 1, "bbox": [500, 250, 100, 50], "area": 5000, "iscrowd": 0},
        {"id": 2, "image_id": 11, "category_id": 3, "bbox": [10, 10, 300, 200], "area": 60000, "iscrowd": 0},
    ]
    instances, captions = tmp_path / "instances.json", tmp_path / "captions.json"
    instances.write_text(json.dumps({"images": images, "annotations": anns, "categories": cats}))
    caps = [{"id": 1, "image_id": 10, "caption": "A cat sleeping on a sofa."}]
    captions.write_text(json.dumps({"images": images, "annotations": caps}))
    with FakeOpenAI(routed([GOOD])) as server:
        plan(planner(server, exemplars=1, coco_instances=instances, coco_captions=captions))
    text = layout_requests(server)[0]["messages"][1]["content"]
    assert "Photo: A cat sleeping on a sofa." in text
    assert '{"objects": [{"name": "cat", "box": [256, 256, 51, 51]}]}' in text


def test_configuration_errors_are_clear() -> None:
    with pytest.raises(BackendUnavailable, match="GEN4GEN_LLM_MODEL"):
        LLMPlanner(LLMPlannerOptions())
    with pytest.raises(BackendUnavailable, match="no such file"):
        LLMPlanner(LLMPlannerOptions(model="m", coco_instances=Path("/nonexistent/instances.json")))
    with pytest.raises(Exception, match="api_key"):
        build_backend("compose", "llm", {"model": "m", "api_key": SECRET})  # a key is never configuration


def test_the_key_never_appears_in_anything_recorded(caplog: pytest.LogCaptureFixture) -> None:
    cache = MemoryCache()
    with caplog.at_level(logging.DEBUG), FakeOpenAI(routed([Reply.error(401, f"bad key {SECRET}")])) as server:
        p = planner(server, cache)
        layout = plan(p)
        recorded = json.dumps([layout.provenance, layout.notes, p.identity(), cache.data], default=str)
    assert all(r.headers.get("Authorization") == f"Bearer {SECRET}" for r in server.requests)  # it was sent...
    assert SECRET not in recorded and SECRET not in caplog.text  # ...and never written anywhere
    assert layout.provenance["outcome"] == "fallback" and "OPENAI_API_KEY" in layout.provenance["reason"]


@pytest.mark.parametrize("options", [LLMPlannerOptions, PriorPlannerOptions, EndpointOptions])
def test_every_option_is_described_and_bounded(options: type[BaseModel]) -> None:
    for key, info in options.model_fields.items():
        assert info.description, f"{options.__name__}.{key} has no description"
        if info.annotation in (int, float, int | None, float | None):
            assert any(hasattr(m, "ge") or hasattr(m, "gt") for m in info.metadata), f"{key} has no lower bound"
            assert any(hasattr(m, "le") or hasattr(m, "lt") for m in info.metadata), f"{key} has no upper bound"
    bad = {"max_attempts": 0} if options is PriorPlannerOptions else {"base_url": ""}
    with pytest.raises(ValidationError):
        options(**bad)


@pytest.mark.parametrize("options", [LLMPlannerOptions, PriorPlannerOptions])
def test_min_size_divisors_are_bounded(options: type[BaseModel]) -> None:
    assert options(min_size_divisors=(4.0, 5.0, 6.0)).min_size_divisors == (4.0, 5.0, 6.0)
    with pytest.raises(ValidationError):
        options(min_size_divisors=(0.0, 6.0, 8.0))
