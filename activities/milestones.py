"""Persist milestones to PostgreSQL, exactly once per (convention, seq)."""

from __future__ import annotations

import asyncpg
from temporalio import activity

from schemas.milestones import Milestone

_INSERT_MILESTONE = """
INSERT INTO milestones (convention_id, seq, kind, stage, task_id, party, actor,
                        occurred_at, summary, details, workflow_id, run_id)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
ON CONFLICT (convention_id, seq) DO NOTHING
"""


class MilestoneStore:
    """Activities that write the audit record."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    @activity.defn
    async def persist_milestone(self, milestone: Milestone) -> bool:
        """Write one milestone; False when an earlier attempt already wrote it."""
        info = activity.info()
        status: str = await self._pool.execute(
            _INSERT_MILESTONE,
            milestone.convention_id,
            milestone.seq,
            milestone.kind.value,
            milestone.stage,
            milestone.task_id,
            milestone.party,
            milestone.actor,
            milestone.occurred_at,
            milestone.summary,
            milestone.model_dump(mode="json")["details"],
            info.workflow_id,
            info.workflow_run_id,
        )
        inserted = status.endswith(" 1")
        activity.logger.info(
            "milestone persisted" if inserted else "milestone already persisted",
            extra={"convention_id": milestone.convention_id, "seq": milestone.seq},
        )
        return inserted
