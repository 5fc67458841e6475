"""Partners' systems: a per-party API key (`Authorization: Bearer pk_…`), shown once, stored
by its hash, revoked at once on every replica."""

from __future__ import annotations

import secrets
import uuid
from datetime import UTC, datetime, timedelta
from typing import NoReturn

from application.errors import NotFound, Unauthenticated
from application.limits import FAILURES_PER_ADDRESS, address_bucket, count_failure
from application.partner.context import PartnerContext
from infra.database import Database
from infra.portal_settings import token_hash
from schemas.actors import AuthMethod, Principal, PrincipalKind
from storage import api_keys
from storage.api_keys import ApiKey

API_KEY_PREFIX = "pk_"
KEY_USE_PRECISION = timedelta(minutes=1)
"""A key's `last_used_at` is kept to the minute (what `keys list` shows)."""


async def create_key(pool: Database, party: str, name: str) -> tuple[str, ApiKey]:
    """A new key for the party; the returned secret is shown once and never stored."""
    key_id = secrets.token_hex(6)
    secret = f"{API_KEY_PREFIX}{key_id}_{secrets.token_urlsafe(32)}"
    return secret, await api_keys.insert_key(pool, key_id, party, name, token_hash(secret))


async def list_keys(pool: Database, party: str | None = None) -> list[ApiKey]:
    """Every key (or the party's), newest first; never a secret."""
    return await api_keys.list_keys(pool, party)


async def revoke_key(pool: Database, key_id: str) -> ApiKey:
    """The key stops working at once (every replica reads the same row)."""
    revoked = await api_keys.revoke_key(pool, key_id)
    if revoked is None:
        raise NotFound(f"no API key {key_id!r}")
    return revoked


def presented_secret(authorization: str | None) -> str | None:
    """The key's secret from `Authorization: Bearer pk_…`; None when the header is not that."""
    scheme, _, secret = (authorization or "").partition(" ")
    secret = secret.strip()
    if scheme.lower() != "bearer" or not secret.startswith(API_KEY_PREFIX):
        return None
    return secret


async def refuse_key(ctx: PartnerContext, client_address: str, *, archived: bool) -> NoReturn:
    """Unauthenticated: no live key of the secret (a failure counted against the address:
    TooManyAttempts once it is full), or its organisation archived in the directory."""
    if archived:  # the directory's word, read with the key; the answer asks it again
        raise Unauthenticated("this API key's organisation is archived in the directory")
    await count_failure(ctx.pool, {address_bucket("address", client_address): FAILURES_PER_ADDRESS})
    raise Unauthenticated("this API key is not valid (unknown or revoked)")


def key_principal(key_id: str, name: str, party: str) -> Principal:
    """The party's system behind a key, as the answer's principal (a new request id)."""
    return Principal(
        kind=PrincipalKind.API_KEY,
        id=key_id,
        name=name,
        party=party,
        method=AuthMethod.API_KEY,
        request_id=uuid.uuid4().hex,
    )


async def authenticate_key(
    ctx: PartnerContext, authorization: str | None, client_address: str
) -> Principal:
    """The party's system behind `Authorization: Bearer <key>`, as a principal. The key is
    looked up first: a valid one passes whatever others failed from the same address; a wrong
    one counts against the address (TooManyAttempts once it is full)."""
    secret = presented_secret(authorization)
    if secret is None:
        buckets = {address_bucket("address", client_address): FAILURES_PER_ADDRESS}
        await count_failure(ctx.pool, buckets)
        raise Unauthenticated("send the party's API key: Authorization: Bearer pk_…")
    found = await api_keys.live_key(ctx.pool, token_hash(secret))
    if found is None:
        await refuse_key(ctx, client_address, archived=False)
    assert found is not None
    key, archived = found
    if archived:
        await refuse_key(ctx, client_address, archived=True)
    if key.last_used_at is None or key.last_used_at < datetime.now(UTC) - KEY_USE_PRECISION:
        # To the minute, as `keys list` shows it: not a write (a commit) per request.
        await api_keys.mark_used(ctx.pool, key.id)
    return key_principal(key.id, key.name, key.party)
