"""The portfolio's aggregates (migration 035) give exactly the figures of the full queries
over every convention, after every kind of change of the read model, and two transactions
counting on the same counter row lose no count (issue 27). Against the real PostgreSQL."""

from __future__ import annotations

import asyncio
import random
import uuid
from decimal import Decimal
from typing import Any

import asyncpg
import pytest

from application.office.portfolio import (
    check_aggregates,
    fold_aggregates,
    portfolio,
    portfolio_page,
)
from storage.portfolio import recount_aggregates
from storage.read_model import record_convention_file
from tests.conftest import example, renamed

ASYNC = pytest.mark.asyncio(loop_scope="session")

STAGES = [None, "signature", "implementation", "closure"]
KINDS = [None, "framework", "specific"]
STATES = ["active", "active", "active", "ended", "archived"]
COUNTRIES: list[list[str | None]] = [[], ["ML"], ["SN", "ML"], ["TN", "TN"], ["FR", None]]
SECTORS = [None, "BTP", "Numérique", "الصناعة التقليدية"]
FUNDERS = [None, "afd", "bid", "giz"]
CURRENCIES = [None, "EUR", "USD", "MAD"]
AMOUNTS = [None, Decimal("100"), Decimal("2500.50"), Decimal("3.125"), Decimal("4.000E+7")]
DECISIONS = [None, "pending", "more_information", "reject", "approve"]

INSERT_CONVENTION = """
INSERT INTO conventions (id, stage, kind, state, countries, sector, funder, currency,
    requested, granted, granted_currency, decision, targets, actuals, spent, spent_currency,
    budget, budget_currency, cohorts)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13::jsonb, $14::jsonb, $15, $16,
    $17, $18, $19::jsonb)"""
INSERT_TASK = """
INSERT INTO office_tasks (convention_id, task_id, party, due_at, state)
VALUES ($1, $2, 'party-a', now() + make_interval(secs => $3), $4)"""


async def assert_same(pool: asyncpg.Pool, when: str, *, fold: bool = True) -> None:
    """The same figures from counters and deltas, then (`fold`) once the deltas are folded."""
    for folded in (False, True) if fold else (False,):
        if folded:
            await fold_aggregates(pool)
            assert await pool.fetchval("SELECT count(*) FROM portfolio_stage_deltas") == 0
        for rows in (50, 3):  # the page's rows, and few: the first rows are cut short
            differing = await check_aggregates(pool, rows=rows)
            assert differing == {}, f"{when} (rows={rows}, folded={folded}): {differing}"


def varied(rng: random.Random, convention_id: str) -> list[Any]:
    targets = {f"ind-{i}": str(rng.choice([10, 25.5, 300])) for i in range(rng.randint(0, 3))}
    actuals = {key: rng.choice([0, 7, 12.25]) for key in targets if rng.random() < 0.6}
    cohorts = {
        f"cohort-{i}": {"enrolled": rng.randint(0, 90), "completed": rng.randint(0, 50)}
        | ({"certified": rng.randint(0, 40)} if rng.random() < 0.7 else {})
        for i in range(rng.choice([0, 0, 1, 2]))
    }
    return [
        convention_id,
        rng.choice(STAGES),
        rng.choice(KINDS),
        rng.choice(STATES),
        rng.choice(COUNTRIES),
        rng.choice(SECTORS),
        rng.choice(FUNDERS),
        rng.choice(CURRENCIES),
        rng.choice(AMOUNTS),
        rng.choice(AMOUNTS),
        rng.choice(CURRENCIES),
        rng.choice(DECISIONS),
        targets,
        actuals,
        rng.choice(AMOUNTS),
        rng.choice(CURRENCIES),
        rng.choice(AMOUNTS),
        rng.choice(CURRENCIES),
        cohorts,
    ]


async def seed(pool: asyncpg.Pool, prefix: str, count: int, rng: random.Random) -> list[str]:
    ids = [f"{prefix}-{i:03d}" for i in range(count)]
    for convention_id in ids:
        await pool.execute(INSERT_CONVENTION, *varied(rng, convention_id))
        for task in range(rng.randint(0, 3)):
            # Overdue by days, due earlier today (a few seconds), due later, answered.
            seconds = rng.choice([-5 * 86400, -86400, -30, -2, 3600, 3 * 86400])
            state = rng.choice(["open", "open", "answered", "cancelled"])
            await pool.execute(INSERT_TASK, convention_id, f"task-{task}", seconds, state)
    await pool.execute(
        "INSERT INTO office_tasks (convention_id, task_id, state) VALUES ($1, 'no-due', 'open')",
        ids[0],
    )
    return ids


@ASYNC
async def test_the_aggregates_give_the_full_queries_figures_after_each_change(
    db_pool: asyncpg.Pool,
) -> None:
    rng = random.Random(27)
    prefix = f"agg-{uuid.uuid4().hex[:6]}"
    ids = await seed(db_pool, prefix, 60, rng)
    await assert_same(db_pool, "seeded")
    page = await portfolio_page(db_pool)
    assert page.totals["overdue"] > 0 and page.totals["indicators"] > 0
    assert any(row["rejected"] for row in page.tables["funding"])

    first, second, third = ids[1], ids[2], ids[3]
    changes = [
        ("a convention moves stage", "UPDATE conventions SET stage = 'closure' WHERE id = $1"),
        ("is archived", "UPDATE conventions SET state = 'archived' WHERE id = $1"),
        ("comes back", "UPDATE conventions SET state = 'active' WHERE id = $1"),
        ("is ended", "UPDATE conventions SET state = 'ended' WHERE id = $1"),
        (
            "an indicator is reported",
            'UPDATE conventions SET targets = targets || \'{"new": "40"}\','
            " actuals = actuals || '{\"new\": 12}' WHERE id = $1",
        ),
        (
            "its funding is decided",
            "UPDATE conventions SET funder = 'afd', currency = 'EUR', requested = 12.5,"
            " decision = 'reject', granted = 7.000, granted_currency = NULL WHERE id = $1",
        ),
        (
            "the amount loses its decimals",
            "UPDATE conventions SET requested = 12, granted = 7 WHERE id = $1",
        ),
        ("countries change", "UPDATE conventions SET countries = '{ML,ML,DE}' WHERE id = $1"),
        ("countries emptied", "UPDATE conventions SET countries = '{}' WHERE id = $1"),
        ("spend reported", "UPDATE conventions SET spent = 10.10 WHERE id = $1"),
        (
            "a cohort reported",
            'UPDATE conventions SET cohorts = cohorts || \'{"c9": {"enrolled": 4}}\' WHERE id = $1',
        ),
        ("cohorts cleared", "UPDATE conventions SET cohorts = '{}' WHERE id = $1"),
        ("a milestone changes no figure", "UPDATE conventions SET title = 'x' WHERE id = $1"),
        (
            "a task answered",
            "UPDATE office_tasks SET state = 'answered' WHERE convention_id = $1"
            " AND task_id = 'task-0'",
        ),
        (
            "a task due again long ago",
            "UPDATE office_tasks SET state = 'open', due_at = now() - interval '40 days'"
            " WHERE convention_id = $1",
        ),
        (
            "a task due earlier today",
            "UPDATE office_tasks SET due_at = now() - interval '1 second' WHERE convention_id = $1",
        ),
        ("tasks deleted", "DELETE FROM office_tasks WHERE convention_id = $1"),
        ("a convention deleted", "DELETE FROM conventions WHERE id = $1"),
    ]
    for convention_id in (first, second, third):
        await db_pool.execute(
            INSERT_TASK, convention_id, "late", -3 * 86400, "open"
        )  # each has an overdue task, whatever its state
        for index, (when, statement) in enumerate(changes):
            await db_pool.execute(statement, convention_id)
            # Deltas left over several changes, then folded: both read the same.
            await assert_same(db_pool, f"{convention_id}: {when}", fold=index % 3 == 2)

    # A task of a convention not (or no longer) in the read model is not counted.
    await db_pool.execute(INSERT_TASK, f"{prefix}-gone", "orphan", -86400, "open")
    await db_pool.execute(INSERT_CONVENTION, *varied(rng, f"{prefix}-gone"))
    await db_pool.execute("UPDATE conventions SET state = 'active' WHERE id = $1", f"{prefix}-gone")
    await assert_same(db_pool, "a convention recorded after its task")

    # The read model's own writer (an officer's start records the file and the row).
    await record_convention_file(db_pool, renamed(example("cycle-maalam")))
    await assert_same(db_pool, "a convention recorded by its file")

    # Rolled back: its counts with it.
    async with db_pool.acquire() as connection:
        transaction = connection.transaction()
        await transaction.start()
        await connection.execute("UPDATE conventions SET state = 'ended' WHERE id = $1", ids[5])
        await connection.execute(INSERT_CONVENTION, *varied(rng, f"{prefix}-rolled"))
        await transaction.rollback()
    await assert_same(db_pool, "after a rollback")


@ASYNC
async def test_counters_gone_wrong_are_seen_by_the_check_and_counted_again(
    db_pool: asyncpg.Pool,
) -> None:
    await seed(db_pool, f"agg-{uuid.uuid4().hex[:6]}", 5, random.Random(4))
    await db_pool.execute(
        "INSERT INTO portfolio_stage_deltas VALUES ('signature', 'specific', 'active', 5)"
    )
    await db_pool.execute("INSERT INTO portfolio_overdue_deltas VALUES ('2000-01-02', 1)")
    assert set(await check_aggregates(db_pool)) == {"stages", "overdue"}
    await recount_aggregates(db_pool)
    await assert_same(db_pool, "counted again")


@ASYNC
async def test_a_truncate_of_the_tasks_is_counted_again(db_pool: asyncpg.Pool) -> None:
    """A TRUNCATE fires no row trigger: its statement trigger counts again (rolled back
    here, the other tests' rows stay)."""
    await seed(db_pool, f"agg-{uuid.uuid4().hex[:6]}", 5, random.Random(6))
    async with db_pool.acquire() as connection:
        transaction = connection.transaction()
        await transaction.start()
        try:
            assert (await portfolio_page(connection, ("overdue",))).totals["overdue"] > 0
            await connection.execute("TRUNCATE office_tasks")
            fast = await portfolio_page(connection, ("overdue",))
            full = await portfolio_page(connection, ("overdue",), full=True)
            assert fast.totals == full.totals == {"overdue": 0}
        finally:
            await transaction.rollback()
    await assert_same(db_pool, "a truncate rolled back")


@ASYNC
async def test_the_downloads_tables_per_stage_country_and_funder_are_the_same(
    db_pool: asyncpg.Pool,
) -> None:
    await seed(db_pool, f"agg-{uuid.uuid4().hex[:6]}", 10, random.Random(3))
    fast = await portfolio(db_pool, ("stages", "countries", "funding"))
    full = await portfolio_page(db_pool, ("stages", "countries", "funding"), full=True)
    assert repr(fast) == repr(full.tables)


async def _counted(pool: asyncpg.Pool, stage: str) -> int:
    rows = (await portfolio(pool, ("stages",)))["stages"]
    return sum(row["conventions"] for row in rows if row["stage"] == stage)


@ASYNC
async def test_two_transactions_on_the_same_counter_lose_no_count(db_pool: asyncpg.Pool) -> None:
    """Two writers of one key (a new one, then the same again) neither wait for each other
    nor lose a count; two folds at a time fold each delta once."""
    prefix = f"agg-{uuid.uuid4().hex[:6]}"
    stage = f"stage-{prefix}"
    rng = random.Random(5)

    async def insert_in(connection: asyncpg.Connection, convention_id: str) -> None:
        row = varied(rng, convention_id)
        row[1], row[2], row[3] = stage, "specific", "active"
        await connection.execute(INSERT_CONVENTION, *row)

    for round_ in range(2):
        first = await db_pool.acquire()
        second = await db_pool.acquire()
        try:
            one, two = first.transaction(), second.transaction()
            await one.start()
            await two.start()
            await insert_in(first, f"{prefix}-{round_}-a")
            # Not queued behind the first's open transaction: a delta is an insert.
            await asyncio.wait_for(insert_in(second, f"{prefix}-{round_}-b"), timeout=10)
            await one.commit()
            await two.commit()
        finally:
            await db_pool.release(first)
            await db_pool.release(second)
        assert await _counted(db_pool, stage) == 2 * (round_ + 1)
        await assert_same(db_pool, "after two concurrent writers", fold=round_ == 0)

    # Two folds at a time: the second waits for the deltas the first deleted, then skips them.
    first = await db_pool.acquire()
    second = await db_pool.acquire()
    try:
        one, two = first.transaction(), second.transaction()
        await one.start()
        await two.start()
        assert await fold_aggregates(first) > 0
        waiting = asyncio.create_task(fold_aggregates(second))
        await asyncio.sleep(0.3)
        assert not waiting.done()
        await one.commit()
        await waiting
        await two.commit()
    finally:
        await db_pool.release(first)
        await db_pool.release(second)
    counted = await db_pool.fetchval(
        "SELECT conventions FROM portfolio_stage_counts WHERE stage = $1", stage
    )
    assert counted == 4
    await assert_same(db_pool, "after two folds at a time")


@ASYNC
async def test_a_task_written_while_its_convention_ends_is_counted_once(
    db_pool: asyncpg.Pool,
) -> None:
    """The convention's end counts its open tasks out, a new task counts itself in: whichever
    commits first, the other sees it (the task's trigger takes a share lock on the row)."""
    prefix = f"agg-{uuid.uuid4().hex[:6]}"
    rng = random.Random(8)
    for order in ("end first", "task first"):
        convention_id = f"{prefix}-{order.split()[0]}"
        row = varied(rng, convention_id)
        row[3] = "active"
        await db_pool.execute(INSERT_CONVENTION, *row)
        await db_pool.execute(INSERT_TASK, convention_id, "old", -2 * 86400, "open")
        ending = await db_pool.acquire()
        tasking = await db_pool.acquire()
        try:
            end_tx, task_tx = ending.transaction(), tasking.transaction()
            await end_tx.start()
            await task_tx.start()
            end = "UPDATE conventions SET state = 'ended' WHERE id = $1"
            if order == "end first":
                await ending.execute(end, convention_id)
                waiting = asyncio.create_task(
                    tasking.execute(INSERT_TASK, convention_id, "new", -86400, "open")
                )
                await asyncio.sleep(0.3)
                assert not waiting.done()
                await end_tx.commit()
                await waiting
                await task_tx.commit()
            else:
                await tasking.execute(INSERT_TASK, convention_id, "new", -86400, "open")
                waiting = asyncio.create_task(ending.execute(end, convention_id))
                await asyncio.sleep(0.3)
                assert not waiting.done()
                await task_tx.commit()
                await waiting
                await end_tx.commit()
        finally:
            await db_pool.release(ending)
            await db_pool.release(tasking)
        await assert_same(db_pool, order)
