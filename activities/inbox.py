"""The partners' inbox's activity: a thin wrapper over `storage.inbox`.

The workflow upserts each task by (convention, task) when it is assigned and whenever its
state changes (see storage/inbox.py for what the inbox lists and when).
"""

from __future__ import annotations

import asyncpg
from temporalio import activity

from schemas.tasks import Task
from storage.inbox import upsert_tasks


class TaskInbox:
    """Activities that keep the tasks read model."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    @activity.defn
    async def sync_tasks(self, tasks: list[Task]) -> int:
        """Upsert the tasks' current state; returns how many rows changed."""
        return await upsert_tasks(self._pool, tasks)
