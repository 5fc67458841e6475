"""Closed runs whose archiving failed: recorded until a later sweep archives them.

Every sweep (and `audit.py archive`) tries an open failure again; officers and auditors see
it until it is resolved, so no run leaves Temporal's retention unarchived without a trace.
A run that fails again after it was resolved opens a fresh record (its count restarts).
"""

from __future__ import annotations

import asyncpg

from schemas.archive import ArchiveFailure

_RECORD_FAILURE = """
INSERT INTO archive_failures (workflow_id, run_id, convention_id, last_error)
VALUES ($1, $2, $3, $4)
ON CONFLICT (workflow_id, run_id) DO UPDATE SET
    attempts = CASE WHEN archive_failures.resolved_at IS NULL
                    THEN archive_failures.attempts + 1 ELSE 1 END,
    first_failed_at = CASE WHEN archive_failures.resolved_at IS NULL
                           THEN archive_failures.first_failed_at ELSE now() END,
    last_failed_at = now(),
    last_error = EXCLUDED.last_error,
    resolved_at = NULL
RETURNING convention_id, workflow_id, run_id, attempts, first_failed_at, last_failed_at,
          last_error AS error
"""
_RESOLVE = """
UPDATE archive_failures SET resolved_at = now()
WHERE workflow_id = $1 AND run_id = $2 AND resolved_at IS NULL
"""
_OPEN_FAILURES = """
SELECT convention_id, workflow_id, run_id, attempts, first_failed_at, last_failed_at,
       last_error AS error
FROM archive_failures
WHERE resolved_at IS NULL AND ($1::text IS NULL OR convention_id = $1)
ORDER BY first_failed_at, workflow_id, run_id
"""


async def record_failure(
    pool: asyncpg.Pool, workflow_id: str, run_id: str, convention_id: str, error: str
) -> ArchiveFailure:
    """Record (or count once more) a run's failure to archive, with its one-line error."""
    row = await pool.fetchrow(_RECORD_FAILURE, workflow_id, run_id, convention_id, error)
    return ArchiveFailure(**dict(row))


async def resolve_failure(pool: asyncpg.Pool, workflow_id: str, run_id: str) -> None:
    """The run is archived: its failure, if one is open, stops being shown."""
    await pool.execute(_RESOLVE, workflow_id, run_id)


async def open_failures(
    pool: asyncpg.Pool, convention_id: str | None = None
) -> list[ArchiveFailure]:
    """Runs not archived yet because archiving them failed, oldest first (of one convention)."""
    return [ArchiveFailure(**dict(row)) for row in await pool.fetch(_OPEN_FAILURES, convention_id)]
