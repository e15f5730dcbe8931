"""Caption: the text a training run will see names every concept and keeps to the word limit.

The caption checked is the generated (grounded) one; a person's edit is their decision and is not second-guessed.
Names are matched with the shared English rules (:func:`gen4gen.text.mentions`: plurals, irregular forms,
listed synonyms, placeholder tokens verbatim). ``unrecognised`` counts the concepts the captioner itself did not
name (the caption stage then added them): a captioner that looks at the image and does not see a concept is a
hint that the concept is not recognisable in it.
"""

from __future__ import annotations

from collections.abc import Sequence

from gen4gen.checks.base import Checker, Metric, Score, Scores
from gen4gen.checks.subjects import SampleSubject
from gen4gen.text import mentions


class CaptionChecker(Checker[SampleSubject]):
    name = "caption"
    version = "1"
    headline = "named"
    metrics = (
        Metric(
            "named",
            "the caption does not name {of}",
            "{:.0%}",
            ok="the caption names every concept",
            label="caption misses a concept",
        ),
        Metric("words", "the caption has {value} words", "{:.0f}", label="caption too long"),
        Metric(
            "unrecognised", "the captioner did not name {of}", "{:.0f}", label="captioner did not name a concept"
        ),
    )

    def measure(self, subject: SampleSubject) -> Scores:
        inputs = subject.inputs
        return caption_scores(inputs.text, [o.name for o in inputs.layout.objects], inputs.caption.missing)


def caption_scores(text: str, names: Sequence[str], unnamed_by_captioner: Sequence[str] = ()) -> Scores:
    """The caption scores of ``text`` for a sample showing concepts ``names``."""
    unique = list(dict.fromkeys(names))
    missing = [name for name in unique if not mentions(text, name)]
    return {
        "named": Score(1.0 - len(missing) / len(unique) if unique else 1.0, ", ".join(missing) or None),
        "words": Score(float(len(text.split()))),
        "unrecognised": Score(float(len(unnamed_by_captioner)), ", ".join(unnamed_by_captioner) or None),
    }
