"""The SQL of the office desk's directory pages (migration 020): who keeps an organisation
(its conventions' responsible officers), an organisation's names, kind, country and parent,
its parent chain, and the files kept while an admin reads the directory changes they ask for.

The change log is `storage.directory.record_change`'s, in the caller's transaction."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from infra.database import Database
from storage.directory import Organisation, organisation

KEEPER = """
SELECT EXISTS (
    SELECT 1 FROM convention_files AS f
    JOIN convention_search AS s ON s.convention_id = f.convention_id
    WHERE f.document -> 'parties' @> jsonb_build_array(jsonb_build_object('id', $1::text))
      AND s.officer_email = lower($2::text)
)
"""
"""Whether the officer (by address) is the responsible officer now of a convention whose
file names the organisation as a party: `convention_search`'s officer, the file's until an
officer_changed milestone names another (migration 025)."""

UPDATE_ORGANISATION = """
UPDATE directory_organisations
   SET name_fr = $2, name_ar = $3, name_en = $4, kind = $5, country = $6, parent_id = $7
 WHERE id = $1
RETURNING *
"""

ANCESTORS = """
WITH RECURSIVE chain (id, parent_id, depth) AS (
    SELECT id, parent_id, 1 FROM directory_organisations WHERE id = $1
    UNION ALL
    SELECT o.id, o.parent_id, c.depth + 1
      FROM directory_organisations AS o JOIN chain AS c ON o.id = c.parent_id
     WHERE c.depth < 100
)
SELECT id FROM chain ORDER BY depth
"""
"""The organisation and its parents, nearest first (a cycle stored before the check stops at
100 steps)."""

INSERT_PROPOSAL = """
INSERT INTO directory_proposals (id, convention_id, source, filename, draft_id, submitted_by)
VALUES ($1, $2, $3, $4, $5, $6)
RETURNING *
"""

PROPOSAL = "SELECT * FROM directory_proposals WHERE id = $1"

ACCEPT_PROPOSAL = """
UPDATE directory_proposals SET accepted_by = $2, accepted_at = now()
 WHERE id = $1 AND accepted_at IS NULL
RETURNING *
"""


@dataclass(frozen=True)
class Proposal:
    """A refused file, kept as it was sent, and whether an admin accepted its changes."""

    id: str
    convention_id: str
    source: str
    filename: str
    draft_id: str | None
    submitted_by: str
    submitted_at: datetime
    accepted_by: str | None
    accepted_at: datetime | None


def _proposal(row: Any) -> Proposal:
    return Proposal(
        id=row["id"],
        convention_id=row["convention_id"],
        source=row["source"],
        filename=row["filename"],
        draft_id=row["draft_id"],
        submitted_by=row["submitted_by"],
        submitted_at=row["submitted_at"],
        accepted_by=row["accepted_by"],
        accepted_at=row["accepted_at"],
    )


async def keeps(db: Database, organisation_id: str, officer_email: str) -> bool:
    """Whether the officer is responsible for a convention the organisation is a party to."""
    return bool(await db.fetchval(KEEPER, organisation_id, officer_email))


async def update_organisation(
    connection: asyncpg.Connection, organisation_id: str, values: dict[str, Any]
) -> Organisation | None:
    """Set the organisation's names, kind, country and parent (the caller records it)."""
    row = await connection.fetchrow(
        UPDATE_ORGANISATION,
        organisation_id,
        values["name_fr"],
        values["name_ar"],
        values["name_en"],
        values["kind"],
        values["country"],
        values["parent_id"],
    )
    return None if row is None else await organisation(connection, row["id"])


async def ancestors(db: Database, organisation_id: str) -> list[str]:
    """The organisation's id, then its parent's, and so on up."""
    return [row["id"] for row in await db.fetch(ANCESTORS, organisation_id)]


async def insert_proposal(db: Database, values: dict[str, Any]) -> Proposal:
    """Keep a refused file."""
    row = await db.fetchrow(
        INSERT_PROPOSAL,
        values["id"],
        values["convention_id"],
        values["source"],
        values["filename"],
        values.get("draft_id"),
        values["submitted_by"],
    )
    return _proposal(row)


async def proposal(db: Database, proposal_id: str) -> Proposal | None:
    """The kept file with this id."""
    row = await db.fetchrow(PROPOSAL, proposal_id)
    return None if row is None else _proposal(row)


async def mark_accepted(
    connection: asyncpg.Connection, proposal_id: str, admin: str
) -> Proposal | None:
    """Mark it accepted by the admin; None when it was accepted already."""
    row = await connection.fetchrow(ACCEPT_PROPOSAL, proposal_id, admin)
    return None if row is None else _proposal(row)


CLI_OFFICER = """
SELECT id FROM directory_people
 WHERE removed_at IS NULL
   AND CASE WHEN $1::text IS NOT NULL THEN lower(email) = lower($1::text)
            ELSE email IS NULL AND created_by = $2 AND name = $3 END
 ORDER BY created_at, id
 LIMIT 1
"""
"""The command line's officer as a directory person: by address when `--officer` is one,
else the person of that name that officer's first command created."""


async def cli_officer(db: Database, email: str | None, created_by: str, name: str) -> str | None:
    """The id of the command line officer's person, if the directory has one."""
    found = await db.fetchval(CLI_OFFICER, email, created_by, name)
    return None if found is None else str(found)
