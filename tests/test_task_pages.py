"""A contact's task list in pages (issue 27): at most 50 tasks a page, overdue first then by
due date, a next-page link (no script) that loses and repeats nothing, the directory's kinds
counted by the statement itself (a page is never short of tasks the person may answer), a
page past the end said plainly, a cursor the list did not make refused naming `after`."""

from __future__ import annotations

import html
import os
import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import asyncpg
import httpx
import pytest
from temporalio.client import Client

from application.errors import InvalidInput
from application.partner import PartnerDesk
from application.partner.task_pages import PAGE_SIZE, cursor_text, read_cursor
from infra.portal_settings import PortalSettings
from infra.settings import DeliverySettings
from schemas.channels import InboxEntry
from storage.partner_links import Link
from web.app import create_app
from web.dependencies import SESSION_COOKIE

ANSWERABLE, SIGNING = 120, 40
_TASK_LINK = re.compile(r'href="/desk/tasks/([^/"]+)/([^"]+)"')
_NEXT = re.compile(r'href="/desk\?after=([^"]+)" rel="next"')


class NoTemporal:
    """The list never asks Temporal: any use of it fails the test."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"the task list asked Temporal ({name})")


async def seeded(pool: asyncpg.Pool) -> tuple[str, str, str]:
    """A party in the directory whose contact may answer and review but not sign; 120 tasks
    they may answer and 40 signatures among them, some overdue; (party, name, email)."""
    party = f"org-{uuid.uuid4().hex[:8]}"
    person_id, name, email = f"p-{party}", f"Contact of {party}", f"c@{party}.example"
    now = datetime.now(UTC)
    await pool.execute(
        "INSERT INTO directory_organisations (id, name_fr, kind, country, created_by)"
        " VALUES ($1, $1, 'company', 'MA', 'test')",
        party,
    )
    await pool.execute(
        "INSERT INTO directory_people (id, name, email, confirmed_at, created_by)"
        " VALUES ($1, $2, $3, $4, 'test')",
        person_id,
        name,
        email,
        now,
    )
    for capacity in ("answer", "review"):
        await pool.execute(
            "INSERT INTO directory_capacities (person_id, organisation_id, capacity, granted_by)"
            " VALUES ($1, $2, $3, 'test')",
            person_id,
            party,
            capacity,
        )
    await pool.execute("UPDATE directory_version SET version = version + 1")
    rows = []
    for index in range(ANSWERABLE + SIGNING):
        kind = "sign" if index % 4 == 3 else ("review_draft", "provide_information")[index % 2]
        rows.append(
            (
                f"{party}-conv-{index % 7}",
                f"stage.task.{index:04d}",
                "stage",
                kind,
                party,
                f"Task {index}",
                now - timedelta(days=30),
                # Some share a due date, so the cursor's convention and task ids decide.
                now + timedelta(days=index % 23 - 5),
                "open",
            )
        )
    await pool.copy_records_to_table(
        "tasks",
        records=rows,
        columns=[
            "convention_id",
            "task_id",
            "stage",
            "kind",
            "assignee",
            "title",
            "assigned_at",
            "due_at",
            "status",
        ],
    )
    return party, name, email


async def session_cookie(desk: PartnerDesk, party: str, name: str, email: str) -> str:
    """A session of the contact, as their link opens one."""
    token_hash = os.urandom(32)
    await desk.pool.execute(
        "INSERT INTO partner_links (token_hash, notification_id, contact_name, contact_email,"
        " language, party, convention_id, task_id, expires_at)"
        " VALUES ($1, $2, $3, $4, 'en', $5, $6, 't', now() + interval '1 day')",
        token_hash,
        f"{party}/test",
        name,
        email,
        party,
        f"{party}-conv-0",
    )
    link = Link(
        token_hash, name, email, "en", party, f"{party}-conv-0", "t", datetime.now(UTC), None, None
    )
    cookie, _session = await desk.start_session(link)
    return cookie


def make_desk(pool: asyncpg.Pool) -> PartnerDesk:
    return PartnerDesk(
        pool=pool,
        client=cast(Client, NoTemporal()),
        settings=PortalSettings(),
        delivery=DeliverySettings(),
        secret=os.urandom(32),
    )


async def test_a_long_list_pages_by_fifty_losing_and_repeating_nothing(
    db_pool: asyncpg.Pool,
) -> None:
    party, name, email = await seeded(db_pool)
    desk = make_desk(db_pool)
    everything = await desk.open_tasks(party, name, email)  # the whole list, as before
    assert len(everything) == ANSWERABLE
    assert all(entry.kind != "sign" for entry in everything)
    cookie = await session_cookie(desk, party, name, email)
    transport = httpx.ASGITransport(app=create_app(desk))
    shown: list[tuple[str, str]] = []
    sizes: list[int] = []
    async with httpx.AsyncClient(transport=transport, base_url="http://portal.test") as http:
        http.cookies.set(SESSION_COOKIE, cookie)
        path: str | None = "/desk?lang=en"
        while path is not None:
            response = await http.get(path)
            assert response.status_code == 200, response.text
            page = _TASK_LINK.findall(response.text)
            sizes.append(len(page))
            shown += page
            following = _NEXT.search(response.text)
            path = f"/desk?after={following.group(1)}" if following else None
            assert len(sizes) <= 5, "the pages never end"
        last_page = response.text
        past = await http.get(f"/desk?after={cursor_text(everything[-1])}")
    assert sizes == [PAGE_SIZE, PAGE_SIZE, ANSWERABLE - 2 * PAGE_SIZE]
    # Every task once, in the list's own order (overdue first, then by due date).
    assert shown == [(entry.convention_id, entry.task_id) for entry in everything]
    assert everything[0].overdue and not everything[-1].overdue
    assert 'rel="first"' in last_page and 'rel="next"' not in last_page
    assert past.status_code == 200
    assert "No task comes after this point of the list" in past.text
    assert _TASK_LINK.search(past.text) is None


@pytest.mark.parametrize(
    ("language", "said"),
    [
        ("en", "The link's “after” parameter is not a page of this list"),
        ("fr", "Le paramètre « after » du lien n'est pas une page de cette liste"),
        ("ar", "المُعامل «after» في الرابط ليس صفحة من هذه القائمة"),
    ],
)
async def test_a_cursor_the_list_did_not_make_is_refused_naming_after(
    db_pool: asyncpg.Pool, language: str, said: str
) -> None:
    party, name, email = await seeded(db_pool)
    desk = make_desk(db_pool)
    cookie = await session_cookie(desk, party, name, email)
    transport = httpx.ASGITransport(app=create_app(desk))
    async with httpx.AsyncClient(transport=transport, base_url="http://portal.test") as http:
        http.cookies.set(SESSION_COOKIE, cookie)
        refused = [
            await http.get("/desk", params={"after": bad, "lang": language})
            for bad in ("not-a-cursor", "W10", "x" * 700)
        ]
    for response in refused:
        assert response.status_code == 422, response.text
        assert said in html.unescape(response.text)
        assert "after" in response.text and _TASK_LINK.search(response.text) is None


def test_a_cursor_reads_back_what_it_was_made_of_and_nothing_else() -> None:
    entry = InboxEntry(
        convention_id="conv-1",
        task_id="stage.task.0001",
        stage="stage",
        kind="sign",
        assignee="org-1",
        title="Sign",
        assigned_at=datetime(2026, 12, 1, tzinfo=UTC),
        due_at=datetime(2026, 12, 9, 10, 30, tzinfo=UTC),
        overdue=False,
    )
    cursor = read_cursor(cursor_text(entry))
    assert (cursor.due_at, cursor.convention_id, cursor.task_id) == (
        entry.due_at,
        "conv-1",
        "stage.task.0001",
    )
    for bad in ("", "e30", "WyIyMDI2LTEyLTA5IiwiYSIsImIiXQ"):  # {}, a date without a zone
        with pytest.raises(InvalidInput) as refused:
            read_cursor(bad)
        assert refused.value.errors[0].field == "after"
