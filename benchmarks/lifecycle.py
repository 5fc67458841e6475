"""Benchmark 1, lifecycle throughput: Bamako-shaped conventions completed per second.

Each convention runs mission, diagnostic and funding request (no follow-up convention), its
eight scripted answers given through `application.conventions` as a partner's system gives
them through the desk's API (the task's row read from the inbox, the answer validated against
it and sent as the update; `--tasks-from query`: the workflow's task query first, as
`starter.py act` does). Two baselines, on the same servers and
the same worker process, both derived from a Pacte convention's own history:

- `BareLifecycle`: a plain workflow with the same number of activities (no-ops) and updates,
  in the same order: what Temporal alone costs. Target: at least 0.8.
- `StraightforwardLifecycle`: the same business as a team would first write it on Temporal:
  the same updates (the same answer payloads, in the same order), one activity per milestone
  Pacte recorded (a plain `INSERT` of that milestone, no hash chain) and one per notification
  (an `INSERT` of the message into an outbox, no delivery). Target: at least 1.0 (aim: 1.5).

    .venv/bin/python -m benchmarks.lifecycle [--count 200] [--concurrency 20] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
import uuid
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # also as a file

import asyncpg
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHistory

from application.conventions import FIRST_POLL_PAUSE_SECONDS, LAST_POLL_PAUSE_SECONDS
from application.scenarios import InboxWatch, TaskOpened
from benchmarks.bamako import bamako_answers, bamako_convention, play_convention, run_bounded
from benchmarks.bare_workflows import (
    STRAIGHTFORWARD_SCHEMA,
    BareLifecycle,
    Step,
    StraightforwardLifecycle,
    StraightforwardPlan,
)
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
from benchmarks.worker import BARE_QUEUE, BenchmarkWorker
from devkit.stack import Servers
from infra.database import create_pool
from workflows.convention import workflow_id_for

TARGET = 0.8
STRAIGHTFORWARD_TARGET = 1.0
STRAIGHTFORWARD_AIM = 1.5
SIDES = ("Pacte", "straightforward", "bare")
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
        "--experiment-sdk-context-lookup",
        action="store_true",
        help="an experiment, not the product: Pacte's worker runs the SDK's own sandbox "
        "runner, which looks up a serialization context for every payload "
        "(infra/workflow_runner.py skips that lookup for Pacte's context-free converters)",
    )
    parser.add_argument(
        "--experiment-poll-seconds",
        dest="poll_seconds",
        type=float,
        help="an experiment, not the CLI's path: look for the open task every so many seconds "
        "instead of find_task's pauses (50 ms doubling to 1 s)",
    )
    parser.add_argument(
        "--tasks-from",
        choices=("inbox", "query"),
        default="inbox",
        help="where Pacte's partners learn that a task is open: the partners' inbox in "
        "PostgreSQL, the answer then built from the task's row and sent as the update (what "
        "a partner's system does through the desk's API, the default), or the workflow's "
        "task query before the update (the CLI's `act`)",
    )
    parser.add_argument("--rounds", type=int, help="alternations of the sides (default 2; quick 1)")
    args = parser.parse_args(argv)
    args.rounds = args.rounds or (1 if args.quick else 2)
    args.count = args.count or (20 if args.quick else 200)
    args.concurrency = args.concurrency or (10 if args.quick else 20)
    return args


async def _pacte_side(
    client: Client,
    args: argparse.Namespace,
    run: str,
    count: int,
    task_opened: TaskOpened | None,
) -> tuple[float, list[str]]:
    answers = bamako_answers()
    conventions = [
        bamako_convention(f"bench-{run}-{index:05d}", keep_dates=args.keep_dates)
        for index in range(count)
    ]
    started = time.perf_counter()
    await run_bounded(
        [
            partial(
                play_convention,
                client,
                convention,
                answers,
                poll_seconds=args.poll_seconds,
                task_opened=task_opened,
            )
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


@dataclass
class Business:
    """What a Pacte convention did, from its history: the straightforward side's plan."""

    segments: list[list[Step]]
    answers: list[Any]

    @property
    def milestones(self) -> int:
        """Milestones recorded (one activity each on the straightforward side)."""
        return sum(step.activity == "milestone" for steps in self.segments for step in steps)

    @property
    def notifications(self) -> int:
        """Notifications sent (one activity each on the straightforward side)."""
        return sum(step.activity == "notification" for steps in self.segments for step in steps)


async def business_of(client: Client, history: WorkflowHistory) -> Business:
    """The milestones (from its ledger's batches) and notifications a convention recorded,
    between its accepted answers, and those answers' payloads, decoded as Pacte received them."""
    segments: list[list[Step]] = [[]]
    answers: list[Any] = []
    converter = client.data_converter
    for event in history.events:
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            attributes = event.activity_task_scheduled_event_attributes
            name = attributes.activity_type.name
            if name not in (
                "persist_milestones",
                "persist_milestone",
                "notify_party",
                "record_notification",
            ):
                continue  # Pacte's own extras: delivery plans, the partners' inbox
            [payload] = await converter.decode(attributes.input.payloads)
            if name == "notify_party":
                segments[-1].append(Step("notification", payload))
            elif name == "record_notification":  # with the inbox's tasks and the plan
                segments[-1].append(Step("notification", payload["notification"]))
            else:
                batch = payload["milestones"] if name == "persist_milestones" else [payload]
                segments[-1] += [Step("milestone", milestone) for milestone in batch]
        elif event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED:
            request = event.workflow_execution_update_accepted_event_attributes.accepted_request
            [answer] = await converter.decode(request.input.args.payloads)
            answers.append(answer)
            segments.append([])
    return Business(segments, answers)


async def _straightforward_side(
    client: Client, args: argparse.Namespace, run: str, count: int, business: Business
) -> tuple[float, list[str]]:
    ids = [f"straightforward-{run}-{index:05d}" for index in range(count)]

    async def one(workflow_id: str) -> None:
        plan = StraightforwardPlan(convention_id=workflow_id, segments=business.segments)
        handle = await client.start_workflow(
            StraightforwardLifecycle.run, plan, id=workflow_id, task_queue=BARE_QUEUE
        )
        for answer in business.answers:
            await handle.execute_update(StraightforwardLifecycle.answer, answer)
        await handle.result()

    started = time.perf_counter()
    await run_bounded([partial(one, workflow_id) for workflow_id in ids], args.concurrency)
    return time.perf_counter() - started, ids


async def _create_straightforward_tables(database_url: str) -> None:
    connection = await asyncpg.connect(database_url)
    try:
        await connection.execute(STRAIGHTFORWARD_SCHEMA)
    finally:
        await connection.close()


async def _straightforward_rows(database_url: str, run: str) -> tuple[int, int]:
    """Milestone rows and outbox rows the straightforward side wrote in this run."""
    connection = await asyncpg.connect(database_url)
    try:
        pattern = f"straightforward-{run}-r%"
        milestones = await connection.fetchval(
            "SELECT count(*) FROM straightforward_milestones WHERE convention_id LIKE $1", pattern
        )
        messages = await connection.fetchval(
            "SELECT count(*) FROM straightforward_outbox WHERE convention_id LIKE $1", pattern
        )
        return int(milestones), int(messages)
    finally:
        await connection.close()


async def _run(args: argparse.Namespace, servers: Servers) -> int:
    inbox = await create_pool(servers.database_url, max_size=4)
    try:
        return await _run_sides(
            args, servers, InboxWatch(inbox) if args.tasks_from == "inbox" else None
        )
    finally:
        await inbox.close()


async def _run_sides(
    args: argparse.Namespace, servers: Servers, task_opened: TaskOpened | None
) -> int:
    client = await servers.client()
    run = uuid.uuid4().hex[:6]
    calls = ClientCalls()
    counted = counting_client(client, calls)
    seconds = dict.fromkeys(SIDES, 0.0)
    cpu: dict[str, dict[str, float]] = {side: {} for side in SIDES}
    ids: dict[str, list[str]] = {side: [] for side in SIDES}
    await _create_straightforward_tables(servers.database_url)
    passthrough = args.experiment_passthrough_all
    pacte_process = BenchmarkWorker(
        servers,
        pacte=True,
        passthrough_all=passthrough,
        sdk_context_lookup=args.experiment_sdk_context_lookup,
        name="worker-pacte",
    ).spawn()
    bare_process = BenchmarkWorker(
        servers, bare=True, passthrough_all=passthrough, name="worker-bare"
    ).spawn()
    with pacte_process as pacte_worker, bare_process as bare_worker:
        # One convention first: it warms the worker up and gives the shape to mirror.
        _, probe_ids = await _pacte_side(client, args, f"{run}-probe", 1, task_opened)
        [probe_history] = await fetch_histories(client, probe_ids)
        probe = profile_history(probe_history)
        plan = probe.segments
        business = await business_of(client, probe_history)
        print(
            f"   a Bamako convention: {probe.activity_count} activities, {probe.updates} "
            f"answers (activities between answers: {plan}), {probe.timers} timers, "
            f"{probe.events} events",
            flush=True,
        )
        print(
            f"   its business, for the straightforward side: {business.milestones} milestones, "
            f"{business.notifications} notifications, {len(business.answers)} answers "
            f"(activities between answers: {[len(steps) for steps in business.segments]})",
            flush=True,
        )
        await _bare_side(client, args, f"{run}-warm", 1, plan)
        await _straightforward_side(client, args, f"{run}-warm", 1, business)
        # Rounds alternate the sides (and which goes first), so that a change of load on
        # the machine hits both.
        share = [
            args.count // args.rounds + (r < args.count % args.rounds) for r in range(args.rounds)
        ]
        for number, count in enumerate(share, start=1):
            workers = {"Pacte": pacte_worker, "straightforward": bare_worker, "bare": bare_worker}
            order = SIDES if number % 2 else SIDES[::-1]
            for side in order:
                worker = workers[side]
                print_load(f"before {side} round {number}/{args.rounds} ({count} conventions)")
                meter = CpuMeter(servers, worker)
                tag = f"{run}-r{number}"
                if side == "Pacte":
                    spent, done = await _pacte_side(counted, args, tag, count, task_opened)
                elif side == "straightforward":
                    spent, done = await _straightforward_side(client, args, tag, count, business)
                else:
                    spent, done = await _bare_side(client, args, tag, count, plan)
                seconds[side] += spent
                ids[side] += done
                for name, value in meter.spent().items():
                    cpu[side][name] = cpu[side].get(name, 0.0) + value
    print_load("after")
    rate = {side: args.count / seconds[side] for side in SIDES}
    pacte_rate, bare_rate = rate["Pacte"], rate["bare"]
    print_table(
        ["side", "conventions", "seconds", "completed/s"],
        [
            ["Pacte (Bamako shape)", args.count, seconds["Pacte"], pacte_rate],
            [
                "straightforward Temporal, same business",
                args.count,
                seconds["straightforward"],
                rate["straightforward"],
            ],
            ["bare workflow, same plan (no-ops)", args.count, seconds["bare"], bare_rate],
        ],
    )
    milestone_rows, outbox_rows = await _straightforward_rows(servers.database_url, run)
    print(
        f"   straightforward rows written: {milestone_rows:,} milestones, {outbox_rows:,} "
        f"outbox messages ({business.milestones} and {business.notifications} a convention)",
        flush=True,
    )
    activities = probe.activity_count
    print(
        f"   activities/s: Pacte {pacte_rate * activities:.1f}, bare {bare_rate * activities:.1f}"
        f" ({activities} per convention); answers/s: Pacte {pacte_rate * probe.updates:.1f}",
        flush=True,
    )
    straightforward_ratio = pacte_rate / rate["straightforward"]
    met = print_ratio(
        "Pacte / straightforward conventions per second",
        straightforward_ratio,
        target=STRAIGHTFORWARD_TARGET,
        at_least=True,
    )
    verdict = "reached" if straightforward_ratio >= STRAIGHTFORWARD_AIM else "not reached"
    print(f"   (the aim, {STRAIGHTFORWARD_AIM:g}: {verdict})", flush=True)
    met = (
        print_ratio(
            "Pacte / no-op bare conventions per second",
            pacte_rate / bare_rate,
            target=TARGET,
            at_least=True,
        )
        and met
    )
    polling = (
        f"every {args.poll_seconds:g} s"
        if args.poll_seconds
        else f"after pauses from {FIRST_POLL_PAUSE_SECONDS:g} s doubling to "
        f"{LAST_POLL_PAUSE_SECONDS:g} s"
    )
    source = (
        f"the inbox polled {polling} until the task opens, the answer built from its row"
        if args.tasks_from == "inbox"
        else f"polled {polling} until the task opens"
    )
    print(
        f"   the driver (the partners' calls) per Pacte convention: "
        f"{calls.queries / args.count:.1f} "
        f"task queries ({source}; mean "
        f"{1000 * calls.query_seconds / max(calls.queries, 1):.1f} ms each), "
        f"{calls.updates / args.count:.1f} updates",
        flush=True,
    )
    print("   CPU seconds per convention, by process:")
    print_table(
        ["process", *SIDES],
        [[name, *(cpu[side][name] / args.count for side in SIDES)] for name in cpu["Pacte"]],
    )
    profiles: dict[str, list[HistoryProfile]] = {
        side: [profile_history(h) for h in await fetch_histories(client, ids[side][:PROFILED])]
        for side in SIDES
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
            "experiment_sdk_context_lookup": args.experiment_sdk_context_lookup,
            "experiment_poll_seconds": args.poll_seconds,
        },
    )
    with Servers(keep=args.keep) as servers:
        return asyncio.run(_run(args, servers))


if __name__ == "__main__":
    finish(main)
