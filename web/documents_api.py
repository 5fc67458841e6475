"""The partners' API for documents: upload a file for a convention of your party (then cite
it in an answer), and download the exact bytes of one of its documents. Another party's
convention, or a hash the convention does not hold, is not found."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, File, Form, UploadFile
from fastapi.responses import Response

from application.documents import (
    MEDIA_TYPES,
    Upload,
    is_party,
    party_download,
    party_upload,
    reference,
    unattached_upload,
    upload_limit,
)
from application.errors import NotFound
from application.sealing import sealed_original
from schemas.document_api import StoredDocument, UnattachedDocument
from schemas.errors import DetailCode, coded_detail
from schemas.values import DocumentRef
from web.api import problems
from web.dependencies import ApiPrincipal, Desk
from web.documents import document_response, download_href

router = APIRouter(prefix="/api/v1")

_BYTES = {"schema": {"type": "string", "format": "binary"}}


@router.post(
    "/conventions/{convention_id}/documents",
    operation_id="upload_document",
    tags=["documents"],
    summary="Upload a document for a convention of your party, to cite in an answer",
    status_code=201,
    response_model=StoredDocument,
    responses={
        201: {"description": "Stored (the same bytes again: the same document, one copy)"},
        **problems(401, 404, 413, 422, 429, 503),
    },
)
async def upload_document(
    convention_id: str,
    principal: ApiPrincipal,
    desk: Desk,
    file: Annotated[UploadFile, File(description="The document (PDF, DOCX, ODT, XLSX…).")],
    task_id: Annotated[
        str | None, Form(description="The task of your party it is for, if any.")
    ] = None,
) -> StoredDocument:
    """The file is checked (size, type sniffed from its content, no active content in a PDF)
    and kept once by its SHA-256; cite `reference` in the answer's document field."""
    content = await file.read(upload_limit() + 1)
    row = await party_upload(
        desk,
        principal.party,
        principal.name or principal.id,
        convention_id,
        task_id,
        Upload(content, file.filename, "file"),
    )
    return StoredDocument(
        convention_id=row.convention_id,
        task_id=row.task_id,
        sha256=row.sha256,
        size_bytes=row.size_bytes,
        media_type=row.media_type,
        file_name=row.file_name,
        uploaded_by=row.uploaded_by,
        uploaded_at=row.uploaded_at,
        reference=DocumentRef.model_validate(reference(row)),
        download_path=download_href(
            "/api/v1/conventions", row.convention_id, f"documents/{row.sha256}"
        ),
    )


@router.post(
    "/documents",
    operation_id="upload_unattached_document",
    tags=["documents"],
    summary="Upload a document before naming its convention, to cite in an answer",
    status_code=201,
    response_model=UnattachedDocument,
    responses={
        201: {"description": "Stored (the same bytes again: the same document, one copy)"},
        **problems(401, 413, 422, 429, 503),
    },
)
async def upload_unattached_document(
    principal: ApiPrincipal,
    desk: Desk,
    file: Annotated[UploadFile, File(description="The document (PDF, DOCX, ODT, XLSX…).")],
) -> UnattachedDocument:
    """The file is checked as any upload and held for your party; cite `reference` in an
    answer to a task of your party, and it becomes that convention's document. Another
    party citing it is answered 404."""
    content = await file.read(upload_limit() + 1)
    row = await unattached_upload(
        desk,
        principal.party,
        principal.name or principal.id,
        Upload(content, file.filename, "file"),
    )
    return UnattachedDocument(
        sha256=row.sha256,
        size_bytes=row.size_bytes,
        media_type=row.media_type,
        file_name=row.file_name,
        uploaded_by=row.uploaded_by,
        uploaded_at=row.uploaded_at,
        reference=DocumentRef.model_validate(reference(row)),
    )


_DOWNLOADED: dict[str, Any] = {media: _BYTES for media in MEDIA_TYPES}


@router.get(
    "/conventions/{convention_id}/documents/{sha256}",
    operation_id="download_document",
    tags=["documents"],
    summary="The exact bytes of a document of a convention of your party",
    response_class=Response,
    responses={
        200: {
            "description": "The bytes; `X-Content-SHA256` is their hash (the path's)",
            "content": _DOWNLOADED,
            "headers": {
                "x-content-sha256": {"schema": {"type": "string"}},
                "content-disposition": {"schema": {"type": "string"}},
            },
        },
        **problems(401, 404, 429, 503),
    },
)
async def download_document(
    convention_id: str, sha256: str, principal: ApiPrincipal, desk: Desk
) -> Response:
    """A document your party may see (a party to the convention); 404 for anything else."""
    return document_response(await party_download(desk, principal.party, convention_id, sha256))


@router.get(
    "/conventions/{convention_id}/signed-original",
    operation_id="download_signed_original",
    tags=["documents"],
    summary="The sealed signed original of a convention of your party, once made",
    response_class=Response,
    responses={
        200: {
            "description": "The sealed PDF (PAdES, timestamped); `X-Content-SHA256` its hash",
            # Served as application/pdf; octet-stream too, so a generated client reads it as a
            # file (openapi-python-client has no parser for application/pdf alone).
            "content": {"application/pdf": _BYTES, "application/octet-stream": _BYTES},
            "headers": {
                "x-content-sha256": {"schema": {"type": "string"}},
                "content-disposition": {"schema": {"type": "string"}},
            },
        },
        **problems(401, 404, 429, 503),
    },
)
async def download_signed_original(
    convention_id: str, principal: ApiPrincipal, desk: Desk
) -> Response:
    """The convention's signed original, sealed by the office; 404 until it is made, and for
    a convention your party is not a party to."""
    sealed = await sealed_original(desk, convention_id)
    if sealed is None or not await is_party(desk, principal.party, convention_id):
        raise NotFound(
            coded_detail(
                DetailCode.NO_SEALED_ORIGINAL,
                f"convention {convention_id!r} has no sealed original for you",
                convention=convention_id,
            )
        )
    return document_response(
        await party_download(desk, principal.party, convention_id, sealed.sha256)
    )
