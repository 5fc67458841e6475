"""The record says what really happened: who signed, what was requested, what was cancelled.

Under the time-skipping server, each test drives a small convention through the rule it
checks and reads the milestones the workflow recorded.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import asyncpg
import pytest
import pytest_asyncio
from temporalio.testing import WorkflowEnvironment

from application.conventions import reassign_task
from application.errors import Refused
from schemas.actors import AuthMethod, Principal, PrincipalKind
from schemas.milestones import MilestoneKind
from schemas.officer_actions import ReassignTask
from schemas.status import ConventionState
from schemas.tasks import TaskStatus
from tests.stage_desk import Desk, convention_of
from tests.test_stages import DRAFTING, FUNDING, IMPLEMENTATION, MISSION, SIGNATURE
from worker import build_worker


@pytest_asyncio.fixture
async def desk(time_env: WorkflowEnvironment, db_pool: asyncpg.Pool) -> AsyncIterator[Desk]:
    """A worker of its own on the time-skipping server, and the officer's desk."""
    task_queue = f"fidelity-{uuid.uuid4().hex[:8]}"
    async with build_worker(time_env.client, db_pool, task_queue):
        officer_desk = Desk(time_env, db_pool, task_queue)
        yield officer_desk
        await officer_desk.close()


def contact(name: str, party: str, method: AuthMethod = AuthMethod.LINK_AND_CODE) -> Principal:
    """A contact of the file, as the partner desk authenticates her."""
    return Principal(
        kind=PrincipalKind.CONTACT, id=name, name=name, party=party, method=method, request_id="r1"
    )


# --- who signed -------------------------------------------------------------------------


async def test_a_reassigned_signature_is_recorded_in_the_replacements_own_name(
    desk: Desk,
) -> None:
    await desk.start(convention_of(SIGNATURE))
    await desk.task("signature.sign.psa-dg")
    await reassign_task(
        desk.env.client,
        desk.convention_id,
        ReassignTask(
            task_id="signature.sign.psa-dg",
            contact="Salma Idrissi",
            reason="Le président est empêché",
            officer="Nadia Benali",
        ),
    )
    # The president named in the file may no longer sign a task given to his deputy.
    with pytest.raises(Refused, match=r"principal: .*reassigned to Salma Idrissi"):
        await desk.answer_as(contact("Rémi Cabon", "psa"), "signature.sign.psa-dg", decision="sign")
    # Nor may anyone claim to act for another party.
    with pytest.raises(Refused, match=r"principal\.party: 'dmk' is not the acting party"):
        await desk.answer_as(
            contact("Salma Idrissi", "dmk"),
            "signature.sign.psa-dg",
            acting_party="psa",
            decision="sign",
        )

    await desk.answer_as(
        contact("Salma Idrissi", "psa"),
        "signature.sign.psa-dg",
        decision="sign",
        capacity="Vice-présidente",
        place={"city": "Kénitra", "country": "MA"},
    )
    await desk.answer("signature.sign.ofppt-dg", "ofppt", decision="sign")

    assert (await desk.outcome()).state is ConventionState.COMPLETED
    first, _ = await desk.milestones(MilestoneKind.SIGNED)
    assert first.actor == "Salma Idrissi"
    assert first.details["capacity"] == "Vice-présidente"
    assert first.details["replacing"] == "Rémi Cabon"
    assert first.summary == (
        "Signed by Salma Idrissi, Vice-présidente, for psa, in place of Rémi Cabon, at Kénitra "
        "(Salma Idrissi for psa, e-mailed link confirmed by code)"
    )
    (answered, *_) = await desk.milestones(MilestoneKind.TASK_ANSWERED)
    assert answered.details["principal"]["method"] == "link_and_code"


async def test_after_a_refusal_the_stage_asks_only_for_the_signatures_still_missing(
    desk: Desk,
) -> None:
    await desk.start(convention_of({**SIGNATURE, "on_failure": "signature"}))
    await desk.answer("signature.sign.psa-dg", "psa", decision="sign")
    await desk.answer(
        "signature.sign.ofppt-dg", "ofppt", decision="refuse", reason="Budget à revoir"
    )

    # Second run of the same text: Rémi Cabon's signature stands, only OFPPT is asked again.
    await desk.task("signature-2.sign.ofppt-dg")
    assert [t.id for t in (await desk.status()).open_tasks] == ["signature-2.sign.ofppt-dg"]
    (stands,) = await desk.milestones(MilestoneKind.SIGNATURE_STANDS)
    assert stands.details["signatory"] == "psa-dg"
    assert "Rémi Cabon" in stands.summary and "stands" in stands.summary
    await desk.answer("signature-2.sign.ofppt-dg", "ofppt", decision="sign")

    assert (await desk.outcome()).state is ConventionState.COMPLETED
    assert len(await desk.milestones(MilestoneKind.SIGNED)) == 2


async def test_a_new_version_of_the_text_needs_every_signature_again(desk: Desk) -> None:
    drafting = {**DRAFTING, "reviewers": ["psa"]}
    await desk.start(convention_of(drafting, {**SIGNATURE, "on_failure": "drafting"}))
    await desk.answer("drafting.review.v1.psa", "psa", decision="approve", version=1)
    await desk.answer("signature.sign.psa-dg", "psa", decision="sign")
    await desk.answer("signature.sign.ofppt-dg", "ofppt", decision="withdraw", reason="Refonte")

    await desk.answer("drafting-2.review.v1.psa", "psa", decision="approve", version=1)
    await desk.task("signature-2.sign.psa-dg")
    await desk.task("signature-2.sign.ofppt-dg")  # assigned one after the other
    assert sorted(t.id for t in (await desk.status()).open_tasks) == [
        "signature-2.sign.ofppt-dg",
        "signature-2.sign.psa-dg",
    ]
    assert await desk.milestones(MilestoneKind.SIGNATURE_STANDS) == []


async def test_a_sequential_signatory_s_task_says_whom_it_waits_for(desk: Desk) -> None:
    await desk.start(convention_of({**SIGNATURE, "order": "sequential"}))
    await desk.task("signature.sign.psa-dg")
    waiting = await desk.lookup("signature.sign.ofppt-dg")
    assert waiting.task is None
    assert waiting.waiting_for == "waiting for the earlier signature of Rémi Cabon"

    await desk.answer("signature.sign.psa-dg", "psa", actor="Rémi Cabon", decision="sign")
    await desk.task("signature.sign.ofppt-dg")
    answered = await desk.lookup("signature.sign.psa-dg")
    assert answered.task is not None and answered.task.status is TaskStatus.DONE
    assert answered.task.answered_by == "Rémi Cabon"


# --- a revised funding request ------------------------------------------------------------


async def test_a_funding_stage_run_again_first_revises_the_request(desk: Desk) -> None:
    await desk.start(convention_of({**FUNDING, "on_failure": "funding_request"}))
    await desk.answer(
        "funding_request.decision.r1", "bid", decision="reject", comments="Montant trop élevé"
    )

    revise = await desk.task("funding_request-2.revise")
    assert revise.assignee == "ofppt"
    with pytest.raises(Exception, match=r"note"):
        await desk.answer(
            "funding_request-2.revise",
            "ofppt",
            requested={"amount": "30000000", "currency": "IsDB-ID"},
            terms_of_reference={"uri": "archive:tdr-v2.pdf"},
        )
    await desk.answer(
        "funding_request-2.revise",
        "ofppt",
        requested={"amount": "30000000", "currency": "IsDB-ID"},
        terms_of_reference={"uri": "archive:tdr-v2.pdf"},
        note="Périmètre réduit à deux centres",
    )
    decision = await desk.task("funding_request-2.decision.r1")
    assert "30000000" in decision.title
    await desk.answer(
        "funding_request-2.decision.r1",
        "bid",
        decision="approve",
        granted={"amount": "30000000", "currency": "IsDB-ID"},
    )

    assert (await desk.outcome()).state is ConventionState.COMPLETED
    requests = await desk.milestones(MilestoneKind.FUNDING_REQUESTED)
    assert [m.details["requested"]["amount"] for m in requests] == ["40000000", "30000000"]
    assert requests[1].details["terms_of_reference"]["uri"] == "archive:tdr-v2.pdf"
    (revised,) = await desk.milestones(MilestoneKind.FUNDING_REQUEST_REVISED)
    assert revised.details["note"] == "Périmètre réduit à deux centres"
    decided = await desk.milestones(MilestoneKind.FUNDING_DECIDED)
    assert decided[-1].details["requested"]["amount"] == "30000000"


# --- cancelled milestones and cohorts -----------------------------------------------------


async def test_a_cancelled_milestone_and_cohort_are_recorded_apart_and_the_stage_completes(
    desk: Desk,
) -> None:
    implementation: dict[str, Any] = {
        **IMPLEMENTATION,
        "milestones": [
            {"id": "workshop-built", "label": "Atelier construit"},
            {"id": "second-site", "label": "Deuxième site"},
        ],
    }
    await desk.start(convention_of(implementation))
    await desk.answer(
        "implementation.report.1",
        "ofppt",
        reached=["workshop-built"],
        cohorts=[{"id": "c1", "event": "started", "trainees": 20}],
    )
    with pytest.raises(Refused, match=r"cancelled_milestones\.0\.id: unknown planned"):
        await desk.answer(
            "implementation.report.2",
            "ofppt",
            cancelled_milestones=[{"id": "third-site", "reason": "x"}],
        )
    with pytest.raises(Refused, match=r"already reached or cancelled"):
        await desk.answer(
            "implementation.report.2",
            "ofppt",
            cancelled_milestones=[{"id": "workshop-built", "reason": "x"}],
        )
    with pytest.raises(Exception, match=r"reason"):
        await desk.answer(
            "implementation.report.2", "ofppt", cancelled_cohorts=[{"id": "c1", "reason": " "}]
        )
    await desk.answer(
        "implementation.report.2",
        "ofppt",
        cancelled_milestones=[{"id": "second-site", "reason": "Terrain non cédé"}],
        cancelled_cohorts=[{"id": "c1", "reason": "Centre fermé pour travaux"}],
    )

    assert (await desk.outcome()).state is ConventionState.COMPLETED
    (cancelled,) = await desk.milestones(MilestoneKind.IMPLEMENTATION_MILESTONE_CANCELLED)
    assert cancelled.details == {
        "milestone": "second-site",
        "label": "Deuxième site",
        "reason": "Terrain non cédé",
    }
    (cohort,) = await desk.milestones(MilestoneKind.COHORT_CANCELLED)
    assert cohort.details == {"cohort": "c1", "reason": "Centre fermé pour travaux"}
    reached = await desk.milestones(MilestoneKind.IMPLEMENTATION_MILESTONE_REACHED)
    assert [m.details["milestone"] for m in reached] == ["workshop-built"]
    last_report = (await desk.milestones(MilestoneKind.PROGRESS_REPORTED))[-1]
    assert (
        last_report.details["milestones_reached"],
        last_report.details["milestones_cancelled"],
        last_report.details["milestones_planned"],
    ) == (1, 1, 2)


# --- a task created already late ------------------------------------------------------------


async def test_a_task_created_already_late_sends_one_overdue_notice_not_a_burst(
    desk: Desk,
) -> None:
    now = (await desk.now()).date()  # the server's clock: earlier tests moved it on
    # A mission that ended 60 days ago: the host's task is born eight weekly reminders late.
    mission = {
        **MISSION,
        "starts_on": (now - timedelta(days=65)).isoformat(),
        "ends_on": (now - timedelta(days=60)).isoformat(),
    }
    await desk.start(convention_of(mission))
    await desk.task("mission.host")
    await desk.task("escalation.mission.host")
    await desk.pass_days(1)

    host_notices = [n for n in await desk.notification_ids() if n.startswith("mission.host/")]
    assert [n for n in host_notices if "/task.reminder/" in n] == [
        "mission.host/task.reminder/overdue"
    ]
    assert len(await desk.milestones(MilestoneKind.TASK_OVERDUE)) == 1

    # The late reminders still to come keep their weekly cadence.
    await desk.pass_days(7)
    reminders = [
        n for n in await desk.notification_ids() if n.startswith("mission.host/task.reminder/late-")
    ]
    assert len(reminders) == 1
