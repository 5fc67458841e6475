"""The audit record's activities: thin wrappers over `storage.milestones`, which writes each
milestone exactly once per (convention, seq), in a hash chain."""

from __future__ import annotations

import asyncpg
from temporalio import activity

from schemas.milestones import Milestone, MilestoneBatch
from storage.milestones import chain_milestone, chain_milestones


class MilestoneStore:
    """Activities that write the audit record."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    @activity.defn
    async def persist_milestone(self, milestone: Milestone) -> bool:
        """Write one milestone chained to its predecessor; False when already written."""
        info = activity.info()
        inserted = await chain_milestone(
            self._pool, milestone, workflow_id=info.workflow_id, run_id=info.workflow_run_id
        )
        return self._logged(milestone, inserted=inserted)

    @activity.defn
    async def persist_milestones(self, batch: MilestoneBatch) -> int:
        """Write a batch of consecutive milestones, chained, in one transaction."""
        info = activity.info()
        await chain_milestones(
            self._pool, batch.milestones, workflow_id=info.workflow_id, run_id=info.workflow_run_id
        )
        activity.logger.info(
            "milestones persisted",
            extra={
                "convention_id": batch.milestones[0].convention_id,
                "seq": f"{batch.milestones[0].seq}-{batch.milestones[-1].seq}",
            },
        )
        return len(batch.milestones)

    @staticmethod
    def _logged(milestone: Milestone, *, inserted: bool) -> bool:
        activity.logger.info(
            "milestone persisted" if inserted else "milestone already persisted",
            extra={"convention_id": milestone.convention_id, "seq": milestone.seq},
        )
        return inserted
