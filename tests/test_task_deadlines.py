"""Rules of every stage, on Temporal timers under the time-skipping server: reminders before
the due date, escalation to the officer at it, weekly reminders once late; the officer
postpones, reassigns and terminates."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import timedelta

import asyncpg
import pytest
import pytest_asyncio
from temporalio.testing import WorkflowEnvironment

from application.conventions import (
    postpone_deadline,
    reassign_task,
    terminate_convention,
)
from application.errors import Refused
from schemas.milestones import MilestoneKind
from schemas.officer_actions import PostponeDeadline, ReassignTask, TerminateConvention
from schemas.status import ConventionState
from schemas.tasks import TaskKind, TaskStatus
from tests.conftest import forget_organisations
from tests.stage_desk import Desk, convention_of
from worker import build_worker

FUNDING = {
    "stage": "funding_request",
    "funder": "bid",
    "terms_of_reference": {"uri": "archive:tdr-4-centres.pdf"},
    "requested": {"amount": "40000000", "currency": "IsDB-ID"},
    "due_in_days": 90,
}
DECISION = "funding_request.decision.r1"


@pytest_asyncio.fixture
async def desk(time_env: WorkflowEnvironment, db_pool: asyncpg.Pool) -> AsyncIterator[Desk]:
    """A worker of its own on the time-skipping server, and the officer's desk."""
    task_queue = f"rules-{uuid.uuid4().hex[:8]}"
    async with build_worker(time_env.client, db_pool, task_queue):
        officer_desk = Desk(time_env, db_pool, task_queue)
        yield officer_desk
        await officer_desk.close()


async def test_a_late_task_is_reminded_before_due_escalated_at_due_and_reminded_weekly(
    desk: Desk,
) -> None:
    await desk.start(convention_of(FUNDING))
    decision = await desk.task(DECISION)
    assert decision.due_at - decision.assigned_at == timedelta(days=90)

    await desk.pass_days(86)
    assert await desk.milestones(MilestoneKind.TASK_REMINDED, MilestoneKind.TASK_OVERDUE) == []

    await desk.pass_days(2)  # day 88: three days before the due date has passed
    (before_due,) = await desk.milestones(MilestoneKind.TASK_REMINDED)
    assert before_due.details["occurrence"] == "before-due"
    assert await desk.milestones(MilestoneKind.TASK_OVERDUE) == []

    await desk.pass_days(3)  # day 91: late
    (overdue,) = await desk.milestones(MilestoneKind.TASK_OVERDUE)
    assert overdue.task_id == DECISION and overdue.occurred_at >= decision.due_at
    escalation = await desk.task(f"escalation.{DECISION}")
    assert (escalation.kind, escalation.assignee, escalation.escalates) == (
        TaskKind.RESOLVE_ESCALATION,
        "ofppt",
        DECISION,
    )
    # Its facts carry the late task's due moment (escalation-due-moment), said as the day it
    # is in each reader's zone, beside the UTC date the English title states.
    assert escalation.facts is not None
    assert (escalation.facts.due_at, escalation.facts.due_on) == (
        decision.due_at,
        decision.due_at.date(),
    )

    await desk.pass_days(14)  # two weeks late: two weekly reminders
    late = [
        m.details["occurrence"]
        for m in await desk.milestones(MilestoneKind.TASK_REMINDED)
        if m.details["occurrence"].startswith("late")
    ]
    assert late == ["late-1", "late-2"]
    notified = await desk.notification_ids()
    announced = sorted(n for n in notified if "stage_changed" in n)
    assert announced == [
        f"funding_request.entered/convention.stage_changed/{party}"
        for party in ("bid", "dmk", "menefp", "psa")  # every partner; the office drives it
    ]
    assert [n for n in notified if "stage_changed" not in n] == [
        f"{DECISION}/task.assigned",
        f"{DECISION}/task.reminder/before-due",
        f"{DECISION}/task.reminder/overdue",
        f"escalation.{DECISION}/task.escalated/officer",
        f"{DECISION}/task.reminder/late-1",
        f"{DECISION}/task.reminder/late-2",
    ]

    await desk.answer(DECISION, "bid", decision="reject", comments="Hors délai")
    outcome = await desk.outcome()
    assert outcome.state is ConventionState.FAILED
    assert outcome.reason is not None and "Hors délai" in outcome.reason
    status = await desk.status()
    assert [(m.kind, m.task_id) for m in status.milestones[-5:]] == [
        (MilestoneKind.TASK_ANSWERED, DECISION),
        (MilestoneKind.TASK_CANCELLED, f"escalation.{DECISION}"),
        (MilestoneKind.FUNDING_DECIDED, DECISION),
        (MilestoneKind.STAGE_FAILED, None),
        (MilestoneKind.CONVENTION_FAILED, None),
    ]
    assert status.open_tasks == []


async def test_postponing_a_deadline_moves_it_restarts_reminders_and_closes_the_escalation(
    desk: Desk,
) -> None:
    await desk.start(convention_of(FUNDING))
    decision = await desk.task(DECISION)
    await desk.pass_days(91)
    await desk.task(f"escalation.{DECISION}")

    new_due = decision.due_at + timedelta(days=30)
    receipt = await postpone_deadline(
        desk.env.client,
        desk.convention_id,
        PostponeDeadline(task_id=DECISION, new_due_at=new_due, reason="Conseil de la BID reporté"),
    )
    assert receipt.task_id == DECISION

    status = await desk.status()
    moved = next(t for t in status.open_tasks if t.id == DECISION)
    assert moved.due_at == new_due and not moved.escalated
    assert f"escalation.{DECISION}" not in {t.id for t in status.open_tasks}
    (postponed,) = await desk.milestones(MilestoneKind.DEADLINE_POSTPONED)
    assert postponed.details["reason"] == "Conseil de la BID reporté"
    assert postponed.actor == "Nadia Benali"

    await desk.pass_days(28)  # the before-due reminder of the new date
    reminders = await desk.milestones(MilestoneKind.TASK_REMINDED)
    assert [m.details["occurrence"] for m in reminders] == ["before-due", "before-due"]
    assert reminders[-1].details["due_at"] == new_due.isoformat()

    await desk.pass_days(3)  # late again: a second escalation task, numbered
    await desk.task(f"escalation.{DECISION}.r2")


async def test_postponing_to_an_earlier_date_or_an_unknown_task_is_refused(desk: Desk) -> None:
    await desk.start(convention_of(FUNDING))
    decision = await desk.task(DECISION)
    before = await desk.status()

    with pytest.raises(Refused, match=r"new_due_at: .* is not later than"):
        await postpone_deadline(
            desk.env.client,
            desk.convention_id,
            PostponeDeadline(
                task_id=DECISION, new_due_at=decision.due_at - timedelta(days=1), reason="x"
            ),
        )
    with pytest.raises(Refused, match=r"task_id: unknown task 'funding\.nope'"):
        await postpone_deadline(
            desk.env.client,
            desk.convention_id,
            PostponeDeadline(task_id="funding.nope", new_due_at=decision.due_at, reason="x"),
        )
    assert await desk.status() == before


async def test_reassigning_a_task_tells_only_the_new_contact(desk: Desk) -> None:
    review = {
        "stage": "drafting",
        "document": {"uri": "archive:v1.docx"},
        "reviewers": ["psa"],
    }
    convention = convention_of(review)
    # The file decides who is told, as for an organisation the directory does not hold.
    await forget_organisations(desk.pool, (party.id for party in convention.parties))
    await desk.start(convention)
    await desk.task("drafting.review.v1.psa")

    with pytest.raises(Refused, match="contact: 'Inconnu' is not a contact of psa"):
        await reassign_task(
            desk.env.client,
            desk.convention_id,
            ReassignTask(task_id="drafting.review.v1.psa", contact="Inconnu", reason="absent"),
        )
    await reassign_task(
        desk.env.client,
        desk.convention_id,
        ReassignTask(
            task_id="drafting.review.v1.psa", contact="Salma Idrissi", reason="Rémi en congé"
        ),
    )

    task = await desk.task("drafting.review.v1.psa")
    assert task.contact == "Salma Idrissi"
    (reassigned,) = await desk.milestones(MilestoneKind.TASK_REASSIGNED)
    assert (reassigned.details["to"], reassigned.details["reason"]) == (
        "Salma Idrissi",
        "Rémi en congé",
    )
    rows = await desk.pool.fetch(
        "SELECT recipients FROM notifications WHERE convention_id = $1 AND id LIKE '%reassigned%'",
        desk.convention_id,
    )
    assert [[r["name"] for r in row["recipients"]] for row in rows] == [["Salma Idrissi"]]

    await desk.answer(
        "drafting.review.v1.psa", "psa", "Salma Idrissi", decision="approve", version=1
    )
    assert (await desk.outcome()).state is ConventionState.COMPLETED


@pytest.mark.parametrize("stage_index", [0, 1])
async def test_the_officer_terminates_a_convention_at_any_stage_with_a_reason(
    desk: Desk, stage_index: int
) -> None:
    drafting = {"stage": "drafting", "document": {"uri": "archive:v1"}, "reviewers": ["psa"]}
    signature = {"stage": "signature", "signatories": ["psa-dg", "ofppt-dg"]}
    await desk.start(convention_of(drafting, signature))
    if stage_index == 1:
        await desk.answer("drafting.review.v1.psa", "psa", decision="approve", version=1)
        await desk.task("signature.sign.psa-dg")
    else:
        await desk.task("drafting.review.v1.psa")

    await terminate_convention(
        desk.env.client,
        desk.convention_id,
        TerminateConvention(reason="Le partenaire s'est retiré du programme"),
    )
    with pytest.raises(Refused, match="convention: "):
        await terminate_convention(
            desk.env.client, desk.convention_id, TerminateConvention(reason="encore")
        )

    outcome = await desk.outcome()
    assert outcome.state is ConventionState.TERMINATED
    assert outcome.reason == "Le partenaire s'est retiré du programme"
    status = await desk.status()
    assert status.open_tasks == []
    assert status.milestones[-1].kind is MilestoneKind.CONVENTION_TERMINATED
    assert status.milestones[-1].stage == ("drafting", "signature")[stage_index]
    cancelled = await desk.milestones(MilestoneKind.TASK_CANCELLED)
    assert cancelled and all(
        "terminated" in m.summary and (m.task_id or "").startswith(status.stages[stage_index])
        for m in cancelled
    )
    assert all(t.status is not TaskStatus.OPEN for t in status.open_tasks)
    with pytest.raises(Refused, match="is closed"):
        await postpone_deadline(
            desk.env.client,
            desk.convention_id,
            PostponeDeadline(
                task_id="drafting.review.v1.psa",
                new_due_at=(await desk.now()) + timedelta(days=5),
                reason="trop tard",
            ),
        )
