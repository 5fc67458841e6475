"""Benchmark 4, milestone persistence: rows per second with concurrent writers.

Pacte, two writers, each the activity itself called through
`temporalio.testing.ActivityEnvironment` (no Temporal server: the activity's own code, its
transaction, its predecessor read `FOR SHARE`, its hashes, its `INSERT … ON CONFLICT DO
NOTHING` and the read model's projection) on a pool made as the worker makes it
(`infra.database.create_pool`, 10 connections):
- `MilestoneStore.persist_milestones`, what the workflow's ordered ledger writes through: a
  batch of consecutive milestones chained in one transaction. Batches of the sizes the ledger
  really flushes (those of the recorded Bamako history, `tests/histories/current/`: 2.5
  milestones a call on average), then larger: a convention's 32 in one call, and 200 (the
  ledger's largest batch);
- `MilestoneStore.persist_milestone`, one activity per row (conventions recorded before the
  ledger; `starter.py terminate`).
Each writer takes conventions off a shared list and writes each one's milestones in order,
seq 1, 2, … as a workflow does (each row chains to the one before).
Also shown, as a breakdown, not a baseline: the activity's own two statements in its
transaction, called directly (no ActivityEnvironment, no log line).
Baseline: PostgreSQL's own COPY (`asyncpg copy_records_to_table`) of the same number of
rows, hashes computed beforehand, into the same `milestones` table, by as many writers at
once. No target: the ratio says what the audit record costs against the fastest way in.

    .venv/bin/python -m benchmarks.persistence [--rows 10000] [--writers 10] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import sys
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # also as a file

import asyncpg
from temporalio.testing import ActivityEnvironment

from activities.milestones import MilestoneStore
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
from infra.settings import PROJECT_ROOT
from records.chain import GENESIS_HASH, chain_hash, milestone_fields
from schemas.milestones import Milestone, MilestoneBatch, MilestoneKind
from storage.milestones import _INSERT_MILESTONE, _PREDECESSOR

MILESTONES_PER_CONVENTION = 32  # a Bamako convention records 32
LARGEST_BATCH = 200  # workflows.ledger.MAX_BATCH_MILESTONES
RECORDED_BAMAKO = PROJECT_ROOT / "tests/histories/current/bamako-cooperation/run-01.json"
COLUMNS = [
    "convention_id",
    "seq",
    "kind",
    "stage",
    "task_id",
    "party",
    "actor",
    "occurred_at",
    "summary",
    "details",
    "workflow_id",
    "run_id",
    "prev_hash",
    "hash",
]
KINDS = [
    MilestoneKind.TASK_ASSIGNED,
    MilestoneKind.TASK_ANSWERED,
    MilestoneKind.MISSION_HELD,
    MilestoneKind.FINDINGS_FILED,
    MilestoneKind.FUNDING_DECIDED,
]


def parse_arguments(argv: list[str] | None = None) -> argparse.Namespace:
    """--rows per side, --writers at once; --quick: 1,000 rows."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.persistence",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_common_arguments(parser)
    parser.add_argument("--rows", type=int, help="rows per side (default 10,000; quick 1,000)")
    parser.add_argument("--writers", type=int, default=10, help="concurrent writers (10)")
    args = parser.parse_args(argv)
    args.rows = args.rows or (1_000 if args.quick else 10_000)
    return args


def ledger_batch_sizes() -> list[int]:
    """The milestones in each `persist_milestones` call of the recorded Bamako history."""
    history = json.loads(RECORDED_BAMAKO.read_text())
    sizes = []
    for event in history["events"]:
        scheduled = event.get("activityTaskScheduledEventAttributes")
        if scheduled and scheduled["activityType"]["name"] == "persist_milestones":
            [payload] = scheduled["input"]["payloads"]
            sizes.append(len(json.loads(base64.b64decode(payload["data"]))["milestones"]))
    if not sizes:
        raise RuntimeError(f"{RECORDED_BAMAKO}: no persist_milestones call in it")
    return sizes


def batches_of(milestones: list[Milestone], sizes: list[int]) -> list[list[Milestone]]:
    """The convention's milestones cut into batches of these sizes, in turn (cycling)."""
    batches: list[list[Milestone]] = []
    position = 0
    while position < len(milestones):
        size = sizes[len(batches) % len(sizes)]
        batches.append(milestones[position : position + size])
        position += size
    return batches


def conventions_of(
    prefix: str, rows: int, per_convention: int = MILESTONES_PER_CONVENTION
) -> list[list[Milestone]]:
    """Conventions of per_convention milestones (the last one shorter), in order."""
    start = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
    conventions: list[list[Milestone]] = []
    for index in range(0, rows, per_convention):
        convention_id = f"{prefix}-{index // per_convention:05d}"
        milestones = []
        for seq in range(1, min(per_convention, rows - index) + 1):
            kind = KINDS[seq % len(KINDS)]
            milestones.append(
                Milestone(
                    convention_id=convention_id,
                    seq=seq,
                    kind=kind,
                    stage="mission",
                    task_id=f"mission.host.r{seq}",
                    party="menefp",
                    actor="Drissa GUINDO",
                    occurred_at=start + timedelta(minutes=seq),
                    summary=(
                        f"Accueillir la mission à Bamako (ML) — dû par menefp, étape {seq} "
                        "· البنك الإسلامي للتنمية"
                    ),
                    details={
                        "kind": kind.value,
                        "due_at": (start + timedelta(days=30)).isoformat(),
                        "held": ["visit-senou", "visit-missabougou"],
                        "amount": 36_000_000,
                    },
                )
            )
        conventions.append(milestones)
    return conventions


async def pacte_writes(
    pool: asyncpg.Pool, conventions: list[list[Milestone]], writers: int
) -> tuple[float, list[float]]:
    """persist_milestone through ActivityEnvironment; (seconds, each call's seconds)."""
    store = MilestoneStore(pool)
    queue = list(reversed(conventions))
    latencies: list[float] = []

    async def writer() -> None:
        environment = ActivityEnvironment()
        while queue:
            for milestone in queue.pop():
                began = time.perf_counter()
                inserted = await environment.run(store.persist_milestone, milestone)
                latencies.append(time.perf_counter() - began)
                if not inserted:
                    raise RuntimeError(f"{milestone.idempotency_key} was already written")

    started = time.perf_counter()
    await asyncio.gather(*(writer() for _ in range(writers)))
    return time.perf_counter() - started, latencies


async def pacte_batched_writes(
    pool: asyncpg.Pool, conventions: list[list[Milestone]], writers: int, sizes: list[int]
) -> tuple[float, list[float]]:
    """persist_milestones through ActivityEnvironment, each convention in batches of these
    sizes one after the other, as the ledger sends them; (seconds, each call's seconds)."""
    store = MilestoneStore(pool)
    queue = list(reversed(conventions))
    latencies: list[float] = []

    async def writer() -> None:
        environment = ActivityEnvironment()
        while queue:
            for batch in batches_of(queue.pop(), sizes):
                began = time.perf_counter()
                await environment.run(store.persist_milestones, MilestoneBatch(milestones=batch))
                latencies.append(time.perf_counter() - began)

    started = time.perf_counter()
    await asyncio.gather(*(writer() for _ in range(writers)))
    return time.perf_counter() - started, latencies


async def statement_writes(
    pool: asyncpg.Pool, conventions: list[list[Milestone]], writers: int
) -> float:
    """The activity's own statements and transaction, called directly; seconds.

    Not the product path: it tells how much of persist_milestone is the database's.
    """
    queue = list(reversed(conventions))

    async def write(milestone: Milestone) -> None:
        fields = milestone_fields(milestone)
        async with pool.acquire() as connection, connection.transaction():
            prev_hash = GENESIS_HASH
            if milestone.seq > 1:
                row = await connection.fetchrow(
                    _PREDECESSOR, milestone.convention_id, milestone.seq - 1
                )
                prev_hash = row["hash"]
            await connection.execute(
                _INSERT_MILESTONE,
                *(fields[name] for name in COLUMNS[:10]),
                f"convention-{milestone.convention_id}",
                "bench-direct-run",
                prev_hash,
                chain_hash(prev_hash, fields),
            )

    async def writer() -> None:
        while queue:
            for milestone in queue.pop():
                await write(milestone)

    started = time.perf_counter()
    await asyncio.gather(*(writer() for _ in range(writers)))
    return time.perf_counter() - started


def copy_records(conventions: list[list[Milestone]]) -> list[tuple[Any, ...]]:
    """The rows persist_milestone would write, hashes chained, for COPY."""
    records = []
    for milestones in conventions:
        prev_hash = GENESIS_HASH
        for milestone in milestones:
            fields = milestone_fields(milestone)
            digest = chain_hash(prev_hash, fields)
            records.append(
                (
                    *(fields[name] for name in COLUMNS[:9]),
                    json.dumps(fields["details"], ensure_ascii=False),
                    f"convention-{milestone.convention_id}",
                    "bench-copy-run",
                    prev_hash,
                    digest,
                )
            )
            prev_hash = digest
    return records


async def copy_writes(pool: asyncpg.Pool, records: list[tuple[Any, ...]], writers: int) -> float:
    """COPY the records, split evenly between the writers; seconds.

    The pool has asyncpg's own codecs: COPY is binary, and Pacte's pool speaks jsonb as text.
    """
    shares = [records[index::writers] for index in range(writers)]

    async def writer(share: list[tuple[Any, ...]]) -> None:
        async with pool.acquire() as connection:
            await connection.copy_records_to_table("milestones", records=share, columns=COLUMNS)

    started = time.perf_counter()
    await asyncio.gather(*(writer(share) for share in shares if share))
    return time.perf_counter() - started


@dataclass
class Side:
    """One writer's figures."""

    label: str
    prefix: str
    seconds: float
    calls: list[float]


async def _run(args: argparse.Namespace, servers: Servers) -> int:
    pool = await create_pool(servers.database_url)
    copy_pool: asyncpg.Pool = await asyncpg.create_pool(
        servers.database_url, min_size=1, max_size=args.writers
    )
    run = uuid.uuid4().hex[:6]
    ledger = ledger_batch_sizes()
    print(
        f"   the ledger's batches in the recorded Bamako history: {ledger} "
        f"({len(ledger)} calls, {sum(ledger) / len(ledger):.2f} milestones a call)",
        flush=True,
    )
    batched = [
        (
            "ledger",
            f"persist_milestones, ledger-sized batches ({sum(ledger) / len(ledger):.1f} a call)",
        ),
        ("convention", f"persist_milestones, {MILESTONES_PER_CONVENTION} a call"),
        ("largest", f"persist_milestones, {LARGEST_BATCH} a call"),
    ]
    sizes = {
        "ledger": ledger,
        "convention": [MILESTONES_PER_CONVENTION],
        "largest": [LARGEST_BATCH],
    }
    per_convention = {"largest": LARGEST_BATCH}
    sides: list[Side] = []
    try:
        # A warm-up of each side (connections, statements), untimed.
        await pacte_writes(pool, conventions_of(f"warm-pacte-{run}", 64), args.writers)
        await pacte_batched_writes(
            pool, conventions_of(f"warm-batched-{run}", 64), args.writers, ledger
        )
        await statement_writes(pool, conventions_of(f"warm-direct-{run}", 64), args.writers)
        warm = copy_records(conventions_of(f"warm-copy-{run}", 64))
        await copy_writes(copy_pool, warm, args.writers)
        records = copy_records(conventions_of(f"copy-{run}", args.rows))
        print_load("before")
        for name, label in batched:
            conventions = conventions_of(
                f"{name}-{run}",
                args.rows,
                per_convention.get(name, MILESTONES_PER_CONVENTION),
            )
            seconds, calls = await pacte_batched_writes(
                pool, conventions, args.writers, sizes[name]
            )
            sides.append(Side(label, name, seconds, calls))
        seconds, calls = await pacte_writes(
            pool, conventions_of(f"pacte-{run}", args.rows), args.writers
        )
        sides.append(Side("persist_milestone, 1 a call", "pacte", seconds, calls))
        direct = conventions_of(f"direct-{run}", args.rows)
        direct_seconds = await statement_writes(pool, direct, args.writers)
        sides.append(
            Side("  breakdown: its statements, called directly", "direct", direct_seconds, [])
        )
        copy_seconds = await copy_writes(copy_pool, records, args.writers)
        sides.append(Side("COPY (copy_records_to_table)", "copy", copy_seconds, []))
        print_load("after")
        async with pool.acquire() as connection:
            written = {
                side.prefix: await connection.fetchval(
                    "SELECT count(*) FROM milestones WHERE convention_id LIKE $1",
                    f"{side.prefix}-{run}-%",
                )
                for side in sides
            }
    finally:
        await pool.close()
        await copy_pool.close()
    print_table(
        ["writer (ActivityEnvironment)", "rows", "in table", "calls", "seconds", "rows/s"],
        [
            [
                side.label,
                args.rows,
                written[side.prefix],
                len(side.calls) or "-",
                side.seconds,
                args.rows / side.seconds,
            ]
            for side in sides
        ],
    )
    for side in sides:
        if side.calls:
            print(
                f"   {side.label} per call: p50 {1000 * percentile(side.calls, 0.5):.2f} ms, "
                f"p95 {1000 * percentile(side.calls, 0.95):.2f} ms ({args.writers} writers)",
                flush=True,
            )
    for side in sides:
        if side.calls:
            print_ratio(
                f"{side.label} / COPY rows per second",
                copy_seconds / side.seconds,
                target=None,
                at_least=True,
            )
    if any(count != args.rows for count in written.values()):
        print("   rows missing: the figures above are wrong")
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    """Parse, start PostgreSQL, write both ways, print."""
    args = parse_arguments(argv)
    print_header("milestone persistence", {"rows": args.rows, "writers": args.writers})
    with Servers(keep=args.keep, temporal=False) as servers:
        return asyncio.run(_run(args, servers))


if __name__ == "__main__":
    finish(main)
