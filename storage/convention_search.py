"""The conventions list's SQL: one query over the read model (`conventions`), the search
table of migrations 012, 027 and 032 (`convention_search`: party ids, officer, the words of
the title, the parties, the answers' comments and the record's findings and reasons, and the
facets the list filters on beside them) and the open tasks
(`office_tasks`), filtered, searched, sorted and paged; the same query streamed whole for the
downloads; and the office's own open tasks across conventions.

Every value a person typed travels as a parameter; the words go through
`pacte_search_query` (migration 012: the one normalisation, then `websearch_to_tsquery`
under the `french`, `arabic` and `simple` configurations), where operators are words, never
syntax. A page is one statement (its rows, its capped count, whether its words were
searchable), planned for its values.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

SORTS = {
    "updated": "c.updated_at DESC, c.id DESC",
    "due": "t.due_at, t.convention_id",
    "title": "lower(c.title) ASC NULLS LAST, c.id",
    "relevance": "rank DESC, c.id",
}
"""The list's orders, by name: latest changed first, soonest due first, by title, most
relevant to the words first. Each ends with the id, so that a page's last row is a cursor
(`Cursor`) the next page starts after; the first three are served by an index in that order
(migration 019). By due date: the conventions' next open tasks soonest first, then those
without a next due date by id (`_DUE_BRANCH`). By relevance: `ts_rank` of the words in the
convention's search words (`_RANK`); no index holds that order, so a page ranks at most
RANKED_AT_MOST matches (`_LATEST_RANKED_BRANCH`), the downloads every match."""

COUNT_CAP = 1000
"""The list counts its matches up to this: past it, the page says "more than 1,000" (a
count of every convention holding a common word costs what listing them all would)."""

RANKED_AT_MOST = 1000
"""A page by relevance ranks at most this many matches: all of them when they are that few,
else the RANKED_AT_MOST latest changed (read in the order of the change times' index, so
that a common word never has every match ranked; ranking a fifth of 100,000 conventions
took 383 ms at p50 under load). Kept at most COUNT_CAP: then the capped count says when
the ranking was bounded (`ranking_bounded`)."""

CUSTOM_PLANS = "SET plan_cache_mode = force_custom_plan"
"""Each statement is planned for its own values: a plan made once for any words walks the
latest changed conventions until it finds a page, right for a word in a fifth of them and
100,000 rows long for a word in none (the pool's reset on release undoes the setting)."""


@dataclass(frozen=True)
class ConventionFilter:
    """What the list shows: each field None (or False) leaves it unfiltered. `words` are
    searched in titles, party names and the answers' comments and reasons
    (`pacte_search_query`, migrations 012 and 027), and match an
    id exactly; when they hold no letter or digit once normalised, only the id."""

    words: str | None = None
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


@dataclass(frozen=True)
class Cursor:
    """Where a page starts: after the row whose sort key is `key` (the change time for
    `updated`, the next due time for `due`, the lower-case title for `title`, the rank for
    `relevance`; None when that row has none) and whose id is `id`."""

    key: datetime | str | float | None
    id: str


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

_TITLE_IN = """(SELECT f.document -> 'titles' ->> {language} FROM convention_files AS f
    WHERE f.convention_id = {convention})"""
"""The convention's title in the reader's language as its stored file gave it (None when
the file gave none in it: the reader then sees the original, `conventions.title`): read by
the file's primary key for the rows returned only, so that neither the search's conditions
nor its order change."""

_TASK_TITLE = """(SELECT i.title FROM tasks AS i
    WHERE i.convention_id = {convention} AND i.task_id = {task})"""

_MINE = """(lower(s.officer_email) = {email} OR EXISTS (
    SELECT 1 FROM office_access_log AS a
     WHERE a.action = 'start' AND a.outcome = 'ok' AND lower(a.email) = {email}
       AND a.target = c.id))"""


_WORDS = "(numnode(pacte_search_query({words})) > 0 AND s.words @@ pacte_search_query({words}))"
"""The words' condition. Planned for its value, the query is made while planning (an
immutable function of a constant): the planner weighs it against the words' statistics,
and a query with no lexeme (a lone diacritic) is a walk it never runs."""

_FACET = "'{field}:' || {value}::text"
_SECTOR_FACET = "'sector:' || pacte_search_norm({value}::text)"
"""A filter's value as the element of `convention_search.facets` it matches
(`pacte_search_facets`, migration 032)."""

_IGNORED = "numnode(pacte_search_query({words})) = 0"

_RANK = "coalesce(ts_rank({vector}, pacte_search_query({words})), 0)"
"""How relevant a convention is to the words (0 without a search row): `ts_rank` over its
title's, parties' and answers' words, as PostgreSQL computes it (a `real`)."""


class _Statement:
    """The parameters of a statement being composed: `param` adds one, returns its $n."""

    def __init__(self) -> None:
        self.params: list[Any] = []

    def param(self, value: Any) -> str:
        self.params.append(value)
        return f"${len(self.params)}"


def _filters(given: ConventionFilter, statement: _Statement) -> tuple[list[str], list[str]]:
    """The filter's conditions other than its words, and the words' alternatives (none
    without words; else the id, and the words): each alternative is a walk of its own, so
    that the GIN index can answer the words and the primary key the id. The stage, state,
    kind, country and sector are read from `conventions` by the id's alternative (and
    without words), and from the facets kept beside the words by the words' (migration 032:
    one GIN index holds both, so that words and a filter are one walk of it)."""
    conditions: list[str] = []
    param = statement.param
    words = (param(given.words), param(given.words)) if given.words else None
    in_row: list[str] = []
    facets: list[str] = []
    for column, value in (("stage", given.stage), ("state", given.state), ("kind", given.kind)):
        if value is not None:
            named = param(value)
            in_row.append(f"c.{column} = {named}")
            facets.append(_FACET.format(field=column, value=named))
    if given.country is not None:
        country = param(given.country)
        in_row.append(f"c.countries @> ARRAY[{country}::text]")
        facets.append(_FACET.format(field="country", value=country))
    if given.sector is not None:
        sector = param(given.sector)
        in_row.append(f"pacte_search_norm(c.sector) = pacte_search_norm({sector})")
        facets.append(_SECTOR_FACET.format(value=sector))
    alternatives: list[str] = []
    if words is not None:
        alternatives.append(_all(f"c.id = {words[0]}", *in_row))
        beside = f"s.facets @> ARRAY[{', '.join(facets)}]" if facets else ""
        alternatives.append(_all(_WORDS.format(words=words[1]), beside))
    else:
        conditions += in_row
    if given.party is not None:
        # Containment, not `= ANY`: the GIN index of migration 032 answers it.
        conditions.append(f"s.parties @> ARRAY[lower({param(given.party)}::text)]")
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
    return conditions, alternatives


_AFTER_UPDATED = "(c.updated_at, c.id) < ({value}, {id})"
_AFTER_TITLE = "((lower(c.title), c.id) > ({value}, {id}) OR c.title IS NULL)"
_AFTER_UNTITLED = "(c.title IS NULL AND c.id > {id})"
_AFTER_DUE = "(t.due_at, t.convention_id) > ({value}, {id})"
_AFTER_ID = "c.id > {id}"
_AFTER_RANK = "({rank} < {value}::real OR ({rank} = {value}::real AND c.id > {id}))"
"""A keyset page's conditions: past the cursor in the order (rows without a key come last,
by id; `updated_at` is never empty)."""

_COLUMNS = """c.id, c.title, c.kind, c.stage, c.state, c.countries, c.sector, c.updated_at,
           lower(c.title) AS title_key, s.officer_name"""

_BRANCH = """SELECT {columns}
      FROM conventions AS c
      LEFT JOIN convention_search AS s ON s.convention_id = c.id
     WHERE {where}
     ORDER BY {order}
     {limit}"""

# By due date, a page is two walks: the open tasks in due order, each the first of its
# convention (the convention's next task, so its next due date), then the conventions with
# no next due date (ended, or no open task with a date) by id. Each stops after a page.
_DUE_BRANCH = """SELECT {columns}, t.due_at AS sort_due
      FROM office_tasks AS t
      JOIN conventions AS c ON c.id = t.convention_id
      LEFT JOIN convention_search AS s ON s.convention_id = c.id
     WHERE t.state = 'open' AND t.due_at IS NOT NULL AND c.state = 'active'
       AND NOT EXISTS (
           SELECT 1 FROM office_tasks AS o
            WHERE o.convention_id = t.convention_id AND o.state = 'open'
              AND (o.due_at < t.due_at OR (o.due_at = t.due_at AND o.task_id < t.task_id)))
       AND {where}
     ORDER BY t.due_at, t.convention_id
     {limit}"""

_UNDUE_BRANCH = """SELECT {columns}, NULL::timestamptz AS sort_due
      FROM conventions AS c
      LEFT JOIN convention_search AS s ON s.convention_id = c.id
     WHERE NOT (c.state = 'active' AND EXISTS (
               SELECT 1 FROM office_tasks AS o
                WHERE o.convention_id = c.id AND o.state = 'open' AND o.due_at IS NOT NULL))
       AND {where}
     ORDER BY c.id
     {limit}"""

_OUTER_SORTS = {
    "updated": "listed.updated_at DESC, listed.id DESC",
    "due": "listed.sort_due ASC NULLS LAST, listed.id",
    "title": "listed.title_key ASC NULLS LAST, listed.id",
    "relevance": "listed.rank DESC, listed.id",
}
"""SORTS again, over a page's own columns (`listed`)."""

_NEXT_COLUMNS = (
    "next.task_id AS next_task, next.kind AS next_kind, next.party AS next_party,"
    " next.due_at AS next_due"
)


def _all(*parts: str) -> str:
    return " AND ".join(part for part in parts if part) or "true"


Walk = tuple[str, list[str]]
"""A statement template and its conditions."""


def _walks(
    sort: str,
    alternative: str,
    conditions: list[str],
    after: Cursor | None,
    st: _Statement,
    rank: str,
) -> tuple[list[Walk], list[Walk]]:
    """The walks of one alternative of the words: those of the order, and those that only
    run when the first did not fill a page (by due date, the conventions without a date)."""
    if sort != "due":
        extra: list[str] = []
        if after is not None:
            identifier = st.param(after.id)
            if sort == "updated":
                extra.append(_AFTER_UPDATED.format(value=st.param(after.key), id=identifier))
            elif sort == "relevance":
                value = st.param(after.key)
                extra.append(_AFTER_RANK.format(rank=rank, value=value, id=identifier))
            elif after.key is None:
                extra.append(_AFTER_UNTITLED.format(id=identifier))
            else:
                extra.append(_AFTER_TITLE.format(value=st.param(after.key), id=identifier))
        return [(_BRANCH, [alternative, *conditions, *extra])], []
    if after is None:
        return [(_DUE_BRANCH, [alternative, *conditions])], [
            (_UNDUE_BRANCH, [alternative, *conditions])
        ]
    identifier = st.param(after.id)
    if after.key is None:  # past every convention with a due date
        return [], [(_UNDUE_BRANCH, [alternative, *conditions, _AFTER_ID.format(id=identifier)])]
    due = _AFTER_DUE.format(value=st.param(after.key), id=identifier)
    return [(_DUE_BRANCH, [alternative, *conditions, due])], [
        (_UNDUE_BRANCH, [alternative, *conditions])
    ]


_RANKED_BRANCH = """SELECT {columns}
      FROM (SELECT s.convention_id AS ranked_id, {rank} AS ranked
              FROM convention_search AS s
             WHERE {words}
             ORDER BY ranked DESC, s.convention_id) AS r
      JOIN conventions AS c ON c.id = r.ranked_id
      LEFT JOIN convention_search AS s ON s.convention_id = c.id
     WHERE {where}
     ORDER BY r.ranked DESC, c.id
     {limit}"""
"""By relevance, the words' walk: the matches ranked in `convention_search` alone (the
words, their facets and their rank are all there: migration 032), in rank order, each then
read in `conventions` until a page is full. Every match is still ranked, but nothing else
is read for them: joined to the conventions first, as `_BRANCH` does, the ranking carried
each match's whole row (its words) through the join and the sort."""

_LATEST_RANKED_BRANCH = """SELECT * FROM (
    SELECT l.id, l.title, l.kind, l.stage, l.state, l.countries, l.sector, l.updated_at,
           l.title_key, l.officer_name, {rank} AS rank
      FROM (SELECT {columns}, s.words
              FROM conventions AS c
              JOIN convention_search AS s ON s.convention_id = c.id
             WHERE {matches}
             ORDER BY c.updated_at DESC, c.id DESC
             LIMIT {bound}) AS l) AS r
     WHERE {where}
     ORDER BY r.rank DESC, r.id
     {limit}"""
"""By relevance, a page's words' walk: the RANKED_AT_MOST latest changed matches (words,
facets and every other condition: the same walk as the latest-changed order's, which stops
once it has them, or the GIN index's matches sorted by change time when they are few;
planned for the values), ranked, then in rank order until a page is full (after the
cursor). Each match's columns and words travel with it from the walk: read again by id,
the planner hashed the whole conventions table for them (a sequential scan growing with
the office, 27 ms of 30,000 under load)."""

_AFTER_LATEST_RANKED = "(r.rank < {value}::real OR (r.rank = {value}::real AND r.id > {id}))"

_AFTER_RANKED = "(r.ranked < {value}::real OR (r.ranked = {value}::real AND c.id > {id}))"


def _ranked_walk(
    words: str,
    conditions: list[str],
    after: Cursor | None,
    statement: _Statement,
    given: ConventionFilter,
    limit: str,
) -> str:
    """The words' alternative by relevance, after the cursor: a page's
    (`_LATEST_RANKED_BRANCH`, `limit` given) ranks the RANKED_AT_MOST latest changed
    matches, the downloads' (`_RANKED_BRANCH`, no limit) every match."""
    past = ""
    if after is not None:
        identifier = statement.param(after.id)
        value = statement.param(after.key)
        after_rank = _AFTER_LATEST_RANKED if limit else _AFTER_RANKED
        past = after_rank.format(value=value, id=identifier)
    if not limit:
        return _RANKED_BRANCH.format(
            columns=f"{_COLUMNS}, r.ranked AS rank",
            rank=_rank(given, statement),
            words=words,
            where=_all(*conditions, past),
            limit=limit,
        )
    return _LATEST_RANKED_BRANCH.format(
        columns=_COLUMNS,
        rank=_rank(given, statement, vector="l.words"),
        matches=_all(words, *conditions),
        bound=statement.param(RANKED_AT_MOST),
        where=_all(past),
        limit=limit,
    )


def _rank(given: ConventionFilter, statement: _Statement, vector: str = "s.words") -> str:
    """The rank's expression (0 without words: every row equal, the id orders them) of the
    search words `vector`."""
    if not given.words:
        return "0::real"
    return _RANK.format(vector=vector, words=statement.param(given.words))


def _columns(sort: str, rank: str) -> str:
    return f"{_COLUMNS}, {rank} AS rank" if sort == "relevance" else _COLUMNS


def _merged(branches: list[str], sort: str, limit: str) -> str:
    if len(branches) == 1:
        return branches[0]
    union = " UNION ".join(f"({branch})" for branch in branches)
    return f"SELECT * FROM ({union}) AS listed ORDER BY {_OUTER_SORTS[sort]} {limit}"


def _matched(
    given: ConventionFilter,
    sort: str,
    statement: _Statement,
    after: Cursor | None,
    limit: str | None,
) -> str:
    """The filter's rows in its order (`limit`: a parameter, at most so many, after the
    cursor; None: every row): one walk per alternative of the words (and per part of the
    due order), merged; the second part of the due order runs only if the first left room."""
    conditions, alternatives = _filters(given, statement)
    clause = f"LIMIT {limit}" if limit is not None else ""
    rank = _rank(given, statement) if sort == "relevance" else ""
    columns = _columns(sort, rank)
    first: list[str] = []
    then: list[str] = []
    for number, alternative in enumerate(alternatives or [""]):
        if sort == "relevance" and given.words and number == len(alternatives) - 1:
            first.append(_ranked_walk(alternative, conditions, after, statement, given, clause))
            continue
        walks, after_walks = _walks(sort, alternative, conditions, after, statement, rank)
        for into, chosen in ((first, walks), (then, after_walks)):
            into += [
                template.format(
                    columns=columns, where=_all(*where), order=SORTS[sort], limit=clause
                )
                for template, where in chosen
            ]
    if not then or not first or limit is None:
        return _merged(first + then, sort, clause)
    return f"""WITH dated AS MATERIALIZED ({_merged(first, sort, clause)})
SELECT * FROM (
    SELECT * FROM dated
    UNION ALL
    SELECT * FROM ({_merged(then, sort, clause)}) AS undated
     WHERE (SELECT count(*) FROM dated) < {limit}
) AS listed ORDER BY {_OUTER_SORTS[sort]} {clause}"""


def _capped(given: ConventionFilter, statement: _Statement, cap: str) -> str:
    """The ids the filter matches, at most `cap` of each alternative of the words: read
    from the GIN index for words (the planner weighs it for a filter without words), in no
    order. Counted, they say how many match (up to the cap); when they are all, the page
    sorts them rather than walking the order's index (`_few`)."""
    conditions, alternatives = _filters(given, statement)
    return " UNION ".join(
        f"""(SELECT c.id FROM conventions AS c
      LEFT JOIN convention_search AS s ON s.convention_id = c.id
     WHERE {_all(alternative, *conditions)} LIMIT {cap})"""
        for alternative in (alternatives or [""])
    )


_FEW = """SELECT {columns}{due}
      FROM capped AS k
      JOIN conventions AS c ON c.id = k.id
      LEFT JOIN convention_search AS s ON s.convention_id = c.id"""

_SORT_DUE = """, CASE WHEN c.state = 'active' THEN (
           SELECT min(o.due_at) FROM office_tasks AS o
            WHERE o.convention_id = c.id AND o.state = 'open') END AS sort_due"""
"""A convention's next due date as the due order walks it (`_DUE_BRANCH`: the first of its
open tasks with a date, only while it is active; none otherwise: `_UNDUE_BRANCH`)."""

_FEW_AFTER = {
    "updated": "(listed.updated_at, listed.id) < ({value}, {id})",
    "title": "((listed.title_key, listed.id) > ({value}, {id}) OR listed.title_key IS NULL)",
    "due": "((listed.sort_due, listed.id) > ({value}, {id}) OR listed.sort_due IS NULL)",
    "relevance": (
        "(listed.rank < {value}::real OR (listed.rank = {value}::real AND listed.id > {id}))"
    ),
}
_FEW_AFTER_UNKEYED = "(listed.{key} IS NULL AND listed.id > {id})"
"""Past the cursor in the order, over the matches' own columns: the walks' conditions
(`_AFTER_UPDATED`…) said again."""
_UNKEYED = {"title": "title_key", "due": "sort_due"}


def _few(
    given: ConventionFilter, sort: str, statement: _Statement, after: Cursor | None, limit: str
) -> str:
    """A page of the `capped` matches (when they are every match): at most COUNT_CAP rows,
    read by their ids and sorted, after the cursor."""
    rank = _rank(given, statement) if sort == "relevance" else ""
    rows = _FEW.format(columns=_columns(sort, rank), due=_SORT_DUE if sort == "due" else "")
    past = "true"
    if after is not None:
        identifier = statement.param(after.id)
        if after.key is None:
            past = _FEW_AFTER_UNKEYED.format(key=_UNKEYED.get(sort, "id"), id=identifier)
        else:
            value = statement.param(after.key)
            past = _FEW_AFTER[sort].format(value=value, id=identifier)
    return f"""SELECT * FROM ({rows}) AS listed
     WHERE {past} ORDER BY {_OUTER_SORTS[sort]} LIMIT {limit}"""


_NEXT_OF_LISTED = _NEXT_TASK.replace("c.id", "listed.id").replace("c.state", "listed.state")


def _with_next_task(
    inner: str, sort: str, found: str = "", where_found: str = "", language: str | None = None
) -> str:
    """The rows of `inner` (aliased `listed`) with each one's next task, its title and the
    name of the party that owes it, and the convention's title in `language` (a parameter;
    `title_read`), looked up for the rows returned only (and `where_found`'s columns)."""
    party_name = _PARTY_NAME.format(convention="listed.id", party="next.party")
    # The next task's title as the inbox recorded it: looked up for the page's rows only.
    task_title = _TASK_TITLE.format(convention="listed.id", task="next.task_id")
    title_read = (
        _TITLE_IN.format(language=f"{language}::text", convention="listed.id")
        if language is not None
        else "NULL::text"
    )
    return f"""
SELECT {found}listed.*, {_NEXT_COLUMNS}, {party_name} AS next_party_name,
       {task_title} AS next_title, {title_read} AS title_read{where_found}
  FROM {inner}
  {_NEXT_OF_LISTED}
 ORDER BY {_OUTER_SORTS[sort]}"""


@dataclass(frozen=True)
class ConventionsPage:
    """One page of the list, and how many conventions the filter matches, counted up to
    COUNT_CAP + 1 (more than COUNT_CAP: `found` says COUNT_CAP + 1)."""

    rows: list[dict[str, Any]]
    found: int
    cap: int
    words_ignored: bool
    """The words hold no letter or digit once normalised: only an id could match them."""
    ranking_bounded: bool = False
    """By relevance, more conventions match than a page ranks: the pages hold the
    RANKED_AT_MOST latest changed matches, ranked (`ranked` says how many)."""
    ranked: int = RANKED_AT_MOST


def ranking_bounded(given: ConventionFilter, sort: str, found: int) -> bool:
    """Whether the page's ranking covered only the RANKED_AT_MOST latest changed matches:
    by relevance, the walk ran (more than COUNT_CAP matched) and ranked fewer than matched
    (known from the capped count while RANKED_AT_MOST is at most COUNT_CAP)."""
    return (
        sort == "relevance"
        and given.words is not None
        and found > COUNT_CAP
        and found > RANKED_AT_MOST
    )


_FOUND_IN = """,
       (SELECT CASE WHEN w.record_words @@ pacte_search_query({words}) THEN 'record'
                    WHEN w.comment_words @@ pacte_search_query({words}) THEN 'answer' END
          FROM convention_search AS w
         WHERE w.convention_id = listed.id
           AND numnode(pacte_search_query({words})) > 0) AS found_in"""
"""Where else than in the title and the parties' names the words are found in a page's
row: `record` in the record's own words (findings, outcomes, the officer's reasons:
migration 032), else `answer` in the answers' words (comments, reasons: migration 027;
`comment_words` holds both), else none."""

_PAGE = """WITH capped AS MATERIALIZED ({capped})
{rows}"""
_COUNTED = "(SELECT count(*) AS found, {ignored} AS words_ignored FROM capped) AS counted"
_COUNTED_THEN_ROWS = """{counted}
  LEFT JOIN LATERAL (
    SELECT * FROM ({few}) AS few WHERE counted.found <= {cap}
    UNION ALL
    SELECT * FROM ({walked}) AS walked WHERE counted.found > {cap}
  ) AS listed ON true"""
"""The page: its matches' ids read first (`capped`, the count); when they are every match
(at most COUNT_CAP), the page is those rows sorted (`_few`: words and filters that together
match few start from the GIN index, however many each matches alone); when more match, the
walks of the order's index (`_matched`). Only one of the two runs (a one-time filter)."""
_COUNTED_THEN_WALKED = """{counted}
  LEFT JOIN LATERAL ({walked}) AS listed ON true"""
"""The page of a filter whose walk finds a page soon (`_sorts_its_matches`)."""


def _sorts_its_matches(given: ConventionFilter, sort: str) -> bool:
    """Whether the page may sort the capped matches rather than walk: for words with other
    conditions (the walk checks both on each convention it passes, and they may hold
    together in few), and for relevance (no index walks it). Every other filter's walk
    finds its page soon, and its statement is planned in half the time."""
    if not given.words:
        return False
    return sort == "relevance" or given != ConventionFilter(words=given.words)


def page_sql(
    given: ConventionFilter,
    sort: str,
    limit: int,
    after: Cursor | None = None,
    language: str | None = None,
) -> tuple[str, list[Any]]:
    """One page's statement and its parameters, as `conventions_page` runs it (the
    benchmark runs it bare): the capped count in the same statement, one row with the
    count alone when the page is empty (past the end); each row's title in `language` as
    its file gave it (`title_read`, None without a language)."""
    statement = _Statement()
    capped = _capped(given, statement, statement.param(COUNT_CAP + 1))
    ignored = _IGNORED.format(words=statement.param(given.words)) if given.words else "false"
    at_most = statement.param(limit)
    counted = _COUNTED.format(ignored=ignored)
    if _sorts_its_matches(given, sort):
        inner = _COUNTED_THEN_ROWS.format(
            counted=counted,
            few=_few(given, sort, statement, after, at_most),
            walked=_matched(given, sort, statement, after, at_most),
            cap=statement.param(COUNT_CAP),
        )
    else:
        inner = _COUNTED_THEN_WALKED.format(
            counted=counted, walked=_matched(given, sort, statement, after, at_most)
        )
    where_found = (
        _FOUND_IN.format(words=statement.param(given.words))
        if given.words
        else ",\n       NULL::text AS found_in"
    )
    found = "counted.found, counted.words_ignored, "
    read_in = statement.param(language) if language is not None else None
    rows = _with_next_task(inner, sort, found=found, where_found=where_found, language=read_in)
    return _PAGE.format(capped=capped, rows=rows), statement.params


def page_plan_sql(
    given: ConventionFilter,
    sort: str,
    limit: int,
    after: Cursor | None = None,
    language: str | None = None,
) -> tuple[str, list[Any]]:
    """`page_sql` run under EXPLAIN ANALYZE (its one JSON row says how long PostgreSQL took
    to plan and to run it): the benchmark's measure of the planning each page pays."""
    sql, params = page_sql(given, sort, limit, after, language)
    return f"EXPLAIN (ANALYZE, FORMAT JSON) {sql}", params


async def conventions_page(
    pool: asyncpg.Pool,
    given: ConventionFilter,
    sort: str,
    limit: int,
    after: Cursor | None = None,
    language: str | None = None,
) -> ConventionsPage:
    """At most `limit` rows of the filter after the cursor (from its first without one),
    and the filter's capped count: one statement, planned for its values; each row's
    title in `language` as its file gave it (`title_read`)."""
    sql, params = page_sql(given, sort, limit, after, language)
    async with pool.acquire() as connection:
        await connection.execute(CUSTOM_PLANS)
        fetched = [dict(row) for row in await connection.fetch(sql, *params)]
    found = int(fetched[0]["found"]) if fetched else 0
    ignored = bool(fetched[0]["words_ignored"]) if fetched else False
    rows = []
    for row in fetched:
        del row["found"], row["words_ignored"]
        if row["id"] is not None:
            rows.append(row)
    bounded = ranking_bounded(given, sort, found)
    return ConventionsPage(rows, found, COUNT_CAP, ignored, bounded, RANKED_AT_MOST)


def export_sql(given: ConventionFilter, sort: str) -> tuple[str, list[Any]]:
    """Every row of the filter in its order: the downloads' statement."""
    statement = _Statement()
    matched = _matched(given, sort, statement, None, None)
    return _with_next_task(f"({matched}) AS listed", sort), statement.params


async def stream_conventions(
    pool: asyncpg.Pool, given: ConventionFilter, sort: str, batch: int = 500
) -> AsyncIterator[dict[str, Any]]:
    """Every row of the filter, in its order, read by a cursor `batch` rows at a time (the
    memory a download holds is a batch's, whatever the filter's size)."""
    sql, params = export_sql(given, sort)
    async with pool.acquire() as connection, connection.transaction():
        await connection.execute(CUSTOM_PLANS)
        async for row in connection.cursor(sql, *params, prefetch=batch):
            yield dict(row)


_OFFICE_TASKS = """
SELECT t.convention_id, c.title, {title_read} AS title_read, t.task_id, t.kind, t.stage,
       t.party, t.due_at,
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
    pool: asyncpg.Pool, mine: str | None, limit: int, language: str | None = None
) -> tuple[list[dict[str, Any]], int]:
    """The open tasks the office's own party owes, across active conventions, overdue first
    then by due date (at most `limit`), and how many there are in all; `mine`: of the
    conventions this account started or is the officer of; each convention's title in
    `language` as its file gave it (`title_read`)."""
    params: list[Any] = [limit, language]
    condition = ""
    if mine is not None:
        params.append(mine.lower())
        condition = "AND " + _MINE.format(email="$3")
    party_name = _PARTY_NAME.format(convention="t.convention_id", party="t.party")
    title_read = _TITLE_IN.format(language="$2::text", convention="t.convention_id")
    sql = _OFFICE_TASKS.format(party_name=party_name, title_read=title_read, mine=condition)
    rows = [dict(row) for row in await pool.fetch(sql, *params)]
    total = int(rows[0]["pacte_total"]) if rows else 0
    for row in rows:
        del row["pacte_total"]
    return rows, total


def due_text(value: datetime | None) -> str:
    """A due date as the downloads write it (ISO, to the minute, UTC as stored)."""
    return value.isoformat(timespec="minutes") if value is not None else ""
