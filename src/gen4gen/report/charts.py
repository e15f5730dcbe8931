"""Histograms as inline SVG (no plotting library, crisp at any zoom, a few kilobytes each).

Each bar is split by the verdict the sample (or cut-out) got from that check, so a threshold that cuts through
a bar shows which side it went to; the flag and reject thresholds are drawn as dashed and solid lines.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape

WIDTH, HEIGHT = 300, 134
PLOT = (34, 28, 292, 104)  # x0, y0, x1, y1 of the plotting area
COLOURS = {"pass": "#3a9d5d", "flag": "#e0a526", "reject": "#d2453b", "skip": "#9aa3ad"}
ORDER = ("pass", "flag", "reject", "skip")


def histogram(
    values: Sequence[tuple[float, str]],
    flag: float | None,
    reject: float | None,
    fmt: str = "{:.2f}",
    bins: int = 20,
    log: bool = False,
) -> str:
    """An SVG histogram of ``(value, status)`` pairs with the thresholds marked; empty string for no values.

    ``log`` spaces the bins logarithmically (for ratios spanning orders of magnitude; only positive values).
    """
    finite = [(v, s) for v, s in values if math.isfinite(v) and (v > 0 or not log)]
    if not finite:
        return ""
    marks = [t for t in (flag, reject) if t is not None and math.isfinite(t) and (t > 0 or not log)]
    scale = math.log10 if log else (lambda v: v)
    data_low, data_high = min(v for v, _ in finite), max(v for v, _ in finite)
    low = scale(min([data_low, *marks]))
    high = scale(max([data_high, *marks]))
    if high - low < 1e-9:
        low, high = low - 0.5, high + 0.5
    pad = (high - low) * 0.04
    low, high = low - pad, high + pad
    width = (high - low) / bins
    counts = [dict.fromkeys(ORDER, 0) for _ in range(bins)]
    for value, status in finite:
        index = min(bins - 1, max(0, int((scale(value) - low) / width)))
        counts[index][status if status in COLOURS else "skip"] += 1
    tallest = max(sum(c.values()) for c in counts)
    x0, y0, x1, y1 = PLOT

    def x_of(value: float) -> float:
        return x0 + (scale(value) - low) / (high - low) * (x1 - x0)

    parts = [
        f'<svg class="hist" viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}" role="img" '
        f'xmlns="http://www.w3.org/2000/svg">',
        f'<line x1="{x0}" y1="{y1}" x2="{x1}" y2="{y1}" stroke="#8a939c" stroke-width="1"/>',
    ]
    bar = (x1 - x0) / bins
    for index, count in enumerate(counts):
        base = float(y1)
        for status in ORDER:
            n = count[status]
            if not n:
                continue
            h = n / tallest * (y1 - y0)
            parts.append(
                f'<rect x="{x0 + index * bar + 0.5:.1f}" y="{base - h:.1f}" width="{bar - 1:.1f}" '
                f'height="{h:.1f}" fill="{COLOURS[status]}"><title>{n} {status}</title></rect>'
            )
            base -= h
    rows = {"flag": y0 - 14, "reject": y0 - 3}  # one label row each, so the two never overlap
    for threshold, dash, name in ((flag, "4 3", "flag"), (reject, "", "reject")):
        if threshold is None or threshold not in marks:
            continue
        x, colour = x_of(threshold), COLOURS[name]
        parts.append(
            f'<line x1="{x:.1f}" y1="{rows[name] + 2}" x2="{x:.1f}" y2="{y1}" stroke="{colour}" stroke-width="2"'
            + (f' stroke-dasharray="{dash}"' if dash else "")
            + f"><title>{name} at {escape(fmt.format(threshold))}</title></line>"
        )
        text = f"{name} {fmt.format(threshold)}"
        half = 2.8 * len(text)  # about half the label's width at 10 px
        anchor, at = (
            ("end", x - 3) if x + half > WIDTH - 2 else ("start", x + 3) if x - half < 2 else ("middle", x)
        )
        parts.append(
            f'<text x="{at:.1f}" y="{rows[name]}" text-anchor="{anchor}" class="axis" fill="{colour}">'
            f"{escape(text)}</text>"
        )
    parts.append(f'<text x="{x0 - 4}" y="{y0 + 8}" text-anchor="end" class="axis">{tallest}</text>')
    parts.append(f'<text x="{x0 - 4}" y="{y1}" text-anchor="end" class="axis">0</text>')
    ends = [data_low] + ([data_high] if x_of(data_high) - x_of(data_low) > 50 else [])
    for value in ends:
        x, text = x_of(value), fmt.format(value)
        half = 2.8 * len(text)
        anchor = "end" if x + half > WIDTH - 2 else "start" if x - half < x0 - 20 else "middle"
        parts.append(f'<text x="{x:.1f}" y="{y1 + 14}" text-anchor="{anchor}" class="axis">{escape(text)}</text>')
    if log:
        parts.append(f'<text x="{x1}" y="{y1 + 27}" text-anchor="end" class="axis">log scale</text>')
    parts.append("</svg>")
    return "".join(parts)
