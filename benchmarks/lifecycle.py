"""Benchmark 1, lifecycle throughput: Bamako-shaped conventions completed per second.

Each convention runs mission, diagnostic and funding request (no follow-up convention), its
eight scripted answers given through `application.conventions` as `demo.py` gives them (find
the open task, validate the answer, send the update). The baseline, on the same servers, is
`BareLifecycle`: a plain workflow with the same number of activities (no-ops) and updates, in
the same order, measured from a Pacte convention's own history. Target: at least 0.8.

    .venv/bin/python -m benchmarks.lifecycle [--count 200] [--concurrency 20] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
import uuid
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # also as a file

from temporalio.client import Client

from application.conventions import FIRST_POLL_PAUSE_SECONDS, LAST_POLL_PAUSE_SECONDS
from benchmarks.bamako import bamako_answers, bamako_convention, play_convention, run_bounded
from benchmarks.bare_workflows import BareLifecycle
from benchmarks.histories import HistoryProfile, fetch_histories, print_profiles, profile_history
from benchmarks.metering import ClientCalls, CpuMeter, counting_client
from benchmarks.report import (
    add_common_arguments,
    finish,
    print_header,
    print_load,
    print_ratio,
    print_table,
)
from benchmarks.worker import BARE_QUEUE
from benchmarks.worker import BenchmarkWorker as WorkerProcess
from devkit.stack import Servers
from workflows.convention import workflow_id_for

TARGET = 0.8
PROFILED = 20  # histories read per side for the profile table


def parse_arguments(argv: list[str] | None = None) -> argparse.Namespace:
    """--count conventions, --concurrency at once; --quick: 20 at 10."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.lifecycle",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_common_arguments(parser)
    parser.add_argument("--count", type=int, help="conventions per side (default 200; quick 20)")
    parser.add_argument("--concurrency", type=int, help="in flight at once (default 20; quick 10)")
    parser.add_argument(
        "--keep-dates",
        action="store_true",
        help="keep the file's 2023 mission dates: every task falls overdue and escalates",
    )
    parser.add_argument(
        "--experiment-passthrough-all",
        action="store_true",
        help="an experiment, not the product: both workers pass every module through the "
        "workflow sandbox (SandboxRestrictions.with_passthrough_all_modules)",
    )
    parser.add_argument(
        "--experiment-poll-seconds",
        dest="poll_seconds",
        type=float,
        help="an experiment, not the CLI's path: look for the open task every so many seconds "
        "instead of find_task's pauses (50 ms doubling to 1 s)",
    )
    parser.add_argument("--rounds", type=int, help="alternations of the sides (default 2; quick 1)")
    args = parser.parse_args(argv)
    args.rounds = args.rounds or (1 if args.quick else 2)
    args.count = args.count or (20 if args.quick else 200)
    args.concurrency = args.concurrency or (10 if args.quick else 20)
    return args


async def _pacte_side(
    client: Client, args: argparse.Namespace, run: str, count: int
) -> tuple[float, list[str]]:
    answers = bamako_answers()
    conventions = [
        bamako_convention(f"bench-{run}-{index:05d}", keep_dates=args.keep_dates)
        for index in range(count)
    ]
    started = time.perf_counter()
    await run_bounded(
        [
            partial(play_convention, client, convention, answers, poll_seconds=args.poll_seconds)
            for convention in conventions
        ],
        args.concurrency,
    )
    return time.perf_counter() - started, [workflow_id_for(c.id) for c in conventions]


async def _bare_side(
    client: Client, args: argparse.Namespace, run: str, count: int, plan: list[int]
) -> tuple[float, list[str]]:
    ids = [f"bare-{run}-{index:05d}" for index in range(count)]

    async def one(workflow_id: str) -> None:
        handle = await client.start_workflow(
            BareLifecycle.run, plan, id=workflow_id, task_queue=BARE_QUEUE
        )
        for number in range(1, len(plan)):
            await handle.execute_update(BareLifecycle.answer, number)
        await handle.result()

    started = time.perf_counter()
    await run_bounded(
        [partial(one, workflow_id) for workflow_id in ids],
        args.concurrency,
    )
    return time.perf_counter() - started, ids


async def _run(args: argparse.Namespace, servers: Servers) -> int:
    client = await servers.client()
    run = uuid.uuid4().hex[:6]
    calls = ClientCalls()
    counted = counting_client(client, calls)
    seconds = {"Pacte": 0.0, "bare": 0.0}
    cpu: dict[str, dict[str, float]] = {"Pacte": {}, "bare": {}}
    ids: dict[str, list[str]] = {"Pacte": [], "bare": []}
    passthrough = args.experiment_passthrough_all
    pacte_process = WorkerProcess(
        servers, pacte=True, passthrough_all=passthrough, name="worker-pacte"
    ).spawn()
    bare_process = WorkerProcess(
        servers, bare=True, passthrough_all=passthrough, name="worker-bare"
    ).spawn()
    with pacte_process as pacte_worker, bare_process as bare_worker:
        # One convention first: it warms the worker up and gives the shape to mirror.
        _, probe_ids = await _pacte_side(client, args, f"{run}-probe", 1)
        probe = profile_history((await fetch_histories(client, probe_ids))[0])
        plan = probe.segments
        print(
            f"   a Bamako convention: {probe.activity_count} activities, {probe.updates} "
            f"answers (activities between answers: {plan}), {probe.timers} timers, "
            f"{probe.events} events",
            flush=True,
        )
        await _bare_side(client, args, f"{run}-warm", 1, plan)
        # Rounds alternate the sides (and which goes first), so that a change of load on
        # the machine hits both.
        share = [
            args.count // args.rounds + (r < args.count % args.rounds) for r in range(args.rounds)
        ]
        for number, count in enumerate(share, start=1):
            sides = [("Pacte", pacte_worker), ("bare", bare_worker)]
            for side, worker in sides if number % 2 else sides[::-1]:
                print_load(f"before {side} round {number}/{args.rounds} ({count} conventions)")
                meter = CpuMeter(servers, worker)
                if side == "Pacte":
                    spent, done = await _pacte_side(counted, args, f"{run}-r{number}", count)
                else:
                    spent, done = await _bare_side(client, args, f"{run}-r{number}", count, plan)
                seconds[side] += spent
                ids[side] += done
                for name, value in meter.spent().items():
                    cpu[side][name] = cpu[side].get(name, 0.0) + value
    print_load("after")
    pacte_rate, bare_rate = args.count / seconds["Pacte"], args.count / seconds["bare"]
    print_table(
        ["side", "conventions", "seconds", "completed/s"],
        [
            ["Pacte (Bamako shape)", args.count, seconds["Pacte"], pacte_rate],
            ["bare workflow, same plan", args.count, seconds["bare"], bare_rate],
        ],
    )
    activities = probe.activity_count
    print(
        f"   activities/s: Pacte {pacte_rate * activities:.1f}, bare {bare_rate * activities:.1f}"
        f" ({activities} per convention); answers/s: Pacte {pacte_rate * probe.updates:.1f}",
        flush=True,
    )
    met = print_ratio(
        "Pacte / bare conventions per second",
        pacte_rate / bare_rate,
        target=TARGET,
        at_least=True,
    )
    polling = (
        f"every {args.poll_seconds:g} s"
        if args.poll_seconds
        else f"after pauses from {FIRST_POLL_PAUSE_SECONDS:g} s doubling to "
        f"{LAST_POLL_PAUSE_SECONDS:g} s"
    )
    print(
        f"   the driver (the CLI's calls) per Pacte convention: {calls.queries / args.count:.1f} "
        f"status queries (polled {polling} until the task opens; mean "
        f"{1000 * calls.query_seconds / max(calls.queries, 1):.1f} ms each), "
        f"{calls.updates / args.count:.1f} updates",
        flush=True,
    )
    print("   CPU seconds per convention, by process:")
    print_table(
        ["process", "Pacte", "bare"],
        [
            [name, cpu["Pacte"][name] / args.count, cpu["bare"][name] / args.count]
            for name in cpu["Pacte"]
        ],
    )
    profiles: dict[str, list[HistoryProfile]] = {
        side: [profile_history(h) for h in await fetch_histories(client, ids[side][:PROFILED])]
        for side in ("Pacte", "bare")
    }
    print(f"   where the time goes (first {min(PROFILED, args.count)} histories of each side):")
    print_profiles(profiles)
    if not met:
        print("   below target: see the activities per convention and the CPU per process above")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Parse, start the servers, measure both sides, print."""
    args = parse_arguments(argv)
    print_header(
        "lifecycle throughput",
        {
            "count": args.count,
            "concurrency": args.concurrency,
            "rounds": args.rounds,
            "keep_dates": args.keep_dates,
            "experiment_passthrough_all": args.experiment_passthrough_all,
            "experiment_poll_seconds": args.poll_seconds,
        },
    )
    with Servers(keep=args.keep) as servers:
        return asyncio.run(_run(args, servers))


if __name__ == "__main__":
    finish(main)
