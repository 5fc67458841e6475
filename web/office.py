"""The office desk's pages: sign-in with a second factor, the portfolio, a convention's page
and the officers' actions, starting a convention from a file, the auditors' checks and
downloads, the access log. Thin: the rules are the desk's (application/office_desk.py).

Every route declares one permission in ROUTES; `_signed_in` checks it on the server before
anything else is read, and tests/test_office_roles.py walks the whole matrix.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from application.conventions import ConventionNotFound, ConventionUnreadable, convention_status
from application.errors import InvalidInput, NotFound, PacteError, Refused
from application.office_desk import (
    PORTFOLIO_TABLES,
    SESSION_COOKIE,
    OfficeDesk,
    OfficeSession,
    Permission,
    Role,
    backfill_convention_files,
    portfolio,
    portfolio_json,
    table_csv,
)
from application.partner import TaskView
from auditing.html_report import render_html
from auditing.replay import replay_conventions
from auditing.timeline import build_timeline, render_csv, render_json
from auditing.verify import verify_convention
from records.history_events import history_file_bytes
from schemas.convention_file import parse_document
from schemas.errors import FieldError, InputError
from web.charts import bar_chart
from web.forms import COHORT_ROWS, errors_by_field, form_for, parse_form, requested_money
from web.i18n import LANGUAGES, N_, direction, gettext, language_or_default
from web.pages import LANGUAGE_NAMES, templates
from web.problems import status_and_title
from web.security import Csrf, client_address

router = APIRouter(include_in_schema=False)

ROUTES: dict[tuple[str, str], Permission] = {
    ("GET", "/office"): Permission.READ_PORTFOLIO,
    ("GET", "/office/portfolio/{table}.csv"): Permission.READ_PORTFOLIO,
    ("GET", "/office/portfolio.json"): Permission.READ_PORTFOLIO,
    ("GET", "/office/charts/{table}.svg"): Permission.READ_PORTFOLIO,
    ("GET", "/office/conventions/{convention_id}"): Permission.READ_PORTFOLIO,
    ("POST", "/office/conventions/{convention_id}/postpone"): Permission.ACT,
    ("POST", "/office/conventions/{convention_id}/reassign"): Permission.ACT,
    ("POST", "/office/conventions/{convention_id}/terminate"): Permission.ACT,
    ("POST", "/office/conventions/{convention_id}/answer"): Permission.ACT,
    ("GET", "/office/conventions/{convention_id}/tasks/{task_id}"): Permission.ACT,
    ("POST", "/office/conventions/{convention_id}/tasks/{task_id}"): Permission.ACT,
    ("GET", "/office/start"): Permission.START,
    ("POST", "/office/start"): Permission.START,
    ("GET", "/office/audit/{convention_id}"): Permission.AUDIT,
    ("POST", "/office/audit/{convention_id}/check"): Permission.AUDIT,
    ("GET", "/office/audit/{convention_id}/timeline.{fmt}"): Permission.AUDIT,
    ("GET", "/office/audit/{convention_id}/export.json"): Permission.AUDIT,
    ("GET", "/office/access-log"): Permission.READ_ACCESS_LOG,
}
"""Every page behind the sign-in, with the one permission it needs (see PERMISSIONS)."""

HOME = {
    Role.OFFICER: "/office",
    Role.AUDITOR: "/office",
    Role.ADMIN: "/office/access-log",
}


def _desk(request: Request) -> OfficeDesk:
    desk: OfficeDesk = request.app.state.office
    return desk


def _csrf(request: Request) -> Csrf:
    csrf: Csrf = request.app.state.office_csrf
    return csrf


def render(
    request: Request,
    template: str,
    session: OfficeSession | None,
    status_code: int = 200,
    **context: Any,
) -> HTMLResponse:
    """An office page in the reader's language (right to left in Arabic), never cached."""
    lang = language_or_default(
        request.query_params.get("lang") or (session.language if session else None)
    )

    def _(message: str) -> str:
        return gettext(lang, message)

    return templates.TemplateResponse(
        request,
        template,
        {
            "lang": lang,
            "dir": direction(lang),
            "_": _,
            "gettext": _,
            "ngettext": lambda s, p, n: _(s if n == 1 else p),
            "languages": [(code, LANGUAGE_NAMES[code]) for code in LANGUAGES],
            "session": None,
            "office": session,
            "csrf": _csrf(request).token(session.id_hash) if session else None,
            "path": request.url.path,
            **context,
        },
        status_code=status_code,
        headers={"cache-control": "no-store"},
    )


def office_error(request: Request, error: PacteError) -> Response:
    """A refusal on an office page, with the office's layout."""
    headers = {"retry-after": str(error.retry_after)} if error.retry_after is not None else {}
    response = render(
        request,
        "office/message.html",
        None,
        status_code=status_and_title(error)[0],
        message=status_and_title(error)[1],
        detail=error.detail,
    )
    response.headers.update(headers)
    return response


async def _session(request: Request) -> OfficeSession:
    return await _desk(request).session(request.cookies.get(SESSION_COOKIE))


async def _signed_in(request: Request, method: str, route: str) -> OfficeSession:
    session = await _session(request)
    _desk(request).authorize(session, ROUTES[(method, route)])
    return session


async def _form(request: Request) -> dict[str, str]:
    form = await request.form()
    return {key: value for key, value in form.items() if isinstance(value, str)}


def _check_csrf(request: Request, session: OfficeSession, form: dict[str, str]) -> None:
    if not _csrf(request).valid(form.get("csrf", ""), session.id_hash):
        raise PacteError("this form has expired or did not come from this page: reload it")


def _see(url: str) -> RedirectResponse:
    response = RedirectResponse(url, status_code=303)
    response.headers["cache-control"] = "no-store"
    return response


# --- sign-in ------------------------------------------------------------------------------


@router.get("/office/signin", response_class=HTMLResponse)
async def signin_page(request: Request) -> Response:
    """E-mail and password."""
    return render(request, "office/signin.html", None, errors={})


@router.post("/office/signin", response_class=HTMLResponse)
async def signin(request: Request) -> Response:
    """Check the password; the second factor follows for officers and admins."""
    form = await _form(request)
    desk = _desk(request)
    token, session = await desk.sign_in(
        form.get("email", ""), form.get("password", ""), client_address(request)
    )
    target = {"second_factor": "/office/second-factor", "enrol": "/office/enrol"}.get(
        session.step, HOME[session.user.role]
    )
    return _with_cookie(request, _see(target), token)


@router.get("/office/second-factor", response_class=HTMLResponse)
async def second_factor_page(request: Request) -> Response:
    """The six-digit code of the authenticator (or a recovery code)."""
    session = await _session(request)
    return render(request, "office/second_factor.html", session, error=None)


@router.post("/office/second-factor", response_class=HTMLResponse)
async def second_factor(request: Request) -> Response:
    """A code's time-step is accepted once."""
    session = await _session(request)
    form = await _form(request)
    _check_csrf(request, session, form)
    try:
        token = await _desk(request).second_factor(
            session, form.get("code", ""), client_address(request)
        )
    except InvalidInput:
        return render(
            request,
            "office/second_factor.html",
            session,
            status_code=401,
            error=N_("Wrong or already used code."),
        )
    return _with_cookie(request, _see(HOME[session.user.role]), token)


def _with_cookie(request: Request, response: Response, token: str) -> Response:
    response.set_cookie(
        SESSION_COOKIE,
        token,
        httponly=True,
        samesite="strict",
        secure=_desk(request).partner.settings.secure_cookies,
        path="/office",
    )
    return response


@router.get("/office/enrol", response_class=HTMLResponse)
async def enrol_page(request: Request) -> Response:
    """The TOTP secret and its otpauth URI, as text (no script, no QR image)."""
    session = await _session(request)
    secret, uri = await _desk(request).enrolment(session)
    return render(request, "office/enrol.html", session, secret=secret, uri=uri, error=None)


@router.post("/office/enrol", response_class=HTMLResponse)
async def enrol(request: Request) -> Response:
    """A first code proves the authenticator; the recovery codes are shown once."""
    session = await _session(request)
    form = await _form(request)
    _check_csrf(request, session, form)
    desk = _desk(request)
    try:
        token, codes = await desk.confirm_enrolment(
            session, form.get("code", ""), client_address(request)
        )
    except InvalidInput:
        secret, uri = await desk.enrolment(session)
        return render(
            request,
            "office/enrol.html",
            session,
            status_code=401,
            secret=secret,
            uri=uri,
            error=N_("Wrong or already used code."),
        )
    signed_in = await desk.session(token)
    page = render(
        request, "office/recovery.html", signed_in, codes=codes, home=HOME[session.user.role]
    )
    return _with_cookie(request, page, token)


@router.post("/office/signout")
async def signout(request: Request) -> Response:
    """End the session."""
    session = await _session(request)
    form = await _form(request)
    _check_csrf(request, session, form)
    await _desk(request).sign_out(session, client_address(request))
    response = _see("/office/signin")
    response.delete_cookie(SESSION_COOKIE, path="/office")
    return response


@router.post("/office/language")
async def language(request: Request) -> Response:
    """Read the desk in another language."""
    session = await _session(request)
    form = await _form(request)
    _check_csrf(request, session, form)
    await _desk(request).set_language(session, language_or_default(form.get("language")))
    target = form.get("next", "/office")
    return _see(target if target.startswith("/office") else "/office")


# --- the portfolio ------------------------------------------------------------------------


def _chart(table: str, rows: list[dict[str, Any]], lang: str) -> str:
    _ = lambda message: gettext(lang, message)  # noqa: E731 - the chart's labels
    rtl = direction(lang) == "rtl"
    if table == "stages":
        labels = [f"{_(r['stage'])} · {_(r['kind'])} · {_(r['state'])}" for r in rows]
        return bar_chart(
            _("Conventions by stage and kind"),
            labels,
            {_("conventions"): [r["conventions"] for r in rows]},
            rtl=rtl,
        )
    if table == "countries":
        labels = [f"{r['country']} · {r['sector']}" for r in rows]
        return bar_chart(
            _("Conventions by country and sector"),
            labels,
            {_("conventions"): [r["conventions"] for r in rows]},
            rtl=rtl,
        )
    if table == "overdue":
        labels = [f"{r['convention_id']} · {r['task_id']}" for r in rows]
        return bar_chart(
            _("Days late"), labels, {_("days late"): [r["days_late"] for r in rows]}, rtl=rtl
        )
    if table == "funding":
        labels = [f"{r['funder']} ({r['currency']})" for r in rows]
        return bar_chart(
            _("Funding pipeline, per funder and currency"),
            labels,
            {
                _("requested"): [r["requested"] for r in rows],
                _("granted"): [r["granted"] for r in rows],
                _("pending"): [r["pending"] for r in rows],
                _("rejected"): [r["rejected"] for r in rows],
            },
            rtl=rtl,
        )
    if table == "indicators":
        labels = [f"{r['convention_id']} · {r['indicator']}" for r in rows]
        return bar_chart(
            _("Indicators against their targets"),
            labels,
            {_("target"): [r["target"] for r in rows], _("actual"): [r["actual"] for r in rows]},
            rtl=rtl,
        )
    if table == "spend":
        labels = [f"{r['convention_id']} ({r['currency']})" for r in rows]
        return bar_chart(
            _("Spend against budget"),
            labels,
            {_("budget"): [r["budget"] or 0 for r in rows], _("spent"): [r["spent"] for r in rows]},
            rtl=rtl,
        )
    labels = [r["convention_id"] for r in rows]
    return bar_chart(
        _("Cohorts"),
        labels,
        {
            _("enrolled"): [r["enrolled"] for r in rows],
            _("certified"): [r["certified"] for r in rows],
        },
        rtl=rtl,
    )


@router.get("/office", response_class=HTMLResponse)
async def portfolio_page(request: Request) -> Response:
    """Every table of the portfolio, each with its chart and its CSV (the per-convention
    tables: their first PAGE_ROWS rows, and how many they have)."""
    session = await _signed_in(request, "GET", "/office")
    page = await _desk(request).portfolio_page()
    return render(
        request,
        "office/portfolio.html",
        session,
        tables=page.tables,
        totals=page.totals,
        names=PORTFOLIO_TABLES,
    )


@router.get("/office/portfolio.json")
async def portfolio_download(request: Request) -> Response:
    """The same figures as JSON."""
    await _signed_in(request, "GET", "/office/portfolio.json")
    tables = await _desk(request).portfolio()
    return Response(
        portfolio_json(tables), media_type="application/json", headers={"cache-control": "no-store"}
    )


@router.get("/office/portfolio/{table}.csv")
async def portfolio_csv(table: str, request: Request) -> Response:
    """One table as CSV."""
    await _signed_in(request, "GET", "/office/portfolio/{table}.csv")
    if table not in PORTFOLIO_TABLES:
        raise NotFound(f"no table {table!r}")
    desk = _desk(request)
    await backfill_convention_files(desk.pool, desk.client)
    rows = (await portfolio(desk.pool, (table,)))[table]
    return Response(
        table_csv(rows),
        media_type="text/csv; charset=utf-8",
        headers={
            "content-disposition": f'attachment; filename="{table}.csv"',
            "cache-control": "no-store",
        },
    )


@router.get("/office/charts/{table}.svg")
async def chart(table: str, request: Request) -> Response:
    """One table's chart, drawn on the server: the rows its page shows."""
    session = await _signed_in(request, "GET", "/office/charts/{table}.svg")
    if table not in PORTFOLIO_TABLES:
        raise NotFound(f"no table {table!r}")
    # Its own table only, the rows its page shows.
    rows = (await _desk(request).portfolio_page((table,), backfill=False)).tables[table]
    lang = language_or_default(request.query_params.get("lang") or session.language)
    return Response(
        _chart(table, rows, lang), media_type="image/svg+xml", headers={"cache-control": "no-store"}
    )


# --- a convention -------------------------------------------------------------------------


@router.get("/office/conventions/{convention_id}", response_class=HTMLResponse)
async def convention_page(convention_id: str, request: Request) -> Response:
    """Stage, open tasks and who owes them, links, deliveries, archive, timeline."""
    session = await _signed_in(request, "GET", "/office/conventions/{convention_id}")
    return await _convention(request, session, convention_id)


async def _convention(
    request: Request,
    session: OfficeSession,
    convention_id: str,
    *,
    notice: str | None = None,
    refusal: str | None = None,
    errors: list[tuple[str, str]] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    page = await _desk(request).convention_page(convention_id)
    return render(
        request,
        "office/convention.html",
        session,
        status_code=status_code,
        convention_id=convention_id,
        page=page,
        can_act=session.user.role is Role.OFFICER,
        notice=notice,
        refusal=refusal,
        errors=errors or [],
    )


async def _action(request: Request, convention_id: str, route: str, action: str) -> Response:
    session = await _signed_in(request, "POST", route)
    form = await _form(request)
    _check_csrf(request, session, form)
    desk, address = _desk(request), client_address(request)
    try:
        if action == "postpone":
            await desk.postpone(
                session,
                convention_id,
                form.get("task_id", ""),
                form.get("to", ""),
                form.get("reason", ""),
                address,
            )
        elif action == "reassign":
            await desk.reassign(
                session,
                convention_id,
                form.get("task_id", ""),
                form.get("contact", ""),
                form.get("reason", ""),
                address,
            )
        elif action == "terminate":
            await desk.terminate(session, convention_id, form.get("reason", ""), address)
        else:
            await desk.answer_on_behalf(
                session, convention_id, form.get("task_id", ""), _answer_fields(form), address
            )
    except InvalidInput as error:
        return await _convention(
            request,
            session,
            convention_id,
            status_code=422,
            errors=[(e.field, e.reason) for e in error.errors],
        )
    except Refused as error:
        return await _convention(
            request, session, convention_id, status_code=409, refusal=error.detail
        )
    return await _convention(request, session, convention_id, notice=N_("Done."))


def _answer_fields(form: dict[str, str]) -> dict[str, Any]:
    """The answer's fields: a decision and comments, or the whole answer as JSON/YAML."""
    text = form.get("answer", "").strip()
    fields: dict[str, Any] = {}
    if text:
        try:
            parsed = parse_document(text, "answer", as_json=text.startswith("{"))
        except InputError as error:
            raise InvalidInput(str(error), error.errors) from error
        if not isinstance(parsed, dict):
            raise InvalidInput(
                "answer", [FieldError("answer", "expected a mapping of the answer's fields")]
            )
        fields.update(parsed)
    for name in ("decision", "comments", "reason"):
        if form.get(name):
            fields[name] = form[name]
    return fields


@router.post("/office/conventions/{convention_id}/postpone")
async def postpone(convention_id: str, request: Request) -> Response:
    """Move a task's due date later; the milestone names the signed-in officer."""
    return await _action(
        request, convention_id, "/office/conventions/{convention_id}/postpone", "postpone"
    )


@router.post("/office/conventions/{convention_id}/reassign")
async def reassign(convention_id: str, request: Request) -> Response:
    """Give a task to another contact of its party."""
    return await _action(
        request, convention_id, "/office/conventions/{convention_id}/reassign", "reassign"
    )


@router.post("/office/conventions/{convention_id}/terminate")
async def terminate(convention_id: str, request: Request) -> Response:
    """End the convention for a reason."""
    return await _action(
        request, convention_id, "/office/conventions/{convention_id}/terminate", "terminate"
    )


@router.post("/office/conventions/{convention_id}/answer")
async def answer(convention_id: str, request: Request) -> Response:
    """Answer on a party's behalf, or the office's own task (a delivery retried or dismissed)."""
    return await _action(
        request, convention_id, "/office/conventions/{convention_id}/answer", "answer"
    )


async def _task_view(request: Request, convention_id: str, task_id: str) -> TaskView:
    desk = _desk(request)
    try:
        status = await convention_status(desk.client, convention_id)
    except (ConventionNotFound, ConventionUnreadable) as error:
        raise NotFound(str(error)) from error
    task = next((t for t in status.open_tasks if t.id == task_id), None)
    if task is None:
        raise NotFound(f"no open task {task_id!r} in convention {convention_id!r}")
    return TaskView(task, await desk.partner.convention(convention_id), status)


def _officer_form(
    request: Request,
    session: OfficeSession,
    view: TaskView,
    values: dict[str, list[str]],
    errors: list[tuple[str, str]],
    status_code: int = 200,
) -> HTMLResponse:
    fields = form_for(view)
    return render(
        request,
        "office/task.html",
        session,
        status_code=status_code,
        view=view,
        task=view.task,
        convention=view.convention,
        fields=fields,
        values=values,
        errors=errors_by_field(errors, fields),
        requested=requested_money(view),
        cohort_rows=range(COHORT_ROWS),
    )


@router.get("/office/conventions/{convention_id}/tasks/{task_id}", response_class=HTMLResponse)
async def officer_task_form(convention_id: str, task_id: str, request: Request) -> Response:
    """The task's own form (the partners' one, field by field), for an answer on behalf."""
    session = await _signed_in(
        request, "GET", "/office/conventions/{convention_id}/tasks/{task_id}"
    )
    view = await _task_view(request, convention_id, task_id)
    return _officer_form(request, session, view, {}, [])


@router.post("/office/conventions/{convention_id}/tasks/{task_id}", response_class=HTMLResponse)
async def officer_task_answer(convention_id: str, task_id: str, request: Request) -> Response:
    """The answer entered by the officer for the party that owes the task."""
    session = await _signed_in(
        request, "POST", "/office/conventions/{convention_id}/tasks/{task_id}"
    )
    form = await request.form()
    values: dict[str, list[str]] = {}
    for key, value in form.multi_items():
        if isinstance(value, str):
            values.setdefault(key, []).append(value)
    _check_csrf(request, session, {"csrf": (values.get("csrf") or [""])[0]})
    view = await _task_view(request, convention_id, task_id)
    try:
        await _desk(request).answer_on_behalf(
            session,
            convention_id,
            task_id,
            parse_form(view, values)["answer"],
            client_address(request),
        )
    except InvalidInput as error:
        errors = [(e.field, e.reason) for e in error.errors]
        return _officer_form(request, session, view, values, errors, status_code=422)
    except Refused as error:
        return await _convention(
            request, session, convention_id, status_code=409, refusal=error.detail
        )
    return await _convention(request, session, convention_id, notice=N_("Done."))


# --- start from a file --------------------------------------------------------------------


@router.get("/office/start", response_class=HTMLResponse)
async def start_page(request: Request) -> Response:
    """Upload a convention file."""
    session = await _signed_in(request, "GET", "/office/start")
    return render(request, "office/start.html", session, errors=[], preview=None, document="")


@router.post("/office/start", response_class=HTMLResponse)
async def start(request: Request) -> Response:
    """Validate (every error by field), preview, then start on a second POST."""
    session = await _signed_in(request, "POST", "/office/start")
    form = await request.form()
    token = form.get("csrf")
    _check_csrf(request, session, {"csrf": token if isinstance(token, str) else ""})
    desk = _desk(request)
    upload = form.get("file")
    kept = form.get("document")
    if upload is not None and not isinstance(upload, str) and upload.filename:
        data, name = await upload.read(), upload.filename
    elif isinstance(kept, str) and kept:
        data, name = kept.encode("utf-8"), str(form.get("filename") or "upload.yaml")
    else:
        return render(
            request,
            "office/start.html",
            session,
            status_code=422,
            errors=[("file", N_("Choose a file."))],
            preview=None,
            document="",
        )
    try:
        convention = desk.read_upload(data, name)
    except InvalidInput as error:
        return render(
            request,
            "office/start.html",
            session,
            status_code=422,
            errors=[(e.field, e.reason) for e in error.errors],
            preview=None,
            document="",
        )
    if form.get("action") != "start":
        return render(
            request,
            "office/start.html",
            session,
            errors=[],
            preview=convention,
            document=data.decode("utf-8"),
            filename=name,
        )
    try:
        await desk.start(session, convention, client_address(request))
    except Refused as error:
        return render(
            request,
            "office/start.html",
            session,
            status_code=409,
            errors=[("", error.detail)],
            preview=None,
            document="",
        )
    return _see(f"/office/conventions/{convention.id}")


# --- auditors -----------------------------------------------------------------------------


@router.get("/office/audit/{convention_id}", response_class=HTMLResponse)
async def audit_page(convention_id: str, request: Request) -> Response:
    """Replay, verify, and the downloads."""
    session = await _signed_in(request, "GET", "/office/audit/{convention_id}")
    return render(
        request, "office/audit.html", session, convention_id=convention_id, replay=None, verify=None
    )


async def _history(request: Request, convention_id: str) -> Any:
    return await _desk(request).history(convention_id)


@router.post("/office/audit/{convention_id}/check", response_class=HTMLResponse)
async def audit_check(convention_id: str, request: Request) -> Response:
    """Replay every run against this code and verify the milestones (as audit.py does)."""
    session = await _signed_in(request, "POST", "/office/audit/{convention_id}/check")
    form = await _form(request)
    _check_csrf(request, session, form)
    desk = _desk(request)
    history = await _history(request, convention_id)

    async def one() -> Any:
        yield history

    converter = desk.client.data_converter
    replay = [r async for r in replay_conventions(one(), data_converter=converter)]
    verify = await verify_convention(desk.pool, convention_id, history, history.source, converter)
    await desk.log(
        session.user.email,
        "audit_check",
        "ok" if replay[0].ok and verify.ok else "failed",
        client_address(request),
        convention_id,
    )
    return render(
        request,
        "office/audit.html",
        session,
        convention_id=convention_id,
        replay=replay[0],
        verify=verify,
    )


@router.get("/office/audit/{convention_id}/timeline.{fmt}")
async def audit_timeline(convention_id: str, fmt: str, request: Request) -> Response:
    """The timeline as HTML, CSV or JSON."""
    session = await _signed_in(request, "GET", "/office/audit/{convention_id}/timeline.{fmt}")
    renderers = {
        "html": (render_html, "text/html; charset=utf-8"),
        "csv": (render_csv, "text/csv; charset=utf-8"),
        "json": (render_json, "application/json"),
    }
    if fmt not in renderers:
        raise NotFound(f"no format {fmt!r}")
    desk = _desk(request)
    timeline = await build_timeline(
        await _history(request, convention_id), desk.client.data_converter
    )
    renderer, media_type = renderers[fmt]
    await desk.log(
        session.user.email, f"download_timeline_{fmt}", "ok", client_address(request), convention_id
    )
    return Response(
        renderer(timeline),
        media_type=media_type,
        headers={
            "content-disposition": f'attachment; filename="{convention_id}-timeline.{fmt}"',
            "cache-control": "no-store",
        },
    )


@router.get("/office/audit/{convention_id}/export.json")
async def audit_export(convention_id: str, request: Request) -> Response:
    """Every run's history, as `audit.py export` writes them (JSON, one document)."""
    session = await _signed_in(request, "GET", "/office/audit/{convention_id}/export.json")
    history = await _history(request, convention_id)
    runs = [json.loads(history_file_bytes(run)) for run in history.runs]
    desk = _desk(request)
    await desk.log(
        session.user.email, "download_export", "ok", client_address(request), convention_id
    )
    return Response(
        json.dumps({"convention_id": convention_id, "runs": runs}),
        media_type="application/json",
        headers={
            "content-disposition": f'attachment; filename="{convention_id}.json"',
            "cache-control": "no-store",
        },
    )


# --- admins -------------------------------------------------------------------------------


@router.get("/office/access-log", response_class=HTMLResponse)
async def access_log(request: Request) -> Response:
    """Who did what, when, from where."""
    session = await _signed_in(request, "GET", "/office/access-log")
    lines = await _desk(request).access_log()
    return render(request, "office/access_log.html", session, lines=lines)
