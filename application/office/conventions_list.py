"""The office's conventions list and search, and the office's own tasks: the filters read
from a query string and checked (every unknown value named by its field, all at once), one
page of the read model, the rows as the downloads write them (CSV streamed in the reader's
dialect, XLSX). SQL in storage/convention_search.py."""

from __future__ import annotations

import math
import re
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, replace
from typing import Any, get_args
from urllib.parse import urlencode

import asyncpg

from application.errors import InvalidInput
from schemas.convention import ConventionKind, StageSpec
from schemas.errors import FieldError
from schemas.status import ConventionState
from storage import convention_search as stored
from storage.convention_search import SORTS, ConventionFilter

PAGE_SIZE = 50
MAX_PAGE = 2000
"""Bounded offsets: 2,000 pages of 50 reach the 100,000th convention; past them, narrow the
filter (the downloads have every row)."""
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
    page: int
    values: dict[str, str]
    cut: bool = False

    def query_string(self, **changes: str) -> str:
        """This request's query string with some values changed (for sort and page links)."""
        values = {**self.values, "sort": self.sort, "page": str(self.page), **changes}
        return urlencode({name: value for name, value in values.items() if value})


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
    page_text = _one(params, "page") or "1"
    page = 1
    if not page_text.isdigit() or not 1 <= int(page_text) <= MAX_PAGE:
        errors.append(FieldError("page", f"a page number from 1 to {MAX_PAGE}"))
    else:
        page = int(page_text)
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
    return ListQuery(given, sort, page, values, cut)


@dataclass(frozen=True)
class ConventionList:
    """One page of the list as the page shows it."""

    query: ListQuery
    rows: list[dict[str, Any]]
    total: int
    words_ignored: bool
    """The words hold no letter or digit once normalised: only an id could match them."""

    @property
    def pages(self) -> int:
        """How many pages the filter fills."""
        return max(1, math.ceil(self.total / PAGE_SIZE))

    @property
    def past_end(self) -> bool:
        """The page asked for is past the last one."""
        return self.query.page > self.pages


async def _usable(pool: asyncpg.Pool, query: ListQuery) -> ListQuery:
    words = query.filter.words
    if words is None:
        return query
    terms = await stored.search_terms(pool, words)
    return replace(query, filter=replace(query.filter, terms=terms))


async def conventions_list(pool: asyncpg.Pool, query: ListQuery) -> ConventionList:
    """The page the query asks for (empty past the end, with the count that says so)."""
    query = await _usable(pool, query)
    offset = (query.page - 1) * PAGE_SIZE
    found = await stored.conventions_page(pool, query.filter, query.sort, PAGE_SIZE, offset)
    for row in found.rows:
        row["next_named"] = _named(row["next_kind"], row["next_title"])
    ignored = query.filter.words is not None and query.filter.terms is None
    return ConventionList(query, found.rows, found.total, ignored)


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
    "next_kind",
    "owed_by",
    "next_due",
    "updated_at",
)


def export_row(row: Mapping[str, Any]) -> list[object]:
    """One convention as the downloads write it, in EXPORT_COLUMNS' order."""
    owed_by = row["next_party_name"] or row["next_party"]
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
        row["next_kind"],
        owed_by,
        stored.due_text(row["next_due"]),
        stored.due_text(row["updated_at"]),
    ]


async def export_rows(pool: asyncpg.Pool, query: ListQuery) -> AsyncIterator[list[object]]:
    """Every convention of the query's filter (all pages), in its order."""
    query = await _usable(pool, query)
    async for row in stored.stream_conventions(pool, query.filter, query.sort):
        yield export_row(row)


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
    pool: asyncpg.Pool, mine: str | None, limit: int = TASKS_SHOWN
) -> OfficeTasks:
    """Every open task the office owes (of the conventions `mine` started or is officer of,
    when given)."""
    rows, total = await stored.office_tasks(pool, mine, limit)
    for row in rows:
        row["named"] = _named(row["kind"], row["task_title"])
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
