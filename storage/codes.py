"""One-time codes confirming a contact's commitment: the waiting answer, its keyed hash, its
tries. A code is read under a row lock, so two tries of one code are counted one after the
other."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

_INSERT = (
    "INSERT INTO partner_codes (id, session_hash, convention_id, task_id, code_hash,"
    " answer, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7)"
)
_LOCK = "SELECT * FROM partner_codes WHERE id = $1 AND session_hash = $2 FOR UPDATE"


@dataclass(frozen=True)
class StoredCode:
    """A code as stored (its hash only), with the answer it confirms."""

    id: str
    convention_id: str
    task_id: str
    code_hash: bytes
    answer: dict[str, Any]
    tries: int
    used_at: datetime | None
    expires_at: datetime


@dataclass(frozen=True)
class LockedCode:
    """A code held under its row lock until the transaction ends."""

    code: StoredCode | None
    _connection: asyncpg.Connection

    async def count_wrong_try(self) -> None:
        """One more wrong try."""
        assert self.code is not None
        await self._connection.execute(
            "UPDATE partner_codes SET tries = tries + 1 WHERE id = $1", self.code.id
        )

    async def mark_used(self) -> None:
        """The code has confirmed its answer: it cannot be used again."""
        assert self.code is not None
        await self._connection.execute(
            "UPDATE partner_codes SET used_at = now() WHERE id = $1", self.code.id
        )


async def insert_code(
    pool: asyncpg.Pool,
    *,
    code_id: str,
    session_hash: bytes,
    convention_id: str,
    task_id: str,
    code_hash: bytes,
    answer: dict[str, Any],
    expires_at: datetime,
) -> None:
    """Keep a code sent (its hash) with the answer it will confirm."""
    await pool.execute(
        _INSERT, code_id, session_hash, convention_id, task_id, code_hash, answer, expires_at
    )


@asynccontextmanager
async def locked_code(
    pool: asyncpg.Pool, code_id: str, session_hash: bytes
) -> AsyncIterator[LockedCode]:
    """The session's code, locked, in a transaction that commits when the block ends (and
    rolls back when it raises)."""
    async with pool.acquire() as connection, connection.transaction():
        row = await connection.fetchrow(_LOCK, code_id, session_hash)
        code = None
        if row is not None:
            code = StoredCode(
                id=row["id"],
                convention_id=row["convention_id"],
                task_id=row["task_id"],
                code_hash=row["code_hash"],
                answer=dict(row["answer"]),
                tries=row["tries"],
                used_at=row["used_at"],
                expires_at=row["expires_at"],
            )
        yield LockedCode(code, connection)
