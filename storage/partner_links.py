"""Contacts' links, as the worker minted them (stored by the hash of their token)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import asyncpg


@dataclass(frozen=True)
class Link:
    """A contact's link, as stored."""

    token_hash: bytes
    contact_name: str
    contact_email: str | None
    language: str
    party: str
    convention_id: str
    task_id: str
    expires_at: datetime
    revoked_at: datetime | None
    revoked_reason: str | None


async def find_link(pool: asyncpg.Pool, token_hash: bytes) -> Link | None:
    """The link of this token's hash, whatever its state; None when unknown."""
    row = await pool.fetchrow("SELECT * FROM partner_links WHERE token_hash = $1", token_hash)
    if row is None:
        return None
    return Link(
        token_hash=row["token_hash"],
        contact_name=row["contact_name"],
        contact_email=row["contact_email"],
        language=row["language"],
        party=row["party"],
        convention_id=row["convention_id"],
        task_id=row["task_id"],
        expires_at=row["expires_at"],
        revoked_at=row["revoked_at"],
        revoked_reason=row["revoked_reason"],
    )


@dataclass(frozen=True)
class LinkToShow:
    """Which contact's link to show a newcomer: the notification it was minted for."""

    notification_id: str
    contact_name: str
    party: str


async def link_to_show(pool: asyncpg.Pool, convention_id: str | None) -> LinkToShow | None:
    """A live link to a task still open if any, else the latest; of one convention's open
    tasks only when `convention_id` is given (the demo's first-hour convention)."""
    row = await pool.fetchrow(
        "SELECT l.notification_id, l.contact_name, l.party FROM partner_links l"
        " LEFT JOIN tasks t ON t.convention_id = l.convention_id AND t.task_id = l.task_id"
        " WHERE l.revoked_at IS NULL AND l.expires_at > now()"
        " AND ($1::text IS NULL OR (l.convention_id = $1 AND t.status = 'open'))"
        " ORDER BY (t.status = 'open') DESC NULLS LAST, l.created_at DESC LIMIT 1",
        convention_id,
    )
    if row is None:
        return None
    return LinkToShow(row["notification_id"], row["contact_name"], row["party"])
