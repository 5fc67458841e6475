"""The audit report: one PDF an inspector can file, print, and check against a bundle.

The convention, its parties and signatories, the replay and verify verdicts, the heads of the
milestone chain and of the archive chain, then the stage chart and the timeline exactly as
`timeline --format html` draws them (auditing/html_report.py). WeasyPrint lays it out; Pango
shapes the Arabic, and every Arabic text is set right to left.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from html import escape

from auditing.html_report import _legend, _table, render_chart
from auditing.iati import party_role, written_in_arabic
from schemas.audit import ReplayResult, Timeline, VerifyReport
from schemas.convention import Convention

_STYLE = """
@page { size: A4; margin: 14mm 12mm; @bottom-right { content: counter(page) " / " counter(pages);
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


def _e(text: object) -> str:
    return escape(str(text), quote=True)


def _text(text: str, tag: str = "span") -> str:
    """A text in its direction: Arabic right to left, the rest left to right."""
    direction = "rtl" if written_in_arabic(text) else "ltr"
    return f'<{tag} dir="{direction}">{_e(text)}</{tag}>'


def render_report_html(facts: ReportFacts) -> str:
    """The report as one HTML page (what WeasyPrint turns into the PDF)."""
    convention = facts.convention
    generated = (facts.generated_at or datetime.now(UTC)).astimezone(UTC)
    parts = [
        '<!DOCTYPE html><html lang="fr"><head><meta charset="utf-8">',
        f"<title>{_e(convention.id)} — audit report</title><style>{_STYLE}</style></head><body>",
        _text(convention.title, "h1"),
        f'<p class="meta">Audit report of convention <b>{_e(convention.id)}</b> '
        f"({_e(convention.kind.value)}"
        + (f", parent {_e(convention.parent)}" if convention.parent else "")
        + f") · workflow {_e(facts.timeline.workflow_id)} · source: {_e(facts.timeline.source)}"
        f" · generated {generated:%Y-%m-%d %H:%M:%S} UTC</p>",
        "<h2>Verdicts</h2>",
        _verdicts(facts),
        "<h2>Chain heads</h2>",
        _heads(facts),
        "<h2>Parties</h2>",
        _parties(convention),
        "<h2>Signatories</h2>",
        _signatories(convention),
        "<h2>Stages over time</h2>",
        printable_chart(render_chart(facts.timeline)),
        _legend(),
        "<h2>Timeline</h2>",
        _table(facts.timeline.entries),
        "</body></html>",
    ]
    return "\n".join(parts) + "\n"


def _verdicts(facts: ReportFacts) -> str:
    replay = facts.replay
    events = sum(run.events for run in replay.runs)
    failure = replay.first_failure
    replay_line = (
        f'<span class="ok">replays</span>: {len(replay.runs)} run(s), {events} events, '
        "against this code"
        if failure is None
        else f'<span class="fail">does not replay</span>: run {_e(failure.run_id)}, event '
        f"{_e(failure.event_id)} {_e(failure.event_type)}: {_e(failure.detail)}"
    )
    verify = facts.verify
    if verify is None:
        verify_line = "not verified (no PostgreSQL)"
    elif verify.ok:
        verify_line = (
            f'<span class="ok">agree</span>: {verify.rows} milestones agree with the history; '
            "chain intact"
        )
    else:
        findings = "".join(f"<li>{_e(finding.message)}</li>" for finding in verify.findings)
        verify_line = (
            f'<span class="fail">{len(verify.findings)} finding(s)</span><ul>{findings}</ul>'
        )
    return (
        f"<table><tr><th>replay</th><td>{replay_line}</td></tr>"
        f"<tr><th>verify</th><td>{verify_line}</td></tr></table>"
    )


def _heads(facts: ReportFacts) -> str:
    archive = (
        f'<span class="hash">{_e(facts.archive_head)}</span> ({facts.archive_entries} archived '
        "run(s))"
        if facts.archive_head
        else "no archived run"
    )
    return (
        "<table>"
        f'<tr><th>milestone chain head</th><td><span class="hash">{_e(facts.milestone_head)}'
        f"</span> ({facts.milestones} milestones)</td></tr>"
        f"<tr><th>archive chain head</th><td>{archive}</td></tr></table>"
    )


def _parties(convention: Convention) -> str:
    rows = [
        "<table><thead><tr><th>id</th><th>name</th><th>kind</th><th>country</th>"
        "<th>IATI role</th><th>contacts</th></tr></thead><tbody>"
    ]
    for party in convention.parties:
        contacts = ", ".join(
            f"{contact.name} ({contact.language.value})" for contact in party.contacts
        )
        rows.append(
            f"<tr><td>{_e(party.id)}</td><td>{_text(party.name)}</td>"
            f"<td>{_e(party.kind.value)}</td><td>{_e(party.country)}</td>"
            f"<td>{party_role(convention, party)}</td><td>{_text(contacts)}</td></tr>"
        )
    rows.append("</tbody></table>")
    return "".join(rows)


def _signatories(convention: Convention) -> str:
    if not convention.signatories:
        return "<p>none declared</p>"
    rows = ["<table><thead><tr><th>name</th><th>capacity</th><th>party</th></tr></thead><tbody>"]
    for signatory in convention.signatories:
        rows.append(
            f"<tr><td>{_text(signatory.name)}</td><td>{_text(signatory.capacity)}</td>"
            f"<td>{_e(signatory.party)}</td></tr>"
        )
    rows.append("</tbody></table>")
    return "".join(rows)


# WeasyPrint draws inline SVG without the page's stylesheet: the chart's classes become the
# presentation attributes they stand for, and its pixel width the page's.
_CHART_PAINT = {
    'class="stripe"': 'class="stripe" fill="#f1f1f5"',
    'class="grid"': 'class="grid" stroke="#d8d8e0"',
    'class="bar bar-completed"': 'class="bar bar-completed" fill="#8fb8de"',
    'class="bar bar-running"': 'class="bar bar-running" fill="#c9def0" stroke="#8fb8de"',
    'class="bar bar-failed"': 'class="bar bar-failed" fill="#e8a49d"',
    'class="bar bar-terminated"': 'class="bar bar-terminated" fill="#e8a49d"',
    'class="not-reached"': 'class="not-reached" fill="#999" font-style="italic"',
}
CHART_WIDTH_MM = 186


def printable_chart(svg: str) -> str:
    """The timeline's SVG chart, painted for print and fitted to the page's width."""
    match = re.match(r'<svg role="img" width="(\d+)" height="(\d+)"', svg)
    if match:
        width, height = int(match[1]), int(match[2])
        svg = svg.replace(
            match[0],
            f'<svg role="img" width="{CHART_WIDTH_MM}mm" '
            f'height="{round(CHART_WIDTH_MM * height / width, 1)}mm"',
            1,
        )
    for css_class, painted in _CHART_PAINT.items():
        svg = svg.replace(css_class, painted)
    return svg.replace("<text ", '<text font-family="DejaVu Sans" font-size="11" ')


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
    pdf: bytes = HTML(string=render_report_html(facts)).write_pdf()
    return pdf
