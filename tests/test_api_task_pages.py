"""The API's list of a party's open tasks in keyset pages (issue 27): `limit` (default 100,
at most 500) and `cursor`; each page's `next` link leads to the one after until it is null,
losing and repeating nothing, in the list's order; a caller naming neither gets the first
page and its `next`; a cursor the API did not make, or a limit out of bounds, is refused
naming the field. No Temporal: the inbox answers alone."""

from __future__ import annotations

import asyncpg
import httpx
import pytest

from application.partner.task_pages import API_PAGE_SIZE
from tests.test_task_pages import ANSWERABLE, SIGNING, make_desk, seeded
from web.app import create_app

EVERY = ANSWERABLE + SIGNING  # the system sees every kind: the directory's kinds are a person's


async def _walk(http: httpx.AsyncClient, key: str, first: str) -> tuple[list[int], list[str]]:
    """Follow `next` from `first`; the pages' sizes and every listed task (convention/task)."""
    sizes: list[int] = []
    listed: list[str] = []
    path: str | None = first
    while path is not None:
        response = await http.get(path, headers={"authorization": f"Bearer {key}"})
        assert response.status_code == 200, response.text
        body = response.json()
        sizes.append(len(body["tasks"]))
        listed += [f"{t['convention_id']}/{t['task_id']}" for t in body["tasks"]]
        path = body["next"]
        assert len(sizes) <= 10, "the pages never end"
    return sizes, listed


async def test_pages_follow_next_to_the_end_losing_and_repeating_nothing(
    db_pool: asyncpg.Pool,
) -> None:
    party, _name, _email = await seeded(db_pool)
    desk = make_desk(db_pool)
    key, _stored = await desk.create_key(party, "their system")
    everything = [f"{e.convention_id}/{e.task_id}" for e in await desk.open_tasks(party)]
    assert len(everything) == EVERY
    transport = httpx.ASGITransport(app=create_app(desk), client=("10.27.5.1", 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://portal.test") as http:
        # An old caller, naming nothing: the first page, and where the rest is.
        default_sizes, default_listed = await _walk(http, key, "/api/v1/tasks")
        small_sizes, small_listed = await _walk(http, key, "/api/v1/tasks?limit=50")
        whole = await http.get(
            "/api/v1/tasks?limit=500", headers={"authorization": f"Bearer {key}"}
        )
    assert default_sizes == [API_PAGE_SIZE, EVERY - API_PAGE_SIZE]
    assert small_sizes == [50, 50, 50, EVERY - 150]
    # Every task once, in the list's own order (overdue first, then by due date).
    assert default_listed == small_listed == everything
    assert whole.json()["next"] is None and len(whole.json()["tasks"]) == EVERY


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("cursor=not-a-cursor", "cursor"),
        ("cursor=W10", "cursor"),
        ("cursor=" + "x" * 700, "cursor"),
        ("limit=0", "limit"),
        ("limit=501", "limit"),
        ("limit=ten", "limit"),
    ],
)
async def test_a_bad_cursor_or_limit_is_refused_naming_it(
    db_pool: asyncpg.Pool, query: str, field: str
) -> None:
    party, _name, _email = await seeded(db_pool)
    desk = make_desk(db_pool)
    key, _stored = await desk.create_key(party, "their system")
    transport = httpx.ASGITransport(app=create_app(desk), client=("10.27.5.2", 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://portal.test") as http:
        refused = await http.get(
            f"/api/v1/tasks?{query}", headers={"authorization": f"Bearer {key}"}
        )
    assert refused.status_code == 422, refused.text
    assert refused.headers["content-type"].startswith("application/problem+json")
    named = [error["field"] for error in refused.json()["errors"]]
    assert any(name.split(".")[-1] == field for name in named), refused.json()
