"""Stage and state reach visibility after the ledger has written them, never with an answer.

An answer that moves the convention to its next stage used to carry the search-attribute
upsert in the workflow task that took it (the partner waited for it). Now the upsert goes
out when the ledger's write of the stage's entry comes back, at most one per workflow task,
and none for a value visibility already holds.
"""

from __future__ import annotations

import asyncpg
from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import Client, WorkflowExecutionStatus

from benchmarks.bamako import bamako_answers
from devkit.polling import eventually
from schemas import contract
from schemas.contract import workflow_id_for
from tests.conftest import IdleAnsweredConvention
from workflows.visibility import NO_STAGE, STAGE, STATE

PROGRESS_KEYS = {contract.STAGE_ATTRIBUTE, contract.STATE_ATTRIBUTE}


def progress_upsert(event: HistoryEvent) -> bool:
    """An upsert of Pacte's stage or state (not the SDK's TemporalChangeVersion)."""
    if event.event_type != EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES:
        return False
    fields = event.upsert_workflow_search_attributes_event_attributes.search_attributes
    return bool(PROGRESS_KEYS & set(fields.indexed_fields))


async def test_an_answer_that_moves_the_stage_carries_no_upsert_and_the_ledger_write_does(
    client: Client, db_pool: asyncpg.Pool, idle_answered_bamako: IdleAnsweredConvention
) -> None:
    handle = client.get_workflow_handle(workflow_id_for(idle_answered_bamako.convention_id))
    assert (await handle.describe()).status is WorkflowExecutionStatus.COMPLETED

    events = idle_answered_bamako.events
    # Each workflow task's commands follow its completion, up to the next task's events.
    upserts_after: dict[int, list[HistoryEvent]] = {}
    trigger: dict[int, list[int]] = {}
    completed_at = -1
    since_last_task: list[int] = []
    for index, event in enumerate(events):
        kind = event.event_type
        if kind == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
            completed_at = index
            trigger[index] = since_last_task
            since_last_task = []
            upserts_after[index] = []
        elif kind in (
            EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED,
            EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED,
        ):
            continue
        elif progress_upsert(event):
            upserts_after[completed_at].append(event)
        else:
            since_last_task.append(kind)
    moved = {task: ups for task, ups in upserts_after.items() if ups}
    # Mission is the first stage, set when the workflow starts: diagnostic, funding request
    # and the end are the three moves, one upsert each.
    assert sum(len(ups) for ups in moved.values()) == 3
    for task_index, ups in moved.items():
        assert len(ups) == 1
        # Shown as the ledger's write came back (the task it woke on).
        assert EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED in trigger[task_index]
    accepted_tasks = [
        i
        for i, event in enumerate(events)
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED
    ]
    assert len(accepted_tasks) == len(bamako_answers())
    for accepted in accepted_tasks:
        task_index = max(i for i in upserts_after if i < accepted)
        assert upserts_after[task_index] == [], "an answer's workflow task upserted progress"

    # What visibility holds at the end; the three entries are in PostgreSQL.
    description = await eventually(
        handle.describe, lambda found: found.typed_search_attributes.get(STATE) == "completed"
    )
    assert description.typed_search_attributes.get(STAGE) == NO_STAGE
    entered = await db_pool.fetchval(
        "SELECT count(*) FROM milestones WHERE convention_id = $1 AND kind = 'stage_entered'",
        idle_answered_bamako.convention_id,
    )
    assert entered == 3
