"""Human-readable views of a convention, for terminals."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from rendering.catalogues import N_, gettext, is_right_to_left, supported
from rendering.formats import data, joined, number, say, say_count, word
from rendering.record import (
    NO_NAMES,
    PartyNames,
    milestone_text,
    stage_name,
    task_title,
    workflow_reason,
)
from rendering.zones import DEFAULT_ZONE
from schemas.milestones import Milestone, MilestoneKind
from schemas.status import ConventionStatus

if TYPE_CHECKING:
    from storage.milestones import RecordedTimeline


def render_timeline(
    milestones: list[Milestone],
    language: str = "en",
    names: PartyNames | None = None,
    zone: str = DEFAULT_ZONE,
) -> list[str]:
    """One line per milestone: time, stage, kind, task, who, what (in `language`, from its
    facts; parties by their `names` where given; the time, and a moment the sentence
    names, in `zone`)."""
    names = names or NO_NAMES
    where = ZoneInfo(zone)
    lines = []
    for milestone in milestones:
        who = names(milestone.party) if milestone.party else ""
        if milestone.actor:
            who = f"{who} ({milestone.actor})" if who else milestone.actor
        stage = stage_name(milestone.stage, language).text if milestone.stage else "-"
        kind = gettext(language, milestone.kind.value) if language != "en" else milestone.kind.value
        lines.append(
            f"{_aware(milestone.occurred_at).astimezone(where):%Y-%m-%d %H:%M:%S}  "
            f"{stage:<16} {kind:<33} "
            f"{(data(milestone.task_id, language).text if milestone.task_id else ''):<34} "
            f"{(data(who, language).text if who else ''):<28} "
            f"{milestone_text(milestone, language, names, zone).text}".rstrip()
        )
    return lines


def _aware(moment: datetime) -> datetime:
    # A naive moment from the record is UTC (the record stores nothing else).
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def render_status(
    status: ConventionStatus,
    *,
    ended_by_temporal: str | None = None,
    timeline: RecordedTimeline | None = None,
    language: str = "en",
    names: PartyNames | None = None,
    zone: str = DEFAULT_ZONE,
) -> str:
    """The convention, its stages, its open tasks and its timeline, in `language` (the frame
    as well as the tasks and milestones), parties by their `names` (the directory's), times
    and due dates in `zone` (named in a line of its own when it is not UTC).

    `ended_by_temporal`: Temporal's own status of an execution that ended outside the
    workflow (terminated through Temporal), which the workflow's state cannot show.
    `timeline`: the latest milestones as PostgreSQL holds them (and their count, and the
    stages completed); without it, the workflow's own window of its last milestones is
    shown, and said so when it is not all of them.
    """
    lang = supported(language)
    names = names or NO_NAMES
    state = (
        say(
            lang,
            N_("{how} (in Temporal; the workflow last said {state})"),
            how=ended_by_temporal,
            state=word(gettext(lang, status.state.value)),
        ).text
        if ended_by_temporal
        else gettext(lang, status.state.value)
    )
    milestones = timeline.milestones if timeline is not None else status.milestones
    done = (
        timeline.completed_stages
        if timeline is not None
        else {m.stage for m in milestones if m.kind is MilestoneKind.STAGE_COMPLETED}
    )

    def named(stage: str) -> str:
        return stage_name(stage, lang).text if lang != "en" else stage

    arrow = " ← " if is_right_to_left(lang) else " → "
    stages = arrow.join(
        f"[{named(stage)}]"
        if stage == status.current_stage
        else (f"{named(stage)} ✓" if stage in done else named(stage))
        for stage in status.stages
    )
    lines = [
        f"{data(status.convention_id, lang).text} — {data(status.title, lang).text}",
        "  "
        + say(
            lang,
            N_("kind: {kind}   state: {state}"),
            kind=word(gettext(lang, status.kind.value)),
            state=word(state),
        ).text
        + (
            "   " + say(lang, N_("parent: {parent}"), parent=status.parent).text
            if status.parent
            else ""
        ),
        "  " + say(lang, N_("stages: {stages}"), stages=word(stages)).text,
    ]
    if status.origin:
        lines.append("  " + say(lang, N_("follows up: {origin}"), origin=status.origin).text)
    if zone != DEFAULT_ZONE:
        lines.append("  " + say(lang, N_("times in {zone}"), zone=zone).text)
    for link in status.links:
        lines.append(
            f"  {gettext(lang, link.kind.value)}: {data(link.convention_id, lang).text} — "
            f"{data(link.title, lang).text}"
        )
    if status.indicators:
        figures = joined(
            [
                say(lang, N_("{indicator} {value}"), indicator=key, value=number(value, lang))
                for key, value in status.indicators.items()
            ],
            lang,
        )
        lines.append("  " + say(lang, N_("indicators: {figures}"), figures=figures).text)
    if status.runs > 1:
        lines.append(
            "  "
            + say(
                lang, N_("runs: {count} (continued-as-new)"), count=number(status.runs, lang)
            ).text
        )
    if status.reason:
        lines.append(
            "  "
            + say(
                lang,
                N_("reason: {reason}"),
                reason=workflow_reason(status.reason, lang, names, status.reason_facts),
            ).text
        )
    lines.append(
        say_count(
            lang, "open tasks ({count}):", "open tasks ({count}):", len(status.open_tasks)
        ).text
    )
    for task in status.open_tasks:
        owed = say(
            lang,
            N_("owed by {party} due {due}"),
            party=names(task.assignee),
            due=f"{_aware(task.due_at).astimezone(ZoneInfo(zone)):%Y-%m-%d}",
        ).text
        lines.append(
            f"  {data(task.id, lang).text:<34} {owed}  {task_title(task, lang, names, zone).text}"
        )
    shown = len(milestones)
    if timeline is None and status.milestone_count > shown:
        heading = say(
            lang,
            N_(
                "timeline (the last {shown} of {count} milestones, from the workflow: "
                "PostgreSQL, which has them all, did not answer):"
            ),
            shown=number(shown, lang),
            count=number(status.milestone_count, lang),
        )
    elif timeline is not None and timeline.total > shown:
        heading = say(
            lang,
            N_(
                "timeline (the last {shown} of {count} milestones; `status --all` or "
                "`audit.py timeline` shows every one):"
            ),
            shown=number(shown, lang),
            count=number(timeline.total, lang),
        )
    else:
        heading = say_count(
            lang, "timeline ({count} milestone):", "timeline ({count} milestones):", shown
        )
    lines.append(heading.text)
    lines.extend(f"  {line}" for line in render_timeline(milestones, lang, names, zone))
    return "\n".join(lines)
