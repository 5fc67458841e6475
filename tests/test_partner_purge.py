"""Rows no one can use any more are purged; anything still of use is kept."""

from __future__ import annotations

import json
import secrets
import uuid
from datetime import UTC, datetime, timedelta

import asyncpg

from storage.purge import purge_expired

NOW = datetime(2027, 6, 1, 12, 0, tzinfo=UTC)


async def _link(pool: asyncpg.Pool, expires_at: datetime) -> bytes:
    token_hash = secrets.token_bytes(32)
    await pool.execute(
        "INSERT INTO partner_links (token_hash, notification_id, contact_name, language, party,"
        " convention_id, task_id, expires_at) VALUES ($1, $2, 'Awa', 'fr', 'psa', 'c', 't', $3)",
        token_hash,
        f"purge/{uuid.uuid4().hex}",
        expires_at,
    )
    return token_hash


async def _session(pool: asyncpg.Pool, link: bytes, expires_at: datetime) -> bytes:
    id_hash = secrets.token_bytes(32)
    await pool.execute(
        "INSERT INTO partner_sessions (id_hash, link_hash, contact_name, party, language,"
        " expires_at) VALUES ($1, $2, 'Awa', 'psa', 'fr', $3)",
        id_hash,
        link,
        expires_at,
    )
    return id_hash


async def _code(pool: asyncpg.Pool, session: bytes, expires_at: datetime) -> str:
    code_id = uuid.uuid4().hex
    await pool.execute(
        "INSERT INTO partner_codes (id, session_hash, convention_id, task_id, code_hash, answer,"
        " expires_at) VALUES ($1, $2, 'c', 't', $3, $4, $5)",
        code_id,
        session,
        secrets.token_bytes(32),
        json.dumps({"kind": "sign"}),
        expires_at,
    )
    return code_id


_THERE = {
    "partner_links": "SELECT count(*) FROM partner_links WHERE token_hash = $1",
    "partner_sessions": "SELECT count(*) FROM partner_sessions WHERE id_hash = $1",
    "partner_codes": "SELECT count(*) FROM partner_codes WHERE id = $1",
}


async def _there(pool: asyncpg.Pool, table: str, value: object) -> bool:
    return bool(await pool.fetchval(_THERE[table], value))


async def test_expired_links_sessions_codes_counters_and_old_keys_go_and_the_rest_stays(
    db_pool: asyncpg.Pool,
) -> None:
    # A link long expired, with a session and a code of its own, all past any use.
    old_link = await _link(db_pool, NOW - timedelta(days=31))
    old_session = await _session(db_pool, old_link, NOW - timedelta(days=31))
    old_code = await _code(db_pool, old_session, NOW - timedelta(hours=2))
    # A link expired lately (it still says "expired"), and a link still valid whose session
    # ended an hour ago: the links stay, the session goes.
    recent_link = await _link(db_pool, NOW - timedelta(days=2))
    live_link = await _link(db_pool, NOW + timedelta(days=20))
    ended = await _session(db_pool, live_link, NOW - timedelta(hours=1))
    live_session = await _session(db_pool, live_link, NOW + timedelta(hours=1))
    live_code = await _code(db_pool, live_session, NOW + timedelta(minutes=5))
    bucket = f"purge-{uuid.uuid4().hex}"
    for started in (NOW - timedelta(days=2), NOW - timedelta(minutes=5)):
        await db_pool.execute(
            "INSERT INTO partner_failures (bucket, window_start, failures) VALUES ($1, $2, 3)",
            bucket,
            started,
        )
    party = f"purge-{uuid.uuid4().hex[:8]}"
    for key, created in (("old", NOW - timedelta(days=8)), ("new", NOW - timedelta(days=1))):
        await db_pool.execute(
            "INSERT INTO partner_idempotency (party, key, body_hash, convention_id, task_id,"
            " created_at) VALUES ($1, $2, '\\x00', 'c', 't', $3)",
            party,
            key,
            created,
        )

    purged = await purge_expired(db_pool, NOW)

    assert purged["links"] >= 1 and purged["sessions"] >= 2 and purged["codes"] >= 1
    assert not await _there(db_pool, "partner_links", old_link)
    assert not await _there(db_pool, "partner_sessions", old_session)
    assert not await _there(db_pool, "partner_codes", old_code)
    assert not await _there(db_pool, "partner_sessions", ended)
    assert await _there(db_pool, "partner_links", recent_link)
    assert await _there(db_pool, "partner_links", live_link)
    assert await _there(db_pool, "partner_sessions", live_session)
    assert await _there(db_pool, "partner_codes", live_code)
    windows = await db_pool.fetch(
        "SELECT window_start FROM partner_failures WHERE bucket = $1", bucket
    )
    assert [row["window_start"] for row in windows] == [NOW - timedelta(minutes=5)]
    keys = await db_pool.fetch("SELECT key FROM partner_idempotency WHERE party = $1", party)
    assert [row["key"] for row in keys] == ["new"]
    # Nothing left to do: a second purge deletes nothing of these.
    again = await purge_expired(db_pool, NOW)
    assert again["links"] == again["codes"] == 0
