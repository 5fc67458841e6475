"""Forms held across a timed-out session (`office_held_forms`, migration 031): every SQL
statement on them, and the one that finds whose timed-out session a cookie was."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import asyncpg

_TIMED_OUT_ACCOUNT = (
    "SELECT s.email FROM office_sessions AS s JOIN office_users AS u ON u.email = s.email"
    " WHERE s.id_hash = $1 AND s.ended_at IS NULL AND s.step = 'signed_in'"
    " AND s.last_seen_at > $2 AND u.disabled_at IS NULL"
)
_PURGE = "DELETE FROM office_held_forms WHERE expires_at <= $1"
_HOLD = (
    "INSERT INTO office_held_forms (token_hash, email, path, sealed, held_at, expires_at)"
    " VALUES ($1, $2, $3, $4, $5, $6)"
)
_TAKE = (
    "DELETE FROM office_held_forms WHERE token_hash = $1 AND email = $2 AND path = $3"
    " AND expires_at > $4 RETURNING path, sealed"
)


@dataclass(frozen=True)
class HeldRow:
    """A held form as stored: the page it was posted to and its sealed fields."""

    path: str
    sealed: bytes


async def timed_out_account(pool: asyncpg.Pool, id_hash: bytes, seen_after: datetime) -> str | None:
    """The e-mail of a signed-in session that timed out (idle or past its lifetime) and was
    seen after `seen_after`; None for a session signed out, never fully signed in, unknown,
    too old, or of a disabled account."""
    email: str | None = await pool.fetchval(_TIMED_OUT_ACCOUNT, id_hash, seen_after)
    return email


async def hold(
    pool: asyncpg.Pool,
    token_hash: bytes,
    email: str,
    path: str,
    sealed: bytes,
    now: datetime,
    expires_at: datetime,
) -> None:
    """Hold a form (the expired ones go first)."""
    async with pool.acquire() as connection, connection.transaction():
        await connection.execute(_PURGE, now)
        await connection.execute(_HOLD, token_hash, email, path, sealed, now, expires_at)


async def take(
    pool: asyncpg.Pool, token_hash: bytes, email: str, path: str, now: datetime
) -> HeldRow | None:
    """The held form of this token if it is this account's, was posted to `path` and has not
    expired, taken (deleted: it is shown once); None otherwise, and the row stays as it was."""
    row = await pool.fetchrow(_TAKE, token_hash, email, path, now)
    return None if row is None else HeldRow(row["path"], bytes(row["sealed"]))
