"""PostgreSQL through asyncpg: the connection pool and the migrations."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TypeAlias
from urllib.parse import unquote

import asyncpg
import structlog

from infra.settings import PROJECT_ROOT

MIGRATIONS_DIR = PROJECT_ROOT / "migrations"
# Any constant works: it only has to be the same for every Pacte process sharing a database.
_MIGRATION_LOCK_KEY = 0x5041_4354_45

log = structlog.get_logger(__name__)


async def _init_connection(connection: asyncpg.Connection) -> None:
    # jsonb columns come back as Python values, and go in as JSON text with non-ASCII kept.
    await connection.set_type_codec(
        "jsonb",
        encoder=lambda value: json.dumps(value, ensure_ascii=False),
        decoder=json.loads,
        schema="pg_catalog",
    )


async def _keep_session(connection: asyncpg.Connection) -> None:
    """Release a connection to the pool without asyncpg's default reset query.

    That query (unlock advisory locks, close cursors, unlisten, RESET ALL) costs a round trip
    on every release, i.e. on every activity; Pacte leaves no session state behind (its only
    locks are transaction-scoped but the sweep's, which storage/sweep_lock.py gives back
    itself; it never SETs, LISTENs or keeps a cursor open). An open
    transaction is still rolled back by asyncpg before this runs.
    """


class DatabaseUrlError(OSError):
    """DATABASE_URL cannot be used as it is; the message never quotes its credentials.

    An OSError, so that every caller reporting an unreachable PostgreSQL reports this too,
    in one line (a malformed URL reaches no database either).
    """


def _credential_fragments(database_url: str) -> list[str]:
    """The password part of the URL's user-info, whole and in pieces (a password holding an
    unescaped '@' or ':' is split by the parser, and a piece may surface as a host or port)."""
    rest = database_url.partition("://")[2]
    if "@" not in rest:
        return []
    password = rest.rpartition("@")[0].partition(":")[2]
    pieces = {password, unquote(password), *re.split(r"[:@/]", password)}
    return [piece for piece in pieces if len(piece) >= 4]


def safe_error_text(error: BaseException, database_url: str) -> str:
    """The error's message, unless it quotes any part of the URL's password."""
    text = str(error)
    if any(fragment in text for fragment in _credential_fragments(database_url)):
        return "(the reason quotes the password: not shown)"
    return text


Database: TypeAlias = asyncpg.Pool | asyncpg.Connection
"""Where a write goes: the pool (its own transaction) or a connection inside a caller's."""


@asynccontextmanager
async def transaction(database: Database) -> AsyncIterator[asyncpg.Connection]:
    """A transaction on one of the pool's connections; inside a caller's transaction (a
    connection), a savepoint of it, committed with the caller's."""
    if isinstance(database, asyncpg.Pool):
        async with database.acquire() as connection, connection.transaction():
            yield connection
    else:
        async with database.transaction():
            yield database


async def create_pool(database_url: str, *, max_size: int = 10) -> asyncpg.Pool:
    """A pool whose connections speak jsonb as Python values.

    Raises DatabaseUrlError for a URL asyncpg cannot parse, and for any failure whose message
    would quote the URL's password; other failures (OSError, PostgresError) as asyncpg does.
    """
    try:
        pool: asyncpg.Pool = await asyncpg.create_pool(
            database_url,
            min_size=1,
            max_size=max_size,
            init=_init_connection,
            reset=_keep_session,
        )
    except (ValueError, asyncpg.InterfaceError) as error:  # a URL asyncpg cannot parse
        raise DatabaseUrlError(
            f"not a usable PostgreSQL URL: {safe_error_text(error, database_url)} (expected "
            "postgresql://user:password@host:port/database, the password percent-encoded)"
        ) from None
    except (OSError, asyncpg.PostgresError) as error:
        shown = safe_error_text(error, database_url)
        if shown != str(error):
            raise DatabaseUrlError(f"cannot connect: {shown}") from None
        raise
    return pool


async def apply_migrations(pool: asyncpg.Pool, directory: Path = MIGRATIONS_DIR) -> list[str]:
    """Apply the SQL files not yet applied, in name order, once, even with several workers."""
    migrations = sorted(directory.glob("*.sql"))  # noqa: ASYNC240 - a handful of small files
    applied_now: list[str] = []
    async with pool.acquire() as connection, connection.transaction():
        await connection.execute("SELECT pg_advisory_xact_lock($1)", _MIGRATION_LOCK_KEY)
        await connection.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
        )
        done = {row["name"] for row in await connection.fetch("SELECT name FROM schema_migrations")}
        for path in migrations:
            if path.name in done:
                continue
            await connection.execute(path.read_text(encoding="utf-8"))
            await connection.execute("INSERT INTO schema_migrations (name) VALUES ($1)", path.name)
            applied_now.append(path.name)
    if applied_now:
        log.info("migrations applied", migrations=applied_now)
    return applied_now
