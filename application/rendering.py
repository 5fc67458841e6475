"""Human-readable views of a convention, for terminals."""

from __future__ import annotations

from rendering.record import milestone_text, task_title
from schemas.milestones import Milestone, MilestoneKind
from schemas.status import ConventionStatus
from storage.milestones import RecordedTimeline

# `status` shows the latest milestones, so it takes as long on a convention of years as on
# a new one (benchmarks/milestone_count.py); --all, or `audit.py timeline`, shows them all.
STATUS_TIMELINE_SHOWN = 100


def render_timeline(milestones: list[Milestone], language: str = "en") -> list[str]:
    """One line per milestone: time, stage, what (in `language`, from its facts), who."""
    lines = []
    for milestone in milestones:
        who = milestone.party or ""
        if milestone.actor:
            who = f"{who} ({milestone.actor})" if who else milestone.actor
        lines.append(
            f"{milestone.occurred_at:%Y-%m-%d %H:%M:%S}  "
            f"{(milestone.stage or '-'):<16} {milestone.kind.value:<33} "
            f"{(milestone.task_id or ''):<34} {who:<28} "
            f"{milestone_text(milestone, language).text}".rstrip()
        )
    return lines


def render_status(
    status: ConventionStatus,
    *,
    ended_by_temporal: str | None = None,
    timeline: RecordedTimeline | None = None,
    language: str = "en",
) -> str:
    """The convention, its stages, its open tasks and its timeline.

    `ended_by_temporal`: Temporal's own status of an execution that ended outside the
    workflow (terminated through Temporal), which the workflow's state cannot show.
    `language`: the tasks' titles and the milestones are said in it (the frame stays English).
    `timeline`: the latest milestones as PostgreSQL holds them (and their count, and the
    stages completed); without it, the workflow's own window of its last milestones is
    shown, and said so when it is not all of them.
    """
    state = (
        f"{ended_by_temporal} (in Temporal; the workflow last said {status.state.value})"
        if ended_by_temporal
        else status.state.value
    )
    milestones = timeline.milestones if timeline is not None else status.milestones
    done = (
        timeline.completed_stages
        if timeline is not None
        else {m.stage for m in milestones if m.kind is MilestoneKind.STAGE_COMPLETED}
    )
    stages = " → ".join(
        f"[{stage}]"
        if stage == status.current_stage
        else (f"{stage} ✓" if stage in done else stage)
        for stage in status.stages
    )
    lines = [
        f"{status.convention_id} — {status.title}",
        f"  kind: {status.kind}   state: {state}"
        + (f"   parent: {status.parent}" if status.parent else ""),
        f"  stages: {stages}",
    ]
    if status.origin:
        lines.append(f"  follows up: {status.origin}")
    for link in status.links:
        lines.append(f"  {link.kind.value}: {link.convention_id} — {link.title}")
    if status.indicators:
        figures = ", ".join(f"{key} {value:g}" for key, value in status.indicators.items())
        lines.append(f"  indicators: {figures}")
    if status.runs > 1:
        lines.append(f"  runs: {status.runs} (continued-as-new)")
    if status.reason:
        lines.append(f"  reason: {status.reason}")
    lines.append(f"open tasks ({len(status.open_tasks)}):")
    for task in status.open_tasks:
        lines.append(
            f"  {task.id:<34} owed by {task.assignee:<12} due {task.due_at:%Y-%m-%d}  "
            f"{task_title(task, language).text}"
        )
    shown = len(milestones)
    if timeline is None and status.milestone_count > shown:
        lines.append(
            f"timeline (the last {shown} of {status.milestone_count} milestones, from the "
            "workflow: PostgreSQL, which has them all, did not answer):"
        )
    elif timeline is not None and timeline.total > shown:
        lines.append(
            f"timeline (the last {shown} of {timeline.total} milestones; `status --all` or "
            "`audit.py timeline` shows every one):"
        )
    else:
        lines.append(f"timeline ({shown} milestones):")
    lines.extend(f"  {line}" for line in render_timeline(milestones, language))
    return "\n".join(lines)
