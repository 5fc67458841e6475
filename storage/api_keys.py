"""Partners' API keys (stored by the hash of their secret, never the secret)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from infra.database import Database


@dataclass(frozen=True)
class ApiKey:
    """A party's API key, without its secret."""

    id: str
    party: str
    name: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


async def insert_key(pool: Database, key_id: str, party: str, name: str, key_hash: bytes) -> ApiKey:
    """Keep a new key by the hash of its secret."""
    row = await pool.fetchrow(
        "INSERT INTO partner_api_keys (id, party, name, key_hash) VALUES ($1, $2, $3, $4)"
        " RETURNING *",
        key_id,
        party,
        name,
        key_hash,
    )
    return _api_key(row)


async def list_keys(pool: Database, party: str | None = None) -> list[ApiKey]:
    """Every key (or the party's), newest first."""
    rows = await pool.fetch(
        "SELECT * FROM partner_api_keys WHERE $1::text IS NULL OR party = $1"
        " ORDER BY created_at DESC",
        party,
    )
    return [_api_key(row) for row in rows]


async def revoke_key(pool: Database, key_id: str) -> ApiKey | None:
    """The key revoked (when first revoked kept); None when there is no such key."""
    row = await pool.fetchrow(
        "UPDATE partner_api_keys SET revoked_at = coalesce(revoked_at, now())"
        " WHERE id = $1 RETURNING *",
        key_id,
    )
    return None if row is None else _api_key(row)


async def live_key(pool: asyncpg.Pool, key_hash: bytes) -> tuple[ApiKey, bool] | None:
    """The unrevoked key of this secret's hash, and whether the partner directory has its
    organisation archived (read with it: one round trip per authenticated request)."""
    row = await pool.fetchrow(
        "SELECT k.*, o.archived_at IS NOT NULL AS archived FROM partner_api_keys AS k"
        " LEFT JOIN directory_organisations AS o ON o.id = k.party"
        " WHERE k.key_hash = $1 AND k.revoked_at IS NULL",
        key_hash,
    )
    return None if row is None else (_api_key(row), bool(row["archived"]))


async def mark_used(pool: asyncpg.Pool, key_id: str) -> None:
    """The key was used now."""
    await pool.execute("UPDATE partner_api_keys SET last_used_at = now() WHERE id = $1", key_id)


def _api_key(row: Any) -> ApiKey:
    return ApiKey(
        id=row["id"],
        party=row["party"],
        name=row["name"],
        created_at=row["created_at"],
        last_used_at=row["last_used_at"],
        revoked_at=row["revoked_at"],
    )
