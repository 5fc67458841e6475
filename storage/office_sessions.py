"""Office sessions in PostgreSQL (`office_sessions`, migration 006): a browser's session,
its id stored as SHA-256 only, how far its sign-in went (`step`) and its language."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import asyncpg

from storage.office_accounts import AccountRow, account_of


@dataclass(frozen=True)
class SessionRow:
    """A live session and its account."""

    id_hash: bytes
    step: str
    language: str
    account: AccountRow


async def open_session(
    pool: asyncpg.Pool, id_hash: bytes, email: str, step: str, now: datetime, expires_at: datetime
) -> None:
    """A new session at `step`, seen now, over at `expires_at` at the latest, in the
    language its account last chose (French until one is chosen)."""
    await pool.execute(
        "INSERT INTO office_sessions (id_hash, email, step, language, created_at, last_seen_at,"
        " expires_at) VALUES ($1, $2, $3,"
        " coalesce((SELECT u.preferred_language FROM office_users AS u WHERE u.email = $2), 'fr'),"
        " $4, $4, $5)",
        id_hash,
        email,
        step,
        now,
        expires_at,
    )


async def touch_session(
    pool: asyncpg.Pool, id_hash: bytes, now: datetime, idle_since: datetime
) -> SessionRow | None:
    """The session, seen now, if live: not ended, not expired, seen after `idle_since`, its
    account not disabled; None otherwise."""
    row = await pool.fetchrow(
        "UPDATE office_sessions AS s SET last_seen_at = $2 FROM office_users AS u"
        " WHERE s.id_hash = $1 AND s.ended_at IS NULL AND s.expires_at > $2"
        "   AND s.last_seen_at > $3 AND u.email = s.email AND u.disabled_at IS NULL"
        " RETURNING s.id_hash, s.step, s.language, u.*",
        id_hash,
        now,
        idle_since,
    )
    if row is None:
        return None
    return SessionRow(row["id_hash"], row["step"], row["language"], account_of(row))


async def set_language(pool: asyncpg.Pool, id_hash: bytes, language: str) -> None:
    """The session's language, remembered for its account's next sessions."""
    await pool.execute(_SET_LANGUAGE, id_hash, language)


_SET_LANGUAGE = """
WITH chosen AS (
    UPDATE office_sessions SET language = $2 WHERE id_hash = $1 RETURNING email
)
UPDATE office_users AS u SET preferred_language = $2 FROM chosen WHERE u.email = chosen.email"""


async def end_session(pool: asyncpg.Pool, id_hash: bytes) -> None:
    """Ended now."""
    await pool.execute("UPDATE office_sessions SET ended_at = now() WHERE id_hash = $1", id_hash)


async def promote_session(
    connection: asyncpg.Connection | asyncpg.Pool, id_hash: bytes, new_id_hash: bytes
) -> None:
    """Signed in, under a new id (the old cookie is worth nothing after the second factor)."""
    await connection.execute(
        "UPDATE office_sessions SET step = 'signed_in', id_hash = $2 WHERE id_hash = $1",
        id_hash,
        new_id_hash,
    )
