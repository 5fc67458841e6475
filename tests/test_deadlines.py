"""Deadlines run on Temporal timers: under the time-skipping server, 90 days pass at once."""

from __future__ import annotations

import uuid
from datetime import timedelta

import asyncpg
from temporalio.testing import WorkflowEnvironment

from infra.convention_client import (
    answer_open_task,
    convention_status,
    find_task,
    start_convention,
)
from schemas.convention import Convention, FundingRequestStage
from schemas.milestones import MilestoneKind
from schemas.status import ConventionState
from tests.conftest import example
from worker import build_worker
from workflows.convention import ConventionWorkflow, workflow_id_for


def funding_only(due_in_days: int) -> Convention:
    """The Bamako convention reduced to its funding request, due in so many days."""
    bamako = example("bamako-cooperation")
    funding = next(s for s in bamako.stages if isinstance(s, FundingRequestStage))
    return bamako.model_copy(
        update={"stages": [funding.model_copy(update={"due_in_days": due_in_days})]}
    )


async def test_a_funding_decision_late_by_90_days_is_escalated_to_the_officer(
    time_env: WorkflowEnvironment, db_pool: asyncpg.Pool
) -> None:
    convention = funding_only(due_in_days=90)
    task_queue = f"deadlines-{uuid.uuid4().hex[:8]}"
    async with build_worker(time_env.client, db_pool, task_queue):
        await start_convention(time_env.client, convention, task_queue)
        decision = await find_task(
            time_env.client, convention.id, "funding_request.decision.r1", wait_seconds=10
        )
        assert decision.due_at - decision.assigned_at == timedelta(days=90)

        await time_env.sleep(timedelta(days=89))
        status = await convention_status(time_env.client, convention.id)
        assert MilestoneKind.TASK_OVERDUE not in {m.kind for m in status.milestones}

        await time_env.sleep(timedelta(days=2))
        status = await convention_status(time_env.client, convention.id)
        overdue = [m for m in status.milestones if m.kind is MilestoneKind.TASK_OVERDUE]
        assert [m.task_id for m in overdue] == [decision.id]
        assert overdue[0].occurred_at >= decision.due_at

        notified = await db_pool.fetch(
            "SELECT event, party FROM notifications WHERE convention_id = $1 ORDER BY id",
            convention.id,
        )
        funder = decision.assignee
        assert [(r["event"], r["party"]) for r in notified] == [
            ("task.assigned", funder),
            ("task.escalated", convention.office.id),
            ("task.reminder", funder),
        ]

        await answer_open_task(
            time_env.client,
            convention.id,
            decision.id,
            funder,
            {"decision": "reject", "comments": "Hors délai"},
        )
        handle = time_env.client.get_workflow_handle_for(
            ConventionWorkflow.run, workflow_id_for(convention.id)
        )
        outcome = await handle.result()
    assert outcome.state is ConventionState.FAILED
    assert outcome.reason is not None and "Hors délai" in outcome.reason
