"""Signing in to the office desk: the password (argon2id, checked off the event loop), then
for every role a TOTP code (set up at the first sign-in, with recovery codes); the
session that follows, its language, its end.

Attempts are counted by the one limiter of both desks (`application/limits.py`, sliding
windows in PostgreSQL), so every replica sees the same counts: a password or a code takes its
slot before it is checked (a burst of parallel guesses gets at most the budget evaluated) and
gives it back when it was right. Past five failures an account's password waits a growing
delay rather than a door shut for the window.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import asyncpg
import structlog

from application import limits
from application.errors import (
    CodeUnavailable,
    Forbidden,
    InvalidInput,
    TooManyAttempts,
    Unauthenticated,
)
from application.office import access_log, totp
from application.office.accounts import OfficeUser, list_users, password_matches, user_of
from application.office.roles import SECOND_FACTOR_ROLES, Role
from application.partner import CodeMail, PartnerDesk
from application.partner.code_mail import send_code_mail, unavailable_reason
from infra.portal_settings import token_hash
from rendering.catalogues import N_
from rendering.zones import zone_for
from schemas.errors import FieldError
from storage import office_accounts, office_sessions

log = structlog.get_logger("pacte.office")

NoticeMail = Callable[[str, str, int], CodeMail]
"""(language, the account's e-mail, failures) -> the lockout notice, in that language."""


def plain_notice_mail(language: str, email: str, failures: int) -> CodeMail:
    """The lockout notice without catalogues (English)."""
    return CodeMail(
        "Pacte: sign-ins of an office account are being delayed",
        f"{failures} wrong passwords in 15 minutes for {email}: its sign-ins now wait a "
        "growing delay. If it was not its holder, tell an administrator.\n",
    )


SESSION_COOKIE = "pacte_office"
PASSWORD_FAILURES_PER_ACCOUNT = 5
PASSWORD_FAILURES_PER_ADDRESS = 20
RECOVERY_CODES = 8


@dataclass(frozen=True)
class OfficeSession:
    """A browser's session: whose, and how far the sign-in went."""

    id_hash: bytes
    user: OfficeUser
    step: str
    language: str
    time_zone: str = "UTC"
    """The IANA zone the account reads dates in (UTC until one is chosen)."""

    @property
    def signed_in(self) -> bool:
        """Password and, where the role needs it, the second factor given."""
        return self.step == "signed_in"

    @property
    def role(self) -> Role:
        """The account's role."""
        return self.user.role


@dataclass
class SignIn:
    """Sign-in, second factor and sessions over PostgreSQL; keeps no state of its own."""

    partner: PartnerDesk
    notice_mail: NoticeMail = field(default=plain_notice_mail)
    """The lockout notice's wording (the web's catalogues give it; plain English otherwise)."""

    @property
    def pool(self) -> asyncpg.Pool:
        """The database the partner desk uses too."""
        return self.partner.pool

    def totp_key(self) -> bytes:
        """The key the accounts' TOTP secrets are sealed with."""
        return totp.totp_key(self.partner.secret)

    async def sign_in(self, email: str, password: str, address: str) -> tuple[str, OfficeSession]:
        """Check the password (five failures per account, then a doubling delay: TooManyAttempts
        meanwhile); a session follows, waiting for the second factor where the role needs one.

        Credential-first: an account's password is limited by the account's own budget, never
        by other people's failures from the same address (an office behind one NAT). The
        address's budget holds what cannot be tied to an account: guesses at e-mail addresses
        that have none (reserved before their dummy check, so they are bounded), and wrong
        passwords of real accounts (counted after the check). Once it is full, any wrong
        password from it is answered as too many, a right one still signs in."""
        email = email.strip().lower()
        account_bucket = f"office-account:{token_hash(email).hex()[:32]}"
        address_bucket = limits.address_bucket("office-address", address)
        row = await office_accounts.account(self.pool, email)
        known = row is not None and row.disabled_at is None
        # Unknown e-mail addresses have an account bucket too: their delays look the same.
        buckets: dict[str, int | limits.Budget] = {
            account_bucket: limits.Budget(PASSWORD_FAILURES_PER_ACCOUNT, growing=True)
        }
        if not known:
            buckets[address_bucket] = PASSWORD_FAILURES_PER_ADDRESS
        try:
            reservation = await limits.reserve(self.pool, buckets)
        except TooManyAttempts:
            await access_log.record(self.pool, email, "sign_in", "rate_limited", address)
            raise
        # An unknown account costs the same argon2 verification as a known one.
        checked = await password_matches(row.password_hash if row else None, password)
        if row is None or not known or not checked:
            await access_log.record(self.pool, email, "sign_in", "refused", address)
            if known:
                await self._notice_if_delayed(email, account_bucket)
                await limits.count_failure(
                    self.pool, {address_bucket: PASSWORD_FAILURES_PER_ADDRESS}
                )
            raise Unauthenticated("wrong e-mail or password")
        await limits.forgive(self.pool, reservation)
        user = user_of(row)
        if user.role in SECOND_FACTOR_ROLES:
            step = "second_factor" if user.enrolled else "enrol"
        else:
            step = "signed_in"
        token = secrets.token_urlsafe(32)
        now = datetime.now(UTC)
        settings = self.partner.settings
        await office_sessions.open_session(
            self.pool,
            token_hash(token),
            email,
            step,
            now,
            now + timedelta(hours=settings.session_max_hours),
        )
        outcome = "password_ok" if step != "signed_in" else "ok"
        await access_log.record(self.pool, email, "sign_in", outcome, address)
        return token, OfficeSession(token_hash(token), user, step, "fr")

    async def _notice_if_delayed(self, email: str, account_bucket: str) -> None:
        """When this failure starts the account's delay, mail its holder and the admins
        (once per window: the notice has a bucket of one)."""
        if await limits.failures(self.pool, account_bucket) < PASSWORD_FAILURES_PER_ACCOUNT:
            return
        try:
            await limits.reserve(self.pool, {f"office-notice:{account_bucket}": 1})
        except TooManyAttempts:
            return  # noticed already within the window
        delivery = self.partner.delivery
        admins = [u.email for u in await list_users(self.pool) if u.role is Role.ADMIN]
        for address in dict.fromkeys([email, *admins]):
            if unavailable_reason(delivery, address) is not None:
                log.warning("office: lockout notice not mailed (no mail server)", account=email)
                return
            mail = self.notice_mail("fr", email, PASSWORD_FAILURES_PER_ACCOUNT)
            try:
                await send_code_mail(delivery, address, "fr", mail)
            except CodeUnavailable:
                log.warning("office: lockout notice not mailed", account=email, to=address)

    async def session(self, token: str | None) -> OfficeSession:
        """The live session of this cookie (any step); idle or past its lifetime, over."""
        if not token:
            raise Unauthenticated("not signed in")
        now = datetime.now(UTC)
        idle = timedelta(minutes=self.partner.settings.session_idle_minutes)
        row = await office_sessions.touch_session(self.pool, token_hash(token), now, now - idle)
        if row is None:
            raise Unauthenticated("your session has ended: sign in again")
        return OfficeSession(
            row.id_hash,
            user_of(row.account),
            row.step,
            row.language,
            zone_for(row.account.time_zone, None)[0],
        )

    async def set_language(self, session: OfficeSession, language: str) -> None:
        """The desk in another language."""
        await office_sessions.set_language(self.pool, session.id_hash, language)

    async def sign_out(self, session: OfficeSession, address: str) -> None:
        """End the session."""
        await office_sessions.end_session(self.pool, session.id_hash)
        await access_log.record(self.pool, session.user.email, "sign_out", "ok", address)

    # --- second factor ------------------------------------------------------------------

    async def enrolment(self, session: OfficeSession) -> tuple[str, str]:
        """The TOTP secret being set up and its otpauth URI (shown as text: no script)."""
        if session.step != "enrol":
            raise Forbidden(N_("the second factor is already set up"))
        found = await totp.enrolment_secret(self.pool, self.totp_key(), session.user.email)
        if found is None:
            raise Forbidden(N_("the second factor cannot be set up: ask an administrator"))
        return found

    async def confirm_enrolment(
        self, session: OfficeSession, code: str, address: str
    ) -> tuple[str, list[str]]:
        """A first code proves the authenticator holds the secret; returns the session's new
        cookie and the recovery codes, shown once and stored as SHA-256."""
        if session.step != "enrol":
            raise Forbidden(N_("the second factor is already set up"))
        reservation = await self._second_factor_limits(session)
        if not await totp.code_ok(self.pool, self.totp_key(), session.user.email, code):
            await self._second_factor_failed(session, address)
            raise InvalidInput("code: wrong code", [FieldError("code", "wrong code")])
        await limits.forgive(self.pool, reservation)
        codes = [secrets.token_hex(10) for _ in range(RECOVERY_CODES)]
        async with self.pool.acquire() as connection, connection.transaction():
            await office_accounts.mark_enrolled(
                connection, session.user.email, [token_hash(c) for c in codes]
            )
            token = await self._signed_in(connection, session)
        await access_log.record(self.pool, session.user.email, "enrol_second_factor", "ok", address)
        return token, codes

    async def second_factor(self, session: OfficeSession, code: str, address: str) -> str:
        """A TOTP code (each time-step once) or a recovery code (each once) ends the sign-in;
        returns the session's new cookie."""
        if session.step != "second_factor":
            raise Forbidden(N_("no second factor is owed by this session"))
        reservation = await self._second_factor_limits(session)
        code = code.strip().replace(" ", "")
        ok = await totp.code_ok(self.pool, self.totp_key(), session.user.email, code)
        method = "totp"
        if not ok and len(code) == 20:
            ok = await office_accounts.use_recovery_code(
                self.pool, session.user.email, token_hash(code.lower())
            )
            method = "recovery_code"
        if not ok:
            await self._second_factor_failed(session, address)
            raise InvalidInput(
                "code: wrong or already used code", [FieldError("code", "wrong code")]
            )
        await limits.forgive(self.pool, reservation)
        async with self.pool.acquire() as connection:
            token = await self._signed_in(connection, session)
        await access_log.record(self.pool, session.user.email, "sign_in", f"ok ({method})", address)
        return token

    async def _signed_in(self, connection: asyncpg.Connection, session: OfficeSession) -> str:
        # A new cookie once signed in: a session id seen before the second factor (on a
        # shared machine, in a proxy's log) is worth nothing after it.
        token = secrets.token_urlsafe(32)
        await office_sessions.promote_session(connection, session.id_hash, token_hash(token))
        return token

    async def _second_factor_limits(self, session: OfficeSession) -> limits.Reservation:
        # Only someone past the password reaches this: the account's code bucket is reserved
        # before the code is checked (a burst gets at most five evaluated); the address counts
        # only wrong codes, so it never refuses a right one.
        account = f"office-code:{token_hash(session.user.email).hex()[:32]}"
        return await limits.reserve(self.pool, {account: PASSWORD_FAILURES_PER_ACCOUNT})

    async def _second_factor_failed(self, session: OfficeSession, address: str) -> None:
        await access_log.record(self.pool, session.user.email, "second_factor", "refused", address)
        bucket = limits.address_bucket("office-code-address", address)
        await limits.count_failure(self.pool, {bucket: PASSWORD_FAILURES_PER_ADDRESS})
