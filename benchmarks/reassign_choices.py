"""What reassigning from the directory costs the office desk (issue 26 item 7): the people an
open task may be given to (`choices_for`, read for every convention page an officer opens)
and the check of the one picked (`checked_assignee`, at each reassignment), against an
organisation holding 10, 100 and 1,000 people (half of them with the capacity the task
needs), in a real PostgreSQL. No target: the figures say how the page's cost grows with a
party's size.

    .venv/bin/python -m benchmarks.reassign_choices [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # also as a file

from application.directory.editors import Editor, EditorRole
from application.directory.organisations import NewOrganisation, add_organisation
from application.directory.people import NewPerson, add_person
from application.office.reassignees import checked_assignee, choices_for
from benchmarks.report import (
    add_common_arguments,
    finish,
    percentile,
    print_header,
    print_load,
    print_ratio,
    print_table,
)
from infra.database import apply_migrations, create_pool
from infra.embedded import embedded_postgres_url, stop_embedded_postgres
from schemas.tasks import Task, TaskKind

EDITOR = Editor("benchmarks/reassign_choices.py", EditorRole.ADMIN)
SIZES = (10, 100, 1_000)


def parse_arguments(argv: list[str] | None = None) -> argparse.Namespace:
    """--quick: fewer timed calls and no 1,000-people organisation."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.reassign_choices")
    add_common_arguments(parser)
    return parser.parse_args(argv)


def _task(party: str) -> Task:
    now = datetime.now(UTC)
    return Task(
        id="funding_request.decision.r1",
        convention_id="benchmark",
        stage="funding_request",
        kind=TaskKind.DECIDE_FUNDING,
        assignee=party,
        title="Decide",
        assigned_at=now,
        due_at=now + timedelta(days=30),
    )


async def run(quick: bool) -> int:
    sizes = SIZES[:2] if quick else SIZES
    calls = 50 if quick else 300
    print_header("reassign_choices", {"people per organisation": list(sizes), "timed calls": calls})
    print_load("before")
    state = Path(tempfile.mkdtemp(prefix="pacte-reassign-bench-"))
    pool = await create_pool(embedded_postgres_url(state))
    rows: list[list[object]] = []
    p50s: dict[int, float] = {}
    try:
        await apply_migrations(pool)
        for size in sizes:
            party = f"org-{uuid.uuid4().hex[:8]}"
            await add_organisation(
                pool, EDITOR, NewOrganisation(id=party, name_fr=party, kind="funder", country="MA")
            )
            picked = ""
            for index in range(size):
                capacity = "decide_funding" if index % 2 == 0 else "answer"
                person = await add_person(
                    pool,
                    EDITOR,
                    party,
                    NewPerson(f"Person {index}", f"p{index}.{party}@bench.example", "fr"),
                    [capacity],
                )
                if index == size - 2:
                    picked = person.id
            task = _task(party)
            choices_ms: list[float] = []
            check_ms: list[float] = []
            for _ in range(calls):
                started = time.perf_counter()
                [offered] = await choices_for(pool, [task], {})
                choices_ms.append((time.perf_counter() - started) * 1000)
                started = time.perf_counter()
                assert await checked_assignee(pool, task, picked) is not None
                check_ms.append((time.perf_counter() - started) * 1000)
            assert len(offered.choices) == (size + 1) // 2
            p50s[size] = percentile(choices_ms, 0.5)
            rows.append(
                [
                    size,
                    len(offered.choices),
                    p50s[size],
                    percentile(choices_ms, 0.95),
                    percentile(check_ms, 0.5),
                    percentile(check_ms, 0.95),
                ]
            )
    finally:
        await pool.close()
        stop_embedded_postgres(state)
        shutil.rmtree(state, ignore_errors=True)
    print_table(["people", "offered", "choices p50 ms", "p95 ms", "check p50 ms", "p95 ms"], rows)
    print_load("after")
    print_ratio(
        f"choices p50 at {sizes[-1]} people / at {sizes[0]}",
        p50s[sizes[-1]] / p50s[sizes[0]],
        target=None,
        at_least=False,
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point."""
    args = parse_arguments(argv)
    return asyncio.run(run(args.quick))


if __name__ == "__main__":
    finish(main)
