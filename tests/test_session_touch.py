"""A contact's session is seen at each request, but its `last_seen_at` is written at most
once a minute (one statement, a read when nothing is due: no commit to wait for on most of a
reading contact's requests); idle past the limit or ended, it is over as before."""

from __future__ import annotations

import os
import uuid
from datetime import UTC, datetime, timedelta

import asyncpg

from storage.contact_sessions import TOUCH_EVERY, ContactSession, insert_session, touch_session


async def _session(pool: asyncpg.Pool, seen: datetime) -> ContactSession:
    session = ContactSession(
        id_hash=os.urandom(32),
        contact_name=f"Contact {uuid.uuid4().hex[:6]}",
        contact_email=None,
        party=f"org-{uuid.uuid4().hex[:8]}",
        language="fr",
        link_hash=os.urandom(32),
    )
    await pool.execute(  # the link that opened it
        "INSERT INTO partner_links (token_hash, notification_id, contact_name, language,"
        " party, convention_id, task_id, expires_at)"
        " VALUES ($1, $2, $3, 'fr', $4, 'conv', 't', now() + interval '1 day')",
        session.link_hash,
        f"{session.party}/test",
        session.contact_name,
        session.party,
    )
    await insert_session(pool, session, seen, seen + timedelta(hours=8))
    return session


async def _last_seen(pool: asyncpg.Pool, session: ContactSession) -> datetime:
    seen: datetime = await pool.fetchval(
        "SELECT last_seen_at FROM partner_sessions WHERE id_hash = $1", session.id_hash
    )
    return seen


async def test_the_touch_writes_at_most_once_a_minute(db_pool: asyncpg.Pool) -> None:
    now = datetime.now(UTC)
    idle_since = now - timedelta(minutes=30)
    recent = await _session(db_pool, now - TOUCH_EVERY / 2)
    found = await touch_session(db_pool, recent.id_hash, now, idle_since)
    assert found is not None and found.contact_name == recent.contact_name
    assert await _last_seen(db_pool, recent) == now - TOUCH_EVERY / 2  # read, not written

    older = await _session(db_pool, now - 2 * TOUCH_EVERY)
    assert await touch_session(db_pool, older.id_hash, now, idle_since) is not None
    assert await _last_seen(db_pool, older) == now  # written: seen now


async def test_an_idle_or_ended_session_is_over(db_pool: asyncpg.Pool) -> None:
    now = datetime.now(UTC)
    idle_since = now - timedelta(minutes=30)
    idle = await _session(db_pool, now - timedelta(minutes=31))
    assert await touch_session(db_pool, idle.id_hash, now, idle_since) is None
    assert await _last_seen(db_pool, idle) == now - timedelta(minutes=31)  # not revived
    ended = await _session(db_pool, now)
    await db_pool.execute(
        "UPDATE partner_sessions SET ended_at = now() WHERE id_hash = $1", ended.id_hash
    )
    assert await touch_session(db_pool, ended.id_hash, now, idle_since) is None
