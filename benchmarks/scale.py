"""Benchmark 5, scale: N open conventions waiting on partners.

Conventions of the Bamako shape are started in waves until N wait on a partner's answer,
a third in each stage (mission, diagnostic, funding request: the later ones start at their
stage), their partner one of ten (`partner-00` … `partner-09`, in the menefp role). After
each wave, once the worker has run every activity the wave's conventions owe before they
wait (counted by the worker, against a probe of each variant), the worker's resident memory
is read (psutil, on the worker's own process). Then the officers' listing of one stage for
one partner, `list_conventions(ConventionFilter(stage=…, party=…))`, from Temporal's
visibility, is timed against the same query listed raw (`client.list_workflows`).

The baseline for memory is a fresh worker holding as many bare workflows (`BareWaiter`, one
activity each) waiting on an update. The worker's workflow cache (`max_cached_workflows`,
SDK default 1000) bounds what a worker keeps in memory: past it, a waiting workflow is
evicted and replayed when its answer comes. Issue 12's target: the Pacte worker's memory at
N at most 1.5× the bare one's (MEMORY_TARGET); none for the listing time.

    .venv/bin/python -m benchmarks.scale [--count 10000] [--max-cached-workflows N] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from functools import partial
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # also as a file

from temporalio.client import Client

from application.conventions import (
    ConventionFilter,
    convention_status,
    list_conventions,
    start_convention,
)
from benchmarks.bamako import bamako_convention, run_bounded
from benchmarks.bare_workflows import BareWaiter
from benchmarks.histories import wait_idle
from benchmarks.report import (
    add_common_arguments,
    finish,
    print_header,
    print_load,
    print_ratio,
    print_table,
)
from benchmarks.worker import (
    BARE_QUEUE,
    PACTE_QUEUE,
    SDK_DEFAULT_MAX_CACHED_WORKFLOWS,
    BenchmarkWorker,
)
from devkit.stack import Servers
from schemas.convention import Convention, DiagnosticStage, MissionStage
from workflows.convention import workflow_id_for

VARIANTS = ("mission", "diagnostic", "funding_request")
PARTNERS = 10
MiB = 1024 * 1024
MEMORY_TARGET = 1.5
"""Issue 12: the Pacte worker's RSS at N open conventions, at most this times the bare one's."""


def parse_arguments(argv: list[str] | None = None) -> argparse.Namespace:
    """--count open conventions (default 10,000; quick 300), in --wave sized steps."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.scale",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_common_arguments(parser)
    parser.add_argument("--count", type=int, help="open conventions (default 10,000; quick 300)")
    parser.add_argument("--wave", type=int, help="conventions per step (default 500; quick 100)")
    parser.add_argument(
        "--max-cached-workflows",
        type=int,
        help="the worker's workflow cache "
        f"(default: the SDK's, {SDK_DEFAULT_MAX_CACHED_WORKFLOWS})",
    )
    parser.add_argument(
        "--start-concurrency", type=int, default=20, help="starts in flight at once (20)"
    )
    parser.add_argument("--repeats", type=int, default=5, help="timings of each listing (5)")
    parser.add_argument(
        "--no-bare", action="store_true", help="skip the bare workflows' memory baseline"
    )
    parser.add_argument(
        "--experiment-passthrough-all",
        action="store_true",
        help="an experiment, not the product: both workers pass every module through the "
        "workflow sandbox (SandboxRestrictions.with_passthrough_all_modules)",
    )
    args = parser.parse_args(argv)
    args.count = args.count or (300 if args.quick else 10_000)
    args.wave = args.wave or (100 if args.quick else 500)
    return args


def scale_convention(run: str, index: int) -> Convention:
    """The index-th convention: its variant (first stage) and its partner follow from index."""
    variant = VARIANTS[index % len(VARIANTS)]
    partner = f"partner-{(index // len(VARIANTS)) % PARTNERS:02d}"
    base = bamako_convention(f"scale-{run}-{index:05d}")
    parties = [
        party.model_copy(update={"id": partner}) if party.id == "menefp" else party
        for party in base.parties
    ]
    stages: list[Any] = []
    for spec in base.stages[VARIANTS.index(variant) :]:
        if isinstance(spec, MissionStage):
            spec = spec.model_copy(update={"host": partner})
        elif isinstance(spec, DiagnosticStage):
            agreed = [partner if party == "menefp" else party for party in spec.agreed_by]
            spec = spec.model_copy(update={"agreed_by": agreed})
        stages.append(spec)
    return base.model_copy(update={"parties": parties, "stages": stages})


async def settle(worker: BenchmarkWorker, expected: int | None, *, quiet_seconds: float) -> int:
    """Wait until the worker ran `expected` activities (or, if None, none for a while)."""
    last, last_change = worker.activities, time.monotonic()
    deadline = time.monotonic() + 3600
    while time.monotonic() < deadline:
        await asyncio.sleep(0.25)
        now = worker.activities
        if now != last:
            last, last_change = now, time.monotonic()
        if expected is not None and now >= expected and time.monotonic() - last_change > 0.6:
            return now
        if expected is not None and time.monotonic() - last_change > 120:
            break
        if expected is None and time.monotonic() - last_change > quiet_seconds:
            return now
    raise TimeoutError(f"the worker ran {last} activities, {expected} expected, then stopped")


async def _populate(
    worker: BenchmarkWorker,
    count: int,
    wave: int,
    concurrency: int,
    start_one: Callable[[int], Awaitable[Any]],
    activities_of: Callable[[int], int],
    label: str,
) -> list[list[object]]:
    """Start `count` workflows in waves; after each, wait for their activities, read the RSS."""
    rows: list[list[object]] = []
    expected = worker.activities
    began = time.perf_counter()
    for first in range(0, count, wave):
        indexes = range(first, min(count, first + wave))
        wave_began = time.perf_counter()
        await run_bounded([partial(start_one, index) for index in indexes], concurrency)
        expected += sum(activities_of(index) for index in indexes)
        await settle(worker, expected, quiet_seconds=0)
        seconds = time.perf_counter() - wave_began
        rss = worker.rss() / MiB
        rows.append([indexes[-1] + 1, len(indexes) / seconds, rss])
        print(
            f"   {label}: {indexes[-1] + 1:>6,} open ({len(indexes) / seconds:.1f}/s this wave, "
            f"{time.perf_counter() - began:.0f} s so far), worker RSS {rss:.0f} MiB",
            flush=True,
        )
    return rows


async def _time_listing(
    client: Client, conventions: ConventionFilter, repeats: int
) -> tuple[float, float, int, int]:
    """Median seconds of list_conventions and of the raw listing; their counts."""
    query = conventions.query()
    pacte_times, raw_times = [], []
    found = raw_found = 0
    for _ in range(repeats):
        began = time.perf_counter()
        found = len(await list_conventions(client, conventions))
        pacte_times.append(time.perf_counter() - began)
        began = time.perf_counter()
        raw_found = len([execution async for execution in client.list_workflows(query)])
        raw_times.append(time.perf_counter() - began)
    return statistics.median(pacte_times), statistics.median(raw_times), found, raw_found


async def _probe(client: Client, worker: BenchmarkWorker, convention: Convention) -> int:
    """Activities one convention runs before it waits: start it, wait until it is idle."""
    before = await settle(worker, None, quiet_seconds=0.6)
    await start_convention(client, convention, PACTE_QUEUE)
    handle = client.get_workflow_handle(workflow_id_for(convention.id))
    for _ in range(2400):  # two minutes at most
        if (await convention_status(client, convention.id)).open_tasks:
            break
        await asyncio.sleep(0.05)
    await wait_idle(handle)
    return await settle(worker, None, quiet_seconds=0.6) - before


async def _run(args: argparse.Namespace, servers: Servers) -> int:
    client = await servers.client()
    run = uuid.uuid4().hex[:6]
    cache = args.max_cached_workflows or SDK_DEFAULT_MAX_CACHED_WORKFLOWS
    memory: dict[str, tuple[float, float]] = {}
    with BenchmarkWorker(
        servers,
        pacte=True,
        count_activities=True,
        max_cached_workflows=args.max_cached_workflows,
        passthrough_all=args.experiment_passthrough_all,
        name="worker-pacte",
    ) as worker:
        idle = worker.rss() / MiB
        per_variant = []
        for position in range(len(VARIANTS)):
            convention = scale_convention(f"{run}-probe", position)
            per_variant.append(await _probe(client, worker, convention))
        print(
            "   activities before a convention waits, per first stage: "
            + ", ".join(f"{v} {k}" for v, k in zip(VARIANTS, per_variant, strict=True)),
            flush=True,
        )
        print_load("before Pacte")

        async def start_pacte(index: int) -> None:
            await start_convention(client, scale_convention(run, index), PACTE_QUEUE)

        pacte_rows = await _populate(
            worker,
            args.count,
            args.wave,
            args.start_concurrency,
            start_pacte,
            lambda index: per_variant[index % len(VARIANTS)],
            "Pacte",
        )
        await asyncio.sleep(2)
        memory["Pacte"] = (idle, worker.rss() / MiB)
        print_load("after Pacte")
        listings = []
        for conventions in (
            ConventionFilter(stage="mission", party="partner-03"),
            ConventionFilter(stage="mission"),
        ):
            listings.append((conventions, *await _time_listing(client, conventions, args.repeats)))
    if not args.no_bare:
        with BenchmarkWorker(
            servers,
            bare=True,
            count_activities=True,
            max_cached_workflows=args.max_cached_workflows,
            passthrough_all=args.experiment_passthrough_all,
            name="worker-bare",
        ) as worker:
            idle = worker.rss() / MiB
            print_load("before bare")

            async def start_bare(index: int) -> None:
                await client.start_workflow(
                    BareWaiter.run, 1, id=f"scale-bare-{run}-{index:05d}", task_queue=BARE_QUEUE
                )

            await _populate(
                worker,
                args.count,
                args.wave,
                args.start_concurrency,
                start_bare,
                lambda _: 1,
                "bare",
            )
            await asyncio.sleep(2)
            memory["bare"] = (idle, worker.rss() / MiB)
    print(f"   open conventions, progressively (max_cached_workflows={cache}):")
    print_table(
        ["open", "started/s (wave)", "worker RSS MiB"],
        pacte_rows
        if len(pacte_rows) <= 12
        else pacte_rows[:: len(pacte_rows) // 10] + pacte_rows[-1:],
    )
    cached = min(args.count, cache)
    rows = []
    for side, (idle_mib, full_mib) in memory.items():
        rows.append(
            [
                f"{side} worker",
                args.count,
                idle_mib,
                full_mib,
                1024 * (full_mib - idle_mib) / cached,
            ]
        )
    print_table(["worker", "open", "idle RSS MiB", "RSS MiB at N", "KiB per cached"], rows)
    if "bare" in memory:
        print_ratio(
            "Pacte / bare worker RSS at N open",
            memory["Pacte"][1] / memory["bare"][1],
            target=MEMORY_TARGET,
            at_least=False,
        )
    print_table(
        ["listing (visibility)", "found", "list_conventions s", "raw list s"],
        [
            [
                conventions.query().removeprefix("WorkflowType = 'ConventionWorkflow' AND "),
                found,
                pacte_s,
                raw_s,
            ]
            for conventions, pacte_s, raw_s, found, _ in listings
        ],
    )
    conventions, pacte_s, raw_s, found, raw_found = listings[0]
    print_ratio(
        "list_conventions / raw list_workflows time, one stage for one partner",
        pacte_s / raw_s,
        target=None,
        at_least=False,
    )
    expected = sum(
        1
        for index in range(args.count)
        if index % len(VARIANTS) == 0 and (index // len(VARIANTS)) % PARTNERS == 3
    )
    if found != expected or raw_found != expected:
        print(f"   listing found {found} (raw {raw_found}), {expected} expected")
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    """Parse, start the servers, populate, measure, print."""
    args = parse_arguments(argv)
    print_header(
        "scale: open conventions",
        {
            "count": args.count,
            "wave": args.wave,
            "max_cached_workflows": args.max_cached_workflows
            or f"SDK default {SDK_DEFAULT_MAX_CACHED_WORKFLOWS}",
            "bare_baseline": not args.no_bare,
            "experiment_passthrough_all": args.experiment_passthrough_all,
        },
    )
    with Servers(keep=args.keep) as servers:
        return asyncio.run(_run(args, servers))


if __name__ == "__main__":
    finish(main)
