"""The store the configuration names: PostgreSQL by default, an S3-compatible bucket with
PACTE_DOCUMENT_STORE=s3 (documents/settings.py)."""

from __future__ import annotations

from pathlib import Path

import asyncpg

from documents.s3 import S3DocumentStore
from documents.settings import DocumentSettings
from documents.store import DocumentStore, PostgresDocumentStore
from infra.secrets import SecretError, named_secret


def open_document_store(
    settings: DocumentSettings, pool: asyncpg.Pool, secrets_file: Path | None
) -> DocumentStore:
    """The configured store over this pool (the rows are always in PostgreSQL)."""
    if settings.store == "s3" and settings.s3 is not None:
        secret = named_secret("s3_secret_access_key", "PACTE_S3_SECRET_ACCESS_KEY", secrets_file)
        if not secret:
            raise SecretError(
                "PACTE_DOCUMENT_STORE=s3 needs PACTE_S3_SECRET_ACCESS_KEY or the secrets "
                "file's s3_secret_access_key"
            )
        return S3DocumentStore(pool, settings.s3, secret, max_bytes=settings.max_bytes)
    return PostgresDocumentStore(pool, max_bytes=settings.max_bytes)
