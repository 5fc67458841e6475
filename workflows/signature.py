"""Signature: every required signatory signs, in parallel or in the listed order.

A task reassigned to another contact of the party (a vice-president replacing a president)
is signed by that contact, in her own name and capacity, and recorded so. After a refusal or
a withdrawal, a stage run again on the same text asks only for the signatures still missing;
a new version of the text (drafting ran again) needs every signature anew.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

from workflows.task_board import StageFailed, TaskBoard

with workflow.unsafe.imports_passed_through():
    from schemas.actors import PrincipalKind
    from schemas.convention import Signatory, SignatureOrder, SignatureStage
    from schemas.milestones import MilestoneKind
    from schemas.reasons import ReasonCode, ReasonFacts
    from schemas.status import StandingSignature
    from schemas.tasks import AnswerTask, SignAnswer, Task, TaskKind

STANDING_SIGNATURES_PATCH = "keep-standing-signatures"
"""Signatures given on an unchanged text stand when the stage runs again; conventions recorded
before asked for every signature again (tests/histories/before-keep-standing-signatures/)."""


async def run_signature(board: TaskBoard, spec: SignatureStage) -> None:
    """Collect every signature; a refusal or a withdrawal fails the stage; all in: in force."""
    convention = board.convention
    missing = list(spec.signatories)
    if board.patches.on(STANDING_SIGNATURES_PATCH):
        missing = await _signatures_still_missing(board, spec)
    batches = (
        [[signatory] for signatory in missing]
        if spec.order is SignatureOrder.SEQUENTIAL
        else [missing]
        if missing
        else []
    )
    for position, batch in enumerate(batches):
        _note_who_waits(board, batches, position)
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
                    facts={"signatory_name": signatory.name, "capacity": signatory.capacity},
                )
            )
        failure: tuple[str, ReasonFacts] | None = None
        async for task, request in board.answers_to(tasks):
            answer = request.answer
            assert isinstance(answer, SignAnswer) and task.signatory is not None
            signatory = convention.signatory(task.signatory)
            signer, capacity, replacing = _who_signs(board, task, request, signatory)
            if answer.decision != "sign":
                refused = answer.decision == "refuse"
                said = (
                    f"{signer} ({signatory.party}) "
                    f"{'refused to sign' if refused else 'withdrew from the convention'}: "
                    f"{answer.reason}"
                )
                failure = (
                    said,
                    ReasonFacts.of(
                        ReasonCode.SIGNATURE_REFUSED if refused else ReasonCode.PARTY_WITHDREW,
                        person=signer,
                        party=signatory.party,
                        reason=answer.reason,
                    ),
                )
                await board.record(
                    MilestoneKind.SIGNATURE_REFUSED if refused else MilestoneKind.PARTY_WITHDREW,
                    said,
                    task=task,
                    actor=signer,
                    details={"signatory": signatory.id, "reason": answer.reason}
                    | ({"replacing": replacing} if replacing else {}),
                )
                for other in tasks:
                    await board.cancel(other.id, *failure)
                continue
            place = answer.place or spec.place
            await board.record(
                MilestoneKind.SIGNED,
                f"Signed by {signer}, {capacity}, for {signatory.party}"
                + (f", in place of {replacing}" if replacing else "")
                + (f", at {place.city}" if place else "")
                + (f" ({request.principal.describe()})" if request.principal else ""),
                task=task,
                actor=signer,
                details={
                    "signatory": signatory.id,
                    "capacity": capacity,
                    "place": place.model_dump(mode="json") if place else None,
                    "signed_at": workflow.now().isoformat(),
                }
                | ({"replacing": replacing} if replacing else {}),
            )
            board.keep_signature(
                StandingSignature(
                    signatory=signatory.id,
                    document=board.document or "",
                    signed_by=signer,
                    signed_at=workflow.now(),
                )
            )
        if failure is not None:
            board.wait_for({})
            raise StageFailed(*failure)
    await board.record(
        MilestoneKind.ENTERED_INTO_FORCE,
        f"All {len(spec.signatories)} signatures in: the convention is in force",
        party=convention.office.id,
        details={"in_force_on": workflow.now().date().isoformat()},
    )


async def _signatures_still_missing(board: TaskBoard, spec: SignatureStage) -> list[str]:
    """The signatories whose signature on the current text is not in yet; say which stand."""
    document = board.document or ""
    missing: list[str] = []
    for signatory_id in spec.signatories:
        standing = board.signatures.get(signatory_id)
        if standing is None or standing.document != document:
            missing.append(signatory_id)
            continue
        await board.record(
            MilestoneKind.SIGNATURE_STANDS,
            f"The signature of {standing.signed_by} ({signatory_id}) given on "
            f"{standing.signed_at:%Y-%m-%d} stands: the text has not changed",
            party=board.convention.signatory(signatory_id).party,
            actor=standing.signed_by,
            details={
                "signatory": signatory_id,
                "signed_at": standing.signed_at.isoformat(),
                "document": document,
            },
        )
    return missing


def _who_signs(
    board: TaskBoard, task: Task, request: AnswerTask, signatory: Signatory
) -> tuple[str, str, str | None]:
    """(name, capacity, replacing whom): the contact a task was reassigned to signs herself."""
    answer = request.answer
    assert isinstance(answer, SignAnswer)
    if task.contact is None:
        return signatory.name, answer.capacity or signatory.capacity, None
    principal = request.principal
    name = (
        principal.name
        if principal is not None and principal.kind is PrincipalKind.CONTACT
        else task.contact
    )
    contact = next(
        (c for c in board.convention.party(task.assignee).contacts if c.name == task.contact),
        None,
    )
    capacity = answer.capacity or (contact.title if contact and contact.title else None)
    return name, capacity or f"for {task.assignee}", signatory.name


def _note_who_waits(board: TaskBoard, batches: list[list[str]], position: int) -> None:
    """Sequential signatures: each later signatory's task waits for the earlier ones."""
    current = ", ".join(
        board.convention.signatory(signatory_id).name for signatory_id in batches[position]
    )
    board.wait_for(
        {
            board.task_id("sign", signatory_id): f"waiting for the earlier signature of {current}"
            for later in batches[position + 1 :]
            for signatory_id in later
        }
    )
