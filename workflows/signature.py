"""Signature: every required signatory signs, in parallel or in the listed order."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

from workflows.task_board import StageFailed, TaskBoard

with workflow.unsafe.imports_passed_through():
    from schemas.convention import SignatureOrder, SignatureStage
    from schemas.milestones import MilestoneKind
    from schemas.tasks import SignAnswer, Task, TaskKind


async def run_signature(board: TaskBoard, spec: SignatureStage) -> None:
    """Collect every signature; a refusal or a withdrawal fails the stage; all in: in force."""
    convention = board.convention
    batches = (
        [[signatory] for signatory in spec.signatories]
        if spec.order is SignatureOrder.SEQUENTIAL
        else [list(spec.signatories)]
    )
    for batch in batches:
        tasks: list[Task] = []
        for signatory_id in batch:
            signatory = convention.signatory(signatory_id)
            tasks.append(
                await board.assign(
                    board.task_id("sign", signatory_id),
                    TaskKind.SIGN,
                    signatory.party,
                    f"Sign the convention as {signatory.name}, {signatory.capacity}",
                    signatory=signatory_id,
                    due_in=timedelta(days=spec.due_in_days),
                )
            )
        failure: str | None = None
        async for task, request in board.answers_to(tasks):
            answer = request.answer
            assert isinstance(answer, SignAnswer) and task.signatory is not None
            signatory = convention.signatory(task.signatory)
            if answer.decision != "sign":
                refused = answer.decision == "refuse"
                failure = (
                    f"{signatory.name} ({signatory.party}) "
                    f"{'refused to sign' if refused else 'withdrew from the convention'}: "
                    f"{answer.reason}"
                )
                await board.record(
                    MilestoneKind.SIGNATURE_REFUSED if refused else MilestoneKind.PARTY_WITHDREW,
                    failure,
                    task=task,
                    actor=signatory.name,
                    details={"signatory": signatory.id, "reason": answer.reason},
                )
                for other in tasks:
                    await board.cancel(other.id, failure)
                continue
            place = answer.place or spec.place
            await board.record(
                MilestoneKind.SIGNED,
                f"Signed by {signatory.name}, {signatory.capacity}, for {signatory.party}"
                + (f", at {place.city}" if place else ""),
                task=task,
                actor=signatory.name,
                details={
                    "signatory": signatory.id,
                    "capacity": signatory.capacity,
                    "place": place.model_dump(mode="json") if place else None,
                    "signed_at": workflow.now().isoformat(),
                },
            )
        if failure is not None:
            raise StageFailed(failure)
    await board.record(
        MilestoneKind.ENTERED_INTO_FORCE,
        f"All {len(spec.signatories)} signatures in: the convention is in force",
        party=convention.office.id,
        details={"in_force_on": workflow.now().date().isoformat()},
    )
