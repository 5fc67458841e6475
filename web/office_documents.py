"""The office desk's document routes: the exact bytes of any convention's document for those
who may read the portfolio, and the officer's request to seal the signed original. (The office
uploads a version of the text with the drafting task's own form: web/office.py reads its files
with web/documents.py.)"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from application.documents import office_download
from application.errors import PacteError, Refused
from application.sealing import seal_signed_original
from web.documents import document_response
from web.i18n import N_
from web.office import CsrfDep, DeskDep, OfficeForm, Officer, Reader, page

router = APIRouter(include_in_schema=False)

OFFICE_DOCUMENTS = "/office/conventions/{convention_id}/documents"


@router.get("/office/conventions/{convention_id}/documents/{sha256}")
async def office_document(
    convention_id: str, sha256: str, desk: DeskDep, _session: Reader
) -> Response:
    """A document the convention holds: the exact bytes, as an attachment."""
    return document_response(await office_download(desk.partner, convention_id, sha256))


@router.post("/office/conventions/{convention_id}/seal")
async def seal(
    convention_id: str,
    request: Request,
    desk: DeskDep,
    csrf: CsrfDep,
    session: Officer,
    form: Annotated[OfficeForm, Form()],
) -> Response:
    """Assemble, seal and keep the signed original of a convention in force; a refusal says
    what to fix (the certificate, the timestamp authority, the text not held)."""
    if not csrf.valid(form.csrf, session.id_hash):
        raise PacteError("this form has expired or did not come from this page: reload it")
    try:
        await seal_signed_original(
            desk.partner, convention_id, f"{session.user.name} <{session.user.email}>"
        )
    except Refused as error:
        return page(
            request,
            "office/message.html",
            session,
            status_code=409,
            message=N_("The signed original was not sealed."),
            detail=error.detail,
        )
    response = RedirectResponse(
        f"/office/conventions/{quote(convention_id, safe='')}#documents", status_code=303
    )
    response.headers["cache-control"] = "no-store"
    return response
