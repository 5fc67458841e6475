"""A contact's session is seen at each request, but its `last_seen_at` is written at most
once a minute (one statement, a read when nothing is due: no commit to wait for on most of a
reading contact's requests); idle past the limit or ended, it is over as before. The same
statement reads the directory's word on the session's person (issue 27, item 3): the task
list is two statements, the session with the directory, then the page of the inbox."""

from __future__ import annotations

import os
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import cast

import asyncpg
from temporalio.client import Client

from storage.contact_sessions import (
    TOUCH_EVERY,
    ContactSession,
    insert_session,
    touch_session_with_standing,
)
from storage.directory import Standing, standing
from storage.partner_links import Link
from tests.partner_stack import make_desk, portal_client
from tests.test_api_inbox import CountingPool
from web.dependencies import SESSION_COOKIE


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
    assert found.party == recent.party
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


async def touch_session(
    pool: asyncpg.Pool, id_hash: bytes, now: datetime, idle_since: datetime
) -> ContactSession | None:
    touched = await touch_session_with_standing(pool, id_hash, now, idle_since)
    return None if touched is None else touched[0]


async def _directory_person(
    pool: asyncpg.Pool, party: str, name: str, email: str | None, *, removed: bool = False
) -> None:
    """`party` in the directory, `name` acting for it (answer and sign)."""
    await pool.execute(
        "INSERT INTO directory_organisations (id, name_fr, kind, country, created_by)"
        " VALUES ($1, $1, 'company', 'MA', 'test') ON CONFLICT DO NOTHING",
        party,
    )
    person_id = f"p-{uuid.uuid4().hex[:10]}"
    await pool.execute(
        "INSERT INTO directory_people (id, name, email, confirmed_at, removed_at, created_by)"
        " VALUES ($1, $2, $3, now(), CASE WHEN $4 THEN now() END, 'test')",
        person_id,
        name,
        email,
        removed,
    )
    for capacity in ("answer", "sign"):
        await pool.execute(
            "INSERT INTO directory_capacities (person_id, organisation_id, capacity, granted_by)"
            " VALUES ($1, $2, $3, 'test')",
            person_id,
            party,
            capacity,
        )


async def _touched(pool: asyncpg.Pool, session: ContactSession) -> Standing:
    now = datetime.now(UTC)
    touched = await touch_session_with_standing(
        pool, session.id_hash, now, now - timedelta(minutes=30)
    )
    assert touched is not None
    return touched[1]


async def test_the_touch_reads_the_directorys_word_as_the_directory_says_it(
    db_pool: asyncpg.Pool,
) -> None:
    now = datetime.now(UTC)
    by_name = await _session(db_pool, now)
    by_address = replace(await _session(db_pool, now), contact_email=None)
    await _directory_person(db_pool, by_name.party, by_name.contact_name, None)
    # The same name under an address, and a removed namesake: the address decides.
    await db_pool.execute(
        "UPDATE partner_sessions SET contact_email = 'Named@Example.org' WHERE id_hash = $1",
        by_address.id_hash,
    )
    await _directory_person(db_pool, by_address.party, "Someone Else", "named@example.org")
    await _directory_person(db_pool, by_address.party, by_address.contact_name, None, removed=True)
    stranger = await _session(db_pool, now)  # an organisation the directory does not hold
    cases = (
        (by_name, None),
        (by_address, "Named@Example.org"),
        (stranger, None),
    )
    for session, email in cases:
        read = await _touched(db_pool, session)
        alone = await standing(db_pool, session.party, email=email, name=session.contact_name)
        assert read == alone, session.contact_name
    assert (await _touched(db_pool, by_name)).person is not None
    address_person = (await _touched(db_pool, by_address)).person
    assert address_person is not None and address_person.name == "Someone Else"
    assert len((await _touched(db_pool, by_name)).capacities) == 2
    assert (await _touched(db_pool, stranger)).organisation is None


async def test_the_task_list_page_is_two_statements(db_pool: asyncpg.Pool) -> None:
    # The session with the directory's word on its person, then the page of the inbox; no
    # Temporal (the desk has none here).
    party, name = f"org-{uuid.uuid4().hex[:8]}", "Listed Contact"
    await _directory_person(db_pool, party, name, None)
    link = Link(os.urandom(32), name, None, "fr", party, "conv", "t", datetime.now(UTC), None, None)
    await db_pool.execute(
        "INSERT INTO partner_links (token_hash, notification_id, contact_name, language,"
        " party, convention_id, task_id, expires_at)"
        " VALUES ($1, $2, $3, 'fr', $4, 'conv', 't', now() + interval '1 day')",
        link.token_hash,
        f"{party}/list",
        name,
        party,
    )
    counting = CountingPool(db_pool)
    desk = make_desk(cast(Client, None), cast(asyncpg.Pool, counting))
    cookie, _session = await desk.start_session(link)
    async with portal_client(desk) as http:
        http.cookies.set(SESSION_COOKIE, cookie)
        counting.statements = 0
        page = await http.get("/desk")
        assert page.status_code == 200, page.text
        assert counting.statements == 2
        # A person the directory removed is signed out by the same statement.
        await db_pool.execute(
            "UPDATE directory_people SET removed_at = now() WHERE name = $1"
            " AND id IN (SELECT person_id FROM directory_capacities WHERE organisation_id = $2)",
            name,
            party,
        )
        gone = await http.get("/desk")
    assert gone.status_code == 401, gone.text
