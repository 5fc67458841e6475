"""Which conventions of the read model have no recorded file (`convention_files`, migration
006): the backfill's work list."""

from __future__ import annotations

import asyncpg

_WITHOUT_FILE = """
SELECT c.id FROM conventions AS c
WHERE NOT EXISTS (SELECT 1 FROM convention_files AS f WHERE f.convention_id = c.id)
ORDER BY c.updated_at DESC LIMIT $1
"""


async def without_file(pool: asyncpg.Pool, limit: int) -> list[str]:
    """Ids of up to `limit` conventions without a recorded file, latest changed first."""
    return [row["id"] for row in await pool.fetch(_WITHOUT_FILE, limit)]
