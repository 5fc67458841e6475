"""The audit report: one PDF an inspector can file, print, and check against a bundle.

The convention, its parties and signatories, the replay and verify verdicts, the heads of the
milestone chain and of the archive chain, then the stage chart and the timeline exactly as
`timeline --format html` draws them (auditing/html_report.py). WeasyPrint lays it out; Pango
shapes the Arabic, and every Arabic text is set right to left.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from html import escape

from markupsafe import Markup

from auditing.html_report import (
    LABEL_WIDTH,
    RIGHT_MARGIN,
    ROW_HEIGHT,
    WIDTH,
    Saying,
    _legend,
    _table,
    domain,
    tick_label,
    ticks,
    track,
)
from auditing.iati import party_role
from auditing.timeline import local_time, party_names
from rendering.catalogues import N_, gettext, is_right_to_left, supported
from rendering.formats import Said, joined, say, say_count, word, written_in_arabic
from rendering.record import PartyNames
from rendering.timeline import title_in
from rendering.zones import DEFAULT_ZONE
from schemas.audit import ReplayResult, Timeline, VerifyReport
from schemas.convention import Convention

_STYLE = """
/* The page counter isolated left to right (U+2066…U+2069): "1 / 5" in Arabic too. */
@page { size: A4; margin: 14mm 12mm; @bottom-right {
        content: "\\2066" counter(page) " / " counter(pages) "\\2069";
        font-size: 8pt; color: #666; } }
body { font-family: "DejaVu Sans", "Noto Naskh Arabic", "Noto Sans Arabic", sans-serif;
       font-size: 9pt; line-height: 1.35; color: #1d1d1f; }
h1 { font-size: 15pt; margin: 0 0 2pt; }
h2 { font-size: 11pt; margin: 12pt 0 4pt; border-bottom: 1px solid #ccc; }
.meta { color: #555; margin: 0 0 6pt; }
table { border-collapse: collapse; width: 100%; font-size: 8pt; }
th, td { text-align: start; padding: 2pt 4pt; border-bottom: 1px solid #e6e6eb;
         vertical-align: top; }
th { background: #f4f4f7; }
.hash { font-family: "DejaVu Sans Mono", monospace; font-size: 7.5pt; }
.ok { color: #1b7a3d; font-weight: bold; }
.fail { color: #b3261e; font-weight: bold; }
.legend svg { width: 18px; height: 14px; vertical-align: middle; }
svg text { font-family: "DejaVu Sans", "Noto Naskh Arabic", sans-serif; font-size: 9px; }
svg .stripe { fill: #f1f1f5; } svg .grid { stroke: #e4e4ea; }
svg .bar-completed { fill: #8fb8de; }
svg .bar-running { fill: #c9def0; stroke: #8fb8de; }
svg .bar-failed, svg .bar-terminated { fill: #e8a49d; }
.legend span { margin-right: 8pt; }
table.chart { width: auto; table-layout: fixed; font-size: 8pt; margin-bottom: 2pt; }
table.chart th, table.chart td { padding: 0; border: 0; background: none;
         vertical-align: middle; }
table.chart th { width: 40mm; padding: 0 4pt; font-weight: normal; }
table.chart tr.stripe th, table.chart tr.stripe td { background: #f1f1f5; }
table.chart .ticks { position: relative; height: 4.5mm; color: #666; font-size: 7pt; }
table.chart .ticks span { position: absolute; top: 0; white-space: nowrap; }
table.chart td.track { line-height: 0; }
table.chart .not-reached { color: #999; font-style: italic; line-height: 1.35;
         padding-left: 4pt; }
[dir=rtl] { direction: rtl; text-align: right; unicode-bidi: embed; }
"""


@dataclass(frozen=True)
class ReportFacts:
    """Everything the report states, gathered by the caller from Temporal, PostgreSQL and
    the archive (or from a bundle)."""

    convention: Convention
    timeline: Timeline
    replay: ReplayResult
    verify: VerifyReport | None
    milestone_head: str
    milestones: int
    archive_head: str | None
    archive_entries: int
    generated_at: datetime | None = None
    language: str = "en"
    """The reader's language: the whole report is said in it (Arabic right to left)."""
    zone: str = DEFAULT_ZONE
    """The reader's IANA zone: the report's times and the moments its lines name are said
    in it, and its header names it (UTC by default)."""
    organisation_names: Mapping[str, str] = field(default_factory=dict)
    """The directory's names of the parties, in the reader's language, by id (the file's
    names are said where the directory holds none)."""

    people_names: Mapping[str, str] = field(default_factory=dict)
    """The directory's names of the people who answered, by person id (each answer's
    recorded name where the directory holds none)."""

    def names(self) -> PartyNames:
        """The parties' names the report says: the directory's, else the file's; and the
        people's who answered."""
        return party_names(self.timeline, self.language, self.organisation_names, self.people_names)


def _e(text: object) -> str:
    return escape(str(text), quote=True)


def _text(text: str, tag: str = "span") -> str:
    """A text in its direction, isolated: Arabic right to left, the rest left to right."""
    direction = "rtl" if written_in_arabic(text) else "ltr"
    return f'<{tag} dir="{direction}"><bdi>{_e(text)}</bdi></{tag}>'


def _th(language: str, message: str) -> str:
    return f"<th>{_e(gettext(language, message))}</th>"


def render_report_html(facts: ReportFacts) -> str:
    """The report as one HTML page (what WeasyPrint turns into the PDF), in the reader's
    language: its `lang` and `dir`, names and ids in <bdi>, parties by their names."""
    convention = facts.convention
    language = supported(facts.language)
    names = facts.names()
    generated = facts.generated_at or datetime.now(UTC)
    direction = "rtl" if is_right_to_left(language) else "ltr"
    titles = {
        str(lang.value if hasattr(lang, "value") else lang): t
        for lang, t in convention.titles.items()
    }
    title = title_in(convention.title, titles, language, convention.id)
    kind = word(gettext(language, convention.kind.value))
    about = (
        say(
            language,
            N_("Audit report of convention {id} ({kind}, parent {parent})"),
            id=convention.id,
            kind=kind,
            parent=convention.parent,
        )
        if convention.parent
        else say(
            language, N_("Audit report of convention {id} ({kind})"), id=convention.id, kind=kind
        )
    )
    meta = say(
        language,
        _META if facts.zone == DEFAULT_ZONE else _META_IN_ZONE,
        about=about,
        workflow=facts.timeline.workflow_id,
        source=facts.timeline.source,
        at=local_time(generated, facts.zone),
        zone=facts.zone,
    )
    parts = [
        f'<!DOCTYPE html><html lang="{language}" dir="{direction}"><head><meta charset="utf-8">',
        f"<title>{say(language, _PAGE_TITLE, id=convention.id).html}</title>"
        f"<style>{_STYLE}</style></head><body>",
        f"<h1>{title.html}</h1>",
        f'<p class="meta">{meta.html}</p>',
        _h2(language, N_("Verdicts")),
        _verdicts(facts, language),
        _h2(language, N_("Chain heads")),
        _heads(facts, language),
        _h2(language, N_("Parties")),
        _parties(convention, language, names),
        _h2(language, N_("Signatories")),
        _signatories(convention, language, names),
        _h2(language, N_("Stages over time")),
        printable_chart(facts.timeline, language, names, facts.zone),
        _legend(language),
        _h2(language, N_("Timeline")),
        _table(facts.timeline, language, names, facts.zone),
        "</body></html>",
    ]
    return "\n".join(parts) + "\n"


_PAGE_TITLE = N_("{id} — audit report")
_META = N_("{about} · workflow {workflow} · source: {source} · made {at} UTC")
_META_IN_ZONE = N_("{about} · workflow {workflow} · source: {source} · made {at}, times in {zone}")
_DOES_NOT_REPLAY = N_("does not replay")
_AGREE = N_("agrees")
_REPLAY = N_("replay")
_VERIFY = N_("verify")
_MILESTONE_HEAD = N_("milestone chain head")
_ARCHIVE_HEAD = N_("archive chain head")
_NONE_DECLARED = N_("none declared")
_NOT_REACHED = N_("not reached")


def _h2(language: str, message: str) -> str:
    return f"<h2>{_e(gettext(language, message))}</h2>"


def _verdicts(facts: ReportFacts, language: str) -> str:
    replay = facts.replay
    events = sum(run.events for run in replay.runs)
    failure = replay.first_failure
    if failure is None:
        replay_line = str(
            say(
                language,
                N_("{verdict}: {runs}, {events}, against this code"),
                verdict=_verdict(language, N_("replays"), "ok"),
                runs=say_count(language, "{count} run", "{count} runs", len(replay.runs)),
                events=say_count(language, "{count} event", "{count} events", events),
            ).html
        )
    else:
        replay_line = f"{_verdict(language, _DOES_NOT_REPLAY, 'fail').html}: " + str(
            say(
                language,
                N_("run {run}, event {event} {type}: {detail}"),
                run=failure.run_id,
                event=str(failure.event_id),
                type=str(failure.event_type),
                detail=failure.detail,
            ).html
        )
    verify = facts.verify
    if verify is None:
        verify_line = _e(gettext(language, N_("not verified (no PostgreSQL)")))
    elif verify.ok:
        verify_line = f"{_verdict(language, _AGREE, 'ok').html}: " + str(
            say_count(
                language,
                "{count} milestone agrees with the history; chain intact",
                "{count} milestones agree with the history; chain intact",
                verify.rows,
            ).html
        )
    else:
        findings = "".join(
            f"<li><bdi>{_e(finding.message)}</bdi></li>" for finding in verify.findings
        )
        counted = say_count(language, "{count} finding", "{count} findings", len(verify.findings))
        verify_line = f'<span class="fail">{counted.html}</span><ul>{findings}</ul>'
    return (
        f"<table><tr>{_th(language, _REPLAY)}<td>{replay_line}</td></tr>"
        f"<tr>{_th(language, _VERIFY)}<td>{verify_line}</td></tr></table>"
    )


def _verdict(language: str, message: str, tone: str) -> Said:
    """A verdict's word, coloured by its tone (`ok` or `fail`)."""
    text = gettext(language, message)
    return Said(text, Markup(f'<span class="{tone}">{_e(text)}</span>'))


def _heads(facts: ReportFacts, language: str) -> str:
    archive = (
        f'<span class="hash"><bdi>{_e(facts.archive_head)}</bdi></span> ('
        + str(
            say_count(
                language, "{count} archived run", "{count} archived runs", facts.archive_entries
            ).html
        )
        + ")"
        if facts.archive_head
        else _e(gettext(language, N_("no archived run")))
    )
    milestones = say_count(language, "{count} milestone", "{count} milestones", facts.milestones)
    return (
        "<table>"
        f'<tr>{_th(language, _MILESTONE_HEAD)}<td><span class="hash"><bdi>'
        f"{_e(facts.milestone_head)}</bdi></span> ({milestones.html})</td></tr>"
        f"<tr>{_th(language, _ARCHIVE_HEAD)}<td>{archive}</td></tr></table>"
    )


def _parties(convention: Convention, language: str, names: PartyNames) -> str:
    headings = "".join(
        _th(language, message)
        for message in (
            N_("id"),
            N_("name"),
            N_("kind"),
            N_("country"),
            N_("IATI role"),
            N_("contacts"),
        )
    )
    rows = [f"<table><thead><tr>{headings}</tr></thead><tbody>"]
    for party in convention.parties:
        contacts = joined(
            [
                say(
                    language,
                    N_("{person} ({reads})"),
                    person=contact.name,
                    reads=word(gettext(language, _LANGUAGE_NAMES[contact.language.value])),
                )
                for contact in party.contacts
            ],
            language,
        )
        rows.append(
            f"<tr><td><bdi>{_e(party.id)}</bdi></td><td>{_text(names(party.id))}</td>"
            f"<td>{_e(gettext(language, party.kind.value))}</td>"
            f"<td><bdi>{_e(party.country)}</bdi></td>"
            f"<td>{party_role(convention, party)}</td><td>{contacts.html}</td></tr>"
        )
    rows.append("</tbody></table>")
    return "".join(rows)


_LANGUAGE_NAMES = {"fr": N_("French"), "ar": N_("Arabic"), "en": N_("English")}


def _signatories(convention: Convention, language: str, names: PartyNames) -> str:
    if not convention.signatories:
        return f"<p>{_e(gettext(language, _NONE_DECLARED))}</p>"
    headings = "".join(_th(language, m) for m in (N_("name"), N_("capacity"), N_("party")))
    rows = [f"<table><thead><tr>{headings}</tr></thead><tbody>"]
    for signatory in convention.signatories:
        rows.append(
            f"<tr><td>{_text(signatory.name)}</td><td>{_text(signatory.capacity)}</td>"
            f"<td>{_text(names(signatory.party))}</td></tr>"
        )
    rows.append("</tbody></table>")
    return "".join(rows)


# WeasyPrint draws inline SVG without the page's stylesheet: the chart's classes become the
# presentation attributes they stand for.
_CHART_PAINT = {
    'class="grid"': 'class="grid" stroke="#d8d8e0"',
    'class="bar bar-completed"': 'class="bar bar-completed" fill="#8fb8de"',
    'class="bar bar-running"': 'class="bar bar-running" fill="#c9def0" stroke="#8fb8de"',
    'class="bar bar-failed"': 'class="bar bar-failed" fill="#e8a49d"',
    'class="bar bar-terminated"': 'class="bar bar-terminated" fill="#e8a49d"',
}
CHART_WIDTH_MM = 186
LABEL_MM = 40
TRACK_MM = CHART_WIDTH_MM - LABEL_MM
PLOT_WIDTH = WIDTH - LABEL_WIDTH - RIGHT_MARGIN
"""The width of a row's track in the SVG's own units (the page chart's plot)."""
MARKER_ROOM = 8
"""Room kept at both ends of a track for a marker's half."""


def printable_chart(
    timeline: Timeline, language: str, names: PartyNames, zone: str = DEFAULT_ZONE
) -> str:
    """The stage chart for print: an HTML table, one row per stage, its label as text and its
    bars and markers as an SVG of their own, fitted to the page's width.

    WeasyPrint draws SVG text glyph by glyph, so an Arabic label drawn in the SVG chart came
    out unjoined; as HTML text Pango shapes it like every other text of the PDF. Time runs
    left to right in every language, as on the page's chart."""
    start, end = domain(timeline)
    span = (end - start).total_seconds()
    row_mm = round(TRACK_MM * ROW_HEIGHT / PLOT_WIDTH, 2)

    def x(moment: datetime) -> float:
        offset = (moment - start).total_seconds()
        return round(MARKER_ROOM + (PLOT_WIDTH - 2 * MARKER_ROOM) * offset / span, 2)

    step, moments = ticks(start, end, zone)
    grid = "".join(
        f'<line class="grid" x1="{x(tick)}" y1="0" x2="{x(tick)}" y2="{ROW_HEIGHT}"/>'
        for tick in moments
    )
    labels = "".join(
        f'<span style="left: {round(100 * x(tick) / PLOT_WIDTH - 4, 2)}%">'
        f"<bdi>{_e(tick_label(tick, step, zone))}</bdi></span>"
        for tick in moments
    )
    said = Saying(timeline, language, names, zone)
    rows = [
        '<table class="chart" dir="ltr">',
        f'<tr><th></th><td style="width: {TRACK_MM}mm"><div class="ticks">{labels}</div></td></tr>',
    ]
    for index, stage in enumerate(timeline.stages):
        spans = [one for one in timeline.spans if one.stage == stage]
        if spans:
            drawn = "".join(track(stage, spans, ROW_HEIGHT / 2, x, end, timeline.entries, said))
            cell = (
                f'<svg width="{TRACK_MM}mm" height="{row_mm}mm" '
                f'viewBox="0 0 {PLOT_WIDTH} {ROW_HEIGHT}">{grid}{drawn}</svg>'
            )
        else:
            cell = f'<span class="not-reached">{_e(said.word(_NOT_REACHED))}</span>'
        for css_class, painted in _CHART_PAINT.items():
            cell = cell.replace(css_class, painted)
        stripe = ' class="stripe"' if index % 2 == 0 else ""
        rows.append(
            f'<tr{stripe} data-stage="{_e(stage)}"><th scope="row">{_text(said.stage(stage))}'
            f'</th><td class="track" style="height: {row_mm}mm">{cell}</td></tr>'
        )
    rows.append("</table>")
    return "".join(rows)


class ReportUnavailable(RuntimeError):
    """WeasyPrint cannot load Pango here: the message says what to install."""


def render_report_pdf(facts: ReportFacts) -> bytes:
    """The report as a PDF (no network: the page has no link to fetch)."""
    # Imported here: every other audit command runs on a machine without Pango.
    try:
        from weasyprint import HTML
    except OSError as error:  # WeasyPrint loads libpango with ctypes when imported
        raise ReportUnavailable(
            "the PDF report needs Pango: apt-get install libpango-1.0-0 libpangoft2-1.0-0 "
            f"({error})"
        ) from error
    pdf: bytes = HTML(string=pango_isolated(render_report_html(facts))).write_pdf()
    return pdf


def pango_isolated(page: str) -> str:
    """The page with each <bdi>'s content between U+2068 and U+2069 as well: WeasyPrint
    ignores `unicode-bidi` (so <bdi> isolates nothing in the PDF), but Pango's bidi
    algorithm honours the isolate characters, so a French title's dash and colon stay where
    they were written inside an Arabic line."""
    return page.replace("<bdi>", "<bdi>\u2068").replace("</bdi>", "\u2069</bdi>")
