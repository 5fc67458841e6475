"""What an auditor or an officer reads outside the desks is said in their language, parties by
their names: the audit timeline in every format, the audit report, IATI's narratives, the
`status` frame and the mails that are not a task's.

Arabic is checked with the catalogues' own test (no Latin-script word outside the data, the
data being isolated: U+2068…U+2069 in text, <bdi> in HTML); French, which shares the script,
by the English words the frame and the sentences would leave if they were not rendered.
"""

from __future__ import annotations

import csv
import html
import io
import json
import re
import subprocess
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path

import pytest
from lxml import etree

from activities.message_templates import render
from application.rendering import render_status
from auditing.bundle import as_milestone
from auditing.histories import FileHistories
from auditing.html_report import render_html
from auditing.iati import (
    ConventionRecord,
    Reporter,
    activities_document,
    convention_from_history,
    validation_errors,
)
from auditing.report import ReportFacts, render_report_html
from auditing.timeline import (
    CSV_COLUMNS,
    RENDERED_COLUMNS,
    build_timeline,
    entry_text,
    party_names,
    render_csv,
    render_json,
    render_text,
)
from rendering.catalogues import gettext
from rendering.record import PartyNames, stage_name
from rendering.timeline import EVENT_LABELS
from schemas.audit import ReplayResult, Timeline, TimelineEntry, TimelineEvent
from schemas.convention import Contact
from schemas.notifications import Notification, NotificationEvent
from schemas.status import ConventionState, ConventionStatus
from schemas.tasks import Task, TaskKind
from schemas.values import Language
from tests.test_catalogues import ISOLATED, LATIN_WORD
from tests.test_milestone_details import recorded_milestones
from tests.test_record_text import HISTORIES

TECHNICAL = {"UTC", "IATI", "PostgreSQL", "Temporal"}
"""Names of things that are the same in every language."""
ENGLISH = re.compile(
    r"\b(the|of|by|and|answered|notified|delivered|failed|task|officer|owed|entered|"
    r"left|with|from|recipients?|reminder|escalation|milestones?|signed|refused|approved|"
    r"rejected|events?|timeline|reached|now|over|what|who|runs?|replays?|agree|verify|"
    r"parent|kind|state|open|tasks|stages|archived|chain|head|told|given|request)\b"
)
RECORDINGS = ["funding-overdue", "signature-refused", "funding-rejected", "continued-as-new"]
ARABIC_FUNDER = "البنك الإسلامي للتنمية"
FRENCH_FUNDER = "Banque Islamique de Développement (BID)"


def latin_outside_data(text: str) -> list[str]:
    """Latin-script words of a plain text outside its isolated data."""
    return [w for w in LATIN_WORD.findall(ISOLATED.sub("", text)) if w not in TECHNICAL]


def html_outside_data(page: str) -> str:
    """What an HTML page says outside its data: no style, no markup, no <bdi> content."""
    page = re.sub(r"<style>.*?</style>", "", page, flags=re.S)
    page = re.sub(r"<bdi>.*?</bdi>", "", page, flags=re.S)
    page = re.sub(r"<title>[^<]*</title>", "", page)  # a chart marker's tooltip: its line
    return re.sub(r"<[^>]+>", " ", page)


@cache
def _timelines() -> dict[str, Timeline]:
    import asyncio

    async def read() -> dict[str, Timeline]:
        read_ones = {}
        for name in RECORDINGS:
            chain = (await FileHistories.load([HISTORIES / name])).chains[0]
            read_ones[name] = await build_timeline(chain)
        return read_ones

    return asyncio.run(read())


def timeline(name: str) -> Timeline:
    return _timelines()[name]


def test_every_event_of_the_timeline_has_a_name_in_the_catalogues() -> None:
    assert set(EVENT_LABELS) == set(TimelineEvent)


@pytest.mark.parametrize("name", RECORDINGS)
def test_every_line_of_a_timeline_is_rendered_none_read_back_as_recorded(name: str) -> None:
    read = timeline(name)
    for language in ("fr", "ar"):
        for entry in read.entries:
            said = entry_text(read, entry, language)
            assert not said.as_recorded, (entry.event, entry.summary)
            assert said.text.strip(), entry


@pytest.mark.parametrize("name", RECORDINGS)
def test_the_arabic_timeline_text_has_no_latin_word_outside_the_data(name: str) -> None:
    text = render_text(timeline(name), "ar")
    for line in text.splitlines():
        assert not latin_outside_data(line), line


@pytest.mark.parametrize("name", RECORDINGS)
def test_the_french_timeline_has_no_english_word_outside_the_data(name: str) -> None:
    read = timeline(name)
    page = html_outside_data(render_html(read, language="fr"))
    assert not ENGLISH.findall(page), sorted(set(ENGLISH.findall(page)))
    english = html_outside_data(render_html(read, language="en"))
    assert ENGLISH.findall(english), "the check finds English where there is some"


def test_the_html_timeline_is_right_to_left_in_arabic_names_isolated_not_ids() -> None:
    read = timeline("funding-overdue")
    page = render_html(read, language="ar")

    assert '<html lang="ar" dir="rtl">' in page
    assert f"<bdi>{ARABIC_FUNDER}</bdi>" in page
    assert "<bdi>bid</bdi>" not in page  # the funder by its name, never its id
    assert not latin_outside_data(html_outside_data(page))
    french = render_html(read, language="fr")
    assert '<html lang="fr" dir="ltr">' in french and f"<bdi>{FRENCH_FUNDER}</bdi>" in french


def test_the_directory_names_a_party_before_the_file_does() -> None:
    read = timeline("funding-overdue")
    names = party_names(read, "fr", {"bid": "Banque islamique de développement"})

    text = render_text(read, "fr", names)

    assert "Banque islamique de développement a accordé" in text
    assert FRENCH_FUNDER not in text


def test_the_csv_keeps_its_stored_columns_and_adds_the_readers_line() -> None:
    read = timeline("funding-overdue")
    rows = list(csv.DictReader(io.StringIO(render_csv(read, "ar"), newline="")))

    assert list(rows[0]) == [*CSV_COLUMNS, *RENDERED_COLUMNS]
    assert [row["summary"] for row in rows] == [entry.summary for entry in read.entries]
    for row in rows:
        assert row["language"] == "ar"
        outside = [w for w in LATIN_WORD.findall(row["text"]) if w not in TECHNICAL]
        # The cell has no isolates (a spreadsheet shows them as boxes): the data's words are
        # the only Latin ones, the names and ids the record holds.
        assert all(word in json.dumps(row, ensure_ascii=False) for word in outside)
    answered = next(row for row in rows if row["event"] == "task_answered")
    assert answered["text"].startswith(f"ردّ {ARABIC_FUNDER}: الموافقة")


def test_the_json_carries_kinds_and_details_not_prose() -> None:
    read = timeline("funding-overdue")
    document = json.loads(render_json(read))

    assert all("summary" not in entry for entry in document["entries"])
    answered = next(e for e in document["entries"] if e["event"] == "task_answered")
    assert answered["details"]["answer"]["decision"] == "approve"
    delivered = [e for e in document["entries"] if e["event"] == "notified"]
    assert all(e["details"]["notification_event"] for e in delivered)
    assert document["party_names"]["bid"].startswith(FRENCH_FUNDER)
    assert Timeline.model_validate(document).entries[0].summary == ""


def test_a_title_given_only_in_arabic_is_read_in_french_with_the_fallback_said() -> None:
    arabic_title = "التعاون بين المكتب ووزارة التكوين في مالي"
    read = timeline("signature-refused").model_copy(
        update={"title": arabic_title, "titles": {"ar": arabic_title}}
    )

    french = render_text(read, "fr").splitlines()[0]
    arabic = render_text(read, "ar").splitlines()[0]

    assert f"{arabic_title} (en arabe : pas de version dans votre langue)" in french
    assert arabic.endswith(f"\u2068{arabic_title}\u2069")


def _notified(recipients: int) -> TimelineEntry:
    return TimelineEntry(
        at=datetime(2026, 12, 7, tzinfo=UTC),
        event=TimelineEvent.NOTIFIED,
        party="bid",
        run_id="r",
        event_id=1,
        details={
            "notification_event": "task.reminder",
            "recipients": [f"Contact {n}" for n in range(recipients)],
        },
    )


@pytest.mark.parametrize(
    ("count", "arabic", "french"),
    [
        (0, "لا مرسل إليه", "0 destinataire"),
        (1, "مرسل إليه واحد", "1 destinataire"),
        (2, "مرسل إليهما اثنان", "2 destinataires"),
        (3, "3 مرسل إليهم", "3 destinataires"),
        (11, "11 مرسلًا إليه", "11 destinataires"),
    ],
)
def test_counts_inside_a_line_take_the_languages_plural_forms(
    count: int, arabic: str, french: str
) -> None:
    read = timeline("funding-overdue")
    assert arabic in entry_text(read, _notified(count), "ar").text
    assert french in entry_text(read, _notified(count), "fr").text


@cache
def _report_facts() -> tuple[ReportFacts, ConventionRecord]:
    import asyncio

    async def read() -> tuple[ReportFacts, ConventionRecord]:
        chain = (await FileHistories.load([HISTORIES / "bamako-cooperation"])).chains[0]
        convention = await convention_from_history(chain)
        read_timeline = await build_timeline(chain)
        milestones = [
            as_milestone(row)
            for row in await recorded_milestones(HISTORIES / "bamako-cooperation")
            if row["convention_id"] == convention.id
        ]
        facts = ReportFacts(
            convention=convention,
            timeline=read_timeline,
            replay=ReplayResult(
                convention_id=convention.id, workflow_id=chain.workflow_id, source="file", runs=[]
            ),
            verify=None,
            milestone_head="ab" * 32,
            milestones=len(milestones),
            archive_head=None,
            archive_entries=0,
            generated_at=datetime(2026, 12, 7, 9, tzinfo=UTC),
        )
        return facts, ConventionRecord(convention, milestones)

    return asyncio.run(read())


def test_the_audit_report_in_arabic_is_right_to_left_with_names_and_no_english() -> None:
    facts, _ = _report_facts()
    funder = next(p for p in facts.convention.parties if p.kind.value == "funder")
    arabic = facts.__class__(
        **{
            **facts.__dict__,
            "language": "ar",
            "organisation_names": {funder.id: "البنك الإسلامي للتنمية (الدليل)"},
        }
    )

    page = render_report_html(arabic)

    assert '<html lang="ar" dir="rtl">' in page
    assert "<bdi>البنك الإسلامي للتنمية (الدليل)</bdi>" in page
    assert "ab" * 32 in page  # the chain's head, for check-bundle
    assert not latin_outside_data(html_outside_data(page)), latin_outside_data(
        html_outside_data(page)
    )


def test_the_audit_report_in_french_has_no_english_frame() -> None:
    facts, _ = _report_facts()
    page = render_report_html(facts.__class__(**{**facts.__dict__, "language": "fr"}))

    assert '<html lang="fr" dir="ltr">' in page
    assert "Rapport d'audit de la convention" in html.unescape(page)
    assert not ENGLISH.findall(html_outside_data(page)), sorted(
        set(ENGLISH.findall(html_outside_data(page)))
    )


def test_iati_says_each_title_and_each_directory_name_in_its_own_language() -> None:
    _, record = _report_facts()
    convention = record.convention.model_copy(
        update={
            "titles": {
                Language.FRENCH: "Coopération OFPPT – MENEFP",
                Language.ARABIC: "التعاون بين المكتب والوزارة",
                Language.ENGLISH: "OFPPT – MENEFP cooperation",
            },
            "title": "Coopération OFPPT – MENEFP",
        }
    )
    funder = next(p for p in convention.parties if p.kind.value == "funder")
    named = ConventionRecord(
        convention,
        record.milestones,
        organisation_names={
            funder.id: {"fr": "Banque islamique", "ar": "البنك الإسلامي", "en": "Islamic Bank"}
        },
    )

    document, incomplete = activities_document([named], Reporter("MA-RC-TEST"))

    assert incomplete == [] and document is not None
    assert validation_errors(document) == []
    root = etree.fromstring(document)
    lang = "{http://www.w3.org/XML/1998/namespace}lang"
    titles = {n.get(lang): n.text for n in root.iterfind(".//iati-activity/title/narrative")}
    assert titles == {
        "fr": "Coopération OFPPT – MENEFP",
        "ar": "التعاون بين المكتب والوزارة",
        "en": "OFPPT – MENEFP cooperation",
    }
    org = next(
        o
        for o in root.iterfind(".//participating-org")
        if any(n.text == "Islamic Bank" for n in o.iterfind("narrative"))
    )
    assert {n.get(lang): n.text for n in org.iterfind("narrative")} == {
        "fr": "Banque islamique",
        "ar": "البنك الإسلامي",
        "en": "Islamic Bank",
    }
    descriptions = {
        n.get(lang): n.text for n in root.iterfind(".//iati-activity/description/narrative")
    }
    arabic = descriptions["ar"] or ""
    assert "التعاون بين المكتب والوزارة" in arabic and "البنك الإسلامي" in arabic


NOW = datetime(2026, 12, 7, 9, tzinfo=UTC)


def _task(kind: TaskKind, title: str, task_id: str, assignee: str = "bid") -> Task:
    return Task(
        id=task_id,
        convention_id="bamako-2026",
        stage="funding_request",
        kind=kind,
        assignee=assignee,
        title=title,
        assigned_at=NOW,
        due_at=NOW + timedelta(days=30),
    )


def test_status_speaks_arabic_and_french_frame_and_all_parties_by_name() -> None:
    decide = _task(
        TaskKind.DECIDE_FUNDING, "Decide on the funding request of 40000000 IsDB-ID", "f.d"
    )
    status = ConventionStatus(
        convention_id="bamako-2026",
        title="Coopération OFPPT – MENEFP",
        kind="partnership",
        parent=None,
        state=ConventionState.ACTIVE,
        current_stage="funding_request",
        stages=["mission", "funding_request"],
        open_tasks=[decide],
        milestone_count=0,
        runs=2,
    )
    names = PartyNames.of({"bid": ARABIC_FUNDER})

    arabic = render_status(status, language="ar", names=names)
    french = render_status(status, language="fr", names=PartyNames.of({"bid": FRENCH_FUNDER}))

    assert "المهام المفتوحة (1):" in arabic and ARABIC_FUNDER in arabic
    for line in arabic.splitlines():
        assert not latin_outside_data(line), line
    assert "tâches ouvertes (1) :" in french and f"due par {FRENCH_FUNDER}" in french
    assert "chronologie (0 jalon) :" in french
    assert not ENGLISH.findall(french), ENGLISH.findall(french)
    # English stays as it was.
    english = render_status(status)
    assert "open tasks (1):" in english and "timeline (0 milestones):" in english


def _notification(event: NotificationEvent, language: Language, task: Task | None) -> Notification:
    return Notification(
        id=f"bamako-2026/x/{event.value}",
        convention_id="bamako-2026",
        event=event,
        party="ofppt" if event is NotificationEvent.TASK_ESCALATED else "bid",
        recipients=[Contact(name="Awa", email="awa@example.org", language=language)],
        language=language,
        subject="[bamako-2026] x",
        task=task,
        stage="funding_request" if task is None else None,
        created_at=NOW,
        convention_title="Coopération OFPPT – MENEFP",
    )


@pytest.mark.parametrize("language", [Language.ARABIC, Language.FRENCH])
@pytest.mark.parametrize(
    "event",
    [
        NotificationEvent.TASK_REMINDER,
        NotificationEvent.TASK_ESCALATED,
        NotificationEvent.STAGE_CHANGED,
    ],
)
def test_reminders_escalations_and_stage_announcements_name_the_party(
    event: NotificationEvent, language: Language
) -> None:
    task = (
        None
        if event is NotificationEvent.STAGE_CHANGED
        else _task(
            TaskKind.DECIDE_FUNDING, "Decide on the funding request of 40000000 IsDB-ID", "f.d"
        )
    )
    funder = ARABIC_FUNDER if language is Language.ARABIC else FRENCH_FUNDER
    named = {"bid": funder, "ofppt": "OFPPT"}
    notification = _notification(event, language, task)

    message = render(notification, party_name=named[notification.party], names=named)

    # The party that owes the task (or is told of the stage) by its name, isolated in Arabic.
    assert funder in message.text and "bid" not in message.text.replace("bamako", "")
    if language is Language.ARABIC:
        assert f"\u2068{funder}\u2069" in message.text
        assert f"<bdi>{funder}</bdi>" in message.html
        for paragraph in message.text.split("\n\n")[1:-1]:
            assert not latin_outside_data(paragraph), paragraph


def test_the_arabic_pdf_report_is_laid_out_and_keeps_the_heads_check_bundle_reads() -> None:
    pytest.importorskip("weasyprint")
    from auditing.bundle import pdf_text
    from auditing.report import ReportUnavailable, render_report_pdf

    facts, _ = _report_facts()
    try:
        pdf = render_report_pdf(facts.__class__(**{**facts.__dict__, "language": "ar"}))
    except ReportUnavailable as error:  # no Pango on this machine
        pytest.skip(str(error))

    text = pdf_text(pdf)
    assert "التسلسل الزمني" in text and "الموقّعون" in text
    assert "ab" * 32 in "".join(text.split())  # what check-bundle looks for
    assert "Timeline" not in text and "Verdicts" not in text


def test_the_arabic_pdf_reports_stage_chart_says_each_stage_in_whole_words() -> None:
    """The chart's labels are HTML text shaped by Pango: pdftotext reads each stage's
    Arabic name whole (drawn as SVG text it came out letter by letter, unjoined, reversed)."""
    pytest.importorskip("weasyprint")
    from auditing.report import ReportUnavailable, render_report_pdf

    facts, _ = _report_facts()
    try:
        pdf = render_report_pdf(facts.__class__(**{**facts.__dict__, "language": "ar"}))
    except ReportUnavailable as error:  # no Pango on this machine
        pytest.skip(str(error))
    text = subprocess.run(
        ["pdftotext", "-enc", "UTF-8", "-", "-"], input=pdf, capture_output=True, check=True
    ).stdout.decode()

    # The chart stands between its heading and the legend's first word.
    chart = text.split(gettext("ar", "Stages over time"), 1)[1].split(gettext("ar", "stage"))[0]
    stages = facts.timeline.stages
    assert len(stages) == 3
    for stage in stages:
        # pdftotext wraps a right-to-left line in embedding marks (U+202B … U+202C)
        lines = [line.strip("\u202b\u202c ") for line in chart.splitlines()]
        assert stage_name(stage, "ar").text in lines, (stage, chart)


@pytest.mark.parametrize(
    ("fmt", "expected"),
    [
        ("text", "# الوقت (UTC)"),
        ("html", '<html lang="ar" dir="rtl">'),
        ("csv", ",language,text\n"),
        ("json", '"milestone_kind": "funding_decided"'),
    ],
)
def test_audit_timeline_from_files_speaks_the_chosen_language(
    fmt: str, expected: str, tmp_path: Path
) -> None:
    from auditing.cli import main

    out = tmp_path / f"timeline.{fmt}"
    code = main(
        [
            "timeline",
            "--file",
            str(HISTORIES / "funding-overdue"),
            "--format",
            fmt,
            "--lang",
            "ar",
            "--out",
            str(out),
        ]
    )

    assert code == 0
    written = out.read_text(encoding="utf-8")
    assert expected in written.replace("\r\n", "\n")
    if fmt != "json":
        assert ARABIC_FUNDER in written
