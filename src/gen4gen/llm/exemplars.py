"""Few-shot layout examples: the built-in set, optionally COCO annotations, retrieved by similarity.

The seed showed the model 50 random COCO layouts in their original image coordinates while asking for a 512²
answer. Here the ``k`` examples whose objects best match the requested concepts are chosen (multiset overlap of
canonical names, a partial credit for sharing a word, e.g. "toy car" ~ "car"), and their boxes are rescaled to the
template canvas the model is asked to answer on.
"""

from __future__ import annotations

import contextlib
import io
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from gen4gen.priors import canonical_name
from gen4gen.prompts import load_data


@dataclass(frozen=True)
class Exemplar:
    """One example layout: ``objects`` are (name, (x, y, w, h)) in the pixels of ``canvas`` (width, height)."""

    id: str
    caption: str
    canvas: tuple[int, int]
    objects: tuple[tuple[str, tuple[float, float, float, float]], ...]

    def rescaled(self, canvas: tuple[int, int]) -> dict[str, Any]:
        """The example as the JSON answer it illustrates, boxes rescaled to ``canvas`` (integer pixels)."""
        sx, sy = canvas[0] / self.canvas[0], canvas[1] / self.canvas[1]
        return {
            "objects": [
                {"name": name, "box": [round(x * sx), round(y * sy), max(1, round(w * sx)), max(1, round(h * sy))]}
                for name, (x, y, w, h) in self.objects
            ]
        }


class ExemplarIndex:
    """Exemplars with an inverted index from canonical names and their words to exemplars."""

    def __init__(self, exemplars: Sequence[Exemplar], source: dict[str, Any]) -> None:
        self.exemplars = list(exemplars)
        self.source = source  # provenance: where the examples come from (name, version/sha256 or paths)
        self._names = [Counter(canonical_name(n) for n, _ in e.objects) for e in self.exemplars]
        self._postings: dict[str, set[int]] = defaultdict(set)
        for i, names in enumerate(self._names):
            for name in names:
                for token in {name, *name.split()}:
                    self._postings[token].add(i)

    def nearest(self, names: Sequence[str], k: int) -> list[Exemplar]:
        """The ``k`` exemplars most similar to ``names`` (deterministic: ties go to the earlier exemplar)."""
        if k <= 0 or not self.exemplars:
            return []
        return [self.exemplars[i] for i in self._nearest(tuple(sorted(canonical_name(n) for n in names)), k)]

    @lru_cache(maxsize=1024)  # noqa: B019 - the index lives as long as its planner
    def _nearest(self, wanted: tuple[str, ...], k: int) -> tuple[int, ...]:
        query = Counter(wanted)
        candidates: set[int] = set()
        for name in query:
            for token in {name, *name.split()}:
                candidates |= self._postings.get(token, set())
        scored = sorted(
            candidates,
            key=lambda i: (
                -_similarity(query, self._names[i]),
                abs(sum(self._names[i].values()) - len(wanted)),
                i,
            ),
        )
        picked = scored[:k]
        if len(picked) < k:  # pad with examples of the same object count
            rest = [i for i in range(len(self.exemplars)) if i not in candidates]
            rest.sort(key=lambda i: (abs(sum(self._names[i].values()) - len(wanted)), i))
            picked += rest[: k - len(picked)]
        return tuple(picked)


def _similarity(query: Counter[str], names: Counter[str]) -> float:
    """Multiset Jaccard of canonical names, where a pair sharing only a word counts half."""
    left, right = query.copy(), names.copy()
    matched = 0.0
    for name in list(left):
        common = min(left[name], right[name])
        matched += common
        left[name] -= common
        right[name] -= common
    for name in [n for n, c in left.items() if c > 0]:
        words = set(name.split())
        for other in [o for o, c in right.items() if c > 0]:
            while left[name] > 0 and right[other] > 0 and words & set(other.split()):
                matched += 0.5
                left[name] -= 1
                right[other] -= 1
    total = sum(query.values()) + sum(names.values()) - matched
    return matched / total if total > 0 else 0.0


def builtin_exemplars() -> ExemplarIndex:
    """The examples shipped in ``gen4gen/prompts/layout_examples.json``."""
    data, ref = load_data("layout_examples.json")
    canvas = (int(data["canvas"][0]), int(data["canvas"][1]))
    exemplars = [
        Exemplar(
            id=f"builtin:{i}",
            caption=str(item["caption"]),
            canvas=canvas,
            objects=tuple((str(o["name"]), tuple(float(v) for v in o["box"])) for o in item["objects"]),  # type: ignore[misc]
        )
        for i, item in enumerate(data["examples"])
    ]
    return ExemplarIndex(exemplars, ref)


def coco_exemplars(
    instances: Path,
    captions: Path | None = None,
    max_objects: int = 6,
    min_area_frac: float = 0.01,
) -> ExemplarIndex:
    """Layouts from a COCO instances file (non-crowd objects covering at least ``min_area_frac`` of the image,
    images with 1..``max_objects`` of them), captioned from a COCO captions file when given."""
    from pycocotools.coco import COCO

    with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints progress
        coco = COCO(str(instances))
        caps = COCO(str(captions)) if captions is not None else None
    names = {c["id"]: c["name"] for c in coco.loadCats(coco.getCatIds())}
    exemplars = []
    for image_id in sorted(coco.getImgIds()):
        image = coco.imgs[image_id]
        w, h = int(image["width"]), int(image["height"])
        objects = tuple(
            (names[a["category_id"]], tuple(float(v) for v in a["bbox"]))
            for a in coco.imgToAnns.get(image_id, [])
            if not a.get("iscrowd") and a["bbox"][2] * a["bbox"][3] >= min_area_frac * w * h
        )
        if not 1 <= len(objects) <= max_objects:
            continue
        texts = caps.imgToAnns.get(image_id, []) if caps is not None else []
        caption = texts[0]["caption"].strip() if texts else ", ".join(n for n, _ in objects)
        exemplars.append(Exemplar(f"coco:{image_id}", caption, (w, h), objects))  # type: ignore[arg-type]
    source = {"name": "coco", "instances": instances.name, "captions": captions.name if captions else None}
    return ExemplarIndex(exemplars, source)
