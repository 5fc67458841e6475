"""The office desk's directory pages, continued (issue 23): an admin edits a person, rotates an
organisation's signing secret (shown once) and archives or restores it. The list, the
organisation's page and the first forms are web/office.py's; these reuse its dependencies and
its page of an organisation (which also lists the conventions it is in)."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response

from application.directory.channels import channel_key, rotate_secret
from application.directory.organisations import archive_organisation
from application.directory.people import NewPerson, change_person
from application.directory.views import acts_for, organisation_view
from application.errors import InvalidInput, NotFound
from schemas.errors import DetailCode, FieldError, coded_detail
from web.i18n import N_
from web.office import (
    CsrfDep,
    DeskDep,
    DirectoryAdmin,
    OfficeForm,
    SameSite,
    _check_csrf,
    _directory_change,
    _editor,
    _organisation,
)

router = APIRouter(include_in_schema=False)

OVERLAP_DAYS_MAX = 90
"""The longest a replaced secret may keep signing after a rotation."""


class EditPersonForm(OfficeForm):
    """A person's name, address, language and title, as the admin corrects them."""

    person_id: str = ""
    name: str = ""
    email: str = ""
    language: str = "fr"
    title: str = ""
    time_zone: str = ""


class RotateForm(OfficeForm):
    """How many days the previous secrets keep signing beside the new one."""

    overlap_days: str = "7"


class ArchiveForm(OfficeForm):
    """'1' archives the organisation, '0' restores it."""

    archived: str = "1"


@router.post("/office/directory/{org_id}/edit", response_class=HTMLResponse)
async def directory_edit_person(
    org_id: str,
    request: Request,
    desk: DeskDep,
    csrf: CsrfDep,
    _site: SameSite,
    session: DirectoryAdmin,
    form: Annotated[EditPersonForm, Form()],
) -> Response:
    """Correct a person acting for the organisation; a new address is unconfirmed until a
    mailed link is opened (and the sessions opened from the old one end): the admin's change."""
    _check_csrf(csrf, session, form)
    new = NewPerson(
        name=form.name,
        email=form.email or None,
        language=form.language,
        title=form.title.strip() or None,
        time_zone=form.time_zone,
    )

    async def change() -> object:
        if not await acts_for(desk.pool, org_id, form.person_id):
            raise NotFound(
                coded_detail(
                    DetailCode.NO_PERSON_ACTING,
                    f"no person {form.person_id!r} acts for {org_id!r}",
                    person=form.person_id,
                    organisation=org_id,
                )
            )
        return await change_person(desk.pool, _editor(session), form.person_id, new)

    return await _directory_change(
        request, desk, session, org_id, form, "edit", N_("Person changed."), change
    )


@router.post("/office/directory/{org_id}/archive", response_class=HTMLResponse)
async def directory_archive(
    org_id: str,
    request: Request,
    desk: DeskDep,
    csrf: CsrfDep,
    _site: SameSite,
    session: DirectoryAdmin,
    form: Annotated[ArchiveForm, Form()],
) -> Response:
    """Archive the organisation (no one acts for it any more) or restore it."""
    _check_csrf(csrf, session, form)
    archived = form.archived != "0"

    async def change() -> object:
        return await archive_organisation(desk.pool, _editor(session), org_id, archived=archived)

    done = N_("Organisation archived.") if archived else N_("Organisation restored.")
    return await _directory_change(request, desk, session, org_id, form, "archive", done, change)


def _overlap(text: str) -> timedelta:
    try:
        days = int(text.strip())
    except ValueError:
        days = -1
    if not 0 <= days <= OVERLAP_DAYS_MAX:
        reason = N_("a whole number of days, 0 to 90")
        raise InvalidInput("overlap_days", [FieldError("overlap_days", reason)])
    return timedelta(days=days)


@router.post("/office/directory/{org_id}/rotate", response_class=HTMLResponse)
async def directory_rotate_secret(
    org_id: str,
    request: Request,
    desk: DeskDep,
    csrf: CsrfDep,
    _site: SameSite,
    session: DirectoryAdmin,
    form: Annotated[RotateForm, Form()],
) -> Response:
    """A new signing secret, shown on this answer only (never stored in clear, never shown
    again); the previous ones keep signing for the overlap. The admin's change."""
    _check_csrf(csrf, session, form)
    await organisation_view(desk.pool, org_id, session.language)  # 404 before anything
    try:
        overlap = _overlap(form.overlap_days)
    except InvalidInput as error:
        return await _organisation(
            request,
            desk,
            session,
            org_id,
            status_code=422,
            failed="rotate",
            errors=[(e.field, e.reason) for e in error.errors],
            values=form.model_dump(exclude={"csrf"}),
        )
    new = await rotate_secret(
        desk.pool, _editor(session), channel_key(desk.partner.secret), org_id, overlap
    )
    response = await _organisation(
        request, desk, session, org_id, notice=N_("Secret rotated."), new_secret=new
    )
    response.headers["cache-control"] = "no-store"
    return response
