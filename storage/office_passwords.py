"""Office passwords' SQL (migration 017): a password replaced with every session of its
account ended (and, for a change on the desk, the changer's own session reopened under a new
id), and the admins' reset links, stored as SHA-256, each used once before it expires."""

from __future__ import annotations

from datetime import datetime

import asyncpg


async def replace_password(connection: asyncpg.Connection, email: str, password_hash: str) -> None:
    """The account's new password; every session of the account ended (in the caller's
    transaction)."""
    await connection.execute(
        "UPDATE office_users SET password_hash = $2 WHERE email = $1", email, password_hash
    )
    await connection.execute(
        "UPDATE office_sessions SET ended_at = now() WHERE email = $1 AND ended_at IS NULL",
        email,
    )


async def reopen_session(
    connection: asyncpg.Connection,
    email: str,
    id_hash: bytes,
    language: str,
    now: datetime,
    expires_at: datetime,
) -> None:
    """A signed-in session under a new id, for the one who just changed their password."""
    await connection.execute(
        "INSERT INTO office_sessions (id_hash, email, step, language, created_at, last_seen_at,"
        " expires_at) VALUES ($1, $2, 'signed_in', $3, $4, $4, $5)",
        id_hash,
        email,
        language,
        now,
        expires_at,
    )


async def issue_reset(
    pool: asyncpg.Pool, token_hash: bytes, email: str, created_by: str, expires_at: datetime
) -> None:
    """A reset link for the account; its earlier, unused ones void."""
    async with pool.acquire() as connection, connection.transaction():
        await connection.execute(
            "UPDATE office_password_resets SET used_at = now()"
            " WHERE email = $1 AND used_at IS NULL",
            email,
        )
        await connection.execute(
            "INSERT INTO office_password_resets (token_hash, email, created_by, expires_at)"
            " VALUES ($1, $2, $3, $4)",
            token_hash,
            email,
            created_by,
            expires_at,
        )


async def withdraw_reset(pool: asyncpg.Pool, token_hash: bytes) -> None:
    """A reset link that could not be mailed: gone."""
    await pool.execute("DELETE FROM office_password_resets WHERE token_hash = $1", token_hash)


_LIVE = (
    " r.token_hash = $1 AND r.used_at IS NULL AND r.expires_at > now()"
    " AND u.email = r.email AND u.disabled_at IS NULL"
)
_RESET_ACCOUNT = f"SELECT r.email FROM office_password_resets AS r, office_users AS u WHERE {_LIVE}"
_USE_RESET = (
    "UPDATE office_password_resets AS r SET used_at = now() FROM office_users AS u"
    f" WHERE {_LIVE} RETURNING r.email"
)


async def reset_account(pool: asyncpg.Pool, token_hash: bytes) -> str | None:
    """The account a live reset link is for (unused, unexpired, account enabled), or None."""
    email: str | None = await pool.fetchval(_RESET_ACCOUNT, token_hash)
    return email


async def use_reset(pool: asyncpg.Pool, token_hash: bytes, password_hash: str) -> str | None:
    """Use a live reset link once: the account's new password, its sessions ended, in one
    transaction; the account's e-mail, or None when the link is not live (used, expired)."""
    async with pool.acquire() as connection, connection.transaction():
        email: str | None = await connection.fetchval(_USE_RESET, token_hash)
        if email is not None:
            await replace_password(connection, email, password_hash)
        return email
