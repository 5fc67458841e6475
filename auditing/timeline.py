"""A convention's timeline, read from its history: what a person needs to know, in order.

Stage entered and left, task assigned, reminded, escalated, answered (by which party, with
what), the other milestones, notifications: from the milestone activities' inputs, the
notification activities' inputs and the answers' updates, each at the workflow's own time.
Rendered as text, JSON or CSV here; as an HTML report in html_report.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DataConverter

from auditing.decode import (
    ANSWER_TASK,
    DELIVERIES,
    GIVE_UP_DELIVERY,
    NOTIFY_PARTY,
    PERSIST_MILESTONE,
    AcceptedUpdate,
    RunClosed,
    RunRecord,
    ScheduledActivity,
    convention_of,
    read_run,
)
from auditing.histories import ConventionHistory
from records.csv_writer import write_csv
from rendering.catalogues import N_, supported
from rendering.formats import (
    FIRST_STRONG_ISOLATE,
    POP_DIRECTIONAL_ISOLATE,
    Said,
    data,
    part_in,
    say,
)
from rendering.record import PartyNames, directory_people, stage_name
from rendering.timeline import column_labels, event_label, title_in, who
from rendering.timeline import entry_text as rendered_entry
from rendering.zones import DEFAULT_ZONE
from schemas.archive import RunClose
from schemas.audit import (
    EventOutcome,
    StageOutcome,
    StageSpan,
    Timeline,
    TimelineEntry,
    TimelineEvent,
)
from schemas.milestone_details import TaskAssignedDetails, details_as
from schemas.milestones import MilestoneKind

# Milestones that are a line of their own kind; every other kind is a plain `milestone` line.
_MILESTONE_EVENTS: dict[str, TimelineEvent] = {
    MilestoneKind.CONVENTION_STARTED: TimelineEvent.CONVENTION_STARTED,
    MilestoneKind.STAGE_ENTERED: TimelineEvent.STAGE_ENTERED,
    MilestoneKind.STAGE_COMPLETED: TimelineEvent.STAGE_LEFT,
    MilestoneKind.STAGE_FAILED: TimelineEvent.STAGE_LEFT,
    MilestoneKind.TASK_ASSIGNED: TimelineEvent.TASK_ASSIGNED,
    MilestoneKind.TASK_ANSWERED: TimelineEvent.TASK_ANSWERED,
    MilestoneKind.TASK_REMINDED: TimelineEvent.TASK_REMINDED,
    MilestoneKind.TASK_OVERDUE: TimelineEvent.TASK_OVERDUE,
    MilestoneKind.TASK_CANCELLED: TimelineEvent.TASK_CANCELLED,
    MilestoneKind.CONVENTION_COMPLETED: TimelineEvent.CONVENTION_COMPLETED,
    MilestoneKind.CONVENTION_FAILED: TimelineEvent.CONVENTION_FAILED,
    MilestoneKind.CONVENTION_TERMINATED: TimelineEvent.CONVENTION_TERMINATED,
}
# How a stage is left when the convention ends while in it.
_ENDINGS: dict[str, StageOutcome] = {
    MilestoneKind.CONVENTION_FAILED: StageOutcome.FAILED,
    MilestoneKind.CONVENTION_TERMINATED: StageOutcome.TERMINATED,
}
_ABNORMAL_CLOSE = {RunClose.FAILED, RunClose.TIMED_OUT, RunClose.CANCELED, RunClose.TERMINATED}

CSV_COLUMNS = (
    "at",
    "event",
    "stage",
    "task_id",
    "party",
    "actor",
    "summary",
    "milestone_seq",
    "milestone_kind",
    "run_id",
    "event_id",
    "details",
)
"""The stored columns: `summary` is the English line, kept for older readers."""
RENDERED_COLUMNS = ("language", "text")
"""The line in the reader's language, rendered from the kinds and details."""


async def build_timeline(
    convention: ConventionHistory, converter: DataConverter = pydantic_data_converter
) -> Timeline:
    """Every run's events that matter to a person, in history order, and each stage's stays.

    `converter` decodes the payloads: the configured one (infra.temporal_client) reads
    encrypted histories.
    """
    runs = [await read_run(history, converter) for history in convention.runs]
    builder = _Builder()
    for run in runs:
        builder.add_run(run)
    # The ledger writes milestones a little after they are recorded (a batch may follow an
    # answer accepted meanwhile): each line sits at its own time, ties in history order.
    builder.entries.sort(key=lambda entry: entry.at)
    declared = convention_of(runs[0].input) if runs else None
    title = declared.get("title") if declared else None
    stages = [
        str(spec["stage"])
        for spec in (declared or {}).get("stages", [])
        if isinstance(spec, dict) and spec.get("stage")
    ]
    for entry in builder.entries:
        if entry.event is TimelineEvent.STAGE_ENTERED and entry.stage and entry.stage not in stages:
            stages.append(entry.stage)
    # The file's form (`title: {fr: …}`) or the validated one (`title` + `titles`).
    titles = _titles(declared.get("title") if declared else None) or _titles(
        declared.get("titles") if declared else None
    )
    return Timeline(
        convention_id=convention.convention_id,
        workflow_id=convention.workflow_id,
        title=(next(iter(titles.values())) if titles else str(title)) if title else None,
        titles=titles,
        party_names={
            str(party["id"]): str(party.get("name") or party["id"])
            for party in (declared or {}).get("parties", [])
            if isinstance(party, dict) and party.get("id")
        },
        party_names_in={
            str(party["id"]): _titles(party.get("names"))
            for party in (declared or {}).get("parties", [])
            if isinstance(party, dict) and party.get("id") and _titles(party.get("names"))
        },
        source=convention.source,
        stages=stages,
        spans=stage_spans(builder.entries),
        entries=builder.entries,
    )


def _titles(title: Any) -> dict[str, str]:
    """The title's languages, when the file gave several (`title: {fr: …, ar: …}`)."""
    if isinstance(title, dict):
        return {str(language): str(text) for language, text in title.items() if text}
    return {}


def stage_spans(entries: list[TimelineEntry]) -> list[StageSpan]:
    """Each stay in a stage, from its stage_entered line to the stage_left line that ends it."""
    spans: list[StageSpan] = []
    open_stays: dict[str, TimelineEntry] = {}
    for entry in entries:
        if not entry.stage:
            continue
        if entry.event is TimelineEvent.STAGE_ENTERED:
            open_stays[entry.stage] = entry
        elif entry.event is TimelineEvent.STAGE_LEFT and entry.stage in open_stays:
            entered = open_stays.pop(entry.stage)
            spans.append(
                StageSpan(
                    stage=entry.stage,
                    entered_at=entered.at,
                    left_at=entry.at,
                    outcome=StageOutcome(entry.details.get("outcome", StageOutcome.COMPLETED)),
                )
            )
    spans.extend(
        StageSpan(stage=stage, entered_at=entered.at, left_at=None, outcome=StageOutcome.RUNNING)
        for stage, entered in open_stays.items()
    )
    return sorted(spans, key=lambda span: span.entered_at)


class _Builder:
    """Turns runs' items into timeline entries, remembering which stage each task is in."""

    def __init__(self) -> None:
        self.entries: list[TimelineEntry] = []
        self._task_stage: dict[str, str | None] = {}
        self._answered_by_update: set[str] = set()
        self._in_stage: str | None = None

    def add_run(self, run: RunRecord) -> None:
        for item in run.items:
            if isinstance(item, ScheduledActivity):
                if item.activity_type == PERSIST_MILESTONE:
                    self._milestone(run, item)
                elif item.activity_type == NOTIFY_PARTY:
                    self._notification(run, item)
                elif item.activity_type in DELIVERIES:
                    self._delivery(run, item)
                elif item.activity_type == GIVE_UP_DELIVERY:
                    self._gave_up(run, item)
            elif isinstance(item, AcceptedUpdate):
                if item.name == ANSWER_TASK:
                    self._answer(run, item)
                else:
                    self._officer_action(run, item)
            elif isinstance(item, RunClosed):
                self._closed(run, item)

    def _add(self, run: RunRecord, event_id: int, **fields: Any) -> None:
        entry = TimelineEntry(run_id=run.run_id, event_id=event_id, **fields)
        if entry.event is TimelineEvent.STAGE_ENTERED:
            self._in_stage = entry.stage
        elif entry.event is TimelineEvent.STAGE_LEFT:
            self._in_stage = None
        self.entries.append(entry)

    def _milestone(self, run: RunRecord, item: ScheduledActivity) -> None:
        milestone = _first_dict(item.input)
        kind = str(milestone.get("kind", ""))
        task_id = _text(milestone.get("task_id"))
        stage = _text(milestone.get("stage"))
        # The line carries the details as recorded; what it decides on reads them typed.
        details = dict(milestone.get("details") or {})
        if kind == MilestoneKind.TASK_ASSIGNED and task_id:
            self._task_stage[task_id] = stage
        if kind == MilestoneKind.TASK_ANSWERED and task_id in self._answered_by_update:
            return  # the answer's own line, from its update, already says it
        event = _MILESTONE_EVENTS.get(kind, TimelineEvent.MILESTONE)
        assigned = details_as(milestone, TaskAssignedDetails)
        if event is TimelineEvent.TASK_ASSIGNED and assigned and assigned.escalation:
            event = TimelineEvent.TASK_ESCALATED
        common: dict[str, Any] = {
            "at": _time(milestone.get("occurred_at")) or item.at,
            "stage": stage,
            "task_id": task_id,
            "party": _text(milestone.get("party")),
            "actor": _text(milestone.get("actor")),
            "milestone_seq": milestone.get("seq"),
            "milestone_kind": kind or None,
        }
        summary = str(milestone.get("summary", kind))
        if kind in _ENDINGS and stage and self._in_stage == stage:
            # The stage the convention ended in is left here, as the convention ends.
            self._add(
                run,
                item.event_id,
                event=TimelineEvent.STAGE_LEFT,
                summary=f"Stage {stage} left: {summary}",
                details={"outcome": _ENDINGS[kind]},
                **common,
            )
        if event is TimelineEvent.STAGE_LEFT:
            outcome = (
                StageOutcome.FAILED
                if kind == MilestoneKind.STAGE_FAILED
                else StageOutcome.COMPLETED
            )
            details = {"outcome": outcome, **details}
        self._add(run, item.event_id, event=event, summary=summary, details=details, **common)

    def _notification(self, run: RunRecord, item: ScheduledActivity) -> None:
        notification = _first_dict(item.input)
        task = notification.get("task")
        task_id = _text(task.get("id")) if isinstance(task, dict) else None
        recipients = [
            str(contact.get("name", ""))
            for contact in notification.get("recipients") or []
            if isinstance(contact, dict)
        ]
        event_name = str(notification.get("event", ""))
        party = _text(notification.get("party"))
        self._add(
            run,
            item.event_id,
            at=_time(notification.get("created_at")) or item.at,
            event=TimelineEvent.NOTIFIED,
            # A stage announcement has no task: it names its stage itself.
            stage=self._task_stage.get(task_id) if task_id else _text(notification.get("stage")),
            task_id=task_id,
            party=party,
            summary=(
                f"{party} notified ({event_name}, {len(recipients)} recipient(s), "
                f"{notification.get('language', '?')}): {notification.get('subject', '')}"
            ),
            details={
                "notification_id": notification.get("id"),
                "notification_event": event_name,
                "recipients": recipients,
                "language": notification.get("language"),
                "recorded": item.outcome is EventOutcome.COMPLETED,
            },
        )

    def _delivery(self, run: RunRecord, item: ScheduledActivity) -> None:
        # A delivery attempt runs for as long as its retries last: its line is its outcome,
        # so it is written only once the history holds one.
        if item.outcome is None:
            return
        notification = _first_dict(item.input)
        outcome = item.result if isinstance(item.result, dict) else {}
        channel = DELIVERIES[item.activity_type]
        task = notification.get("task")
        task_id = _text(task.get("id")) if isinstance(task, dict) else None
        party = _text(notification.get("party"))
        delivered = item.outcome is EventOutcome.COMPLETED
        status = outcome.get("status", item.outcome)
        self._add(
            run,
            item.event_id,
            at=item.at,
            event=TimelineEvent.NOTIFICATION_DELIVERED
            if delivered
            else TimelineEvent.DELIVERY_FAILED,
            stage=self._task_stage.get(task_id) if task_id else None,
            task_id=task_id,
            party=party,
            summary=(
                f"{notification.get('event', 'notification')} {status} by {channel} to {party}"
                if delivered
                else f"{notification.get('event', 'notification')} not delivered by {channel} "
                f"to {party}: {item.outcome}"
            ),
            details={
                "notification_id": notification.get("id"),
                "notification_event": notification.get("event"),
                "channel": channel,
                **({} if delivered else {"outcome": item.outcome}),
                **outcome,
            },
        )

    def _gave_up(self, run: RunRecord, item: ScheduledActivity) -> None:
        failure = _first_dict(item.input)
        self._add(
            run,
            item.event_id,
            at=item.at,
            event=TimelineEvent.DELIVERY_FAILED,
            party=_text(failure.get("party")),
            summary=(
                f"gave up delivering {failure.get('notification_id')} by "
                f"{failure.get('channel')}: {failure.get('reason')}"
            ),
            details=failure,
        )

    def _answer(self, run: RunRecord, item: AcceptedUpdate) -> None:
        request = _first_dict(item.args)
        task_id = _text(request.get("task_id"))
        answer: dict[str, Any] = (
            request["answer"] if isinstance(request.get("answer"), dict) else {}
        )
        party = _text(request.get("acting_party"))
        receipt = item.result if isinstance(item.result, dict) else {}
        stage = self._task_stage.get(task_id) if task_id else None
        if stage is None and task_id:
            stage = task_id.split(".", 1)[0]
        if item.outcome is EventOutcome.FAILED:
            event, summary = TimelineEvent.ANSWER_FAILED, f"{party}'s answer failed: {item.failure}"
        else:
            if task_id:
                self._answered_by_update.add(task_id)
            event, summary = (
                TimelineEvent.TASK_ANSWERED,
                f"{party} answered: {describe_answer(answer)}",
            )
        self._add(
            run,
            item.event_id,
            at=_time(receipt.get("accepted_at")) or item.at,
            event=event,
            stage=stage,
            task_id=task_id,
            party=party,
            actor=_text(request.get("actor")),
            summary=summary,
            details={"answer": answer}
            | ({"failure": item.failure} if item.outcome is EventOutcome.FAILED else {}),
        )

    def _officer_action(self, run: RunRecord, item: AcceptedUpdate) -> None:
        # postpone_deadline, reassign_task, terminate…: the officer's request as sent.
        request = _first_dict(item.args)
        task_id = _text(request.get("task_id"))
        said = ", ".join(
            f"{name} {value}"
            for name, value in request.items()
            if name not in {"task_id", "officer"} and value is not None
        )
        self._add(
            run,
            item.event_id,
            at=item.at,
            event=TimelineEvent.OFFICER_ACTION
            if item.outcome is not EventOutcome.FAILED
            else TimelineEvent.ANSWER_FAILED,
            stage=self._task_stage.get(task_id) if task_id else self._in_stage,
            task_id=task_id,
            actor=_text(request.get("officer")),
            summary=f"officer: {item.name}"
            + (f" ({said})" if said else "")
            + (f" failed: {item.failure}" if item.outcome is EventOutcome.FAILED else ""),
            details={"update": item.name, "request": request}
            | ({"failure": item.failure} if item.outcome is EventOutcome.FAILED else {}),
        )

    def _closed(self, run: RunRecord, item: RunClosed) -> None:
        if item.closed_as is RunClose.CONTINUED_AS_NEW:
            self._add(
                run,
                item.event_id,
                at=item.at,
                event=TimelineEvent.RUN_CONTINUED,
                summary=f"Run continued as new: next run {item.detail}",
                details={"next_run_id": item.detail},
            )
        elif item.closed_as in _ABNORMAL_CLOSE:
            self._add(
                run,
                item.event_id,
                at=item.at,
                event=TimelineEvent.RUN_CLOSED,
                summary=f"Workflow {item.closed_as}" + (f": {item.detail}" if item.detail else ""),
                details={"closed_as": item.closed_as, "detail": item.detail},
            )


def describe_answer(answer: dict[str, Any]) -> str:
    """An answer in a few words: its kind and decision, then what it carries."""
    kind = str(answer.get("kind", "answer"))
    decision = str(answer.get("decision") or "")
    # "sign: sign" says nothing twice: a signature's decision is its headline.
    head = decision if decision == kind or kind == "sign" else f"{kind}: {decision}".rstrip(": ")
    parts: list[str] = []
    if answer.get("version") is not None:
        parts.append(f"version {answer['version']}")
    place = answer.get("place")
    if isinstance(place, dict) and place.get("city"):
        parts.append(f"at {place['city']}")
    for name in ("held", "cancelled", "reached"):
        if answer.get(name):
            parts.append(f"{name} {', '.join(map(str, answer[name]))}")
    for name in ("granted", "spent"):
        money = answer.get(name)
        if isinstance(money, dict):
            parts.append(f"{name} {money.get('amount')} {money.get('currency')}")
    if answer.get("actuals"):
        parts.append(
            "actuals " + ", ".join(f"{key}={value}" for key, value in answer["actuals"].items())
        )
    for name in ("document", "report", "terms_of_reference"):
        document = answer.get(name)
        if isinstance(document, dict) and document.get("uri"):
            parts.append(f"{name} {document['uri']}")
    # Every attached document, by its address (a stored one's holds its SHA-256).
    attachments = [
        str(item["uri"])
        for item in answer.get("attachments") or []
        if isinstance(item, dict) and item.get("uri")
    ]
    if attachments:
        parts.append(f"attachments {', '.join(attachments)}")
    if answer.get("document_sha256"):
        parts.append(f"on the text of SHA-256 {answer['document_sha256']}")
    if answer.get("findings"):
        parts.append(f"{len(answer['findings'])} finding(s)")
    for name in ("reason", "summary", "comments"):
        if answer.get(name):
            parts.append(f"{name}: {_shorten(str(answer[name]))}")
    return "; ".join([head, *parts])


def party_names(
    timeline: Timeline,
    language: str = "en",
    directory: Mapping[str, str] | None = None,
    people: Mapping[str, str] | None = None,
) -> PartyNames:
    """The parties' names a reader sees: the directory's (in their language) where given,
    else the convention file's (in the reader's language when it gave several, else its part
    in the reader's script, for a name written in two); and the directory's `people` who
    answered, by person id (else each answer's recorded name)."""
    written = {
        party: timeline.party_names_in.get(party, {}).get(language) or part_in(name, language)
        for party, name in timeline.party_names.items()
    }
    return PartyNames.of({**written, **(directory or {})}, people)


def timeline_people(timeline: Timeline) -> list[str]:
    """The directory's person ids the timeline's answers name, each once."""
    return directory_people(entry.details for entry in timeline.entries)


def entry_text(
    timeline: Timeline,
    entry: TimelineEntry,
    language: str,
    names: PartyNames | None = None,
    zone: str = DEFAULT_ZONE,
) -> Said:
    """What a line says in `language`, from its event, fields and details
    (rendering.timeline): milestones and the other lines alike, parties by their names, a
    moment they name as the day it is in `zone`."""
    return rendered_entry(
        entry, timeline.convention_id, language, names or party_names(timeline, language), zone
    )


def local_time(moment: datetime, zone: str = DEFAULT_ZONE) -> str:
    """A line's time as the text forms show it (`2026-12-26 17:00:00`), in `zone`; the
    column's heading names the zone (`column_labels`)."""
    at = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    # The record's moments are UTC already: read in UTC, they need no moving.
    local = at if at.tzinfo is UTC and zone == DEFAULT_ZONE else at.astimezone(ZoneInfo(zone))
    if local.year >= 1000:
        # The same characters as strftime's "%Y-%m-%d %H:%M:%S" for a four-digit year (the
        # seconds cut, not rounded), at half its cost: this runs on every line.
        return local.isoformat(" ", "seconds")[:19]
    return f"{local:%Y-%m-%d %H:%M:%S}"


def heading(timeline: Timeline, language: str, names: PartyNames | None = None) -> list[Said]:
    """The two lines above the timeline: the convention and its title, then the source."""
    title = title_in(timeline.title, timeline.titles, language, timeline.convention_id)
    return [
        say(
            language,
            N_("{id} ({workflow}): {title}") if timeline.title else N_("{id} ({workflow})"),
            id=timeline.convention_id,
            workflow=timeline.workflow_id,
            title=title,
        ),
        say(language, N_("source: {source}"), source=timeline.source),
    ]


def render_text(
    timeline: Timeline,
    language: str = "en",
    names: PartyNames | None = None,
    zone: str = DEFAULT_ZONE,
) -> str:
    """One line per entry: time, stage, event, task, who, what (all in `language`, parties by
    their names, times in `zone`); a header says the convention, the source and the zone
    (the time column's heading)."""
    language = supported(language)
    names = names or party_names(timeline, language)
    lines = [f"# {line.text}" for line in heading(timeline, language, names)]
    lines.append("# " + "  ".join(column_labels(language, zone)))
    # A line's stage, event, task and who come back line after line: each said once per
    # timeline, already padded (a cold timeline is said at most 10% slower than its stored
    # English, issue 24).
    stages: dict[str, str] = {}
    events: dict[TimelineEvent, str] = {}
    tasks: dict[str, str] = {}
    people: dict[tuple[str | None, str | None], str] = {}
    for entry in timeline.entries:
        stage = stages.get(entry.stage or "")
        if stage is None:
            name = stage_name(entry.stage, language).text if entry.stage else "-"
            stage = stages[entry.stage or ""] = f"{name:<16} "
        event = events.get(entry.event)
        if event is None:
            event = events[entry.event] = f"{event_label(entry.event, language):<22} "
        task = tasks.get(entry.task_id or "")
        if task is None:
            name = data(entry.task_id, language).text if entry.task_id else "-"
            task = tasks[entry.task_id or ""] = f"{name:<34} "
        acting = people.get((entry.party, entry.actor))
        if acting is None:
            acting = people[(entry.party, entry.actor)] = (
                f"{(who(entry, language, names).text or '-'):<24} "
            )
        lines.append(
            f"{local_time(entry.at, zone)}  {stage}{event}{task}{acting}"
            f"{rendered_entry(entry, timeline.convention_id, language, names, zone).text}".rstrip()
        )
    return "\n".join(lines) + "\n"


def render_json(timeline: Timeline) -> str:
    """The timeline as one JSON document: kinds, fields and details, no prose (each reader's
    words are rendered from them; the English `summary` is left out)."""
    return timeline.model_dump_json(indent=2, exclude={"entries": {"__all__": {"summary"}}}) + "\n"


def render_csv(
    timeline: Timeline,
    language: str = "en",
    names: PartyNames | None = None,
    zone: str = DEFAULT_ZONE,
) -> str:
    """One CSV row per entry, the details as a JSON cell (comma-separated, no BOM)."""
    return timeline_csv(timeline, language=language, names=names, zone=zone)


def timeline_csv(
    timeline: Timeline,
    *,
    separator: str = ",",
    bom: bool = False,
    language: str = "en",
    names: PartyNames | None = None,
    zone: str = DEFAULT_ZONE,
) -> str:
    """The timeline as CSV, written by the one CSV writer (records/csv_writer.py), so an
    actor's name sent through the API never arrives in an auditor's spreadsheet as a formula.
    `separator=";"` and `bom=True` suit French spreadsheets.

    The stored columns come first, as they always have (`summary` is the English line,
    kept for older readers); `language` and `text` follow: the line in the reader's
    language, rendered from the kinds and details (a moment it names, in `zone`; the `at`
    column stays ISO UTC, for programs)."""
    return write_csv(
        CSV_COLUMNS + RENDERED_COLUMNS,
        timeline_rows(timeline, language, names, zone),
        separator=separator,
        bom=bom,
    )


def timeline_rows(
    timeline: Timeline,
    language: str = "en",
    names: PartyNames | None = None,
    zone: str = DEFAULT_ZONE,
) -> list[list[object]]:
    """Each line's stored columns (`CSV_COLUMNS`, as programs read them: `at` in ISO UTC,
    the details as a JSON cell), then `RENDERED_COLUMNS`: the reader's language and the
    line said in it (a moment it names, in `zone`). The CSV and the XLSX are written from
    these rows."""
    language = supported(language)
    names = names or party_names(timeline, language)
    rows: list[list[object]] = []
    for entry in timeline.entries:
        row = entry.model_dump(mode="json")
        row["details"] = json.dumps(entry.details, ensure_ascii=False, sort_keys=True)
        rendered = entry_text(timeline, entry, language, names, zone)
        rows.append([row[column] for column in CSV_COLUMNS] + [language, _plain(rendered.text)])
    return rows


def _plain(text: str) -> str:
    # A spreadsheet shows the isolates as boxes: a cell is one run of text already.
    return text.replace(FIRST_STRONG_ISOLATE, "").replace(POP_DIRECTIONAL_ISOLATE, "")


def _first_dict(values: list[Any]) -> dict[str, Any]:
    return values[0] if values and isinstance(values[0], dict) else {}


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _time(value: Any) -> datetime | None:
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            return None
    return None


def _shorten(text: str, limit: int = 80) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
