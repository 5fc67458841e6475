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
from datetime import datetime

import asyncpg

from infra.database import Database, transaction
from schemas.channels import InboxEntry
from schemas.tasks import Task, TaskFacts, TaskKind, TaskStatus

# A closed task never reopens: a late retry of an older upsert cannot resurrect it.
_UPSERT_TASK = """
INSERT INTO tasks (convention_id, task_id, stage, kind, assignee, title, assigned_at,
                   due_at, status, facts, contact)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
ON CONFLICT (convention_id, task_id) DO UPDATE
   SET stage = excluded.stage, kind = excluded.kind, assignee = excluded.assignee,
       title = excluded.title, due_at = excluded.due_at, status = excluded.status,
       facts = coalesce(excluded.facts, tasks.facts), contact = excluded.contact,
       updated_at = now()
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
_OWED_TASKS = f"""
SELECT t.convention_id, t.task_id, t.stage, t.kind, t.assignee, t.title, t.assigned_at,
       t.due_at, t.due_at < $2 AS overdue, t.facts
  FROM tasks t
 WHERE t.assignee = $1
   AND t.status = 'open'
   AND (t.contact IS NULL OR $3::text IS NULL OR t.contact = $3)
   AND NOT {_ANSWERED}
   AND NOT {_ENDED}
 ORDER BY overdue DESC, t.due_at, t.convention_id, t.task_id
"""

_INBOX_TASK = f"""
SELECT t.task_id, t.convention_id, t.stage, t.kind, t.assignee, t.title, t.assigned_at,
       t.due_at, t.facts, t.contact,
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
    )


def facts_of(value: object) -> TaskFacts | None:
    """A row's facts (NULL before typed-task-facts; text on a pool without the codec)."""
    if value is None:
        return None
    if isinstance(value, str):
        value = json.loads(value)
    return TaskFacts.model_validate(value)
