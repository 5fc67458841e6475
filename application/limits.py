"""The one failure limiter of both desks: refuse at once when a bucket is full, count a
failure otherwise (the counters: `storage/failures.py`)."""

from __future__ import annotations

import asyncpg

from application.errors import TooManyAttempts
from storage import failures

FAILURES_PER_ADDRESS = 20
"""Failures counted per bucket and window before a refusal: an address tries many tokens, a
token is tried from many addresses; either way a guesser is slowed to a crawl."""
FAILURES_PER_SECRET = 10


async def check_limits(pool: asyncpg.Pool, buckets: dict[str, int]) -> None:
    """Refuse (TooManyAttempts) when a bucket already holds its window's allowance."""
    wait = await failures.retry_after(pool, buckets)
    if wait is not None:
        raise TooManyAttempts("too many failed attempts; try again later", retry_after=wait)


async def record_failure(pool: asyncpg.Pool, buckets: dict[str, int]) -> None:
    """Count one failure in each bucket."""
    await failures.record(pool, buckets)
