"""The contacts' pages: the link, the list of their tasks, one form per task, the code, the
receipt. GET only shows (mail scanners open every link); only a POST carrying the session's
CSRF token answers. Thin: the rules are the desk's (application/partner/)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from markupsafe import Markup

from application.directory.names import organisation_name
from application.documents import UploadTooLarge, attach, upload_limit
from application.errors import (
    ConventionNotAnswering,
    InvalidInput,
    LinkUnusable,
    NotFound,
    PacteError,
    Refused,
    TooManyAttempts,
    Unauthenticated,
)
from application.partner import (
    ContactSession,
    PartnerDesk,
    PendingCode,
    Receipt,
    TaskView,
    task_pages,
)
from application.sealing import sealed_original
from rendering.record import cancelled_because, task_title
from rendering.zones import DEFAULT_ZONE, moment
from schemas.channels import InboxEntry
from web.dependencies import SESSION_COOKIE, Desk, Session, Standing
from web.documents import form_with_files, task_documents
from web.forms import COHORT_ROWS, errors_by_field, form_for, parse_form, requested_money
from web.i18n import LANGUAGES, N_, language_or_default
from web.problems import status_and_title
from web.rendering import render
from web.security import Csrf, client_address

router = APIRouter(include_in_schema=False)

NOT_ANSWERING = N_(
    "The convention did not take your answer in time (it is not answering now). Send it "
    "again in a few minutes; if it was taken meanwhile, this page will say so."
)


def _csrf(request: Request) -> Csrf:
    csrf: Csrf = request.app.state.csrf
    return csrf


def error_page(request: Request, error: PacteError, status_code: int | None = None) -> Response:
    """A refusal as a page in the reader's language (the desk's detail kept as written)."""
    headers = {"retry-after": str(error.retry_after)} if error.retry_after is not None else None
    titles = {
        NotFound: N_("This page or link is not known."),
        LinkUnusable: N_("This link no longer opens the desk."),
        Unauthenticated: N_("Your session has ended: open the link you received by e-mail again."),
        TooManyAttempts: N_("Too many failed attempts: please wait and try again later."),
    }
    message = next((m for kind, m in titles.items() if isinstance(error, kind)), None)
    return render(
        request,
        "message.html",
        None,
        status_code=status_code or status_and_title(error)[0],
        headers=headers,
        message=message or N_("This request cannot be served."),
        detail=error.detail,
    )


async def _form(request: Request) -> dict[str, list[str]]:
    form = await request.form()
    fields: dict[str, list[str]] = {}
    for key, value in form.multi_items():
        if isinstance(value, str):
            fields.setdefault(key, []).append(value)
    return fields


def _csrf_ok(request: Request, session: ContactSession, form: dict[str, list[str]]) -> bool:
    token = (form.get("csrf") or [""])[0]
    return _csrf(request).valid(token, session.id_hash)


def _csrf_refused(request: Request, session: ContactSession) -> HTMLResponse:
    return render(
        request,
        "message.html",
        session.language,
        status_code=403,
        session=session,
        message=N_(
            "This form has expired or did not come from this page: reload it and try again."
        ),
        detail="",
    )


@router.get("/", response_class=HTMLResponse)
async def home(request: Request) -> Response:
    """Nothing to see without a link."""
    return render(
        request,
        "message.html",
        None,
        message=N_("Open the personal link you received by e-mail to answer your tasks."),
        detail="",
    )


@router.get("/t/{token}", response_class=HTMLResponse)
async def open_link(token: str, request: Request, desk: Desk) -> Response:
    """The e-mailed link: opens a session and shows the task. It never answers anything."""
    link = await desk.open_link(token, client_address(request))
    try:
        view = await desk.task_view(
            link.party, link.convention_id, link.task_id, link.contact_name, link.contact_email
        )
    except NotFound:
        raise LinkUnusable(N_("the task was given to another contact")) from None
    if view.task is None:
        # The task is closed: the link shows what was answered, and opens nothing more.
        return await _receipt_page(request, view, link.language, None)
    cookie, _session_opened = await desk.start_session(link)
    response = RedirectResponse(f"/desk/tasks/{link.convention_id}/{link.task_id}", status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        cookie,
        httponly=True,
        samesite="lax",
        secure=desk.settings.secure_cookies,
        path="/",
    )
    response.headers["cache-control"] = "no-store"
    return response


@router.get("/desk", response_class=HTMLResponse)
async def task_list(request: Request, desk: Desk, standing: Standing) -> Response:
    """The open tasks of the contact's party that they may answer, overdue first, a page at
    a time (`after`: the next page's cursor, from the page's own link). A cursor the list
    did not make: 422, naming `after`. The directory is read once: by the session's check,
    whose word the list and the party's name reuse."""
    session, authority = standing.session, standing.authority
    lang = language_or_default(request.query_params.get("lang") or session.language)
    party_name = task_pages.party_name(authority, lang)
    after = request.query_params.get("after")
    try:
        listed = await desk.open_tasks_page(
            session.party, session.contact_name, session.contact_email, after or None, authority
        )
    except InvalidInput as error:
        return render(
            request,
            "list.html",
            session.language,
            status_code=422,
            session=session,
            listed=None,
            rows=[],
            errors=[(e.field, e.reason) for e in error.errors],
            party_name=party_name,
        )
    return render(
        request,
        "list.html",
        session.language,
        session=session,
        listed=listed,
        rows=[
            TaskRow.of(entry, lang, getattr(request.state, "reader_zone", DEFAULT_ZONE))
            for entry in listed.entries
        ],
        errors=[],
        party_name=party_name,
    )


@dataclass(frozen=True)
class TaskRow:
    """One row of the list, said beforehand: the template places fifty of these without
    calling back into Python for each (a macro and a title call per row were half the
    page's time)."""

    href: str
    title: Markup
    as_recorded: bool
    convention_id: str
    due: Markup
    overdue: bool

    @classmethod
    def of(cls, entry: InboxEntry, language: str, zone: str) -> TaskRow:
        """The entry's row in `language` (its title as rendering/ says it), its due moment
        in the reader's `zone`."""
        title = task_title(entry, language, zone=zone)
        return cls(
            href=f"/desk/tasks/{entry.convention_id}/{entry.task_id}",
            title=Markup(title.__html__()),
            as_recorded=title.as_recorded,
            convention_id=entry.convention_id,
            due=Markup(moment(entry.due_at, language, zone).__html__()),
            overdue=entry.overdue,
        )


async def _party_name(
    request: Request, desk: PartnerDesk, session: ContactSession, view: TaskView | None
) -> str:
    """The session's party by its name in the page's language (the directory's, else the
    file's), never its id."""
    lang = language_or_default(request.query_params.get("lang") or session.language)
    written = None
    if view is not None:
        written = view.convention.names_in(lang).get(session.party)
    return await organisation_name(desk.pool, session.party, lang, written)


@router.get("/desk/tasks/{convention_id}/{task_id}", response_class=HTMLResponse)
async def task_page(
    convention_id: str, task_id: str, request: Request, desk: Desk, session: Session
) -> Response:
    """The task and its form, or its receipt once answered."""
    view = await desk.task_view(
        session.party, convention_id, task_id, session.contact_name, session.contact_email
    )
    party_name = await _party_name(request, desk, session, view)
    if view.task is None:
        return await _receipt_page(request, view, session.language, session, party_name)
    return await _task_form(request, session, view, {}, [], party_name=party_name)


async def _task_form(
    request: Request,
    session: ContactSession,
    view: TaskView,
    values: dict[str, list[str]],
    errors: list[tuple[str, str]],
    refusal: str | None = None,
    status_code: int = 200,
    party_name: str | None = None,
    headers: dict[str, str] | None = None,
) -> HTMLResponse:
    fields = form_for(view)
    documents = await task_documents(request.app.state.desk, view, session.party)
    return render(
        request,
        "task.html",
        session.language,
        status_code=status_code,
        headers=headers,
        session=session,
        view=view,
        task=view.task,
        convention=view.convention,
        fields=fields,
        values=values,
        errors=errors_by_field(errors, fields),
        refusal=refusal,
        document=view.draft_document(),
        requested=requested_money(view),
        cohort_rows=range(COHORT_ROWS),
        signatory=_signatory(view),
        party_name=party_name,
        **documents,
    )


def _signatory(view: TaskView) -> Any:
    task = view.task
    if task is None or task.signatory is None:
        return None
    return next((s for s in view.convention.signatories if s.id == task.signatory), None)


@router.post("/desk/tasks/{convention_id}/{task_id}", response_class=HTMLResponse)
async def answer_task(
    convention_id: str, task_id: str, request: Request, desk: Desk, session: Session
) -> Response:
    """The contact's answer, with the session's CSRF token; a commitment asks for a code."""
    form, files = await form_with_files(request, upload_limit())
    if not _csrf_ok(request, session, form):
        return _csrf_refused(request, session)
    view = await desk.task_view(
        session.party, convention_id, task_id, session.contact_name, session.contact_email
    )
    party_name = await _party_name(request, desk, session, view)
    if view.task is None and (
        view.closed_task is None or view.answered_by_contact(session.party, session.contact_name)
    ):
        # Answered, by this contact too when the form comes again: its receipt, nothing sent.
        return await _receipt_page(request, view, session.language, session, party_name)
    # A task closed while the contact was typing is shown with its refusal over what they typed.
    shown = view if view.task is not None else replace(view, task=view.closed_task)
    body = parse_form(shown, form)
    try:
        if files and view.task is not None:
            uploader = f"{session.contact_name or session.party} ({session.party})"
            body["answer"] = await attach(
                desk, convention_id, view.task, uploader, files, body["answer"]
            )
        outcome = await desk.answer_as_contact(session, convention_id, task_id, body)
    except InvalidInput as error:
        errors = [(e.field, e.reason) for e in error.errors]
        status = 413 if isinstance(error, UploadTooLarge) else 422
        return await _task_form(
            request, session, shown, form, errors, status_code=status, party_name=party_name
        )
    except Refused as error:
        return await _task_form(
            request,
            session,
            shown,
            form,
            [],
            refusal=error.detail,
            status_code=409,
            party_name=party_name,
        )
    except ConventionNotAnswering as error:
        # Its workflow did not take the answer in time (no worker runs it, or Temporal is
        # overloaded): the form again with what was typed, to send once more later.
        return await _task_form(
            request,
            session,
            shown,
            form,
            [],
            refusal=NOT_ANSWERING,
            status_code=503,
            party_name=party_name,
            headers={"retry-after": str(error.retry_after or 30)},
        )
    if isinstance(outcome, PendingCode):
        return _code_page(request, session, view, outcome.id, None, party_name=party_name)
    return _receipt_response(request, session, view, outcome, party_name)


def _code_page(
    request: Request,
    session: ContactSession,
    view: TaskView,
    code_id: str,
    error: str | None,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
    party_name: str | None = None,
) -> HTMLResponse:
    return render(
        request,
        "code.html",
        session.language,
        status_code=status_code,
        session=session,
        headers=headers,
        view=view,
        task=view.task,
        convention=view.convention,
        code_id=code_id,
        error=error,
        party_name=party_name,
    )


@router.post("/desk/codes/{code_id}", response_class=HTMLResponse)
async def confirm_code(code_id: str, request: Request, desk: Desk, session: Session) -> Response:
    """The code from the second mail: the waiting answer goes to the workflow."""
    form = await _form(request)
    if not _csrf_ok(request, session, form):
        return _csrf_refused(request, session)
    convention_id = (form.get("convention_id") or [""])[0]
    task_id = (form.get("task_id") or [""])[0]
    view = await desk.task_view(
        session.party, convention_id, task_id, session.contact_name, session.contact_email
    )
    code = (form.get("code") or [""])[0]
    party_name = await _party_name(request, desk, session, view)
    try:
        receipt = await desk.confirm_code(session, code_id, code, client_address(request))
    except InvalidInput as error:
        reason = error.errors[0].reason if error.errors else error.detail
        return _code_page(
            request, session, view, code_id, reason, status_code=422, party_name=party_name
        )
    except TooManyAttempts as error:
        return _code_page(
            request,
            session,
            view,
            code_id,
            error.detail,
            status_code=429,
            headers={"retry-after": str(error.retry_after or 60)},
            party_name=party_name,
        )
    except Refused as error:
        return await _task_form(
            request,
            session,
            view,
            {},
            [],
            refusal=error.detail,
            status_code=409,
            party_name=party_name,
        )
    return _receipt_response(request, session, view, receipt, party_name)


def _receipt_response(
    request: Request,
    session: ContactSession,
    view: TaskView,
    receipt: Receipt,
    party_name: str | None = None,
) -> HTMLResponse:
    return render(
        request,
        "receipt.html",
        session.language,
        session=session,
        convention=view.convention,
        receipt=receipt,
        answered_by=None,
        task_id=receipt.task_id,
        party_name=party_name,
    )


async def _receipt_page(
    request: Request,
    view: TaskView,
    language: str,
    session: ContactSession | None,
    party_name: str | None = None,
) -> HTMLResponse:
    receipt = view.receipt
    # The sealed original, once made, is linked for a contact signed in (the download is the
    # desk's, behind the session); a link opened again shows the receipt alone.
    sealed = (
        await sealed_original(request.app.state.desk, view.convention.id)
        if session is not None
        else None
    )
    return render(
        request,
        "receipt.html",
        language,
        session=session,
        convention=view.convention,
        receipt=receipt,
        answered_by=view.answered_by,
        closed=view.closed,
        cancelled_because=cancelled_because(view.closed_task, language),
        task_id=receipt.task_id if receipt else None,
        party_name=party_name,
        sealed=sealed,
    )


@router.post("/desk/language")
async def switch_language(request: Request, desk: Desk, session: Session) -> Response:
    """The contact reads the desk in another language; back to where they were."""
    form = await _form(request)
    if not _csrf_ok(request, session, form):
        return _csrf_refused(request, session)
    language = (form.get("language") or [""])[0]
    if language in LANGUAGES:
        await desk.set_language(session, language)
    back = (form.get("next") or ["/desk"])[0]
    if not back.startswith("/desk") or "//" in back:
        back = "/desk"
    return RedirectResponse(back, status_code=303)


@router.post("/desk/signout")
async def sign_out(request: Request, desk: Desk, session: Session) -> Response:
    """End the session."""
    form = await _form(request)
    if not _csrf_ok(request, session, form):
        return _csrf_refused(request, session)
    await desk.end_session(session)
    response = RedirectResponse("/", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response
