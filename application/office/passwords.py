"""Office passwords after the first: changed by their holder on the desk (the current one
required), or reset through a one-time link an admin has mailed to the account.

A change ends every session of the account and reopens the changer's own under a new id (a
session id seen before the change is worth nothing after it). A reset link carries 256
random bits, is stored as SHA-256, works once within `RESET_MINUTES`, and a newer link voids
the older; opening it (GET) shows a form, only the form's POST uses it (mail scanners open
every link). A reset ends every session of the account; a second factor stays as it was.
Passwords are hashed and checked with argon2id in a worker thread (`accounts.py`), and the
current password's check takes a slot of the account's own sign-in budget first.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import NoReturn

import asyncpg

from application import limits
from application.errors import (
    CodeUnavailable,
    InvalidInput,
    LinkUnusable,
    NotFound,
    TooManyAttempts,
)
from application.office import access_log
from application.office.accounts import hash_password, password_matches
from application.office.roles import Permission, authorize
from application.office.signin import (
    PASSWORD_FAILURES_PER_ACCOUNT,
    PASSWORD_FAILURES_PER_ADDRESS,
    OfficeSession,
)
from application.partner import PartnerDesk
from application.partner.code_mail import CodeMail, send_code_mail, unavailable_reason
from infra.portal_settings import token_hash
from rendering.catalogues import N_
from schemas.errors import FieldError
from storage import office_accounts, office_passwords

PASSWORD_MIN_CHARS = 12
"""OWASP ASVS 2.1.1: at least 12 characters; no rule on their kinds (2.1.9)."""
PASSWORD_MAX_CHARS = 128
"""ASVS 2.1.2: at least 64 allowed; argon2 hashes any length, the bound keeps it cheap."""
RESET_MINUTES = 60

ResetMail = Callable[[str, str, str], CodeMail]
"""(language, the link, the account's name) -> the mail, in that language."""


def check_new_password(new: str, repeated: str, current: str | None = None) -> None:
    """InvalidInput naming the field when the new password cannot be used."""
    errors: list[FieldError] = []
    if len(new) < PASSWORD_MIN_CHARS:
        errors.append(FieldError("new_password", f"at least {PASSWORD_MIN_CHARS} characters"))
    elif len(new) > PASSWORD_MAX_CHARS:
        errors.append(FieldError("new_password", f"at most {PASSWORD_MAX_CHARS} characters"))
    elif current is not None and new == current:
        errors.append(FieldError("new_password", "the same as the current password"))
    if new != repeated:
        errors.append(FieldError("repeated_password", "not the same as the new password"))
    if errors:
        raise InvalidInput("; ".join(f"{e.field}: {e.reason}" for e in errors), errors)


def _account_bucket(email: str) -> str:
    # The sign-in's own bucket: the current password guessed here or at the sign-in counts
    # in one budget.
    return f"office-account:{token_hash(email).hex()[:32]}"


@dataclass
class Passwords:
    """Changes and resets over PostgreSQL and the mail server; keeps no state of its own."""

    partner: PartnerDesk

    @property
    def pool(self) -> asyncpg.Pool:
        """The database the partner desk uses too."""
        return self.partner.pool

    async def change(
        self, session: OfficeSession, current: str, new: str, repeated: str, address: str
    ) -> str:
        """The holder's new password, the current one required; every session of the
        account ended; returns the cookie of the holder's session, reopened under a new id."""
        authorize(session, Permission.OWN_ACCOUNT)
        email = session.user.email
        check_new_password(new, repeated, current)
        budget = limits.Budget(PASSWORD_FAILURES_PER_ACCOUNT, growing=True)
        try:
            reservation = await limits.reserve(self.pool, {_account_bucket(email): budget})
        except TooManyAttempts:
            await access_log.record(self.pool, email, "change_password", "rate_limited", address)
            raise
        row = await office_accounts.account(self.pool, email)
        if row is None or not await password_matches(row.password_hash, current):
            await access_log.record(self.pool, email, "change_password", "refused", address)
            raise InvalidInput(
                "current_password: wrong password",
                [FieldError("current_password", "wrong password")],
            )
        await limits.forgive(self.pool, reservation)
        hashed = await hash_password(new)
        token = secrets.token_urlsafe(32)
        now = datetime.now(UTC)
        lifetime = timedelta(hours=self.partner.settings.session_max_hours)
        async with self.pool.acquire() as connection, connection.transaction():
            await office_passwords.replace_password(connection, email, hashed)
            await office_passwords.reopen_session(
                connection, email, token_hash(token), session.language, now, now + lifetime
            )
        await access_log.record(self.pool, email, "change_password", "ok", address)
        return token

    async def send_reset(
        self, admin: OfficeSession, email: str, address: str, mail: ResetMail
    ) -> None:
        """An admin mails a one-time reset link to the account's own address (never shown
        to the admin); NotFound for no such enabled account, CodeUnavailable without mail."""
        authorize(admin, Permission.MANAGE_ACCOUNTS)
        email = email.strip().lower()
        row = await office_accounts.account(self.pool, email)
        if row is None or row.disabled_at is not None:
            raise NotFound(f"no enabled account {email!r}")
        reason = unavailable_reason(self.partner.delivery, email)
        if reason is not None:
            raise CodeUnavailable(f"the reset link cannot be mailed {reason}")
        token = secrets.token_urlsafe(32)
        expires_at = datetime.now(UTC) + timedelta(minutes=RESET_MINUTES)
        await office_passwords.issue_reset(
            self.pool, token_hash(token), email, admin.user.email, expires_at
        )
        link = f"{self.partner.settings.public_url}/office/reset/{token}"
        # Said in the holder's own language when they have chosen one, the admin's otherwise:
        # the mail is theirs to read, not the admin's.
        language = row.preferred_language or admin.language
        try:
            await send_code_mail(
                self.partner.delivery, email, language, mail(language, link, row.name)
            )
        except CodeUnavailable:
            await office_passwords.withdraw_reset(self.pool, token_hash(token))
            await access_log.record(
                self.pool, admin.user.email, "send_password_reset", "not_sent", address, email
            )
            raise
        await access_log.record(
            self.pool, admin.user.email, "send_password_reset", "ok", address, email
        )

    async def reset_account(self, token: str, address: str) -> str:
        """The account a live reset link is for (the link not used); LinkUnusable otherwise,
        counted against the address (TooManyAttempts once it is full)."""
        email = await office_passwords.reset_account(self.pool, token_hash(token))
        if email is None:
            await self._unusable(address)
        return email

    async def reset(self, token: str, new: str, repeated: str, address: str) -> str:
        """Use the link once: the account's new password, every session of it ended."""
        check_new_password(new, repeated)
        if await office_passwords.reset_account(self.pool, token_hash(token)) is None:
            await self._unusable(address)
        hashed = await hash_password(new)
        email = await office_passwords.use_reset(self.pool, token_hash(token), hashed)
        if email is None:  # used meanwhile by a parallel request
            await self._unusable(address)
        await access_log.record(self.pool, email, "reset_password", "ok", address)
        return email

    async def _unusable(self, address: str) -> NoReturn:
        bucket = limits.address_bucket("office-reset-address", address)
        await limits.count_failure(self.pool, {bucket: PASSWORD_FAILURES_PER_ADDRESS})
        raise LinkUnusable(N_("this reset link has been used, has expired or was replaced"))
