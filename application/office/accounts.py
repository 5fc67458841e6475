"""Office accounts: created, listed, disabled, their second factor reset (`starter.py
users`), and their passwords hashed and checked with argon2id in worker threads of their own,
so a burst of sign-ins never stalls the event loop that serves both desks.

argon2id is CPU- and memory-hard by design (64 MiB and four lanes per check): a few hundred
checks at once on the loop's default executor would take every core, and every page would
wait behind them. They run on `ARGON2_WORKERS` threads (half the cores, at least one), each
check in turn: a burst of sign-ins queues behind itself and leaves the other cores to the
pages (`benchmarks/bursts.py` measures a page during 200 sign-ins)."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import secrets
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime

import asyncpg
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from application.office.roles import Role
from storage import office_accounts
from storage.office_accounts import AccountExists, AccountRow

_hasher = PasswordHasher()  # argon2id, the library's RFC 9106 low-memory profile


@functools.cache
def _dummy_hash() -> str:
    """The hash checked when there is no account, made once on first use (in the argon2
    thread): every command-line process imports this module, and few of them check a
    password; at import it cost each of them a fifth of a second."""
    return _hasher.hash(secrets.token_urlsafe(16))


ARGON2_WORKERS = max(1, (os.cpu_count() or 2) // 2)
ARGON2_NICENESS = 10
"""The checks' threads yield the CPU to the event loop's (Linux schedules threads, and a
thread's lanes inherit its niceness): a page waits less behind a burst, the burst's own
sign-ins take longer."""


def _lower_priority() -> None:
    # Not Linux, or not allowed: the default priority.
    with contextlib.suppress(AttributeError, OSError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), ARGON2_NICENESS)


_argon2 = ThreadPoolExecutor(
    max_workers=ARGON2_WORKERS, thread_name_prefix="argon2", initializer=_lower_priority
)


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
    return await asyncio.get_running_loop().run_in_executor(_argon2, _hasher.hash, password)


async def password_matches(password_hash: str | None, password: str) -> bool:
    """Whether the password matches the hash, checked off the event loop. Without a hash
    (no such account) a dummy one is checked, so the time of the answer does not tell which
    e-mail addresses have an account."""
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(_argon2, _verify, password_hash, password)


def _verify(password_hash: str | None, password: str) -> bool:
    try:
        return bool(_hasher.verify(password_hash or _dummy_hash(), password))
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
