"""One portal replica at a time runs the sweep (sealing, then anchoring): a PostgreSQL
advisory lock, taken for the sweep on a connection of its own and given back after it.

Several replicas serve one desk; each runs the sweep every ten minutes. Two at once would
both find the same convention unsealed, seal it twice and mail its signatories twice. The
lock is tried, never waited for: a replica that finds it held skips its round (the other
one is doing that work). It is session-scoped, because a sweep spans many transactions; the
pool releases connections without asyncpg's reset query (infra/database.py), so it is
unlocked here, and a connection that cannot unlock it is closed (which releases it)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import asyncpg

SWEEP_LOCK_KEY = 0x5041_4354_53
"""The sweep's advisory lock ('PACTS'), beside the migrations' and the directory import's."""

_TRY_LOCK = "SELECT pg_try_advisory_lock($1)"
_UNLOCK = "SELECT pg_advisory_unlock($1)"


@contextlib.asynccontextmanager
async def sweep_alone(pool: asyncpg.Pool, key: int = SWEEP_LOCK_KEY) -> AsyncIterator[bool]:
    """True inside when this replica holds the sweep's lock (run the sweep), False when
    another one holds it (skip this round)."""
    async with pool.acquire() as connection:
        taken = bool(await connection.fetchval(_TRY_LOCK, key))
        try:
            yield taken
        finally:
            if taken:
                try:
                    await connection.fetchval(_UNLOCK, key)
                except (OSError, asyncpg.PostgresError):
                    connection.terminate()  # the session ends, and its lock with it
