"""The office desk's pages: sign-in with a second factor, the portfolio, a convention's page
and the officers' actions, starting a convention from a file, the auditors' checks and
downloads, the access log. Routes only: the rules are the use cases' (application/office/).

Each route says what it needs as FastAPI dependencies: the desk (`DeskDep`), the office
session (`SessionDep`, any step of the sign-in) or a permission (`require(Permission.ACT)`,
which checks the session on the server before anything else is read);
tests/test_office_roles.py reads the permissions from these dependencies and walks the
whole matrix. Every form is a typed model; every form carries the session's CSRF token, and
the sign-in form (before any session) one bound to a cookie of its own, with an Origin check.
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date
from typing import Annotated, Any
from urllib.parse import quote, urlsplit

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel

from application.directory.editors import Editor, EditorRole
from application.directory.import_proposal import DirectoryChangesRefused
from application.directory.keepers import may_keep
from application.directory.keys import organisation_keys
from application.directory.names import parties_said_in
from application.directory.people import (
    NewPerson,
    add_person,
    confirm_address_by_hand,
    grant_capacity,
    remove_person,
    revoke_capacity,
)
from application.directory.proposals import difference_views, keep_refused_file
from application.directory.views import (
    CAPACITY_LABELS,
    LIST_MAX,
    acts_for,
    bounded_search,
    organisation_rows,
    organisation_view,
)
from application.documents import UploadTooLarge, attach, documents_of, upload_limit
from application.errors import (
    BadRequest,
    Forbidden,
    InvalidInput,
    NotFound,
    PacteError,
    Refused,
    Unauthenticated,
)
from application.office.audit import Download
from application.office.desk import OfficeDesk
from application.office.exports import csv_of_dicts
from application.office.overview import SETTLE_AFTER_ACTION
from application.office.portfolio import PORTFOLIO_TABLES, portfolio_json, table_csv
from application.office.roles import Permission, Role, authorize, may
from application.office.signin import SESSION_COOKIE, OfficeSession
from application.office.starting import AlreadyStarted
from application.partner import TaskView
from application.sealing import sealing_state
from infra.portal_settings import token_hash
from rendering.record import PartyNames, task_title
from schemas.convention import PartyKind
from schemas.convention_file import parse_document
from schemas.errors import DetailCode, FieldError, InputError, Reason, coded_detail
from web.charts import ChartCache, bar_chart
from web.documents import form_with_files, task_documents
from web.forms import (
    COHORT_ROWS,
    DECISIONS,
    errors_by_field,
    form_for,
    parse_form,
    requested_money,
)
from web.i18n import N_, direction, gettext, language_or_default
from web.navigation import get_view, safe_next, signin_url, wants_a_page
from web.office_held import held_for, hold_and_sign_in, posts_a_form
from web.problems import status_and_title
from web.rendering import render
from web.security import Csrf, client_address

router = APIRouter(include_in_schema=False)

SIGNIN_COOKIE = "pacte_office_signin"
"""A random value set with the sign-in page; its form's CSRF token is bound to it, so a page
elsewhere cannot sign a browser in (login CSRF): it has neither the cookie's value nor, with
SameSite=Strict, the cookie on its cross-site POST."""

HOME = {
    Role.OFFICER: "/office",
    Role.AUDITOR: "/office",
    Role.ADMIN: "/office/access-log",
}
"""Where each role lands after sign-in (unless it was on its way to a page): officers and
auditors on the portfolio (its menu leads to the conventions list, the office's tasks and,
from each convention, its audit page), the admin on the access log, the one page of theirs
that is not the directory."""


# --- dependencies ------------------------------------------------------------------------


def _no_person(person_id: str, org_id: str) -> str:
    return coded_detail(
        DetailCode.NO_PERSON_ACTING,
        f"no person {person_id!r} acts for {org_id!r}",
        person=person_id,
        organisation=org_id,
    )


def get_desk(request: Request) -> OfficeDesk:
    """The office desk the app was built with."""
    desk: OfficeDesk = request.app.state.office
    return desk


def get_csrf(request: Request) -> Csrf:
    """The office's CSRF signer (not the partners')."""
    csrf: Csrf = request.app.state.office_csrf
    return csrf


DeskDep = Annotated[OfficeDesk, Depends(get_desk)]
CsrfDep = Annotated[Csrf, Depends(get_csrf)]


async def current_session(request: Request, desk: DeskDep) -> OfficeSession:
    """The live session of the office cookie, whatever step its sign-in is at; the zone its
    account reads dates in is kept for the page's rendering (web.rendering.render)."""
    session = await desk.signin.session(request.cookies.get(SESSION_COOKIE))
    request.state.reader_zone = session.time_zone
    return session


SessionDep = Annotated[OfficeSession, Depends(current_session)]


@dataclass(frozen=True)
class Require:
    """A route's one permission, as a dependency: the signed-in session if its role has it;
    Unauthenticated before the second factor, Forbidden for another role."""

    permission: Permission

    async def __call__(self, session: SessionDep) -> OfficeSession:
        authorize(session, self.permission)
        return session


def require(permission: Permission) -> Any:
    """`Depends` on a signed-in session whose role has `permission`."""
    return Depends(Require(permission))


Reader = Annotated[OfficeSession, require(Permission.READ_PORTFOLIO)]
Officer = Annotated[OfficeSession, require(Permission.ACT)]
Starter = Annotated[OfficeSession, require(Permission.START)]
Auditor = Annotated[OfficeSession, require(Permission.AUDIT)]
Admin = Annotated[OfficeSession, require(Permission.READ_ACCESS_LOG)]
DirectoryReader = Annotated[OfficeSession, require(Permission.READ_DIRECTORY)]
DirectoryAdmin = Annotated[OfficeSession, require(Permission.MANAGE_DIRECTORY)]
DirectoryKeeper = Annotated[OfficeSession, require(Permission.KEEP_DIRECTORY)]


def from_this_site(request: Request, desk: DeskDep) -> None:
    """Refuse a form posted from another site: a browser says where a POST comes from
    (`Origin`, `Sec-Fetch-Site`); a request without them (not a browser) passes on to the
    CSRF token. The desk's own origin is the request's host, or the public URL's (behind a
    proxy that rewrites Host). Under the desk's `Referrer-Policy: no-referrer` a browser
    sends `Origin: null` with its own forms: then `Sec-Fetch-Site` decides alone."""
    fetch_site = request.headers.get("sec-fetch-site")
    if fetch_site is not None and fetch_site not in ("same-origin", "none"):
        raise Forbidden(N_("this form was sent from another site"))
    origin = request.headers.get("origin")
    if origin is None or (origin == "null" and fetch_site is not None):
        return
    public = urlsplit(desk.partner.settings.public_url)
    sent = urlsplit(origin.lower()) if origin != "null" else None
    if sent is None or not sent.netloc:
        raise Forbidden(N_("this form was sent from another site"))
    own_host = sent.netloc == request.headers.get("host", "").lower()
    public_origin = (sent.scheme, sent.netloc) == (public.scheme, public.netloc.lower())
    if not (own_host or public_origin):
        raise Forbidden(N_("this form was sent from another site"))


SameSite = Annotated[None, Depends(from_this_site)]


# --- forms -------------------------------------------------------------------------------


class OfficeForm(BaseModel):
    """Every form of the desk carries its CSRF token."""

    csrf: str = ""


class SignInForm(OfficeForm):
    """E-mail and password, and the page to come back to."""

    email: str = ""
    password: str = ""
    next: str = ""


class CodeForm(OfficeForm):
    """A TOTP or recovery code, and the page to come back to."""

    code: str = ""
    next: str = ""


class LanguageForm(OfficeForm):
    """The desk's language, and the page to go back to."""

    language: str = ""
    next: str = "/office"


class PostponeForm(OfficeForm):
    """A task's new due date (YYYY-MM-DD), and why."""

    task_id: str = ""
    to: str = ""
    reason: str = ""


class ReassignForm(OfficeForm):
    """A task's new contact, and why."""

    task_id: str = ""
    contact: str = ""
    reason: str = ""


class TerminateForm(OfficeForm):
    """Why the convention ends."""

    reason: str = ""


class AnswerForm(OfficeForm):
    """An answer on a party's behalf: a decision and comments, or the whole answer as
    JSON/YAML in `answer`."""

    task_id: str = ""
    decision: str = ""
    comments: str = ""
    reason: str = ""
    answer: str = ""

    def fields(self) -> dict[str, Any]:
        """The answer's fields."""
        text = self.answer.strip()
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
            if getattr(self, name):
                fields[name] = getattr(self, name)
        return fields


ANSWER_FIELDS = ("task_id", "decision", "comments", "answer")
"""The convention page's answer form's fields, shown again after a refusal."""

HELD_ACTIONS = ("answer", "postpone", "reassign", "terminate")
"""The convention page's forms held across a timed-out session (web.office_held)."""

HELD_BACK = N_(
    "Your session had ended: what you typed is back in the form, not sent yet. Send it again."
)
"""Said on the page a form held across a timed-out session comes back to."""

HELD_FILES = N_("A file chosen before your session ended is not kept: choose it again.")


class StartForm(OfficeForm):
    """A convention file kept from the preview, and whether to start it now."""

    document: str = ""
    filename: str = ""
    action: str = ""


class PersonForm(OfficeForm):
    """A person added to an organisation, with a first capacity (so that they act for it)."""

    name: str = ""
    email: str = ""
    language: str = "fr"
    title: str = ""
    time_zone: str = ""
    capacity: str = "answer"


class GrantForm(OfficeForm):
    """A capacity given to a person for the organisation, with its dates (YYYY-MM-DD)."""

    person_id: str = ""
    capacity: str = ""
    valid_from: str = ""
    valid_until: str = ""


class RevokeForm(OfficeForm):
    """A capacity taken back (every capacity when none is named)."""

    person_id: str = ""
    capacity: str = ""


class ConfirmForm(OfficeForm):
    """An address confirmed by hand, and how it was."""

    person_id: str = ""
    reason: str = ""


class RemoveForm(OfficeForm):
    """A person who acts for no one any more, and why."""

    person_id: str = ""
    reason: str = ""


def _check_csrf(csrf: Csrf, session: OfficeSession, form: OfficeForm) -> None:
    if not csrf.valid(form.csrf, session.id_hash):
        raise PacteError(N_("this form has expired or did not come from this page: reload it"))


# --- pages -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Menu:
    """What the bar offers the signed-in reader: the pages their role may open."""

    portfolio: bool
    start: bool
    access_log: bool
    directory: bool
    account: bool
    accounts: bool


def _menu(session: OfficeSession | None) -> Menu | None:
    if session is None:
        return None
    role = session.role
    return Menu(
        portfolio=may(role, Permission.READ_PORTFOLIO),
        start=may(role, Permission.START),
        access_log=may(role, Permission.READ_ACCESS_LOG),
        directory=may(role, Permission.READ_DIRECTORY),
        account=may(role, Permission.OWN_ACCOUNT),
        accounts=may(role, Permission.MANAGE_ACCOUNTS),
    )


def page(
    request: Request,
    template: str,
    session: OfficeSession | None,
    status_code: int = 200,
    *,
    csrf: str | None = None,
    **context: Any,
) -> HTMLResponse:
    """An office page (web.rendering.render) with the office's session, menu and token."""
    if csrf is None and session is not None:
        csrf = get_csrf(request).token(session.id_hash)
    return render(
        request,
        template,
        session.language if session else None,
        status_code,
        csrf=csrf,
        office=session,
        menu=_menu(session),
        **context,
    )


_HTTP_TITLES = {404: N_("Not found"), 405: N_("Method not allowed")}


async def _reader(request: Request) -> OfficeSession | None:
    """The office session of the request's cookie, if it has a live one."""
    try:
        return await get_desk(request).signin.session(request.cookies.get(SESSION_COOKIE))
    except PacteError:
        return None


async def office_error(
    request: Request, error: PacteError, status_code: int | None = None
) -> Response:
    """A refusal on an office page, in the desk's layout and the reader's language (their
    menu when signed in, never a "sign in" link then); a browser that is not signed in is
    sent to sign in, and back here after (303)."""
    if isinstance(error, Unauthenticated) and wants_a_page(request):
        return _see(signin_url(request))
    if isinstance(error, Unauthenticated) and posts_a_form(request):
        # A session that timed out while the officer typed: what the form carried is held
        # for their account, and given back on the page once they have signed in again.
        return await hold_and_sign_in(request)
    headers = {"retry-after": str(error.retry_after)} if error.retry_after is not None else {}
    status, title = status_and_title(error)
    detail = error.detail
    if status_code is not None:
        # The framework's own refusals (no such page, no such method): their English detail
        # only repeats the title, which is said in the reader's language.
        status, title, detail = status_code, _HTTP_TITLES.get(status_code, title), ""
    session = await _reader(request)
    response = page(
        request,
        "office/message.html",
        session,
        status_code=status,
        message=title,
        detail=detail,
        home=HOME[session.user.role] if session is not None and session.signed_in else None,
    )
    response.headers.update(headers)
    return response


def _see(url: str) -> RedirectResponse:
    response = RedirectResponse(url, status_code=303)
    response.headers["cache-control"] = "no-store"
    return response


def _download(body: str | bytes, media_type: str, filename: str | None = None) -> Response:
    headers = {"cache-control": "no-store"}
    if filename is not None:
        headers["content-disposition"] = f'attachment; filename="{filename}"'
    return Response(body, media_type=media_type, headers=headers)


def _secure(desk: OfficeDesk) -> bool:
    return bool(desk.partner.settings.secure_cookies)


def _with_cookie(desk: OfficeDesk, response: Response, token: str) -> Response:
    response.set_cookie(
        SESSION_COOKIE,
        token,
        httponly=True,
        samesite="strict",
        secure=_secure(desk),
        path="/office",
    )
    return response


# --- sign-in ------------------------------------------------------------------------------


@router.get("/office/signin", response_class=HTMLResponse)
async def signin_page(request: Request, desk: DeskDep, csrf: CsrfDep) -> Response:
    """E-mail and password; the form's token is bound to a cookie set with it."""
    nonce = request.cookies.get(SIGNIN_COOKIE) or secrets.token_urlsafe(32)
    response = page(
        request,
        "office/signin.html",
        None,
        csrf=csrf.token(token_hash(nonce)),
        errors={},
        next=safe_next(request.query_params.get("next")),
    )
    response.set_cookie(
        SIGNIN_COOKIE, nonce, httponly=True, samesite="strict", secure=_secure(desk), path="/office"
    )
    return response


@router.post("/office/signin", response_class=HTMLResponse)
async def signin(
    request: Request,
    desk: DeskDep,
    csrf: CsrfDep,
    _site: SameSite,
    form: Annotated[SignInForm, Form()],
) -> Response:
    """Check the password; the second factor follows (every role owes one)."""
    nonce = request.cookies.get(SIGNIN_COOKIE)
    if not nonce or not csrf.valid(form.csrf, token_hash(nonce)):
        raise BadRequest(N_("this form has expired or did not come from this page: reload it"))
    token, session = await desk.signin.sign_in(form.email, form.password, client_address(request))
    back = safe_next(form.next)
    step = {"second_factor": "/office/second-factor", "enrol": "/office/enrol"}.get(session.step)
    if step is not None:
        target = step + (f"?next={quote(back, safe='/')}" if back else "")
    else:
        target = back or HOME[session.user.role]
    response = _with_cookie(desk, _see(target), token)
    response.delete_cookie(SIGNIN_COOKIE, path="/office")
    return response


@router.get("/office/second-factor", response_class=HTMLResponse)
async def second_factor_page(request: Request, session: SessionDep) -> Response:
    """The six-digit code of the authenticator (or a recovery code)."""
    back = safe_next(request.query_params.get("next"))
    return page(request, "office/second_factor.html", session, error=None, next=back)


@router.post("/office/second-factor", response_class=HTMLResponse)
async def second_factor(
    request: Request,
    desk: DeskDep,
    csrf: CsrfDep,
    session: SessionDep,
    form: Annotated[CodeForm, Form()],
) -> Response:
    """A code's time-step is accepted once."""
    _check_csrf(csrf, session, form)
    try:
        token = await desk.signin.second_factor(session, form.code, client_address(request))
    except InvalidInput:
        return page(
            request,
            "office/second_factor.html",
            session,
            status_code=401,
            error=N_("Wrong or already used code."),
            next=safe_next(form.next),
        )
    return _with_cookie(desk, _see(safe_next(form.next) or HOME[session.user.role]), token)


@router.get("/office/enrol", response_class=HTMLResponse)
async def enrol_page(request: Request, desk: DeskDep, session: SessionDep) -> Response:
    """The TOTP secret and its otpauth URI, as text (no script, no QR image)."""
    secret, uri = await desk.signin.enrolment(session)
    back = safe_next(request.query_params.get("next"))
    return page(
        request, "office/enrol.html", session, secret=secret, uri=uri, error=None, next=back
    )


@router.post("/office/enrol", response_class=HTMLResponse)
async def enrol(
    request: Request,
    desk: DeskDep,
    csrf: CsrfDep,
    session: SessionDep,
    form: Annotated[CodeForm, Form()],
) -> Response:
    """A first code proves the authenticator; the recovery codes are shown once."""
    _check_csrf(csrf, session, form)
    try:
        token, codes = await desk.signin.confirm_enrolment(
            session, form.code, client_address(request)
        )
    except InvalidInput:
        secret, uri = await desk.signin.enrolment(session)
        return page(
            request,
            "office/enrol.html",
            session,
            status_code=401,
            secret=secret,
            uri=uri,
            error=N_("Wrong or already used code."),
            next=safe_next(form.next),
        )
    signed_in = await desk.signin.session(token)
    home = safe_next(form.next) or HOME[session.user.role]
    shown = page(request, "office/recovery.html", signed_in, codes=codes, home=home)
    return _with_cookie(desk, shown, token)


@router.post("/office/signout")
async def signout(
    request: Request,
    desk: DeskDep,
    csrf: CsrfDep,
    _site: SameSite,
    session: SessionDep,
    form: Annotated[OfficeForm, Form()],
) -> Response:
    """End the session."""
    _check_csrf(csrf, session, form)
    await desk.signin.sign_out(session, client_address(request))
    response = _see("/office/signin")
    response.delete_cookie(SESSION_COOKIE, path="/office")
    return response


@router.post("/office/language")
async def language(
    request: Request,
    desk: DeskDep,
    csrf: CsrfDep,
    session: SessionDep,
    form: Annotated[LanguageForm, Form()],
) -> Response:
    """Read the desk in another language, back on the page being read (its GET view: after
    an action, the convention's page, never the action's POST URL)."""
    _check_csrf(csrf, session, form)
    await desk.signin.set_language(session, language_or_default(form.language or None))
    home = HOME[session.user.role] if session.signed_in else "/office/signin"
    return _see(get_view(request, form.next, home))


# --- the portfolio ------------------------------------------------------------------------


CHART_CSP = "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; sandbox"
"""A chart's own policy: its inline styles, nothing else (no script, no fetch, no frame)."""

CHARTS = ChartCache()
"""The portfolio's drawn charts, in this process (see ChartCache)."""


def _share(actual: Any, target: Any) -> float | None:
    """Actual as a percentage of target; None (no bar) without a positive target."""
    if target is None or actual is None or float(target) <= 0:
        return None
    return round(float(actual) / float(target) * 100, 1)


def _figure(value: Any) -> str:
    """A chart label's figure; an indicator whose target is null in its file has none."""
    return "—" if value is None else f"{value:,}"


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
        # Trainees, rates and centres share no unit: each is drawn as the share of its own
        # target reached, and its figures are in its label (and the table).
        labels = [
            f"{r['convention_id']} · {r['indicator']}"
            f" ({_figure(r['actual'])} / {_figure(r['target'])})"
            for r in rows
        ]
        return bar_chart(
            _("Indicators: share of each target reached (%)"),
            labels,
            {_("share of its target (%)"): [_share(r["actual"], r["target"]) for r in rows]},
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
async def portfolio_page(request: Request, desk: DeskDep, session: Reader) -> Response:
    """Every table of the portfolio, each with its chart and its CSV (the per-convention
    tables: their first PAGE_ROWS rows, and how many they have)."""
    shown = await desk.portfolio_page()
    return page(
        request,
        "office/portfolio.html",
        session,
        tables=shown.tables,
        totals=shown.totals,
        names=PORTFOLIO_TABLES,
        as_of=f"{shown.computed_at:%Y-%m-%d %H:%M:%S}",
    )


@router.get("/office/portfolio.json")
async def portfolio_download(desk: DeskDep, _session: Reader) -> Response:
    """The same figures as JSON."""
    return _download(portfolio_json(await desk.portfolio()), "application/json")


@router.get("/office/portfolio/{table}.csv")
async def portfolio_csv(table: str, request: Request, desk: DeskDep, _session: Reader) -> Response:
    """One table as CSV: RFC 4180 (`,`, no BOM) for programs; with `?lang=`, in that
    language's spreadsheet dialect (`;` and a BOM in French and Arabic)."""
    if table not in PORTFOLIO_TABLES:
        raise NotFound(coded_detail(DetailCode.NO_TABLE, f"no table {table!r}", table=table))
    rows = await desk.portfolio_table(table)
    lang = request.query_params.get("lang")
    text = csv_of_dicts(rows, language_or_default(lang)) if lang else table_csv(rows)
    return _download(text, "text/csv; charset=utf-8", f"{table}.csv")


@router.get("/office/charts/{table}.svg")
async def chart(table: str, request: Request, desk: DeskDep, session: Reader) -> Response:
    """One table's chart, drawn on the server: the rows its page shows."""
    if table not in PORTFOLIO_TABLES:
        raise NotFound(coded_detail(DetailCode.NO_TABLE, f"no table {table!r}", table=table))
    # The rows its page shows, from the page's own cached computation (a browser asks for
    # the charts just after the page), drawn once per content (CHARTS).
    rows = (await desk.portfolio_page(backfill=False)).tables[table]
    lang = language_or_default(request.query_params.get("lang") or session.language)
    svg = CHARTS.get(ChartCache.key(table, lang, rows), lambda: _chart(table, rows, lang))
    response = _download(svg, "image/svg+xml")
    # Opened on its own, the SVG is a document: matplotlib styles it inline, which the
    # pages' policy (style-src 'self') blocks (a black box). No script, ever.
    response.headers["content-security-policy"] = CHART_CSP
    return response


# --- a convention -------------------------------------------------------------------------


@router.get("/office/conventions/{convention_id}", response_class=HTMLResponse)
async def convention_page(
    convention_id: str, request: Request, desk: DeskDep, session: Reader
) -> Response:
    """Stage, open tasks and who owes them, links, deliveries, archive, timeline; the answer
    form filled again with what was typed when the session timed out (held, then signed in)."""
    for action in HELD_ACTIONS:
        held = await held_for(request, session, f"/office/conventions/{convention_id}/{action}")
        if held is None:
            continue
        if action == "answer":
            typed = {name: held.first(name) for name in ANSWER_FIELDS}
        else:
            typed = {f"{action}_{name}": held.first(name) for name in held.fields if name != "csrf"}
        return await _convention(
            request, desk, session, convention_id, notice=HELD_BACK, typed=typed
        )
    return await _convention(request, desk, session, convention_id)


async def _convention(
    request: Request,
    desk: OfficeDesk,
    session: OfficeSession,
    convention_id: str,
    *,
    notice: str | None = None,
    notice_values: dict[str, str] | None = None,
    refusal: str | None = None,
    errors: list[tuple[str, str]] | None = None,
    status_code: int = 200,
    settle: float = 0.0,
    typed: dict[str, str] | None = None,
) -> HTMLResponse:
    """The convention's page; `typed`: what the answer form shows again (a refusal, or a
    form held across a timed-out session)."""
    lang = language_or_default(request.query_params.get("lang") or session.language)
    overview = await desk.convention_page(session, convention_id, lang, settle=settle)
    return page(
        request,
        "office/convention.html",
        session,
        status_code=status_code,
        convention_id=convention_id,
        page=overview,
        can_audit=may(session.role, Permission.AUDIT),
        documents=await documents_of(desk.partner, convention_id),
        sealing=await sealing_state(desk.partner, convention_id),
        notice=notice,
        notice_values=notice_values or {},
        refusal=refusal,
        errors=errors or [],
        typed=typed or {},
        decisions=DECISIONS,
        # The record's ids said by the names the page shows its parties by.
        record_names=PartyNames.of(
            {party.id: party.name for party in overview.parties}, overview.names.people_names()
        ),
    )


async def _task_named(
    request: Request, desk: OfficeDesk, session: OfficeSession, convention_id: str, task_id: str
) -> str:
    """An open task's title in the reader's language, for the notice that says what was
    done to it (read before the action: an answered task is no longer open); its id when
    it is not open."""
    lang = language_or_default(request.query_params.get("lang") or session.language)
    try:
        view = await desk.actions.task_view(convention_id, task_id)
    except PacteError:
        return task_id
    if view.task is None:
        return task_id
    return await _said_title(desk, view, lang, session.time_zone)


async def _said_title(desk: OfficeDesk, view: TaskView, lang: str, zone: str) -> str:
    """The task's title in `lang`, the parties it names said by their names, a moment it
    states (a late task's due day) in the account's `zone`."""
    written = view.convention.names_in(lang)
    names = PartyNames.of(await parties_said_in(desk.pool, written, lang))
    return task_title(view.task, lang, names, zone).text


async def _after_action(
    request: Request,
    desk: OfficeDesk,
    session: OfficeSession,
    convention_id: str,
    action: Any,
    done: str = N_("Done."),
    done_values: dict[str, str] | None = None,
    typed: dict[str, str] | None = None,
) -> Response:
    """The convention's page after an action: done (saying what was done, once the workflow
    shows the state it produced), refused (409), or invalid (422) — the answer form then
    showing again what was `typed`."""
    try:
        await action
    except InvalidInput as error:
        return await _convention(
            request,
            desk,
            session,
            convention_id,
            status_code=422,
            errors=[(e.field, e.reason) for e in error.errors],
            typed=typed,
        )
    except Refused as error:
        return await _convention(
            request,
            desk,
            session,
            convention_id,
            status_code=409,
            refusal=error.detail,
            typed=typed,
        )
    return await _convention(
        request,
        desk,
        session,
        convention_id,
        notice=done,
        notice_values=done_values,
        settle=SETTLE_AFTER_ACTION,
    )


@router.post("/office/conventions/{convention_id}/postpone")
async def postpone(
    convention_id: str,
    request: Request,
    desk: DeskDep,
    csrf: CsrfDep,
    session: Officer,
    form: Annotated[PostponeForm, Form()],
) -> Response:
    """Move a task's due date later; the milestone names the signed-in officer."""
    _check_csrf(csrf, session, form)
    named = await _task_named(request, desk, session, convention_id, form.task_id)
    action = desk.actions.postpone(
        session, convention_id, form.task_id, form.to, form.reason, client_address(request)
    )
    done = N_("The deadline of “%(task)s” was moved to %(due)s.")
    values = {"task": named, "due": form.to}
    typed = _typed(form, "postpone")
    return await _after_action(request, desk, session, convention_id, action, done, values, typed)


@router.post("/office/conventions/{convention_id}/reassign")
async def reassign(
    convention_id: str,
    request: Request,
    desk: DeskDep,
    csrf: CsrfDep,
    session: Officer,
    form: Annotated[ReassignForm, Form()],
) -> Response:
    """Give a task to a person the directory says may act on it for its party (or, for a
    party the directory lacks, to another contact the file names)."""
    _check_csrf(csrf, session, form)
    named = await _task_named(request, desk, session, convention_id, form.task_id)
    values = {"task": named, "contact": form.contact}

    async def reassigned() -> None:
        # The notice names the person (the form sends the directory's id).
        values["contact"] = await desk.actions.reassign(
            session, convention_id, form.task_id, form.contact, form.reason, client_address(request)
        )

    done = N_("“%(task)s” was given to %(contact)s, who has been told.")
    typed = _typed(form, "reassign")
    return await _after_action(
        request, desk, session, convention_id, reassigned(), done, values, typed
    )


@router.post("/office/conventions/{convention_id}/terminate")
async def terminate(
    convention_id: str,
    request: Request,
    desk: DeskDep,
    csrf: CsrfDep,
    session: Officer,
    form: Annotated[TerminateForm, Form()],
) -> Response:
    """End the convention for a reason."""
    _check_csrf(csrf, session, form)
    action = desk.actions.terminate(session, convention_id, form.reason, client_address(request))
    done = N_("The convention was terminated: %(reason)s")
    values = {"reason": form.reason}
    typed = _typed(form, "terminate")
    return await _after_action(request, desk, session, convention_id, action, done, values, typed)


def _typed(form: OfficeForm, action: str) -> dict[str, str]:
    """What an officer's action form carried, keyed as the convention page shows it again
    (`<action>_<field>`: the page has four forms, some with the same field names)."""
    return {
        f"{action}_{name}": str(value)
        for name, value in form.model_dump().items()
        if name != "csrf"
    }


@router.post("/office/conventions/{convention_id}/answer")
async def answer(
    convention_id: str,
    request: Request,
    desk: DeskDep,
    csrf: CsrfDep,
    session: Officer,
    form: Annotated[AnswerForm, Form()],
) -> Response:
    """Answer on a party's behalf, or the office's own task (a delivery retried or dismissed)."""
    _check_csrf(csrf, session, form)

    async def answered() -> Any:
        return await desk.actions.answer_on_behalf(
            session, convention_id, form.task_id, form.fields(), client_address(request)
        )

    named = await _task_named(request, desk, session, convention_id, form.task_id)
    done = N_("The answer to “%(task)s” was sent.")
    values = {"task": named}
    # Refused (by the workflow, or a malformed field), the form shows what was typed again.
    typed = {name: str(getattr(form, name)) for name in ANSWER_FIELDS}
    return await _after_action(
        request, desk, session, convention_id, answered(), done, values, typed
    )


async def _officer_form(
    request: Request,
    session: OfficeSession,
    view: TaskView,
    values: dict[str, list[str]],
    errors: list[tuple[str, str]],
    status_code: int = 200,
    notices: list[str] | None = None,
) -> HTMLResponse:
    fields = form_for(view)
    documents = await task_documents(
        get_desk(request).partner, view, None, "/office/conventions/{convention}/documents"
    )
    return page(
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
        notices=notices or [],
        **documents,
    )


@router.get("/office/conventions/{convention_id}/tasks/{task_id}", response_class=HTMLResponse)
async def officer_task_form(
    convention_id: str, task_id: str, request: Request, desk: DeskDep, session: Officer
) -> Response:
    """The task's own form (the partners' one, field by field), for an answer on behalf;
    filled again with what was typed when the session timed out (held, then signed in)."""
    view = await desk.actions.task_view(convention_id, task_id)
    held = await held_for(request, session, f"/office/conventions/{convention_id}/tasks/{task_id}")
    if held is not None:
        notices = [HELD_BACK] + ([HELD_FILES] if held.files else [])
        return await _officer_form(request, session, view, held.fields, [], notices=notices)
    return await _officer_form(request, session, view, {}, [])


@router.post("/office/conventions/{convention_id}/tasks/{task_id}", response_class=HTMLResponse)
async def officer_task_answer(
    convention_id: str,
    task_id: str,
    request: Request,
    desk: DeskDep,
    csrf: CsrfDep,
    session: Officer,
) -> Response:
    """The answer entered by the officer for the party that owes the task: its fields are
    the task's own (web/forms.py), so the form is read as the partners' one is."""
    values, files = await form_with_files(request, upload_limit())
    _check_csrf(csrf, session, OfficeForm(csrf=(values.get("csrf") or [""])[0]))
    view = await desk.actions.task_view(convention_id, task_id)
    try:
        assert view.task is not None
        # A file sent with the answer (the office's new version of the text) is stored first;
        # the answer cites it by its hash, size and type, never typed by hand.
        fields = await attach(
            desk.partner,
            convention_id,
            view.task,
            f"{session.user.name} <{session.user.email}>",
            files,
            parse_form(view, values)["answer"],
        )
        await desk.actions.answer_on_behalf(
            session, convention_id, task_id, fields, client_address(request)
        )
    except InvalidInput as error:
        errors = [(e.field, e.reason) for e in error.errors]
        status = 413 if isinstance(error, UploadTooLarge) else 422
        return await _officer_form(request, session, view, values, errors, status_code=status)
    except Refused as error:
        # The workflow's own refusal (an agenda item forgotten): the form again, what was
        # typed kept, the reason beside the field it names.
        placed = placed_refusal(error.detail)
        return await _officer_form(request, session, view, values, [placed], status_code=409)
    lang = language_or_default(request.query_params.get("lang") or session.language)
    return await _convention(
        request,
        desk,
        session,
        convention_id,
        notice=N_("The answer to “%(task)s” was sent."),
        notice_values={"task": await _said_title(desk, view, lang, session.time_zone)},
        settle=SETTLE_AFTER_ACTION,
    )


def placed_refusal(detail: str) -> tuple[str, str]:
    """A refusal beside the field it names: (field, reason); a typed one (a Reason) keeps its
    code, so the form says it in the reader's language."""
    field, said, reason = detail.partition(": ")
    if not (said and " " not in field):
        return "", detail
    if isinstance(detail, Reason):
        return field, Reason(reason, detail.code, detail.params, detail.field)
    return field, reason


# --- start from a file --------------------------------------------------------------------


def _start_page(
    request: Request,
    session: OfficeSession,
    status_code: int = 200,
    errors: list[tuple[Any, ...]] | None = None,
    **context: Any,
) -> HTMLResponse:
    context.setdefault("preview", None)
    context.setdefault("document", "")
    context.setdefault("already", None)
    return page(
        request,
        "office/start.html",
        session,
        status_code=status_code,
        errors=errors or [],
        **context,
    )


@router.get("/office/start", response_class=HTMLResponse)
async def start_page(request: Request, session: Starter) -> Response:
    """Upload a convention file."""
    return _start_page(request, session)


@router.post("/office/start", response_class=HTMLResponse)
async def start(
    request: Request,
    desk: DeskDep,
    csrf: CsrfDep,
    session: Starter,
    form: Annotated[StartForm, Form()],
    file: Annotated[UploadFile | None, File()] = None,
) -> Response:
    """Validate (every error by field), preview, then start on a second POST."""
    _check_csrf(csrf, session, form)
    if file is not None and file.filename:
        data, name = await file.read(), file.filename
    elif form.document:
        data, name = form.document.encode("utf-8"), form.filename or "upload.yaml"
    else:
        return _start_page(request, session, 422, [("file", N_("Choose a file."))])
    try:
        convention = desk.read_upload(data, name)
    except InvalidInput as error:
        # Every error at once, each with its line and column in the file when known.
        located = [(e.field, e.reason, e.line, e.column) for e in error.errors]
        return _start_page(request, session, 422, located)
    if form.action != "start":
        return _start_page(
            request,
            session,
            preview=convention,
            document=data.decode("utf-8"),
            filename=name,
        )
    try:
        await desk.start(session, convention, client_address(request))
    except DirectoryChangesRefused as error:
        # The file is kept, every difference listed; an admin accepts them on the
        # confirmation page, then this same file starts (nothing typed is lost).
        document = data.decode("utf-8")
        kept = await keep_refused_file(desk.pool, _editor(session), convention, document, name)
        return _start_page(
            request,
            session,
            409,
            preview=convention,
            differences=difference_views(error.differences),
            document=document,
            filename=name,
            proposal_id=kept,
        )
    except AlreadyStarted as error:
        return _start_page(request, session, 409, already=error)
    except Refused as error:
        return _start_page(request, session, 409, [("", error.detail)])
    # Read your own write: the convention's page shows its first tasks, not "no open task".
    await desk.settle(convention.id)
    return _see(f"/office/conventions/{convention.id}")


# --- auditors -----------------------------------------------------------------------------


@router.get("/office/audit/{convention_id}", response_class=HTMLResponse)
async def audit_page(
    convention_id: str, request: Request, desk: DeskDep, session: Auditor
) -> Response:
    """Replay, verify, and the downloads (of a convention that ran here, else 404)."""
    await desk.audit.known(convention_id)
    return page(
        request, "office/audit.html", session, convention_id=convention_id, replay=None, verify=None
    )


@router.post("/office/audit/{convention_id}/check", response_class=HTMLResponse)
async def audit_check(
    convention_id: str,
    request: Request,
    desk: DeskDep,
    csrf: CsrfDep,
    session: Auditor,
    form: Annotated[OfficeForm, Form()],
) -> Response:
    """Replay every run against this code and verify the milestones (as audit.py does)."""
    _check_csrf(csrf, session, form)
    checked = await desk.audit.check(session, convention_id, client_address(request))
    return page(
        request,
        "office/audit.html",
        session,
        convention_id=convention_id,
        replay=checked.replay,
        verify=checked.verify,
    )


def _attachment(download: Download) -> Response:
    return _download(download.body, download.media_type, download.filename)


@router.get("/office/audit/{convention_id}/timeline.{fmt}")
async def audit_timeline(
    convention_id: str, fmt: str, request: Request, desk: DeskDep, session: Auditor
) -> Response:
    """The timeline as HTML, CSV, JSON or XLSX; the CSV with `?lang=` in that language's
    spreadsheet dialect."""
    lang = request.query_params.get("lang")
    return _attachment(
        await desk.audit.timeline(
            session, convention_id, fmt, client_address(request), lang and language_or_default(lang)
        )
    )


@router.get("/office/audit/{convention_id}/export.json")
async def audit_export(
    convention_id: str, request: Request, desk: DeskDep, session: Auditor
) -> Response:
    """Every run's history, as `audit.py export` writes them (JSON, one document)."""
    return _attachment(await desk.audit.export(session, convention_id, client_address(request)))


# --- admins -------------------------------------------------------------------------------


ACCESS_LOG_WORDS = {
    # What was done (the log stores a code; the admin reads it in their language).
    "sign_in": N_("Sign-in"),
    "sign_out": N_("Sign-out"),
    "second_factor": N_("Second factor"),
    "enrol_second_factor": N_("Second factor set up"),
    "change_password": N_("Password change"),
    "reset_password": N_("Password reset"),
    "send_password_reset": N_("Reset link mailed"),
    "start": N_("Convention started"),
    "postpone": N_("Deadline postponed"),
    "reassign": N_("Task reassigned"),
    "terminate": N_("Convention terminated"),
    "answer_on_behalf": N_("Answer on behalf of a party"),
    "audit_check": N_("Audit check"),
    "download_bundle": N_("Audit bundle downloaded"),
    "download_export": N_("Record export downloaded"),
    "download_iati": N_("IATI file downloaded"),
    "download_report": N_("Audit report downloaded"),
    "download_timeline_xlsx": N_("Timeline downloaded"),
    "download_timeline_html": N_("Timeline downloaded"),
    "download_timeline_csv": N_("Timeline downloaded"),
    "download_timeline_json": N_("Timeline downloaded"),
    # How it ended.
    "ok": N_("done"),
    "ok (totp)": N_("done (authenticator code)"),
    "ok (recovery_code)": N_("done (recovery code)"),
    "password_ok": N_("password accepted, second factor awaited"),
    "refused": N_("refused"),
    "rate_limited": N_("refused: too many attempts"),
    "invalid": N_("invalid"),
    "incomplete": N_("incomplete"),
    "not_sent": N_("not sent"),
    "failed": N_("failed"),
}
"""The access log's codes as a reader says them; a code not listed is shown as stored."""


@router.get("/office/access-log", response_class=HTMLResponse)
async def access_log(request: Request, desk: DeskDep, session: Admin) -> Response:
    """Who did what, when, from where."""
    return page(
        request,
        "office/access_log.html",
        session,
        lines=await desk.access_log(),
        words=ACCESS_LOG_WORDS,
    )


# --- the partner directory ----------------------------------------------------------------


def _editor(session: OfficeSession) -> Editor:
    """The signed-in account as the directory's change log names it."""
    role = EditorRole.ADMIN if session.role is Role.ADMIN else EditorRole.OFFICER
    return Editor(session.user.email, role)


def _date(value: str, field: str) -> date | None:
    text = value.strip()
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise InvalidInput(field, [FieldError(field, N_("a date, YYYY-MM-DD"))]) from None


@router.get("/office/directory", response_class=HTMLResponse)
async def directory_page(
    request: Request, desk: DeskDep, session: DirectoryReader, q: str = ""
) -> Response:
    """The organisations, all or those whose id or a name contains `q`."""
    rows = await organisation_rows(desk.pool, q, session.language)
    return page(
        request,
        "office/directory.html",
        session,
        rows=rows,
        q=bounded_search(q) or "",
        limit=LIST_MAX,
    )


async def _organisation(
    request: Request,
    desk: OfficeDesk,
    session: OfficeSession,
    org_id: str,
    *,
    status_code: int = 200,
    notice: str | None = None,
    refusal: str | None = None,
    failed: str = "",
    errors: list[tuple[str, str]] | None = None,
    values: dict[str, str] | None = None,
    **context: Any,
) -> HTMLResponse:
    shown = await organisation_view(desk.pool, org_id, session.language)
    keep = may(session.role, Permission.KEEP_DIRECTORY) and await may_keep(
        desk.pool, _editor(session), org_id
    )
    by_field: dict[str, list[str]] = {}
    for field, reason in errors or []:
        by_field.setdefault(field, []).append(reason)
    return page(
        request,
        "office/organisation.html",
        session,
        status_code=status_code,
        org=shown,
        manage=may(session.role, Permission.MANAGE_DIRECTORY),
        keep=keep,
        keys=await organisation_keys(desk.pool, org_id) if keep else [],
        kinds=[kind.value for kind in PartyKind],
        capacities=list(CAPACITY_LABELS.items()),
        notice=notice,
        refusal=refusal,
        failed=failed,
        errors=by_field,
        values=values or {},
        **context,
    )


@router.get("/office/directory/{org_id}", response_class=HTMLResponse)
async def organisation_page(
    org_id: str, request: Request, desk: DeskDep, session: DirectoryReader
) -> Response:
    """Names, parent, people and their capacities, the webhook endpoint (never a secret)."""
    return await _organisation(request, desk, session, org_id)


async def _directory_change(
    request: Request,
    desk: OfficeDesk,
    session: OfficeSession,
    org_id: str,
    form: OfficeForm,
    failed: str,
    done: str,
    change: Callable[[], Awaitable[object]],
) -> Response:
    """The organisation's page after a change: done (with what was done), refused (409),
    or invalid (422, each reason beside its field and what was typed kept)."""
    await organisation_view(desk.pool, org_id, session.language)  # 404 before anything
    values = form.model_dump(exclude={"csrf"})
    try:
        await change()
    except InvalidInput as error:
        return await _organisation(
            request,
            desk,
            session,
            org_id,
            status_code=422,
            failed=failed,
            errors=[(e.field, e.reason) for e in error.errors],
            values=values,
        )
    except (Refused, NotFound) as error:
        return await _organisation(
            request,
            desk,
            session,
            org_id,
            status_code=409,
            failed=failed,
            refusal=error.detail,
            values=values,
        )
    return await _organisation(request, desk, session, org_id, notice=done)


@router.post("/office/directory/{org_id}/people", response_class=HTMLResponse)
async def directory_add_person(
    org_id: str,
    request: Request,
    desk: DeskDep,
    csrf: CsrfDep,
    _site: SameSite,
    session: DirectoryAdmin,
    form: Annotated[PersonForm, Form()],
) -> Response:
    """Add a person acting for the organisation in one capacity: the admin's change."""
    _check_csrf(csrf, session, form)
    new = NewPerson(
        name=form.name,
        email=form.email or None,
        language=form.language,
        title=form.title.strip() or None,
        time_zone=form.time_zone,
    )

    async def change() -> object:
        return await add_person(
            desk.pool, _editor(session), org_id, new, [form.capacity], reason="office desk"
        )

    return await _directory_change(
        request, desk, session, org_id, form, "add", N_("Person added."), change
    )


@router.post("/office/directory/{org_id}/grant", response_class=HTMLResponse)
async def directory_grant(
    org_id: str,
    request: Request,
    desk: DeskDep,
    csrf: CsrfDep,
    _site: SameSite,
    session: DirectoryAdmin,
    form: Annotated[GrantForm, Form()],
) -> Response:
    """Give a person a capacity for the organisation, with its dates: the admin's change."""
    _check_csrf(csrf, session, form)

    async def change() -> object:
        return await grant_capacity(
            desk.pool,
            _editor(session),
            form.person_id,
            org_id,
            form.capacity,
            valid_from=_date(form.valid_from, "valid_from"),
            valid_until=_date(form.valid_until, "valid_until"),
        )

    return await _directory_change(
        request, desk, session, org_id, form, "grant", N_("Capacity granted."), change
    )


@router.post("/office/directory/{org_id}/revoke", response_class=HTMLResponse)
async def directory_revoke(
    org_id: str,
    request: Request,
    desk: DeskDep,
    csrf: CsrfDep,
    _site: SameSite,
    session: DirectoryAdmin,
    form: Annotated[RevokeForm, Form()],
) -> Response:
    """Take a capacity back at once: the admin's change."""
    _check_csrf(csrf, session, form)

    async def change() -> object:
        return await revoke_capacity(
            desk.pool, _editor(session), form.person_id, org_id, form.capacity or None
        )

    return await _directory_change(
        request, desk, session, org_id, form, "revoke", N_("Capacity revoked."), change
    )


@router.post("/office/directory/{org_id}/remove", response_class=HTMLResponse)
async def directory_remove(
    org_id: str,
    request: Request,
    desk: DeskDep,
    csrf: CsrfDep,
    _site: SameSite,
    session: DirectoryAdmin,
    form: Annotated[RemoveForm, Form()],
) -> Response:
    """The person acts for no one any more; their sessions and codes end: the admin's change."""
    _check_csrf(csrf, session, form)

    async def change() -> object:
        if not await acts_for(desk.pool, org_id, form.person_id):
            raise NotFound(_no_person(form.person_id, org_id))
        return await remove_person(
            desk.pool, _editor(session), form.person_id, form.reason.strip() or "office desk"
        )

    return await _directory_change(
        request, desk, session, org_id, form, "remove", N_("Person removed."), change
    )


@router.post("/office/directory/{org_id}/confirm", response_class=HTMLResponse)
async def directory_confirm(
    org_id: str,
    request: Request,
    desk: DeskDep,
    csrf: CsrfDep,
    _site: SameSite,
    session: DirectoryAdmin,
    form: Annotated[ConfirmForm, Form()],
) -> Response:
    """Confirm a person's address by hand, saying how: the admin's change."""
    _check_csrf(csrf, session, form)

    async def change() -> object:
        if not await acts_for(desk.pool, org_id, form.person_id):
            raise NotFound(_no_person(form.person_id, org_id))
        editor = _editor(session)
        return await confirm_address_by_hand(desk.pool, editor, form.person_id, form.reason)

    return await _directory_change(
        request, desk, session, org_id, form, "confirm", N_("Address confirmed."), change
    )
