"""Each stage's own rules, as the seed articles show them, under the time-skipping server."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from typing import Any, TypeVar

import asyncpg
import pytest
import pytest_asyncio
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from application.conventions import (
    ConventionFilter,
    convention_status,
    list_conventions,
    postpone_deadline,
    start_convention,
)
from application.errors import Refused
from schemas.milestones import MilestoneKind
from schemas.officer_actions import LinkKind, PostponeDeadline
from schemas.status import ConventionState
from tests.conftest import DEV_TASK_QUEUE
from tests.stage_desk import Desk, convention_of
from worker import build_worker

T = TypeVar("T")

DRAFTING: dict[str, Any] = {
    "stage": "drafting",
    "document": {"uri": "archive:convention-v1.docx"},
    "reviewers": ["psa", "dmk"],
}
SIGNATURE: dict[str, Any] = {"stage": "signature", "signatories": ["psa-dg", "ofppt-dg"]}
MISSION: dict[str, Any] = {
    "stage": "mission",
    "host": "menefp",
    "destination": {"city": "Bamako", "country": "ML"},
    "starts_on": "2030-10-01",
    "ends_on": "2030-10-07",
    "delegation": ["Experts OFPPT"],
    "agenda": [
        {"id": "meetings", "kind": "meeting", "title": "Rencontres"},
        {"id": "visit-senou", "kind": "field_visit", "title": "Senou", "site": "Centre de Senou"},
    ],
    "report_by": "ofppt",
    "report_due_days_after": 15,
}
DIAGNOSTIC: dict[str, Any] = {
    "stage": "diagnostic",
    "prepared_by": "ofppt",
    "agreed_by": ["menefp", "ofppt"],
}
FUNDING: dict[str, Any] = {
    "stage": "funding_request",
    "funder": "bid",
    "terms_of_reference": {"uri": "archive:tdr.pdf"},
    "requested": {"amount": "40000000", "currency": "IsDB-ID"},
}
IMPLEMENTATION: dict[str, Any] = {
    "stage": "implementation",
    "implementer": "ofppt",
    "indicators": [
        {"id": "trainees", "label": "Bénéficiaires", "unit": "trainees", "target": 3000},
        {"id": "pass-rate", "label": "Taux de réussite", "unit": "%", "target": 80},
    ],
    "milestones": [{"id": "target-reached", "label": "3 000 bénéficiaires formés"}],
    "report_every_days": 91,
}


@pytest_asyncio.fixture
async def desk(time_env: WorkflowEnvironment, db_pool: asyncpg.Pool) -> AsyncIterator[Desk]:
    """A worker of its own on the time-skipping server, and the officer's desk."""
    task_queue = f"stages-{uuid.uuid4().hex[:8]}"
    async with build_worker(time_env.client, db_pool, task_queue):
        officer_desk = Desk(time_env, db_pool, task_queue)
        yield officer_desk
        await officer_desk.close()


@pytest_asyncio.fixture
async def dev_desk(dev_env: WorkflowEnvironment, db_pool: asyncpg.Pool) -> AsyncIterator[Desk]:
    """The officer's desk on the real-time dev server and its session worker.

    For what needs no time to pass: child workflows, which the time-skipping server handles
    in a way that leaves its clock locked for the next test.
    """
    officer_desk = Desk(dev_env, db_pool, DEV_TASK_QUEUE)
    yield officer_desk
    await officer_desk.close()


# --- drafting ---------------------------------------------------------------------------


async def test_drafting_changes_bring_a_new_version_and_approvals_of_the_old_one_do_not_count(
    desk: Desk,
) -> None:
    await desk.start(convention_of(DRAFTING))
    await desk.answer("drafting.review.v1.psa", "psa", decision="approve", version=1)
    await desk.answer(
        "drafting.review.v1.dmk",
        "dmk",
        decision="request_changes",
        version=1,
        comments="Article 5 : durée",
    )
    revision = await desk.task("drafting.revise.v2")
    assert revision.assignee == "ofppt" and "Article 5" in revision.title
    await desk.answer("drafting.revise.v2", "ofppt", document={"uri": "archive:convention-v2.docx"})

    with pytest.raises(Refused, match=r"answer\.version: 1 is not the version under review"):
        await desk.answer("drafting.review.v2.psa", "psa", decision="approve", version=1)
    await desk.answer("drafting.review.v2.psa", "psa", decision="approve", version=2)
    assert not await desk.milestones(MilestoneKind.DRAFT_APPROVED)
    await desk.answer("drafting.review.v2.dmk", "dmk", decision="approve", version=2)

    assert (await desk.outcome()).state is ConventionState.COMPLETED
    versions = [m.details["version"] for m in await desk.milestones(MilestoneKind.DRAFT_VERSION)]
    (approved,) = await desk.milestones(MilestoneKind.DRAFT_APPROVED)
    assert versions == [1, 2] and approved.details["version"] == 2


# --- signature --------------------------------------------------------------------------


async def test_sequential_signatures_open_one_after_the_other_then_the_convention_is_in_force(
    desk: Desk,
) -> None:
    signature = {**SIGNATURE, "order": "sequential", "place": {"city": "Kénitra", "country": "MA"}}
    await desk.start(convention_of(signature))
    await desk.task("signature.sign.psa-dg")
    assert [t.id for t in (await desk.status()).open_tasks] == ["signature.sign.psa-dg"]

    await desk.answer("signature.sign.psa-dg", "psa", decision="sign")
    await desk.answer(
        "signature.sign.ofppt-dg",
        "ofppt",
        decision="sign",
        place={"city": "Rabat", "country": "MA"},
    )

    assert (await desk.outcome()).state is ConventionState.COMPLETED
    signed = await desk.milestones(MilestoneKind.SIGNED)
    assert [(m.actor, m.details["capacity"], m.details["place"]["city"]) for m in signed] == [
        ("Rémi Cabon", "Directeur général", "Kénitra"),
        ("Loubna Tricha", "Directrice générale", "Rabat"),
    ]
    (in_force,) = await desk.milestones(MilestoneKind.ENTERED_INTO_FORCE)
    assert in_force.details["in_force_on"] == signed[-1].occurred_at.date().isoformat()


async def test_a_refused_signature_ends_the_convention_with_its_reason(desk: Desk) -> None:
    await desk.start(convention_of(SIGNATURE))
    with pytest.raises(Exception, match=r"reason: required to refuse"):
        await desk.answer("signature.sign.psa-dg", "psa", decision="refuse")
    await desk.answer("signature.sign.psa-dg", "psa", decision="refuse", reason="Budget non validé")

    outcome = await desk.outcome()
    assert outcome.state is ConventionState.FAILED
    assert outcome.reason == "Rémi Cabon (psa) refused to sign: Budget non validé"
    (refused,) = await desk.milestones(MilestoneKind.SIGNATURE_REFUSED)
    assert refused.details["reason"] == "Budget non validé"
    cancelled = await desk.milestones(MilestoneKind.TASK_CANCELLED)
    assert [m.task_id for m in cancelled] == ["signature.sign.ofppt-dg"]


async def test_a_withdrawal_takes_the_declared_path_back_to_drafting_until_attempts_run_out(
    desk: Desk,
) -> None:
    drafting = {**DRAFTING, "reviewers": ["psa"], "max_attempts": 2}
    signature = {**SIGNATURE, "on_failure": "drafting"}
    await desk.start(convention_of(drafting, signature))
    await desk.answer("drafting.review.v1.psa", "psa", decision="approve", version=1)
    await desk.answer("signature.sign.psa-dg", "psa", decision="withdraw", reason="Fusion")

    # Back to drafting, second run: its tasks are numbered apart from the first run's.
    await desk.answer("drafting-2.review.v1.psa", "psa", decision="approve", version=1)
    await desk.answer("signature-2.sign.psa-dg", "psa", decision="withdraw", reason="Encore")

    outcome = await desk.outcome()
    assert outcome.state is ConventionState.FAILED
    assert outcome.reason is not None and "already ran 2 times" in outcome.reason
    assert [m.details["on_failure"] for m in await desk.milestones(MilestoneKind.STAGE_FAILED)] == [
        "drafting",
        "drafting",
    ]
    assert len(await desk.milestones(MilestoneKind.PARTY_WITHDREW)) == 2
    # The reason as facts (typed-reasons): the ending wraps the withdrawal it follows.
    facts = outcome.reason_facts
    assert facts is not None and facts.code == "attempts_exhausted"
    assert facts.params == {"stage": "drafting", "runs": 2}
    assert facts.cause is not None and facts.cause.code == "party_withdrew"
    (failed,) = await desk.milestones(MilestoneKind.CONVENTION_FAILED)
    assert failed.details["reason_facts"] == facts.model_dump(mode="json")


# --- mission ----------------------------------------------------------------------------


async def test_postponing_a_mission_moves_its_dates_and_the_report_due_date(desk: Desk) -> None:
    await desk.start(convention_of(MISSION))
    host = await desk.task("mission.host")
    await postpone_deadline(
        desk.env.client,
        desk.convention_id,
        PostponeDeadline(
            task_id="mission.host",
            new_due_at=host.due_at + timedelta(days=14),
            reason="Élections : mission décalée de deux semaines",
        ),
    )
    with pytest.raises(Refused, match=r"answer\.held: say whether \['visit-senou'\]"):
        await desk.answer("mission.host", "menefp", held=["meetings"])
    with pytest.raises(Refused, match=r"answer\.held\.1: unknown agenda item 'kati'"):
        await desk.answer("mission.host", "menefp", held=["meetings", "kati"])
    await desk.answer("mission.host", "menefp", held=["meetings"], cancelled=["visit-senou"])

    report = await desk.task("mission.report")
    (held,) = await desk.milestones(MilestoneKind.MISSION_HELD)
    assert (held.details["starts_on"], held.details["ends_on"]) == ("2030-10-15", "2030-10-21")
    assert [item["id"] for item in held.details["cancelled"]] == ["visit-senou"]
    assert report.due_at == host.due_at + timedelta(days=14 + 15)
    await desk.answer(
        "mission.report", "ofppt", report={"uri": "archive:rapport.pdf"}, summary="Rapport"
    )
    assert (await desk.outcome()).state is ConventionState.COMPLETED


# --- diagnostic -------------------------------------------------------------------------


async def test_a_disagreement_sends_the_findings_back_then_agreed_outcomes_start_follow_ups(
    dev_desk: Desk,
) -> None:
    desk = dev_desk
    follow_up = convention_of(
        {**DRAFTING, "reviewers": ["menefp"]},
        id=f"cadre-{uuid.uuid4().hex[:8]}",
        kind="framework",
        title="Convention-cadre MENEFP – OFPPT – AMCI",
    )
    diagnostic = {**DIAGNOSTIC, "follow_ups": [follow_up.model_dump(mode="json")]}
    await desk.start(convention_of(diagnostic))
    await desk.answer("diagnostic.findings.r1", "ofppt", findings=["Offre insuffisante"])
    await desk.answer(
        "diagnostic.outcomes.r1.menefp", "menefp", decision="disagree", comments="Chiffres ?"
    )
    await desk.answer(
        "diagnostic.findings.r2",
        "ofppt",
        findings=["Offre insuffisante dans 4 secteurs"],
        recommendations=["Quatre centres sectoriels"],
        restitution={
            "held_on": "2030-10-07",
            "place": {"city": "Bamako", "country": "ML"},
            "attendees": ["Drissa GUINDO", "Délégation OFPPT"],
        },
    )
    for party in ("menefp", "ofppt"):
        await desk.answer(
            f"diagnostic.outcomes.r2.{party}",
            party,
            decision="agree",
            outcomes=["TdR de 4 centres", "Nouvelle convention-cadre"],
        )

    assert (await desk.outcome()).state is ConventionState.COMPLETED
    (restitution,) = await desk.milestones(MilestoneKind.RESTITUTION_HELD)
    assert restitution.details["attendees"] == ["Drissa GUINDO", "Délégation OFPPT"]
    (agreed,) = await desk.milestones(MilestoneKind.OUTCOMES_AGREED)
    assert agreed.details["outcomes"] == ["TdR de 4 centres", "Nouvelle convention-cadre"]
    origin = await desk.status()
    assert [(link.convention_id, link.kind) for link in origin.links] == [
        (follow_up.id, LinkKind.FOLLOW_UP)
    ]
    desk.convention_id = follow_up.id
    desk.started.append(follow_up.id)
    child = await desk.status()
    assert child.origin == origin.convention_id and child.state is ConventionState.ACTIVE
    await desk.task("drafting.review.v1.menefp")


# --- funding request --------------------------------------------------------------------


async def test_the_funder_asks_for_more_twice_then_grants_a_different_amount(desk: Desk) -> None:
    await desk.start(convention_of(FUNDING))
    for round_number in (1, 2):
        await desk.answer(
            f"funding_request.decision.r{round_number}",
            "bid",
            decision="more_information",
            comments=f"Question {round_number}",
        )
        await desk.answer(
            f"funding_request.information.r{round_number}", "ofppt", comments="Réponse"
        )
    with pytest.raises(Exception, match=r"granted: required when approving"):
        await desk.answer("funding_request.decision.r3", "bid", decision="approve")
    await desk.answer(
        "funding_request.decision.r3",
        "bid",
        decision="approve",
        granted={"amount": "36000000", "currency": "IsDB-ID"},
    )

    assert (await desk.outcome()).state is ConventionState.COMPLETED
    decisions = await desk.milestones(MilestoneKind.FUNDING_DECIDED)
    assert [m.details["decision"] for m in decisions] == [
        "more_information",
        "more_information",
        "approve",
    ]
    assert decisions[-1].details["granted"] == {"amount": "36000000", "currency": "IsDB-ID"}


# --- implementation ---------------------------------------------------------------------


async def test_five_years_of_cohorts_continue_as_new_and_keep_every_indicator(desk: Desk) -> None:
    await desk.start(convention_of(IMPLEMENTATION), history_limit=120)
    trainees = 0
    for quarter in range(1, 21):  # five years of quarterly reports
        await desk.pass_days(80)
        cohorts: list[dict[str, Any]] = []
        if quarter % 2 == 1:
            cohorts.append({"id": f"cohort-{quarter}", "event": "started", "trainees": 150})
        else:
            trainees += 150
            cohorts.append(
                {
                    "id": f"cohort-{quarter - 1}",
                    "event": "finished",
                    "trainees": 150,
                    "graduates": 120,
                }
            )
        fields: dict[str, Any] = {
            "actuals": {"trainees": trainees, "pass-rate": 80.0},
            "cohorts": cohorts,
        }
        if quarter == 20:
            fields["reached"] = ["target-reached"]
        await desk.answer(f"implementation.report.{quarter}", "ofppt", **fields)

    assert (await desk.outcome()).state is ConventionState.COMPLETED
    status = await desk.status()
    assert status.runs > 2
    assert status.indicators == {"trainees": 1500.0, "pass-rate": 80.0}
    assert len(await desk.milestones(MilestoneKind.COHORT_STARTED)) == 10
    assert len(await desk.milestones(MilestoneKind.COHORT_FINISHED)) == 10
    assert len(await desk.milestones(MilestoneKind.PROGRESS_REPORTED)) == 20
    assert len(await desk.milestones(MilestoneKind.HISTORY_CONTINUED)) == status.runs - 1
    stored = await desk.stored_milestones()
    assert [seq for seq, _ in stored] == list(range(1, status.milestone_count + 1))
    window = [(m.seq, m.kind.value) for m in status.milestones]
    assert stored[-len(window) :] == window, "the workflow keeps the latest milestones"
    # Each run starts with the bounded state only (the first has no resume state): no log,
    # so the last run's input is the second run's, give or take the ids of the cohorts it
    # must still check answers against (about 45 bytes a run here; measured 1.06x).
    sizes = await desk.first_event_sizes()
    assert len(sizes) == status.runs > 2
    assert sizes[-1] <= sizes[1] * 1.10, sizes


async def test_officers_actions_keep_counting_across_a_continue_as_new(desk: Desk) -> None:
    """The count of officers' actions numbers their notifications: a new run carries it
    (BoardState.changes), so a postponement in the second run is not the first one again."""
    await desk.start(convention_of(IMPLEMENTATION), history_limit=50)

    async def postpone(task_id: str) -> None:
        task = await desk.task(task_id)
        await postpone_deadline(
            desk.env.client,
            desk.convention_id,
            PostponeDeadline(
                task_id=task_id, new_due_at=task.due_at + timedelta(days=7), reason="congés"
            ),
        )

    await postpone("implementation.report.1")
    quarter = 1
    while (await desk.status()).runs == 1:
        await desk.answer(f"implementation.report.{quarter}", "ofppt", actuals={"trainees": 10})
        quarter += 1
        await desk.task(f"implementation.report.{quarter}")
    await postpone(f"implementation.report.{quarter}")

    postponed = [i for i in await desk.notification_ids() if "/postponed-" in i]
    assert postponed == [
        "implementation.report.1/task.reminder/postponed-1",
        f"implementation.report.{quarter}/task.reminder/postponed-2",
    ]


async def test_a_cohort_cannot_finish_before_it_started(desk: Desk) -> None:
    await desk.start(convention_of(IMPLEMENTATION))
    with pytest.raises(Refused, match=r"answer\.cohorts\.0\.id: cohort 'c1' never started"):
        await desk.answer(
            "implementation.report.1",
            "ofppt",
            cohorts=[{"id": "c1", "event": "finished", "trainees": 10, "graduates": 9}],
        )
    with pytest.raises(Refused, match=r"answer\.actuals\.seats: unknown indicator"):
        await desk.answer("implementation.report.1", "ofppt", actuals={"seats": 3000})


# --- framework and specific conventions, visibility (dev server) ------------------------


async def test_a_specific_convention_is_linked_to_its_framework_both_ways_and_listed_by_stage(
    client: Client,
) -> None:
    framework = convention_of(DRAFTING, kind="framework")
    specific = convention_of(SIGNATURE, kind="specific", parent=framework.id)
    await start_convention(client, framework, DEV_TASK_QUEUE)
    await start_convention(client, specific, DEV_TASK_QUEUE)

    async def framework_links() -> list[Any]:
        return list((await convention_status(client, framework.id)).links)

    links = await _eventually(framework_links)
    assert [(link.convention_id, link.kind) for link in links] == [(specific.id, LinkKind.SPECIFIC)]
    (linked,) = [
        m
        for m in (await convention_status(client, specific.id)).milestones
        if m.kind is MilestoneKind.PARENT_LINKED
    ]
    assert linked.details == {"parent": framework.id, "linked": True}

    async def listed() -> list[str]:
        found = await list_conventions(client, ConventionFilter(stage="signature", party="PSA"))
        return [summary.convention_id for summary in found]

    ids = await _eventually(listed, until=lambda found: specific.id in found)
    assert framework.id not in ids  # in drafting, not signature
    by_country = await list_conventions(client, ConventionFilter(country="ml", kind="framework"))
    assert framework.id in [summary.convention_id for summary in by_country]


async def _eventually(
    read: Callable[[], Awaitable[T]], until: Callable[[T], bool] = bool, seconds: float = 10.0
) -> T:
    """Visibility and signals are asynchronous: poll until the condition holds."""
    deadline = asyncio.get_running_loop().time() + seconds
    while True:
        value = await read()
        if until(value) or asyncio.get_running_loop().time() > deadline:
            return value
        await asyncio.sleep(0.2)
