"""The portfolio: the office's page, its charts, its CSV and JSON downloads and `starter.py
report`, all from the read model (queries in `storage/portfolio.py`); conventions started
without a recorded file get theirs from their workflow's start event first."""

from __future__ import annotations

import asyncio
import json
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import asyncpg
import structlog
from temporalio.client import Client
from temporalio.service import RPCError

from records.csv_writer import write_dict_csv
from schemas.contract import workflow_id_for
from schemas.status import ConventionInput
from storage import convention_files
from storage import portfolio as queries
from storage.portfolio import (
    AGGREGATE_TABLES,
    PER_CONVENTION_TABLES,
    PORTFOLIO_TABLES,
    fold_aggregates,
    portfolio_query,
)
from storage.read_model import record_convention_file

__all__ = [
    "BACKFILL_PER_LOAD",
    "PAGE_ROWS",
    "PER_CONVENTION_TABLES",
    "PORTFOLIO_TABLES",
    "PortfolioCache",
    "PortfolioPage",
    "backfill_convention_files",
    "check_aggregates",
    "fold_aggregates",
    "portfolio",
    "portfolio_json",
    "portfolio_page",
    "portfolio_query",
    "table_csv",
]

BACKFILL_PER_LOAD = 20
PAGE_ROWS = 50
"""The office's page and its charts show the first PAGE_ROWS rows of each per-convention
table (in the table's own order: the overdue tasks latest first); the CSV, the JSON and
`starter.py report` have every row. At 10,000 conventions the indicators alone are some
16,000 rows: as one page (4.5 MB of HTML) and one chart they were unreadable and slow."""


async def backfill_convention_files(
    pool: asyncpg.Pool, client: Client, limit: int = BACKFILL_PER_LOAD
) -> int:
    """Record the file of conventions started without one (by the demo, by a diagnostic's
    follow-up, before migration 006) from their workflow's start event; a few per call.
    Returns how many were recorded."""
    recorded = 0
    for convention_id in await convention_files.without_file(pool, limit):
        try:
            handle = client.get_workflow_handle(workflow_id_for(convention_id))
            async for event in handle.fetch_history_events():
                started = event.workflow_execution_started_event_attributes
                [given] = await client.data_converter.decode(
                    started.input.payloads, [ConventionInput]
                )
                break
            else:
                continue
        except (RPCError, ValueError, TypeError):
            continue  # gone from Temporal (retention) or unreadable here: stays without
        if isinstance(given, ConventionInput):
            await record_convention_file(pool, given.convention)
            recorded += 1
    return recorded


@dataclass(frozen=True)
class PortfolioPage:
    """What the office's page shows: each table's first rows, and how many it has, as
    computed at `computed_at` (the page says it: it may be served for a while after)."""

    tables: dict[str, list[dict[str, Any]]]
    totals: dict[str, int]
    computed_at: datetime = field(default_factory=lambda: datetime.now(UTC))


def _plain(rows: list[dict[str, Any]], table: str) -> list[dict[str, Any]]:
    for row in rows:
        for column, value in row.items():
            if isinstance(value, Decimal):
                # asyncpg decodes numeric 40000000 as 4.000E+7: shown as plain digits.
                row[column] = Decimal(format(value, "f"))
    if table == "cohorts":
        for row in rows:
            row["pass_rate"] = (
                round(row["certified"] / row["completed"], 3) if row["completed"] else None
            )
    return rows


async def portfolio(
    pool: asyncpg.Pool, tables: tuple[str, ...] = PORTFOLIO_TABLES
) -> dict[str, list[dict[str, Any]]]:
    """Every row of every table (or of those named): the tables per stage, country and
    funder from their counters, the per-convention ones from one query each."""
    return {
        name: _plain(
            await (queries.aggregate_rows if name in AGGREGATE_TABLES else queries.table_rows)(
                pool, name
            ),
            name,
        )
        for name in tables
    }


async def portfolio_page(
    pool: queries.Executor,
    tables: tuple[str, ...] = PORTFOLIO_TABLES,
    rows: int = PAGE_ROWS,
    *,
    full: bool = False,
) -> PortfolioPage:
    """The page's share of the portfolio: every row of the tables per stage, country and
    funder; the first `rows` of the per-convention ones, with their count. From the
    aggregates the read model's writes keep (migration 035), a few hundred rows read;
    `full`: from the full queries over every convention, as before them (the check's
    oracle: `check_aggregates`)."""
    shown: dict[str, list[dict[str, Any]]] = {}
    totals: dict[str, int] = {}
    for name in tables:
        if name not in PER_CONVENTION_TABLES:
            read = queries.table_rows if full else queries.aggregate_rows
            shown[name] = _plain(await read(pool, name), name)
            totals[name] = len(shown[name])
            continue
        if full:
            fetched, totals[name] = await queries.first_rows(pool, name, rows)
        else:
            fetched, totals[name] = await queries.page_rows(pool, name, rows)
        shown[name] = _plain(fetched, name)
    return PortfolioPage(shown, totals)


async def check_aggregates(
    pool: asyncpg.Pool, tables: tuple[str, ...] = PORTFOLIO_TABLES, rows: int = PAGE_ROWS
) -> dict[str, tuple[Any, Any]]:
    """The page from the aggregates against the page from the full queries, both in one
    snapshot (a repeatable-read transaction: the same rows and the same now): the tables
    that differ, each with (aggregates, full). Empty when every figure is the same."""
    async with pool.acquire() as connection, connection.transaction(isolation="repeatable_read"):
        fast = await portfolio_page(connection, tables, rows)
        full = await portfolio_page(connection, tables, rows, full=True)
    differing: dict[str, tuple[Any, Any]] = {}
    for name in tables:
        # Compared as text too: Decimal("1.50") == Decimal("1.5"), but the page shows them
        # differently.
        mine = (fast.tables[name], fast.totals[name])
        theirs = (full.tables[name], full.totals[name])
        if mine != theirs or repr(mine) != repr(theirs):
            differing[name] = (mine, theirs)
    return differing


CACHE_SECONDS = 60.0
"""How long a computed page stands even if the version has not moved: the overdue table
depends on today, and a reader may read the version in the instant between a writer's bump
and its commit (migration 014); a minute bounds both."""
STALE_SECONDS = 0.0
"""How old a page may be and still be served, while a newer one is computed behind it, once
the read model has changed. It was 30 s while the page's seven queries scanned every
convention (about 2 s at 100,000, benchmarks/results/2026-12-07-portfolio-100k.txt); since
migration 035 the page reads the aggregates the read model's writes keep, a few hundred rows
whatever the portfolio's size, so the load after a change computes it and shows the figures
of the last commit. Kept as a setting of the cache for a database slower than that."""
_CACHED_PAGES = 16

log = structlog.get_logger(__name__)


@dataclass
class PortfolioCache:
    """The page's tables, computed once per read-model version and served from memory while
    that version stands (at most `seconds`); after a change, the page computed less than
    `stale_seconds` ago is still served while one new computation runs behind it (one at a
    time per page); older than that, the load computes it (by default at once: the aggregates
    make the computation a few hundred rows read, see STALE_SECONDS). One per process (each
    portal replica has its own; the version is the database's, so they agree).

    `misses` counts the computations, so a test can prove an unchanged portfolio is not
    computed again."""

    seconds: float = CACHE_SECONDS
    stale_seconds: float = STALE_SECONDS
    misses: int = 0
    _pages: OrderedDict[tuple[tuple[str, ...], int], tuple[int, float, PortfolioPage]] = field(
        default_factory=OrderedDict
    )
    _refreshing: dict[tuple[tuple[str, ...], int], asyncio.Task[PortfolioPage]] = field(
        default_factory=dict
    )

    async def page(
        self,
        pool: asyncpg.Pool,
        tables: tuple[str, ...],
        rows: int = PAGE_ROWS,
        *,
        before: Callable[[], Awaitable[object]] | None = None,
    ) -> PortfolioPage:
        """The page's share of the portfolio; `before`, run only when it must be computed
        again (the backfill of files, which changes the version itself when it records)."""
        version = await queries.read_model_version(pool)
        key = (tables, rows)
        cached = self._pages.get(key)
        age = time.monotonic() - cached[1] if cached is not None else None
        if cached is not None and age is not None:
            self._pages.move_to_end(key)
            if cached[0] == version and age < self.seconds:
                return cached[2]
            if age < self.stale_seconds:
                self._refresh_behind(pool, key, before)
                return cached[2]
        running = self._refreshing.get(key)
        if running is not None:
            return await asyncio.shield(running)
        return await self._compute(pool, key, before)

    def _refresh_behind(
        self,
        pool: asyncpg.Pool,
        key: tuple[tuple[str, ...], int],
        before: Callable[[], Awaitable[object]] | None,
    ) -> None:
        if key in self._refreshing:
            return
        task = asyncio.create_task(self._compute(pool, key, before))
        self._refreshing[key] = task

        def done(finished: asyncio.Task[PortfolioPage]) -> None:
            self._refreshing.pop(key, None)
            if not finished.cancelled() and finished.exception() is not None:
                # The page served stays; the next load past `stale_seconds` computes it.
                log.error("portfolio: refresh failed", error=repr(finished.exception()))

        task.add_done_callback(done)

    async def _compute(
        self,
        pool: asyncpg.Pool,
        key: tuple[tuple[str, ...], int],
        before: Callable[[], Awaitable[object]] | None,
    ) -> PortfolioPage:
        began = time.monotonic()
        if before is not None:
            await before()
        # The deltas the writes left since the last computation folded into the counters
        # first (the figures stay the same; the page's reads sum fewer rows).
        await queries.fold_aggregates(pool)
        # Read the version before the tables: a change committed meanwhile makes the page
        # newer than its key, never older; the next load sees the new version.
        version = await queries.read_model_version(pool)
        computed = await portfolio_page(pool, *key)
        self.misses += 1
        self._pages[key] = (version, began, computed)
        self._pages.move_to_end(key)
        while len(self._pages) > _CACHED_PAGES:
            self._pages.popitem(last=False)
        return computed


def portfolio_json(tables: dict[str, list[dict[str, Any]]]) -> str:
    """The portfolio as JSON (amounts as strings, never summed across currencies)."""
    return json.dumps(tables, default=str, ensure_ascii=False, indent=2)


def table_csv(rows: list[dict[str, Any]]) -> str:
    """Rows as CSV, a header line first (amounts as written, never summed across currencies).

    Written by the one CSV writer (records/csv_writer.py): every text cell quoted, and any
    formula a spreadsheet could see in it (a party or contact name comes from a convention
    file) neutralised with a `'`."""
    return write_dict_csv(rows)
