"""The office desk's lists: every convention the reader may see (searched, filtered, sorted,
paged; CSV and XLSX of the current filter), the office's own open tasks (mine or all), and
the portfolio's tables as XLSX beside their CSV. Routes only: the rules are
application/office/conventions_list.py's; each declares its one permission."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response, StreamingResponse

from application.errors import InvalidInput, NotFound
from application.office.conventions_list import (
    EXPORT_COLUMNS,
    KINDS,
    PAGE_SIZE,
    SEARCH_MAX,
    STAGES,
    STATES,
    TASK_COLUMNS,
    ListQuery,
    conventions_list,
    export_rows,
    office_tasks,
    read_query,
    task_row,
)
from application.office.exports import (
    CSV_MEDIA_TYPE,
    XLSX_MEDIA_TYPE,
    csv_document,
    csv_stream,
    xlsx_document,
    xlsx_of_dicts,
    xlsx_of_rows,
)
from application.office.portfolio import PORTFOLIO_TABLES, backfill_convention_files
from application.office.roles import Permission, may
from application.office.signin import OfficeSession
from application.sealing import unsealed_originals
from schemas.errors import DetailCode, FieldError, coded_detail
from web.i18n import language_or_default
from web.office import DeskDep, page, require

router = APIRouter(include_in_schema=False)

Reader = Annotated[OfficeSession, require(Permission.READ_PORTFOLIO)]


def _language(request: Request, session: OfficeSession) -> str:
    return language_or_default(request.query_params.get("lang") or session.language)


def _file(body: bytes | str, media_type: str, filename: str) -> Response:
    return Response(
        body,
        media_type=media_type,
        headers={
            "cache-control": "no-store",
            "content-disposition": f'attachment; filename="{filename}"',
        },
    )


def _params(request: Request) -> dict[str, str]:
    return {name: value for name, value in request.query_params.items()}


@router.get("/office/conventions", response_class=HTMLResponse)
async def conventions_page(request: Request, desk: DeskDep, session: Reader) -> Response:
    """Every convention, searched by words (titles, party names and the answers' comments,
    French and Arabic) or id, filtered by stage, state, kind, party, country, sector,
    officer, overdue; sorted by updated, due, title or relevance to the words; PAGE_SIZE a
    page, each next page after the last row of the one before (`after`, a cursor). Unknown
    filter values and a cursor the list did not make: 422, each named."""
    context: dict[str, Any] = {
        "stages": STAGES,
        "states": STATES,
        "kinds": KINDS,
        "search_max": SEARCH_MAX,
        "page_size": PAGE_SIZE,
        "can_audit": may(session.role, Permission.AUDIT),
    }
    try:
        query = read_query(_params(request), mine=session.user.email)
    except InvalidInput as error:
        return page(
            request,
            "office/conventions.html",
            session,
            status_code=422,
            listed=None,
            values={name: value[:SEARCH_MAX] for name, value in _params(request).items()},
            errors=[(e.field, e.reason) for e in error.errors],
            **context,
        )
    # Conventions started without a recorded file get theirs (a few a load), as on the
    # portfolio: their titles and parties become searchable.
    await backfill_convention_files(desk.pool, desk.client)
    listed = await conventions_list(desk.pool, query, _language(request, session))
    return page(
        request,
        "office/conventions.html",
        session,
        listed=listed,
        values=query.values,
        errors=[],
        query=query,
        **context,
    )


def _export_query(request: Request, session: OfficeSession) -> ListQuery:
    # A download of a bad filter is refused as the page is: InvalidInput, each field named.
    return read_query(_params(request), mine=session.user.email)


@router.get("/office/conventions.csv")
async def conventions_csv(request: Request, desk: DeskDep, session: Reader) -> Response:
    """The current filter's every convention as CSV (the reader's separator, a BOM),
    streamed a row at a time."""
    query = _export_query(request, session)
    language = _language(request, session)
    body = csv_stream(EXPORT_COLUMNS, export_rows(desk.pool, query, language), language)
    return StreamingResponse(
        body,
        media_type=CSV_MEDIA_TYPE,
        headers={
            "cache-control": "no-store",
            "content-disposition": 'attachment; filename="conventions.csv"',
        },
    )


@router.get("/office/conventions.xlsx")
async def conventions_xlsx(request: Request, desk: DeskDep, session: Reader) -> Response:
    """The current filter's every convention as an Excel workbook."""
    query = _export_query(request, session)
    rows = export_rows(desk.pool, query, _language(request, session))
    body = await xlsx_of_rows(EXPORT_COLUMNS, rows, "conventions")
    return _file(body, XLSX_MEDIA_TYPE, "conventions.xlsx")


def _scope(request: Request) -> str:
    scope = request.query_params.get("scope", "mine")
    if scope not in ("mine", "all"):
        reason = f"mine or all, not {scope[:80]!r}"
        raise InvalidInput(f"scope: {reason}", [FieldError("scope", reason)])
    return scope


@router.get("/office/tasks", response_class=HTMLResponse)
async def tasks_page(request: Request, desk: DeskDep, session: Reader) -> Response:
    """The office's own open tasks across conventions, overdue first: mine (conventions I
    started or am the officer of) or all; each with a link to where it is answered."""
    scope = _scope(request)
    owed = await office_tasks(
        desk.pool,
        session.user.email if scope == "mine" else None,
        language=_language(request, session),
    )
    unsealed = await unsealed_originals(
        desk.partner, session.user.email if scope == "mine" else None
    )
    return page(
        request,
        "office/tasks.html",
        session,
        owed=owed,
        unsealed=unsealed,
        scope=scope,
        can_answer=may(session.role, Permission.ACT),
    )


async def _task_rows(request: Request, desk: DeskDep, session: OfficeSession) -> list[list[object]]:
    scope = _scope(request)
    owed = await office_tasks(desk.pool, session.user.email if scope == "mine" else None, 100_000)
    return [task_row(row) for row in owed.rows]


@router.get("/office/tasks.csv")
async def tasks_csv(request: Request, desk: DeskDep, session: Reader) -> Response:
    """The office's open tasks (mine or all) as CSV in the reader's dialect."""
    rows = await _task_rows(request, desk, session)
    text = csv_document(TASK_COLUMNS, rows, _language(request, session))
    return _file(text, CSV_MEDIA_TYPE, "office-tasks.csv")


@router.get("/office/tasks.xlsx")
async def tasks_xlsx(request: Request, desk: DeskDep, session: Reader) -> Response:
    """The office's open tasks (mine or all) as an Excel workbook."""
    rows = await _task_rows(request, desk, session)
    return _file(xlsx_document(TASK_COLUMNS, rows, "tasks"), XLSX_MEDIA_TYPE, "office-tasks.xlsx")


@router.get("/office/portfolio/{table}.xlsx")
async def portfolio_xlsx(table: str, desk: DeskDep, _session: Reader) -> Response:
    """One table of the portfolio as an Excel workbook (the same rows as its CSV)."""
    if table not in PORTFOLIO_TABLES:
        raise NotFound(coded_detail(DetailCode.NO_TABLE, f"no table {table!r}", table=table))
    rows = await desk.portfolio_table(table)
    return _file(xlsx_of_dicts(rows, table), XLSX_MEDIA_TYPE, f"{table}.xlsx")
