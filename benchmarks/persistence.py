"""Benchmark 4, milestone persistence: rows per second with concurrent writers.

Pacte: `MilestoneStore.persist_milestone`, the activity itself, called through
`temporalio.testing.ActivityEnvironment` (no Temporal server: the activity's own code, its
transaction, its predecessor read `FOR SHARE`, its hash and its `INSERT … ON CONFLICT DO
NOTHING`) on a pool made as the worker makes it (`infra.database.create_pool`, 10
connections). Each writer takes conventions off a shared list and writes each one's
milestones in order, seq 1, 2, … as a workflow does (each row chains to the one before).
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
import json
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # also as a file

import asyncpg
from temporalio.testing import ActivityEnvironment

from activities.milestones import _INSERT_MILESTONE, _PREDECESSOR, MilestoneStore
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
from records.chain import GENESIS_HASH, chain_hash, milestone_fields
from schemas.milestones import Milestone, MilestoneKind

MILESTONES_PER_CONVENTION = 32  # a Bamako convention records 32
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


def conventions_of(prefix: str, rows: int) -> list[list[Milestone]]:
    """Conventions of MILESTONES_PER_CONVENTION milestones (the last one shorter), in order."""
    start = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
    conventions: list[list[Milestone]] = []
    for index in range(0, rows, MILESTONES_PER_CONVENTION):
        convention_id = f"{prefix}-{index // MILESTONES_PER_CONVENTION:05d}"
        milestones = []
        for seq in range(1, min(MILESTONES_PER_CONVENTION, rows - index) + 1):
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


async def _run(args: argparse.Namespace, servers: Servers) -> int:
    pool = await create_pool(servers.database_url)
    copy_pool: asyncpg.Pool = await asyncpg.create_pool(
        servers.database_url, min_size=1, max_size=args.writers
    )
    run = uuid.uuid4().hex[:6]
    try:
        # A warm-up of each side (connections, statements), untimed.
        await pacte_writes(pool, conventions_of(f"warm-pacte-{run}", 64), args.writers)
        await statement_writes(pool, conventions_of(f"warm-direct-{run}", 64), args.writers)
        warm = copy_records(conventions_of(f"warm-copy-{run}", 64))
        await copy_writes(copy_pool, warm, args.writers)
        pacte_conventions = conventions_of(f"pacte-{run}", args.rows)
        records = copy_records(conventions_of(f"copy-{run}", args.rows))
        print_load("before")
        pacte_seconds, latencies = await pacte_writes(pool, pacte_conventions, args.writers)
        direct = conventions_of(f"direct-{run}", args.rows)
        direct_seconds = await statement_writes(pool, direct, args.writers)
        copy_seconds = await copy_writes(copy_pool, records, args.writers)
        print_load("after")
        async with pool.acquire() as connection:
            written = {
                side: await connection.fetchval(
                    "SELECT count(*) FROM milestones WHERE convention_id LIKE $1",
                    f"{side}-{run}-%",
                )
                for side in ("pacte", "direct", "copy")
            }
    finally:
        await pool.close()
        await copy_pool.close()
    print_table(
        ["writer", "rows", "in table", "seconds", "rows/s"],
        [
            [
                "persist_milestone via ActivityEnvironment",
                args.rows,
                written["pacte"],
                pacte_seconds,
                args.rows / pacte_seconds,
            ],
            [
                "  breakdown: its statements, called directly",
                args.rows,
                written["direct"],
                direct_seconds,
                args.rows / direct_seconds,
            ],
            [
                "COPY (copy_records_to_table)",
                args.rows,
                written["copy"],
                copy_seconds,
                args.rows / copy_seconds,
            ],
        ],
    )
    print(
        f"   persist_milestone per call: p50 {1000 * percentile(latencies, 0.5):.2f} ms, "
        f"p95 {1000 * percentile(latencies, 0.95):.2f} ms ({args.writers} writers)",
        flush=True,
    )
    print_ratio(
        "persist_milestone / COPY rows per second",
        copy_seconds / pacte_seconds,
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
