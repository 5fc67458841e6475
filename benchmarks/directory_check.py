"""The partner directory's check on an answer through the API (issue 23, "Tests and figures"):
what asking the directory at the moment of acting adds to an answer.

Two partner desks, both `portal.py` on uvicorn in their own process over the same servers,
the same worker and the same database, whose directory holds Bamako's parties (imported from
its file, as `starter.py start` does): **with**, the desk as deployed, which asks the
directory at the answer (the task's capacity, read in one statement with the directory's
version, carried in the update; the key's organisation, whether archived, is read with the
key itself on both sides); **without**, the same program with that read replaced by the
answer the directory gives for an organisation it does not hold
(`--serve-without-directory`: no query, no version in the update). Bamako's eight
scripted answers, each POSTed with the party's API key to one desk for one convention and to
the other for a twin convention, answer by answer, both workflows idle before each, the side
that goes first alternating; one pair warms up first, untimed. Also timed: the check alone
(`system_authority(...).check(...)`) from the driver, many times. Target: the API answer's
p50 with the check at most 1.05 times without it (issue 23).

    .venv/bin/python -m benchmarks.directory_check [--conventions 20] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import sys
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # also as a file

import asyncpg
import httpx
from pydantic_core import to_jsonable_python

from application.conventions import find_task, start_convention
from application.directory.authority import Authority, system_authority
from application.directory.editors import Editor, EditorRole
from application.directory.import_proposal import import_files
from benchmarks.bamako import bamako_answers, bamako_convention
from benchmarks.histories import wait_idle
from benchmarks.partner_desk import Key, desk_process, make_keys, server_ms
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
from infra.portal_settings import LINK_SECRET_VARIABLE
from storage import directory as store
from workflows.convention import ConventionWorkflow, workflow_id_for

TARGET = 1.05
SIDES = ("with", "without")
CHECKS_TIMED = 2_000
EDITOR = Editor("benchmarks/directory_check.py", EditorRole.ADMIN)


@dataclass
class Samples:
    """Seconds per API answer as the driver saw it, and the desk's own milliseconds."""

    seconds: dict[str, list[float]] = field(default_factory=lambda: {s: [] for s in SIDES})
    server_ms: dict[str, list[float]] = field(default_factory=lambda: {s: [] for s in SIDES})


def parse_arguments(argv: list[str] | None = None) -> argparse.Namespace:
    """--conventions per side (8 answers each); --quick: 3."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.directory_check",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_common_arguments(parser)
    parser.add_argument("--conventions", type=int, help="conventions per side (default 20)")
    parser.add_argument(
        "--serve-without-directory",
        action="store_true",
        help="(internal) run portal.py with the directory's reads replaced; then --port P",
    )
    args, rest = parser.parse_known_args(argv)
    args.rest = rest
    args.conventions = args.conventions or (3 if args.quick else 20)
    return args


# --- the desk without the directory's check ---------------------------------------------------


async def _not_held(_db: object, organisation_id: str) -> Authority:
    """The directory's answer for an organisation it does not hold, without asking it."""
    return Authority(
        organisation_id, store.Standing(0, None, None, []), datetime.now(UTC).date(), "system"
    )


def serve_without_directory(portal_argv: list[str]) -> int:
    """portal.py, the directory's read of an API answer replaced (the other side)."""
    import application.partner.answers as answers
    import portal

    vars(answers)["system_authority"] = _not_held  # the name it calls, replaced there only
    # The API answer reads the organisation's row with its key, in one statement: only the
    # check on it (which also leaves the version out of the update) is left out there.
    vars(answers)["system_authority_read"] = lambda organisation_id, _version, _row: Authority(
        organisation_id, store.Standing(0, None, None, []), datetime.now(UTC).date(), "system"
    )
    return portal.main(portal_argv)


def bare_desk_process(servers: Servers, secret: str) -> PortalProcess:
    """The same portal.py, without the directory's check, over the same servers."""
    return PortalProcess(
        servers.environment(PACTE_QUEUE, **{LINK_SECRET_VARIABLE: secret}),
        servers.directory / "portal-without-directory.log",
        program=("-m", "benchmarks.directory_check", "--serve-without-directory"),
    )


# --- the measure ------------------------------------------------------------------------------


async def _answer(
    http: httpx.AsyncClient, convention_id: str, task_id: str, key: Key, body: dict[str, object]
) -> tuple[float, float]:
    started = time.perf_counter()
    response = await http.post(
        f"/api/v1/tasks/{convention_id}/{task_id}/answer",
        json=body,
        headers={**key.headers, "idempotency-key": f"{convention_id}/{task_id}"},
    )
    done = time.perf_counter()
    if response.status_code != 200 or response.json().get("task_id") != task_id:
        raise RuntimeError(f"the desk refused {task_id}: {response.status_code} {response.text}")
    return done - started, server_ms(response)


async def measure(
    servers: Servers, desks: dict[str, httpx.AsyncClient], keys: dict[str, Key], count: int
) -> Samples:
    """Twin conventions, one answered through each desk, answer by answer."""
    client = await servers.client()
    run = uuid.uuid4().hex[:6]
    samples = Samples()
    for position in range(count + 1):
        ids = {side: f"directory-{side}-{run}-{position:04d}" for side in SIDES}
        for convention_id in ids.values():
            await start_convention(client, bamako_convention(convention_id), PACTE_QUEUE)
        handles = [
            client.get_workflow_handle_for(ConventionWorkflow.run, workflow_id_for(i))
            for i in ids.values()
        ]
        for number, step in enumerate(bamako_answers()):
            body = {"answer": to_jsonable_python(step.answer), "actor": step.actor}
            order = SIDES if number % 2 == 0 else SIDES[::-1]
            for side in order:
                await find_task(client, ids[side], step.task, wait_seconds=120)
                for handle in handles:
                    await wait_idle(handle)
                seconds, ms = await _answer(
                    desks[side], ids[side], step.task, keys[step.acting_party], body
                )
                samples.seconds[side].append(seconds)
                samples.server_ms[side].append(ms)
        for handle in handles:
            await handle.result()
        if position == 0:  # a warm-up: sandboxes, caches and connections are made
            samples = Samples()
            continue
        if position % 5 == 0 or position == count:
            print(f"   {position}/{count} pairs answered", flush=True)
    return samples


async def time_the_check(pool: asyncpg.Pool, party: str) -> list[float]:
    """The check alone, as the desk makes it for a key's answer, many times in a row."""
    times = []
    for _ in range(CHECKS_TIMED):
        started = time.perf_counter()
        (await system_authority(pool, party)).check("decide_funding")
        times.append(time.perf_counter() - started)
    return times


async def _run(args: argparse.Namespace, servers: Servers, secret: str) -> int:
    pool = await create_pool(servers.database_url, max_size=4)
    try:
        created = await import_files(pool, EDITOR, [bamako_convention("directory-import")])
        print(f"   directory: Bamako's parties imported ({', '.join(sorted(created))})")
        parties = sorted({step.acting_party for step in bamako_answers()})
        keys = await make_keys(pool, parties)
        with BenchmarkWorker(servers, pacte=True):
            async with (
                desk_process(servers, secret) as with_check,
                bare_desk_process(servers, secret) as without_check,
            ):
                print_load("before")
                async with (
                    httpx.AsyncClient(base_url=with_check.base_url, timeout=60) as http_with,
                    httpx.AsyncClient(base_url=without_check.base_url, timeout=60) as http_without,
                ):
                    samples = await measure(
                        servers,
                        {"with": http_with, "without": http_without},
                        keys,
                        args.conventions,
                    )
                print_load("after")
        funder = next(s.acting_party for s in bamako_answers() if s.task.endswith("decision.r1"))
        check = await time_the_check(pool, funder)
    finally:
        await pool.close()
    rows: list[list[object]] = []
    for side in SIDES:
        seconds, ms = samples.seconds[side], samples.server_ms[side]
        rows.append(
            [
                f"API answer, {side} the directory check",
                len(seconds),
                1000 * percentile(seconds, 0.5),
                1000 * percentile(seconds, 0.95),
                percentile(ms, 0.5),
                percentile(ms, 0.95),
            ]
        )
    rows.append(
        [
            "the check alone (driver, one snapshot)",
            len(check),
            1000 * percentile(check, 0.5),
            1000 * percentile(check, 0.95),
            "",
            "",
        ]
    )
    print_table(["path", "answers", "p50 ms", "p95 ms", "desk p50 ms", "desk p95 ms"], rows)
    print_ratio(
        "with / without the directory check, API answer latency p50",
        percentile(samples.seconds["with"], 0.5) / percentile(samples.seconds["without"], 0.5),
        target=TARGET,
        at_least=False,
    )
    print_ratio(
        "with / without the directory check, API answer latency p95",
        percentile(samples.seconds["with"], 0.95) / percentile(samples.seconds["without"], 0.95),
        target=None,
        at_least=False,
    )
    print_ratio(
        "with / without the directory check, desk's own time p50",
        percentile(samples.server_ms["with"], 0.5) / percentile(samples.server_ms["without"], 0.5),
        target=None,
        at_least=False,
    )
    return 0  # a ratio over its target is reported (NOT met), not an error


def main(argv: list[str] | None = None) -> int:
    """Parse, start the servers, the worker and the two desks, measure, print."""
    args = parse_arguments(argv)
    if args.serve_without_directory:
        return serve_without_directory(args.rest)
    print_header(
        "directory check",
        {"conventions": args.conventions, "answers_each": len(bamako_answers())},
    )
    secret = base64.b64encode(os.urandom(32)).decode()
    os.environ[LINK_SECRET_VARIABLE] = secret
    with Servers(keep=args.keep) as servers:
        return asyncio.run(_run(args, servers, secret))


if __name__ == "__main__":
    finish(main)
