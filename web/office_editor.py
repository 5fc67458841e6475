"""The convention editor's pages (`/office/editor`): drafts written in forms, checked with
every error beside its field, previewed, started, exported and imported. Routes only: the
rules are application/office/editor.py's; the form is web/editor_form.py's.

Every submit of the editor's form saves what was typed (over the version it was typed on):
a refusal — an invalid field, another officer's save in between, a start Temporal refuses —
shows the form again with what was typed and the reason beside the field. No script is
needed: rows are added, removed and moved by submitting.
"""

from __future__ import annotations

import copy
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from application.directory.import_proposal import DirectoryChangesRefused
from application.directory.proposals import keep_refused_draft
from application.errors import Conflict, InvalidInput, NotFound, Refused
from application.office import editor
from application.office.roles import Permission
from application.office.signin import OfficeSession
from application.office.starting import AlreadyStarted
from schemas.errors import DetailCode, FieldError, coded_detail
from web.editor_form import STALE, apply, build, parse, place_errors, said, walk
from web.i18n import N_, language_or_default
from web.office import (
    CsrfDep,
    DeskDep,
    OfficeForm,
    _check_csrf,
    _editor,
    page,
    require,
)
from web.office_held import held_for
from web.security import client_address

router = APIRouter(include_in_schema=False)

Writer = Annotated[OfficeSession, require(Permission.START)]

HELD_SAVED = N_(
    "Your session had ended while you typed: what you typed then is saved in the draft."
)


class DraftsForm(OfficeForm):
    """A new draft: blank, a copy of a convention, or an imported file."""

    action: str = ""
    convention_id: str = ""


class ShareForm(OfficeForm):
    """Another officer to give the draft to."""

    email: str = ""


class StartDraftForm(OfficeForm):
    """The version the preview showed."""

    version: str = ""


def _see(url: str) -> RedirectResponse:
    response = RedirectResponse(url, status_code=303)
    response.headers["cache-control"] = "no-store"
    return response


def _language(request: Request, session: OfficeSession) -> str:
    return language_or_default(request.query_params.get("lang") or session.language)


def _version(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        return -1


# --- the drafts ---------------------------------------------------------------------------


async def _drafts_page(
    request: Request,
    desk: DeskDep,
    session: OfficeSession,
    status_code: int = 200,
    errors: list[str] | None = None,
) -> HTMLResponse:
    drafts = await editor.drafts_of(desk.partner, session)
    return page(
        request,
        "office/editor_drafts.html",
        session,
        status_code=status_code,
        drafts=drafts,
        errors=errors or [],
    )


@router.get("/office/editor", response_class=HTMLResponse)
async def drafts_page(request: Request, desk: DeskDep, session: Writer) -> Response:
    """The officer's drafts and those shared with them; a new one, a copy, an import."""
    return await _drafts_page(request, desk, session)


@router.post("/office/editor", response_class=HTMLResponse)
async def new_draft(
    request: Request,
    desk: DeskDep,
    csrf: CsrfDep,
    session: Writer,
    form: Annotated[DraftsForm, Form()],
    file: Annotated[UploadFile | None, File()] = None,
) -> Response:
    """Start a draft: blank, from an existing convention's file, or from a file imported
    (kept as it is, every error of it shown in the editor at once)."""
    _check_csrf(csrf, session, form)
    language = _language(request, session)
    try:
        if form.action == "copy":
            draft = await editor.copy_of(desk.partner, session, form.convention_id)
        elif form.action == "import":
            if file is None or not file.filename:
                return await _drafts_page(
                    request,
                    desk,
                    session,
                    422,
                    [said(FieldError("", N_("Choose a file.")), language)],
                )
            imported = await editor.import_file(
                desk.partner, session, await file.read(), file.filename
            )
            return await _full_page(request, desk, session, imported.draft, errors=imported.errors)
        else:
            draft = await editor.create(desk.partner, session)
    except (InvalidInput, NotFound) as error:
        said_errors = [said(e, language) for e in error.errors] or [error.detail]
        return await _drafts_page(request, desk, session, 422, said_errors)
    return _see(f"/office/editor/{draft.id}")


# --- one draft ----------------------------------------------------------------------------


def _editor_page(
    request: Request,
    desk: DeskDep,
    session: OfficeSession,
    draft: editor.Draft,
    *,
    document: dict[str, Any] | None = None,
    errors: list[FieldError] | None = None,
    version: int | None = None,
    notice: str | None = None,
    refusal: str | None = None,
    archived: dict[str, str] | None = None,
    choices: list[tuple[str, str]] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    """The editor with `document` (what was typed, else the draft's), its errors beside
    their fields, and the version a save will be made over."""
    language = _language(request, session)
    shown = draft.document if document is None else document
    if errors is None:
        _, errors = editor.check(shown)
    inputs = build(shown)
    top = place_errors(inputs, errors, language)
    for one in walk(inputs):
        if one.widget == "row" and one.path.startswith("parties."):
            party_id = next((c.value for c in one.children if c.name == "id"), "")
            if archived and party_id in archived:
                one.notes.append(N_("This organisation is archived in the directory."))
    parties = [p.get("id") for p in shown.get("parties") or [] if isinstance(p, dict)]
    signatories = [s.get("id") for s in shown.get("signatories") or [] if isinstance(s, dict)]
    return page(
        request,
        "office/editor.html",
        session,
        status_code=status_code,
        draft=draft,
        inputs=inputs,
        top_errors=top,
        error_count=len(errors),
        version=draft.version if version is None else version,
        notice=notice,
        refusal=refusal,
        choices=choices or [],
        party_ids=[p for p in parties if isinstance(p, str) and p],
        signatory_ids=[s for s in signatories if isinstance(s, str) and s],
    )


async def _full_page(
    request: Request,
    desk: DeskDep,
    session: OfficeSession,
    draft: editor.Draft,
    **context: Any,
) -> HTMLResponse:
    shown = context.get("document") or draft.document
    archived = await editor.archived_parties(desk.partner, shown)
    choices = await editor.directory_choices(desk.partner, _language(request, session))
    return _editor_page(
        request, desk, session, draft, archived=archived, choices=choices, **context
    )


@router.get("/office/editor/{draft_id}", response_class=HTMLResponse)
async def draft_page(draft_id: str, request: Request, desk: DeskDep, session: Writer) -> Response:
    """The draft in the editor, every error beside its field; after a sign-in that a timed-out
    session asked for, what was typed then is saved in the draft (over the version it was
    typed on: another officer's save since is said, and what was typed shown)."""
    draft = await editor.open_draft(desk.partner, session, draft_id)
    held = await held_for(request, session, f"/office/editor/{draft_id}")
    if held is None:
        return await _full_page(request, desk, session, draft)
    document = parse(held.fields)
    version = _version(held.first("version"))
    try:
        saved = await editor.save(desk.partner, session, draft.id, version, document)
    except Conflict:
        return await _full_page(
            request, desk, session, draft, document=document, version=version, refusal=STALE
        )
    except InvalidInput as error:
        return await _full_page(
            request, desk, session, draft, document=document, version=version, refusal=error.detail
        )
    return await _full_page(request, desk, session, saved, notice=HELD_SAVED)


@router.post("/office/editor/{draft_id}", response_class=HTMLResponse)
async def draft_save(
    draft_id: str, request: Request, desk: DeskDep, csrf: CsrfDep, session: Writer
) -> Response:
    """Save what was typed (over the version it was typed on), after a row's action (add,
    remove, move up, a party from the directory); a stale version is refused, nothing
    overwritten, what was typed shown again."""
    posted = await request.form()
    values: dict[str, list[str]] = {}
    for key, value in posted.multi_items():
        if isinstance(value, str):
            values.setdefault(key, []).append(value)
    first = {key: items[0] for key, items in values.items()}
    _check_csrf(csrf, session, OfficeForm(csrf=first.get("csrf", "")))
    draft = await editor.open_draft(desk.partner, session, draft_id)
    version = _version(first.get("version", ""))
    document = parse(values)
    action = first.get("action", "save")
    extra: Any = None
    if action == "add:stages":
        extra = {"stage": first.get("new_stage", "signature")}
    elif action == "directory":
        action = "add:parties"
        try:
            extra = await editor.party_from_directory(
                desk.partner, first.get("directory_party", "")
            )
        except NotFound as error:
            return await _full_page(
                request,
                desk,
                session,
                draft,
                document=document,
                version=version,
                refusal=error.detail,
                status_code=404,
            )
    typed = copy.deepcopy(document)
    apply(document, action, extra)
    try:
        saved = await editor.save(desk.partner, session, draft.id, version, document)
    except Conflict:
        return await _full_page(
            request,
            desk,
            session,
            draft,
            document=typed,
            version=version,
            refusal=STALE,
            status_code=409,
        )
    except InvalidInput as error:
        return await _full_page(
            request,
            desk,
            session,
            draft,
            document=typed,
            version=version,
            refusal=error.detail,
            status_code=413,
        )
    if action == "preview":
        return _see(f"/office/editor/{saved.id}/preview")
    _, errors = editor.check(saved.document)
    status = 422 if errors and action in ("save", "check") else 200
    return await _full_page(
        request,
        desk,
        session,
        saved,
        errors=errors,
        status_code=status,
        notice=N_("Draft saved.") if not errors else None,
    )


@router.post("/office/editor/{draft_id}/share", response_class=HTMLResponse)
async def draft_share(
    draft_id: str,
    request: Request,
    desk: DeskDep,
    csrf: CsrfDep,
    session: Writer,
    form: Annotated[ShareForm, Form()],
) -> Response:
    """Give the draft to another officer of the office."""
    _check_csrf(csrf, session, form)
    try:
        draft = await editor.share(desk.partner, session, draft_id, form.email)
    except InvalidInput as error:
        draft = await editor.open_draft(desk.partner, session, draft_id)
        return await _full_page(
            request, desk, session, draft, refusal=error.errors[0].reason, status_code=422
        )
    return await _full_page(request, desk, session, draft, notice=N_("Draft shared."))


@router.get("/office/editor/{draft_id}/export.{fmt}")
async def draft_export(draft_id: str, fmt: str, desk: DeskDep, session: Writer) -> Response:
    """The draft as a convention file (YAML or JSON), as `starter.py start` reads it."""
    if fmt not in ("yaml", "json"):
        raise NotFound(coded_detail(DetailCode.NO_EXPORT, f"no export {fmt!r}", format=fmt))
    draft = await editor.open_draft(desk.partner, session, draft_id)
    name = str(draft.document.get("id") or draft.id)
    media = "application/json" if fmt == "json" else "application/yaml"
    return Response(
        editor.export(draft.document, fmt),
        media_type=f"{media}; charset=utf-8",
        headers={
            "cache-control": "no-store",
            "content-disposition": f'attachment; filename="{_filename(name)}.{fmt}"',
        },
    )


def _filename(name: str) -> str:
    return "".join(c if c.isalnum() or c in "._-" else "_" for c in name)[:80] or "draft"


async def _preview_page(
    request: Request,
    desk: DeskDep,
    session: OfficeSession,
    draft: editor.Draft,
    *,
    refusal: str | None = None,
    already: AlreadyStarted | None = None,
    status_code: int = 200,
    proposal_id: str | None = None,
) -> Response:
    convention, errors = editor.check(draft.document)
    if convention is None:
        return await _full_page(request, desk, session, draft, errors=errors, status_code=422)
    return page(
        request,
        "office/editor_preview.html",
        session,
        status_code=status_code,
        draft=draft,
        convention=convention,
        plan=editor.plan(convention),
        refusal=refusal,
        proposal_id=proposal_id,
        already=already,
    )


@router.get("/office/editor/{draft_id}/preview", response_class=HTMLResponse)
async def draft_preview(
    draft_id: str, request: Request, desk: DeskDep, session: Writer
) -> Response:
    """The stage plan and who will be notified; the start button."""
    draft = await editor.open_draft(desk.partner, session, draft_id)
    return await _preview_page(request, desk, session, draft)


@router.post("/office/editor/{draft_id}/start", response_class=HTMLResponse)
async def draft_start(
    draft_id: str,
    request: Request,
    desk: DeskDep,
    csrf: CsrfDep,
    session: Writer,
    form: Annotated[StartDraftForm, Form()],
) -> Response:
    """Start the draft's convention as `starter.py start` does; refused, the draft stays."""
    _check_csrf(csrf, session, form)
    try:
        await editor.start(
            desk.partner,
            desk.task_queue,
            session,
            draft_id,
            _version(form.version),
            client_address(request),
        )
    except DirectoryChangesRefused as error:
        # The draft stays; a copy of its file is kept for the admin's confirmation page.
        draft = await editor.open_draft(desk.partner, session, draft_id)
        kept = await keep_refused_draft(
            desk.partner.pool, _editor(session), draft.id, draft.document
        )
        return await _preview_page(
            request, desk, session, draft, refusal=error.detail, status_code=409, proposal_id=kept
        )
    except AlreadyStarted as error:
        draft = await editor.open_draft(desk.partner, session, draft_id)
        return await _preview_page(request, desk, session, draft, already=error, status_code=409)
    except (Refused, Conflict) as error:
        draft = await editor.open_draft(desk.partner, session, draft_id)
        return await _preview_page(
            request, desk, session, draft, refusal=error.detail, status_code=409
        )
    except InvalidInput as error:
        draft = await editor.open_draft(desk.partner, session, draft_id)
        return await _full_page(request, desk, session, draft, errors=error.errors, status_code=422)
    draft = await editor.open_draft(desk.partner, session, draft_id)
    # Read your own write: the convention's page shows its first tasks, not "no open task".
    await desk.settle(str(draft.started_as))
    return _see(f"/office/conventions/{draft.started_as}")
