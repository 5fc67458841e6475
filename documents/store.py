"""The document store: one interface, the bytes kept once under their SHA-256, never
overwritten, and a row for every upload (storage/documents.py).

The embedded default keeps the bytes in PostgreSQL (`document_contents.content`, bytea), not in
a directory under `.pacte/`:
- the row and the bytes commit in one transaction: no row without its bytes after a crash, no
  orphan file nobody lists;
- one backup (pg_dump, or the deployment's PostgreSQL backups) holds the record and the
  documents it cites, as the history archive already does (its default is PostgreSQL too);
- no second place to secure, mount in containers, or keep in step on several workers' hosts.
A document is at most 25 MB by default, well inside bytea's 1 GB; PostgreSQL keeps it out of
line (TOAST) without trying to compress what PDF and DOCX already compress.

A deployment that keeps many large files configures the S3-compatible store
(PACTE_DOCUMENT_STORE=s3): the rows stay in PostgreSQL, the bytes go to a bucket under
`sha256/<hash>`.
"""

from __future__ import annotations

import hashlib
from typing import Protocol

import asyncpg

from documents.intake import AcceptedDocument, accept
from infra.database import transaction
from storage import documents as sql
from storage.documents import DocumentRow


class DocumentMissing(LookupError):
    """No bytes of this hash in the store."""


class DocumentDamaged(ValueError):
    """The bytes read back do not hash to their key: the stored copy was altered."""

    def __init__(self, sha256: str, found: str) -> None:
        super().__init__(
            f"document {sha256}: the stored bytes hash to {found}; the copy was altered"
        )
        self.sha256 = sha256
        self.found = found


class DocumentStore(Protocol):
    """Where documents are kept: by content, written once."""

    @property
    def description(self) -> str:
        """Where the bytes are, for logs and `status`."""

    async def put(
        self,
        content: bytes,
        *,
        file_name: str | None,
        uploaded_by: str,
        convention_id: str,
        task_id: str | None = None,
    ) -> DocumentRow:
        """Check and keep a document; the same bytes again: no second copy, the row found.

        Raises a documents.intake.DocumentRefused (too large, refused type, active content)
        before anything is stored."""

    async def get(self, sha256: str) -> bytes:
        """The bytes, checked against their hash (DocumentMissing, DocumentDamaged)."""

    async def exists(self, sha256: str) -> bool:
        """Whether bytes of this hash are kept."""


def sha256_hex(content: bytes) -> str:
    """The key of a document: SHA-256 of its bytes, lowercase hex."""
    return hashlib.sha256(content).hexdigest()


def checked(sha256: str, content: bytes) -> bytes:
    """The bytes, if they still hash to their key; DocumentDamaged otherwise."""
    found = sha256_hex(content)
    if found != sha256:
        raise DocumentDamaged(sha256, found)
    return content


class PostgresDocumentStore:
    """The embedded default: bytes and rows in PostgreSQL, committed together."""

    def __init__(self, pool: asyncpg.Pool, *, max_bytes: int) -> None:
        self._pool = pool
        self._max_bytes = max_bytes

    @property
    def description(self) -> str:
        """Where the bytes are."""
        return "PostgreSQL (document_contents)"

    async def put(
        self,
        content: bytes,
        *,
        file_name: str | None,
        uploaded_by: str,
        convention_id: str,
        task_id: str | None = None,
    ) -> DocumentRow:
        """Check, then keep the bytes once and the upload's row, in one transaction."""
        document = accept(content, file_name, max_bytes=self._max_bytes)
        sha256 = sha256_hex(document.content)
        return await record_upload(
            self._pool,
            document,
            sha256,
            document.content,
            uploaded_by=uploaded_by,
            convention_id=convention_id,
            task_id=task_id,
        )

    async def get(self, sha256: str) -> bytes:
        """The bytes, checked against their hash."""
        content = await sql.read_content(self._pool, sha256)
        if content is None:
            raise DocumentMissing(f"document {sha256}: not in the store")
        return checked(sha256, bytes(content))

    async def exists(self, sha256: str) -> bool:
        """Whether bytes of this hash are kept."""
        return await sql.content_exists(self._pool, sha256)


async def record_upload(
    pool: asyncpg.Pool,
    document: AcceptedDocument,
    sha256: str,
    stored_bytes: bytes | None,
    *,
    uploaded_by: str,
    convention_id: str,
    task_id: str | None,
) -> DocumentRow:
    """The bytes' row (holding them, or none when another store keeps them) and the upload's
    row, in one transaction: every store records an upload the same way."""
    async with transaction(pool) as connection:
        await sql.insert_content(connection, sha256, len(document.content), stored_bytes)
        return await sql.insert_document(
            connection,
            sha256=sha256,
            size_bytes=len(document.content),
            media_type=document.media_type,
            file_name=document.file_name,
            uploaded_by=uploaded_by,
            convention_id=convention_id,
            task_id=task_id,
        )
