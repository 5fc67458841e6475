"""Office accounts: created, listed, disabled, their second factor reset (`starter.py
users`), and their passwords hashed and checked with argon2id in a worker thread, so a
burst of sign-ins never stalls the event loop that serves both desks."""

from __future__ import annotations

import asyncio
import secrets
from dataclasses import dataclass
from datetime import datetime

import asyncpg
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from application.office.roles import Role
from storage import office_accounts
from storage.office_accounts import AccountExists, AccountRow

_hasher = PasswordHasher()  # argon2id, the library's RFC 9106 low-memory profile
_DUMMY = _hasher.hash(secrets.token_urlsafe(16))


class UserError(Exception):
    """An account command that cannot be done (unknown, duplicate, bad role)."""


@dataclass(frozen=True)
class OfficeUser:
    """An office account, without its secrets."""

    email: str
    name: str
    role: Role
    enrolled: bool
    created_at: datetime
    disabled_at: datetime | None


def user_of(row: AccountRow) -> OfficeUser:
    """The account as the desk shows it."""
    return OfficeUser(
        email=row.email,
        name=row.name,
        role=Role(row.role),
        enrolled=row.totp_enrolled_at is not None,
        created_at=row.created_at,
        disabled_at=row.disabled_at,
    )


async def hash_password(password: str) -> str:
    """The argon2id PHC string of a password, computed off the event loop."""
    return await asyncio.to_thread(_hasher.hash, password)


async def password_matches(password_hash: str | None, password: str) -> bool:
    """Whether the password matches the hash, checked off the event loop. Without a hash
    (no such account) a dummy one is checked, so the time of the answer does not tell which
    e-mail addresses have an account."""
    return await asyncio.to_thread(_verify, password_hash or _DUMMY, password)


def _verify(password_hash: str, password: str) -> bool:
    try:
        return bool(_hasher.verify(password_hash, password))
    except (VerificationError, InvalidHashError):
        return False


def new_password() -> str:
    """A one-time initial password: 128 random bits, printed once."""
    return secrets.token_urlsafe(16)


async def create_user(
    pool: asyncpg.Pool, email: str, name: str, role: str, password: str
) -> OfficeUser:
    """A new account; its password stored as an argon2id hash only."""
    if role not in {r.value for r in Role}:
        raise UserError(f"role: {role!r} is not one of officer, auditor, admin")
    if "@" not in email or len(email) > 254:
        raise UserError(f"email: {email!r} is not an e-mail address")
    if len(password) < 12:
        raise UserError("password: at least 12 characters")
    try:
        row = await office_accounts.insert_account(
            pool, email.lower(), name, role, await hash_password(password)
        )
    except AccountExists as error:
        raise UserError(f"email: an account {email!r} already exists") from error
    return user_of(row)


async def list_users(pool: asyncpg.Pool) -> list[OfficeUser]:
    """Every account, by e-mail; never a secret."""
    return [user_of(r) for r in await office_accounts.all_accounts(pool)]


async def disable_user(pool: asyncpg.Pool, email: str) -> OfficeUser:
    """The account signs in no more, and its sessions end at once."""
    row = await office_accounts.disable_account(pool, email.lower())
    if row is None:
        raise UserError(f"email: no account {email!r}")
    return user_of(row)


async def reset_second_factor(pool: asyncpg.Pool, email: str) -> OfficeUser:
    """An officer who lost the authenticator (or after the link secret changed): the secret
    and the recovery codes are forgotten, the sessions end, and the next sign-in with the
    password sets a new authenticator up."""
    row = await office_accounts.forget_second_factor(pool, email.lower())
    if row is None:
        raise UserError(f"email: no account {email!r}")
    return user_of(row)
