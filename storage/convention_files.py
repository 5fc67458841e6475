"""Which conventions of the read model have no recorded file (`convention_files`, migration
006): the backfill's work list, kept by the two tables' triggers in
`conventions_without_file` (migration 019) so that reading it does not compare every
convention with every file."""

from __future__ import annotations

import asyncpg

# The few listed are read first, each convention then by its key (never a scan of every
# convention: the planner is told the list is short). The NOT EXISTS guards a row left by two
# transactions that crossed (a file recorded while its convention's row was written).
_WITHOUT_FILE = """
WITH listed AS MATERIALIZED (SELECT convention_id FROM conventions_without_file LIMIT 1000)
SELECT c.id FROM listed AS w
  JOIN conventions AS c ON c.id = w.convention_id
WHERE NOT EXISTS (SELECT 1 FROM convention_files AS f WHERE f.convention_id = c.id)
ORDER BY c.updated_at DESC LIMIT $1
"""


async def without_file(pool: asyncpg.Pool, limit: int) -> list[str]:
    """Ids of up to `limit` conventions without a recorded file, latest changed first."""
    return [row["id"] for row in await pool.fetch(_WITHOUT_FILE, limit)]
