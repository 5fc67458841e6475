"""Load on the people's side (issue 27, item 4): contacts through the pages and partner
systems through the API, answering thousands of tasks at once against two portal replicas and
two workers on one PostgreSQL and one Temporal; then the same with one replica killed.

Real processes throughout: the harness's Temporal dev server and embedded PostgreSQL
(`devkit.stack.Servers`), two product workers (`benchmarks.worker`, each the product's own
`build_worker`, `--workers`), and two partner desks as deployed (`portal.py` on uvicorn, each
its own process and port, `--replicas`), all sharing PACTE_LINK_SECRET.

Each run opens `--tasks` tasks at once: a share (`--page-share`, half) are reviews of a draft
owed by `--contacts` parties of one contact each (drafting conventions of up to 49 reviewers),
the rest signatures owed by `--systems` parties with one API key each (signature conventions,
as `partner_desk` builds them). Then, all at once:
- each contact, for each of its tasks, does what a browser does from the e-mailed link:
  `GET /t/<token>` (a session opens, 303), `GET` the task page (the form and its CSRF token),
  `POST` the form (decision `approve`) to its receipt;
- each system `POST`s `/api/v1/tasks/{convention}/{task}/answer` with an Idempotency-Key.
Every client (contact or system) has a replica of its own (alternating) and, on a connection
error or a 5xx, retries the same request on the other one (and stays there): the API with the
SAME Idempotency-Key (a `409` "still in progress" is asked again a moment later; a `409`
naming the key as who answered means an earlier attempt landed), the pages with the same
form (a form posted again once its answer landed shows the receipt; a `409` refusal is
counted apart, and the record says whether the task was answered).

Two runs, fresh tasks each, both replicas restarted: all replicas up; then replica B killed
(SIGKILL) once half the answers are in. After each, the record is counted: per task, the
`task_answered` milestones in PostgreSQL and the `answer_task` updates each workflow accepted
(from its history): exactly one of each, 0 lost, 0 doubled (else exit 1). Printed: answers/s,
p50 and p95 per path (as the client saw it, retries included), the retries, and the ratio
kill run / normal run of the throughput.

    .venv/bin/python -m benchmarks.people_load [--tasks 5000] [--contacts 200] [--systems 50]
        [--page-share 0.5] [--replicas 2] [--workers 2] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import functools
import os
import random
import re
import sys
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # also as a file

import asyncpg
import httpx
from temporalio.client import Client

from application.conventions import start_convention
from benchmarks.bamako import run_bounded
from benchmarks.partner_desk import (
    Key,
    accepted_answers,
    make_keys,
    partner_id,
    signature_conventions,
    wait_until_open,
)
from benchmarks.report import (
    add_common_arguments,
    finish,
    percentile,
    print_header,
    print_load,
    print_ratio,
    print_table,
)
from benchmarks.worker import PACTE_QUEUE, BenchmarkWorker
from devkit.stack import PortalProcess, Servers
from infra.database import create_pool
from infra.portal_settings import LINK_SECRET_VARIABLE, contact_link_token
from schemas.convention import (
    MAX_PARTIES,
    Contact,
    Convention,
    ConventionKind,
    DraftingStage,
    Officer,
    Party,
    PartyKind,
)
from schemas.milestones import MilestoneKind
from schemas.values import DocumentRef

REVIEWERS_PER_CONVENTION = MAX_PARTIES - 1  # the office is the 50th party
RETRY_SECONDS = 180.0
"""How long a client keeps retrying one request (the killed replica's reservations included)."""
_HIDDEN = re.compile(r"<input[^>]*type=\"hidden\"[^>]*>")
_NAME = re.compile(r"name=\"([^\"]+)\"")
_VALUE = re.compile(r"value=\"([^\"]*)\"")


def parse_arguments(argv: list[str] | None = None) -> argparse.Namespace:
    """The sizes; --quick: small ones."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.people_load",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_common_arguments(parser)
    parser.add_argument("--tasks", type=int, help="tasks open at once, each run (5,000)")
    parser.add_argument("--contacts", type=int, help="contacts answering through pages (200)")
    parser.add_argument("--systems", type=int, help="partner systems answering by API (50)")
    parser.add_argument(
        "--page-share", type=float, default=0.5, help="the tasks' share answered by pages (0.5)"
    )
    parser.add_argument("--replicas", type=int, default=2, help="portal replicas (2)")
    parser.add_argument("--workers", type=int, default=2, help="product workers (2)")
    parser.add_argument(
        "--no-kill", action="store_true", help="the normal run only (no replica killed)"
    )
    args = parser.parse_args(argv)
    args.tasks = args.tasks or (200 if args.quick else 5000)
    args.contacts = args.contacts or (10 if args.quick else 200)
    args.systems = args.systems or (5 if args.quick else 50)
    if not 0 <= args.page_share <= 1:
        parser.error("--page-share: between 0 and 1")
    args.page_tasks = round(args.tasks * args.page_share)
    args.api_tasks = args.tasks - args.page_tasks
    if args.page_tasks and args.page_tasks < args.contacts:
        parser.error("--tasks: at least one page task per contact")
    if args.api_tasks and args.api_tasks < args.systems:
        parser.error("--tasks: at least one API task per system")
    if args.replicas < 1 or (args.replicas < 2 and not args.no_kill):
        parser.error("--replicas: at least 2 to kill one (else --no-kill)")
    return args


# --- the conventions the contacts review --------------------------------------------------


def contact_party(index: int) -> str:
    """The party of contact number `index` (one contact each)."""
    return f"people-{index:03d}"


def contact_name(index: int) -> str:
    """Contact number `index`."""
    return f"Contact {index:03d}"


def review_conventions(run: str, contacts: int, tasks: int) -> list[Convention]:
    """Drafting conventions whose reviews total `tasks`, review j owed by contact j % C, at
    most 49 reviewers per convention, all open at once."""
    office = Party(
        id="ofppt",
        name="Office de la Formation Professionnelle et de la Promotion du Travail",
        kind=PartyKind.TRAINING_OFFICE,
        country="MA",
    )
    size = min(REVIEWERS_PER_CONVENTION, contacts)
    conventions = []
    for number, first in enumerate(range(0, tasks, size)):
        owners = [j % contacts for j in range(first, min(first + size, tasks))]
        parties = [
            Party(
                id=contact_party(index),
                name=f"Organisation {index:03d}",
                kind=PartyKind.COMPANY,
                country="MA",
                contacts=[
                    Contact(name=contact_name(index), email=f"contact{index:03d}@people.example")
                ],
            )
            for index in owners
        ]
        conventions.append(
            Convention(
                id=f"people-load-{run}-{number:03d}",
                title=f"Convention de partenariat {number:03d} (relecture)",
                kind=ConventionKind.PARTNERSHIP,
                officer=Officer(name="Chargé de coopération"),
                parties=[office, *parties],
                stages=[
                    DraftingStage(
                        document=DocumentRef(uri=f"https://docs.example/people-{number:03d}.pdf"),
                        reviewers=[party.id for party in parties],
                        due_in_days=30,
                    )
                ],
            )
        )
    return conventions


# --- the replicas and the clients ----------------------------------------------------------


@dataclass
class Replicas:
    """The portal replicas' addresses; which one each client starts on."""

    urls: list[str]

    def first_for(self, client_number: int) -> int:
        """Clients alternate between the replicas."""
        return client_number % len(self.urls)


@dataclass(frozen=True)
class OpenTask:
    """A task to answer: its convention, its id, its party."""

    convention_id: str
    task_id: str
    assignee: str


@dataclass
class PathFigures:
    """What the clients of one path (pages or API) saw."""

    answered: int = 0
    answered_on_retry: int = 0
    """A retried answer the desk refused as already answered (the first attempt landed)."""
    refused: int = 0
    """A form the desk refused (409): counted answered only if the record holds it."""
    requests: int = 0
    retries: int = 0
    failed_over: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    unanswered: list[str] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)
    post_latencies: list[float] = field(default_factory=list)


class GaveUp(Exception):
    """A request still failing after RETRY_SECONDS."""


class FailoverClient:
    """One person's or system's HTTP client: its replica first, the other on a connection
    error or a 5xx (then it stays there)."""

    def __init__(self, replicas: Replicas, number: int, figures: PathFigures) -> None:
        self.replicas = replicas
        self.current = replicas.first_for(number)
        self.figures = figures
        limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
        # No base URL: the same cookies (the session, on 127.0.0.1) go to either replica.
        self.http = httpx.AsyncClient(timeout=60, limits=limits)

    async def aclose(self) -> None:
        """Close the connections."""
        await self.http.aclose()

    async def send(
        self,
        method: str,
        path: str,
        *,
        retry_on: Callable[[httpx.Response], bool] = lambda response: False,
        **kwargs: object,
    ) -> tuple[httpx.Response, bool]:
        """The response (never a 5xx) and whether the request had to be sent again."""
        deadline = time.monotonic() + RETRY_SECONDS
        retried = False
        pause = 0.1
        while True:
            self.figures.requests += 1
            try:
                response = await self.http.request(
                    method,
                    self.replicas.urls[self.current] + path,
                    **kwargs,  # type: ignore[arg-type]
                )
            except httpx.TransportError as error:
                self.figures.errors[type(error).__name__] += 1
                self._fail_over()
            else:
                if response.status_code < 500 and not retry_on(response):
                    return response, retried
                self.figures.errors[str(response.status_code)] += 1
                if response.status_code >= 500:
                    self._fail_over()
            if time.monotonic() > deadline:
                raise GaveUp(f"{method} {path}: still failing after {RETRY_SECONDS:.0f} s")
            retried = True
            self.figures.retries += 1
            await asyncio.sleep(pause)
            pause = min(2.0, pause * 2)

    def _fail_over(self) -> None:
        if len(self.replicas.urls) > 1:
            self.current = (self.current + 1) % len(self.replicas.urls)
            self.figures.failed_over += 1


def form_fields(page: str) -> dict[str, str]:
    """The form's hidden fields (the CSRF token among them), as a browser sends them."""
    fields = {}
    for tag in _HIDDEN.findall(page):
        name, value = _NAME.search(tag), _VALUE.search(tag)
        if name is not None:
            fields[name.group(1)] = value.group(1) if value is not None else ""
    return fields


async def answer_by_page(
    client: FailoverClient, secret: bytes, contact: str, task: OpenTask
) -> None:
    """From the e-mailed link to the receipt, as a browser does."""
    token = contact_link_token(
        secret, f"{task.convention_id}/{task.task_id}/task.assigned", contact
    )
    started = time.perf_counter()
    opened, _ = await client.send("GET", f"/t/{token}", follow_redirects=False)
    if opened.status_code != 303:
        raise RuntimeError(f"the link of {task.task_id} answered {opened.status_code}")
    location = opened.headers["location"]
    page, _ = await client.send("GET", location)
    if page.status_code != 200 or 'name="csrf"' not in page.text:
        raise RuntimeError(f"the task page of {task.task_id} answered {page.status_code}")
    form = {**form_fields(page.text), "decision": "approve", "comments": ""}
    posted = time.perf_counter()
    answered, _retried = await client.send("POST", location, data=form)
    done = time.perf_counter()
    figures = client.figures
    if answered.status_code == 200:
        figures.answered += 1
    elif answered.status_code == 409:
        # The desk refused the form over what was typed (its reason on the page, which also
        # names the contact signed in): whether an earlier form landed, the record says.
        figures.refused += 1
    else:
        raise RuntimeError(
            f"the answer to {task.convention_id} {task.task_id} got {answered.status_code}"
        )
    figures.latencies.append(done - started)
    figures.post_latencies.append(done - posted)


def _in_progress(response: httpx.Response) -> bool:
    """A 409 for a request under the same Idempotency-Key not finished (ask again)."""
    return response.status_code == 409 and "still in progress" in response.text


async def answer_by_api(client: FailoverClient, key: Key, task: OpenTask) -> None:
    """One POST with its Idempotency-Key, retried with the same key."""
    headers = {**key.headers, "idempotency-key": f"people-load/{task.convention_id}/{task.task_id}"}
    started = time.perf_counter()
    response, _retried = await client.send(
        "POST",
        f"/api/v1/tasks/{task.convention_id}/{task.task_id}/answer",
        json={"answer": {"decision": "sign"}},
        headers=headers,
        retry_on=_in_progress,
    )
    done = time.perf_counter()
    figures = client.figures
    if response.status_code == 200 and response.json().get("task_id") == task.task_id:
        figures.answered += 1
    elif response.status_code == 409 and key.name in response.text:
        figures.answered_on_retry += 1  # an earlier attempt's update landed: named as ours
    else:
        raise RuntimeError(
            f"the API refused {task.convention_id} {task.task_id}: "
            f"{response.status_code} {response.text[:300]}"
        )
    figures.latencies.append(done - started)
    figures.post_latencies.append(done - started)


# --- one run -------------------------------------------------------------------------------


@dataclass
class RunFigures:
    """One run: what the clients saw, and the record's count."""

    name: str
    seconds: float = 0.0
    pages: PathFigures = field(default_factory=PathFigures)
    api: PathFigures = field(default_factory=PathFigures)
    killed_after: int | None = None
    recorded_once: int = 0
    lost: list[str] = field(default_factory=list)
    doubled: list[str] = field(default_factory=list)

    @property
    def answered(self) -> int:
        """Answers the clients saw recorded."""
        return sum(p.answered + p.answered_on_retry for p in (self.pages, self.api))

    @property
    def rate(self) -> float:
        """Answers per second."""
        return self.answered / self.seconds if self.seconds else 0.0


@contextlib.asynccontextmanager
async def replicas_up(
    servers: Servers, secret_text: str, count: int, run: str
) -> AsyncIterator[list[PortalProcess]]:
    """`count` partner desks (`python portal.py`), each its own process and port."""
    async with contextlib.AsyncExitStack() as stack:
        started = []
        for number in range(count):
            desk = PortalProcess(
                servers.environment(PACTE_QUEUE, **{LINK_SECRET_VARIABLE: secret_text}),
                servers.directory / f"portal-{run}-{'ABCDEFGH'[number]}.log",
            )
            started.append(await stack.enter_async_context(desk))
        yield started


async def open_tasks(
    pool: asyncpg.Pool, client: Client, run: str, args: argparse.Namespace
) -> tuple[list[Convention], list[OpenTask]]:
    """Start the run's conventions; their tasks, once all are open and their links minted."""
    conventions = review_conventions(run, args.contacts, args.page_tasks) if args.page_tasks else []
    if args.api_tasks:
        conventions += signature_conventions(run, args.systems, args.api_tasks)
    started = time.perf_counter()
    await run_bounded(
        [
            functools.partial(start_convention, client, convention, PACTE_QUEUE)
            for convention in conventions
        ],
        8,
    )
    await wait_until_open(pool, client, conventions, args.tasks)
    rows = await pool.fetch(
        "SELECT convention_id, task_id, assignee FROM tasks"
        " WHERE convention_id = ANY($1) AND status = 'open' ORDER BY convention_id, task_id",
        [c.id for c in conventions],
    )
    print(
        f"   {len(conventions)} conventions started, {len(rows):,} tasks open and their links "
        f"minted in {time.perf_counter() - started:.1f} s",
        flush=True,
    )
    return conventions, [OpenTask(r["convention_id"], r["task_id"], r["assignee"]) for r in rows]


async def answer_all(
    run: RunFigures,
    replicas: list[PortalProcess],
    secret: bytes,
    keys: dict[str, Key],
    tasks: list[OpenTask],
    args: argparse.Namespace,
    *,
    kill: bool,
) -> None:
    """Every contact and system answers its tasks, all at once; with `kill`, the last
    replica is SIGKILLed once half the answers are in."""
    addresses = Replicas([replica.base_url for replica in replicas])
    owed: dict[str, list[OpenTask]] = {}
    for task in tasks:
        owed.setdefault(task.assignee, []).append(task)
    for number, (_party, listed) in enumerate(sorted(owed.items())):
        # Each in its own order, as people and systems do: not all on one convention first.
        random.Random(number).shuffle(listed)
    jobs: list[Callable[[], Awaitable[None]]] = []
    clients: list[FailoverClient] = []

    for index in range(args.contacts):
        party = contact_party(index)
        if party not in owed:
            continue
        pages = FailoverClient(addresses, index, run.pages)
        clients.append(pages)
        jobs.append(
            _each(
                owed[party],
                run.pages,
                functools.partial(answer_by_page, pages, secret, contact_name(index)),
            )
        )
    for index in range(args.systems):
        party = partner_id(index)
        if party not in owed:
            continue
        api = FailoverClient(addresses, index, run.api)
        clients.append(api)
        jobs.append(_each(owed[party], run.api, functools.partial(answer_by_api, api, keys[party])))

    async def killer() -> None:
        while run.answered < len(tasks) // 2:  # noqa: ASYNC110 (plain counters, polled)
            await asyncio.sleep(0.05)
        victim = replicas[-1]
        assert victim.process is not None
        victim.process.kill()  # SIGKILL: no goodbye, requests in flight cut
        run.killed_after = run.answered
        print(
            f"   replica {victim.base_url} killed (SIGKILL) after {run.answered:,} answers",
            flush=True,
        )

    killing = asyncio.create_task(killer()) if kill else None
    started = time.perf_counter()
    try:
        await asyncio.gather(*(job() for job in jobs))
    finally:
        run.seconds = time.perf_counter() - started
        if killing is not None and not killing.done():
            killing.cancel()
        for client in clients:
            await client.aclose()


def _each(
    tasks: list[OpenTask],
    figures: PathFigures,
    answer: Callable[[OpenTask], Awaitable[None]],
) -> Callable[[], Awaitable[None]]:
    async def run() -> None:
        for task in tasks:
            try:
                await answer(task)
            except (GaveUp, RuntimeError) as error:
                figures.unanswered.append(f"{task.convention_id} {task.task_id}: {error}")

    return run


async def count_record(
    pool: asyncpg.Pool, client: Client, run: RunFigures, tasks: list[OpenTask]
) -> None:
    """Per task, its `task_answered` milestones and the updates its workflow accepted:
    exactly one of each (milestones are written by activities: waited for, a minute)."""
    ids = sorted({task.convention_id for task in tasks})
    deadline = time.monotonic() + 60
    while True:
        rows = await pool.fetch(
            "SELECT convention_id, task_id, count(*) AS n FROM milestones"
            " WHERE convention_id = ANY($1) AND kind = $2 GROUP BY convention_id, task_id",
            ids,
            MilestoneKind.TASK_ANSWERED.value,
        )
        if len(rows) >= len(tasks) or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.5)
    milestones = {(r["convention_id"], r["task_id"]): r["n"] for r in rows}
    accepted: dict[str, Counter[str]] = {}
    for convention_id in ids:
        accepted[convention_id] = await accepted_answers(client, convention_id)
    for task in tasks:
        name = f"{task.convention_id} {task.task_id}"
        recorded = milestones.get((task.convention_id, task.task_id), 0)
        taken = accepted[task.convention_id][task.task_id]
        if min(recorded, taken) == 0:
            run.lost.append(name)
        elif max(recorded, taken) > 1:
            run.doubled.append(name)
        else:
            run.recorded_once += 1


async def one_run(
    name: str,
    servers: Servers,
    pool: asyncpg.Pool,
    client: Client,
    secret_text: str,
    keys: dict[str, Key],
    args: argparse.Namespace,
    *,
    kill: bool,
) -> RunFigures:
    """Fresh tasks, fresh replicas; everyone answers; the record counted."""
    figures = RunFigures(name)
    run = uuid.uuid4().hex[:6]
    print(f"-- {name} run: {args.tasks:,} tasks, {args.replicas} replicas", flush=True)
    _conventions, tasks = await open_tasks(pool, client, run, args)
    async with replicas_up(servers, secret_text, args.replicas, name) as replicas:
        for replica in replicas:
            print(f"   partner desk (portal.py, uvicorn) at {replica.base_url}", flush=True)
        print_load(f"before the {name} run's answers")
        await answer_all(
            figures, replicas, base64.b64decode(secret_text), keys, tasks, args, kill=kill
        )
        print_load(f"after the {name} run's answers")
    await count_record(pool, client, figures, tasks)
    print_run(figures, len(tasks))
    return figures


def print_run(run: RunFigures, tasks: int) -> None:
    """The run's table."""
    rows: list[list[object]] = [
        ["tasks open at once", tasks],
        ["seconds, first request to last answer", run.seconds],
        ["answers/s", run.rate],
        ["replica killed after (answers)", "-" if run.killed_after is None else run.killed_after],
    ]
    for label, path in (("pages", run.pages), ("API", run.api)):
        errors = ", ".join(f"{what}: {n}" for what, n in sorted(path.errors.items())) or "none"
        rows += [
            [f"{label}: answered (receipt)", path.answered],
            [f"{label}: answered, the retry told it had landed (409)", path.answered_on_retry],
            [f"{label}: refused (409; the record says whether it landed)", path.refused],
            [f"{label}: requests sent", path.requests],
            [f"{label}: retries (same request again)", path.retries],
            [f"{label}: switched to the other replica", path.failed_over],
            [f"{label}: errors seen (each retried)", errors],
            [f"{label}: given up", len(path.unanswered)],
            [
                f"{label}: answer p50 ms (client, retries included)",
                1000 * percentile(path.latencies, 0.5),
            ],
            [f"{label}: answer p95 ms", 1000 * percentile(path.latencies, 0.95)],
        ]
        if path is run.pages:
            rows += [
                ["pages: the form's POST p50 ms", 1000 * percentile(path.post_latencies, 0.5)],
                ["pages: the form's POST p95 ms", 1000 * percentile(path.post_latencies, 0.95)],
            ]
    rows += [
        ["recorded exactly once (milestone and update)", run.recorded_once],
        ["lost", len(run.lost)],
        ["doubled", len(run.doubled)],
    ]
    print_table([f"{run.name} run", "value"], rows)
    for what, names in (
        ("lost", run.lost),
        ("doubled", run.doubled),
        ("pages gave up", run.pages.unanswered),
        ("API gave up", run.api.unanswered),
    ):
        for entry in names[:10]:
            print(f"   {what}: {entry}", flush=True)


async def _run(args: argparse.Namespace, servers: Servers, secret_text: str) -> int:
    client = await servers.client()
    pool = await create_pool(servers.database_url, max_size=4)
    try:
        keys = await make_keys(pool, [partner_id(index) for index in range(args.systems)])
        async with contextlib.AsyncExitStack() as stack:
            for number in range(args.workers):
                stack.enter_context(
                    BenchmarkWorker(servers, pacte=True, name=f"worker-{number + 1}")
                )
            runs = [
                await one_run("normal", servers, pool, client, secret_text, keys, args, kill=False)
            ]
            if not args.no_kill:
                runs.append(
                    await one_run("kill", servers, pool, client, secret_text, keys, args, kill=True)
                )
    finally:
        await pool.close()
    for run in runs:
        print_ratio(f"lost answers, {run.name} run", len(run.lost), target=0, at_least=False)
        print_ratio(f"doubled answers, {run.name} run", len(run.doubled), target=0, at_least=False)
    normal = runs[0]
    print_ratio("normal run answers per second", normal.rate, target=None, at_least=True)
    if len(runs) > 1:
        print_ratio(
            "kill run / normal run answers per second",
            runs[1].rate / normal.rate if normal.rate else 0.0,
            target=None,
            at_least=True,
        )
    for run in runs:
        for label, path in (("pages", run.pages), ("API", run.api)):
            print(
                f"   {run.name}: {label} p50 {1000 * percentile(path.latencies, 0.5):,.0f} ms, "
                f"p95 {1000 * percentile(path.latencies, 0.95):,.0f} ms, "
                f"{path.retries} retries",
                flush=True,
            )
    failed = any(
        run.lost or run.doubled or run.pages.unanswered or run.api.unanswered for run in runs
    )
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    """Parse, start the servers, the workers and the replicas, run, print."""
    args = parse_arguments(argv)
    print_header(
        "people load",
        {
            "tasks": args.tasks,
            "page_tasks": args.page_tasks,
            "api_tasks": args.api_tasks,
            "contacts": args.contacts,
            "systems": args.systems,
            "replicas": args.replicas,
            "workers": args.workers,
            "kill_run": not args.no_kill,
        },
    )
    # The workers mint the contacts' links with the secret the desks recognise them by.
    secret_text = base64.b64encode(os.urandom(32)).decode()
    os.environ[LINK_SECRET_VARIABLE] = secret_text
    with Servers(keep=args.keep) as servers:
        return asyncio.run(_run(args, servers, secret_text))


if __name__ == "__main__":
    finish(main)
