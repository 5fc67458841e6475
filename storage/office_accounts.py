"""Office accounts in PostgreSQL (`office_users`, `office_recovery_codes`, migrations 006
and 007): who may sign in to the office desk, the argon2id hash of their password, their
sealed TOTP secret and the recovery codes (SHA-256), never anything in clear but the legacy
column migration 007 empties."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg


class AccountExists(Exception):
    """An account with this e-mail address is already there."""


@dataclass(frozen=True)
class AccountRow:
    """One `office_users` row without its TOTP secret."""

    email: str
    name: str
    role: str
    password_hash: str
    totp_enrolled_at: datetime | None
    created_at: datetime
    disabled_at: datetime | None
    preferred_language: str | None = None
    """The desk language the holder last chose (migration 024); None until they choose."""
    time_zone: str | None = None
    """The IANA zone the account reads dates in (migration 030); None: UTC."""


@dataclass(frozen=True)
class TotpColumns:
    """An account's TOTP secret as stored: sealed (AES-GCM) or, before 007, in clear."""

    sealed: bytes | None
    legacy: str | None


def account_of(row: Any) -> AccountRow:
    """The account's columns from a row that holds them (alone or joined)."""
    return AccountRow(
        email=row["email"],
        name=row["name"],
        role=row["role"],
        password_hash=row["password_hash"],
        totp_enrolled_at=row["totp_enrolled_at"],
        created_at=row["created_at"],
        disabled_at=row["disabled_at"],
        preferred_language=row["preferred_language"],
        time_zone=row.get("time_zone"),
    )


async def insert_account(
    pool: asyncpg.Pool, email: str, name: str, role: str, password_hash: str
) -> AccountRow:
    """A new account; AccountExists if the e-mail address has one."""
    try:
        row = await pool.fetchrow(
            "INSERT INTO office_users (email, name, role, password_hash) VALUES ($1, $2, $3, $4)"
            " RETURNING *",
            email,
            name,
            role,
            password_hash,
        )
    except asyncpg.UniqueViolationError as error:
        raise AccountExists(email) from error
    return account_of(row)


async def all_accounts(pool: asyncpg.Pool) -> list[AccountRow]:
    """Every account, by e-mail."""
    return [account_of(r) for r in await pool.fetch("SELECT * FROM office_users ORDER BY email")]


async def account(pool: asyncpg.Pool, email: str) -> AccountRow | None:
    """The account of this (lower-case) e-mail address, if any."""
    row = await pool.fetchrow("SELECT * FROM office_users WHERE email = $1", email)
    return account_of(row) if row is not None else None


async def disable_account(pool: asyncpg.Pool, email: str) -> AccountRow | None:
    """Disabled (once: the first date stays) and every session ended, in one transaction;
    None if there is no such account."""
    async with pool.acquire() as connection, connection.transaction():
        row = await connection.fetchrow(
            "UPDATE office_users SET disabled_at = coalesce(disabled_at, now())"
            " WHERE email = $1 RETURNING *",
            email,
        )
        if row is None:
            return None
        await connection.execute(
            "UPDATE office_sessions SET ended_at = now() WHERE email = $1 AND ended_at IS NULL",
            email,
        )
    return account_of(row)


async def forget_second_factor(pool: asyncpg.Pool, email: str) -> AccountRow | None:
    """The TOTP secret and the recovery codes forgotten and every session ended, in one
    transaction; None if there is no such account."""
    async with pool.acquire() as connection, connection.transaction():
        row = await connection.fetchrow(
            "UPDATE office_users SET totp_sealed = NULL, totp_secret_legacy = NULL,"
            " totp_enrolled_at = NULL, totp_last_step = NULL WHERE email = $1 RETURNING *",
            email,
        )
        if row is None:
            return None
        await connection.execute("DELETE FROM office_recovery_codes WHERE email = $1", email)
        await connection.execute(
            "UPDATE office_sessions SET ended_at = now() WHERE email = $1 AND ended_at IS NULL",
            email,
        )
    return account_of(row)


# --- the TOTP secret ------------------------------------------------------------------------


async def totp_columns(pool: asyncpg.Pool, email: str) -> TotpColumns | None:
    """The account's stored secret (sealed or legacy clear); None without the account."""
    row = await pool.fetchrow(
        "SELECT totp_sealed, totp_secret_legacy FROM office_users WHERE email = $1", email
    )
    if row is None:
        return None
    return TotpColumns(row["totp_sealed"], row["totp_secret_legacy"])


async def legacy_secrets(pool: asyncpg.Pool) -> list[tuple[str, str]]:
    """(email, clear secret) of every account whose secret is still in clear."""
    rows = await pool.fetch(
        "SELECT email, totp_secret_legacy FROM office_users"
        " WHERE totp_secret_legacy IS NOT NULL AND totp_sealed IS NULL"
    )
    return [(r["email"], r["totp_secret_legacy"]) for r in rows]


async def replace_legacy_secret(pool: asyncpg.Pool, email: str, clear: str, sealed: bytes) -> None:
    """The clear secret replaced by its sealed form, unless another writer did it first."""
    await pool.execute(
        "UPDATE office_users SET totp_sealed = $2, totp_secret_legacy = NULL"
        " WHERE email = $1 AND totp_sealed IS NULL AND totp_secret_legacy = $3",
        email,
        sealed,
        clear,
    )


async def keep_first_sealed_secret(pool: asyncpg.Pool, email: str, sealed: bytes) -> bytes | None:
    """The sealed secret of an account not yet enrolled: the one already there, else this
    one; None once enrolled (or without the account)."""
    kept: bytes | None = await pool.fetchval(
        "UPDATE office_users SET totp_sealed = coalesce(totp_sealed, $2)"
        " WHERE email = $1 AND totp_enrolled_at IS NULL RETURNING totp_sealed",
        email,
        sealed,
    )
    return kept


async def claim_totp_step(pool: asyncpg.Pool, email: str, step: int) -> bool:
    """Atomically record `step` as the latest used; False if it (or a later one) was."""
    claimed = await pool.fetchval(
        "UPDATE office_users SET totp_last_step = $2 WHERE email = $1"
        " AND (totp_last_step IS NULL OR totp_last_step < $2) RETURNING true",
        email,
        step,
    )
    return bool(claimed)


# --- enrolment and recovery codes -----------------------------------------------------------


async def mark_enrolled(
    connection: asyncpg.Connection, email: str, recovery_hashes: list[bytes]
) -> None:
    """Enrolled now, with these recovery codes only (inside the caller's transaction)."""
    await connection.execute(
        "UPDATE office_users SET totp_enrolled_at = now() WHERE email = $1", email
    )
    await connection.execute("DELETE FROM office_recovery_codes WHERE email = $1", email)
    for code_hash in recovery_hashes:
        await connection.execute(
            "INSERT INTO office_recovery_codes (email, code_hash) VALUES ($1, $2)",
            email,
            code_hash,
        )


async def use_recovery_code(pool: asyncpg.Pool, email: str, code_hash: bytes) -> bool:
    """Atomically mark an unused recovery code used; False if unknown or used before."""
    used = await pool.fetchval(
        "UPDATE office_recovery_codes SET used_at = now()"
        " WHERE email = $1 AND code_hash = $2 AND used_at IS NULL RETURNING true",
        email,
        code_hash,
    )
    return bool(used)


async def set_time_zone(pool: asyncpg.Pool, email: str, zone: str | None) -> None:
    """The zone the account reads dates in (None: UTC), checked by the caller."""
    await pool.execute("UPDATE office_users SET time_zone = $2 WHERE email = $1", email, zone)
