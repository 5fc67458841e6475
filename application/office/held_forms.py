"""Nothing typed is lost when the session times out: a form posted after the officer's
session expired is held server-side for the account whose session it was, and given back to
that account — once, within the hour — when it has signed in again and comes back to the
page (web/office.py sends it to sign in with a random token in `next`).

The token names the row; only its SHA-256 is stored. The fields are sealed with AES-256-GCM
(a key derived from the deployment's link secret for this purpose only), the account's
e-mail and the token's hash as associated data: the database alone does not read them, and
a row moved to another account does not open. A form is held only if its CSRF token is the
timed-out session's own (a page elsewhere cannot plant one) and the session timed out, was
not signed out, and was seen in the last SEEN_WITHIN.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import asyncpg
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from infra.portal_settings import derived_key, token_hash
from storage import held_forms as sql

HOLD_FOR = timedelta(hours=1)
"""How long typed fields wait for their officer to sign in again."""

SEEN_WITHIN = timedelta(hours=12)
"""A session that timed out longer ago than this holds nothing (a cookie left for days)."""

MAX_HELD_CHARACTERS = 2_000_000
"""A form bigger than this is not held (the editor's largest draft is far below)."""

_NONCE_BYTES = 12
_AAD = b"pacte-office-held-form/v1:"


@dataclass(frozen=True)
class HeldForm:
    """A form given back: the path it was posted to, its text fields (every value of each
    name, in order) and the names of the files it carried (a file is not held)."""

    path: str
    fields: dict[str, list[str]]
    files: list[str]

    def first(self, name: str) -> str:
        """The field's first value, or ""."""
        values = self.fields.get(name) or [""]
        return values[0]


def _key(link_secret: bytes) -> bytes:
    return derived_key(link_secret, "office-held-forms")


def _aad(email: str, hashed: bytes) -> bytes:
    return _AAD + email.encode() + b":" + hashed


async def hold(
    pool: asyncpg.Pool,
    link_secret: bytes,
    session_token: str | None,
    csrf_valid: Callable[[bytes], bool],
    path: str,
    fields: dict[str, list[str]],
    files: list[str],
) -> str | None:
    """Hold what was posted to `path` with a timed-out session's cookie; the token to come
    back with, or None when nothing is held (no such session, a foreign form, too big)."""
    if not session_token:
        return None
    session_hash = token_hash(session_token)
    now = datetime.now(UTC)
    email = await sql.timed_out_account(pool, session_hash, now - SEEN_WITHIN)
    if email is None or not csrf_valid(session_hash):
        return None
    kept = {name: values for name, values in fields.items() if name != "csrf"}
    plain = json.dumps({"fields": kept, "files": files}, ensure_ascii=False)
    if len(plain) > MAX_HELD_CHARACTERS:
        return None
    token = secrets.token_urlsafe(32)
    hashed = token_hash(token)
    nonce = secrets.token_bytes(_NONCE_BYTES)
    sealed = nonce + AESGCM(_key(link_secret)).encrypt(
        nonce, plain.encode("utf-8"), _aad(email, hashed)
    )
    await sql.hold(pool, hashed, email, path, sealed, now, now + HOLD_FOR)
    return token


async def take(
    pool: asyncpg.Pool, link_secret: bytes, email: str, token: str | None, path: str
) -> HeldForm | None:
    """The form held under `token` for this account and posted to `path`, given back once;
    None for another account's token (theirs stays), an expired or unknown one."""
    if not token or len(token) > 100:
        return None
    hashed = token_hash(token)
    row = await sql.take(pool, hashed, email, path, datetime.now(UTC))
    if row is None:
        return None
    nonce, body = row.sealed[:_NONCE_BYTES], row.sealed[_NONCE_BYTES:]
    try:
        plain = AESGCM(_key(link_secret)).decrypt(nonce, body, _aad(email, hashed))
    except (InvalidTag, ValueError):
        return None
    opened = json.loads(plain)
    fields = {str(k): [str(v) for v in values] for k, values in opened["fields"].items()}
    return HeldForm(path, fields, [str(name) for name in opened["files"]])
