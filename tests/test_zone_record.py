"""The record's sentences in the reader's zone (issue 24): a due moment named inside a
milestone is the day it is where the reader is, a mission's days stay calendar days; the
audit timeline and report take `--zone` (UTC by default, named in the header; an unknown
zone refused naming the option); the desk's XLSX timeline carries the line said in the
reader's language and zone beside the stored columns; `parties contacts change` sets a
person's zone and language; an escalation says the late task's due day in the reader's zone
(escalation-due-moment), an escalation recorded before says the UTC date it carries."""

from __future__ import annotations

import argparse
import asyncio
import csv
import io
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import asyncpg
import pytest
from babel.dates import format_date
from openpyxl import load_workbook
from starlette.requests import Request

from application.directory import cli as directory_cli
from application.office.audit import TimelineFormat, _renderers
from application.office.overview import _facts
from application.rendering import render_status
from auditing.cli import main
from auditing.histories import FileHistories
from auditing.html_report import tick_label, ticks
from auditing.report import render_report_html
from auditing.timeline import CSV_COLUMNS, RENDERED_COLUMNS, build_timeline, entry_text
from infra.database import create_pool
from rendering.catalogues import locale_of
from rendering.refusals import refusal_text
from rendering.timeline import entry_text as rendered_entry
from schemas.audit import Timeline, TimelineEntry, TimelineEvent
from schemas.errors import Reason
from schemas.status import ConventionState, ConventionStatus
from schemas.tasks import Task, TaskFacts, TaskKind
from starter import main as starter_main
from storage import directory as store
from tests.test_office_directory import an_organisation
from tests.test_record_outputs import _report_facts
from web.rendering import render

HISTORIES = Path(__file__).parent / "histories"
BAMAKO = HISTORIES / "current" / "bamako-cooperation"
OVERDUE = HISTORIES / "current" / "funding-overdue"
"""Bamako's funding decision left 91 days: overdue, then escalated to the office."""
OVERDUE_BEFORE = HISTORIES / "before-escalation-due-moment" / "funding-overdue"
"""The same, recorded by the code before escalation-due-moment: its escalation's facts carry
the late task's UTC date (`due_on`) alone."""
HOST_TASK = "mission.host"
"""The hosting task of the Bamako history: assigned due 2023-10-07 23:59 UTC (8 October in
Riyadh, still the 7th in New York), for a mission held from 1 to 7 October 2023."""


def _long(day: date, language: str) -> str:
    # What the locale says, digits included (Babel's own form, not a copy of it).
    return format_date(day, format="long", locale=locale_of(language))


def _timeline(group: Path) -> Timeline:
    async def read() -> Timeline:
        return await build_timeline((await FileHistories.load([group])).chains[0])

    return asyncio.run(read())


def _bamako() -> Timeline:
    return _timeline(BAMAKO)


def _assigned(timeline: Timeline) -> TimelineEntry:
    return next(
        e
        for e in timeline.entries
        if e.task_id == HOST_TASK and e.milestone_kind == "task_assigned"
    )


@pytest.mark.parametrize("language", ["fr", "ar", "en"])
def test_a_due_moment_near_midnight_is_the_readers_day_a_missions_days_are_not_shifted(
    language: str,
) -> None:
    timeline = _bamako()
    assigned = _assigned(timeline)
    said = {
        zone: entry_text(timeline, assigned, language, zone=zone).text
        for zone in ("UTC", "Asia/Riyadh", "America/New_York")
    }
    seventh, eighth = _long(date(2023, 10, 7), language), _long(date(2023, 10, 8), language)
    first = _long(date(2023, 10, 1), language)
    # The due moment (23:59 UTC) is the 8th in Riyadh, the 7th in UTC and in New York …
    assert said["Asia/Riyadh"].count(eighth) == 1, said
    assert said["UTC"].count(seventh) == 2 and eighth not in said["UTC"]  # end + due
    assert said["America/New_York"] == said["UTC"]
    # … while the mission's own days (1 to 7 October, in Bamako) are the same everywhere.
    for text in said.values():
        assert first in text and seventh in text
    if language == "ar":  # the digits are the locale's (Babel's form above), not ISO
        assert "2023-10" not in said["Asia/Riyadh"]


def test_a_refusals_due_moments_are_said_in_the_readers_zone() -> None:
    reason = Reason(
        "2026-12-26 22:30 is not later than the current due date",
        "due_not_later",
        {"new": "2026-12-26T22:30:00+00:00", "current": "2026-12-27T08:00:00+00:00"},
        "new_due_at",
    )
    in_utc = refusal_text(reason, "fr")
    in_riyadh = refusal_text(reason, "fr", "Asia/Riyadh")
    assert in_utc == (
        "le 26 décembre 2026, 22:30 (TU) n'est pas postérieur à l'échéance actuelle, "
        "le 27 décembre 2026, 08:00 (TU)"
    )
    # The next day in Riyadh, and the two moments of that day still told apart.
    assert in_riyadh == (
        "le 27 décembre 2026, 01:30 (heure : Arabie saoudite) n'est pas postérieur à "
        "l'échéance actuelle, le 27 décembre 2026, 11:00 (heure : Arabie saoudite)"
    )


@pytest.mark.parametrize("command", ["timeline", "report"])
def test_an_unknown_zone_is_refused_naming_the_option_and_the_reason(
    command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    target = ["--file", str(BAMAKO)] if command == "timeline" else ["bamako", "--out", "r.pdf"]
    code = main([command, *target, "--zone", "Mars/Olympus"])
    said = capsys.readouterr().err
    assert code == 2, said
    assert "--zone" in said and "'Mars/Olympus'" in said and "IANA" in said


def test_the_text_timeline_in_a_zone_says_it_in_its_header(tmp_path: Path) -> None:
    lines = {}
    for zone in ("UTC", "Asia/Riyadh"):
        out = tmp_path / f"{zone.replace('/', '-')}.txt"
        zoned = [] if zone == "UTC" else ["--zone", zone]
        code = main(["timeline", "--file", str(BAMAKO), "--lang", "fr", "--out", str(out), *zoned])
        assert code == 0
        lines[zone] = out.read_text(encoding="utf-8").splitlines()
    assert lines["UTC"][2].startswith("# heure (UTC)")  # the default, said
    assert lines["Asia/Riyadh"][2].startswith("# heure (Asia/Riyadh)")
    # Every line's time three hours on; the due day of the hosting task the next day.
    utc_first = datetime.fromisoformat(lines["UTC"][3][:19])
    riyadh_first = datetime.fromisoformat(lines["Asia/Riyadh"][3][:19])
    assert (riyadh_first - utc_first).total_seconds() == 3 * 3600
    assert any("échéance le 8 octobre 2023" in line for line in lines["Asia/Riyadh"])
    assert not any("échéance le 8 octobre 2023" in line for line in lines["UTC"])


def test_the_report_in_a_zone_says_its_times_there_and_names_it() -> None:
    facts, _ = _report_facts()
    # 02:30 UTC on 7 December: still the 6th in New York.
    made = datetime(2026, 12, 7, 2, 30, tzinfo=UTC)
    page = render_report_html(
        facts.__class__(**{**facts.__dict__, "generated_at": made, "zone": "America/New_York"})
    )
    assert "made <bdi>2026-12-06 21:30:00</bdi>, times in <bdi>America/New_York</bdi>" in page
    assert "<th>time (America/New_York)</th>" in page
    first = facts.timeline.entries[0].at.astimezone(UTC)
    assert f"<bdi>{first:%Y-%m-%d %H:%M:%S}</bdi>" not in page  # not UTC
    utc_page = render_report_html(facts.__class__(**{**facts.__dict__, "generated_at": made}))
    assert "made <bdi>2026-12-07 02:30:00</bdi> UTC" in utc_page
    assert "<th>time (UTC)</th>" in utc_page


def test_the_desks_xlsx_and_csv_timelines_carry_the_line_said_beside_the_stored_columns() -> None:
    timeline = _bamako()
    downloads = _renderers("fr", {}, "fr", {}, "Asia/Riyadh")
    write_xlsx, _ = downloads[TimelineFormat.XLSX]
    sheet = load_workbook(io.BytesIO(write_xlsx(timeline))).active  # type: ignore[arg-type]
    assert sheet is not None
    rows = [[cell.value for cell in row] for row in sheet.iter_rows()]
    assert rows[0] == [*CSV_COLUMNS, *RENDERED_COLUMNS]
    assert len(rows) == 1 + len(timeline.entries)
    assigned = _assigned(timeline)
    row = next(r for r in rows[1:] if r[0] == assigned.model_dump(mode="json")["at"])
    # The stored columns as programs read them (ISO UTC, the English summary) …
    # (the moment the history was recorded, in UTC, not moved to Riyadh) …
    recorded = datetime.fromisoformat(str(row[0]))
    assert recorded == assigned.at and recorded.utcoffset() == timedelta(0)
    assert row[6] == assigned.summary
    # … and the line in French, its due day Riyadh's.
    assert row[-2] == "fr" and "échéance le 8 octobre 2023" in str(row[-1])
    write_csv, _ = downloads[TimelineFormat.CSV]
    table = list(csv.reader(io.StringIO(str(write_csv(timeline)).lstrip("\ufeff")), delimiter=";"))
    assert table[0][-2:] == ["language", "text"]
    assert any("échéance le 8 octobre 2023" in line[-1] for line in table[1:])


async def _parties(postgres_url: str, *words: str) -> int:
    # `starter.py parties …` in this process (its parser and its verb, as starter.py runs
    # them): a subprocess would spend its seconds importing.
    parser = argparse.ArgumentParser(prog="starter.py")
    directory_cli.register(parser.add_subparsers(dest="command", required=True))
    return await directory_cli.run(
        parser.parse_args(["parties", *words]),
        lambda: create_pool(postgres_url, max_size=2),
        "tester",
    )


async def test_parties_contacts_change_sets_a_persons_zone_and_language(
    postgres_url: str, db_pool: asyncpg.Pool, capsys: pytest.CaptureFixture[str]
) -> None:
    organisation_id = await an_organisation(db_pool)  # a funder in Saudi Arabia
    [(person, _)] = await store.people_of(db_pool, organisation_id)
    change = ("contacts", "change", person.id)
    refused = await _parties(
        postgres_url, *change, "--time-zone", "Mars/Olympus", "--language", "ar"
    )
    assert refused == directory_cli.EXIT_REFUSED
    said = capsys.readouterr().err
    assert "time_zone: not a time zone of the IANA database" in said, said
    unchanged = await store.person(db_pool, person.id)
    assert unchanged is not None and (unchanged.time_zone, unchanged.language) == (None, "fr")
    nothing = await _parties(postgres_url, *change)
    assert nothing == directory_cli.EXIT_REFUSED and "time_zone" in capsys.readouterr().err
    changed = await _parties(
        postgres_url, *change, "--time-zone", " Asia/Riyadh ", "--language", "ar"
    )
    assert changed == directory_cli.EXIT_OK
    assert "reads in ar, Asia/Riyadh" in capsys.readouterr().out
    after = await store.person(db_pool, person.id)
    assert after is not None and (after.time_zone, after.language) == ("Asia/Riyadh", "ar")
    assert (after.email, after.confirmed_at) == (unchanged.email, unchanged.confirmed_at)
    # Emptied: the organisation's country's zone again, the language kept.
    assert await _parties(postgres_url, *change, "--time-zone", "") == directory_cli.EXIT_OK
    assert "the organisation's country's" in capsys.readouterr().out
    emptied = await store.person(db_pool, person.id)
    assert emptied is not None and (emptied.time_zone, emptied.language) == (None, "ar")


def test_the_convention_pages_dates_are_the_readers_days() -> None:
    # 22:30 UTC on 26 December: the 27th in Riyadh.
    row = {"updated_at": datetime(2026, 12, 26, 22, 30, tzinfo=UTC)}
    for zone, expected in (("UTC", date(2026, 12, 26)), ("Asia/Riyadh", date(2026, 12, 27))):
        [(label, said)] = _facts(row, None, [], "ar", zone)
        assert label == "Last changed on" and said.text == _long(expected, "ar")


def test_status_says_due_dates_and_times_in_the_zone_asked_and_refuses_an_unknown_one(
    capsys: pytest.CaptureFixture[str],
) -> None:
    near_midnight = datetime(2026, 12, 26, 22, 30, tzinfo=UTC)
    task = Task(
        id="f.d",
        convention_id="bamako-2026",
        stage="funding_request",
        kind=TaskKind.DECIDE_FUNDING,
        assignee="bid",
        title="Decide on the funding request of 40000000 IsDB-ID",
        assigned_at=near_midnight,
        due_at=near_midnight,
    )
    status = ConventionStatus(
        convention_id="bamako-2026",
        title="Coopération OFPPT – MENEFP",
        kind="partnership",
        parent=None,
        state=ConventionState.ACTIVE,
        current_stage="funding_request",
        stages=["funding_request"],
        open_tasks=[task],
        milestone_count=0,
    )
    in_utc = render_status(status, language="fr")
    in_riyadh = render_status(status, language="fr", zone="Asia/Riyadh")
    assert "échéance 2026-12-26" in in_utc and "heures en" not in in_utc
    assert "échéance 2026-12-27" in in_riyadh and "  heures en Asia/Riyadh" in in_riyadh
    with pytest.raises(SystemExit) as refused:
        starter_main(["status", "bamako-2026", "--zone", "Mars/Olympus"])
    assert refused.value.code == 2
    said = capsys.readouterr().err
    assert "argument --zone: unknown time zone 'Mars/Olympus'" in said, said


def test_the_charts_day_ticks_fall_on_the_readers_midnights() -> None:
    start = datetime(2026, 12, 1, 7, tzinfo=UTC)
    for zone, first in (("UTC", 0), ("America/New_York", 5), ("Asia/Riyadh", 21)):
        step, moments = ticks(start, start + timedelta(days=6), zone)
        assert step == 86400 and moments[0].hour == first, (zone, moments[0])
        assert tick_label(moments[0], step, zone) == "2026-12-02"


def test_an_officers_new_due_moment_is_said_in_the_readers_zone() -> None:
    postponed = TimelineEntry(
        at=datetime(2026, 12, 20, 9, tzinfo=UTC),
        event=TimelineEvent.OFFICER_ACTION,
        task_id="f.d",
        summary="officer postponed f.d",
        run_id="r1",
        event_id=7,
        details={
            "update": "postpone_deadline",
            "request": {
                "task_id": "f.d",
                "new_due_at": "2026-12-26T22:30:00+00:00",
                "reason": "mission reportée",
                "officer": "nadia",
            },
        },
    )
    said = rendered_entry(postponed, "bamako-2026", "fr", zone="Asia/Riyadh").text
    assert "27 décembre 2026, 01:30 (heure : Arabie saoudite)" in said, said
    assert "mission reportée" in said and "2026-12-26T22:30" not in said
    in_utc = rendered_entry(postponed, "bamako-2026", "fr").text
    assert "26 décembre 2026, 22:30 (TU)" in in_utc, in_utc


def _escalation(group: Path) -> tuple[Timeline, TimelineEntry, TimelineEntry]:
    """A recorded funding-overdue run: its timeline, the late task's overdue line and the
    line that gives the office its escalation task."""
    timeline = _timeline(group)
    overdue = next(e for e in timeline.entries if e.milestone_kind == "task_overdue")
    escalated = next(
        e
        for e in timeline.entries
        if e.milestone_kind == "task_assigned" and (e.task_id or "").startswith("escalation.")
    )
    return timeline, overdue, escalated


def _due_near_midnight(escalated: TimelineEntry) -> tuple[TimelineEntry, datetime]:
    """The recorded escalation, its late task due at 23:59 UTC on the day it was due."""
    facts = escalated.details["task"]
    near_midnight = datetime.combine(date.fromisoformat(facts["due_on"]), time(23, 59), UTC)
    moved = {**facts, "due_at": near_midnight.isoformat()}
    return escalated.model_copy(
        update={"details": {**escalated.details, "task": moved}}
    ), near_midnight


@pytest.mark.parametrize("language", ["fr", "ar", "en"])
def test_an_escalation_says_the_late_tasks_due_day_in_the_readers_zone(language: str) -> None:
    timeline, overdue, escalated = _escalation(OVERDUE)
    # The workflow wrote the late task's due moment beside its UTC date.
    facts = escalated.details["task"]
    assert datetime.fromisoformat(facts["due_at"]) == datetime.fromisoformat(
        overdue.details["due_at"]
    )
    # Due at 23:59 UTC: the next day in Riyadh, in the line `audit.py timeline --zone` writes
    # (a convention id of its own: the line of the recorded moment is kept under the other).
    moved, due = _due_near_midnight(escalated)
    elsewhere = timeline.model_copy(update={"convention_id": "escalated-near-midnight"})
    said = {
        zone: entry_text(elsewhere, moved, language, zone=zone).text
        for zone in ("UTC", "Asia/Riyadh")
    }
    that_day, next_day = _long(due.date(), language), _long(due.date() + timedelta(1), language)
    assert that_day in said["UTC"] and next_day not in said["UTC"], said
    assert next_day in said["Asia/Riyadh"] and that_day not in said["Asia/Riyadh"], said
    assert not entry_text(elsewhere, moved, language, zone="Asia/Riyadh").as_recorded


def _office_task_page(task: Task, zone: str) -> str:
    """The office's task page (office/task.html) as web.rendering renders it for an account
    that reads in `zone` (the session's dependency keeps it on the request)."""
    scope: dict[str, Any] = {
        "type": "http",
        "method": "GET",
        "path": f"/office/conventions/{task.convention_id}/tasks/{task.id}",
        "query_string": b"",
        "headers": [],
        "app": SimpleNamespace(state=SimpleNamespace()),
    }
    request = Request(scope)
    request.state.reader_zone = zone
    convention = SimpleNamespace(id=task.convention_id, title_in=lambda language: "Bamako")
    page = render(
        request,
        "office/task.html",
        "fr",
        csrf="token",
        convention=convention,
        task=task,
        view=SimpleNamespace(overdue=False),
        fields=[],
        notices=[],
        errors={},
        doc_link=lambda uri, sha256: None,
    )
    return bytes(page.body).decode()


def _escalation_task(facts: dict[str, Any]) -> Task:
    return Task(
        id="escalation.funding_request.decision.r1",
        convention_id="funding-overdue",
        stage="funding_request",
        kind=TaskKind.RESOLVE_ESCALATION,
        assignee="ofppt",
        title="Late: (the English title the workflow wrote)",
        assigned_at=datetime(2027, 3, 8, tzinfo=UTC),
        due_at=datetime(2027, 3, 15, 12, tzinfo=UTC),
        facts=TaskFacts.model_validate(facts),
    )


def test_the_office_task_page_says_an_escalations_late_day_in_the_accounts_zone() -> None:
    _, _, escalated = _escalation(OVERDUE)
    moved, due = _due_near_midnight(escalated)
    task = _escalation_task(moved.details["task"])
    in_utc, in_riyadh = (_office_task_page(task, zone) for zone in ("UTC", "Asia/Riyadh"))
    heading = "échéance le {})</h1>"
    assert heading.format(_long(due.date(), "fr")) in in_utc, in_utc
    assert heading.format(_long(due.date() + timedelta(1), "fr")) in in_riyadh, in_riyadh


def test_an_escalation_recorded_before_says_the_utc_date_it_carries_in_every_zone() -> None:
    timeline, _, escalated = _escalation(OVERDUE_BEFORE)
    facts = escalated.details["task"]
    assert "due_at" not in facts  # the code before wrote the date alone
    recorded = _long(date.fromisoformat(facts["due_on"]), "fr")
    # UTC+14: any moment of that UTC day is the next one there; the date is said as written.
    for zone in ("UTC", "Asia/Riyadh", "Pacific/Kiritimati"):
        said = entry_text(timeline, escalated, "fr", zone=zone)
        assert f"échéance le {recorded})" in said.text and not said.as_recorded, said.text
        page = _office_task_page(_escalation_task(facts), zone)
        assert f"échéance le {recorded})</h1>" in page, page
