"""The convention's responsible officer on the office desk (issue 23, item 5): the page that
says who it is and the form that changes it, for admins and for that officer. Routes only:
who may, and the change itself, are application/office/responsible_officer.py's; the role
is checked first (tests/test_office_roles.py), then the form's token, then the rule."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response

from application.errors import InvalidInput, Refused
from application.office.overview import SETTLE_AFTER_ACTION
from application.office.responsible_officer import (
    OfficerChange,
    change_responsible_officer,
    responsible_officer,
)
from application.office.roles import Permission, Role
from application.office.signin import OfficeSession
from web.i18n import N_
from web.office import (
    CsrfDep,
    DeskDep,
    OfficeForm,
    SameSite,
    _check_csrf,
    _convention,
    page,
    require,
)
from web.security import client_address

router = APIRouter(include_in_schema=False)

OfficerChanger = Annotated[OfficeSession, require(Permission.CHANGE_OFFICER)]


class OfficerForm(OfficeForm):
    """An office account's address, or a name and an address typed; why."""

    account: str = ""
    name: str = ""
    email: str = ""
    language: str = "fr"
    reason: str = ""


async def _page(
    request: Request,
    desk: DeskDep,
    session: OfficeSession,
    convention_id: str,
    *,
    status_code: int = 200,
    values: dict[str, str] | None = None,
    errors: list[tuple[str, str]] | None = None,
    refusal: str | None = None,
    notice: str | None = None,
) -> HTMLResponse:
    shown = await responsible_officer(desk.pool, desk.client, session, convention_id)
    by_field: dict[str, list[str]] = {}
    for field, reason in errors or []:
        by_field.setdefault(field, []).append(reason)
    return page(
        request,
        "office/officer.html",
        session,
        status_code=status_code,
        shown=shown,
        values=values or {},
        errors=by_field,
        refusal=refusal,
        notice=notice,
    )


@router.get("/office/conventions/{convention_id}/officer", response_class=HTMLResponse)
async def officer_page(
    convention_id: str, request: Request, desk: DeskDep, session: OfficerChanger
) -> Response:
    """Who the responsible officer is, and the form to change it (an admin, or them)."""
    return await _page(request, desk, session, convention_id)


@router.post("/office/conventions/{convention_id}/officer", response_class=HTMLResponse)
async def change_officer(
    convention_id: str,
    request: Request,
    desk: DeskDep,
    csrf: CsrfDep,
    _site: SameSite,
    session: OfficerChanger,
    form: Annotated[OfficerForm, Form()],
) -> Response:
    """Make another person the responsible officer; the page then shows them (read once
    the workflow has settled), or says what was wrong with what was typed, kept."""
    _check_csrf(csrf, session, form)
    values = form.model_dump(exclude={"csrf"})
    change = OfficerChange(**values)
    try:
        await change_responsible_officer(
            desk.pool, desk.client, session, convention_id, change, client_address(request)
        )
    except InvalidInput as error:
        errors = [(e.field, e.reason) for e in error.errors]
        return await _page(
            request, desk, session, convention_id, status_code=422, values=values, errors=errors
        )
    except Refused as error:
        return await _page(
            request,
            desk,
            session,
            convention_id,
            status_code=409,
            values=values,
            refusal=error.detail,
        )
    done = N_("The responsible officer was changed.")
    if session.role is Role.ADMIN:  # admins do not read the convention's page
        return await _page(request, desk, session, convention_id, notice=done)
    # Read your own write: the convention's page, once the workflow has settled, names the
    # new officer (the officer who handed it over may no longer change it, but reads it).
    return await _convention(
        request, desk, session, convention_id, notice=done, settle=SETTLE_AFTER_ACTION
    )
