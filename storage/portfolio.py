"""The portfolio's queries over the read model (`conventions`, `office_tasks`,
`convention_files`): one per table of the office's page, of its CSV and JSON downloads and of
`starter.py report`. Amounts are never summed across currencies."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # annotations only: `starter.py` reads PORTFOLIO_TABLES for its parser
    import asyncpg

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


async def table_rows(pool: asyncpg.Pool, table: str) -> list[dict[str, Any]]:
    """Every row of one table, in its order."""
    return [dict(row) for row in await pool.fetch(portfolio_query(table))]


async def first_rows(pool: asyncpg.Pool, table: str, rows: int) -> tuple[list[dict[str, Any]], int]:
    """The first `rows` rows of one table, in its order, and how many it has in all (one
    query: a window count)."""
    fetched = [dict(row) for row in await pool.fetch(portfolio_query(table, limited=True), rows)]
    total = int(fetched[0][_TOTAL]) if fetched else 0
    for row in fetched:
        del row[_TOTAL]
    return fetched, total


async def read_model_version(pool: asyncpg.Pool) -> int:
    """The read model's version (migration 014): it grows at every committed change of the
    portfolio's tables, so two equal readings mean the same portfolio (up to the clock:
    the overdue table depends on today)."""
    version = await pool.fetchval("SELECT last_value FROM read_model_version")
    return int(version)
