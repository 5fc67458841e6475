"""Funding request: terms of reference go to the funder, who approves, rejects or asks more."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

from workflows.task_board import StageFailed, TaskBoard

with workflow.unsafe.imports_passed_through():
    from schemas.convention import FundingRequestStage
    from schemas.milestones import MilestoneKind
    from schemas.tasks import FundingDecisionAnswer, TaskKind


async def run_funding_request(board: TaskBoard, spec: FundingRequestStage) -> None:
    """Ask, answer the funder's questions as often as asked, and take the decision."""
    office = board.convention.office.id
    requested = f"{spec.requested.amount} {spec.requested.currency.value}"
    await board.record(
        MilestoneKind.FUNDING_REQUESTED,
        f"Funding of {requested} requested from {spec.funder}",
        party=office,
        details={
            "funder": spec.funder,
            "requested": spec.requested.model_dump(mode="json"),
            "terms_of_reference": spec.terms_of_reference.model_dump(mode="json"),
        },
    )
    due_in = timedelta(days=spec.due_in_days)
    round_number = 1
    while True:
        decision_task = await board.assign(
            board.task_id("decision", f"r{round_number}"),
            TaskKind.DECIDE_FUNDING,
            spec.funder,
            f"Decide on the funding request of {requested}",
            due_in=due_in,
        )
        decision = (await board.answer_to(decision_task)).answer
        assert isinstance(decision, FundingDecisionAnswer)
        if decision.decision == "more_information":
            await board.record(
                MilestoneKind.FUNDING_DECIDED,
                f"{spec.funder} asks for more information: {decision.comments}",
                task=decision_task,
                details={"decision": decision.decision, "comments": decision.comments},
            )
            information_task = await board.assign(
                board.task_id("information", f"r{round_number}"),
                TaskKind.PROVIDE_INFORMATION,
                office,
                f"Answer {spec.funder}'s request: {decision.comments}",
                due_in=due_in,
            )
            await board.answer_to(information_task)
            round_number += 1
            continue
        granted = decision.granted
        summary = (
            f"{spec.funder} approved {granted.amount} {granted.currency.value}"
            if granted is not None
            else f"{spec.funder} rejected the request: {decision.comments}"
        )
        await board.record(
            MilestoneKind.FUNDING_DECIDED,
            summary,
            task=decision_task,
            details={
                "decision": decision.decision,
                "granted": granted.model_dump(mode="json") if granted else None,
                "requested": spec.requested.model_dump(mode="json"),
                "comments": decision.comments,
            },
        )
        if decision.decision == "reject":
            raise StageFailed(summary)
        return
