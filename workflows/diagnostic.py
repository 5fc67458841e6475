"""Diagnostic: findings are filed, then every concerned party agrees the outcomes."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

from workflows.task_board import TaskBoard

with workflow.unsafe.imports_passed_through():
    from schemas.convention import DiagnosticStage
    from schemas.milestones import MilestoneKind
    from schemas.tasks import FindingsAnswer, OutcomesAnswer, TaskKind


async def run_diagnostic(board: TaskBoard, spec: DiagnosticStage) -> None:
    """Findings, then agreement; a disagreement sends the findings back for a new round."""
    due_in = timedelta(days=spec.due_in_days)
    round_number = 1
    while True:
        findings_task = await board.assign(
            f"diagnostic.findings.r{round_number}",
            TaskKind.FILE_FINDINGS,
            spec.prepared_by,
            "File the diagnostic's findings and recommendations"
            + (f" (round {round_number})" if round_number > 1 else ""),
            due_in=due_in,
        )
        findings = (await board.answer_to(findings_task)).answer
        assert isinstance(findings, FindingsAnswer)
        await board.record(
            MilestoneKind.FINDINGS_FILED,
            f"{len(findings.findings)} findings and "
            f"{len(findings.recommendations)} recommendations filed",
            task=findings_task,
            details=findings.model_dump(mode="json", exclude={"kind"}),
        )
        agreements = [
            await board.assign(
                f"diagnostic.outcomes.r{round_number}.{party_id}",
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
                disagreement = f"{request.acting_party}: {answer.comments}"
                for task in agreements:
                    board.cancel(task.id)
                continue
            outcomes.extend(outcome for outcome in answer.outcomes if outcome not in outcomes)
        if disagreement is None:
            await board.record(
                MilestoneKind.OUTCOMES_AGREED,
                f"Outcomes agreed by {', '.join(spec.agreed_by)}",
                party=board.convention.office.id,
                details={"outcomes": outcomes, "agreed_by": list(spec.agreed_by)},
            )
            return
        round_number += 1
