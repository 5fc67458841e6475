"""Contacts' browser sessions (stored by the hash of their cookie)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import asyncpg

from storage.directory import STANDING_COLUMNS, STANDING_JOINS, Standing, standing_of_row


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
    " VALUES ($1, $2, $3, $4, $5,"
    " coalesce((SELECT c.language FROM partner_contact_languages AS c"
    "           WHERE c.party = $5 AND c.contact_name = $3), $6),"
    " $7, $7, $8)"
    " RETURNING language"
)
_SET_LANGUAGE = """
WITH chosen AS (
    UPDATE partner_sessions SET language = $2 WHERE id_hash = $1
    RETURNING party, contact_name
)
INSERT INTO partner_contact_languages (party, contact_name, language)
SELECT party, contact_name, $2 FROM chosen
ON CONFLICT (party, contact_name) DO UPDATE
   SET language = excluded.language, chosen_at = now()"""
TOUCH_EVERY = timedelta(minutes=1)
"""A session's `last_seen_at` is written at most this often: a session can end idle up to
this much before its idle limit."""


async def insert_session(
    pool: asyncpg.Pool, session: ContactSession, now: datetime, expires_at: datetime
) -> str:
    """Keep a new session; returns its language: the one the contact last chose, else the
    session's own (its link's)."""
    language = await pool.fetchval(
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
    return str(language)


# One statement: the live session, read; written only when it was last seen before $4 (a
# minute ago), so most requests of a reading contact are a read with no commit to wait for;
# and the directory's word on its person (storage.directory's STANDING_COLUMNS), so a page's
# check of its contact is one round trip. No live session: no row.
_TOUCH_WITH_STANDING = f"""
WITH live AS (
    SELECT * FROM partner_sessions
    WHERE id_hash = $1 AND ended_at IS NULL AND expires_at > $2 AND last_seen_at > $3
), seen AS (
    UPDATE partner_sessions AS s SET last_seen_at = $2
    FROM live WHERE s.id_hash = live.id_hash AND live.last_seen_at <= $4
), who AS (
    SELECT party AS organisation_id, contact_email AS email, contact_name AS name FROM live
)
SELECT live.*, {STANDING_COLUMNS}
  FROM live, who
{STANDING_JOINS}
"""


async def touch_session_with_standing(
    pool: asyncpg.Pool, id_hash: bytes, now: datetime, idle_since: datetime
) -> tuple[ContactSession, Standing] | None:
    """The live session (not ended, not expired, seen after `idle_since`), seen now (written
    when last written more than TOUCH_EVERY ago), and the directory's word on its person,
    in one statement."""
    row = await pool.fetchrow(_TOUCH_WITH_STANDING, id_hash, now, idle_since, now - TOUCH_EVERY)
    return None if row is None else (_session(row), standing_of_row(row))


async def set_language(pool: asyncpg.Pool, id_hash: bytes, language: str) -> None:
    """The session's language, remembered for the contact's next sessions."""
    await pool.execute(_SET_LANGUAGE, id_hash, language)


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
