"""The documents floor's configuration, read from the environment once.

It sits here rather than in infra/settings.py while that module is being reworked; it is one
dataclass and one loader, to move beside the others as they are.

    PACTE_DOCUMENT_STORE          postgres (default) | s3
    PACTE_DOCUMENT_MAX_BYTES      the size bound, 25 MiB by default
    PACTE_S3_ENDPOINT, PACTE_S3_BUCKET, PACTE_S3_REGION, PACTE_S3_ACCESS_KEY_ID
                                  the S3-compatible store (its secret key is a secret:
                                  PACTE_S3_SECRET_ACCESS_KEY or the secrets file)
    PACTE_OFFICE_CERTIFICATE      the office's PKCS#12 file; its password is a secret
                                  (PACTE_OFFICE_CERTIFICATE_PASSWORD, or the secrets file's
                                  office_certificate_password); unset: a development
                                  certificate under the state directory
    PACTE_TSA_URL                 the RFC 3161 timestamp authority
    PACTE_TRUST_ROOTS             the PEM certificates (':'-separated paths) the office's seal
                                  and the authority's tokens must chain to, for `audit.py
                                  verify`; unset: the development CA under the state directory
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from documents.intake import DEFAULT_MAX_BYTES
from infra.settings import Environment, SettingsError, read_environment

StoreKind = Literal["postgres", "s3"]


@dataclass(frozen=True)
class S3Settings:
    """Where an S3-compatible store keeps the bytes."""

    endpoint: str
    bucket: str
    region: str
    access_key_id: str


@dataclass(frozen=True)
class DocumentSettings:
    """Which store, how large a document may be, the office's seal and its timestamps."""

    store: StoreKind = "postgres"
    max_bytes: int = DEFAULT_MAX_BYTES
    s3: S3Settings | None = None
    office_certificate: Path | None = None
    tsa_url: str | None = None
    trust_roots: tuple[Path, ...] = ()


def load_document_settings(env: Environment | None = None) -> DocumentSettings:
    """Read PACTE_DOCUMENT_*, PACTE_S3_*, PACTE_OFFICE_CERTIFICATE and PACTE_TSA_URL."""
    env = env or read_environment()
    store = (env.document_store or "postgres").lower()
    if store not in ("postgres", "s3"):
        raise SettingsError(f"PACTE_DOCUMENT_STORE: 'postgres' or 's3', got {store!r}")
    raw_max = env.document_max_bytes
    max_bytes = DEFAULT_MAX_BYTES
    if raw_max:
        if not raw_max.isdigit() or int(raw_max) <= 0:
            raise SettingsError(
                f"PACTE_DOCUMENT_MAX_BYTES: a positive whole number of bytes, got {raw_max!r}"
            )
        max_bytes = int(raw_max)
    s3 = None
    if store == "s3":
        given = {
            "PACTE_S3_ENDPOINT": env.s3_endpoint,
            "PACTE_S3_BUCKET": env.s3_bucket,
            "PACTE_S3_ACCESS_KEY_ID": env.s3_access_key_id,
        }
        missing = [name for name, value in given.items() if not value]
        if missing or not env.s3_endpoint or not env.s3_bucket or not env.s3_access_key_id:
            raise SettingsError(f"PACTE_DOCUMENT_STORE=s3 needs {', '.join(missing)}")
        s3 = S3Settings(
            endpoint=env.s3_endpoint.rstrip("/"),
            bucket=env.s3_bucket,
            region=env.s3_region or "us-east-1",
            access_key_id=env.s3_access_key_id,
        )
    certificate = env.office_certificate or None
    return DocumentSettings(
        store="s3" if store == "s3" else "postgres",
        max_bytes=max_bytes,
        s3=s3,
        office_certificate=Path(certificate) if certificate else None,
        tsa_url=env.tsa_url or None,
        trust_roots=tuple(
            Path(part) for part in (env.trust_roots or "").split(os.pathsep) if part.strip()
        ),
    )


def trust_roots(settings: DocumentSettings, state_dir: Path) -> list[Path]:
    """The roots a seal's and a token's certificates are checked against: PACTE_TRUST_ROOTS,
    else the embedded stack's development CA when it exists, else none."""
    if settings.trust_roots:
        missing = [str(path) for path in settings.trust_roots if not path.is_file()]
        if missing:
            raise SettingsError(f"PACTE_TRUST_ROOTS: no such file: {', '.join(missing)}")
        return list(settings.trust_roots)
    development = state_dir / "seal" / "ca.pem"
    return [development] if development.is_file() else []
