"""The portfolio is computed once per read-model version (migration 014), and its charts drawn
once per content: an unchanged portfolio is served from memory, a change shows at the next
load (issue 27). Against the real PostgreSQL."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from application.office.portfolio import PortfolioCache
from storage.portfolio import read_model_version
from storage.read_model import record_convention_file
from tests.conftest import example, renamed
from web.charts import ChartCache

ASYNC = pytest.mark.asyncio(loop_scope="session")


@ASYNC
async def test_version_grows_at_commit_and_not_before(db_pool: asyncpg.Pool) -> None:
    before = await read_model_version(db_pool)
    async with db_pool.acquire() as connection:
        transaction = connection.transaction()
        await transaction.start()
        await connection.execute("INSERT INTO conventions (id) VALUES ('version-probe-rolled')")
        # Deferred to the commit: a reader meanwhile sees the version it had.
        assert await read_model_version(db_pool) == before
        await transaction.rollback()
    assert await read_model_version(db_pool) == before
    await record_convention_file(db_pool, renamed(example("bamako-cooperation")))
    assert await read_model_version(db_pool) > before


@ASYNC
async def test_an_unchanged_portfolio_is_computed_once(db_pool: asyncpg.Pool) -> None:
    cache = PortfolioCache(stale_seconds=0.0)  # a change shows at the next load
    backfills = 0

    async def backfill() -> None:
        nonlocal backfills
        backfills += 1

    first = await cache.page(db_pool, ("stages", "countries"), before=backfill)
    again = await cache.page(db_pool, ("stages", "countries"), before=backfill)
    assert (cache.misses, backfills) == (1, 1)
    assert again is first

    convention = renamed(example("mre-academy"))
    await record_convention_file(db_pool, convention)
    changed = await cache.page(db_pool, ("stages", "countries"), before=backfill)
    assert (cache.misses, backfills) == (2, 2)
    counted = sum(row["conventions"] for row in changed.tables["stages"])
    assert counted == sum(row["conventions"] for row in first.tables["stages"]) + 1


@ASYNC
async def test_after_a_change_the_last_page_is_served_while_the_next_is_computed(
    db_pool: asyncpg.Pool,
) -> None:
    cache = PortfolioCache(stale_seconds=60.0)
    first = await cache.page(db_pool, ("stages",))
    await record_convention_file(db_pool, renamed(example("cycle-maalam")))
    # The computation behind waits for the test: on a fast machine it would otherwise end
    # between two loads, and the second would rightly serve the new page.
    go_on = asyncio.Event()
    served = await cache.page(db_pool, ("stages",), before=go_on.wait)
    assert served is first  # no wait for the computation...
    assert served.computed_at == first.computed_at  # ...and the page says how old it is
    refreshing = list(cache._refreshing.values())
    assert len(refreshing) == 1
    # A second load meanwhile starts no second computation.
    assert await cache.page(db_pool, ("stages",), before=go_on.wait) is first
    assert list(cache._refreshing.values()) == refreshing
    go_on.set()
    await refreshing[0]
    fresh = await cache.page(db_pool, ("stages",))
    assert fresh is not first and cache.misses == 2
    counted = sum(row["conventions"] for row in fresh.tables["stages"])
    assert counted == sum(row["conventions"] for row in first.tables["stages"]) + 1


@ASYNC
async def test_a_page_ages_out_even_if_the_version_stands(db_pool: asyncpg.Pool) -> None:
    # The overdue table depends on today: a page never stands longer than its seconds.
    cache = PortfolioCache(seconds=0.0, stale_seconds=0.0)
    await cache.page(db_pool, ("overdue",))
    await cache.page(db_pool, ("overdue",))
    assert cache.misses == 2


def test_a_chart_is_drawn_once_per_content() -> None:
    charts = ChartCache(entries=2)
    drawn: list[str] = []

    def draw(label: str) -> str:
        drawn.append(label)
        return f"<svg>{label}</svg>"

    rows = [{"stage": "drafting", "conventions": 3}]
    key = ChartCache.key("stages", "fr", rows)
    assert charts.get(key, lambda: draw("a")) == "<svg>a</svg>"
    assert charts.get(key, lambda: draw("b")) == "<svg>a</svg>"
    assert drawn == ["a"]
    # Another language or other rows: another chart.
    assert ChartCache.key("stages", "ar", rows) != key
    assert ChartCache.key("stages", "fr", [{"stage": "drafting", "conventions": 4}]) != key
    # Bounded: the least recently read goes first.
    charts.get("k2", lambda: draw("c"))
    charts.get("k3", lambda: draw("d"))
    charts.get(key, lambda: draw("e"))
    assert drawn == ["a", "c", "d", "e"]
