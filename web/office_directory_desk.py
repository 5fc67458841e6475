"""The office desk's directory pages, kept by admins and by officers for the parties of their
conventions (issue 23): an organisation's API keys (created, the secret shown once; revoked)
and its names, kind, country and parent; and the admin's confirmation page for a file's
directory changes. Who may keep which organisation is application/directory/keepers.py's
one rule; each route checks the role first (tests/test_office_roles.py), then the form's
token, then that rule."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response

from application.directory.keys import create_organisation_key, revoke_organisation_key
from application.directory.organisation_edits import OrganisationEdit, change_organisation
from application.directory.proposals import accept_proposal, proposal_view
from application.directory.views import organisation_view
from application.errors import InvalidInput, Refused
from application.office.roles import Permission, may
from application.office.signin import OfficeSession
from web.i18n import N_
from web.office import (
    CsrfDep,
    DeskDep,
    DirectoryAdmin,
    DirectoryKeeper,
    DirectoryReader,
    OfficeForm,
    SameSite,
    _check_csrf,
    _directory_change,
    _editor,
    _organisation,
    page,
)

router = APIRouter(include_in_schema=False)


class KeyForm(OfficeForm):
    """A new API key's name (what system of the partner will hold it)."""

    name: str = ""


class RevokeKeyForm(OfficeForm):
    """The key to revoke."""

    key_id: str = ""


class OrganisationForm(OfficeForm):
    """An organisation's names as written, kind, country and parent (blank: none)."""

    name_fr: str = ""
    name_ar: str = ""
    name_en: str = ""
    kind: str = ""
    country: str = ""
    parent_id: str = ""


@router.post("/office/directory/{org_id}/keys", response_class=HTMLResponse)
async def directory_create_key(
    org_id: str,
    request: Request,
    desk: DeskDep,
    csrf: CsrfDep,
    _site: SameSite,
    session: DirectoryKeeper,
    form: Annotated[KeyForm, Form()],
) -> Response:
    """A new API key for the organisation, its secret shown on this answer only (stored by
    its hash, never shown again): the keeper's change."""
    _check_csrf(csrf, session, form)
    await organisation_view(desk.pool, org_id, session.language)  # 404 before anything
    try:
        secret, key = await create_organisation_key(desk.pool, _editor(session), org_id, form.name)
    except InvalidInput as error:
        return await _organisation(
            request,
            desk,
            session,
            org_id,
            status_code=422,
            failed="key",
            errors=[(e.field, e.reason) for e in error.errors],
            values=form.model_dump(exclude={"csrf"}),
        )
    response = await _organisation(
        request, desk, session, org_id, notice=N_("API key created."), new_key=(key, secret)
    )
    response.headers["cache-control"] = "no-store"
    return response


@router.post("/office/directory/{org_id}/keys/revoke", response_class=HTMLResponse)
async def directory_revoke_key(
    org_id: str,
    request: Request,
    desk: DeskDep,
    csrf: CsrfDep,
    _site: SameSite,
    session: DirectoryKeeper,
    form: Annotated[RevokeKeyForm, Form()],
) -> Response:
    """The key stops working at once: the keeper's change."""
    _check_csrf(csrf, session, form)

    async def change() -> object:
        return await revoke_organisation_key(desk.pool, _editor(session), org_id, form.key_id)

    return await _directory_change(
        request, desk, session, org_id, form, "revoke_key", N_("API key revoked."), change
    )


@router.post("/office/directory/{org_id}/change", response_class=HTMLResponse)
async def directory_change_organisation(
    org_id: str,
    request: Request,
    desk: DeskDep,
    csrf: CsrfDep,
    _site: SameSite,
    session: DirectoryKeeper,
    form: Annotated[OrganisationForm, Form()],
) -> Response:
    """Correct the organisation's names, kind, country or parent: the keeper's change."""
    _check_csrf(csrf, session, form)
    edit = OrganisationEdit(**form.model_dump(exclude={"csrf"}))

    async def change() -> object:
        return await change_organisation(desk.pool, _editor(session), org_id, edit)

    return await _directory_change(
        request, desk, session, org_id, form, "org", N_("Organisation changed."), change
    )


def _proposal_page(
    request: Request,
    session: OfficeSession,
    shown: object,
    *,
    status_code: int = 200,
    notice: str | None = None,
    refusal: str | None = None,
) -> HTMLResponse:
    return page(
        request,
        "office/directory_proposal.html",
        session,
        status_code=status_code,
        proposal=shown,
        accept=may(session.role, Permission.MANAGE_DIRECTORY),
        start=may(session.role, Permission.START),
        notice=notice,
        refusal=refusal,
    )


@router.get("/office/directory/proposals/{proposal_id}", response_class=HTMLResponse)
async def directory_proposal(
    proposal_id: str, request: Request, desk: DeskDep, session: DirectoryReader
) -> Response:
    """A refused file's directory changes, as the directory stands now; an admin's button
    to accept them, an officer's to start the file once nothing differs."""
    return _proposal_page(request, session, await proposal_view(desk.pool, proposal_id))


@router.post("/office/directory/proposals/{proposal_id}/accept", response_class=HTMLResponse)
async def directory_accept_proposal(
    proposal_id: str,
    request: Request,
    desk: DeskDep,
    csrf: CsrfDep,
    _site: SameSite,
    session: DirectoryAdmin,
    form: Annotated[OfficeForm, Form()],
) -> Response:
    """Accept the file's differences: each one the admin's directory change."""
    _check_csrf(csrf, session, form)
    try:
        await accept_proposal(desk.pool, _editor(session), proposal_id)
    except Refused as error:
        shown = await proposal_view(desk.pool, proposal_id)
        return _proposal_page(request, session, shown, status_code=409, refusal=error.detail)
    shown = await proposal_view(desk.pool, proposal_id)
    return _proposal_page(request, session, shown, notice=N_("Directory changes accepted."))
