"""The office's access log in PostgreSQL (`office_access_log`, migration 006): who did what,
on what, how it went, from where. Never a password, a code or a token."""

from __future__ import annotations

from datetime import datetime
from typing import TypedDict

import asyncpg


class AccessLine(TypedDict):
    """One line as the admins' page shows it."""

    at: datetime
    email: str | None
    action: str
    target: str | None
    outcome: str
    address: str | None


async def append(
    pool: asyncpg.Pool,
    email: str | None,
    action: str,
    outcome: str,
    address: str | None,
    target: str | None = None,
) -> None:
    """One line more."""
    await pool.execute(
        "INSERT INTO office_access_log (email, action, target, outcome, address)"
        " VALUES ($1, $2, $3, $4, $5)",
        email,
        action,
        target,
        outcome,
        address,
    )


async def latest(pool: asyncpg.Pool, limit: int = 200) -> list[AccessLine]:
    """The latest lines, newest first."""
    rows = await pool.fetch(
        "SELECT at, email, action, target, outcome, address FROM office_access_log"
        " ORDER BY id DESC LIMIT $1",
        limit,
    )
    return [
        AccessLine(
            at=r["at"],
            email=r["email"],
            action=r["action"],
            target=r["target"],
            outcome=r["outcome"],
            address=r["address"],
        )
        for r in rows
    ]
