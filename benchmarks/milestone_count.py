"""Benchmark 8, `status` and `act` against a convention's milestone count: flat, or not.

The workflow is bounded (it keeps its last MILESTONE_WINDOW milestones and continues-as-new
carrying the last one only), so what the CLI asks of it should cost the same at 50 milestones
and at 5,000. Conventions of Cycle Maalam's shape (`examples/cycle-maalam.yaml`: one
implementation stage, reports from OFPPT) are grown for real to each size: their implementer
reports progress with cohorts, each report at most 60 cohorts started or finished (the answer's
list limit), each a milestone, the cheapest honest way to thousands of milestones (about 80
reports for 5,000), each started with a history limit of 500 events (the product's default is
10,000) so that the largest continues-as-new along the way, as a convention reporting for
years does (Cycle Maalam's real reports carry no cohort list that long). Then, in rounds
alternating the conventions, each is timed on:

- `convention_status`: the workflow's `status` query (its bounded view);
- the `status` CLI's path: Temporal's describe (`workflow_health`), the query, the whole
  timeline read from PostgreSQL (`recorded_milestones`, `with_unwritten`) and
  `render_status`, the pool already open (the CLI opens one per call);
- the `act` path: `answer_open_task` as `starter.py act` calls it (the narrow `task` query
  through `find_task`, the answer built and checked, the update to its receipt), a report of
  indicator values only (3 milestones: the next report is assigned).

Between two timings the next report is open and the ledger has written everything (untimed).
Target: the largest convention ÷ the smallest at most 1.2 (p50) for the query and for `act`;
none for `status`'s path, which reads and prints the whole timeline by design.

    .venv/bin/python -m benchmarks.milestone_count [--milestones 50,500,5000] [--rounds 20]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # also as a file

import asyncpg
from temporalio.client import Client

from application.cli_support import STATUS_TIMELINE_SHOWN
from application.conventions import (
    QUERY_TIMEOUT,
    UPDATE_TIMEOUT,
    answer_open_task,
    convention_status,
    officer_on_behalf,
    start_convention,
    task_lookup,
    workflow_health,
)
from application.rendering import render_status
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
from devkit.stack import Servers
from infra.database import create_pool
from infra.settings import PROJECT_ROOT
from schemas.convention import Convention
from schemas.convention_file import load_convention
from schemas.tasks import MAX_LIST_ITEMS, TaskStatus
from storage.milestones import recorded_timeline

CYCLE_MAALAM = PROJECT_ROOT / "examples" / "cycle-maalam.yaml"
IMPLEMENTER = "ofppt"
OFFICER = "bench-officer"
TARGET = 1.2
PER_REPORT = 3  # the report's task assigned, answered, its progress_reported milestone


def parse_arguments(argv: list[str] | None = None) -> argparse.Namespace:
    """--milestones sizes, --rounds timings of each; --quick: 50 and 500, 5 rounds."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.milestone_count",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_common_arguments(parser)
    parser.add_argument(
        "--milestones",
        help="comma-separated convention sizes, smallest first (default 50,500,5000; quick 50,500)",
    )
    parser.add_argument("--rounds", type=int, help="timings per convention (default 20; quick 5)")
    parser.add_argument(
        "--history-limit",
        type=int,
        default=500,
        help="events before a run continues-as-new (default 500)",
    )
    args = parser.parse_args(argv)
    sizes = args.milestones or ("50,500" if args.quick else "50,500,5000")
    args.milestones = sorted(int(size) for size in sizes.split(","))
    args.rounds = args.rounds or (5 if args.quick else 20)
    return args


def maalam(convention_id: str) -> Convention:
    """Cycle Maalam under a new id."""
    return load_convention(CYCLE_MAALAM).model_copy(update={"id": convention_id})


@dataclass
class Grown:
    """A convention grown to its size, and its timings."""

    convention_id: str
    target: int
    milestones: int = 0
    report: int = 1
    runs: int = 1
    grow_seconds: float = 0.0
    timings: dict[str, list[float]] = field(default_factory=dict)


async def _settled(client: Client, pool: asyncpg.Pool, grown: Grown) -> None:
    """Until the next report is open and PostgreSQL holds every milestone recorded."""
    task_id = f"implementation.report.{grown.report}"
    for _ in range(6000):
        lookup = await task_lookup(client, grown.convention_id, task_id)
        if lookup.task is not None and lookup.task.status is TaskStatus.OPEN:
            status = await convention_status(client, grown.convention_id)
            written = await pool.fetchval(
                "SELECT count(*) FROM milestones WHERE convention_id = $1", grown.convention_id
            )
            if written == status.milestone_count:
                grown.milestones, grown.runs = written, status.runs
                return
        await asyncio.sleep(0.05)
    raise TimeoutError(f"{grown.convention_id}: report {grown.report} did not open")


async def _report(client: Client, grown: Grown, answer: dict[str, Any]) -> None:
    await answer_open_task(
        client,
        grown.convention_id,
        f"implementation.report.{grown.report}",
        IMPLEMENTER,
        answer,
        principal=officer_on_behalf(OFFICER, IMPLEMENTER),
        wait_seconds=60,
        rpc_timeout=UPDATE_TIMEOUT,
    )
    grown.report += 1


async def grow(
    client: Client, pool: asyncpg.Pool, convention_id: str, target: int, history_limit: int
) -> Grown:
    """Start a Cycle Maalam convention; report cohorts until it holds about `target`."""
    grown = Grown(convention_id, target)
    began = time.perf_counter()
    await start_convention(client, maalam(convention_id), PACTE_QUEUE, history_limit=history_limit)
    await _settled(client, pool, grown)
    waiting: list[str] = []  # cohorts started, not finished yet
    trainees = 0
    while grown.milestones + PER_REPORT + 1 <= target:
        budget = min(MAX_LIST_ITEMS, target - grown.milestones - PER_REPORT)
        finishing, waiting = waiting[:budget], waiting[budget:]
        starting = [f"c{grown.report}-{i}" for i in range(budget - len(finishing))]
        trainees += 20 * len(finishing)
        cohorts = [
            {"id": c, "event": "finished", "trainees": 20, "graduates": 16} for c in finishing
        ] + [{"id": c, "event": "started", "trainees": 20} for c in starting]
        waiting += starting
        await _report(client, grown, {"actuals": {"trainees": trainees}, "cohorts": cohorts})
        await _settled(client, pool, grown)
    grown.grow_seconds = time.perf_counter() - began
    return grown


async def _status_query(client: Client, pool: asyncpg.Pool, grown: Grown) -> None:
    await convention_status(client, grown.convention_id, rpc_timeout=QUERY_TIMEOUT)


async def _status_path(client: Client, pool: asyncpg.Pool, grown: Grown) -> None:
    # starter.py's _status, less its pool's opening and the archive's lines.
    await workflow_health(client, grown.convention_id)
    status = await convention_status(client, grown.convention_id, rpc_timeout=QUERY_TIMEOUT)
    recorded = await recorded_timeline(pool, grown.convention_id, last=STATUS_TIMELINE_SHOWN)
    render_status(status, timeline=recorded.with_unwritten(status.milestones))


async def _act(client: Client, pool: asyncpg.Pool, grown: Grown) -> None:
    await answer_open_task(
        client,
        grown.convention_id,
        f"implementation.report.{grown.report}",
        IMPLEMENTER,
        {"actuals": {"pass-rate": 80}},
        principal=officer_on_behalf(OFFICER, IMPLEMENTER),
        rpc_timeout=UPDATE_TIMEOUT,
    )
    grown.report += 1


PATHS: dict[str, Callable[[Client, asyncpg.Pool, Grown], Awaitable[None]]] = {
    "query": _status_query,
    "status": _status_path,
    "act": _act,
}
LABELS = {
    "query": "status query (convention_status)",
    "status": "status CLI's path (with the timeline from PostgreSQL)",
    "act": "act (find_task + answer_task)",
}


async def _run(args: argparse.Namespace, servers: Servers) -> int:
    client = await servers.client()
    pool = await create_pool(servers.database_url)
    run = uuid.uuid4().hex[:6]
    try:
        with BenchmarkWorker(servers, pacte=True, name="worker-pacte"):
            conventions = []
            for target in args.milestones:
                grown = await grow(
                    client, pool, f"count-{run}-{target}", target, args.history_limit
                )
                print(
                    f"   grown: {grown.convention_id}, {grown.milestones:,} milestones in "
                    f"{grown.report - 1} reports, {grown.runs} runs, {grown.grow_seconds:.1f} s",
                    flush=True,
                )
                conventions.append(grown)
            at_start = {grown.convention_id: grown.milestones for grown in conventions}
            print_load("before the timings")
            for number in range(-1, args.rounds):  # round -1 warms up, untimed
                order = conventions if number % 2 == 0 else conventions[::-1]
                for grown in order:
                    for name, path in PATHS.items():
                        began = time.perf_counter()
                        await path(client, pool, grown)
                        spent = time.perf_counter() - began
                        if number >= 0:
                            grown.timings.setdefault(name, []).append(spent)
                        if path is _act:
                            await _settled(client, pool, grown)
            print_load("after")
    finally:
        await pool.close()
    for name, label in LABELS.items():
        print(f"   {name}: {label}")
    headers = ["milestones (start → end)", "runs"]
    for name in PATHS:
        headers += [f"{name} p50 ms", "p95 ms"]
    rows: list[list[object]] = []
    for grown in conventions:
        row: list[object] = [
            f"{at_start[grown.convention_id]:,} → {grown.milestones:,}",
            grown.runs,
        ]
        for name in PATHS:
            row += [1000 * percentile(grown.timings[name], 0.5)]
            row += [1000 * percentile(grown.timings[name], 0.95)]
        rows.append(row)
    print_table(headers, rows)
    small, large = conventions[0], conventions[-1]
    sizes = f"{at_start[large.convention_id]:,} ÷ {at_start[small.convention_id]:,} milestones"
    for name in PATHS:
        ratio = percentile(large.timings[name], 0.5) / percentile(small.timings[name], 0.5)
        target = TARGET if name != "status" else None
        print_ratio(f"{LABELS[name]}, {sizes}, p50", ratio, target=target, at_least=False)
    return 0


def main(argv: list[str] | None = None) -> int:
    """Parse, start the servers, grow the conventions, time them, print."""
    args = parse_arguments(argv)
    print_header(
        "status and act against the milestone count",
        {
            "milestones": ",".join(map(str, args.milestones)),
            "rounds": args.rounds,
            "history_limit": args.history_limit,
        },
    )
    with Servers(keep=args.keep) as servers:
        return asyncio.run(_run(args, servers))


if __name__ == "__main__":
    finish(main)
