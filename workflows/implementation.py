"""Implementation: the implementer reports progress until every planned milestone is reached.

It may last years (Cycle Maalam runs cohort after cohort): between two reports the workflow
continues-as-new once its history is long, carrying its running totals, open tasks and
milestones into the new run.
"""

from __future__ import annotations

from datetime import timedelta
from functools import partial

from temporalio import workflow

from workflows.task_board import ContinueAsNewRequested, TaskBoard
from workflows.task_rules import refused, shortened

with workflow.unsafe.imports_passed_through():
    from schemas.convention import ImplementationStage
    from schemas.errors import RefusalCode
    from schemas.milestones import MilestoneKind
    from schemas.status import ImplementationProgress
    from schemas.tasks import Answer, CohortReport, ProgressReportAnswer, Task, TaskKind


async def run_implementation(board: TaskBoard, spec: ImplementationStage) -> None:
    """One progress report per period: what was reached, the indicators, the cohorts."""
    planned = {milestone.id: milestone for milestone in spec.milestones}
    progress = board.implementation_progress or ImplementationProgress()
    while set(progress.reached) | set(progress.cancelled) != set(planned):
        if board.history_is_long():
            board.keep_progress(progress)
            raise ContinueAsNewRequested
        number = progress.report_number
        report_task = await board.assign(
            board.task_id("report", number),
            TaskKind.REPORT_PROGRESS,
            spec.implementer,
            f"Report progress of the implementation (report {number})",
            due_in=timedelta(days=spec.report_every_days),
            check=partial(_report_fits_the_plan, spec, progress),
            facts={"report": number},
        )
        report = (await board.answer_to(report_task)).answer
        assert isinstance(report, ProgressReportAnswer)
        progress = await _record_report(board, spec, progress, report_task, report)
        board.keep_progress(progress)


async def _record_report(
    board: TaskBoard,
    spec: ImplementationStage,
    progress: ImplementationProgress,
    task: Task,
    report: ProgressReportAnswer,
) -> ImplementationProgress:
    actuals = {**progress.actuals, **report.actuals}
    await board.record(
        MilestoneKind.PROGRESS_REPORTED,
        f"Progress report {progress.report_number}: "
        + (", ".join(f"{key} {value:g}" for key, value in report.actuals.items()) or "no figures"),
        task=task,
        details={
            "report": progress.report_number,
            "actuals": report.actuals,
            "totals": actuals,
            "targets": {i.id: i.target for i in spec.indicators},
            # Counted apart: a cancelled milestone is neither reached nor pending.
            "milestones_reached": len(set(progress.reached) | set(report.reached)),
            "milestones_cancelled": len(progress.cancelled) + len(report.cancelled_milestones),
            "milestones_planned": len(spec.milestones),
            "spent": report.spent.model_dump(mode="json") if report.spent else None,
            "budget": spec.budget.model_dump(mode="json") if spec.budget else None,
            "comments": report.comments,
        },
    )
    started, finished = list(progress.cohorts_started), list(progress.cohorts_finished)
    for cohort in report.cohorts:
        await _record_cohort(board, task, cohort)
        (started if cohort.event == "started" else finished).append(cohort.id)
    reached = list(progress.reached)
    planned = {milestone.id: milestone for milestone in spec.milestones}
    for milestone_id in report.reached:
        if milestone_id in reached:
            continue
        reached.append(milestone_id)
        planned_on = planned[milestone_id].planned_on
        await board.record(
            MilestoneKind.IMPLEMENTATION_MILESTONE_REACHED,
            f"Reached: {planned[milestone_id].label}",
            task=task,
            details={
                "milestone": milestone_id,
                "planned_on": planned_on.isoformat() if planned_on else None,
            }
            | ({"label": planned[milestone_id].label} if board.writes_facts() else {}),
        )
    cancelled = list(progress.cancelled)
    for cancellation in report.cancelled_milestones:
        cancelled.append(cancellation.id)
        await board.record(
            MilestoneKind.IMPLEMENTATION_MILESTONE_CANCELLED,
            f"Cancelled: {planned[cancellation.id].label} ({shortened(cancellation.reason, 200)})",
            task=task,
            details={"milestone": cancellation.id, "reason": cancellation.reason}
            | ({"label": planned[cancellation.id].label} if board.writes_facts() else {}),
        )
    cohorts_cancelled = list(progress.cohorts_cancelled)
    for cancellation in report.cancelled_cohorts:
        cohorts_cancelled.append(cancellation.id)
        await board.record(
            MilestoneKind.COHORT_CANCELLED,
            f"Cohort {cancellation.id} cancelled: {shortened(cancellation.reason, 200)}",
            task=task,
            details={"cohort": cancellation.id, "reason": cancellation.reason},
        )
    return ImplementationProgress(
        report_number=progress.report_number + 1,
        reached=reached,
        actuals=actuals,
        cohorts_started=started,
        cohorts_finished=finished,
        cancelled=cancelled,
        cohorts_cancelled=cohorts_cancelled,
    )


async def _record_cohort(board: TaskBoard, task: Task, cohort: CohortReport) -> None:
    if cohort.event == "started":
        summary = f"Cohort {cohort.id} started with {cohort.trainees} trainees"
    else:
        summary = f"Cohort {cohort.id} finished: {cohort.trainees} trainees"
        if cohort.graduates is not None and cohort.trainees:
            summary += f", {cohort.graduates} passed ({cohort.graduates / cohort.trainees:.0%})"
    await board.record(
        MilestoneKind.COHORT_STARTED
        if cohort.event == "started"
        else MilestoneKind.COHORT_FINISHED,
        summary,
        task=task,
        details=cohort.model_dump(mode="json"),
    )


def _report_fits_the_plan(
    spec: ImplementationStage, progress: ImplementationProgress, task: Task, answer: Answer
) -> None:
    if not isinstance(answer, ProgressReportAnswer):
        return
    milestones = {milestone.id for milestone in spec.milestones}
    indicators = {indicator.id for indicator in spec.indicators}
    for position, milestone_id in enumerate(answer.reached):
        if milestone_id not in milestones:
            raise refused(
                RefusalCode.UNKNOWN_PLANNED_MILESTONE,
                f"answer.reached.{position}",
                f"unknown planned milestone {milestone_id!r}",
                milestone=milestone_id,
            )
    closed = set(progress.reached) | set(progress.cancelled)
    for position, cancellation in enumerate(answer.cancelled_milestones):
        where = f"answer.cancelled_milestones.{position}.id"
        if cancellation.id not in milestones:
            raise refused(
                RefusalCode.UNKNOWN_PLANNED_MILESTONE,
                where,
                f"unknown planned milestone {cancellation.id!r}",
                milestone=cancellation.id,
            )
        if cancellation.id in closed or cancellation.id in answer.reached:
            raise refused(
                RefusalCode.MILESTONE_ALREADY_CLOSED,
                where,
                f"milestone {cancellation.id!r} is already reached or cancelled",
                milestone=cancellation.id,
            )
        if any(c.id == cancellation.id for c in answer.cancelled_milestones[:position]):
            raise refused(
                RefusalCode.CANCELLED_TWICE,
                where,
                f"{cancellation.id!r} cancelled twice",
                item=cancellation.id,
            )
    for position, milestone_id in enumerate(answer.reached):
        if milestone_id in progress.cancelled:
            raise refused(
                RefusalCode.MILESTONE_WAS_CANCELLED,
                f"answer.reached.{position}",
                f"milestone {milestone_id!r} was cancelled",
                milestone=milestone_id,
            )
    for position, cancellation in enumerate(answer.cancelled_cohorts):
        where = f"answer.cancelled_cohorts.{position}.id"
        if cancellation.id in progress.cohorts_cancelled:
            raise refused(
                RefusalCode.COHORT_ALREADY_CANCELLED,
                where,
                f"cohort {cancellation.id!r} is already cancelled",
                cohort=cancellation.id,
            )
        if cancellation.id in progress.cohorts_finished:
            raise refused(
                RefusalCode.COHORT_ALREADY_FINISHED,
                where,
                f"cohort {cancellation.id!r} already finished",
                cohort=cancellation.id,
            )
        if any(c.id == cancellation.id for c in answer.cancelled_cohorts[:position]):
            raise refused(
                RefusalCode.CANCELLED_TWICE,
                where,
                f"{cancellation.id!r} cancelled twice",
                item=cancellation.id,
            )
    for position, cohort in enumerate(answer.cohorts):
        if cohort.id in progress.cohorts_cancelled:
            raise refused(
                RefusalCode.COHORT_WAS_CANCELLED,
                f"answer.cohorts.{position}.id",
                f"cohort {cohort.id!r} was cancelled",
                cohort=cohort.id,
            )
    for indicator_id in answer.actuals:
        if indicator_id not in indicators:
            raise refused(
                RefusalCode.UNKNOWN_INDICATOR,
                f"answer.actuals.{indicator_id}",
                "unknown indicator",
                indicator=indicator_id,
            )
    for position, cohort in enumerate(answer.cohorts):
        where = f"answer.cohorts.{position}"
        if cohort.event == "started" and cohort.id in progress.cohorts_started:
            raise refused(
                RefusalCode.COHORT_ALREADY_STARTED,
                f"{where}.id",
                f"cohort {cohort.id!r} already started",
                cohort=cohort.id,
            )
        if cohort.event == "finished":
            started_here = any(
                c.id == cohort.id and c.event == "started" for c in answer.cohorts[:position]
            )
            if cohort.id not in progress.cohorts_started and not started_here:
                raise refused(
                    RefusalCode.COHORT_NEVER_STARTED,
                    f"{where}.id",
                    f"cohort {cohort.id!r} never started",
                    cohort=cohort.id,
                )
            if cohort.id in progress.cohorts_finished:
                raise refused(
                    RefusalCode.COHORT_ALREADY_FINISHED,
                    f"{where}.id",
                    f"cohort {cohort.id!r} already finished",
                    cohort=cohort.id,
                )
