"""The report page: what is gathered from the run folder, and how it is laid out.

Sections: a summary (samples accepted, flagged and rejected; verdict counts by reason; what the paper's rating
step kept against what this run keeps), every composition's samples as thumbnails with boxes and the reasons
under them, the cut-outs with theirs, a histogram of every score with its thresholds, per-stage counts and
timings, and the resolved config with every backend identity. The page works without a network and without
JavaScript (a small script adds the filters and checks that every image loaded).
"""

from __future__ import annotations

import base64
import io
import json
import time
from collections import Counter
from dataclasses import dataclass, field
from html import escape
from pathlib import Path
from typing import Any

import yaml
from PIL import Image, ImageDraw

from gen4gen import __version__
from gen4gen.checks.base import FLAG, PASS, REJECT, SKIP
from gen4gen.checks.suite import CHECKS, CheckSuite
from gen4gen.config import RunConfig
from gen4gen.io.atomic import atomic_write_text
from gen4gen.manifest import DONE, Manifest, Verdict
from gen4gen.manifest.records import CurateData, SegmentData, read
from gen4gen.report.charts import histogram
from gen4gen.sample import Sample, iter_samples
from gen4gen.stages.common import SAMPLES_META

REPORT = "report.html"
THUMB = 240  # thumbnail side, pixels
STAGE_ORDER = ("segment", "compose", "repaint", "caption", "curate", "export")
BOX_COLOURS = ((255, 210, 0), (0, 200, 255), (255, 80, 200), (120, 255, 90), (255, 140, 40), (170, 140, 255))
#: the paper's rating step (people rated every image 1-5 and kept 4-5): share kept per number of concepts
PAPER_KEPT = {"<=3": 0.53, "4": 0.32, ">=5": 0.22}
PAPER_THROWN_AWAY = 0.64
STATUS_WORDS = {PASS: "accepted", FLAG: "flagged", REJECT: "rejected"}


@dataclass
class Card:
    """One sample or cut-out as the page shows it."""

    key: str
    status: str  # accepted | flagged | rejected
    thumb: str  # data URI
    link: str  # the full image, relative to the run folder
    verdicts: dict[str, Verdict]
    caption: str = ""
    note: str = ""  # a person's decision, when there is one
    concepts: int = 0


@dataclass
class Gathered:
    samples: list[Card] = field(default_factory=list)
    compositions: dict[str, list[Card]] = field(default_factory=dict)
    unfinished: Counter[str] = field(default_factory=Counter)
    cutouts: list[Card] = field(default_factory=list)
    scores: dict[tuple[str, str], list[tuple[float, str]]] = field(default_factory=dict)  # (check, metric)


def write_report(run_dir: Path, manifest: Manifest, config: RunConfig) -> Path:
    """Write ``RUN_DIR/report.html`` from the manifest (atomically) and return its path."""
    suite = CheckSuite.of(config)
    data = _gather(run_dir, manifest, suite)
    page = _page(run_dir, manifest, config, suite, data)
    path = run_dir / REPORT
    atomic_write_text(path, page)
    return path


# ------------------------------------------------------------------------------------------------ gathering
def _gather(run_dir: Path, manifest: Manifest, suite: CheckSuite) -> Gathered:
    from gen4gen.stages.curate import cutout_target
    from gen4gen.stages.export import flagged

    data = Gathered()
    keys: list[str] = json.loads(manifest.get_meta(SAMPLES_META) or "[]")
    for sample in iter_samples(manifest, keys):
        if not isinstance(sample, Sample):
            data.unfinished[sample.split(": ", 1)[-1]] += 1
            continue
        status = "rejected" if sample.rejected else "flagged" if flagged(sample) else "accepted"
        note = _decision_note(sample.decisions)
        card = Card(
            sample.key,
            status,
            _thumbnail(
                run_dir / (sample.preview or sample.image), [(o.name, o.bbox) for o in sample.objects], sample.size
            ),
            sample.image,
            sample.verdicts,
            sample.caption,
            note,
            len(sample.objects),
        )
        data.samples.append(card)
        data.compositions.setdefault(sample.composition, []).append(card)
        record = manifest.get("curate", sample.key)
        if record is not None and record.status == DONE:
            _collect(data, read(CurateData, record).scores, sample.verdicts)
        duplicate = sample.verdicts.get("duplicate")
        if duplicate is not None and duplicate.score is not None:
            data.scores.setdefault(("duplicate", "distance"), []).append((duplicate.score, duplicate.status))
    for segment in manifest.records("segment", DONE):
        target = cutout_target(segment.key)
        verdicts = manifest.verdicts(target)
        verdict = verdicts.get("cutout")
        status = STATUS_WORDS.get(verdict.status, "accepted") if verdict is not None else "accepted"
        cut = read(SegmentData, segment)
        data.cutouts.append(
            Card(segment.key, status, _cutout_thumbnail(run_dir / cut.cutout), cut.cutout, verdicts)
        )
        record = manifest.get("curate", target)
        if record is not None and record.status == DONE:
            _collect(data, read(CurateData, record).scores, verdicts)
    return data


def _collect(data: Gathered, scores: dict[str, Any], verdicts: dict[str, Verdict]) -> None:
    for check, metrics in scores.items():
        verdict = verdicts.get(check)
        status = verdict.status if verdict is not None else PASS
        for metric, score in metrics.items():
            if score.value is not None:
                data.scores.setdefault((check, metric), []).append((float(score.value), status))


def _decision_note(decisions: dict[str, Any]) -> str:
    parts = []
    if "verdict" in decisions:
        parts.append(f"a person's verdict: {decisions['verdict']}")
    if decisions.get("rating") is not None:
        parts.append(f"rated {decisions['rating']}/5")
    if decisions.get("caption"):
        parts.append("caption edited")
    return "; ".join(parts)


def _data_uri(image: Image.Image) -> str:
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=82)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _thumbnail(path: Path, boxes: list[tuple[str, tuple[int, int, int, int]]], size: tuple[int, int]) -> str:
    """The sample at THUMB px from ``path`` (its preview, or the image itself) with its boxes and names drawn,
    scaled from the image's ``size`` (a grey tile when it cannot be read)."""
    try:
        with Image.open(path) as im:
            im.draft("RGB", (THUMB, THUMB))
            tile = im.convert("RGB")
            tile.thumbnail((THUMB, THUMB), Image.Resampling.BILINEAR)
    except OSError:
        return _data_uri(Image.new("RGB", (THUMB, THUMB), (90, 90, 90)))
    scale = tile.width / max(size[0], 1)
    draw = ImageDraw.Draw(tile)
    for index, (name, box) in enumerate(boxes):
        colour = BOX_COLOURS[index % len(BOX_COLOURS)]
        x0, y0, x1, y1 = (v * scale for v in box)
        draw.rectangle((x0, y0, x1 - 1, y1 - 1), outline=colour, width=2)
        label_w = draw.textlength(name) + 6
        ty = y0 - 12 if y0 >= 12 else y0
        draw.rectangle((x0, ty, x0 + label_w, ty + 12), fill=colour)
        draw.text((x0 + 3, ty), name, fill=(0, 0, 0))
    return _data_uri(tile)


def _cutout_thumbnail(path: Path, side: int = 200) -> str:
    """A cut-out fitted into a square on a checkerboard (its transparent parts show as such)."""
    board = Image.new("RGBA", (side, side), (235, 235, 235, 255))
    draw = ImageDraw.Draw(board)
    cell = 10
    for y in range(0, side, cell):
        for x in range((y // cell) % 2 * cell, side, 2 * cell):
            draw.rectangle((x, y, x + cell - 1, y + cell - 1), fill=(205, 205, 205, 255))
    try:
        with Image.open(path) as im:
            cut = im.convert("RGBA")
    except OSError:
        return _data_uri(board.convert("RGB"))
    scale = (side - 8) / max(cut.size)
    cut = cut.resize(
        (max(1, round(cut.width * scale)), max(1, round(cut.height * scale))), Image.Resampling.BILINEAR
    )
    board.alpha_composite(cut, ((side - cut.width) // 2, (side - cut.height) // 2))
    return _data_uri(board.convert("RGB"))


# ------------------------------------------------------------------------------------------------ layout
def _page(run_dir: Path, manifest: Manifest, config: RunConfig, suite: CheckSuite, data: Gathered) -> str:
    counts = Counter(card.status for card in data.samples)
    cut_counts = Counter(card.status for card in data.cutouts)
    body = [
        _header(run_dir, counts, len(data.samples), data.unfinished),
        _summary(manifest, data, counts, cut_counts),
        _compositions(data, suite),
        _cutouts(data, suite),
        _histograms(data, suite),
        _stages(manifest),
        _provenance(manifest, config),
    ]
    attributes = " ".join(
        f'data-{name}="{value}"'
        for name, value in (
            ("samples", len(data.samples)),
            ("accepted", counts["accepted"]),
            ("flagged", counts["flagged"]),
            ("rejected", counts["rejected"]),
            ("unfinished", sum(data.unfinished.values())),
            ("cutouts", len(data.cutouts)),
        )
    )
    title = f"gen4gen report — {escape(run_dir.name or str(run_dir))}"
    return (
        f'<!doctype html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f'<meta name="viewport" content="width=device-width, initial-scale=1">\n<title>{title}</title>\n'
        f"<style>{CSS}</style>\n</head>\n<body {attributes}>\n"
        + "\n".join(body)
        + f"\n<script>{SCRIPT}</script>\n"
        "</body>\n</html>\n"
    )


def _pct(part: int, whole: int) -> str:
    return f"{part / whole:.0%}" if whole else "–"


def _header(run_dir: Path, counts: Counter[str], total: int, unfinished: Counter[str]) -> str:
    when = time.strftime("%Y-%m-%d %H:%M", time.localtime())
    stats = "".join(
        f'<div class="stat {cls}"><span class="n">{n}</span><span class="l">{label}</span>'
        f'<span class="p">{_pct(n, total) if cls != "all" else ""}</span></div>'
        for cls, n, label in (
            ("all", total, "samples"),
            ("accepted", counts["accepted"], "accepted"),
            ("flagged", counts["flagged"], "flagged"),
            ("rejected", counts["rejected"], "rejected"),
        )
    )
    missing = sum(unfinished.values())
    note = (
        f'<p class="warn">{missing} more sample(s) are not finished: '
        + escape(", ".join(f"{n} {why}" for why, n in unfinished.most_common()))
        + "</p>"
        if missing
        else ""
    )
    return (
        f'<header><h1>gen4gen report</h1><p class="sub">{escape(str(run_dir))} · written {when} · '
        f"gen4gen {__version__}</p>"
        '<nav><a href="#summary">Summary</a><a href="#samples">Samples</a><a href="#cutouts">Cut-outs</a>'
        '<a href="#scores">Scores</a><a href="#stages">Stages</a><a href="#provenance">Config</a></nav>'
        f'<div class="stats">{stats}</div>{note}'
        '<p class="warn" id="broken" hidden></p></header>'
    )


def _summary(manifest: Manifest, data: Gathered, counts: Counter[str], cut_counts: Counter[str]) -> str:
    from gen4gen.stages.curate import SUMMARY_META

    summary = json.loads(manifest.get_meta(SUMMARY_META) or "{}")
    causes = summary.get("causes", {})
    rows = []
    names = sorted(set(causes.get(REJECT, {})) | set(causes.get(FLAG, {})), key=lambda c: _cause_order(c))
    for cause in names:
        check, _, words = cause.partition(": ")
        rows.append(
            f"<tr><td>{escape(check)}</td><td>{escape(words)}</td>"
            f'<td class="num reject">{causes.get(REJECT, {}).get(cause, "")}</td>'
            f'<td class="num flag">{causes.get(FLAG, {}).get(cause, "")}</td></tr>'
        )
    reasons = (
        '<table><thead><tr><th>check</th><th>cause</th><th class="num">rejected</th><th class="num">flagged</th>'
        "</tr></thead><tbody>" + "".join(rows) + "</tbody></table>"
        if rows
        else '<p class="muted">No check flagged or rejected anything'
        + ("" if summary else " (the curate stage has not run: `gen4gen curate RUN_DIR`)")
        + ".</p>"
    )
    groups: dict[str, Counter[str]] = {}
    for card in data.samples:
        group = "<=3" if card.concepts <= 3 else "4" if card.concepts == 4 else ">=5"
        groups.setdefault(group, Counter())[card.status] += 1
    paper_rows = []
    for group, kept in PAPER_KEPT.items():
        mine = groups.get(group, Counter())
        total = sum(mine.values())
        label = {"<=3": "≤ 3", "4": "4", ">=5": "≥ 5"}[group]
        paper_rows.append(
            f"<tr><td>{label}</td><td class='num'>{kept:.0%}</td><td class='num'>{total}</td>"
            f"<td class='num'>{_pct(mine['accepted'], total)}</td><td class='num'>"
            f"{_pct(mine['accepted'] + mine['flagged'], total)}</td></tr>"
        )
    total = len(data.samples)
    paper_rows.append(
        f"<tr class='total'><td>all</td><td class='num'>{1 - PAPER_THROWN_AWAY:.0%}</td>"
        f"<td class='num'>{total}</td>"
        f"<td class='num'>{_pct(counts['accepted'], total)}</td>"
        f"<td class='num'>{_pct(counts['accepted'] + counts['flagged'], total)}</td></tr>"
    )
    paper = (
        "<table><thead><tr><th>concepts</th><th class='num'>paper kept</th><th class='num'>samples</th>"
        "<th class='num'>accepted</th><th class='num'>with flagged</th></tr></thead><tbody>"
        + "".join(paper_rows)
        + "</tbody></table><p class='muted'>The paper's people rated every image 1–5 and kept only 4–5: 53% of "
        "images with up to three concepts, 32% with four, 22% with five (64% thrown away overall). Here the "
        "automatic checks decide; flagged samples wait for a person.</p>"
    )
    cut_total = len(data.cutouts)
    cut_line = (
        f"<p>{cut_total} cut-outs: {cut_counts['accepted']} accepted, {cut_counts['flagged']} flagged, "
        f"{cut_counts['rejected']} rejected (compose leaves rejected ones out).</p>"
    )
    return (
        '<section id="summary"><h2>Summary</h2><div class="two"><div><h3>Verdicts by reason</h3>'
        f"{reasons}{cut_line}</div><div><h3>Kept: the paper's rating step and this run</h3>{paper}</div></div>"
        "</section>"
    )


def _cause_order(cause: str) -> tuple[int, str]:
    check = cause.partition(": ")[0]
    return (CHECKS.index(check) if check in CHECKS else len(CHECKS), cause)


def _chips(verdicts: dict[str, Verdict], suite: CheckSuite) -> str:
    chips = []
    for name in CHECKS:
        verdict = verdicts.get(name)
        if verdict is None or verdict.status == SKIP:
            continue
        checker = suite.checkers.get(name)
        value = ""
        if verdict.score is not None and checker is not None:
            metric = next(m for m in checker.metrics if m.key == checker.headline)
            value = metric.text(verdict.score)
        elif verdict.score is not None:
            value = f"{verdict.score:.3g}"
        chips.append(
            f'<span class="chip {verdict.status}" title="{escape(verdict.reason or "")}">{escape(name)}'
            + (f" <b>{escape(value)}</b>" if value else "")
            + "</span>"
        )
    return '<div class="chips">' + "".join(chips) + "</div>"


def _reasons(verdicts: dict[str, Verdict]) -> str:
    items = [
        f'<li class="{v.status}"><b>{escape(name)}</b> {escape(v.reason or "")}</li>'
        for name in CHECKS
        if (v := verdicts.get(name)) is not None and v.status in (FLAG, REJECT)
    ]
    return '<ul class="reasons">' + "".join(items) + "</ul>" if items else ""


def _card(card: Card, suite: CheckSuite, kind: str) -> str:
    caption = f'<p class="caption">{escape(card.caption)}</p>' if card.caption else ""
    note = f'<p class="note">{escape(card.note)}</p>' if card.note else ""
    return (
        f'<figure class="card {card.status}" data-status="{card.status}" data-kind="{kind}" '
        f'data-key="{escape(card.key)}"><a href="{escape(card.link)}">'
        f'<img src="{card.thumb}" alt="{escape(card.key)}"></a><figcaption>'
        f'<div class="title"><span class="key">{escape(card.key)}</span>'
        f'<span class="badge {card.status}">{card.status}</span></div>'
        f"{_chips(card.verdicts, suite)}{_reasons(card.verdicts)}{note}{caption}</figcaption></figure>"
    )


def _compositions(data: Gathered, suite: CheckSuite) -> str:
    parts = [
        '<section id="samples"><h2>Samples</h2><div class="filters" hidden>'
        '<button data-show="all" class="on">all</button><button data-show="accepted">accepted</button>'
        '<button data-show="flagged">flagged</button><button data-show="rejected">rejected</button></div>'
    ]
    if not data.compositions:
        parts.append('<p class="muted">No finished samples yet.</p>')
    for composition, cards in data.compositions.items():
        counts = Counter(c.status for c in cards)
        parts.append(
            f'<h3>{escape(composition)} <span class="counts">{len(cards)} samples · {counts["accepted"]} accepted'
            f" · {counts['flagged']} flagged · {counts['rejected']} rejected</span></h3>"
        )
        for status in ("accepted", "flagged", "rejected"):
            group = [c for c in cards if c.status == status]
            if group:
                parts.append(
                    f'<div class="group" data-group="{status}"><h4 class="{status}">{status} ({len(group)})</h4>'
                    '<div class="grid">' + "".join(_card(c, suite, "sample") for c in group) + "</div></div>"
                )
    parts.append("</section>")
    return "".join(parts)


def _cutouts(data: Gathered, suite: CheckSuite) -> str:
    if not data.cutouts:
        return '<section id="cutouts"><h2>Cut-outs</h2><p class="muted">No cut-outs yet.</p></section>'
    order = {"rejected": 0, "flagged": 1, "accepted": 2}
    cards = sorted(data.cutouts, key=lambda c: (order[c.status], c.key))
    return (
        '<section id="cutouts"><h2>Cut-outs</h2><p class="muted">One per photo; samples inherit their verdicts.'
        '</p><div class="grid small">' + "".join(_card(c, suite, "cutout") for c in cards) + "</div></section>"
    )


def _histograms(data: Gathered, suite: CheckSuite) -> str:
    parts = [
        '<section id="scores"><h2>Scores</h2><p class="muted">Every recorded score, split by the verdict '
        "of its check; dashed line: flag threshold, solid line: reject threshold.</p>"
    ]
    for name in CHECKS:
        checker = suite.checkers.get(name)
        figures = []
        metrics = checker.metrics if checker is not None else ()
        for metric in metrics:
            values = data.scores.get((name, metric.key))
            if not values:
                continue
            limit = checker.limit(metric.key) if checker is not None else None
            direction = checker.limits.DIRECTIONS[metric.key] if checker is not None else "min"
            flag, reject = (limit.flag, limit.reject) if limit is not None else (None, None)
            svg = histogram(values, flag, reject, metric.fmt, log=metric.fmt.startswith("×"))
            description = type(checker.limits).model_fields[metric.key].description or "" if checker else ""
            bad = "below" if direction == "min" else "above"
            figures.append(
                f'<figure class="chart">{svg}<figcaption><b>{escape(metric.key)}</b> '
                f"({len(values)}; bad {bad} the lines) {escape(description)}</figcaption></figure>"
            )
        if figures:
            parts.append(f'<h3>{escape(name)}</h3><div class="charts">' + "".join(figures) + "</div>")
    parts.append("</section>")
    return "".join(parts)


def _stages(manifest: Manifest) -> str:
    rows = []
    for stage in STAGE_ORDER:
        raw = manifest.get_meta(f"stats.{stage}")
        if raw is None:
            continue
        stats = json.loads(raw)
        made, seconds = int(stats.get("made", 0)), float(stats.get("seconds", 0.0))
        rejected = sum(stats.get("rejected", {}).values())
        failed = sum(stats.get("failed", {}).values())
        rows.append(
            f"<tr><td>{stage}</td><td class='num'>{made}</td><td class='num'>{stats.get('reused', 0)}</td>"
            f"<td class='num'>{rejected}</td><td class='num'>{failed}</td><td class='num'>{seconds:.1f}</td>"
            f"<td class='num'>{seconds / made:.2f}</td></tr>"
            if made
            else f"<tr><td>{stage}</td><td class='num'>0</td><td class='num'>{stats.get('reused', 0)}</td>"
            f"<td class='num'>{rejected}</td><td class='num'>{failed}</td><td class='num'>{seconds:.1f}</td>"
            "<td class='num'>–</td></tr>"
        )
    table = (
        "<table><thead><tr><th>stage</th><th class='num'>made</th><th class='num'>reused</th>"
        "<th class='num'>rejected</th><th class='num'>failed</th><th class='num'>seconds</th>"
        "<th class='num'>s/item</th></tr></thead><tbody>" + "".join(rows) + "</tbody></table>"
    )
    return (
        '<section id="stages"><h2>Stages</h2><p class="muted">Counts and timings of the last command that ran '
        f"each stage.</p>{table}</section>"
    )


def _provenance(manifest: Manifest, config: RunConfig) -> str:
    rows = []
    for stage in STAGE_ORDER:
        seen: dict[str, int] = {}
        for record in manifest.records(stage, DONE):
            if record.backend is not None:
                text = json.dumps(record.backend, sort_keys=True)
                seen[text] = seen.get(text, 0) + 1
        for text, count in seen.items():
            rows.append(
                f"<tr><td>{stage}</td><td class='num'>{count}</td><td><code>{escape(text)}</code></td></tr>"
            )
    backends = (
        "<table class='wide'><thead><tr><th>stage</th><th class='num'>items</th><th>backend identity</th></tr>"
        "</thead><tbody>" + "".join(rows) + "</tbody></table>"
    )
    resolved = yaml.safe_dump(config.resolved(), sort_keys=False)
    return (
        '<section id="provenance"><h2>Config and backends</h2>'
        f"{backends}<details><summary>resolved config</summary><pre>{escape(resolved)}</pre></details></section>"
    )


CSS = """
:root{--ok:#3a9d5d;--flag:#e0a526;--rej:#d2453b;--ink:#1d2329;--muted:#66707a;--line:#dfe3e8;--bg:#f6f7f9}
*{box-sizing:border-box}
body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--ink);
  background:var(--bg)}
header{background:#fff;border-bottom:1px solid var(--line);padding:18px 28px 14px}
h1{margin:0;font-size:22px}
h2{font-size:18px;margin:0 0 12px}
h3{font-size:15px;margin:22px 0 8px}
h4{font-size:12px;text-transform:uppercase;letter-spacing:.05em;margin:12px 0 6px}
h4.accepted{color:var(--ok)} h4.flagged{color:#a87600} h4.rejected{color:var(--rej)}
.sub,.muted,.counts{color:var(--muted)} .counts{font-weight:400;font-size:13px;margin-left:8px}
nav{margin:10px 0}
nav a{margin-right:16px;color:#2a5db0;text-decoration:none}
section{padding:18px 28px;border-bottom:1px solid var(--line)}
.stats{display:flex;gap:12px;flex-wrap:wrap;margin-top:6px}
.stat{background:var(--bg);border:1px solid var(--line);border-radius:8px;padding:8px 16px;min-width:120px;
  border-top:4px solid #9aa3ad}
.stat .n{font-size:24px;font-weight:650;display:block}
.stat .l{color:var(--muted)} .stat .p{float:right;color:var(--muted);margin-top:-30px}
.stat.accepted{border-top-color:var(--ok)} .stat.flagged{border-top-color:var(--flag)}
.stat.rejected{border-top-color:var(--rej)}
.warn{background:#fff4d6;border:1px solid #f0d58a;padding:6px 10px;border-radius:6px}
.two{display:grid;grid-template-columns:repeat(auto-fit,minmax(380px,1fr));gap:28px}
table{border-collapse:collapse;background:#fff;border:1px solid var(--line);font-size:13px}
th,td{padding:5px 10px;border-bottom:1px solid var(--line);text-align:left;vertical-align:top}
th{background:#eef1f4;font-weight:600} td.num,th.num{text-align:right} tr.total td{font-weight:600}
td.reject{color:var(--rej);font-weight:600} td.flag{color:#a87600;font-weight:600}
table.wide code{font-size:11.5px;word-break:break-all}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(252px,1fr));gap:14px}
.grid.small{grid-template-columns:repeat(auto-fill,minmax(200px,1fr))}
.card{margin:0;background:#fff;border:1px solid var(--line);border-radius:8px;overflow:hidden;
  border-top:4px solid var(--ok)}
.card.flagged{border-top-color:var(--flag)} .card.rejected{border-top-color:var(--rej)}
.card img{display:block;width:100%;height:auto;background:#333}
.card.rejected img{opacity:.82}
figcaption{padding:8px 10px 10px}
.title{display:flex;justify-content:space-between;align-items:center;gap:6px}
.key{font-weight:600;font-size:12.5px;word-break:break-all}
.badge{font-size:11px;border-radius:10px;padding:1px 8px;color:#fff;background:var(--ok);white-space:nowrap}
.badge.flagged{background:var(--flag)} .badge.rejected{background:var(--rej)}
.chips{display:flex;flex-wrap:wrap;gap:4px;margin:6px 0}
.chip{font-size:11px;border-radius:4px;padding:1px 6px;background:#e8f4ec;color:#1f6b3b}
.chip.flag{background:#fbf0d2;color:#7d5900} .chip.reject{background:#f8dedb;color:#9b2a22}
.reasons{margin:4px 0 0;padding-left:16px;font-size:12.5px;overflow-wrap:anywhere}
.reasons li.reject{color:#9b2a22} .reasons li.flag{color:#7d5900}
.caption{font-size:12px;color:var(--muted);margin:6px 0 0}
.note{font-size:12px;margin:6px 0 0;font-style:italic}
.filters{margin:0 0 8px} .filters button{border:1px solid var(--line);background:#fff;border-radius:14px;
  padding:3px 12px;margin-right:6px;cursor:pointer} .filters button.on{background:var(--ink);color:#fff}
.charts{display:flex;flex-wrap:wrap;gap:14px}
.chart{margin:0;background:#fff;border:1px solid var(--line);border-radius:8px;padding:8px;width:318px}
.chart figcaption{padding:4px 2px 0;font-size:12px;color:var(--muted)}
.chart b{color:var(--ink)}
.hist .axis{font-size:10px;fill:#66707a} .hist .mark{fill:#1d2329}
details{margin-top:12px}
pre{background:#fff;border:1px solid var(--line);padding:10px;overflow:auto;font-size:12px}
"""

SCRIPT = """
(function(){
  var body=document.body, images=[].slice.call(document.images), left=images.length, broken=0;
  function done(){
    body.dataset.imagesChecked=String(images.length); body.dataset.imagesBroken=String(broken);
    if(broken){var w=document.getElementById('broken'); w.hidden=false;
      w.textContent=broken+' image(s) did not load: open the report from inside its run folder.';}
  }
  function one(img){ if(!(img.complete&&img.naturalWidth>0)) broken++; if(--left===0) done(); }
  if(!left) done();
  images.forEach(function(img){
    if(img.complete) one(img); else { img.addEventListener('load',function(){one(img)});
      img.addEventListener('error',function(){one(img)}); }
  });
  var bar=document.querySelector('.filters'); if(!bar) return; bar.hidden=false;
  bar.addEventListener('click',function(e){
    var show=e.target.dataset.show; if(!show) return;
    [].forEach.call(bar.children,function(b){b.classList.toggle('on',b===e.target)});
    [].forEach.call(document.querySelectorAll('#samples .group'),function(g){
      g.hidden=!(show==='all'||g.dataset.group===show)});
  });
})();
"""
