"""The failure limiter's counters: failures per bucket (an address, a token, a session) and
fixed window, in PostgreSQL, so that every portal replica sees the same counts.

`retry_after` says whether a bucket is already full (and for how long); `record` counts one
failure in each bucket. Both desks use them (`application/limits.py` raises the refusal).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import asyncpg

FAILURE_WINDOW = timedelta(minutes=15)

_COUNTS = (
    "SELECT bucket, failures FROM partner_failures"
    " WHERE bucket = ANY($1::text[]) AND window_start = $2"
)
_COUNT_ONE = (
    "INSERT INTO partner_failures (bucket, window_start, failures) VALUES ($1, $2, 1)"
    " ON CONFLICT (bucket, window_start)"
    " DO UPDATE SET failures = partner_failures.failures + 1"
)


def window_start(now: datetime) -> datetime:
    """The start of the fixed window `now` falls in."""
    seconds = int(FAILURE_WINDOW.total_seconds())
    return datetime.fromtimestamp(int(now.timestamp()) // seconds * seconds, UTC)


async def retry_after(
    pool: asyncpg.Pool, buckets: dict[str, int], now: datetime | None = None
) -> int | None:
    """Seconds until the window ends when a bucket already holds its allowance; else None."""
    moment = now or datetime.now(UTC)
    start = window_start(moment)
    rows = await pool.fetch(_COUNTS, list(buckets), start)
    if any(row["failures"] >= buckets[row["bucket"]] for row in rows):
        return int((start + FAILURE_WINDOW - moment).total_seconds()) + 1
    return None


async def record(pool: asyncpg.Pool, buckets: dict[str, int], now: datetime | None = None) -> None:
    """One more failure in each bucket's current window."""
    start = window_start(now or datetime.now(UTC))
    for bucket in buckets:
        await pool.execute(_COUNT_ONE, bucket, start)
