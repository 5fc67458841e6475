"""Sealing an organisation's channel secrets at rest: AES-256-GCM under a key derived from the
deployment's link secret (as the office's TOTP secrets are), the organisation and the secret's
id as associated data, so that a sealed value moved to another row does not open.

Here, below the use cases and the activities, because both open them: the partner desk to
verify a signed event, the webhook activity to sign a delivery.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from typing import Protocol

import structlog
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from infra.portal_settings import derived_key

log = structlog.get_logger("pacte.directory")

_NONCE_BYTES = 12
_AAD = b"pacte-directory-channel/v1:"


class Sealed(Protocol):
    """A sealed secret as the directory stores it."""

    @property
    def id(self) -> str: ...

    @property
    def organisation_id(self) -> str: ...

    @property
    def sealed(self) -> bytes: ...


def channel_key(link_secret: bytes) -> bytes:
    """The AES-256 key channel secrets are sealed with, for this purpose only."""
    return derived_key(link_secret, "directory-channel")


def _aad(organisation_id: str, secret_id: str) -> bytes:
    return _AAD + f"{organisation_id}\0{secret_id}".encode()


def seal_secret(key: bytes, organisation_id: str, secret_id: str, secret: str) -> bytes:
    """A fresh nonce, then the ciphertext of the `whsec_…` secret."""
    nonce = secrets.token_bytes(_NONCE_BYTES)
    return nonce + AESGCM(key).encrypt(
        nonce, secret.encode("ascii"), _aad(organisation_id, secret_id)
    )


def open_secret(key: bytes, organisation_id: str, secret_id: str, sealed: bytes) -> str | None:
    """The secret, or None when it does not open here (another key, or a moved value)."""
    try:
        plain = AESGCM(key).decrypt(
            sealed[:_NONCE_BYTES], sealed[_NONCE_BYTES:], _aad(organisation_id, secret_id)
        )
    except (InvalidTag, ValueError):
        log.error(
            "a channel secret does not open with this deployment's key",
            organisation=organisation_id,
        )
        return None
    return plain.decode("ascii")


def opened(key: bytes, rows: Iterable[Sealed]) -> list[str]:
    """The secrets of these rows that open with `key`, in their order."""
    found = (open_secret(key, row.organisation_id, row.id, row.sealed) for row in rows)
    return [secret for secret in found if secret]
