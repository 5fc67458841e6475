"""The audit record's SQL: milestones persisted to PostgreSQL, exactly once per
(convention, seq), in a hash chain, and read back.

Each row carries the hash of its predecessor (seq - 1) and its own hash,
sha256(prev_hash || canonical JSON of the milestone's fields), so that an edited, deleted
or inserted row breaks the chain and `audit.py verify` names it (the rules: records/chain.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg

from records.chain import CHAINED_FIELDS, GENESIS_HASH, chain_hash, milestone_fields
from schemas.milestones import Milestone, MilestoneKind
from storage.read_model import project

_PREDECESSOR = """
SELECT hash FROM milestones WHERE convention_id = $1 AND seq = $2 FOR SHARE
"""
_ALREADY_WRITTEN = "SELECT true FROM milestones WHERE convention_id = $1 AND seq = $2"
_ANY_MILESTONE = "SELECT EXISTS (SELECT 1 FROM milestones WHERE convention_id = $1)"
_INSERT_MILESTONE = """
INSERT INTO milestones (convention_id, seq, kind, stage, task_id, party, actor,
                        occurred_at, summary, details, workflow_id, run_id, prev_hash, hash)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
ON CONFLICT (convention_id, seq) DO NOTHING
"""


async def has_milestones(pool: asyncpg.Pool, convention_id: str) -> bool:
    """Whether a convention of this id ever ran here: its milestones outlive Temporal's
    retention, which would otherwise let the id start again and collide with its record."""
    found: bool = await pool.fetchval(_ANY_MILESTONE, convention_id)
    return found


_TIMELINE = """
SELECT convention_id, seq, kind, stage, task_id, party, actor, occurred_at, summary, details
FROM milestones WHERE convention_id = $1 ORDER BY seq
"""
# The latest ones, read backwards on the primary key: as fast at 5,000 milestones as at 50.
_LATEST = """
SELECT * FROM (
    SELECT convention_id, seq, kind, stage, task_id, party, actor, occurred_at, summary, details
    FROM milestones WHERE convention_id = $1 ORDER BY seq DESC LIMIT $2
) AS latest ORDER BY seq
"""
# Seqs run 1, 2, … without a gap (the chain's rule), so the last one is the count.
_LAST_SEQ = "SELECT coalesce(max(seq), 0) FROM milestones WHERE convention_id = $1"
_COMPLETED_STAGES = """
SELECT DISTINCT stage FROM milestones
WHERE convention_id = $1 AND kind = 'stage_completed' AND stage IS NOT NULL
"""


async def last_seq(pool: asyncpg.Pool, convention_id: str) -> int:
    """The seq of the convention's last stored milestone (0: none)."""
    last: int = await pool.fetchval(_LAST_SEQ, convention_id)
    return last


@dataclass(frozen=True)
class RecordedTimeline:
    """What a reader is shown of a convention's record: its latest milestones, how many there
    are in all, and the stages completed (which the latest alone may no longer show)."""

    milestones: list[Milestone]
    total: int
    completed_stages: frozenset[str]

    def with_unwritten(self, kept: Sequence[Milestone]) -> RecordedTimeline:
        """Followed by what the workflow recorded and its ledger has not written yet."""
        last = self.milestones[-1].seq if self.milestones else 0
        unwritten = [milestone for milestone in kept if milestone.seq > last]
        return RecordedTimeline(
            self.milestones + unwritten,
            self.total + len(unwritten),
            self.completed_stages
            | {m.stage for m in unwritten if m.kind is MilestoneKind.STAGE_COMPLETED and m.stage},
        )


async def recorded_timeline(
    pool: asyncpg.Pool, convention_id: str, *, last: int | None
) -> RecordedTimeline:
    """The latest `last` milestones (all of them when None: the whole timeline, which the
    workflow keeps only the latest of), the count, the stages done."""
    async with pool.acquire() as connection:
        total = await connection.fetchval(_LAST_SEQ, convention_id)
        stages = await connection.fetch(_COMPLETED_STAGES, convention_id)
        rows = (
            await connection.fetch(_TIMELINE, convention_id)
            if last is None
            else await connection.fetch(_LATEST, convention_id, last)
        )
    return RecordedTimeline(
        [Milestone.model_validate(dict(row)) for row in rows],
        total,
        frozenset(row["stage"] for row in stages),
    )


class PredecessorMissing(RuntimeError):
    """Milestone seq - 1 is not in PostgreSQL, so this one cannot be chained to it yet.

    Raised as a retryable activity error: the workflow awaits each milestone, so the
    predecessor is there unless a row was deleted by hand (which `verify` reports).
    """


def _chained_row(
    milestone: Milestone, prev_hash: str, workflow_id: str | None, run_id: str | None
) -> tuple[tuple[Any, ...], str]:
    """The INSERT's values for a milestone chained to prev_hash, and its own hash."""
    fields = milestone_fields(milestone)
    own_hash = chain_hash(prev_hash, fields)
    row = (
        milestone.convention_id,
        milestone.seq,
        # The INSERT names its columns in CHAINED_FIELDS' order (a list fixed for good).
        *(fields[name] for name in CHAINED_FIELDS[2:]),
        workflow_id,
        run_id,
        prev_hash,
        own_hash,
    )
    return row, own_hash


async def chain_milestone(
    pool: asyncpg.Pool, milestone: Milestone, *, workflow_id: str | None, run_id: str | None
) -> bool:
    """Write one milestone chained to its predecessor; False when its seq is already written.

    The activity's own code, also used by `starter.py terminate` when Temporal had to end a
    workflow that could not write its convention_terminated milestone itself.
    """
    async with pool.acquire() as connection, connection.transaction():
        prev_hash = GENESIS_HASH
        if milestone.seq > 1:
            # FOR SHARE: the predecessor cannot change between reading its hash and
            # writing ours.
            predecessor = await connection.fetchrow(
                _PREDECESSOR, milestone.convention_id, milestone.seq - 1
            )
            if predecessor is None:
                if await connection.fetchval(
                    _ALREADY_WRITTEN, milestone.convention_id, milestone.seq
                ):
                    return False
                raise PredecessorMissing(
                    f"milestone {milestone.convention_id}#{milestone.seq - 1} is not in "
                    f"PostgreSQL: #{milestone.seq} waits for it to chain to"
                )
            # A row written before the chain existed (migration 003) has no hash: the
            # chain starts again from genesis after it, and `verify` reports it.
            prev_hash = predecessor["hash"] or GENESIS_HASH
        row, _ = _chained_row(milestone, prev_hash, workflow_id, run_id)
        status: str = await connection.execute(_INSERT_MILESTONE, *row)
        if status.endswith(" 1"):  # the portfolio's read model, in the same transaction
            await project(connection, [milestone])
    # ON CONFLICT DO NOTHING: a retry finds its row written and leaves the chain alone.
    return status.endswith(" 1")


async def chain_milestones(
    pool: asyncpg.Pool,
    milestones: Sequence[Milestone],
    *,
    workflow_id: str | None,
    run_id: str | None,
) -> None:
    """Write consecutive milestones of one convention, chained, in one transaction.

    The workflow's one ledger writer sends what is pending, in seq order, one batch after
    the other: the predecessor of the first is always written already. A retry of a batch
    that did commit computes the same hashes and inserts nothing (ON CONFLICT DO NOTHING).
    """
    first = milestones[0]
    async with pool.acquire() as connection, connection.transaction():
        prev_hash = GENESIS_HASH
        if first.seq > 1:
            predecessor = await connection.fetchrow(
                _PREDECESSOR, first.convention_id, first.seq - 1
            )
            if predecessor is None:
                raise PredecessorMissing(
                    f"milestone {first.convention_id}#{first.seq - 1} is not in PostgreSQL: "
                    f"the batch from #{first.seq} waits for it to chain to"
                )
            prev_hash = predecessor["hash"] or GENESIS_HASH
        rows = []
        for milestone in milestones:
            row, prev_hash = _chained_row(milestone, prev_hash, workflow_id, run_id)
            rows.append(row)
        await connection.executemany(_INSERT_MILESTONE, rows)
        # The portfolio's read model, in the same transaction; it applies each seq once, so
        # a retried batch changes nothing there either.
        await project(connection, list(milestones))


_STORED_ROWS = """
SELECT convention_id, seq, kind, stage, task_id, party, actor, occurred_at, summary, details,
       workflow_id, run_id, prev_hash, hash
FROM milestones WHERE convention_id = $1 ORDER BY seq
"""
_STORED_CONVENTIONS = "SELECT DISTINCT convention_id FROM milestones ORDER BY convention_id"


async def stored_rows(pool: asyncpg.Pool, convention_id: str) -> list[dict[str, Any]]:
    """Every milestone row of the convention, in seq order, exactly as PostgreSQL holds it:
    the auditors' verify and bundle compare these byte for byte, so no model reads them."""
    return [dict(row) for row in await pool.fetch(_STORED_ROWS, convention_id)]


async def stored_convention_ids(pool: asyncpg.Pool) -> list[str]:
    """Every convention with at least one milestone row."""
    return [row["convention_id"] for row in await pool.fetch(_STORED_CONVENTIONS)]
