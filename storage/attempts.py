"""The failure limiter's buckets (`failure_buckets`, migration 011): per bucket, the times of
its attempts within the sliding window, in PostgreSQL so every replica sees the same counts.

`take` locks the bucket rows (in bucket order: attempts sharing buckets never deadlock), drops
the times that left the window, asks the caller's `decide` and, when it allows, appends this
attempt to every bucket, all in one transaction: N parallel attempts are decided one after the
other on the rows, counted N, and at most the budget is allowed. `give_back` removes an
attempt (a success forgiven).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

import asyncpg

FAILURE_WINDOW = timedelta(minutes=15)

_ENSURE = (
    "INSERT INTO failure_buckets (bucket) SELECT b FROM unnest($1::text[]) AS b ORDER BY b"
    " ON CONFLICT (bucket) DO NOTHING"
)
_LOCK = (
    "SELECT bucket, attempts FROM failure_buckets WHERE bucket = ANY($1::text[])"
    " ORDER BY bucket FOR UPDATE"
)
_APPEND = (
    "UPDATE failure_buckets AS f"
    " SET attempts = array_append("
    "ARRAY(SELECT t FROM unnest(f.attempts) AS t WHERE t > $2 ORDER BY t), $3::timestamptz),"
    " last_at = $3::timestamptz"
    " WHERE bucket = ANY($1::text[])"
)
_REMOVE = (
    "UPDATE failure_buckets SET attempts = array_remove(attempts, $2)"
    " WHERE bucket = ANY($1::text[])"
)

Decide = Callable[[datetime, dict[str, list[datetime]]], int | None]
"""Given the attempt's time and each bucket's attempts within the window (oldest first): None
to allow this attempt, or the seconds to wait before the next one."""


async def take(
    pool: asyncpg.Pool, buckets: list[str], now: datetime | None, decide: Decide
) -> tuple[int | None, datetime]:
    """Decide on one attempt under the buckets' row locks; when allowed (None), count it in
    every bucket. Returns what `decide` returned and the attempt's time: `now`, or the
    database's clock read once the locks are held (so every replica uses one clock, and no
    attempt counted meanwhile is newer than this one)."""
    names = sorted(set(buckets))
    async with pool.acquire() as connection, connection.transaction():
        await connection.execute(_ENSURE, names)
        rows = await connection.fetch(_LOCK, names)
        moment: datetime = now or await connection.fetchval("SELECT clock_timestamp()")
        since = moment - FAILURE_WINDOW
        recent = {row["bucket"]: sorted(t for t in row["attempts"] if t > since) for row in rows}
        wait = decide(moment, recent)
        if wait is None:
            await connection.execute(_APPEND, names, since, moment)
        return wait, moment


async def give_back(pool: asyncpg.Pool, buckets: list[str], at: datetime) -> None:
    """Remove the attempt counted at `at` from the buckets."""
    await pool.execute(_REMOVE, sorted(set(buckets)), at)


async def recent(pool: asyncpg.Pool, bucket: str) -> int:
    """How many attempts the bucket holds within the window now (the database's clock)."""
    count = await pool.fetchval(
        "SELECT coalesce(cardinality(ARRAY(SELECT t FROM unnest(attempts) AS t"
        " WHERE t > clock_timestamp() - $2::interval)), 0)"
        " FROM failure_buckets WHERE bucket = $1",
        bucket,
        FAILURE_WINDOW,
    )
    return int(count or 0)
