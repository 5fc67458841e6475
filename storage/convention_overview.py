"""What the office's page of one convention reads from PostgreSQL beside the workflow: its
read-model row, the conventions linked to it, its deliveries, its archived runs."""

from __future__ import annotations

import json
from typing import Any

import asyncpg

DELIVERIES_SHOWN = 200


async def convention_row(pool: asyncpg.Pool, convention_id: str) -> dict[str, Any] | None:
    """The read model's row of the convention, if it has one."""
    row = await pool.fetchrow("SELECT * FROM conventions WHERE id = $1", convention_id)
    return dict(row) if row is not None else None


async def file_languages(
    pool: asyncpg.Pool, convention_id: str
) -> tuple[dict[str, str], list[dict[str, Any]]]:
    """What its stored file gave in several languages: the title's (`titles`, empty when
    only one was given) and the parties (id, name, names), in the file's order."""
    row = await pool.fetchrow(
        "SELECT document -> 'titles' AS titles, document -> 'parties' AS parties"
        " FROM convention_files WHERE convention_id = $1",
        convention_id,
    )
    if row is None:
        return {}, []
    titles, parties = (json.loads(v) if isinstance(v, str) else v for v in row)
    given = titles if isinstance(titles, dict) else {}
    return (
        {str(k): str(v) for k, v in given.items() if v},
        [p for p in parties or [] if isinstance(p, dict) and isinstance(p.get("id"), str)],
    )


async def children(pool: asyncpg.Pool, convention_id: str) -> list[dict[str, Any]]:
    """The conventions whose parent it is: id, title, stage, state; by id."""
    rows = await pool.fetch(
        "SELECT id, title, stage, state FROM conventions WHERE parent = $1 ORDER BY id",
        convention_id,
    )
    return [dict(r) for r in rows]


async def deliveries(pool: asyncpg.Pool, convention_id: str) -> list[dict[str, Any]]:
    """Its notifications' deliveries, latest changed first (at most DELIVERIES_SHOWN)."""
    rows = await pool.fetch(
        "SELECT d.notification_id, d.channel, d.party, d.status, d.attempts,"
        " d.last_response_code, d.last_detail, d.updated_at FROM deliveries AS d"
        " JOIN notifications AS n ON n.id = d.notification_id"
        " WHERE n.convention_id = $1 ORDER BY d.updated_at DESC LIMIT $2",
        convention_id,
        DELIVERIES_SHOWN,
    )
    return [dict(r) for r in rows]


async def archived_runs(pool: asyncpg.Pool, convention_id: str) -> int:
    """How many of its runs are in PostgreSQL's history archive."""
    count = await pool.fetchval(
        "SELECT count(*) FROM history_archive WHERE convention_id = $1", convention_id
    )
    return int(count)
