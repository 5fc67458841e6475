"""A convention's timeline as one self-contained HTML page: a chart of its stages, then every line.

The chart is inline SVG styled by inline CSS: one row per stage, a bar from entered to left,
a marker for each signature, decision and overdue task (hover for the details). Nothing is
fetched from anywhere (no script, no font, no stylesheet link), so the file opens offline
and reads the same in ten years.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta

from schemas.audit import StageSpan, Timeline, TimelineEntry, TimelineEvent

WIDTH = 960
LABEL_WIDTH = 190
RIGHT_MARGIN = 24
AXIS_HEIGHT = 34
ROW_HEIGHT = 34
BAR_HEIGHT = 16
MAX_TICKS = 8

# Candidate tick steps, in seconds: a scenario replayed in a second and a convention that
# lasts years both get a readable axis.
_STEPS = (
    [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5]
    + [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800]
    + [3600 * hours for hours in (1, 2, 3, 6, 12)]
    + [86400 * days for days in (1, 2, 7, 14, 30, 91, 182, 365, 730, 1826)]
)
_POSITIVE = {"approve", "agree", "sign"}
_NEGATIVE = {"reject", "refuse"}
_COLOURS = {"positive": "#1b7a3d", "negative": "#b3261e", "other": "#b26a00", "neutral": "#555"}

_STYLE = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Noto Sans",
       "Noto Sans Arabic", sans-serif; color: #1d1d1f; margin: 2rem auto; max-width: 1100px;
       padding: 0 1rem; }
h1 { font-size: 1.35rem; margin-bottom: .2rem; }
.meta { color: #555; margin-top: 0; }
svg { background: #fbfbfd; border: 1px solid #ddd; border-radius: 6px; }
svg text { font: 12px system-ui, sans-serif; fill: #1d1d1f; }
svg .axis text { fill: #666; font-size: 11px; }
svg .grid { stroke: #e4e4ea; }
svg .stripe { fill: #f1f1f5; }
svg .bar-completed { fill: #8fb8de; }
svg .bar-running { fill: #c9def0; stroke: #8fb8de; stroke-dasharray: 4 3; }
svg .bar-failed, svg .bar-terminated { fill: #e8a49d; }
svg .not-reached { fill: #999; font-style: italic; }
.legend span { margin-right: 1.2rem; white-space: nowrap; }
table { border-collapse: collapse; width: 100%; margin-top: 1rem; font-size: 13px; }
th, td { text-align: start; padding: .3rem .5rem; border-bottom: 1px solid #e6e6eb;
         vertical-align: top; }
th { background: #f4f4f7; position: sticky; top: 0; }
td.time { white-space: nowrap; font-variant-numeric: tabular-nums; }
tr.task_answered td { background: #f3f9f4; }
tr.task_overdue td, tr.task_escalated td, tr.convention_failed td { background: #fdf1f0; }
tr.stage_entered td, tr.stage_left td { font-weight: 600; }
"""


def render_html(timeline: Timeline, *, generated_at: datetime | None = None) -> str:
    """The whole report: title, source, the stages chart, the legend and the timeline table."""
    generated = (generated_at or datetime.now(UTC)).astimezone(UTC)
    title = timeline.title or timeline.convention_id
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{_e(timeline.convention_id)} — audit timeline</title>",
        f"<style>{_STYLE}</style></head><body>",
        f'<h1 dir="auto">{_e(title)}</h1>',
        f'<p class="meta">convention <b>{_e(timeline.convention_id)}</b> · workflow '
        f"{_e(timeline.workflow_id)} · source: {_e(timeline.source)} · "
        f"{len(timeline.entries)} events · generated {generated:%Y-%m-%d %H:%M:%S} UTC</p>",
        "<h2>Stages over time</h2>",
        render_chart(timeline),
        _legend(),
        "<h2>Timeline</h2>",
        _table(timeline.entries),
        "</body></html>",
    ]
    return "\n".join(parts) + "\n"


def render_chart(timeline: Timeline) -> str:
    """The SVG chart: one row per stage, a bar from entered to left, markers on the bars."""
    stages = timeline.stages
    start, end = _domain(timeline)
    plot_left, plot_right = LABEL_WIDTH, WIDTH - RIGHT_MARGIN
    height = AXIS_HEIGHT + ROW_HEIGHT * max(len(stages), 1) + 12
    span = (end - start).total_seconds()

    def x(moment: datetime) -> float:
        offset = (moment - start).total_seconds()
        return round(plot_left + (plot_right - plot_left) * offset / span, 2)

    out = [
        f'<svg role="img" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" '
        f'aria-label="Stages of {_e(timeline.convention_id)} over time">',
        '<g class="axis">',
    ]
    step, ticks = _ticks(start, end)
    for tick in ticks:
        tick_x = x(tick)
        out.append(
            f'<line class="grid" x1="{tick_x}" y1="{AXIS_HEIGHT - 6}" x2="{tick_x}" '
            f'y2="{height - 8}"/>'
            f'<text x="{tick_x}" y="{AXIS_HEIGHT - 12}" text-anchor="middle">'
            f"{_e(_tick_label(tick, step))}</text>"
        )
    out.append("</g>")
    for index, stage in enumerate(stages):
        top = AXIS_HEIGHT + index * ROW_HEIGHT
        spans = [span for span in timeline.spans if span.stage == stage]
        out.append(_row(stage, spans, index, top, x, end, timeline.entries))
    out.append("</svg>")
    return "\n".join(out)


def _row(
    stage: str,
    spans: list[StageSpan],
    index: int,
    top: int,
    x: Callable[[datetime], float],
    end: datetime,
    entries: list[TimelineEntry],
) -> str:
    """One stage: its label, a bar per stay in it, and the markers of its tasks."""
    middle = top + ROW_HEIGHT / 2
    parts = [f'<g class="stage-row" data-stage="{_e(stage)}">']
    if index % 2 == 0:
        parts.append(
            f'<rect class="stripe" x="0" y="{top}" width="{WIDTH}" height="{ROW_HEIGHT}"/>'
        )
    parts.append(f'<text x="10" y="{middle + 4}">{_e(stage)}</text>')
    if not spans:
        parts.append(
            f'<text class="not-reached" x="{LABEL_WIDTH + 6}" y="{middle + 4}">not reached</text>'
        )
    for span in spans:
        bar_x = x(span.entered_at)
        bar_width = max(round(x(span.left_at or end) - bar_x, 2), 3)
        when = f"{span.entered_at:%Y-%m-%d %H:%M:%S} → " + (
            f"{span.left_at:%Y-%m-%d %H:%M:%S}" if span.left_at else "now"
        )
        parts.append(
            f'<rect class="bar bar-{_e(span.outcome)}" x="{bar_x}" '
            f'y="{middle - BAR_HEIGHT / 2}" width="{bar_width}" height="{BAR_HEIGHT}" rx="3">'
            f"<title>{_e(stage)}: {_e(span.outcome)}, {_e(when)}</title></rect>"
        )
    for entry in entries:
        if entry.stage == stage:
            marker = _marker(entry, x(entry.at), middle)
            if marker:
                parts.append(marker)
    parts.append("</g>")
    return "".join(parts)


def _marker(entry: TimelineEntry, cx: float, cy: float) -> str | None:
    tooltip = (
        f"<title>{entry.at:%Y-%m-%d %H:%M:%S} {_e(entry.task_id or '')}: {_e(entry.summary)}"
        "</title>"
    )
    if entry.event in {TimelineEvent.TASK_OVERDUE, TimelineEvent.TASK_ESCALATED}:
        colour = _COLOURS["negative"]
        return (
            f'<polygon class="marker overdue" points="{cx},{cy - 7} {cx + 6},{cy + 5} '
            f'{cx - 6},{cy + 5}" fill="{colour}">{tooltip}</polygon>'
        )
    if entry.event is not TimelineEvent.TASK_ANSWERED:
        return None
    answer = entry.details.get("answer") or {}
    decision = str(answer.get("decision") or "")
    tone = (
        "positive"
        if decision in _POSITIVE
        else "negative"
        if decision in _NEGATIVE
        else "other"
        if decision
        else "neutral"
    )
    colour = _COLOURS[tone]
    if answer.get("kind") == "sign":
        return (
            f'<polygon class="marker signature {tone}" points="{cx},{cy - 8} {cx + 7},{cy} '
            f'{cx},{cy + 8} {cx - 7},{cy}" fill="{colour}" stroke="#fff">{tooltip}</polygon>'
        )
    if decision:
        return (
            f'<circle class="marker decision {tone}" cx="{cx}" cy="{cy}" r="6" fill="{colour}" '
            f'stroke="#fff">{tooltip}</circle>'
        )
    return (
        f'<circle class="marker answer" cx="{cx}" cy="{cy}" r="4" fill="#fff" '
        f'stroke="{colour}" stroke-width="2">{tooltip}</circle>'
    )


def _legend() -> str:
    def swatch(shape: str) -> str:
        return f'<svg width="18" height="14" viewBox="0 0 18 14" aria-hidden="true">{shape}</svg>'

    items = [
        (swatch('<rect x="1" y="3" width="16" height="8" rx="2" fill="#8fb8de"/>'), "stage"),
        (swatch('<rect x="1" y="3" width="16" height="8" rx="2" fill="#e8a49d"/>'), "failed"),
        (
            swatch(f'<polygon points="9,1 15,7 9,13 3,7" fill="{_COLOURS["positive"]}"/>'),
            "signed",
        ),
        (
            swatch(f'<polygon points="9,1 15,7 9,13 3,7" fill="{_COLOURS["negative"]}"/>'),
            "refused",
        ),
        (
            swatch(f'<circle cx="9" cy="7" r="5" fill="{_COLOURS["positive"]}"/>'),
            "approved / agreed",
        ),
        (
            swatch(f'<circle cx="9" cy="7" r="5" fill="{_COLOURS["other"]}"/>'),
            "changes, disagreement, more information",
        ),
        (swatch(f'<circle cx="9" cy="7" r="5" fill="{_COLOURS["negative"]}"/>'), "rejected"),
        (
            swatch(f'<circle cx="9" cy="7" r="3" fill="#fff" stroke="{_COLOURS["neutral"]}"/>'),
            "other answer",
        ),
        (
            swatch(f'<polygon points="9,1 15,12 3,12" fill="{_COLOURS["negative"]}"/>'),
            "overdue / escalated",
        ),
    ]
    return '<p class="legend">' + "".join(f"<span>{s} {_e(t)}</span>" for s, t in items) + "</p>"


def _table(entries: Iterable[TimelineEntry]) -> str:
    rows = [
        "<table><thead><tr><th>time (UTC)</th><th>stage</th><th>event</th><th>task</th>"
        "<th>who</th><th>what</th></tr></thead><tbody>"
    ]
    for entry in entries:
        who = entry.party or ""
        if entry.actor:
            who = f"{who} ({entry.actor})" if who else entry.actor
        rows.append(
            f'<tr class="{_e(entry.event.value)}">'
            f'<td class="time">{entry.at.astimezone(UTC):%Y-%m-%d %H:%M:%S}</td>'
            f"<td>{_e(entry.stage or '')}</td><td>{_e(entry.event.value)}</td>"
            f"<td>{_e(entry.task_id or '')}</td>"
            f'<td dir="auto">{_e(who)}</td><td dir="auto">{_e(entry.summary)}</td></tr>'
        )
    rows.append("</tbody></table>")
    return "\n".join(rows)


def _domain(timeline: Timeline) -> tuple[datetime, datetime]:
    moments = [entry.at for entry in timeline.entries]
    for span in timeline.spans:
        moments.extend(m for m in (span.entered_at, span.left_at) if m is not None)
    if not moments:
        now = datetime.now(UTC)
        return now, now + timedelta(seconds=1)
    start, end = min(moments), max(moments)
    if end - start < timedelta(milliseconds=10):
        end = start + timedelta(milliseconds=10)
    return start, end


def _ticks(start: datetime, end: datetime) -> tuple[float, list[datetime]]:
    span = (end - start).total_seconds()
    step = next((s for s in _STEPS if span / s <= MAX_TICKS), _STEPS[-1])
    first = (start.timestamp() // step + 1) * step
    ticks = []
    moment = first
    while moment <= end.timestamp():
        ticks.append(datetime.fromtimestamp(moment, UTC))
        moment += step
    return step, ticks


def _tick_label(tick: datetime, step: float) -> str:
    if step < 1:
        return f"{tick:%H:%M:%S}.{tick.microsecond // 1000:03d}"
    if step < 60:
        return f"{tick:%H:%M:%S}"
    if step < 86400:
        return f"{tick:%m-%d %H:%M}"
    return f"{tick:%Y-%m-%d}"


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)
