"""Diagnostic: findings are filed and restituted, every concerned party agrees the outcomes,
and the outcomes start their follow-up conventions."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.workflow import ParentClosePolicy

from workflows.task_board import MAX_ROUNDS, StageFailed, TaskBoard
from workflows.visibility import search_attributes_for

with workflow.unsafe.imports_passed_through():
    from schemas.contract import WORKFLOW_TYPE, workflow_id_for
    from schemas.convention import DiagnosticStage
    from schemas.milestones import MilestoneKind
    from schemas.officer_actions import ConventionLink, LinkKind
    from schemas.reasons import ReasonCode, ReasonFacts
    from schemas.status import ConventionInput, ConventionState
    from schemas.tasks import FindingsAnswer, OutcomesAnswer, TaskKind


async def run_diagnostic(board: TaskBoard, spec: DiagnosticStage) -> None:
    """Findings, restitution, agreement; a disagreement sends the findings back."""
    due_in = timedelta(days=spec.due_in_days)
    round_number = 1
    while True:
        findings_task = await board.assign(
            board.task_id("findings", f"r{round_number}"),
            TaskKind.FILE_FINDINGS,
            spec.prepared_by,
            "File the diagnostic's findings and recommendations"
            + (f" (round {round_number})" if round_number > 1 else ""),
            due_in=due_in,
            facts={"round": round_number},
        )
        findings = (await board.answer_to(findings_task)).answer
        assert isinstance(findings, FindingsAnswer)
        await board.record(
            MilestoneKind.FINDINGS_FILED,
            f"{len(findings.findings)} findings and "
            f"{len(findings.recommendations)} recommendations filed",
            task=findings_task,
            details=findings.model_dump(mode="json", exclude={"kind", "restitution"}),
        )
        if findings.restitution is not None:
            session = findings.restitution
            await board.record(
                MilestoneKind.RESTITUTION_HELD,
                f"Restitution session on {session.held_on}"
                + (f" in {session.place.city}" if session.place else "")
                + f" with {len(session.attendees)} attendees",
                task=findings_task,
                details=session.model_dump(mode="json"),
            )
        agreements = [
            await board.assign(
                board.task_id("outcomes", f"r{round_number}", party_id),
                TaskKind.AGREE_OUTCOMES,
                party_id,
                "Agree the diagnostic's outcomes",
                due_in=due_in,
            )
            for party_id in spec.agreed_by
        ]
        outcomes: list[str] = []
        disagreement: str | None = None
        async for _, request in board.answers_to(agreements):
            answer = request.answer
            assert isinstance(answer, OutcomesAnswer)
            if answer.decision == "disagree":
                disagreement = f"{request.acting_party} disagrees: {answer.comments}"
                disputed = ReasonFacts.of(
                    ReasonCode.OUTCOMES_DISPUTED,
                    party=request.acting_party,
                    comments=answer.comments,
                )
                for task in agreements:
                    await board.cancel(task.id, disagreement, disputed)
                continue
            outcomes.extend(outcome for outcome in answer.outcomes if outcome not in outcomes)
        if disagreement is None:
            await board.record(
                MilestoneKind.OUTCOMES_AGREED,
                f"Outcomes agreed by {', '.join(spec.agreed_by)}",
                party=board.convention.office.id,
                details={"outcomes": outcomes, "agreed_by": list(spec.agreed_by)},
            )
            await _start_follow_ups(board, spec)
            return
        if round_number >= MAX_ROUNDS:
            raise StageFailed(
                f"no agreement on the outcomes after {MAX_ROUNDS} rounds",
                ReasonFacts.of(ReasonCode.NO_OUTCOMES_AGREED, count=MAX_ROUNDS),
            )
        round_number += 1


async def _start_follow_ups(board: TaskBoard, spec: DiagnosticStage) -> None:
    """Each follow-up convention runs as its own workflow, outliving this one if need be."""
    origin = board.convention
    for declared in spec.follow_ups:
        follow_up = declared.model_copy(update={"origin": origin.id})
        started = True
        try:
            await workflow.start_child_workflow(
                WORKFLOW_TYPE,
                ConventionInput(convention=follow_up),
                id=workflow_id_for(follow_up.id),
                parent_close_policy=ParentClosePolicy.ABANDON,
                search_attributes=search_attributes_for(
                    follow_up, follow_up.stages[0].stage, ConventionState.ACTIVE
                ),
            )
        except WorkflowAlreadyStartedError:
            started = False
        board.add_link(
            ConventionLink(
                convention_id=follow_up.id, title=follow_up.title, kind=LinkKind.FOLLOW_UP
            )
        )
        await board.record(
            MilestoneKind.FOLLOW_UP_STARTED,
            f"Follow-up convention {follow_up.id} "
            + ("started" if started else "was already running")
            + f": {follow_up.title}",
            party=origin.office.id,
            details={
                "convention_id": follow_up.id,
                "workflow_id": workflow_id_for(follow_up.id),
                "kind": follow_up.kind.value,
                "started": started,
            }
            | ({"title": follow_up.title} if board.writes_facts() else {}),
        )
