"""The office desk's rules: who signs in (password, then a TOTP code), which role may do
what, the portfolio's figures, and the officers' actions with the signed-in officer as actor.

The routes (web/office.py) only translate HTTP. Accounts, sessions, recovery codes and the
access log are in PostgreSQL (migration 006); failed sign-ins are counted by the partner
desk's limiter (`partner_failures`), so every replica sees the same counts.
"""

from __future__ import annotations

import hmac
import json
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any

import asyncpg
import pyotp
import structlog
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from temporalio.client import Client
from temporalio.service import RPCError

from activities.milestones import recorded_timeline
from activities.read_model import record_convention_file
from application.conventions import (
    AnswerRefused,
    ConventionAlreadyStarted,
    ConventionNotFound,
    ConventionUnreadable,
    ParentUnknown,
    answer_task,
    build_answer,
    convention_status,
    postpone_deadline,
    reassign_task,
    start_convention,
    terminate_convention,
)
from application.errors import (
    Forbidden,
    HistoryUnavailable,
    InvalidInput,
    NotFound,
    Refused,
    TooManyAttempts,
    Unauthenticated,
)
from application.partner_desk import PartnerDesk
from auditing.archive_source import CombinedHistories
from auditing.histories import ConventionHistory, HistoryNotFound, TemporalHistories
from infra.portal_settings import derived_key, token_hash
from infra.settings import SettingsError, load_archive_settings
from records.archive_store import ArchiveDamaged, ArchiveUnavailable, open_archive
from schemas.actors import AuthMethod, Principal, PrincipalKind
from schemas.contract import workflow_id_for
from schemas.convention import Convention
from schemas.convention_file import parse_document, parse_model
from schemas.errors import FieldError, InputError
from schemas.officer_actions import PostponeDeadline, ReassignTask, TerminateConvention
from schemas.status import ConventionInput, ConventionStatus

SESSION_COOKIE = "pacte_office"
TIMELINE_SHOWN = 500
"""Milestones on a convention's page, the latest; the auditors' timeline has them all."""
PASSWORD_FAILURES_PER_ACCOUNT = 5
PASSWORD_FAILURES_PER_ADDRESS = 20
RECOVERY_CODES = 8
UPLOAD_MAX_BYTES = 512_000
"""A convention file over this size is refused before it is parsed: the schema bounds the
whole file at 256 KiB as validated JSON; twice that leaves room for YAML's indentation and
comments."""
UPLOAD_MAX_NODES = 50_000
"""A YAML document that expands (aliases) past this many nodes is refused: a bomb."""
ISSUER = "Pacte office"
_hasher = PasswordHasher()  # argon2id, the library's RFC 9106 low-memory profile
_DUMMY = _hasher.hash(secrets.token_urlsafe(16))
log = structlog.get_logger("pacte.office")


class Role(StrEnum):
    """What an office account may do."""

    OFFICER = "officer"
    AUDITOR = "auditor"
    ADMIN = "admin"


class Permission(StrEnum):
    """One thing a route does; each route of the desk declares exactly one."""

    READ_PORTFOLIO = "read_portfolio"
    ACT = "act"
    START = "start"
    AUDIT = "audit"
    READ_ACCESS_LOG = "read_access_log"


PERMISSIONS: dict[Permission, frozenset[Role]] = {
    Permission.READ_PORTFOLIO: frozenset({Role.OFFICER, Role.AUDITOR}),
    Permission.ACT: frozenset({Role.OFFICER}),
    Permission.START: frozenset({Role.OFFICER}),
    Permission.AUDIT: frozenset({Role.AUDITOR}),
    Permission.READ_ACCESS_LOG: frozenset({Role.ADMIN}),
}
SECOND_FACTOR_ROLES = frozenset({Role.OFFICER, Role.ADMIN})


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


@dataclass(frozen=True)
class OfficeSession:
    """A browser's session: whose, and how far the sign-in went."""

    id_hash: bytes
    user: OfficeUser
    step: str
    language: str

    @property
    def signed_in(self) -> bool:
        """Password and, where the role needs it, the second factor given."""
        return self.step == "signed_in"


def _user(row: Any) -> OfficeUser:
    return OfficeUser(
        email=row["email"],
        name=row["name"],
        role=Role(row["role"]),
        enrolled=row["totp_enrolled_at"] is not None,
        created_at=row["created_at"],
        disabled_at=row["disabled_at"],
    )


# --- TOTP secrets, sealed at rest (migration 007) -------------------------------------------

_TOTP_NONCE_BYTES = 12
_TOTP_AAD = b"pacte-office-totp/v1:"


def totp_key(link_secret: bytes) -> bytes:
    """The AES-256 key TOTP secrets are sealed with: derived from the deployment's link
    secret (which every portal replica holds), for this purpose only."""
    return derived_key(link_secret, "office-totp")


def seal_totp_secret(key: bytes, email: str, secret: str) -> bytes:
    """AES-256-GCM of the base32 secret: a fresh 12-byte nonce, then the ciphertext; the
    account's e-mail is the associated data, so a value copied to another account fails."""
    nonce = secrets.token_bytes(_TOTP_NONCE_BYTES)
    return nonce + AESGCM(key).encrypt(nonce, secret.encode("ascii"), _TOTP_AAD + email.encode())


def open_totp_secret(key: bytes, email: str, sealed: bytes) -> str | None:
    """The base32 secret, or None when it does not open (another key: the link secret was
    changed; or a value moved from another account). Never logs the secret."""
    nonce, body = sealed[:_TOTP_NONCE_BYTES], sealed[_TOTP_NONCE_BYTES:]
    try:
        plain = AESGCM(key).decrypt(nonce, body, _TOTP_AAD + email.encode())
    except (InvalidTag, ValueError):
        log.error("office: a TOTP secret does not open with this deployment's key", email=email)
        return None
    return plain.decode("ascii")


async def seal_legacy_totp_secrets(pool: asyncpg.Pool, key: bytes) -> int:
    """Seal every secret still in clear (written before migration 007); returns how many.
    `portal.py` calls it at start; the desk also seals one when it first reads it."""
    rows = await pool.fetch(
        "SELECT email, totp_secret_legacy FROM office_users"
        " WHERE totp_secret_legacy IS NOT NULL AND totp_sealed IS NULL"
    )
    for row in rows:
        await _seal_legacy(pool, key, row["email"], row["totp_secret_legacy"])
    return len(rows)


async def _seal_legacy(pool: asyncpg.Pool, key: bytes, email: str, clear: str) -> None:
    await pool.execute(
        "UPDATE office_users SET totp_sealed = $2, totp_secret_legacy = NULL"
        " WHERE email = $1 AND totp_sealed IS NULL AND totp_secret_legacy = $3",
        email,
        seal_totp_secret(key, email, clear),
        clear,
    )


# --- accounts (starter.py users) ------------------------------------------------------------


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
        row = await pool.fetchrow(
            "INSERT INTO office_users (email, name, role, password_hash) VALUES ($1, $2, $3, $4)"
            " RETURNING *",
            email.lower(),
            name,
            role,
            _hasher.hash(password),
        )
    except asyncpg.UniqueViolationError as error:
        raise UserError(f"email: an account {email!r} already exists") from error
    return _user(row)


async def list_users(pool: asyncpg.Pool) -> list[OfficeUser]:
    """Every account, by e-mail; never a secret."""
    return [_user(r) for r in await pool.fetch("SELECT * FROM office_users ORDER BY email")]


async def disable_user(pool: asyncpg.Pool, email: str) -> OfficeUser:
    """The account signs in no more, and its sessions end at once."""
    async with pool.acquire() as connection, connection.transaction():
        row = await connection.fetchrow(
            "UPDATE office_users SET disabled_at = coalesce(disabled_at, now())"
            " WHERE email = $1 RETURNING *",
            email.lower(),
        )
        if row is None:
            raise UserError(f"email: no account {email!r}")
        await connection.execute(
            "UPDATE office_sessions SET ended_at = now() WHERE email = $1 AND ended_at IS NULL",
            email.lower(),
        )
    return _user(row)


async def reset_second_factor(pool: asyncpg.Pool, email: str) -> OfficeUser:
    """An officer who lost the authenticator (or after the link secret changed): the secret
    and the recovery codes are forgotten, the sessions end, and the next sign-in with the
    password sets a new authenticator up."""
    async with pool.acquire() as connection, connection.transaction():
        row = await connection.fetchrow(
            "UPDATE office_users SET totp_sealed = NULL, totp_secret_legacy = NULL,"
            " totp_enrolled_at = NULL, totp_last_step = NULL WHERE email = $1 RETURNING *",
            email.lower(),
        )
        if row is None:
            raise UserError(f"email: no account {email!r}")
        await connection.execute("DELETE FROM office_recovery_codes WHERE email = $1", row["email"])
        await connection.execute(
            "UPDATE office_sessions SET ended_at = now() WHERE email = $1 AND ended_at IS NULL",
            row["email"],
        )
    return _user(row)


# --- the desk -------------------------------------------------------------------------------


@dataclass
class OfficeDesk:
    """The office-facing service over Temporal and PostgreSQL; keeps no state of its own."""

    partner: PartnerDesk
    task_queue: str

    @property
    def pool(self) -> asyncpg.Pool:
        """The database the partner desk uses too."""
        return self.partner.pool

    @property
    def client(self) -> Client:
        """Temporal."""
        return self.partner.client

    async def history(self, convention_id: str) -> ConventionHistory:
        """Every run of a convention as `audit.py` reads it: from Temporal, then from the
        archive (PACTE_ARCHIVE_DIR, or PostgreSQL's history_archive) for the runs past
        Temporal's retention. NotFound if in neither; HistoryUnavailable if a run is lost."""
        try:
            store = open_archive(load_archive_settings(), self.pool)
            histories = CombinedHistories(TemporalHistories(self.client), store)
            return await histories.history(convention_id)
        except HistoryNotFound as error:
            raise NotFound(str(error)) from error
        except (ArchiveDamaged, ArchiveUnavailable, SettingsError) as error:
            raise HistoryUnavailable(str(error)) from error

    def csrf_key(self) -> bytes:
        """The key the office's CSRF tokens are signed with (not the partners')."""
        return derived_key(self.partner.secret, "office-csrf")

    def totp_key(self) -> bytes:
        """The key the accounts' TOTP secrets are sealed with."""
        return totp_key(self.partner.secret)

    async def _totp_secret(self, email: str) -> str | None:
        """The account's TOTP secret, opened; one still in clear (from before migration
        007) is sealed now, and its clear column emptied."""
        row = await self.pool.fetchrow(
            "SELECT totp_sealed, totp_secret_legacy FROM office_users WHERE email = $1", email
        )
        if row is None:
            return None
        if row["totp_sealed"] is not None:
            return open_totp_secret(self.totp_key(), email, row["totp_sealed"])
        clear: str | None = row["totp_secret_legacy"]
        if clear:
            await _seal_legacy(self.pool, self.totp_key(), email, clear)
        return clear

    # --- access log ---------------------------------------------------------------------

    async def log(
        self,
        email: str | None,
        action: str,
        outcome: str,
        address: str | None,
        target: str | None = None,
    ) -> None:
        """One line of the access log: who, what, on what, how it went, from where."""
        await self.pool.execute(
            "INSERT INTO office_access_log (email, action, target, outcome, address)"
            " VALUES ($1, $2, $3, $4, $5)",
            email,
            action,
            target,
            outcome,
            address,
        )

    async def access_log(self, limit: int = 200) -> list[dict[str, Any]]:
        """The latest lines, newest first."""
        rows = await self.pool.fetch(
            "SELECT at, email, action, target, outcome, address FROM office_access_log"
            " ORDER BY id DESC LIMIT $1",
            limit,
        )
        return [dict(r) for r in rows]

    # --- sign-in ------------------------------------------------------------------------

    async def sign_in(self, email: str, password: str, address: str) -> tuple[str, OfficeSession]:
        """Check the password (five failures per account, then 429); a session follows,
        waiting for the second factor where the role needs one."""
        email = email.strip().lower()
        buckets = {
            f"office-address:{address}": PASSWORD_FAILURES_PER_ADDRESS,
            f"office-account:{token_hash(email).hex()[:32]}": PASSWORD_FAILURES_PER_ACCOUNT,
        }
        try:
            await self.partner._check_limits(buckets)
        except TooManyAttempts:
            await self.log(email, "sign_in", "rate_limited", address)
            raise
        row = await self.pool.fetchrow("SELECT * FROM office_users WHERE email = $1", email)
        # An unknown account costs the same argon2 verification as a known one: the time of
        # the answer does not tell which e-mail addresses have an account.
        checked = _password_ok(row if row is not None else {"password_hash": _DUMMY}, password)
        if row is None or row["disabled_at"] is not None or not checked:
            await self.partner._record_failure(buckets)
            await self.log(email, "sign_in", "refused", address)
            raise Unauthenticated("wrong e-mail or password")
        user = _user(row)
        if user.role in SECOND_FACTOR_ROLES:
            step = "second_factor" if user.enrolled else "enrol"
        else:
            step = "signed_in"
        token = secrets.token_urlsafe(32)
        now = datetime.now(UTC)
        settings = self.partner.settings
        await self.pool.execute(
            "INSERT INTO office_sessions (id_hash, email, step, created_at, last_seen_at,"
            " expires_at) VALUES ($1, $2, $3, $4, $4, $5)",
            token_hash(token),
            email,
            step,
            now,
            now + timedelta(hours=settings.session_max_hours),
        )
        await self.log(email, "sign_in", "password_ok" if step != "signed_in" else "ok", address)
        return token, OfficeSession(token_hash(token), user, step, "fr")

    async def session(self, token: str | None) -> OfficeSession:
        """The live session of this cookie (any step); idle or past its lifetime, over."""
        if not token:
            raise Unauthenticated("not signed in")
        now = datetime.now(UTC)
        row = await self.pool.fetchrow(
            "UPDATE office_sessions AS s SET last_seen_at = $2 FROM office_users AS u"
            " WHERE s.id_hash = $1 AND s.ended_at IS NULL AND s.expires_at > $2"
            "   AND s.last_seen_at > $3 AND u.email = s.email AND u.disabled_at IS NULL"
            " RETURNING s.id_hash, s.step, s.language, u.*",
            token_hash(token),
            now,
            now - timedelta(minutes=self.partner.settings.session_idle_minutes),
        )
        if row is None:
            raise Unauthenticated("your session has ended: sign in again")
        return OfficeSession(row["id_hash"], _user(row), row["step"], row["language"])

    def authorize(self, session: OfficeSession, permission: Permission) -> None:
        """Refuse (401 before the second factor, 403 for a role without the permission)."""
        if not session.signed_in:
            raise Unauthenticated("sign-in not finished: the second factor is owed")
        if session.user.role not in PERMISSIONS[permission]:
            raise Forbidden(f"the role {session.user.role.value} may not do this")

    async def set_language(self, session: OfficeSession, language: str) -> None:
        """The desk in another language."""
        await self.pool.execute(
            "UPDATE office_sessions SET language = $2 WHERE id_hash = $1",
            session.id_hash,
            language,
        )

    async def sign_out(self, session: OfficeSession, address: str) -> None:
        """End the session."""
        await self.pool.execute(
            "UPDATE office_sessions SET ended_at = now() WHERE id_hash = $1", session.id_hash
        )
        await self.log(session.user.email, "sign_out", "ok", address)

    # --- second factor ------------------------------------------------------------------

    async def enrolment(self, session: OfficeSession) -> tuple[str, str]:
        """The TOTP secret being set up and its otpauth URI (shown as text: no script)."""
        if session.step != "enrol":
            raise Forbidden("the second factor is already set up")
        email = session.user.email
        await self._totp_secret(email)  # one from before migration 007: sealed first
        # The first secret stays (a reloaded page shows the same one), sealed.
        sealed = await self.pool.fetchval(
            "UPDATE office_users SET totp_sealed = coalesce(totp_sealed, $2)"
            " WHERE email = $1 AND totp_enrolled_at IS NULL RETURNING totp_sealed",
            email,
            seal_totp_secret(self.totp_key(), email, pyotp.random_base32()),
        )
        secret = open_totp_secret(self.totp_key(), email, sealed) if sealed else None
        if secret is None:
            raise Forbidden("the second factor cannot be set up: ask an administrator")
        uri = pyotp.TOTP(secret).provisioning_uri(name=email, issuer_name=ISSUER)
        return secret, uri

    async def confirm_enrolment(
        self, session: OfficeSession, code: str, address: str
    ) -> tuple[str, list[str]]:
        """A first code proves the authenticator holds the secret; returns the session's new
        cookie and the recovery codes, shown once and stored as SHA-256."""
        if session.step != "enrol":
            raise Forbidden("the second factor is already set up")
        await self._second_factor_limits(session, address)
        if not await self._totp_ok(session.user.email, code):
            await self._second_factor_failed(session, address)
            raise InvalidInput("code: wrong code", [FieldError("code", "wrong code")])
        codes = [secrets.token_hex(10) for _ in range(RECOVERY_CODES)]
        async with self.pool.acquire() as connection, connection.transaction():
            await connection.execute(
                "UPDATE office_users SET totp_enrolled_at = now() WHERE email = $1",
                session.user.email,
            )
            await connection.execute(
                "DELETE FROM office_recovery_codes WHERE email = $1", session.user.email
            )
            for recovery in codes:
                await connection.execute(
                    "INSERT INTO office_recovery_codes (email, code_hash) VALUES ($1, $2)",
                    session.user.email,
                    token_hash(recovery),
                )
            token = await self._signed_in(connection, session)
        await self.log(session.user.email, "enrol_second_factor", "ok", address)
        return token, codes

    async def second_factor(self, session: OfficeSession, code: str, address: str) -> str:
        """A TOTP code (each time-step once) or a recovery code (each once) ends the sign-in;
        returns the session's new cookie."""
        if session.step != "second_factor":
            raise Forbidden("no second factor is owed by this session")
        await self._second_factor_limits(session, address)
        code = code.strip().replace(" ", "")
        ok = await self._totp_ok(session.user.email, code)
        method = "totp"
        if not ok and len(code) == 20:
            used = await self.pool.fetchval(
                "UPDATE office_recovery_codes SET used_at = now()"
                " WHERE email = $1 AND code_hash = $2 AND used_at IS NULL RETURNING true",
                session.user.email,
                token_hash(code.lower()),
            )
            ok, method = bool(used), "recovery_code"
        if not ok:
            await self._second_factor_failed(session, address)
            raise InvalidInput(
                "code: wrong or already used code", [FieldError("code", "wrong code")]
            )
        async with self.pool.acquire() as connection:
            token = await self._signed_in(connection, session)
        await self.log(session.user.email, "sign_in", f"ok ({method})", address)
        return token

    async def _signed_in(self, connection: asyncpg.Connection, session: OfficeSession) -> str:
        # A new cookie once signed in: a session id seen before the second factor (on a
        # shared machine, in a proxy's log) is worth nothing after it.
        token = secrets.token_urlsafe(32)
        await connection.execute(
            "UPDATE office_sessions SET step = 'signed_in', id_hash = $2 WHERE id_hash = $1",
            session.id_hash,
            token_hash(token),
        )
        return token

    def _code_buckets(self, session: OfficeSession, address: str) -> dict[str, int]:
        return {
            f"office-address:{address}": PASSWORD_FAILURES_PER_ADDRESS,
            f"office-code:{token_hash(session.user.email).hex()[:32]}": (
                PASSWORD_FAILURES_PER_ACCOUNT
            ),
        }

    async def _second_factor_limits(self, session: OfficeSession, address: str) -> None:
        await self.partner._check_limits(self._code_buckets(session, address))

    async def _second_factor_failed(self, session: OfficeSession, address: str) -> None:
        await self.partner._record_failure(self._code_buckets(session, address))
        await self.log(session.user.email, "second_factor", "refused", address)

    async def _totp_ok(self, email: str, code: str) -> bool:
        """A code of the current time-step or its neighbours, never of a step used before:
        the step is claimed atomically, so a code replayed (or raced) is refused."""
        secret = await self._totp_secret(email)
        if not secret or not code.isdigit():
            return False
        totp = pyotp.TOTP(secret)
        now_step = int(time.time()) // totp.interval
        for step in (now_step - 1, now_step, now_step + 1):
            if hmac.compare_digest(totp.at(step * totp.interval), code):
                claimed = await self.pool.fetchval(
                    "UPDATE office_users SET totp_last_step = $2 WHERE email = $1"
                    " AND (totp_last_step IS NULL OR totp_last_step < $2) RETURNING true",
                    email,
                    step,
                )
                return bool(claimed)
        return False

    # --- the portfolio ------------------------------------------------------------------

    async def portfolio(self) -> dict[str, list[dict[str, Any]]]:
        """Every table of the portfolio, from the read model (the same for `starter.py report`)."""
        await backfill_convention_files(self.pool, self.client)
        return await portfolio(self.pool)

    async def portfolio_page(
        self, tables: tuple[str, ...] | None = None, *, backfill: bool = True
    ) -> PortfolioPage:
        """The page's share of the portfolio (see PAGE_ROWS), every table or those named;
        a chart, which follows its page, leaves the backfill to the page."""
        if backfill:
            await backfill_convention_files(self.pool, self.client)
        return await portfolio_page(self.pool, tables or PORTFOLIO_TABLES)

    # --- a convention -------------------------------------------------------------------

    async def convention_page(self, convention_id: str) -> dict[str, Any]:
        """What the convention's page shows: the workflow's status, the read model's row,
        its linked conventions, its deliveries."""
        row = await self.pool.fetchrow("SELECT * FROM conventions WHERE id = $1", convention_id)
        try:
            status: ConventionStatus | None = await convention_status(
                self.client, convention_id, rpc_timeout=timedelta(seconds=10)
            )
        except ConventionNotFound as error:
            if row is None:
                raise NotFound(f"no convention {convention_id!r}") from error
            status = None
        except ConventionUnreadable:
            status = None
        children = await self.pool.fetch(
            "SELECT id, title, stage, state FROM conventions WHERE parent = $1 ORDER BY id",
            convention_id,
        )
        deliveries = await self.pool.fetch(
            "SELECT d.notification_id, d.channel, d.party, d.status, d.attempts,"
            " d.last_detail, d.updated_at FROM deliveries AS d"
            " JOIN notifications AS n ON n.id = d.notification_id"
            " WHERE n.convention_id = $1 ORDER BY d.updated_at DESC LIMIT 200",
            convention_id,
        )
        archived = await self.pool.fetchval(
            "SELECT count(*) FROM history_archive WHERE convention_id = $1", convention_id
        )
        # The timeline is PostgreSQL's (the workflow keeps only its latest milestones).
        recorded = await recorded_timeline(self.pool, convention_id, last=TIMELINE_SHOWN)
        timeline = recorded.with_unwritten(status.milestones if status is not None else [])
        return {
            "timeline": timeline.milestones[-TIMELINE_SHOWN:],
            "timeline_total": timeline.total,
            "row": dict(row) if row else None,
            "status": status,
            "children": [dict(c) for c in children],
            "deliveries": [dict(d) for d in deliveries],
            "archived_runs": archived,
        }

    # --- officers' actions, the signed-in officer as actor ------------------------------

    def _officer(self, session: OfficeSession) -> str:
        self.authorize(session, Permission.ACT)
        return f"{session.user.name} <{session.user.email}>"[:200]

    async def _act(
        self, session: OfficeSession, action: str, target: str, address: str, call: Any
    ) -> Any:
        try:
            result = await call
        except (AnswerRefused, ConventionNotFound, ConventionUnreadable) as error:
            await self.log(session.user.email, action, "refused", address, target)
            raise Refused(str(error)) from error
        await self.log(session.user.email, action, "ok", address, target)
        return result

    async def postpone(
        self,
        session: OfficeSession,
        convention_id: str,
        task_id: str,
        new_due: str,
        reason: str,
        address: str,
    ) -> Any:
        """Move a task's due date later, in the officer's name."""
        officer = self._officer(session)
        try:
            day = date.fromisoformat(new_due)
        except ValueError as error:
            raise InvalidInput(
                "to: not a date", [FieldError("to", "expected a date, YYYY-MM-DD")]
            ) from error
        request = _validated(
            PostponeDeadline,
            {
                "task_id": task_id,
                "new_due_at": datetime(day.year, day.month, day.day, 23, 59, tzinfo=UTC),
                "reason": reason,
                "officer": officer,
            },
        )
        return await self._act(
            session,
            "postpone",
            f"{convention_id}/{task_id}",
            address,
            postpone_deadline(self.client, convention_id, request, rpc_timeout=_RPC),
        )

    async def reassign(
        self,
        session: OfficeSession,
        convention_id: str,
        task_id: str,
        contact: str,
        reason: str,
        address: str,
    ) -> Any:
        """Give a task to another contact of its party, in the officer's name."""
        officer = self._officer(session)
        request = _validated(
            ReassignTask,
            {"task_id": task_id, "contact": contact, "reason": reason, "officer": officer},
        )
        return await self._act(
            session,
            "reassign",
            f"{convention_id}/{task_id}",
            address,
            reassign_task(self.client, convention_id, request, rpc_timeout=_RPC),
        )

    async def terminate(
        self, session: OfficeSession, convention_id: str, reason: str, address: str
    ) -> Any:
        """End the convention, in the officer's name (the workflow's own update)."""
        officer = self._officer(session)
        request = _validated(TerminateConvention, {"reason": reason, "officer": officer})
        return await self._act(
            session,
            "terminate",
            convention_id,
            address,
            terminate_convention(self.client, convention_id, request, rpc_timeout=_RPC),
        )

    async def answer_on_behalf(
        self,
        session: OfficeSession,
        convention_id: str,
        task_id: str,
        fields: dict[str, Any],
        address: str,
    ) -> Any:
        """Answer a task for the party that owes it (or the office's own task, such as
        fix_delivery's retry or dismiss), proven as `officer_on_behalf` by this officer."""
        self._officer(session)
        try:
            status = await convention_status(self.client, convention_id, rpc_timeout=_RPC)
        except (ConventionNotFound, ConventionUnreadable) as error:
            raise Refused(str(error)) from error
        task = next((t for t in status.open_tasks if t.id == task_id), None)
        if task is None:
            raise Refused(f"task_id: task {task_id!r} is not open")
        principal = Principal(
            kind=PrincipalKind.OFFICER,
            id=session.user.email,
            name=session.user.name,
            party=task.assignee,
            method=AuthMethod.OFFICER_ON_BEHALF,
            request_id=secrets.token_hex(8),
        )
        try:
            request = build_answer(task, task.assignee, fields, session.user.name, principal)
        except InputError as error:
            raise InvalidInput(str(error), error.errors) from error
        return await self._act(
            session,
            "answer_on_behalf",
            f"{convention_id}/{task_id}",
            address,
            answer_task(self.client, convention_id, request, rpc_timeout=_RPC),
        )

    # --- starting from the browser ------------------------------------------------------

    def read_upload(self, data: bytes, filename: str) -> Convention:
        """The uploaded file, validated as `starter.py validate` does: every error by field."""
        source = filename or "upload"
        if len(data) > UPLOAD_MAX_BYTES:
            raise InvalidInput(
                "file too large",
                [FieldError("", f"{source}: larger than {UPLOAD_MAX_BYTES} bytes")],
            )
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as error:
            raise InvalidInput(
                "not UTF-8", [FieldError("", f"{source}: not UTF-8 text")]
            ) from error
        try:
            document = parse_document(text, source, as_json=source.endswith(".json"))
            if _nodes(document) > UPLOAD_MAX_NODES:
                raise InputError(
                    source, [FieldError("", f"{source}: more than {UPLOAD_MAX_NODES} values")]
                )
            return parse_model(Convention, document, source)
        except InputError as error:
            raise InvalidInput(str(error), error.errors) from error

    async def start(self, session: OfficeSession, convention: Convention, address: str) -> str:
        """Start it, refused like the CLI for an id used before."""
        self.authorize(session, Permission.START)
        try:
            workflow_id = await start_convention(
                self.client,
                convention,
                self.task_queue,
                milestones=self.pool,
                require_parent=False,
            )
        except (ConventionAlreadyStarted, ParentUnknown) as error:
            await self.log(session.user.email, "start", "refused", address, convention.id)
            raise Refused(str(error)) from error
        await self.log(session.user.email, "start", "ok", address, convention.id)
        return workflow_id


_RPC = timedelta(seconds=15)


def _password_ok(row: Any, password: str) -> bool:
    try:
        return bool(_hasher.verify(row["password_hash"], password))
    except (VerificationError, InvalidHashError):
        return False


def _validated(model: Any, data: dict[str, Any]) -> Any:
    try:
        return parse_model(model, data, model.__name__)
    except InputError as error:
        raise InvalidInput(str(error), error.errors) from error


def _nodes(value: Any, limit: int = UPLOAD_MAX_NODES) -> int:
    """How many values a parsed document holds, counting each alias's expansion; stops
    counting past the limit, so a billion laughs costs a bounded walk."""
    count, stack = 0, [value]
    while stack and count <= limit:
        item = stack.pop()
        count += 1
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return count


# --- the portfolio's queries (the desk's pages and `starter.py report`) --------------------

_WITHOUT_FILE = """
SELECT c.id FROM conventions AS c
WHERE NOT EXISTS (SELECT 1 FROM convention_files AS f WHERE f.convention_id = c.id)
ORDER BY c.updated_at DESC LIMIT $1
"""
BACKFILL_PER_LOAD = 20


async def backfill_convention_files(
    pool: asyncpg.Pool, client: Client, limit: int = BACKFILL_PER_LOAD
) -> int:
    """Record the file of conventions started without one (by the demo, by a diagnostic's
    follow-up, before migration 006) from their workflow's start event; a few per call.
    Returns how many were recorded."""
    recorded = 0
    for row in await pool.fetch(_WITHOUT_FILE, limit):
        try:
            handle = client.get_workflow_handle(workflow_id_for(row["id"]))
            async for event in handle.fetch_history_events():
                started = event.workflow_execution_started_event_attributes
                [given] = await client.data_converter.decode(
                    started.input.payloads, [ConventionInput]
                )
                break
            else:
                continue
        except (RPCError, ValueError, TypeError):
            continue  # gone from Temporal (retention) or unreadable here: stays without
        if isinstance(given, ConventionInput):
            await record_convention_file(pool, given.convention)
            recorded += 1
    return recorded


# Each table: its query without its order, and its order (names of its own columns, so
# that the same order applies inside and around the query).
_QUERIES: dict[str, tuple[str, str]] = {
    "stages": (
        """
SELECT coalesce(stage, '-') AS stage, coalesce(kind, '-') AS kind, state, count(*) AS conventions
FROM conventions GROUP BY 1, 2, 3""",
        "1, 2, 3",
    ),
    "countries": (
        """
SELECT country, coalesce(sector, '-') AS sector, count(*) AS conventions
FROM conventions, unnest(CASE WHEN countries = '{}' THEN ARRAY['-'] ELSE countries END)
     AS country
GROUP BY 1, 2""",
        "1, 2",
    ),
    "overdue": (
        """
SELECT t.convention_id, t.task_id, t.party,
       (SELECT contact ->> 'name'
          FROM convention_files AS f,
               jsonb_array_elements(f.document -> 'parties') AS p,
               jsonb_array_elements(p -> 'contacts') AS contact
         WHERE f.convention_id = t.convention_id AND p ->> 'id' = t.party LIMIT 1) AS contact,
       t.due_at, (current_date - t.due_at::date) AS days_late, t.escalated
FROM office_tasks AS t JOIN conventions AS c ON c.id = t.convention_id
WHERE t.state = 'open' AND t.due_at < now() AND c.state = 'active'""",
        "due_at, convention_id, task_id",
    ),
    "funding": (
        """
WITH amounts AS (
    SELECT funder, currency, requested, decision, NULL::numeric AS granted
    FROM conventions WHERE funder IS NOT NULL AND currency IS NOT NULL
    UNION ALL
    SELECT funder, granted_currency, NULL, NULL, granted
    FROM conventions WHERE funder IS NOT NULL AND granted IS NOT NULL
)
SELECT funder, currency,
       coalesce(sum(requested), 0) AS requested,
       coalesce(sum(granted), 0) AS granted,
       coalesce(sum(requested) FILTER (
           WHERE decision IS NULL OR decision IN ('pending', 'more_information')), 0) AS pending,
       coalesce(sum(requested) FILTER (WHERE decision = 'reject'), 0) AS rejected
FROM amounts GROUP BY funder, currency""",
        "funder, currency",
    ),
    "indicators": (
        """
SELECT c.id AS convention_id, target.key AS indicator, target.value::numeric AS target,
       coalesce((c.actuals ->> target.key)::numeric, 0) AS actual
FROM conventions AS c, jsonb_each_text(c.targets) AS target""",
        "1, 2",
    ),
    "spend": (
        """
SELECT id AS convention_id, coalesce(budget_currency, spent_currency) AS currency,
       coalesce(spent, 0) AS spent, budget
FROM conventions WHERE spent IS NOT NULL OR budget IS NOT NULL""",
        "1",
    ),
    "cohorts": (
        """
SELECT c.id AS convention_id,
       coalesce(sum((cohort.value ->> 'enrolled')::int), 0) AS enrolled,
       coalesce(sum((cohort.value ->> 'completed')::int), 0) AS completed,
       coalesce(sum((cohort.value ->> 'certified')::int), 0) AS certified
FROM conventions AS c, jsonb_each(c.cohorts) AS cohort
GROUP BY c.id""",
        "convention_id",
    ),
}
PORTFOLIO_TABLES = ("stages", "countries", "overdue", "funding", "indicators", "spend", "cohorts")
PER_CONVENTION_TABLES = frozenset({"overdue", "indicators", "spend", "cohorts"})
"""The tables with a row per convention (or per task): they grow with the portfolio, where
the others have a row per stage, country, funder and currency."""
PAGE_ROWS = 50
"""The office's page and its charts show the first PAGE_ROWS rows of each per-convention
table (in the table's own order: the overdue tasks latest first); the CSV, the JSON and
`starter.py report` have every row. At 10,000 conventions the indicators alone are some
16,000 rows: as one page (4.5 MB of HTML) and one chart they were unreadable and slow."""
_TOTAL = "pacte_total_rows"


def portfolio_query(table: str, *, limited: bool = False) -> str:
    """One table's query; `limited`: its first $1 rows, each with the count of all of
    them (a window over the whole query, column `pacte_total_rows`)."""
    body, order = _QUERIES[table]
    if not limited:
        return f"{body}\nORDER BY {order}"
    return (
        f"SELECT *, count(*) OVER () AS {_TOTAL} FROM ({body}\n) AS whole\n"
        f"ORDER BY {order}\nLIMIT $1"
    )


@dataclass(frozen=True)
class PortfolioPage:
    """What the office's page shows: each table's first rows, and how many it has."""

    tables: dict[str, list[dict[str, Any]]]
    totals: dict[str, int]


def _plain(rows: list[dict[str, Any]], table: str) -> list[dict[str, Any]]:
    for row in rows:
        for column, value in row.items():
            if isinstance(value, Decimal):
                # asyncpg decodes numeric 40000000 as 4.000E+7: shown as plain digits.
                row[column] = Decimal(format(value, "f"))
    if table == "cohorts":
        for row in rows:
            row["pass_rate"] = (
                round(row["certified"] / row["completed"], 3) if row["completed"] else None
            )
    return rows


async def portfolio(
    pool: asyncpg.Pool, tables: tuple[str, ...] = PORTFOLIO_TABLES
) -> dict[str, list[dict[str, Any]]]:
    """Every row of every table (or of those named), each from one query of the read model."""
    return {
        name: _plain([dict(row) for row in await pool.fetch(portfolio_query(name))], name)
        for name in tables
    }


async def portfolio_page(
    pool: asyncpg.Pool, tables: tuple[str, ...] = PORTFOLIO_TABLES, rows: int = PAGE_ROWS
) -> PortfolioPage:
    """The page's share of the portfolio: every row of the tables per stage, country and
    funder; the first `rows` of the per-convention ones, with their count."""
    shown: dict[str, list[dict[str, Any]]] = {}
    totals: dict[str, int] = {}
    for name in tables:
        if name not in PER_CONVENTION_TABLES:
            shown[name] = (await portfolio(pool, (name,)))[name]
            totals[name] = len(shown[name])
            continue
        fetched = [dict(row) for row in await pool.fetch(portfolio_query(name, limited=True), rows)]
        totals[name] = fetched[0][_TOTAL] if fetched else 0
        for row in fetched:
            del row[_TOTAL]
        shown[name] = _plain(fetched, name)
    return PortfolioPage(shown, totals)


def portfolio_json(tables: dict[str, list[dict[str, Any]]]) -> str:
    """The portfolio as JSON (amounts as strings, never summed across currencies)."""
    return json.dumps(tables, default=str, ensure_ascii=False, indent=2)


def table_csv(rows: list[dict[str, Any]]) -> str:
    """Rows as CSV, a header line first (amounts as written, never summed across currencies).

    Written by the one CSV writer (records/csv_writer.py): every text cell quoted, and any
    formula a spreadsheet could see in it (a party or contact name comes from a convention
    file) neutralised with a `'`."""
    from records.csv_writer import write_dict_csv

    return write_dict_csv(rows)


def _inert(value: Any) -> Any:
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value
