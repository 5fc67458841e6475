"""The office's conventions list and search, and the office's own tasks: the filters read
from a query string and checked (every unknown value named by its field, all at once), one
page of the read model, the rows as the downloads write them (CSV streamed in the reader's
dialect, XLSX). SQL in storage/convention_search.py."""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, get_args
from urllib.parse import urlencode

import asyncpg

from application.errors import InvalidInput
from rendering.record import task_title
from schemas.convention import ConventionKind, StageSpec
from schemas.errors import FieldError
from schemas.status import ConventionState
from storage import convention_search as stored
from storage.convention_search import SORTS, ConventionFilter, Cursor

PAGE_SIZE = 50
CURSOR_MAX = 1000
"""A cursor is a page's last row (its sort key and id), base64 of a small JSON list: longer
than this, it was not made by the list."""
SEARCH_MAX = 200
"""A search longer than this is cut (and the page says so): titles are at most 300
characters, and no sentence of 200 is a search."""
TASKS_SHOWN = 500

STAGES: tuple[str, ...] = tuple(
    str(member.model_fields["stage"].default) for member in get_args(get_args(StageSpec)[0])
)
STATES: tuple[str, ...] = tuple(state.value for state in ConventionState)
KINDS: tuple[str, ...] = tuple(kind.value for kind in ConventionKind)
_IDENTIFIER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,79}$")
_COUNTRY = re.compile(r"^[A-Za-z]{2}$")
_YES = {"1", "yes", "true", "on", "oui"}
_NO = {"", "0", "no", "false", "off", "non"}
FILTER_FIELDS = ("q", "stage", "state", "kind", "party", "country", "sector", "officer")


@dataclass(frozen=True)
class NamedTask:
    """A row's task as `rendering.record.task_title` reads it (its kind and its recorded
    English title; empty while the inbox has not recorded it yet), so that the page names
    it in the reader's language rather than by its id."""

    kind: str | None
    title: str


def _named(kind: str | None, title: str | None) -> NamedTask | None:
    return NamedTask(kind, title) if title else None


@dataclass(frozen=True)
class ListQuery:
    """A checked request of the list: its filter, order and page, and the words as typed
    (cut to SEARCH_MAX) for the form to show again."""

    filter: ConventionFilter
    sort: str
    after: Cursor | None
    values: dict[str, str]
    cut: bool = False
    relevance_without_words: bool = False
    """Relevance was asked for with no words to rank by: latest changed first instead."""

    def query_string(self, **changes: str) -> str:
        """This request's query string with some values changed (for sort and next-page
        links; a link to another order starts from its first page)."""
        values = {**self.values, "sort": self.sort, **changes}
        return urlencode({name: value for name, value in values.items() if value})


def cursor_text(sort: str, row: Mapping[str, Any]) -> str:
    """The cursor of a page that starts after `row`, in the list's order `sort`."""
    key: Any
    if sort == "updated":
        key = row["updated_at"].isoformat()
    elif sort == "due":
        key = row["sort_due"].isoformat() if row["sort_due"] is not None else None
    elif sort == "relevance":
        key = float(row["rank"])  # a real: its decimal form reads back to the same value
    else:
        key = row["title_key"]  # as PostgreSQL lowers it: the order's own key
    packed = json.dumps([sort, key, row["id"]], ensure_ascii=False, separators=(",", ":"))
    return base64.urlsafe_b64encode(packed.encode()).decode().rstrip("=")


def _cursor(text: str, sort: str) -> Cursor | str:
    """The cursor a page link carries, or why it is not one (a cursor is a value like any
    other: every part of it checked here, and a parameter of the statement)."""
    if len(text) > CURSOR_MAX:
        return f"at most {CURSOR_MAX} characters"
    try:
        packed = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        made, key, identifier = json.loads(packed.decode())
    except (binascii.Error, UnicodeDecodeError, ValueError, TypeError):
        return "not a page of this list (follow the list's own links)"
    if made != sort:
        return f"a page of the order {str(made)[:20]!r}, not {sort!r}"
    if not isinstance(identifier, str) or not 0 < len(identifier) <= 200:
        return "not a page of this list (follow the list's own links)"
    if sort == "title":
        if key is not None and not isinstance(key, str):
            return "not a page of this list (follow the list's own links)"
        return Cursor(key, identifier)
    if key is None and sort == "due":
        return Cursor(None, identifier)
    if sort == "relevance":
        if isinstance(key, bool) or not isinstance(key, int | float) or not math.isfinite(key):
            return "not a page of this list (follow the list's own links)"
        return Cursor(float(key), identifier)
    try:
        moment = datetime.fromisoformat(key) if isinstance(key, str) else None
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        return "not a page of this list (follow the list's own links)"
    return Cursor(moment, identifier)


def _one(params: Mapping[str, str], name: str) -> str:
    return (params.get(name) or "").strip()


def read_query(params: Mapping[str, str], *, mine: str | None = None) -> ListQuery:
    """The list's request from a query string; InvalidInput names every bad field at once."""
    errors: list[FieldError] = []
    values = {name: _one(params, name) for name in FILTER_FIELDS}
    words = values["q"]
    cut = len(words) > SEARCH_MAX
    words = words[:SEARCH_MAX]
    values["q"] = words
    for name, known in (("stage", STAGES), ("state", STATES), ("kind", KINDS)):
        if values[name] and values[name] not in known:
            errors.append(
                FieldError(name, f"unknown {name} {values[name]!r}: one of {', '.join(known)}")
            )
    if values["party"] and not _IDENTIFIER.match(values["party"]):
        errors.append(FieldError("party", f"not a party id: {values['party'][:80]!r}"))
    if values["country"]:
        if not _COUNTRY.match(values["country"]):
            errors.append(
                FieldError("country", f"a two-letter country code, not {values['country'][:80]!r}")
            )
        values["country"] = values["country"].upper()
    for name in ("sector", "officer"):
        if len(values[name]) > SEARCH_MAX:
            errors.append(FieldError(name, f"at most {SEARCH_MAX} characters"))
    overdue_text = _one(params, "overdue").lower()
    if overdue_text not in _YES | _NO:
        errors.append(FieldError("overdue", f"yes or no, not {overdue_text[:80]!r}"))
    sort = _one(params, "sort") or "updated"
    if sort not in SORTS:
        errors.append(FieldError("sort", f"unknown order {sort[:80]!r}: one of {', '.join(SORTS)}"))
        sort = "updated"
    # Relevance ranks by the words: without any, the list is latest changed first.
    relevance_without_words = sort == "relevance" and not words
    if relevance_without_words:
        sort = "updated"
    after: Cursor | None = None
    if after_text := _one(params, "after"):
        read = _cursor(after_text, sort)
        if isinstance(read, str):
            errors.append(FieldError("after", read))
        else:
            after = read
    scope = _one(params, "scope")
    if scope not in ("", "all", "mine"):
        errors.append(FieldError("scope", f"mine or all, not {scope[:80]!r}"))
    if errors:
        raise InvalidInput("the list's filter", errors)
    values["overdue"] = "yes" if overdue_text in _YES else ""
    values["scope"] = scope
    given = ConventionFilter(
        words=words or None,
        stage=values["stage"] or None,
        state=values["state"] or None,
        kind=values["kind"] or None,
        party=values["party"] or None,
        country=values["country"] or None,
        sector=values["sector"] or None,
        officer=values["officer"] or None,
        overdue=bool(values["overdue"]),
        mine=mine if scope == "mine" else None,
    )
    return ListQuery(given, sort, after, values, cut, relevance_without_words)


@dataclass(frozen=True)
class ConventionList:
    """One page of the list as the page shows it."""

    query: ListQuery
    rows: list[dict[str, Any]]
    found: int
    """How many conventions the filter matches, counted up to COUNT_CAP + 1."""
    words_ignored: bool
    """The words hold no letter or digit once normalised: only an id could match them."""
    next_after: str | None
    """The cursor of the next page, None on the last."""
    cap: int
    """How far the count goes (storage's COUNT_CAP when the page was read)."""
    ranking_bounded: bool = False
    """By relevance, more matched than a page ranks: the pages rank the `ranked` latest
    changed matches only (the page says so)."""
    ranked: int = stored.RANKED_AT_MOST

    @property
    def more_than_cap(self) -> bool:
        """More conventions match than the count goes to ("more than 1,000")."""
        return self.found > self.cap

    @property
    def past_end(self) -> bool:
        """A page was asked for after the last row of the filter."""
        return self.query.after is not None and not self.rows


async def conventions_list(
    pool: asyncpg.Pool, query: ListQuery, language: str | None = None
) -> ConventionList:
    """The page the query asks for (empty past the end, with the count that says how many
    the filter matches), each title in the reader's `language` where the convention's file
    gave it, else the original (`title_shown`). One row more than a page is read: it says
    whether a next page exists."""
    found = await stored.conventions_page(
        pool, query.filter, query.sort, PAGE_SIZE + 1, query.after, language
    )
    rows = found.rows[:PAGE_SIZE]
    for row in rows:
        row["next_named"] = _named(row["next_kind"], row["next_title"])
        row["title_shown"] = row["title_read"] or row["title"]
    following = cursor_text(query.sort, rows[-1]) if len(found.rows) > PAGE_SIZE else None
    return ConventionList(
        query,
        rows,
        found.found,
        found.words_ignored,
        following,
        found.cap,
        found.ranking_bounded,
        found.ranked,
    )


EXPORT_COLUMNS = (
    "convention_id",
    "title",
    "kind",
    "stage",
    "state",
    "countries",
    "sector",
    "officer",
    "next_task",
    "next_task_title",
    "next_kind",
    "owed_by",
    "next_due",
    "updated_at",
)


def export_row(row: Mapping[str, Any], language: str = "fr") -> list[object]:
    """One convention as the downloads write it, in EXPORT_COLUMNS' order: the next task by
    its id and kind (as programs read it) and its title in the reader's `language` (empty
    while the inbox has not recorded the task)."""
    owed_by = row["next_party_name"] or row["next_party"]
    named = _named(row["next_kind"], row["next_title"])
    return [
        row["id"],
        row["title"],
        row["kind"],
        row["stage"],
        row["state"],
        " ".join(row["countries"] or []),
        row["sector"],
        row["officer_name"],
        row["next_task"],
        task_title(named, language).text if named is not None else "",
        row["next_kind"],
        owed_by,
        stored.due_text(row["next_due"]),
        stored.due_text(row["updated_at"]),
    ]


async def export_rows(
    pool: asyncpg.Pool, query: ListQuery, language: str = "fr"
) -> AsyncIterator[list[object]]:
    """Every convention of the query's filter (all pages), in its order; the next task's
    title in `language`."""
    async for row in stored.stream_conventions(pool, query.filter, query.sort):
        yield export_row(row, language)


@dataclass(frozen=True)
class OfficeTasks:
    """The office's own open tasks: the first TASKS_SHOWN, overdue first, and their count."""

    rows: list[dict[str, Any]]
    total: int
    mine: bool


TASK_COLUMNS = (
    "convention_id",
    "title",
    "task_id",
    "kind",
    "stage",
    "due_at",
    "overdue",
    "escalated",
    "officer",
)


async def office_tasks(
    pool: asyncpg.Pool, mine: str | None, limit: int = TASKS_SHOWN, language: str | None = None
) -> OfficeTasks:
    """Every open task the office owes (of the conventions `mine` started or is officer of,
    when given), each convention's title in the reader's `language` where its file gave
    it, else the original (`title_shown`)."""
    rows, total = await stored.office_tasks(pool, mine, limit, language)
    for row in rows:
        row["named"] = _named(row["kind"], row["task_title"])
        row["title_shown"] = row["title_read"] or row["title"]
    return OfficeTasks(rows, total, mine is not None)


def task_row(row: Mapping[str, Any]) -> list[object]:
    """One office task as the downloads write it, in TASK_COLUMNS' order."""
    return [
        row["convention_id"],
        row["title"],
        row["task_id"],
        row["kind"],
        row["stage"],
        stored.due_text(row["due_at"]),
        bool(row["overdue"]),
        bool(row["escalated"]),
        row["officer_name"],
    ]
