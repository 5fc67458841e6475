"""Contacts' browser sessions (stored by the hash of their cookie)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg


@dataclass(frozen=True)
class ContactSession:
    """A browser's session, opened by a link: one contact of one party."""

    id_hash: bytes
    contact_name: str
    contact_email: str | None
    party: str
    language: str
    link_hash: bytes


_INSERT = (
    "INSERT INTO partner_sessions (id_hash, link_hash, contact_name, contact_email,"
    " party, language, created_at, last_seen_at, expires_at)"
    " VALUES ($1, $2, $3, $4, $5, $6, $7, $7, $8)"
)
_TOUCH = (
    "UPDATE partner_sessions SET last_seen_at = $2"
    " WHERE id_hash = $1 AND ended_at IS NULL AND expires_at > $2"
    "   AND last_seen_at > $3"
    " RETURNING *"
)


async def insert_session(
    pool: asyncpg.Pool, session: ContactSession, now: datetime, expires_at: datetime
) -> None:
    """Keep a new session."""
    await pool.execute(
        _INSERT,
        session.id_hash,
        session.link_hash,
        session.contact_name,
        session.contact_email,
        session.party,
        session.language,
        now,
        expires_at,
    )


async def touch_session(
    pool: asyncpg.Pool, id_hash: bytes, now: datetime, idle_since: datetime
) -> ContactSession | None:
    """The live session (not ended, not expired, seen after `idle_since`), seen now."""
    row = await pool.fetchrow(_TOUCH, id_hash, now, idle_since)
    return None if row is None else _session(row)


async def set_language(pool: asyncpg.Pool, id_hash: bytes, language: str) -> None:
    """The session's language."""
    await pool.execute(
        "UPDATE partner_sessions SET language = $2 WHERE id_hash = $1", id_hash, language
    )


async def end_session(pool: asyncpg.Pool, id_hash: bytes) -> None:
    """The session ends now."""
    await pool.execute("UPDATE partner_sessions SET ended_at = now() WHERE id_hash = $1", id_hash)


def _session(row: Any) -> ContactSession:
    return ContactSession(
        id_hash=row["id_hash"],
        contact_name=row["contact_name"],
        contact_email=row["contact_email"],
        party=row["party"],
        language=row["language"],
        link_hash=row["link_hash"],
    )
