"""What the fault tests check once they broke their stack (workers, PostgreSQL and Temporal
of their own, from `devkit.stack`; the session's `postgres_url` is shared: never stopped):

- `recorded_exactly_once`: the proof that nothing was lost or doubled — PostgreSQL's
  milestones are the workflow's, seq 1..N, hash-chained, and each task's notification was
  recorded under its one id.

Everything is bounded in time: a wait that does not end fails the test with what it saw.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass

import asyncpg
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client
from temporalio.service import RPCError

from application.conventions import ConventionUnreadable, convention_status
from application.scenarios import TRANSIENT
from auditing.verify import chain_findings
from records.chain import GENESIS_HASH
from schemas.milestone_details import TaskAssignedDetails, details_of
from schemas.milestones import Milestone, MilestoneKind
from schemas.status import ConventionStatus
from workflows.convention import workflow_id_for


async def status_of(client: Client, convention_id: str) -> ConventionStatus:
    """The workflow's status, asked again after a call the server dropped."""
    for attempt in range(1, 4):
        try:
            return await convention_status(client, convention_id)
        except ConventionUnreadable:
            if attempt == 3:
                raise
            await asyncio.sleep(1)
        except RPCError as error:
            if error.status not in TRANSIENT or attempt == 3:
                raise
            await asyncio.sleep(1)
    raise AssertionError("unreachable")


# --- nothing lost, nothing doubled --------------------------------------------------------

_ROWS = """
SELECT convention_id, seq, kind, stage, task_id, party, actor, occurred_at, summary, details,
       workflow_id, run_id, prev_hash, hash
FROM milestones WHERE convention_id = $1 ORDER BY seq
"""


@dataclass(frozen=True)
class Recorded:
    """What PostgreSQL holds of one convention, checked against its workflow."""

    status: ConventionStatus
    rows: list[asyncpg.Record]
    notification_ids: list[str]


async def recorded_exactly_once(pool: asyncpg.Pool, client: Client, convention_id: str) -> Recorded:
    """Assert PostgreSQL holds each of the workflow's milestones once, unchanged and chained,
    and each task's notification once under its stable id; return what was checked."""
    status = await status_of(client, convention_id)
    rows = list(await pool.fetch(_ROWS, convention_id))
    assert [row["seq"] for row in rows] == list(range(1, status.milestone_count + 1)), (
        f"{convention_id}: seqs in PostgreSQL {[row['seq'] for row in rows]} "
        f"for {status.milestone_count} milestones recorded by the workflow"
    )
    # The workflow keeps its latest milestones (since its run began, at most the window):
    # PostgreSQL's last rows are those, unchanged.
    kept_in_workflow = [
        m.model_copy(update={"details": m.model_dump(mode="json")["details"]})
        for m in status.milestones
    ]
    timeline = [
        Milestone.model_validate({name: row[name] for name in Milestone.model_fields})
        for row in rows
    ]
    stored = timeline[len(timeline) - len(kept_in_workflow) :]
    first_difference = next(
        ((row, kept) for row, kept in zip(stored, kept_in_workflow, strict=False) if row != kept),
        None,
    )
    assert stored == kept_in_workflow, (
        f"{convention_id}: PostgreSQL's milestones differ from the workflow's; first: "
        f"{first_difference!r}"
    )
    assert rows[0]["prev_hash"] == GENESIS_HASH
    assert chain_findings(convention_id, {row["seq"]: dict(row) for row in rows}) == []

    notification_ids = [
        row["id"]
        for row in await pool.fetch(
            "SELECT id FROM notifications WHERE convention_id = $1 ORDER BY id", convention_id
        )
    ]
    assigned = [m for m in timeline if m.kind is MilestoneKind.TASK_ASSIGNED]
    # An escalation is the officer's task, announced as such (task.escalated, to the officer).
    expected = {
        f"{convention_id}/{m.task_id}/task.escalated/officer"
        if _assigned(m).escalation
        else f"{convention_id}/{m.task_id}/task.assigned"
        for m in assigned
    }
    assert expected <= set(notification_ids), (
        f"{convention_id}: each task assigned is notified under its stable id; "
        f"missing {sorted(expected - set(notification_ids))}"
    )
    # Other events (a stage announced to the parties…) are notified too, each id once.
    assert all(n.startswith(f"{convention_id}/") for n in notification_ids)
    assert len(set(notification_ids)) == len(notification_ids)
    unsettled = await pool.fetchval(
        "SELECT count(*) FROM deliveries WHERE notification_id = ANY($1::text[])"
        " AND status IN ('pending', 'sending', 'retrying')",
        notification_ids,
    )
    assert unsettled == 0, f"{convention_id}: deliveries left in flight"
    return Recorded(status, rows, notification_ids)


def _assigned(milestone: Milestone) -> TaskAssignedDetails:
    """A task_assigned milestone's typed details (a test fails on ones that do not read)."""
    details = details_of(milestone)
    assert isinstance(details, TaskAssignedDetails), f"not a task assigned: {milestone!r}"
    return details


async def retried_activities(client: Client, convention_ids: Iterable[str]) -> dict[str, int]:
    """Activity type -> how many of these conventions' activities completed on a retry."""
    retried: dict[str, int] = {}
    for convention_id in convention_ids:
        history = await client.get_workflow_handle(workflow_id_for(convention_id)).fetch_history()
        scheduled: dict[int, str] = {}
        for event in history.events:
            if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
                activity_type = event.activity_task_scheduled_event_attributes.activity_type
                scheduled[event.event_id] = activity_type.name
            elif event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
                started = event.activity_task_started_event_attributes
                if started.attempt > 1:
                    name = scheduled[started.scheduled_event_id]
                    retried[name] = retried.get(name, 0) + 1
    return retried
