"""The portfolio's queries over the read model (`conventions`, `office_tasks`,
`convention_files`): one per table of the office's page, of its CSV and JSON downloads and of
`starter.py report`. Amounts are never summed across currencies.

Two ways to the same figures: the full queries (`_QUERIES`, every convention scanned: the
downloads' per-convention tables, and the oracle the aggregates are checked against), and
the aggregates kept by the read model's own writes (migration 035: counter tables a trigger
updates in the writer's transaction), from which the page reads a few hundred rows."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeAlias

if TYPE_CHECKING:  # annotations only: `starter.py` reads PORTFOLIO_TABLES for its parser
    import asyncpg

    Executor: TypeAlias = asyncpg.Pool | asyncpg.Connection
    """A pool, or one connection (the check compares both ways in one snapshot)."""

# Each table: its query without its order, and its order (names of its own columns, so
# that the same order applies inside and around the query).
_QUERIES: dict[str, tuple[str, str]] = {
    "stages": (
        """
SELECT coalesce(stage, '-') AS stage, coalesce(kind, '-') AS kind, state, count(*) AS conventions
FROM conventions GROUP BY 1, 2, 3""",
        "1, 2, 3",
    ),
    "countries": (
        """
SELECT country, coalesce(sector, '-') AS sector, count(*) AS conventions
FROM conventions, unnest(CASE WHEN countries = '{}' THEN ARRAY['-'] ELSE countries END)
     AS country
GROUP BY 1, 2""",
        "1, 2",
    ),
    "overdue": (
        """
SELECT t.convention_id, t.task_id, t.party,
       (SELECT contact ->> 'name'
          FROM convention_files AS f,
               jsonb_array_elements(f.document -> 'parties') AS p,
               jsonb_array_elements(p -> 'contacts') AS contact
         WHERE f.convention_id = t.convention_id AND p ->> 'id' = t.party LIMIT 1) AS contact,
       t.due_at, (current_date - t.due_at::date) AS days_late, t.escalated
FROM office_tasks AS t JOIN conventions AS c ON c.id = t.convention_id
WHERE t.state = 'open' AND t.due_at < now() AND c.state = 'active'""",
        "due_at, convention_id, task_id",
    ),
    "funding": (
        """
WITH amounts AS (
    SELECT funder, currency, requested, decision, NULL::numeric AS granted
    FROM conventions WHERE funder IS NOT NULL AND currency IS NOT NULL
    UNION ALL
    SELECT funder, granted_currency, NULL, NULL, granted
    FROM conventions WHERE funder IS NOT NULL AND granted IS NOT NULL
)
SELECT funder, currency,
       coalesce(sum(requested), 0) AS requested,
       coalesce(sum(granted), 0) AS granted,
       coalesce(sum(requested) FILTER (
           WHERE decision IS NULL OR decision IN ('pending', 'more_information')), 0) AS pending,
       coalesce(sum(requested) FILTER (WHERE decision = 'reject'), 0) AS rejected
FROM amounts GROUP BY funder, currency""",
        "funder, currency",
    ),
    "indicators": (
        """
SELECT c.id AS convention_id, target.key AS indicator, target.value::numeric AS target,
       coalesce((c.actuals ->> target.key)::numeric, 0) AS actual
FROM conventions AS c, jsonb_each_text(c.targets) AS target""",
        "1, 2",
    ),
    "spend": (
        """
SELECT id AS convention_id, coalesce(budget_currency, spent_currency) AS currency,
       coalesce(spent, 0) AS spent, budget
FROM conventions WHERE spent IS NOT NULL OR budget IS NOT NULL""",
        "1",
    ),
    "cohorts": (
        """
SELECT c.id AS convention_id,
       coalesce(sum((cohort.value ->> 'enrolled')::int), 0) AS enrolled,
       coalesce(sum((cohort.value ->> 'completed')::int), 0) AS completed,
       coalesce(sum((cohort.value ->> 'certified')::int), 0) AS certified
FROM conventions AS c, jsonb_each(c.cohorts) AS cohort
GROUP BY c.id""",
        "convention_id",
    ),
}
PORTFOLIO_TABLES = ("stages", "countries", "overdue", "funding", "indicators", "spend", "cohorts")
PER_CONVENTION_TABLES = frozenset({"overdue", "indicators", "spend", "cohorts"})
"""The tables with a row per convention (or per task): they grow with the portfolio, where
the others have a row per stage, country, funder and currency."""
_TOTAL = "pacte_total_rows"


def portfolio_query(table: str, *, limited: bool = False) -> str:
    """One table's query; `limited`: its first $1 rows, each with the count of all of
    them (a window over the whole query, column `pacte_total_rows`)."""
    body, order = _QUERIES[table]
    if not limited:
        return f"{body}\nORDER BY {order}"
    return (
        f"SELECT *, count(*) OVER () AS {_TOTAL} FROM ({body}\n) AS whole\n"
        f"ORDER BY {order}\nLIMIT $1"
    )


async def table_rows(pool: Executor, table: str) -> list[dict[str, Any]]:
    """Every row of one table, in its order, from the full query (every convention)."""
    return [dict(row) for row in await pool.fetch(portfolio_query(table))]


async def first_rows(pool: Executor, table: str, rows: int) -> tuple[list[dict[str, Any]], int]:
    """The first `rows` rows of one table, in its order, and how many it has in all (one
    query: a window count)."""
    fetched = [dict(row) for row in await pool.fetch(portfolio_query(table, limited=True), rows)]
    total = int(fetched[0][_TOTAL]) if fetched else 0
    for row in fetched:
        del row[_TOTAL]
    return fetched, total


# The tables per stage, country and funder, read from their counters and the deltas not
# folded into them yet (migration 035): the same columns, types and order as the full
# queries. A zero count is a key no convention has any more. Funding sums are kept per scale
# of the amounts summed, and only the scales still counted are summed: a sum of `numeric`
# shows the largest scale of its terms, so the page shows the digits of the full query's
# sum (3.50, not 3.5 or 3.500).
def _funding_sum(measure: str) -> str:
    return f"coalesce(sum(amount) FILTER (WHERE measure = '{measure}' AND n > 0), 0) AS {measure}"


_AGGREGATES: dict[str, str] = {
    "stages": """
SELECT stage, kind, state, sum(conventions)::bigint AS conventions
FROM (SELECT stage, kind, state, conventions FROM portfolio_stage_counts
      UNION ALL
      SELECT stage, kind, state, conventions FROM portfolio_stage_deltas) AS kept
GROUP BY 1, 2, 3 HAVING sum(conventions) > 0 ORDER BY 1, 2, 3""",
    "countries": """
SELECT country, sector, sum(conventions)::bigint AS conventions
FROM (SELECT country, sector, conventions FROM portfolio_country_counts
      UNION ALL
      SELECT country, sector, conventions FROM portfolio_country_deltas) AS kept
GROUP BY 1, 2 HAVING sum(conventions) > 0 ORDER BY 1, 2""",
    "funding": f"""
WITH kept AS (
    SELECT funder, currency, measure, scale, sum(amount) AS amount, sum(n) AS n
    FROM (SELECT funder, currency, measure, scale, amount, n FROM portfolio_funding_sums
          UNION ALL
          SELECT funder, currency, measure, scale, amount, n FROM portfolio_funding_deltas)
         AS both_
    GROUP BY 1, 2, 3, 4
)
SELECT funder, currency, {_funding_sum("requested")}, {_funding_sum("granted")},
       {_funding_sum("pending")}, {_funding_sum("rejected")}
FROM kept GROUP BY funder, currency
HAVING coalesce(sum(n) FILTER (WHERE measure = 'row'), 0) > 0
ORDER BY funder, currency""",
}
AGGREGATE_TABLES = frozenset(_AGGREGATES)

# The per-convention tables' first $1 rows, in the full query's order, walked over the
# conventions that have such rows only (partial indexes of migration 035): the first $1
# conventions with targets give at least $1 indicators.
_FIRST_ROWS: dict[str, str] = {
    "overdue": f"{_QUERIES['overdue'][0]}\nORDER BY due_at, convention_id, task_id LIMIT $1",
    "indicators": """
SELECT c.id AS convention_id, target.key AS indicator, target.value::numeric AS target,
       coalesce((c.actuals ->> target.key)::numeric, 0) AS actual
FROM (SELECT id, targets, actuals FROM conventions WHERE targets <> '{}' ORDER BY id LIMIT $1)
     AS c,
     jsonb_each_text(c.targets) AS target
ORDER BY 1, 2 LIMIT $1""",
    "spend": f"{_QUERIES['spend'][0]}\nORDER BY 1 LIMIT $1",
    "cohorts": """
SELECT c.id AS convention_id, s.enrolled, s.completed, s.certified
FROM (SELECT id, cohorts FROM conventions WHERE cohorts <> '{}' ORDER BY id LIMIT $1) AS c,
     LATERAL (SELECT coalesce(sum((cohort.value ->> 'enrolled')::int), 0) AS enrolled,
                     coalesce(sum((cohort.value ->> 'completed')::int), 0) AS completed,
                     coalesce(sum((cohort.value ->> 'certified')::int), 0) AS certified
              FROM jsonb_each(c.cohorts) AS cohort) AS s
ORDER BY 1""",
}

# How many rows each per-convention table has. The overdue tasks: the open tasks of active
# conventions due before today (UTC), counted per day, and today's already due, from the
# index of open tasks by due date (the count depends on now, the counters on the day only).
_TOTALS: dict[str, str] = {
    "overdue": """
SELECT coalesce((SELECT sum(tasks)
                 FROM (SELECT day, tasks FROM portfolio_overdue_days
                       UNION ALL
                       SELECT day, tasks FROM portfolio_overdue_deltas) AS kept
                 WHERE day < portfolio_due_day(now())), 0)::bigint
     + (SELECT count(*) FROM office_tasks AS t JOIN conventions AS c ON c.id = t.convention_id
        WHERE t.state = 'open' AND c.state = 'active' AND t.due_at < now()
          AND t.due_at >= portfolio_due_day(now())::timestamp AT TIME ZONE 'UTC')""",
    **{
        table: f"""
SELECT coalesce(sum(n), 0)::bigint
FROM (SELECT n FROM portfolio_row_counts WHERE name = '{table}'
      UNION ALL
      SELECT n FROM portfolio_row_deltas WHERE name = '{table}') AS kept"""
        for table in ("indicators", "spend", "cohorts")
    },
}


async def fold_aggregates(pool: Executor) -> int:
    """The deltas the read model's writes left moved into the counters (migration 035's
    `portfolio_fold`, one statement): the figures stay the same, the next reads sum fewer
    rows. Returns how many counter rows it wrote."""
    return int(await pool.fetchval("SELECT portfolio_fold()"))


async def aggregate_rows(pool: Executor, table: str) -> list[dict[str, Any]]:
    """Every row of a table per stage, country or funder, from its counters."""
    return [dict(row) for row in await pool.fetch(_AGGREGATES[table])]


async def recount_aggregates(pool: Executor) -> None:
    """Every counter counted again from the read model's rows (migration 035's
    `portfolio_recount`: writers wait meanwhile). For a database whose counters were not kept
    by its writes: a data-only restore into tables that have the triggers."""
    await pool.execute("SELECT portfolio_recount()")


# Each per-convention table's first rows with its total: composed once, here, of this
# module's fixed clauses (the row limit is `$1`).
_PAGE_ROWS: dict[str, str] = {
    table: (
        f"SELECT *, ({_TOTALS[table]}) AS {_TOTAL}\nFROM ({_FIRST_ROWS[table]}\n) AS first_\n"
        f"ORDER BY {_QUERIES[table][1]}"
    )
    for table in _FIRST_ROWS
}


async def page_rows(pool: Executor, table: str, rows: int) -> tuple[list[dict[str, Any]], int]:
    """The first `rows` rows of a per-convention table, in its order, and how many it has in
    all (from the counters): a few hundred rows read, whatever the portfolio's size. One
    round trip: the count rides on each row (computed once, an uncorrelated subquery)."""
    fetched = [dict(row) for row in await pool.fetch(_PAGE_ROWS[table], rows)]
    if not fetched:  # no row to carry it: asked apart (0, unless the counters disagree)
        return [], int(await pool.fetchval(_TOTALS[table]))
    total = int(fetched[0][_TOTAL])
    for row in fetched:
        del row[_TOTAL]
    return fetched, total


async def read_model_version(pool: asyncpg.Pool) -> int:
    """The read model's version (migration 014): it grows at every committed change of the
    portfolio's tables, so two equal readings mean the same portfolio (up to the clock:
    the overdue table depends on today)."""
    version = await pool.fetchval("SELECT last_value FROM read_model_version")
    return int(version)
