"""Funding request: terms of reference go to the funder, who approves, rejects or asks more."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

from workflows.task_board import MAX_ROUNDS, StageFailed, TaskBoard
from workflows.task_rules import shortened

with workflow.unsafe.imports_passed_through():
    from schemas.convention import FundingRequestStage
    from schemas.milestones import MilestoneKind
    from schemas.reasons import ReasonCode, ReasonFacts
    from schemas.tasks import FundingDecisionAnswer, RevisedFundingRequest, TaskKind
    from schemas.values import DocumentRef, Money

REVISED_REQUEST_PATCH = "revise-funding-request"
"""A funding stage run again (after a rejection) first asks the office for the revised
request; conventions recorded before asked the file's amount again
(tests/histories/before-revise-funding-request/)."""


async def run_funding_request(board: TaskBoard, spec: FundingRequestStage) -> None:
    """Ask, answer the funder's questions as often as asked, and take the decision."""
    office = board.convention.office.id
    amount, terms = spec.requested, spec.terms_of_reference
    note: str | None = None
    # Asked on every run (not only the second), so every recorded history carries the marker
    # (or, since their consolidation, the one marker that covers it).
    revisable = board.patches.on(REVISED_REQUEST_PATCH)
    if revisable and board.stage_attempts.get(spec.stage, 1) > 1:
        amount, terms, note = await _revised_request(board, spec)
    requested = f"{amount.amount} {amount.currency.value}"
    await board.record(
        MilestoneKind.FUNDING_REQUESTED,
        f"Funding of {requested} requested from {spec.funder}"
        + (f" (revised: {shortened(note, 200)})" if note else ""),
        party=office,
        details={
            "funder": spec.funder,
            "requested": amount.model_dump(mode="json"),
            "terms_of_reference": terms.model_dump(mode="json"),
        }
        | ({"revision_note": note} if note else {}),
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
            facts={"amount": amount, "round": round_number},
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
                f"Answer {spec.funder}'s request: {shortened(decision.comments or '', 200)}",
                due_in=due_in,
                facts={
                    "funder": spec.funder,
                    "comments": shortened(decision.comments or "", 200),
                    "round": round_number,
                },
            )
            await board.answer_to(information_task)
            if round_number >= MAX_ROUNDS:
                raise StageFailed(
                    f"no decision after {MAX_ROUNDS} requests for information",
                    ReasonFacts.of(ReasonCode.NO_FUNDING_DECISION, count=MAX_ROUNDS),
                )
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
                "requested": amount.model_dump(mode="json"),
                "comments": decision.comments,
            },
        )
        if decision.decision == "reject":
            raise StageFailed(
                summary,
                ReasonFacts.of(
                    ReasonCode.FUNDING_REJECTED, funder=spec.funder, comments=decision.comments
                ),
            )
        return


async def _revised_request(
    board: TaskBoard, spec: FundingRequestStage
) -> tuple[Money, DocumentRef, str]:
    """The office states the new amount and terms of reference before the funder decides."""
    task = await board.assign(
        board.task_id("revise"),
        TaskKind.REVISE_FUNDING_REQUEST,
        board.convention.office.id,
        f"Revise the funding request to {spec.funder} (new amount, terms of reference, note)",
        due_in=timedelta(days=spec.due_in_days),
        facts={"funder": spec.funder},
    )
    revision = (await board.answer_to(task)).answer
    assert isinstance(revision, RevisedFundingRequest)
    await board.record(
        MilestoneKind.FUNDING_REQUEST_REVISED,
        f"Request revised to {revision.requested.amount} {revision.requested.currency.value}: "
        f"{shortened(revision.note, 200)}",
        task=task,
        details={
            "requested": revision.requested.model_dump(mode="json"),
            "terms_of_reference": revision.terms_of_reference.model_dump(mode="json"),
            "note": revision.note,
        },
    )
    return revision.requested, revision.terms_of_reference, revision.note
