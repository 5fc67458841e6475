"""Implementation: the implementer reports progress until every planned milestone is reached."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

from workflows.task_board import TaskBoard

with workflow.unsafe.imports_passed_through():
    from schemas.convention import ImplementationStage
    from schemas.milestones import MilestoneKind
    from schemas.tasks import Answer, ProgressReportAnswer, TaskKind


async def run_implementation(board: TaskBoard, spec: ImplementationStage) -> None:
    """One progress report per period, each naming what was reached and the indicators."""
    planned = {milestone.id: milestone for milestone in spec.milestones}
    reached: set[str] = set()
    report_number = 1
    while reached != set(planned):
        report_task = await board.assign(
            f"implementation.report.{report_number}",
            TaskKind.REPORT_PROGRESS,
            spec.implementer,
            f"Report progress of the implementation (report {report_number})",
            due_in=timedelta(days=spec.report_every_days),
            check=lambda task, answer: _report_names_known_items(spec, answer),
        )
        report = (await board.answer_to(report_task)).answer
        assert isinstance(report, ProgressReportAnswer)
        await board.record(
            MilestoneKind.PROGRESS_REPORTED,
            f"Progress report {report_number}: "
            + (
                ", ".join(f"{key} {value:g}" for key, value in report.actuals.items())
                or "no figures"
            ),
            task=report_task,
            details={
                "report": report_number,
                "actuals": report.actuals,
                "targets": {i.id: i.target for i in spec.indicators},
                "spent": report.spent.model_dump(mode="json") if report.spent else None,
                "budget": spec.budget.model_dump(mode="json") if spec.budget else None,
                "comments": report.comments,
            },
        )
        for milestone_id in report.reached:
            if milestone_id in reached:
                continue
            reached.add(milestone_id)
            planned_on = planned[milestone_id].planned_on
            await board.record(
                MilestoneKind.IMPLEMENTATION_MILESTONE_REACHED,
                f"Reached: {planned[milestone_id].label}",
                task=report_task,
                details={
                    "milestone": milestone_id,
                    "planned_on": planned_on.isoformat() if planned_on else None,
                },
            )
        report_number += 1


def _report_names_known_items(spec: ImplementationStage, answer: Answer) -> None:
    if not isinstance(answer, ProgressReportAnswer):
        return
    milestones = {milestone.id for milestone in spec.milestones}
    indicators = {indicator.id for indicator in spec.indicators}
    for position, milestone_id in enumerate(answer.reached):
        if milestone_id not in milestones:
            raise ValueError(
                f"answer.reached.{position}: unknown planned milestone {milestone_id!r}"
            )
    for indicator_id in answer.actuals:
        if indicator_id not in indicators:
            raise ValueError(f"answer.actuals.{indicator_id}: unknown indicator")
