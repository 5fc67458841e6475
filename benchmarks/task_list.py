"""A contact's task list (issue 27, item 3; issue 23's "task list at 1,000 × 10"): one read.

The partner desk's list page (`GET /desk`), for a contact whose party owes `--tasks` open
tasks, served by the portal app in this process over a migrated embedded PostgreSQL and
**no Temporal at all**: the desk's client is a stand-in that fails on any use, so a list that
asked a workflow would fail here. The read model is seeded directly: a directory of
`--organisations` organisations × `--people` people (each with capacities), the inbox's rows
(the contact an officer gave a task to among them) and each convention's milestones, with
other parties' tasks around. Two parties owe the same number of tasks, one across
`--conventions` conventions, the other across `--spread` (one task each by default): the list
must not grow with the number of conventions. The page shows at most 50 tasks (a keyset
cursor leads to the next): its first page is timed. Timed: the server's own time
(`Server-Timing`) of the page, and the two statements it runs (the session with the
directory's word on its person, then the page of the inbox with the kinds it allows) from
the driver. Targets: p95
≤ 20 ms server time at 1,000 open tasks across 200 conventions, and the page at 1,000
conventions within 1.2× of it at 200.

    .venv/bin/python -m benchmarks.task_list [--tasks 1000] [--conventions 200]
        [--spread 1000] [--organisations 1000] [--people 10] [--requests 200] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # also as a file

import asyncpg
import httpx
from temporalio.client import Client

from application.directory.authority import contact_authority
from application.partner import PartnerDesk
from application.partner.task_pages import PAGE_SIZE
from benchmarks.report import (
    add_common_arguments,
    finish,
    percentile,
    print_header,
    print_load,
    print_ratio,
    print_table,
)
from devkit.stack import Servers
from infra.database import create_pool
from infra.portal_settings import PortalSettings, token_hash
from infra.settings import DeliverySettings
from storage.contact_sessions import touch_session_with_standing
from storage.inbox import owed_tasks_page
from storage.partner_links import Link
from web.app import create_app
from web.dependencies import SESSION_COOKIE

PAGE_TARGET_MS = 20.0  # issue 27: p95 server time at 1,000 open tasks, 200 conventions
FLAT_TARGET = 1.2  # the same list across five times the conventions
KINDS = ("review_draft", "sign", "decide_funding", "provide_information", "report_progress")
CAPACITIES = ("answer", "review", "sign", "decide_funding")
_TIMING = re.compile(r"app;dur=([0-9.]+)")
CONCENTRATED, SPREAD = "org-0000", "org-0001"
"""The two parties measured: the same tasks across few conventions, and across many."""


class NoTemporal:
    """The desk's Temporal client here: any use of it fails the run."""

    def __getattr__(self, name: str) -> Any:
        raise RuntimeError(f"the task list asked Temporal ({name})")


def parse_arguments(argv: list[str] | None = None) -> argparse.Namespace:
    """Sizes; --quick: small ones."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.task_list",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_common_arguments(parser)
    parser.add_argument("--tasks", type=int, help="open tasks each measured party owes (1,000)")
    parser.add_argument("--conventions", type=int, help="conventions they span (200)")
    parser.add_argument("--spread", type=int, help="conventions of the other party (1,000)")
    parser.add_argument("--organisations", type=int, help="in the directory (1,000)")
    parser.add_argument("--people", type=int, help="per organisation (10)")
    parser.add_argument("--requests", type=int, help="pages timed per party (200)")
    args = parser.parse_args(argv)
    quick = args.quick
    args.tasks = args.tasks or (100 if quick else 1000)
    args.conventions = args.conventions or (20 if quick else 200)
    args.spread = args.spread or (100 if quick else 1000)
    args.organisations = args.organisations or (50 if quick else 1000)
    args.people = args.people or (3 if quick else 10)
    args.requests = args.requests or (20 if quick else 200)
    if args.organisations < 2:
        parser.error("--organisations: at least the two measured parties")
    return args


# --- the read model, seeded ---------------------------------------------------------------


def organisation_id(index: int) -> str:
    """Organisation number `index`."""
    return f"org-{index:04d}"


def person(organisation: int, number: int) -> tuple[str, str, str]:
    """(id, name, address) of a person of an organisation."""
    return (
        f"p-{organisation:04d}-{number:02d}",
        f"Person {number:02d} of {organisation_id(organisation)}",
        f"p{number:02d}@{organisation_id(organisation)}.example",
    )


async def seed_directory(pool: asyncpg.Pool, organisations: int, people: int) -> None:
    """Organisations × people, each person with one to four capacities (the first, all)."""
    await pool.copy_records_to_table(
        "directory_organisations",
        records=[
            (organisation_id(i), f"Organisation {i}", "partner", "MA", "benchmark")
            for i in range(organisations)
        ],
        columns=["id", "name_fr", "kind", "country", "created_by"],
    )
    now = datetime.now(UTC)
    await pool.copy_records_to_table(
        "directory_people",
        records=[
            (*person(i, n), now, "benchmark") for i in range(organisations) for n in range(people)
        ],
        columns=["id", "name", "email", "confirmed_at", "created_by"],
    )
    await pool.copy_records_to_table(
        "directory_capacities",
        records=[
            (person(i, n)[0], organisation_id(i), capacity, "benchmark")
            for i in range(organisations)
            for n in range(people)
            # The measured contacts (each organisation's first person) hold every capacity.
            for capacity in (CAPACITIES if n == 0 else CAPACITIES[: 1 + (i + n) % len(CAPACITIES)])
        ],
        columns=["person_id", "organisation_id", "capacity", "granted_by"],
    )
    await pool.execute("UPDATE directory_version SET version = version + 1")


async def seed_tasks(
    pool: asyncpg.Pool, party: str, tasks: int, conventions: int, contact: str, other: str
) -> None:
    """`tasks` open tasks of the party across `conventions` conventions, one in ten given to
    another contact, and milestones as a convention has them (and answered tasks)."""
    now = datetime.now(UTC)
    rows: list[tuple[Any, ...]] = []
    milestones: list[tuple[Any, ...]] = []
    for index in range(tasks):
        convention = f"{party}-conv-{index % conventions:05d}"
        given = other if index % 10 == 9 else (contact if index % 10 == 8 else None)
        rows.append(
            (
                convention,
                f"stage.task.{index:05d}",
                "stage",
                KINDS[index % len(KINDS)],
                party,
                f"Task {index}",
                now - timedelta(days=10),
                now + timedelta(days=index % 40 - 10),
                "open",
                given,
            )
        )
    for number in range(conventions):
        convention = f"{party}-conv-{number:05d}"
        for seq in range(1, 21):  # what a convention has recorded so far; none ends it
            kind = "task_answered" if seq % 4 == 0 else "task_assigned"
            milestones.append(
                (
                    convention,
                    seq,
                    kind,
                    f"stage.done.{seq:02d}" if kind == "task_answered" else None,
                    party,
                    now,
                    f"milestone {seq}",
                    f"convention-{convention}",
                    "run",
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
            "contact",
        ],
    )
    await pool.copy_records_to_table(
        "milestones",
        records=milestones,
        columns=[
            "convention_id",
            "seq",
            "kind",
            "task_id",
            "party",
            "occurred_at",
            "summary",
            "workflow_id",
            "run_id",
        ],
    )


async def seed(pool: asyncpg.Pool, args: argparse.Namespace) -> None:
    """The directory, the two measured parties, and every other party's few tasks."""
    await seed_directory(pool, args.organisations, args.people)
    for party, index, conventions in (
        (CONCENTRATED, 0, args.conventions),
        (SPREAD, 1, args.spread),
    ):
        await seed_tasks(
            pool, party, args.tasks, conventions, person(index, 0)[1], person(index, 1)[1]
        )
    for index in range(2, args.organisations):  # the others' tasks, around
        party = organisation_id(index)
        await seed_tasks(pool, party, 10, 5, person(index, 0)[1], person(index, 1)[1])
    await pool.execute("ANALYZE")


# --- the measure ---------------------------------------------------------------------------


def make_desk(pool: asyncpg.Pool) -> PartnerDesk:
    """The desk over the seeded database, with no Temporal."""
    return PartnerDesk(
        pool=pool,
        client=cast(Client, NoTemporal()),
        settings=PortalSettings(),
        delivery=DeliverySettings(),
        secret=os.urandom(32),
    )


async def session_cookie(desk: PartnerDesk, index: int) -> str:
    """A session of the party's first person, as their link opens one."""
    _id, name, email = person(index, 0)
    party = organisation_id(index)
    token_hash = os.urandom(32)
    await desk.pool.execute(
        "INSERT INTO partner_links (token_hash, notification_id, contact_name, contact_email,"
        " language, party, convention_id, task_id, expires_at)"
        " VALUES ($1, $2, $3, $4, 'fr', $5, $6, 't', now() + interval '1 day')",
        token_hash,
        f"{party}/benchmark",
        name,
        email,
        party,
        f"{party}-conv-00000",
    )
    link = Link(
        token_hash,
        name,
        email,
        "fr",
        party,
        f"{party}-conv-00000",
        "t",
        datetime.now(UTC),
        None,
        None,
    )
    cookie, _session = await desk.start_session(link)
    return cookie


@dataclass
class PageCost:
    """What the timed pages cost besides their time: this process's CPU per page (the app
    and its in-process client; it moves far less with the machine's load than wall time)."""

    cpu_ms: float = 0.0


async def time_pages(
    desk: PartnerDesk, cookies: dict[str, str], requests: int, cost: PageCost | None = None
) -> dict[str, list[float]]:
    """The page's server time per party, in turns; also checks what it lists, and fills
    `cost` over the timed rounds."""
    measured: dict[str, list[float]] = {party: [] for party in cookies}
    transport = httpx.ASGITransport(app=create_app(desk), client=("10.27.3.1", 40000))
    cpu_started = 0.0
    async with httpx.AsyncClient(transport=transport, base_url="http://portal.test") as http:
        for round_number in range(requests + 5):
            if round_number == 5:
                cpu_started = time.process_time()
            for party, cookie in cookies.items():
                http.cookies.set(SESSION_COOKIE, cookie)
                response = await http.get("/desk")
                if response.status_code != 200:
                    raise RuntimeError(f"/desk answered {response.status_code}: {response.text}")
                match = _TIMING.search(response.headers.get("server-timing", ""))
                if match is None:
                    raise RuntimeError("no Server-Timing header")
                if round_number >= 5:  # five rounds warm up, untimed
                    measured[party].append(float(match.group(1)))
    if cost is not None and requests > 0:
        pages = requests * len(cookies)
        cost.cpu_ms = 1000 * (time.process_time() - cpu_started) / pages
    return measured


async def time_sql(
    pool: asyncpg.Pool, cookies: dict[str, str], requests: int
) -> dict[str, list[float]]:
    """The page's two statements alone (the session with the directory's word on its
    person, then the inbox's page with the kinds it allows), from the driver, in ms."""
    measured: dict[str, list[float]] = {party: [] for party in cookies}
    for _ in range(requests):
        for party, cookie in cookies.items():
            started = time.perf_counter()
            now = datetime.now(UTC)
            touched = await touch_session_with_standing(
                pool, token_hash(cookie), now, now - timedelta(minutes=30)
            )
            if touched is None:
                raise RuntimeError(f"the session of {party} is over")
            session, standing = touched
            authority = contact_authority(party, standing, name=session.contact_name)
            kinds = authority.allowed_kinds()
            await owed_tasks_page(
                pool, party, now, session.contact_name, kinds, None, PAGE_SIZE + 1
            )
            measured[party].append(1000 * (time.perf_counter() - started))
    return measured


async def listed(desk: PartnerDesk, party: str, index: int) -> int:
    """How many tasks the whole list holds for the party's first person (over its pages)."""
    _id, name, email = person(index, 0)
    return len(await desk.open_tasks(party, name, email))


async def _run(args: argparse.Namespace, servers: Servers) -> int:
    pool = await create_pool(servers.database_url, max_size=4)
    try:
        started = time.perf_counter()
        await seed(pool, args)
        rows = await pool.fetchval("SELECT count(*) FROM tasks")
        print(
            f"   seeded in {time.perf_counter() - started:.1f} s: {args.organisations:,}"
            f" organisations × {args.people} people, {rows:,} inbox rows",
            flush=True,
        )
        desk = make_desk(pool)
        cookies = {
            CONCENTRATED: await session_cookie(desk, 0),
            SPREAD: await session_cookie(desk, 1),
        }
        shown = {party: await listed(desk, party, i) for i, party in enumerate(cookies)}
        print_load("before")
        cost = PageCost()
        pages = await time_pages(desk, cookies, args.requests, cost)
        sql = await time_sql(pool, cookies, args.requests)
        print_load("after")
    finally:
        await pool.close()
    spans = {CONCENTRATED: args.conventions, SPREAD: args.spread}
    rows_out: list[list[object]] = []
    for party in (CONCENTRATED, SPREAD):
        rows_out.append(
            [
                f"GET /desk, {args.tasks:,} tasks across {spans[party]:,} conventions",
                shown[party],
                min(PAGE_SIZE, shown[party]),
                len(pages[party]),
                percentile(pages[party], 0.5),
                percentile(pages[party], 0.95),
                percentile(sql[party], 0.5),
                percentile(sql[party], 0.95),
            ]
        )
    print_table(
        [
            "contact's task list",
            "listed",
            "on page 1",
            "timed",
            "p50 ms",
            "p95 ms",
            "SQL p50",
            "SQL p95",
        ],
        rows_out,
    )
    print(
        f"   per page: {cost.cpu_ms:.2f} ms of this process's CPU (the app and its in-process"
        " client)",
        flush=True,
    )
    print(
        "   (server time of the first page from Server-Timing; SQL: the page's two statements"
        " from the driver, the session with the directory's word, then the inbox's page; no"
        " Temporal: any use of it fails the run)",
        flush=True,
    )
    page_p95 = percentile(pages[CONCENTRATED], 0.95)
    print_ratio(
        f"task list p95 server ms / {PAGE_TARGET_MS:g} ms (at {args.tasks:,} tasks, "
        f"{args.conventions:,} conventions)",
        page_p95 / PAGE_TARGET_MS,
        target=1.0,
        at_least=False,
    )
    for label, fraction in (("p50", 0.5), ("p95", 0.95)):
        print_ratio(
            f"task list {label}, {args.spread:,} / {args.conventions:,} conventions",
            percentile(pages[SPREAD], fraction) / percentile(pages[CONCENTRATED], fraction),
            target=FLAT_TARGET if label == "p95" else None,
            at_least=False,
        )
    print_ratio(
        "task list p95 server time / its SQL p95",
        page_p95 / percentile(sql[CONCENTRATED], 0.95),
        target=None,
        at_least=False,
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    """Parse, start PostgreSQL, seed, measure, print."""
    args = parse_arguments(argv)
    print_header(
        "contact's task list",
        {
            "tasks": args.tasks,
            "conventions": args.conventions,
            "spread": args.spread,
            "organisations": args.organisations,
            "people": args.people,
            "requests": args.requests,
        },
    )
    with Servers(keep=args.keep, temporal=False) as servers:
        return asyncio.run(_run(args, servers))


if __name__ == "__main__":
    finish(main)
