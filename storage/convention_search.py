"""The conventions list's SQL: one query over the read model (`conventions`), the search
table of migration 012 (`convention_search`: party ids, officer, words) and the open tasks
(`office_tasks`), filtered, searched, sorted and paged; the same query streamed whole for the
downloads; and the office's own open tasks across conventions.

Every value a person typed travels as a parameter; the words go through
`pacte_search_query` (migration 012: the one normalisation, then `websearch_to_tsquery`
under the `french`, `arabic` and `simple` configurations), where operators are words, never
syntax.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

SORTS = {
    "updated": "c.updated_at DESC, c.id",
    "due": "next.due_at ASC NULLS LAST, c.id",
    "title": "lower(c.title) ASC NULLS LAST, c.id",
}
"""The list's orders, by name: latest changed first, soonest due first, by title."""


@dataclass(frozen=True)
class ConventionFilter:
    """What the list shows: each field None (or False) leaves it unfiltered. `words` are
    searched in titles and party names, and match an id exactly; `terms` is the words as a
    tsquery (`search_terms`), None when they hold no letter or digit once normalised (then
    only the id is matched)."""

    words: str | None = None
    terms: str | None = None
    stage: str | None = None
    state: str | None = None
    kind: str | None = None
    party: str | None = None
    country: str | None = None
    sector: str | None = None
    officer: str | None = None
    overdue: bool = False
    mine: str | None = None
    """An office account's e-mail: the conventions it started or whose officer it is."""


_NEXT_TASK = """
LEFT JOIN LATERAL (
    SELECT t.task_id, t.kind, t.party, t.due_at
      FROM office_tasks AS t
     WHERE t.convention_id = c.id AND t.state = 'open' AND c.state = 'active'
     ORDER BY t.due_at NULLS LAST, t.task_id
     LIMIT 1
) AS next ON true"""

_PARTY_NAME = """(SELECT p ->> 'name'
     FROM convention_files AS f, jsonb_array_elements(f.document -> 'parties') AS p
    WHERE f.convention_id = {convention} AND p ->> 'id' = {party} LIMIT 1)"""

_TASK_TITLE = """(SELECT i.title FROM tasks AS i
    WHERE i.convention_id = {convention} AND i.task_id = {task})"""

_MINE = """(lower(s.officer_email) = {email} OR EXISTS (
    SELECT 1 FROM office_access_log AS a
     WHERE a.action = 'start' AND a.outcome = 'ok' AND lower(a.email) = {email}
       AND a.target = c.id))"""


def _where(given: ConventionFilter) -> tuple[str, list[Any]]:
    """The WHERE clause of a filter, and its parameters ($1 onwards)."""
    conditions: list[str] = []
    params: list[Any] = []

    def param(value: Any) -> str:
        params.append(value)
        return f"${len(params)}"

    if given.words:
        words = param(given.words)
        if given.terms:
            # The GIN index answers the words, the primary key the id; the tsquery comes
            # made (a value the planner can weigh against the index's statistics).
            terms = param(given.terms)
            conditions.append(
                f"c.id IN (SELECT w.convention_id FROM convention_search AS w"
                f" WHERE w.words @@ {terms}::tsquery UNION ALL SELECT {words}::text)"
            )
        else:
            conditions.append(f"c.id = {words}")
    for column, value in (("stage", given.stage), ("state", given.state), ("kind", given.kind)):
        if value is not None:
            conditions.append(f"c.{column} = {param(value)}")
    if given.party is not None:
        conditions.append(f"lower({param(given.party)}) = ANY(s.parties)")
    if given.country is not None:
        conditions.append(f"{param(given.country)} = ANY(c.countries)")
    if given.sector is not None:
        sector = param(given.sector)
        conditions.append(f"pacte_search_norm(c.sector) = pacte_search_norm({sector})")
    if given.officer is not None:
        officer = param(given.officer)
        conditions.append(
            f"(lower(s.officer_email) = lower({officer})"
            f" OR pacte_search_norm(s.officer_name) = pacte_search_norm({officer}))"
        )
    if given.overdue:
        conditions.append(
            "c.state = 'active' AND EXISTS (SELECT 1 FROM office_tasks AS o"
            " WHERE o.convention_id = c.id AND o.state = 'open' AND o.due_at < now())"
        )
    if given.mine is not None:
        conditions.append(_MINE.format(email=param(given.mine.lower())))
    return (" AND ".join(conditions) or "true"), params


_OUTER_SORTS = {
    "updated": "listed.updated_at DESC, listed.id",
    "due": "listed.next_due ASC NULLS LAST, listed.id",
    "title": "lower(listed.title) ASC NULLS LAST, listed.id",
}
"""SORTS again, over a page's own columns (`listed`)."""


def _select(given: ConventionFilter, sort: str, page: str = "") -> tuple[str, list[Any]]:
    """The filter's query in its order (`page`: its LIMIT and OFFSET). Each row's next task
    and the name of the party that owes it are looked up for the rows returned only (for
    every row matched only when sorting by due date), not for every row of the filter."""
    where, params = _where(given)
    by_due = sort == "due"
    next_columns = (
        "next.task_id AS next_task, next.kind AS next_kind, next.party AS next_party,"
        " next.due_at AS next_due"
    )
    inner_next = f", {next_columns}" if by_due else ""
    outer_next = "" if by_due else f", {next_columns}"
    outer_join = (
        "" if by_due else _NEXT_TASK.replace("c.id", "listed.id").replace("c.state", "listed.state")
    )
    party = "listed.next_party" if by_due else "next.party"
    party_name = _PARTY_NAME.format(convention="listed.id", party=party)
    # The next task's title as the inbox recorded it: looked up for the page's rows only.
    task = "listed.next_task" if by_due else "next.task_id"
    task_title = _TASK_TITLE.format(convention="listed.id", task=task)
    sql = f"""
SELECT listed.*{outer_next}, {party_name} AS next_party_name, {task_title} AS next_title
  FROM (
    SELECT c.id, c.title, c.kind, c.stage, c.state, c.countries, c.sector, c.updated_at,
           s.officer_name{inner_next}
      FROM conventions AS c
      LEFT JOIN convention_search AS s ON s.convention_id = c.id
      {_NEXT_TASK if by_due else ""}
     WHERE {where}
     ORDER BY {SORTS[sort]}
     {page}
  ) AS listed
  {outer_join}
 ORDER BY {_OUTER_SORTS[sort]}"""
    return sql, params


async def search_terms(pool: asyncpg.Pool, words: str) -> str | None:
    """The words as a tsquery's text (`pacte_search_query`: normalised, then
    websearch_to_tsquery under each configuration), or None when nothing is left to search
    for (a lone diacritic, a line of punctuation)."""
    row = await pool.fetchrow(
        "SELECT q::text AS terms, numnode(q) AS nodes FROM pacte_search_query($1) AS q", words
    )
    return str(row["terms"]) if row is not None and row["nodes"] else None


@dataclass(frozen=True)
class ConventionsPage:
    """One page of the list, and how many conventions the filter matches in all."""

    rows: list[dict[str, Any]]
    total: int


def page_sql(given: ConventionFilter, sort: str, limit: int, offset: int) -> tuple[str, list[Any]]:
    """One page's statement and its parameters, as `conventions_page` runs it (the
    benchmark runs it bare)."""
    n = len(_where(given)[1])
    sql, params = _select(given, sort, f"LIMIT ${n + 1} OFFSET ${n + 2}")
    return sql, [*params, limit, offset]


def count_sql(given: ConventionFilter) -> tuple[str, list[Any]]:
    """The filter's count: no next task, no names (the search table joined only if the
    filter reads it)."""
    where, params = _where(given)
    return (
        "SELECT count(*) FROM conventions AS c"
        f" LEFT JOIN convention_search AS s ON s.convention_id = c.id WHERE {where}",
        params,
    )


async def conventions_page(
    pool: asyncpg.Pool, given: ConventionFilter, sort: str, limit: int, offset: int
) -> ConventionsPage:
    """The filter's rows from `offset`, at most `limit`, and the filter's count: two
    statements, so that the page's (its next tasks, its names) is computed for its own rows
    only, where a window count would have computed it for every row matched."""
    paged, params = page_sql(given, sort, limit, offset)
    fetched = [dict(row) for row in await pool.fetch(paged, *params)]
    counting, counted_params = count_sql(given)
    total = await pool.fetchval(counting, *counted_params)
    return ConventionsPage(fetched, int(total))


async def stream_conventions(
    pool: asyncpg.Pool, given: ConventionFilter, sort: str, batch: int = 500
) -> AsyncIterator[dict[str, Any]]:
    """Every row of the filter, in its order, read by a cursor `batch` rows at a time."""
    sql, params = _select(given, sort)
    async with pool.acquire() as connection, connection.transaction():
        async for row in connection.cursor(sql, *params, prefetch=batch):
            yield dict(row)


_OFFICE_TASKS = """
SELECT t.convention_id, c.title, t.task_id, t.kind, t.stage, t.party, t.due_at,
       (SELECT i.title FROM tasks AS i
         WHERE i.convention_id = t.convention_id AND i.task_id = t.task_id) AS task_title,
       coalesce(t.due_at < now(), false) AS overdue, t.escalated, s.officer_name,
       {party_name} AS party_name, count(*) OVER () AS pacte_total
  FROM office_tasks AS t
  JOIN conventions AS c ON c.id = t.convention_id
  JOIN convention_search AS s ON s.convention_id = t.convention_id
 WHERE t.state = 'open' AND c.state = 'active' AND t.party = s.office_party
   {mine}
 ORDER BY coalesce(t.due_at < now(), false) DESC, t.due_at NULLS LAST, t.convention_id,
          t.task_id
 LIMIT $1"""


async def office_tasks(
    pool: asyncpg.Pool, mine: str | None, limit: int
) -> tuple[list[dict[str, Any]], int]:
    """The open tasks the office's own party owes, across active conventions, overdue first
    then by due date (at most `limit`), and how many there are in all; `mine`: of the
    conventions this account started or is the officer of."""
    params: list[Any] = [limit]
    condition = ""
    if mine is not None:
        params.append(mine.lower())
        condition = "AND " + _MINE.format(email="$2")
    party_name = _PARTY_NAME.format(convention="t.convention_id", party="t.party")
    sql = _OFFICE_TASKS.format(party_name=party_name, mine=condition)
    rows = [dict(row) for row in await pool.fetch(sql, *params)]
    total = int(rows[0]["pacte_total"]) if rows else 0
    for row in rows:
        del row["pacte_total"]
    return rows, total


def due_text(value: datetime | None) -> str:
    """A due date as the downloads write it (ISO, to the minute, UTC as stored)."""
    return value.isoformat(timespec="minutes") if value is not None else ""
