"""An API answer's PostgreSQL side before its update, in one statement (issue 27, item 2).

The key looked up by its secret's hash (its organisation's directory row and the directory's
version read with it), its use marked (to the minute), the Idempotency-Key reserved, and the
task's inbox row read: one round trip and at most one commit, where these were four or five.
After the update, `idempotency.complete` keeps the receipt and marks the key done (one more).

Its commit does not wait for the disk (`synchronous_commit` off for this transaction only):
the reservation is visible to every other request at once. The receipt's commit after the
update does not wait either (`idempotency.complete`): a crash of PostgreSQL can lose the
reservation, the receipt and the key's mark of the last fraction of a second, while the
workflow keeps the answer. A retry under the same key is then given the same receipt,
rebuilt from the answer's milestone (`application.partner.receipt_repair`), and a second
answer is never recorded: the workflow refuses it.

PostgreSQL runs a statement at one snapshot: `earlier` sees the party's key as it stood before
the statement, so when the reservation finds it taken, `earlier` says by which request. A key
reserved by a request still uncommitted is seen by neither (the caller then asks again, with
`idempotency.reserve_once`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from schemas.tasks import Task, TaskKind, TaskStatus
from storage.directory import Organisation, organisation_from_json
from storage.inbox import ANSWERED_CLAUSE, ENDED_CLAUSE, facts_of

# $1 the key's hash, $2 the Idempotency-Key (NULL: none), $3 the body's hash, $4 the
# convention, $5 the task. No row: no live key of this hash.
_PREPARE_ANSWER = f"""
WITH key AS (
    SELECT k.id, k.party, k.name, k.last_used_at, o.archived_at IS NOT NULL AS archived,
           to_jsonb(o) AS organisation
      FROM partner_api_keys AS k
      LEFT JOIN directory_organisations AS o ON o.id = k.party
     WHERE k.key_hash = $1 AND k.revoked_at IS NULL
),
used AS (
    UPDATE partner_api_keys SET last_used_at = now()
     WHERE id = (SELECT id FROM key)
       AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute')
),
reserved AS (
    INSERT INTO partner_idempotency (party, key, body_hash, convention_id, task_id)
    SELECT key.party, $2, $3, $4, $5 FROM key WHERE $2::text IS NOT NULL AND NOT key.archived
    ON CONFLICT DO NOTHING
    RETURNING key
),
earlier AS (
    SELECT i.body_hash, i.receipt IS NOT NULL AS done, i.convention_id, i.task_id
      FROM partner_idempotency AS i JOIN key ON i.party = key.party
     WHERE i.key = $2
),
task AS (
    SELECT t.task_id, t.convention_id, t.stage, t.kind, t.assignee, t.title, t.assigned_at,
           t.due_at, t.contact, t.facts,
           CASE WHEN t.status <> 'open' THEN t.status
                WHEN {ANSWERED_CLAUSE} THEN 'done'
                WHEN {ENDED_CLAUSE} THEN 'cancelled'
                ELSE 'open' END AS status
      FROM tasks AS t
     WHERE t.convention_id = $4 AND t.task_id = $5
)
SELECT key.id, key.party, key.name, key.archived, key.organisation,
       (SELECT version FROM directory_version) AS directory_version,
       EXISTS (SELECT 1 FROM reserved) AS reserved,
       earlier.body_hash AS earlier_body_hash, earlier.done AS earlier_done,
       earlier.convention_id AS earlier_convention_id, earlier.task_id AS earlier_task_id,
       to_jsonb(task) AS task
  FROM key
 CROSS JOIN (SELECT set_config('synchronous_commit', 'off', true)) AS reservation_commit
  LEFT JOIN earlier ON true
  LEFT JOIN task ON true
"""


@dataclass(frozen=True)
class EarlierRequest:
    """The request an Idempotency-Key was first used for."""

    body_hash: bytes
    done: bool
    convention_id: str
    task_id: str


@dataclass(frozen=True)
class PreparedAnswer:
    """What the statement found: the key's system, the directory's word on its organisation,
    the reservation, and the task as the inbox has it."""

    key_id: str
    party: str
    name: str
    archived: bool
    organisation: Organisation | None
    directory_version: int
    reserved: bool
    earlier: EarlierRequest | None
    task: Task | None


async def prepare_answer(
    pool: asyncpg.Pool,
    key_hash: bytes,
    idempotency_key: str | None,
    body_hash: bytes | None,
    convention_id: str,
    task_id: str,
) -> PreparedAnswer | None:
    """One statement: None when no live key has this hash."""
    row = await pool.fetchrow(
        _PREPARE_ANSWER, key_hash, idempotency_key, body_hash, convention_id, task_id
    )
    if row is None:
        return None
    earlier = (
        None
        if row["earlier_body_hash"] is None
        else EarlierRequest(
            body_hash=row["earlier_body_hash"],
            done=row["earlier_done"],
            convention_id=row["earlier_convention_id"],
            task_id=row["earlier_task_id"],
        )
    )
    organisation = row["organisation"]
    return PreparedAnswer(
        key_id=row["id"],
        party=row["party"],
        name=row["name"],
        archived=row["archived"],
        organisation=None if organisation is None else organisation_from_json(organisation),
        directory_version=int(row["directory_version"] or 0),
        reserved=row["reserved"],
        earlier=earlier,
        task=None if row["task"] is None else _task(row["task"]),
    )


def _task(value: dict[str, Any]) -> Task:
    return Task(
        id=value["task_id"],
        convention_id=value["convention_id"],
        stage=value["stage"],
        kind=TaskKind(value["kind"]),
        assignee=value["assignee"],
        title=value["title"],
        assigned_at=datetime.fromisoformat(value["assigned_at"]),
        due_at=datetime.fromisoformat(value["due_at"]),
        status=TaskStatus(value["status"]),
        contact=value["contact"],
        facts=facts_of(value.get("facts")),
    )
