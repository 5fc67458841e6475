"""An organisation's API keys on the office desk: the partner desk's own use cases
(`application.partner.keys`, which `starter.py keys` runs too), each in one transaction with
its line in the directory's change log (who, when, the key's id and name; never a secret).
Kept by an admin, or an officer of the organisation's conventions (`keepers`)."""

from __future__ import annotations

import asyncpg

from application.directory.editors import Editor
from application.directory.keepers import require_keeper
from application.errors import InvalidInput, NotFound
from application.partner.keys import create_key, list_keys, revoke_key
from infra.database import transaction
from schemas.errors import DetailCode, FieldError, coded_detail
from storage import directory as store
from storage.api_keys import ApiKey

KEY_NAME_MAX = 100
KEY_NAME_REASON = "1 to 100 characters"
UNKNOWN_KEY_REASON = "no such key for this organisation"
REVOKED_KEY_REASON = "this key is revoked already"


async def create_organisation_key(
    pool: asyncpg.Pool, editor: Editor, organisation_id: str, name: str
) -> tuple[str, ApiKey]:
    """A new key for the organisation: its secret (to show once) and the key."""
    name = " ".join(name.split())
    if not 1 <= len(name) <= KEY_NAME_MAX:
        raise InvalidInput("key name", [FieldError("name", KEY_NAME_REASON)])
    async with transaction(pool) as connection:
        if await store.organisation(connection, organisation_id) is None:
            raise NotFound(
                coded_detail(
                    DetailCode.NO_ORGANISATION,
                    f"no organisation {organisation_id!r}",
                    organisation=organisation_id,
                )
            )
        await require_keeper(connection, editor, organisation_id, "creating an API key")
        secret, key = await create_key(connection, organisation_id, name)
        await store.record_change(
            connection,
            actor=editor.recorded_as,
            action="key.create",
            organisation_id=organisation_id,
            new_value={"key": key.id, "name": key.name},
        )
    return secret, key


async def revoke_organisation_key(
    pool: asyncpg.Pool, editor: Editor, organisation_id: str, key_id: str
) -> ApiKey:
    """The organisation's key stops working at once; another organisation's key, or an
    unknown one, is refused beside the field."""
    async with transaction(pool) as connection:
        if await store.organisation(connection, organisation_id) is None:
            raise NotFound(
                coded_detail(
                    DetailCode.NO_ORGANISATION,
                    f"no organisation {organisation_id!r}",
                    organisation=organisation_id,
                )
            )
        await require_keeper(connection, editor, organisation_id, "revoking an API key")
        known = {key.id: key for key in await list_keys(connection, organisation_id)}
        before = known.get(key_id.strip())
        if before is None:
            raise InvalidInput("unknown key", [FieldError("key_id", UNKNOWN_KEY_REASON)])
        if before.revoked_at is not None:
            raise InvalidInput("key revoked", [FieldError("key_id", REVOKED_KEY_REASON)])
        revoked = await revoke_key(connection, before.id)
        await store.record_change(
            connection,
            actor=editor.recorded_as,
            action="key.revoke",
            organisation_id=organisation_id,
            old_value={"key": before.id, "name": before.name, "revoked_at": None},
            new_value={
                "key": revoked.id,
                "name": revoked.name,
                "revoked_at": revoked.revoked_at.isoformat() if revoked.revoked_at else None,
            },
        )
    return revoked


async def organisation_keys(pool: asyncpg.Pool, organisation_id: str) -> list[ApiKey]:
    """The organisation's keys, newest first (never a secret)."""
    return await list_keys(pool, organisation_id)
