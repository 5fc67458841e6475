"""The convention editor's drafts: every SQL statement on office_drafts and its shares.

A save names the version it was made from and succeeds only if the row still has it (an
optimistic lock): two officers saving the same version, the second is refused and nothing
of the first is overwritten.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from infra.database import Database


@dataclass(frozen=True)
class DraftRow:
    """A draft as stored."""

    id: str
    owner: str
    document: dict[str, Any]
    version: int
    created_at: datetime
    updated_at: datetime
    updated_by: str
    started_as: str | None
    shared_with: tuple[str, ...]


_SELECT = (
    "SELECT d.*, COALESCE((SELECT array_agg(s.email ORDER BY s.email)"
    " FROM office_draft_shares AS s WHERE s.draft_id = d.id), '{}') AS shared_with"
    " FROM office_drafts AS d"
)
_BY_ID = f"{_SELECT} WHERE d.id = $1"
_VISIBLE_TO = (
    f"{_SELECT} WHERE d.owner = $1 OR EXISTS (SELECT 1 FROM office_draft_shares AS s"
    " WHERE s.draft_id = d.id AND s.email = $1) ORDER BY d.updated_at DESC LIMIT $2"
)


def _row(row: Any) -> DraftRow:
    document = row["document"]
    return DraftRow(
        id=row["id"],
        owner=row["owner"],
        document=json.loads(document) if isinstance(document, str) else document,
        version=row["version"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        updated_by=row["updated_by"],
        started_as=row["started_as"],
        shared_with=tuple(row["shared_with"]),
    )


def _json(document: dict[str, Any]) -> str:
    return json.dumps(document, ensure_ascii=False)


async def insert(db: Database, draft_id: str, owner: str, document: dict[str, Any]) -> DraftRow:
    """A new draft, at version 1."""
    await db.execute(
        "INSERT INTO office_drafts (id, owner, document, updated_by) VALUES ($1, $2, $3::json, $2)",
        draft_id,
        owner,
        _json(document),
    )
    found = await get(db, draft_id)
    assert found is not None
    return found


async def get(db: Database, draft_id: str) -> DraftRow | None:
    """The draft with this id, or None."""
    row = await db.fetchrow(_BY_ID, draft_id)
    return None if row is None else _row(row)


async def visible_to(db: Database, email: str, limit: int = 200) -> list[DraftRow]:
    """The drafts an officer owns or was given, most recently changed first."""
    rows = await db.fetch(_VISIBLE_TO, email, limit)
    return [_row(row) for row in rows]


async def save(
    db: Database, draft_id: str, version: int, document: dict[str, Any], by: str
) -> int | None:
    """Store the document over `version`; the new version, or None if the draft is no longer
    at `version` (someone saved since): then nothing is written."""
    saved: int | None = await db.fetchval(
        "UPDATE office_drafts SET document = $3::json, version = version + 1,"
        " updated_at = now(), updated_by = $4 WHERE id = $1 AND version = $2 RETURNING version",
        draft_id,
        version,
        _json(document),
        by,
    )
    return saved


async def share(db: Database, draft_id: str, email: str, by: str) -> None:
    """Give another officer the draft (again: nothing changes)."""
    await db.execute(
        "INSERT INTO office_draft_shares (draft_id, email, shared_by) VALUES ($1, $2, $3)"
        " ON CONFLICT DO NOTHING",
        draft_id,
        email,
        by,
    )


async def mark_started(db: Database, draft_id: str, convention_id: str) -> None:
    """The draft's convention was started under this id."""
    await db.execute(
        "UPDATE office_drafts SET started_as = $2 WHERE id = $1", draft_id, convention_id
    )
