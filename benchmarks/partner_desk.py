"""The partner desk (issue 11, "Measured"): an answer through the API, many partners at once,
the task page.

Real servers throughout: the harness's Temporal dev server and embedded PostgreSQL, the
product's worker in its own process, and the partner desk as it is deployed, `portal.py` on
uvicorn in its own process, sharing PACTE_LINK_SECRET with the worker. The driver speaks
HTTP to it with httpx, with API keys made by `create_key` (what `starter.py keys create`
calls).

1. Latency. Bamako's eight scripted answers, each POSTed to
   `/api/v1/tasks/{convention}/{task}/answer` (Bearer key, Idempotency-Key), timed from the
   request to the 200 and its receipt; against it the bare Temporal update, from the
   driver's client, of the same answer (the AnswerTask the desk sends, principal included) to
   `BareWaiter`, a workflow that accepts anything. Answer by answer, both workflows idle
   before each, the side that goes first alternating, so a change of load hits both; one
   convention of each side warms up first, untimed. Target: the API's p50 and p95 at most
   1.3 times the bare update's, and (issue 27) 1.2 times the HTTP floor's
   (`benchmarks/http_floor.py`: the same update forwarded by a bare FastAPI route). The
   floor also forwards, to a twin of Pacte's convention, the AnswerTask the desk would send
   (`/pacte/…`): the API ÷ that hop is what the desk itself adds.
   Not the same work, by design: the API authenticates the key, reserves the
   Idempotency-Key and finds the task in the partners' inbox read model in one statement
   (its commit not waiting for the disk; the workflow's `task` query is asked only when the
   inbox has no row for the task yet), validates the answer, sends the update to Pacte's
   workflow (whose validator checks the principal, whose handler records the answer), and
   keeps the receipt (a second statement, whose commit waits). The bare side is one update
   to a workflow that does nothing with it: the floor is Pacte's own update, which
   `answer_latency` compares with the same bare one. A bare query plus update is printed
   beside it, no target. Every answer of the script goes through the API, the office's
   (ofppt) with a key of its own too.
2. Throughput. `--partners` parties (one API key each) owe `--tasks` signatures, all open
   at once (conventions built here: a parallel signature stage of up to 40 signatories, each
   partner signing in several). Each partner lists its open tasks (`GET /api/v1/tasks`),
   then, all together, answers them one after another, retrying a failed request with the
   same Idempotency-Key as a partner's system would. Printed: answers/s, errors by status,
   then the check, from PostgreSQL's milestones and from the workflows themselves, that each
   task was answered exactly once, by its partner's key: 0 lost, 0 doubled (else exit 1).
3. The task page. `--page-requests` contacts open their e-mailed link (`GET /t/<token>`,
   which opens a session and redirects) and then the task page it leads to (the form), one
   request at a time; the server's own time, from the desk's `Server-Timing` header, p50 and
   p95 of each.

    .venv/bin/python -m benchmarks.partner_desk [--conventions 30] [--partners 50]
        [--tasks 1000] [--page-requests 200] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import functools
import os
import re
import sys
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # also as a file

import asyncpg
import httpx
from pydantic_core import to_jsonable_python
from temporalio.client import Client, WorkflowHandle

from application.conventions import build_answer, find_task, start_convention
from application.partner import create_key
from benchmarks.bamako import bamako_answers, bamako_convention
from benchmarks.bare_workflows import BareWaiter
from benchmarks.histories import wait_idle
from benchmarks.metering import CpuMeter
from benchmarks.report import (
    add_common_arguments,
    finish,
    percentile,
    print_header,
    print_load,
    print_ratio,
    print_table,
)
from benchmarks.worker import BARE_QUEUE, PACTE_QUEUE, BenchmarkWorker
from devkit.stack import PortalProcess, Servers
from infra.database import create_pool
from infra.portal_settings import LINK_SECRET_VARIABLE, contact_link_token
from schemas.actors import AuthMethod, Principal, PrincipalKind
from schemas.convention import (
    Contact,
    Convention,
    ConventionKind,
    Officer,
    Party,
    PartyKind,
    Signatory,
    SignatureOrder,
    SignatureStage,
)
from schemas.milestones import MilestoneKind
from schemas.status import ConventionState
from schemas.tasks import AnswerTask
from workflows.convention import ConventionWorkflow, workflow_id_for

TARGET = 1.3
FLOOR_TARGET = 1.2  # issue 27: the API answer at most 1.2 times the HTTP floor
SIGNATURES_PER_CONVENTION = 40  # at most 49 partners beside the office (50 parties)
ATTEMPTS = 4  # a partner's system retries a failed answer with the same Idempotency-Key
_TIMING = re.compile(r"app;dur=([0-9.]+)")


def parse_arguments(argv: list[str] | None = None) -> argparse.Namespace:
    """Sizes of the three parts; --quick: small ones."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.partner_desk",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_common_arguments(parser)
    parser.add_argument(
        "--conventions", type=int, help="latency: conventions per side, 8 answers each (30)"
    )
    parser.add_argument("--partners", type=int, help="throughput: partners, one key each (50)")
    parser.add_argument("--tasks", type=int, help="throughput: tasks open at once (1,000)")
    parser.add_argument("--page-requests", type=int, help="task page: links opened (200)")
    args = parser.parse_args(argv)
    args.conventions = args.conventions or (3 if args.quick else 30)
    args.partners = args.partners or (10 if args.quick else 50)
    args.tasks = args.tasks or (100 if args.quick else 1000)
    args.page_requests = args.page_requests or (30 if args.quick else 200)
    if args.tasks < args.partners:
        parser.error("--tasks: at least one task per partner")
    args.page_requests = min(args.page_requests, args.tasks)
    return args


# --- the partner desk in its own process ------------------------------------------------


def desk_process(servers: Servers, secret: str) -> PortalProcess:
    """`python portal.py` over the run's servers, as a deployment starts it."""
    return PortalProcess(
        servers.environment(PACTE_QUEUE, **{LINK_SECRET_VARIABLE: secret}),
        servers.directory / "portal.log",
    )


def floor_process(servers: Servers) -> PortalProcess:
    """`benchmarks/http_floor.py` over the same servers, on uvicorn as the desk is."""
    return PortalProcess(
        servers.environment(PACTE_QUEUE),
        servers.directory / "http_floor.log",
        program=("-m", "benchmarks.http_floor"),
        ready_path="/health",
    )


def server_ms(response: httpx.Response) -> float:
    """The desk's own time for this response, from its Server-Timing header."""
    match = _TIMING.search(response.headers.get("server-timing", ""))
    if match is None:
        raise RuntimeError(f"no Server-Timing header on {response.request.url.path}")
    return float(match.group(1))


# --- 1. latency -------------------------------------------------------------------------


@dataclass
class Key:
    """A party's API key: its secret (for the header) and its id (the principal's)."""

    party: str
    secret: str
    id: str
    name: str

    @property
    def headers(self) -> dict[str, str]:
        """The Authorization header."""
        return {"authorization": f"Bearer {self.secret}"}


async def make_keys(pool: asyncpg.Pool, parties: list[str]) -> dict[str, Key]:
    """One key per party, as `starter.py keys create PARTY --name …` makes it."""
    keys = {}
    for party in parties:
        secret, key = await create_key(pool, party, f"{party} benchmark system")
        keys[party] = Key(party, secret, key.id, key.name)
    return keys


@dataclass
class Latencies:
    """Seconds per answer, per path; the desk's own milliseconds for the API's."""

    paths: dict[str, list[float]] = field(
        default_factory=lambda: {
            "api": [],
            "floor": [],
            "floor_pacte": [],
            "bare": [],
            "bare_query": [],
        }
    )
    server_ms: list[float] = field(default_factory=list)


async def measure_latency(
    client: Client,
    http: httpx.AsyncClient,
    floor: httpx.AsyncClient,
    keys: dict[str, Key],
    count: int,
) -> Latencies:
    """Bamako's answers through the API against the bare update, answer by answer, and the
    same bare update through the HTTP floor (`benchmarks/http_floor.py`)."""
    run = uuid.uuid4().hex[:6]
    samples = Latencies()
    answers = bamako_answers()
    for position in range(count + 1):
        convention = bamako_convention(f"desk-latency-{run}-{position:04d}")
        await start_convention(client, convention, PACTE_QUEUE)
        pacte = client.get_workflow_handle_for(
            ConventionWorkflow.run, workflow_id_for(convention.id)
        )
        # A twin convention, answered through the HTTP floor's route to Pacte's workflow.
        twin = bamako_convention(f"desk-latency-{run}-{position:04d}-floor")
        await start_convention(client, twin, PACTE_QUEUE)
        twin_handle = client.get_workflow_handle_for(
            ConventionWorkflow.run, workflow_id_for(twin.id)
        )
        bare = await client.start_workflow(
            BareWaiter.run, 0, id=f"desk-latency-bare-{run}-{position:04d}", task_queue=BARE_QUEUE
        )
        for number, step in enumerate(answers):
            task = await find_task(client, convention.id, step.task, wait_seconds=120)
            key = keys[step.acting_party]
            principal = Principal(
                kind=PrincipalKind.API_KEY,
                id=key.id,
                name=key.name,
                party=key.party,
                method=AuthMethod.API_KEY,
                request_id=uuid.uuid4().hex,
            )
            # What the desk sends in its update: the same answer, the same principal.
            payload = build_answer(
                task, step.acting_party, step.answer, step.actor or key.name, principal
            ).model_dump(mode="json")
            body = {"answer": to_jsonable_python(step.answer), "actor": step.actor}
            twin_task = await find_task(client, twin.id, step.task, wait_seconds=120)
            twin_payload = build_answer(
                twin_task, step.acting_party, step.answer, step.actor or key.name, principal
            ).model_dump(mode="json")

            api = functools.partial(_api_answer, http, samples, convention.id, step.task, key, body)
            bare_side = functools.partial(_bare_answer, samples, bare, payload)
            floor_side = functools.partial(
                _floor_answer, floor, samples, f"/bare/{bare.id}", payload, "floor"
            )
            floor_pacte = functools.partial(
                _floor_answer, floor, samples, f"/pacte/{twin.id}", twin_payload, "floor_pacte"
            )
            sides = [api, bare_side, floor_side, floor_pacte]
            turn = number % len(sides)
            for side in sides[turn:] + sides[:turn]:  # each goes first in turn
                for handle in (pacte, twin_handle, bare):  # all idle before each timed answer
                    await wait_idle(handle)
                await side()
        await pacte.result()
        await twin_handle.result()
        await bare.signal(BareWaiter.finish)
        await bare.result()
        if position == 0:  # a warm-up: sandboxes, caches and connections are made
            samples = Latencies()
            continue
        if position % 5 == 0 or position == count:
            print(
                f"   {position}/{count} conventions answered "
                f"({len(samples.paths['api'])} answers per side)",
                flush=True,
            )
    return samples


async def _api_answer(
    http: httpx.AsyncClient,
    samples: Latencies,
    convention_id: str,
    task_id: str,
    key: Key,
    body: dict[str, Any],
) -> None:
    started = time.perf_counter()
    response = await http.post(
        f"/api/v1/tasks/{convention_id}/{task_id}/answer",
        json=body,
        headers={**key.headers, "idempotency-key": f"{convention_id}/{task_id}"},
    )
    done = time.perf_counter()
    if response.status_code != 200 or response.json().get("task_id") != task_id:
        raise RuntimeError(f"the desk refused {task_id}: {response.status_code} {response.text}")
    samples.paths["api"].append(done - started)
    samples.server_ms.append(server_ms(response))


async def _bare_answer(
    samples: Latencies,
    bare: WorkflowHandle[Any, Any],
    payload: dict[str, Any],
) -> None:
    started = time.perf_counter()
    await bare.query(BareWaiter.answered)
    sent = time.perf_counter()
    await bare.execute_update(BareWaiter.answer, payload)
    done = time.perf_counter()
    samples.paths["bare"].append(done - sent)
    samples.paths["bare_query"].append(done - started)


async def _floor_answer(
    floor: httpx.AsyncClient,
    samples: Latencies,
    path: str,
    payload: dict[str, Any],
    side: str,
) -> None:
    started = time.perf_counter()
    response = await floor.post(path, json=payload)
    done = time.perf_counter()
    if response.status_code != 200:
        raise RuntimeError(f"the HTTP floor failed: {response.status_code} {response.text}")
    samples.paths[side].append(done - started)


def print_latency(samples: Latencies) -> None:
    """The table and the two ratios with a target."""
    labels = {
        "api": "API: POST …/answer to its receipt",
        "floor": "HTTP floor: POST forwarding the bare update",
        "floor_pacte": "HTTP floor to Pacte's workflow (same update)",
        "bare": "bare update",
        "bare_query": "bare query + update",
    }
    rows: list[list[object]] = []
    for path, label in labels.items():
        values = samples.paths[path]
        rows.append(
            [
                label,
                len(values),
                1000 * percentile(values, 0.5),
                1000 * percentile(values, 0.95),
                1000 * max(values),
            ]
        )
    rows.append(
        [
            "  of which the desk's own (Server-Timing)",
            len(samples.server_ms),
            percentile(samples.server_ms, 0.5),
            percentile(samples.server_ms, 0.95),
            max(samples.server_ms),
        ]
    )
    print_table(["answer path", "answers", "p50 ms", "p95 ms", "max ms"], rows)
    for label, fraction in (("p50", 0.5), ("p95", 0.95)):
        api = percentile(samples.paths["api"], fraction)
        print_ratio(
            f"API answer / bare update latency {label}",
            api / percentile(samples.paths["bare"], fraction),
            target=TARGET,
            at_least=False,
        )
    for label, fraction in (("p50", 0.5), ("p95", 0.95)):
        print_ratio(
            f"API answer / HTTP floor latency {label}",
            percentile(samples.paths["api"], fraction)
            / percentile(samples.paths["floor"], fraction),
            target=FLOOR_TARGET,
            at_least=False,
        )
    for name, path in (
        ("HTTP floor to Pacte's workflow", "floor_pacte"),
        ("bare query + update", "bare_query"),
    ):
        for label, fraction in (("p50", 0.5), ("p95", 0.95)):
            print_ratio(
                f"API answer / {name} latency {label}",
                percentile(samples.paths["api"], fraction)
                / percentile(samples.paths[path], fraction),
                target=None,
                at_least=False,
            )
    for label, fraction in (("p50", 0.5), ("p95", 0.95)):
        print_ratio(
            f"HTTP floor to Pacte's workflow / HTTP floor latency {label}",
            percentile(samples.paths["floor_pacte"], fraction)
            / percentile(samples.paths["floor"], fraction),
            target=None,
            at_least=False,
        )
    for label, fraction in (("p50", 0.5), ("p95", 0.95)):
        print_ratio(
            f"HTTP floor / bare update latency {label}",
            percentile(samples.paths["floor"], fraction)
            / percentile(samples.paths["bare"], fraction),
            target=None,
            at_least=False,
        )


# --- 2. throughput: conventions with many open signatures --------------------------------


def partner_id(index: int) -> str:
    """The id of partner number `index`."""
    return f"partner-{index:02d}"


def contact_name(index: int) -> str:
    """The one contact of partner number `index`."""
    return f"Contact {index:02d}"


def signature_conventions(run: str, partners: int, tasks: int) -> list[Convention]:
    """Conventions whose one stage asks `tasks` signatures in all, task j of partner j % P,
    at most SIGNATURES_PER_CONVENTION per convention, all open at once (parallel)."""
    office = Party(
        id="ofppt",
        name="Office de la Formation Professionnelle et de la Promotion du Travail",
        kind=PartyKind.TRAINING_OFFICE,
        country="MA",
    )
    conventions = []
    for number, first in enumerate(range(0, tasks, SIGNATURES_PER_CONVENTION)):
        owners = [j % partners for j in range(first, min(first + SIGNATURES_PER_CONVENTION, tasks))]
        parties = [office] + [
            Party(
                id=partner_id(index),
                name=f"Partenaire {index:02d}",
                kind=PartyKind.COMPANY,
                country="MA",
                contacts=[
                    Contact(name=contact_name(index), email=f"contact{index:02d}@partner.example")
                ],
            )
            for index in sorted(set(owners))
        ]
        signatories = [
            Signatory(
                id=f"s{first + offset:04d}",
                name=f"Signataire {first + offset:04d}",
                capacity="Directeur général",
                party=partner_id(owner),
            )
            for offset, owner in enumerate(owners)
        ]
        conventions.append(
            Convention(
                id=f"desk-load-{run}-{number:03d}",
                title=f"Convention de partenariat {number:03d} (bureau des partenaires)",
                kind=ConventionKind.PARTNERSHIP,
                officer=Officer(name="Chargé de coopération"),
                parties=parties,
                signatories=signatories,
                stages=[
                    SignatureStage(
                        signatories=[s.id for s in signatories],
                        order=SignatureOrder.PARALLEL,
                        due_in_days=30,
                    )
                ],
            )
        )
    return conventions


@dataclass(frozen=True)
class OpenTask:
    """A task the partner's list shows."""

    convention_id: str
    task_id: str


async def wait_until_open(
    pool: asyncpg.Pool, client: Client, conventions: list[Convention], tasks: int
) -> None:
    """Until every task is in the partners' inbox, every link minted, every workflow idle."""
    ids = [c.id for c in conventions]
    deadline = time.monotonic() + 600
    while True:
        open_rows = await pool.fetchval(
            "SELECT count(*) FROM tasks WHERE convention_id = ANY($1) AND status = 'open'", ids
        )
        links = await pool.fetchval(
            "SELECT count(*) FROM partner_links WHERE convention_id = ANY($1)", ids
        )
        if open_rows == tasks and links == tasks:
            break
        if time.monotonic() > deadline:
            raise RuntimeError(f"after 10 min, {open_rows} tasks open, {links} links minted")
        await asyncio.sleep(0.5)
    for convention_id in ids:
        await wait_idle(client.get_workflow_handle(workflow_id_for(convention_id)), 0.1)


@dataclass
class Load:
    """What the partners saw."""

    seconds: float = 0.0
    answered: int = 0
    attempts: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    unanswered: list[OpenTask] = field(default_factory=list)
    listed: int = 0
    latencies: list[float] = field(default_factory=list)


async def run_partners(base_url: str, keys: dict[str, Key], expected_each: dict[str, int]) -> Load:
    """Every partner lists its open tasks, then all answer theirs at once."""
    load = Load()
    go = asyncio.Event()
    listed: list[int] = []

    async def partner(key: Key) -> None:
        limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
        async with httpx.AsyncClient(base_url=base_url, timeout=120, limits=limits) as http:
            response = await http.get("/api/v1/tasks", headers=key.headers)
            response.raise_for_status()
            owed = [
                OpenTask(entry["convention_id"], entry["task_id"])
                for entry in response.json()["tasks"]
                if entry["convention_id"].startswith("desk-load-")
            ]
            if len(owed) != expected_each[key.party]:
                raise RuntimeError(
                    f"{key.party} lists {len(owed)} open tasks, {expected_each[key.party]} owed"
                )
            listed.append(len(owed))
            await go.wait()
            for task in owed:
                await answer_one(http, key, task)

    async def answer_one(http: httpx.AsyncClient, key: Key, task: OpenTask) -> None:
        headers = {**key.headers, "idempotency-key": f"load/{task.convention_id}/{task.task_id}"}
        body = {"answer": {"decision": "sign"}, "actor": contact_name(int(key.party[-2:]))}
        started = time.perf_counter()
        for attempt in range(ATTEMPTS):
            load.attempts += 1
            try:
                response = await http.post(
                    f"/api/v1/tasks/{task.convention_id}/{task.task_id}/answer",
                    json=body,
                    headers=headers,
                )
            except httpx.HTTPError as error:
                load.errors[type(error).__name__] += 1
            else:
                if response.status_code == 200:
                    load.answered += 1
                    load.latencies.append(time.perf_counter() - started)
                    return
                load.errors[str(response.status_code)] += 1
                if response.status_code < 500 and response.status_code not in (409, 429):
                    break  # refused for good: retrying the same request cannot help
            await asyncio.sleep(0.2 * 2**attempt)
        load.unanswered.append(task)

    runners = [asyncio.create_task(partner(key)) for key in keys.values()]
    while len(listed) < len(runners):
        done = [runner for runner in runners if runner.done()]
        for runner in done:
            runner.result()  # a partner that failed to list: raise its error
        await asyncio.sleep(0.05)
    load.listed = sum(listed)
    started = time.perf_counter()
    go.set()
    await asyncio.gather(*runners)
    load.seconds = time.perf_counter() - started
    return load


@dataclass
class Check:
    """Each task's answer, as PostgreSQL's milestones and the workflows recorded it."""

    recorded_once: int = 0
    lost: list[str] = field(default_factory=list)
    doubled: list[str] = field(default_factory=list)
    wrong_key: list[str] = field(default_factory=list)
    updates_accepted: int = 0
    completed: int = 0


async def check_answers(
    pool: asyncpg.Pool,
    client: Client,
    conventions: list[Convention],
    keys: dict[str, Key],
) -> Check:
    """0 lost, 0 doubled: per task, one `task_answered` and one `signed` milestone in
    PostgreSQL, by the partner's key; and in each workflow's history, one accepted
    `answer_task` update for it (read from the history: a query to a closed workflow would
    replay its 2,000 events each time), every convention completed."""
    check = Check()
    for convention in conventions:
        outcome = await client.get_workflow_handle_for(
            ConventionWorkflow.run, workflow_id_for(convention.id)
        ).result()
        check.completed += outcome.state is ConventionState.COMPLETED
    rows = await pool.fetch(
        "SELECT convention_id, task_id, kind, details FROM milestones"
        " WHERE convention_id = ANY($1) AND kind = ANY($2)",
        [c.id for c in conventions],
        [MilestoneKind.TASK_ANSWERED.value, MilestoneKind.SIGNED.value],
    )
    counts: Counter[tuple[str, str, str]] = Counter()
    principals: dict[tuple[str, str], str | None] = {}
    for row in rows:
        counts[row["convention_id"], row["task_id"], row["kind"]] += 1
        if row["kind"] == MilestoneKind.TASK_ANSWERED.value:
            principals[row["convention_id"], row["task_id"]] = (
                row["details"].get("principal") or {}
            ).get("id")
    for convention in conventions:
        accepted = await accepted_answers(client, convention.id)
        check.updates_accepted += sum(accepted.values())
        for signatory in convention.signatories:
            task_id = f"signature.sign.{signatory.id}"
            name = f"{convention.id} {task_id}"
            answered = counts[convention.id, task_id, MilestoneKind.TASK_ANSWERED.value]
            signed = counts[convention.id, task_id, MilestoneKind.SIGNED.value]
            taken = accepted[task_id]
            if min(answered, signed, taken) == 0:
                check.lost.append(name)
            elif max(answered, signed, taken) > 1:
                check.doubled.append(name)
            else:
                check.recorded_once += 1
            if principals.get((convention.id, task_id)) != keys[signatory.party].id:
                check.wrong_key.append(name)
    return check


async def accepted_answers(client: Client, convention_id: str) -> Counter[str]:
    """The answers the workflow accepted, per task, decoded from its history's updates."""
    handle = client.get_workflow_handle(workflow_id_for(convention_id))
    taken: Counter[str] = Counter()
    async for event in handle.fetch_history_events():
        if not event.HasField("workflow_execution_update_accepted_event_attributes"):
            continue
        request = event.workflow_execution_update_accepted_event_attributes.accepted_request
        if request.input.name != "answer_task":
            continue
        [answer] = await client.data_converter.decode(request.input.args.payloads, [AnswerTask])
        assert isinstance(answer, AnswerTask)
        taken[answer.task_id] += 1
    return taken


# --- 3. the task page --------------------------------------------------------------------


async def measure_task_page(
    base_url: str, secret: bytes, conventions: list[Convention], count: int
) -> dict[str, list[float]]:
    """`count` contacts open their link, then the task page; the server's milliseconds."""
    measured: dict[str, list[float]] = {
        "link": [],
        "page": [],
        "link_client": [],
        "page_client": [],
    }
    links = [
        (convention.id, f"signature.sign.{signatory.id}", contact_name(int(signatory.party[-2:])))
        for convention in conventions
        for signatory in convention.signatories
    ]
    # Spread over every convention and partner, not the first convention's tasks only.
    step = max(1, len(links) // count)
    chosen = links[::step][:count]
    for convention_id, task_id, contact in chosen:
        token = contact_link_token(secret, f"{convention_id}/{task_id}/task.assigned", contact)
        async with httpx.AsyncClient(base_url=base_url, timeout=60) as http:  # a new browser
            started = time.perf_counter()
            opened = await http.get(f"/t/{token}")
            measured["link_client"].append(time.perf_counter() - started)
            if opened.status_code != 303:
                raise RuntimeError(f"the link of {task_id} answered {opened.status_code}")
            measured["link"].append(server_ms(opened))
            started = time.perf_counter()
            page = await http.get(opened.headers["location"])
            measured["page_client"].append(time.perf_counter() - started)
            if page.status_code != 200 or 'name="csrf"' not in page.text:
                raise RuntimeError(f"the task page of {task_id} answered {page.status_code}")
            measured["page"].append(server_ms(page))
    return measured


def print_task_page(measured: dict[str, list[float]]) -> None:
    """Server time (Server-Timing) and what the client saw, p50 and p95."""
    rows: list[list[object]] = []
    for kind, label in (
        ("link", "GET /t/<token> (session opened, 303)"),
        ("page", "GET /desk/tasks/… (the form)"),
    ):
        server = measured[kind]
        client = [1000 * s for s in measured[f"{kind}_client"]]
        rows.append(
            [
                label,
                len(server),
                percentile(server, 0.5),
                percentile(server, 0.95),
                percentile(client, 0.5),
                percentile(client, 0.95),
            ]
        )
    print_table(
        ["task page", "requests", "server p50 ms", "server p95 ms", "client p50", "client p95"],
        rows,
    )


# --- the run -----------------------------------------------------------------------------


async def _run(args: argparse.Namespace, servers: Servers, secret_text: str) -> int:
    client = await servers.client()
    secret = base64.b64decode(secret_text)
    pool = await create_pool(servers.database_url, max_size=4)
    partners = [partner_id(index) for index in range(args.partners)]
    try:
        bamako_parties = sorted({step.acting_party for step in bamako_answers()})
        keys = await make_keys(pool, bamako_parties)
        partner_keys = await make_keys(pool, partners)
        with BenchmarkWorker(servers, pacte=True, bare=True) as worker:
            async with (
                desk_process(servers, secret_text) as portal,
                floor_process(servers) as floor,
            ):
                print(f"   partner desk (portal.py, uvicorn) at {portal.base_url}", flush=True)
                print(f"   HTTP floor (benchmarks/http_floor.py) at {floor.base_url}", flush=True)
                print_load("before")
                print("-- 1. latency: an answer through the API against a bare update", flush=True)
                async with (
                    httpx.AsyncClient(base_url=portal.base_url, timeout=60) as http,
                    httpx.AsyncClient(base_url=floor.base_url, timeout=60) as floor_http,
                ):
                    latencies = await measure_latency(
                        client, http, floor_http, keys, args.conventions
                    )
                print_latency(latencies)
                print_load("after the latency")

                print(
                    f"-- 2. throughput: {args.partners} partners, "
                    f"{args.tasks:,} tasks open at once",
                    flush=True,
                )
                run = uuid.uuid4().hex[:6]
                conventions = signature_conventions(run, args.partners, args.tasks)
                started = time.perf_counter()
                for convention in conventions:
                    await start_convention(client, convention, PACTE_QUEUE)
                await wait_until_open(pool, client, conventions, args.tasks)
                print(
                    f"   {len(conventions)} conventions started, {args.tasks:,} signatures open "
                    f"and their links minted in {time.perf_counter() - started:.1f} s",
                    flush=True,
                )

                print(
                    f"-- 3. the task page: {args.page_requests} links opened, one at a time",
                    flush=True,
                )
                pages = await measure_task_page(
                    portal.base_url, secret, conventions, args.page_requests
                )
                print_task_page(pages)

                print("-- 2. (continued) the partners answer", flush=True)
                expected = Counter(j % args.partners for j in range(args.tasks))
                meter = CpuMeter(servers, worker)
                portal_cpu = portal.cpu_seconds()
                load = await run_partners(
                    portal.base_url,
                    partner_keys,
                    {partner_id(index): count for index, count in expected.items()},
                )
                spent = {
                    **meter.spent(),
                    "partner desk (portal.py)": portal.cpu_seconds() - portal_cpu,
                }
                print_load("after the answers")
                check = await check_answers(pool, client, conventions, partner_keys)
        rate = load.answered / load.seconds if load.seconds else 0.0
        errors = ", ".join(f"{status}: {n}" for status, n in sorted(load.errors.items())) or "none"
        print_table(
            ["partners answering at once", "value"],
            [
                ["partners (one key each)", args.partners],
                ["tasks open, listed by their partners", load.listed],
                ["answered (200 with a receipt)", load.answered],
                ["requests sent (with retries)", load.attempts],
                ["errors by status (each retried)", errors],
                ["unanswered after retries", len(load.unanswered)],
                ["seconds, first answer sent to last receipt", load.seconds],
                ["answers/s", rate],
                ["answer p50 ms (as the partner saw it)", 1000 * percentile(load.latencies, 0.5)],
                ["answer p95 ms", 1000 * percentile(load.latencies, 0.95)],
                ["answers accepted by the workflows (updates)", check.updates_accepted],
                ["recorded exactly once (milestones and updates)", check.recorded_once],
                [f"conventions completed (of {len(conventions)})", check.completed],
                ["recorded under another key", len(check.wrong_key)],
                ["lost", len(check.lost)],
                ["doubled", len(check.doubled)],
            ],
        )
        print_table(
            ["CPU while the partners answered", "seconds", "ms per answer"],
            [
                [name, seconds, 1000 * seconds / max(load.answered, 1)]
                for name, seconds in sorted(spent.items(), key=lambda item: -item[1])
            ],
        )
        print(
            f"   lost {len(check.lost)}, doubled {len(check.doubled)}; "
            f"{rate:,.1f} answers/s; task page server time p95 "
            f"{percentile(pages['page'], 0.95):.1f} ms "
            f"(the link's {percentile(pages['link'], 0.95):.1f} ms)",
            flush=True,
        )
        failed = (
            check.lost
            or check.doubled
            or check.wrong_key
            or load.unanswered
            or check.updates_accepted != args.tasks
            or check.completed != len(conventions)
        )
        for what, names in (("lost", check.lost), ("doubled", check.doubled)):
            for name in names[:10]:
                print(f"   {what}: {name}")
        return 1 if failed else 0
    finally:
        await pool.close()


def main(argv: list[str] | None = None) -> int:
    """Parse, start the servers, the worker and the desk, measure, print."""
    args = parse_arguments(argv)
    print_header(
        "partner desk",
        {
            "conventions": args.conventions,
            "answers_each": len(bamako_answers()),
            "partners": args.partners,
            "tasks": args.tasks,
            "page_requests": args.page_requests,
        },
    )
    # The worker mints the contacts' links with the secret the desk recognises them by.
    secret_text = base64.b64encode(os.urandom(32)).decode()
    os.environ[LINK_SECRET_VARIABLE] = secret_text
    with Servers(keep=args.keep) as servers:
        return asyncio.run(_run(args, servers, secret_text))


if __name__ == "__main__":
    finish(main)
