"""Drafting: reviewing parties approve one version of the text; changes bring a new version."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

from workflows.task_board import MAX_ROUNDS, StageFailed, TaskBoard
from workflows.task_rules import AnswerCheck, refused, shortened

with workflow.unsafe.imports_passed_through():
    from schemas.convention import DraftingStage
    from schemas.errors import RefusalCode
    from schemas.milestones import MilestoneKind
    from schemas.reasons import ReasonCode, ReasonFacts
    from schemas.tasks import Answer, ReviewAnswer, RevisionAnswer, Task, TaskKind


async def run_drafting(board: TaskBoard, spec: DraftingStage) -> None:
    """Review round after round until every reviewer approves the same version.

    A request for changes ends the round at once: the office revises the text, and every
    reviewer reviews the new version (approvals of an older version do not count).
    """
    office = board.convention.office.id
    version, document = 1, spec.document
    await board.record(
        MilestoneKind.DRAFT_VERSION,
        "Version 1 of the text submitted for review",
        party=office,
        details={"version": version, "document": document.model_dump(mode="json")},
    )
    while True:
        reviews = [
            await board.assign(
                board.task_id("review", f"v{version}", party_id),
                TaskKind.REVIEW_DRAFT,
                party_id,
                f"Review version {version} of the text",
                due_in=timedelta(days=spec.due_in_days),
                check=_reviews_version(version),
                facts={"version": version},
            )
            for party_id in spec.reviewers
        ]
        changes_asked_by: str | None = None
        comments = ""
        async for _, request in board.answers_to(reviews):
            assert isinstance(request.answer, ReviewAnswer)
            if request.answer.decision == "request_changes":
                changes_asked_by, comments = request.acting_party, request.answer.comments or ""
                asked = ReasonFacts.of(
                    ReasonCode.CHANGES_REQUESTED, party=changes_asked_by, version=version
                )
                for review in reviews:
                    await board.cancel(
                        review.id,
                        f"{changes_asked_by} asked for changes to version {version}",
                        asked,
                    )
        if changes_asked_by is None:
            # The text signatures are given on: a new drafting run or version is a new text.
            board.approve_text(board.task_id(f"v{version}"))
            await board.record(
                MilestoneKind.DRAFT_APPROVED,
                f"Version {version} approved by {', '.join(spec.reviewers)}",
                party=office,
                details={"version": version, "approved_by": list(spec.reviewers)},
            )
            return
        if version >= MAX_ROUNDS:
            raise StageFailed(
                f"no version approved after {MAX_ROUNDS} versions of the text",
                ReasonFacts.of(ReasonCode.NO_VERSION_APPROVED, count=MAX_ROUNDS),
            )
        revision = await board.assign(
            board.task_id("revise", f"v{version + 1}"),
            TaskKind.REVISE_DRAFT,
            office,
            f"Revise the text as {changes_asked_by} asked: {shortened(comments, 200)}",
            due_in=timedelta(days=spec.due_in_days),
            facts={"party": changes_asked_by, "comments": shortened(comments, 200)},
        )
        answer = (await board.answer_to(revision)).answer
        assert isinstance(answer, RevisionAnswer)
        version, document = version + 1, answer.document
        await board.record(
            MilestoneKind.DRAFT_VERSION,
            f"Version {version} of the text submitted for review",
            party=office,
            details={"version": version, "document": document.model_dump(mode="json")},
        )


def _reviews_version(version: int) -> AnswerCheck:
    def check(task: Task, answer: Answer) -> None:
        if isinstance(answer, ReviewAnswer) and answer.version != version:
            raise refused(
                RefusalCode.WRONG_VERSION,
                "answer.version",
                f"{answer.version} is not the version under review ({version})",
                given=answer.version,
                current=version,
            )

    return check
