"""The partners' inbox: a read model of tasks in PostgreSQL, its upsert and its queries.

The workflow upserts each task by (convention, task) when it is assigned and whenever its
state changes. A task is owed while its row is open, no `task_answered` milestone names it
and its convention has not ended: the milestones are written by their own activity, so the
inbox is right even where an upsert of the task's new state has not landed yet. A row
carries the contact an officer gave the task to (the task's own `contact`, written by the
same upserts), so a contact's list is read here alone, without asking the workflows.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from infra.database import Database, transaction
from schemas.channels import InboxEntry
from schemas.tasks import Task, TaskFacts, TaskKind, TaskStatus

# A closed task never reopens: a late retry of an older upsert cannot resurrect it.
_UPSERT_TASK = """
INSERT INTO tasks (convention_id, task_id, stage, kind, assignee, title, assigned_at,
                   due_at, status, facts, contact, signatory)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
ON CONFLICT (convention_id, task_id) DO UPDATE
   SET stage = excluded.stage, kind = excluded.kind, assignee = excluded.assignee,
       title = excluded.title, due_at = excluded.due_at, status = excluded.status,
       facts = coalesce(excluded.facts, tasks.facts), contact = excluded.contact,
       signatory = coalesce(excluded.signatory, tasks.signatory), updated_at = now()
 WHERE tasks.status = 'open'
"""

# A row is written when its task is assigned and brought up to date with the next
# notification; meanwhile the milestones say what happened to it. One rule for both reads.
_ANSWERED = """EXISTS (SELECT 1 FROM milestones m
                WHERE m.convention_id = t.convention_id AND m.task_id = t.task_id
                  AND m.kind = 'task_answered')"""
_ENDED = """EXISTS (SELECT 1 FROM milestones m
             WHERE m.convention_id = t.convention_id
               AND m.kind IN ('convention_completed', 'convention_failed'))"""
ANSWERED_CLAUSE, ENDED_CLAUSE = _ANSWERED, _ENDED
"""The same rules for another statement that reads a task row as `t`."""

# $3: a contact's name, whose list leaves out the tasks an officer gave to another contact
# of the party (NULL: the party's whole list, as its API key sees it).
_OWED_WHERE = f"""t.assignee = $1
   AND t.status = 'open'
   AND (t.contact IS NULL OR $3::text IS NULL OR t.contact = $3)
   AND NOT {_ANSWERED}
   AND NOT {_ENDED}"""
_OWED_COLUMNS = """t.convention_id, t.task_id, t.stage, t.kind, t.assignee, t.title, t.assigned_at,
       t.due_at, t.due_at < $2 AS overdue, t.facts"""
_OWED_TASKS = f"""
SELECT {_OWED_COLUMNS}
  FROM tasks t
 WHERE {_OWED_WHERE}
 ORDER BY overdue DESC, t.due_at, t.convention_id, t.task_id
"""

# One page of a contact's list. $4: the task kinds the directory lets them act on (NULL:
# every kind), so that the LIMIT counts only tasks they may see; $5-$7: the last row of the
# page before (NULL: the first page). Ordered by due date alone: an overdue task is one due
# before now, so "overdue first, then by due date" is the same order, and the keyset
# (due date, convention, task) walks the index tasks_owed_by_party.
_OWED_TASKS_PAGE = f"""
SELECT {_OWED_COLUMNS}
  FROM tasks t
 WHERE {_OWED_WHERE}
   AND ($4::text[] IS NULL OR t.kind = ANY($4::text[]))
   AND ($5::timestamptz IS NULL
        OR (t.due_at, t.convention_id, t.task_id) > ($5::timestamptz, $6::text, $7::text))
 ORDER BY t.due_at, t.convention_id, t.task_id
 LIMIT $8
"""

_INBOX_TASK = f"""
SELECT t.task_id, t.convention_id, t.stage, t.kind, t.assignee, t.title, t.assigned_at,
       t.due_at, t.facts, t.contact, t.signatory,
       CASE WHEN t.status <> 'open' THEN t.status
            WHEN {_ANSWERED} THEN 'done'
            WHEN {_ENDED} THEN 'cancelled'
            ELSE 'open' END AS status
  FROM tasks t
 WHERE t.convention_id = $1 AND t.task_id = $2
"""


async def upsert_tasks(database: Database, tasks: list[Task]) -> int:
    """The tasks' current state in the inbox, in one transaction; how many rows changed."""
    changed = 0
    async with transaction(database) as connection:
        for task in tasks:
            status: str = await connection.execute(
                _UPSERT_TASK,
                task.convention_id,
                task.id,
                task.stage,
                task.kind.value,
                task.assignee,
                task.title,
                task.assigned_at,
                task.due_at,
                task.status.value,
                task.facts.dumped() if task.facts is not None else None,
                task.contact,
                task.signatory,
            )
            changed += int(status.endswith(" 1"))
    return changed


async def owed_tasks(
    pool: asyncpg.Pool, party: str, now: datetime, contact: str | None = None
) -> list[InboxEntry]:
    """What the party owes across every convention: overdue first, then by due date; with
    `contact`, without the tasks an officer gave to another of the party's contacts."""
    rows = await pool.fetch(_OWED_TASKS, party, now, contact)
    return [
        InboxEntry.model_validate(dict(row) | {"facts": facts_of(row["facts"])}) for row in rows
    ]


@dataclass(frozen=True)
class TaskCursor:
    """The last row of a page of a contact's list: the next page starts after it."""

    due_at: datetime
    convention_id: str
    task_id: str


async def owed_tasks_page(
    pool: asyncpg.Pool,
    party: str,
    now: datetime,
    contact: str | None,
    kinds: list[str] | None,
    after: TaskCursor | None,
    limit: int,
) -> list[InboxEntry]:
    """At most `limit` of `owed_tasks`, of the given kinds only (None: every kind), after
    the row `after` (None: from the first)."""
    rows = await pool.fetch(
        _OWED_TASKS_PAGE,
        party,
        now,
        contact,
        kinds,
        after.due_at if after else None,
        after.convention_id if after else None,
        after.task_id if after else None,
        limit,
    )
    return [
        InboxEntry.model_validate(dict(row) | {"facts": facts_of(row["facts"])}) for row in rows
    ]


async def inbox_task(pool: asyncpg.Pool, convention_id: str, task_id: str) -> Task | None:
    """The task as the inbox knows it, or None before its row is written: open while it is
    owed (as `owed_tasks` lists it), done once answered, cancelled once its convention ended.

    What a partner's system knows of a task without asking the workflow.
    """
    row = await pool.fetchrow(_INBOX_TASK, convention_id, task_id)
    if row is None:
        return None
    return Task(
        id=row["task_id"],
        convention_id=row["convention_id"],
        stage=row["stage"],
        kind=TaskKind(row["kind"]),
        assignee=row["assignee"],
        title=row["title"],
        assigned_at=row["assigned_at"],
        due_at=row["due_at"],
        status=TaskStatus(row["status"]),
        facts=facts_of(row["facts"]),
        contact=row["contact"],
        signatory=row["signatory"],
    )


def facts_of(value: object) -> TaskFacts | None:
    """A row's facts (NULL before typed-task-facts; text on a pool without the codec)."""
    if value is None:
        return None
    if isinstance(value, str):
        value = json.loads(value)
    return TaskFacts.model_validate(value)
