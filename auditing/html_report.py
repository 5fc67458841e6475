"""A convention's timeline as one self-contained HTML page: a chart of its stages, then every line.

The chart is inline SVG styled by inline CSS: one row per stage, a bar from entered to left,
a marker for each signature, decision and overdue task (hover for the details). Nothing is
fetched from anywhere (no script, no font, no stylesheet link), so the file opens offline
and reads the same in ten years.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from auditing.timeline import entry_text, local_time, party_names
from rendering.catalogues import N_, gettext, is_right_to_left, supported
from rendering.formats import say, say_count
from rendering.record import PartyNames, stage_name
from rendering.timeline import column_labels, event_label, title_in, who
from rendering.zones import DEFAULT_ZONE
from schemas.audit import StageOutcome, StageSpan, Timeline, TimelineEntry, TimelineEvent

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

_PAGE_TITLE = N_("{id} — audit timeline")
_STAGES_HEADING = N_("Stages over time")
_TIMELINE_HEADING = N_("Timeline")
_CHART_LABEL = N_("Stages of {id} over time")
_NOT_REACHED = N_("not reached")
_NOW = N_("now")
_META = N_("convention {id} · workflow {workflow} · source: {source} · {events} · made {at} UTC")
_META_IN_ZONE = N_(
    "convention {id} · workflow {workflow} · source: {source} · {events} · made {at}, "
    "times in {zone}"
)

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


def render_html(
    timeline: Timeline,
    *,
    generated_at: datetime | None = None,
    language: str = "en",
    names: PartyNames | None = None,
    zone: str = DEFAULT_ZONE,
) -> str:
    """The whole report in `language` (its `lang` and `dir`): title, source, the stages
    chart, the legend and the timeline table, parties by their names, isolated in <bdi>;
    its times in `zone` (the reader's IANA zone, UTC by default), which its header names."""
    language = supported(language)
    names = names or party_names(timeline, language)
    generated = generated_at or datetime.now(UTC)
    title = title_in(timeline.title, timeline.titles, language, timeline.convention_id)
    direction = "rtl" if is_right_to_left(language) else "ltr"
    meta = say(
        language,
        _META if zone == DEFAULT_ZONE else _META_IN_ZONE,
        id=timeline.convention_id,
        workflow=timeline.workflow_id,
        source=timeline.source,
        events=say_count(language, "{count} event", "{count} events", len(timeline.entries)),
        at=local_time(generated, zone),
        zone=zone,
    )
    parts = [
        "<!DOCTYPE html>",
        f'<html lang="{language}" dir="{direction}"><head><meta charset="utf-8">',
        f"<title>{say(language, _PAGE_TITLE, id=timeline.convention_id).html}</title>",
        f"<style>{_STYLE}</style></head><body>",
        f"<h1>{title.html}</h1>",
        f'<p class="meta">{meta.html}</p>',
        f"<h2>{_e(gettext(language, _STAGES_HEADING))}</h2>",
        render_chart(timeline, language, names, zone),
        _legend(language),
        f"<h2>{_e(gettext(language, _TIMELINE_HEADING))}</h2>",
        _table(timeline, language, names, zone),
        "</body></html>",
    ]
    return "\n".join(parts) + "\n"


def render_chart(
    timeline: Timeline,
    language: str = "en",
    names: PartyNames | None = None,
    zone: str = DEFAULT_ZONE,
) -> str:
    """The SVG chart: one row per stage, a bar from entered to left, markers on the bars;
    the axis and the tooltips' times in `zone`."""
    stages = timeline.stages
    start, end = domain(timeline)
    plot_left, plot_right = LABEL_WIDTH, WIDTH - RIGHT_MARGIN
    height = AXIS_HEIGHT + ROW_HEIGHT * max(len(stages), 1) + 12
    span = (end - start).total_seconds()

    def x(moment: datetime) -> float:
        offset = (moment - start).total_seconds()
        return round(plot_left + (plot_right - plot_left) * offset / span, 2)

    out = [
        f'<svg role="img" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" '
        f'aria-label="{_e(say(language, _CHART_LABEL, id=timeline.convention_id).text)}" '
        # Time runs left to right in every language: the labels start at the left edge.
        'direction="ltr">',
        '<g class="axis">',
    ]
    step, moments = ticks(start, end, zone)
    for tick in moments:
        tick_x = x(tick)
        out.append(
            f'<line class="grid" x1="{tick_x}" y1="{AXIS_HEIGHT - 6}" x2="{tick_x}" '
            f'y2="{height - 8}"/>'
            f'<text x="{tick_x}" y="{AXIS_HEIGHT - 12}" text-anchor="middle">'
            f"{_e(tick_label(tick, step, zone))}</text>"
        )
    out.append("</g>")
    for index, stage in enumerate(stages):
        top = AXIS_HEIGHT + index * ROW_HEIGHT
        spans = [span for span in timeline.spans if span.stage == stage]
        said = Saying(timeline, language, names or party_names(timeline, language), zone)
        out.append(_row(stage, spans, index, top, x, end, timeline.entries, said))
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
    said: Saying,
) -> str:
    """One stage: its label, a bar per stay in it, and the markers of its tasks."""
    middle = top + ROW_HEIGHT / 2
    parts = [f'<g class="stage-row" data-stage="{_e(stage)}">']
    if index % 2 == 0:
        parts.append(
            f'<rect class="stripe" x="0" y="{top}" width="{WIDTH}" height="{ROW_HEIGHT}"/>'
        )
    parts.append(f'<text x="10" y="{middle + 4}">{_e(said.stage(stage))}</text>')
    if not spans:
        parts.append(
            f'<text class="not-reached" x="{LABEL_WIDTH + 6}" y="{middle + 4}">'
            f"{_e(said.word(_NOT_REACHED))}</text>"
        )
    parts.extend(track(stage, spans, middle, x, end, entries, said))
    parts.append("</g>")
    return "".join(parts)


def track(
    stage: str,
    spans: list[StageSpan],
    middle: float,
    x: Callable[[datetime], float],
    end: datetime,
    entries: list[TimelineEntry],
    said: Saying,
) -> list[str]:
    """A stage's bars (one per stay in it) and its tasks' markers, with no text drawn: the
    SVG row of the page's chart and the printed chart's own row (auditing/report.py) both."""
    parts = []
    for span in spans:
        bar_x = x(span.entered_at)
        bar_width = max(round(x(span.left_at or end) - bar_x, 2), 3)
        when = f"{said.time(span.entered_at)} → " + (
            said.time(span.left_at) if span.left_at else said.word(_NOW)
        )
        parts.append(
            f'<rect class="bar bar-{_e(span.outcome)}" x="{bar_x}" '
            f'y="{middle - BAR_HEIGHT / 2}" width="{bar_width}" height="{BAR_HEIGHT}" rx="3">'
            f"<title>{_e(said.stage(stage))}: {_e(said.word(_OUTCOMES[span.outcome]))}, "
            f"{_e(when)}</title></rect>"
        )
    for entry in entries:
        if entry.stage == stage:
            marker = _marker(entry, x(entry.at), middle, said)
            if marker:
                parts.append(marker)
    return parts


def _marker(entry: TimelineEntry, cx: float, cy: float, said: Saying) -> str | None:
    tooltip = (
        f"<title>{said.time(entry.at)} {_e(entry.task_id or '')}: {_e(said.entry(entry))}</title>"
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


def _legend(language: str = "en") -> str:
    def swatch(shape: str) -> str:
        return f'<svg width="18" height="14" viewBox="0 0 18 14" aria-hidden="true">{shape}</svg>'

    items = [
        (swatch('<rect x="1" y="3" width="16" height="8" rx="2" fill="#8fb8de"/>'), N_("stage")),
        (swatch('<rect x="1" y="3" width="16" height="8" rx="2" fill="#e8a49d"/>'), N_("failed")),
        (
            swatch(f'<polygon points="9,1 15,7 9,13 3,7" fill="{_COLOURS["positive"]}"/>'),
            N_("signed"),
        ),
        (
            swatch(f'<polygon points="9,1 15,7 9,13 3,7" fill="{_COLOURS["negative"]}"/>'),
            N_("refused"),
        ),
        (
            swatch(f'<circle cx="9" cy="7" r="5" fill="{_COLOURS["positive"]}"/>'),
            N_("approved / agreed"),
        ),
        (
            swatch(f'<circle cx="9" cy="7" r="5" fill="{_COLOURS["other"]}"/>'),
            N_("changes, disagreement, more information"),
        ),
        (swatch(f'<circle cx="9" cy="7" r="5" fill="{_COLOURS["negative"]}"/>'), N_("rejected")),
        (
            swatch(f'<circle cx="9" cy="7" r="3" fill="#fff" stroke="{_COLOURS["neutral"]}"/>'),
            N_("other answer"),
        ),
        (
            swatch(f'<polygon points="9,1 15,12 3,12" fill="{_COLOURS["negative"]}"/>'),
            N_("overdue / escalated"),
        ),
    ]
    return (
        '<p class="legend">'
        + "".join(f"<span>{s} {_e(gettext(language, t))}</span>" for s, t in items)
        + "</p>"
    )


def _table(
    timeline: Timeline,
    language: str = "en",
    names: PartyNames | None = None,
    zone: str = DEFAULT_ZONE,
) -> str:
    """Every line: its time (in `zone`, which the time column's heading names), stage,
    event, task, who (by name) and what, in `language`."""
    said = Saying(timeline, language, names or party_names(timeline, language), zone)
    headings = "".join(f"<th>{_e(label)}</th>" for label in column_labels(language, zone))
    rows = [f"<table><thead><tr>{headings}</tr></thead><tbody>"]
    for entry in timeline.entries:
        stage = stage_name(entry.stage, language).html if entry.stage else ""
        rows.append(
            f'<tr class="{_e(entry.event.value)}">'
            f'<td class="time"><bdi>{said.time(entry.at)}</bdi></td>'
            f"<td>{stage}</td><td>{_e(event_label(entry.event, language))}</td>"
            f"<td><bdi>{_e(entry.task_id or '')}</bdi></td>"
            f"<td>{who(entry, language, said.names).html}</td>"
            f"<td>{said.entry_html(entry)}</td></tr>"
        )
    rows.append("</tbody></table>")
    return "\n".join(rows)


class Saying:
    """What the chart and the table say, in one language, with the parties' names."""

    def __init__(
        self, timeline: Timeline, language: str, names: PartyNames, zone: str = DEFAULT_ZONE
    ) -> None:
        self.timeline, self.language, self.names = timeline, supported(language), names
        self.zone = zone

    def time(self, moment: datetime) -> str:
        """A moment as the table and the tooltips show it, in the reader's zone."""
        return local_time(moment, self.zone)

    def word(self, message: str) -> str:
        return gettext(self.language, message)

    def stage(self, stage: str) -> str:
        return stage_name(stage, self.language).text

    def entry(self, entry: TimelineEntry) -> str:
        return entry_text(self.timeline, entry, self.language, self.names, self.zone).text

    def entry_html(self, entry: TimelineEntry) -> str:
        return str(entry_text(self.timeline, entry, self.language, self.names, self.zone).html)


_OUTCOMES = {
    StageOutcome.COMPLETED: N_("completed"),
    StageOutcome.FAILED: N_("failed"),
    StageOutcome.TERMINATED: N_("terminated"),
    StageOutcome.RUNNING: N_("running"),
}


def domain(timeline: Timeline) -> tuple[datetime, datetime]:
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


def ticks(start: datetime, end: datetime, zone: str = DEFAULT_ZONE) -> tuple[float, list[datetime]]:
    span = (end - start).total_seconds()
    step = next((s for s in _STEPS if span / s <= MAX_TICKS), _STEPS[-1])
    # The ticks fall on the reader's round hours and midnights, not UTC's: a day's tick in
    # New York is at its midnight (the offset at the start; a change of summer time within
    # the span moves the later ones by an hour).
    offset = _aware(start).astimezone(ZoneInfo(zone)).utcoffset()
    shift = offset.total_seconds() if offset is not None else 0.0
    first = ((start.timestamp() + shift) // step + 1) * step - shift
    found = []
    moment = first
    while moment <= end.timestamp():
        found.append(datetime.fromtimestamp(moment, UTC))
        moment += step
    return step, found


def tick_label(tick: datetime, step: float, zone: str = DEFAULT_ZONE) -> str:
    tick = tick.astimezone(ZoneInfo(zone))
    if step < 1:
        return f"{tick:%H:%M:%S}.{tick.microsecond // 1000:03d}"
    if step < 60:
        return f"{tick:%H:%M:%S}"
    if step < 86400:
        return f"{tick:%m-%d %H:%M}"
    return f"{tick:%Y-%m-%d}"


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)
