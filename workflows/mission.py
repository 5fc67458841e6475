"""Mission: the host confirms the agenda held, then the mission report is filed."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

from temporalio import workflow

from workflows.task_board import TaskBoard
from workflows.task_rules import refused

with workflow.unsafe.imports_passed_through():
    from schemas.convention import MissionStage
    from schemas.errors import RefusalCode
    from schemas.milestones import MilestoneKind
    from schemas.tasks import Answer, HostMissionAnswer, MissionReportAnswer, TaskKind


async def run_mission(board: TaskBoard, spec: MissionStage) -> None:
    """Hold the mission, then wait for its report.

    Postponing the host's task postpones the mission: its dates and the report's due date
    all move by the same number of days.
    """
    last_day = datetime.combine(spec.ends_on, time(23, 59), tzinfo=UTC)
    where = f"{spec.destination.city} ({spec.destination.country})"
    host_task = await board.assign(
        board.task_id("host"),
        TaskKind.HOST_MISSION,
        spec.host,
        f"Host the mission in {where}, {spec.starts_on} to {spec.ends_on}",
        due_at=last_day,
        facts={"place": spec.destination, "starts_on": spec.starts_on, "ends_on": spec.ends_on},
        check=lambda task, answer: _every_agenda_item_accounted_for(spec, answer),
    )
    hosted = (await board.answer_to(host_task)).answer
    assert isinstance(hosted, HostMissionAnswer)
    shift = timedelta(days=(board.tasks[host_task.id].due_at - last_day).days)
    titles = {item.id: item.title for item in spec.agenda}
    await board.record(
        MilestoneKind.MISSION_HELD,
        f"Mission held in {where}, {spec.starts_on + shift} to {spec.ends_on + shift}: "
        f"{len(hosted.held)} agenda items held, {len(hosted.cancelled)} cancelled",
        task=host_task,
        details={
            "destination": spec.destination.model_dump(mode="json"),
            "starts_on": (spec.starts_on + shift).isoformat(),
            "ends_on": (spec.ends_on + shift).isoformat(),
            "postponed_by_days": shift.days,
            "delegation": list(spec.delegation),
            "held": [{"id": item, "title": titles[item]} for item in hosted.held],
            "cancelled": [{"id": item, "title": titles[item]} for item in hosted.cancelled],
        },
    )
    report_task = await board.assign(
        board.task_id("report"),
        TaskKind.FILE_MISSION_REPORT,
        spec.report_by,
        f"File the report of the mission in {where}",
        due_at=last_day + shift + timedelta(days=spec.report_due_days_after),
        facts={"place": spec.destination},
    )
    report = (await board.answer_to(report_task)).answer
    assert isinstance(report, MissionReportAnswer)
    await board.record(
        MilestoneKind.MISSION_REPORT_FILED,
        f"Mission report filed: {report.summary}",
        task=report_task,
        details={"report": report.report.model_dump(mode="json"), "summary": report.summary},
    )


def _every_agenda_item_accounted_for(spec: MissionStage, answer: Answer) -> None:
    if not isinstance(answer, HostMissionAnswer):
        return
    known = [item.id for item in spec.agenda]
    for field_name, items in (("held", answer.held), ("cancelled", answer.cancelled)):
        for position, item in enumerate(items):
            if item not in known:
                raise refused(
                    RefusalCode.UNKNOWN_AGENDA_ITEM,
                    f"answer.{field_name}.{position}",
                    f"unknown agenda item {item!r}",
                    item=item,
                )
    both = set(answer.held) & set(answer.cancelled)
    if both:
        raise refused(
            RefusalCode.HELD_AND_CANCELLED,
            "answer.cancelled",
            f"{sorted(both)} cannot be both held and cancelled",
            items=sorted(both),
        )
    missing = [item for item in known if item not in answer.held and item not in answer.cancelled]
    if missing:
        raise refused(
            RefusalCode.AGENDA_ITEMS_UNACCOUNTED,
            "answer.held",
            f"say whether {missing} were held or cancelled",
            items=missing,
        )
