"""The office desk's document routes: the exact bytes of any convention's document for those
who may read the portfolio. (The office uploads a version of the text with the drafting
task's own form: web/office.py reads its files with web/documents.py.)"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response

from application.documents import office_download
from web.documents import document_response
from web.office import DeskDep, Reader

router = APIRouter(include_in_schema=False)

OFFICE_DOCUMENTS = "/office/conventions/{convention_id}/documents"


@router.get("/office/conventions/{convention_id}/documents/{sha256}")
async def office_document(
    convention_id: str, sha256: str, desk: DeskDep, _session: Reader
) -> Response:
    """A document the convention holds: the exact bytes, as an attachment."""
    return document_response(await office_download(desk.partner, convention_id, sha256))
