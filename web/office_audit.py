"""The auditors' files beside the audit page's (web/office.py): the audit report as a PDF,
the IATI activity file and the inspector's bundle as a zip, each as its command does it
(`audit.py report`, `audit.py iati`, `audit.py report --bundle`), each written to the
access log by the use case (application/office/audit.py)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Request
from fastapi.responses import Response

from application.office.audit import Download
from application.office.roles import Permission
from application.office.signin import OfficeSession
from web.office import DeskDep, require
from web.security import client_address

router = APIRouter(include_in_schema=False)

Auditor = Annotated[OfficeSession, require(Permission.AUDIT)]


def _attachment(download: Download) -> Response:
    return Response(
        download.body,
        media_type=download.media_type,
        headers={
            "cache-control": "no-store",
            "content-disposition": f'attachment; filename="{download.filename}"',
        },
    )


@router.get("/office/audit/{convention_id}/report.pdf")
async def audit_report(
    convention_id: str, request: Request, desk: DeskDep, session: Auditor
) -> Response:
    """The audit report: replay and verification verdicts, timeline, chain heads (PDF)."""
    return _attachment(await desk.audit.report(session, convention_id, client_address(request)))


@router.get("/office/audit/{convention_id}/iati.xml")
async def audit_iati(
    convention_id: str, request: Request, desk: DeskDep, session: Auditor
) -> Response:
    """The convention as an IATI 2.03 activity file, valid against the standard's XSDs."""
    return _attachment(await desk.audit.iati(session, convention_id, client_address(request)))


@router.get("/office/audit/{convention_id}/bundle.zip")
async def audit_bundle(
    convention_id: str, request: Request, desk: DeskDep, session: Auditor
) -> Response:
    """The inspector's bundle as a zip (`audit.py report --bundle`'s files, checkable with
    `audit.py check-bundle` once unzipped)."""
    return _attachment(await desk.audit.bundle(session, convention_id, client_address(request)))
