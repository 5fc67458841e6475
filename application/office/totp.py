"""The second factor's secrets, sealed at rest (migration 007), and its codes, each
time-step accepted once."""

from __future__ import annotations

import hmac
import secrets
import time

import asyncpg
import pyotp
import structlog
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from infra.portal_settings import derived_key
from storage import office_accounts

ISSUER = "Pacte office"
_TOTP_NONCE_BYTES = 12
_TOTP_AAD = b"pacte-office-totp/v1:"
log = structlog.get_logger("pacte.office")


def totp_key(link_secret: bytes) -> bytes:
    """The AES-256 key TOTP secrets are sealed with: derived from the deployment's link
    secret (which every portal replica holds), for this purpose only."""
    return derived_key(link_secret, "office-totp")


def seal_totp_secret(key: bytes, email: str, secret: str) -> bytes:
    """AES-256-GCM of the base32 secret: a fresh 12-byte nonce, then the ciphertext; the
    account's e-mail is the associated data, so a value copied to another account fails."""
    nonce = secrets.token_bytes(_TOTP_NONCE_BYTES)
    return nonce + AESGCM(key).encrypt(nonce, secret.encode("ascii"), _TOTP_AAD + email.encode())


def open_totp_secret(key: bytes, email: str, sealed: bytes) -> str | None:
    """The base32 secret, or None when it does not open (another key: the link secret was
    changed; or a value moved from another account). Never logs the secret."""
    nonce, body = sealed[:_TOTP_NONCE_BYTES], sealed[_TOTP_NONCE_BYTES:]
    try:
        plain = AESGCM(key).decrypt(nonce, body, _TOTP_AAD + email.encode())
    except (InvalidTag, ValueError):
        log.error("office: a TOTP secret does not open with this deployment's key", email=email)
        return None
    return plain.decode("ascii")


async def seal_legacy_totp_secrets(pool: asyncpg.Pool, key: bytes) -> int:
    """Seal every secret still in clear (written before migration 007); returns how many.
    `portal.py` calls it at start; the desk also seals one when it first reads it."""
    legacy = await office_accounts.legacy_secrets(pool)
    for email, clear in legacy:
        await office_accounts.replace_legacy_secret(
            pool, email, clear, seal_totp_secret(key, email, clear)
        )
    return len(legacy)


async def totp_secret(pool: asyncpg.Pool, key: bytes, email: str) -> str | None:
    """The account's TOTP secret, opened; one still in clear (from before migration
    007) is sealed now, and its clear column emptied."""
    stored = await office_accounts.totp_columns(pool, email)
    if stored is None:
        return None
    if stored.sealed is not None:
        return open_totp_secret(key, email, stored.sealed)
    if stored.legacy:
        await office_accounts.replace_legacy_secret(
            pool, email, stored.legacy, seal_totp_secret(key, email, stored.legacy)
        )
    return stored.legacy


async def enrolment_secret(pool: asyncpg.Pool, key: bytes, email: str) -> tuple[str, str] | None:
    """The secret being set up and its otpauth URI; the first one stays (a reloaded page
    shows the same), sealed. None once enrolled, or if the stored one does not open."""
    await totp_secret(pool, key, email)  # one from before migration 007: sealed first
    sealed = await office_accounts.keep_first_sealed_secret(
        pool, email, seal_totp_secret(key, email, pyotp.random_base32())
    )
    secret = open_totp_secret(key, email, sealed) if sealed else None
    if secret is None:
        return None
    return secret, pyotp.TOTP(secret).provisioning_uri(name=email, issuer_name=ISSUER)


async def code_ok(pool: asyncpg.Pool, key: bytes, email: str, code: str) -> bool:
    """A code of the current time-step or its neighbours, never of a step used before:
    the step is claimed atomically, so a code replayed (or raced) is refused."""
    secret = await totp_secret(pool, key, email)
    if not secret or not code.isdigit():
        return False
    totp = pyotp.TOTP(secret)
    now_step = int(time.time()) // totp.interval
    for step in (now_step - 1, now_step, now_step + 1):
        if hmac.compare_digest(totp.at(step * totp.interval), code):
            return await office_accounts.claim_totp_step(pool, email, step)
    return False
