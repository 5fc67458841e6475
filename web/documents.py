"""Documents on the desks: a form's files read beside its fields, a stored document served as
the exact bytes (an attachment, never rendered by the browser as a page), and the contacts'
download route. The rules are the use cases' (application/documents.py).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.datastructures import UploadFile

from application.documents import (
    Download,
    Upload,
    UploadTooLarge,
    current_text,
    party_download,
    review_context,
    stored_hashes,
)
from application.partner import TaskView
from application.partner.context import PartnerContext
from schemas.tasks import TaskKind
from web.dependencies import Desk, Session
from web.problems import register

router = APIRouter(include_in_schema=False)

register(UploadTooLarge, 413, "Document too large")

DOWNLOAD_CSP = "default-src 'none'; sandbox; frame-ancestors 'none'"
"""A stored document opened in a tab runs nothing and can reach nothing."""


async def form_with_files(
    request: Request, read_limit: int
) -> tuple[dict[str, list[str]], list[Upload]]:
    """A posted form's text fields, and its files (an input named `<field>.file`, e.g.
    `document.file`, `attachments.file`); an input left empty is no file. Each file is read up
    to `read_limit` + 1 bytes: past the bound, the store refuses it by its size."""
    form = await request.form()
    values: dict[str, list[str]] = {}
    files: list[Upload] = []
    for key, value in form.multi_items():
        if isinstance(value, str):
            values.setdefault(key, []).append(value)
        elif isinstance(value, UploadFile):
            content = await value.read(read_limit + 1)
            if not content and not value.filename:
                continue  # the browser sends an empty part for an input left empty
            files.append(Upload(content, value.filename, key.removesuffix(".file")))
    return values, files


def document_response(download: Download) -> Response:
    """The exact bytes, with their type, size and hash, as an attachment under their name."""
    row = download.row
    ascii_name = row.file_name.encode("ascii", "replace").decode().replace('"', "_")
    ascii_name = ascii_name.replace("?", "_").replace("\\", "_")
    headers = {
        "content-disposition": (
            f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(row.file_name)}"
        ),
        "cache-control": "private, no-store",
        "x-content-sha256": row.sha256,
        "content-security-policy": DOWNLOAD_CSP,
    }
    return Response(download.content, media_type=row.media_type, headers=headers)


def download_href(prefix: str, convention_id: str, sha256: str) -> str:
    """A desk's link to a stored document: `{prefix}/{convention}/{sha256}`, or the prefix's
    `{convention}` placeholder filled (`/office/conventions/{convention}/documents`)."""
    convention = quote(convention_id, safe="")
    if "{convention}" in prefix:
        return f"{prefix.replace('{convention}', convention)}/{sha256}"
    return f"{prefix}/{convention}/{sha256}"


@router.get("/desk/documents/{convention_id}/{sha256}")
async def contact_download(
    convention_id: str, sha256: str, desk: Desk, session: Session
) -> Response:
    """A document of a convention the contact's party is a party to: the exact bytes."""
    return document_response(await party_download(desk, session.party, convention_id, sha256))


def document_links(
    prefix: str, convention_id: str, held: set[str]
) -> Any:  # a Jinja helper: (uri, sha256) -> href or None
    """The template's helper: a document's desk link when Pacte holds its bytes, a web address
    as it is, None (shown as text) for an address that does not open in a browser."""

    def link(uri: str | None, sha256: str | None = None) -> str | None:
        if sha256 and sha256 in held:
            return download_href(prefix, convention_id, sha256)
        if uri and uri.startswith(("https://", "http://")):
            return uri
        return None

    return link


async def task_documents(
    ctx: PartnerContext, view: TaskView, party: str | None, prefix: str = "/desk/documents"
) -> dict[str, Any]:
    """What a task page shows of the convention's documents: a link helper (`doc_link`), the
    drafting rounds and what changed (`review`, on a review task and on the office's revision
    task), the text to sign (`text_to_sign`, on a signature task)."""
    task = view.task or view.closed_task
    convention_id = view.convention.id
    held = await stored_hashes(ctx, convention_id)
    context: dict[str, Any] = {
        "doc_link": document_links(prefix, convention_id, held),
        "review": None,
        "text_to_sign": None,
    }
    if task is None:
        return context
    if task.kind in (TaskKind.REVIEW_DRAFT, TaskKind.REVISE_DRAFT):
        context["review"] = await review_context(ctx, convention_id, party)
    elif task.kind is TaskKind.SIGN:
        context["text_to_sign"] = await current_text(ctx, convention_id)
    return context
