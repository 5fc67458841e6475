"""Issue 27, items 2 and 3: what the desk adds is cheap.

A contact's task list is read from the inbox alone (its rows carry the contact an officer
gave a task to, written by the workflow's own upserts): it never asks Temporal. An API
answer costs one PostgreSQL statement before its update (key, directory, Idempotency-Key,
inbox row) and one after (the receipt), and no query to Temporal when the inbox has the
task's row; its refusals are those of before (a reused key, a revoked key, a task answered).
"""

from __future__ import annotations

from functools import partial
from typing import Any, cast

import asyncpg
from temporalio.testing import WorkflowEnvironment

from application.conventions import reassign_task
from application.partner import PartnerDesk
from benchmarks.metering import ClientCalls, counting_client
from devkit.polling import eventually
from infra.settings import PROJECT_ROOT
from schemas.officer_actions import ReassignTask
from schemas.tasks import TaskStatus
from storage.inbox import inbox_task
from tests.partner_stack import (
    COLLEAGUE,
    DECISION,
    FUNDER,
    bearer,
    funding_convention,
    make_desk,
    portal_client,
)
from tests.test_delivery_webhook import stop
from tests.test_partner_api import APPROVAL

MIGRATION = PROJECT_ROOT / "migrations" / "018_inbox_contact.sql"


class CountingPool:
    """The test's pool, its statements counted (each is one round trip)."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool
        self.statements = 0

    def __getattr__(self, name: str) -> Any:
        found = getattr(self._pool, name)
        if name in {"fetch", "fetchrow", "fetchval", "execute"}:
            self.statements += 1
        return found


def counted_desk(env: WorkflowEnvironment, pool: asyncpg.Pool) -> tuple[PartnerDesk, ClientCalls]:
    """A desk whose queries and updates to Temporal are counted."""
    calls = ClientCalls()
    return make_desk(counting_client(env.client, calls), pool), calls


async def row_open(pool: asyncpg.Pool, convention_id: str, contact: str | None = None) -> None:
    """Wait for the workflow's upsert of the decision task (given to `contact`, if named)."""
    await eventually(
        partial(inbox_task, pool, convention_id, DECISION),
        lambda task: (
            task is not None and task.status is TaskStatus.OPEN and task.contact == contact
        ),
    )


async def test_a_contacts_list_reads_the_inbox_alone_and_leaves_out_a_task_given_to_another(
    dev_env: WorkflowEnvironment, db_pool: asyncpg.Pool
) -> None:
    desk, calls = counted_desk(dev_env, db_pool)
    convention = await funding_convention(dev_env.client, db_pool, [FUNDER, COLLEAGUE])
    await row_open(db_pool, convention.id)
    before = await desk.open_tasks("bid", COLLEAGUE["name"], COLLEAGUE["email"])
    assert (convention.id, DECISION) in {(e.convention_id, e.task_id) for e in before}
    await reassign_task(
        dev_env.client,
        convention.id,
        ReassignTask(task_id=DECISION, contact=FUNDER["name"], reason="the funder decides"),
    )
    # The workflow's own upsert carries the contact: no workflow is asked to list.
    await row_open(db_pool, convention.id, FUNDER["name"])
    colleague = await desk.open_tasks("bid", COLLEAGUE["name"], COLLEAGUE["email"])
    funder = await desk.open_tasks("bid", FUNDER["name"], FUNDER["email"])
    system = await desk.open_tasks("bid")
    assert (convention.id, DECISION) not in {(e.convention_id, e.task_id) for e in colleague}
    assert (convention.id, DECISION) in {(e.convention_id, e.task_id) for e in funder}
    assert (convention.id, DECISION) in {(e.convention_id, e.task_id) for e in system}
    assert calls.queries == 0 and calls.updates == 0
    await stop(dev_env.client, convention.id)


async def test_the_migration_gives_rows_written_before_it_their_last_reassignment(
    db_pool: asyncpg.Pool,
) -> None:
    convention_id = f"inbox-contact-{id(db_pool)}"
    await db_pool.execute(
        "INSERT INTO tasks (convention_id, task_id, stage, kind, assignee, title, assigned_at,"
        " due_at, status) VALUES ($1, 't', 's', 'review_draft', 'bid', 'T', now(),"
        " now() + interval '1 day', 'open')",
        convention_id,
    )
    for seq, contact in ((1, "First"), (2, "Second")):
        await db_pool.execute(
            "INSERT INTO milestones (convention_id, seq, kind, task_id, occurred_at, summary,"
            " details, workflow_id, run_id) VALUES ($1, $2, 'task_reassigned', 't', now(),"
            " 'reassigned', $3, 'w', 'r')",
            convention_id,
            seq,
            {"from": None, "to": contact},
        )
    await db_pool.execute(MIGRATION.read_text(encoding="utf-8"))
    contact = await db_pool.fetchval(
        "SELECT contact FROM tasks WHERE convention_id = $1", convention_id
    )
    assert contact == "Second"
    await db_pool.execute("DELETE FROM tasks WHERE convention_id = $1", convention_id)
    await db_pool.execute("DELETE FROM milestones WHERE convention_id = $1", convention_id)


async def test_an_api_answer_is_one_statement_before_its_update_and_asks_temporal_nothing(
    dev_env: WorkflowEnvironment, db_pool: asyncpg.Pool
) -> None:
    counting = CountingPool(db_pool)
    calls = ClientCalls()
    desk = make_desk(counting_client(dev_env.client, calls), cast(asyncpg.Pool, counting))
    convention = await funding_convention(dev_env.client, db_pool)
    key, record = await desk.create_key("bid", "one round trip")
    await row_open(db_pool, convention.id)
    path = f"/api/v1/tasks/{convention.id}/{DECISION}/answer"
    headers = {**bearer(key), "idempotency-key": "one-statement-0001"}
    async with portal_client(desk) as http:
        counting.statements = 0
        first = await http.post(path, json=APPROVAL, headers=headers)
        assert first.status_code == 200, first.text
        # The key, its use, the reservation and the task in one statement; the receipt and
        # the key marked done in a second; the update; not one query.
        assert counting.statements == 2
        assert calls.queries == 0 and calls.updates == 1
        assert first.json()["principal"]["id"] == record.id
        again = await http.post(path, json=APPROVAL, headers=headers)
        other = {"answer": {"decision": "reject", "comments": "no"}}
        reused = await http.post(path, json=other, headers=headers)
        # Another key of the party, on the task answered: the workflow's validator refuses,
        # naming who answered; the inbox's row (no longer open) said which task it was.
        second_key, _ = await desk.create_key("bid", "a colleague's system")
        late = await http.post(path, json=other, headers=bearer(second_key))
        await desk.revoke_key(record.id)
        revoked = await http.post(
            path, json=APPROVAL, headers={**bearer(key), "idempotency-key": "after-revoking"}
        )
        unknown = await http.post(path, json=APPROVAL, headers=bearer("pk_nothing_here"))
        stranger_key, _ = await desk.create_key("menefp", "ministry")
        stranger = await http.post(path, json=APPROVAL, headers=bearer(stranger_key))
        missing = await http.post(
            f"/api/v1/tasks/{convention.id}/no.such.task/answer",
            json=APPROVAL,
            headers={**bearer(second_key), "idempotency-key": "for-nothing"},
        )
    assert again.status_code == 200 and again.json() == first.json()
    assert reused.status_code == 409, reused.text
    assert "another request" in reused.json()["detail"]
    assert late.status_code == 409, late.text
    assert "answered by" in late.json()["detail"]
    assert revoked.status_code == 401 and unknown.status_code == 401
    assert stranger.status_code == 404 and missing.status_code == 404, missing.text
    assert calls.updates == 2  # the first answer and the late one: nothing else was sent
    # The refused requests left no key reserved: a corrected request may use them.
    left = await db_pool.fetch(
        "SELECT key FROM partner_idempotency WHERE party = 'bid' AND key = 'for-nothing'"
    )
    assert left == []
    await stop(dev_env.client, convention.id)
