"""The office's access log: every sign-in, action and download, and the admins' view of it."""

from __future__ import annotations

import asyncpg

from storage import access_log
from storage.access_log import AccessLine


async def record(
    pool: asyncpg.Pool,
    email: str | None,
    action: str,
    outcome: str,
    address: str | None,
    target: str | None = None,
) -> None:
    """One line of the access log: who, what, on what, how it went, from where."""
    await access_log.append(pool, email, action, outcome, address, target)


async def latest(pool: asyncpg.Pool, limit: int = 200) -> list[AccessLine]:
    """The latest lines, newest first."""
    return await access_log.latest(pool, limit)
