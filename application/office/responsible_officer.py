"""The convention's responsible officer on the office desk (issue 23, item 5): who it is now,
who may change it (an admin, or the responsible officer themself), and the change, sent as
the workflow's `change_officer` update in the signed-in account's name and written to the
access log, done or refused.

The new officer is an office account (picked by address) or a person typed by name and
address. What the desk can check before asking the workflow (a field left empty, an address
that is none, an account the desk does not know) is refused here, each field named; what
only the workflow knows (the same officer, a convention that has ended) is its typed
refusal."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import asyncpg
from temporalio.client import Client

from application.conventions import (
    ConventionNotFound,
    ConventionUnreadable,
    change_officer,
    convention_status,
)
from application.errors import Forbidden, InvalidInput, NotFound, Refused
from application.office import access_log
from application.office.roles import Permission, Role, authorize
from application.office.signin import OfficeSession
from rendering.catalogues import N_
from schemas.convention import Officer
from schemas.convention_file import parse_model
from schemas.errors import FieldError, InputError
from schemas.officer_actions import ChangeOfficer, OfficerReceipt
from schemas.status import ConventionState, ConventionStatus
from storage import office_accounts

RPC_TIMEOUT = timedelta(seconds=15)
ACCESS_ACTION = "change_officer"


@dataclass(frozen=True)
class OfficerChoice:
    """An office account the new officer may be picked from."""

    email: str
    name: str


@dataclass(frozen=True)
class ResponsibleOfficer:
    """What the page shows: the convention, its responsible officer now, whether it still
    runs, and the accounts to pick from."""

    convention_id: str
    title: str
    officer: Officer | None
    active: bool
    choices: list[OfficerChoice]


async def may_change(client: Client, session: OfficeSession, convention_id: str) -> bool:
    """Whether this reader may change the convention's responsible officer: an admin, or
    the responsible officer now (by address); never before the sign-in is finished."""
    if not session.signed_in or session.role not in (Role.ADMIN, Role.OFFICER):
        return False
    if session.role is Role.ADMIN:
        return True
    try:
        status = await convention_status(client, convention_id, rpc_timeout=RPC_TIMEOUT)
    except (ConventionNotFound, ConventionUnreadable):
        return False
    return _is_responsible(session, status)


def _is_responsible(session: OfficeSession, status: ConventionStatus) -> bool:
    officer = status.officer
    return (
        officer is not None
        and officer.email is not None
        and officer.email.lower() == session.user.email.lower()
    )


async def _status(client: Client, convention_id: str) -> ConventionStatus:
    try:
        return await convention_status(client, convention_id, rpc_timeout=RPC_TIMEOUT)
    except ConventionNotFound as error:
        raise NotFound(str(error)) from error
    except ConventionUnreadable as error:
        raise Refused(str(error)) from error


async def _require(client: Client, session: OfficeSession, convention_id: str) -> ConventionStatus:
    """The convention's status, once the reader is known to be allowed (Forbidden else)."""
    authorize(session, Permission.CHANGE_OFFICER)
    status = await _status(client, convention_id)
    if session.role is not Role.ADMIN and not _is_responsible(session, status):
        raise Forbidden(
            N_(
                "change the responsible officer: only an admin, or the convention's "
                "responsible officer, may do this"
            )
        )
    return status


async def responsible_officer(
    pool: asyncpg.Pool, client: Client, session: OfficeSession, convention_id: str
) -> ResponsibleOfficer:
    """The page's facts; Forbidden for a reader who may not change the officer."""
    status = await _require(client, session, convention_id)
    return ResponsibleOfficer(
        convention_id=convention_id,
        title=status.title,
        officer=status.officer,
        active=status.state is ConventionState.ACTIVE,
        choices=await officer_choices(pool),
    )


async def officer_choices(pool: asyncpg.Pool) -> list[OfficerChoice]:
    """The office's active officer accounts, by name: whom the form offers."""
    choices = [
        OfficerChoice(row.email, row.name)
        for row in await office_accounts.all_accounts(pool)
        if row.role == Role.OFFICER.value and row.disabled_at is None
    ]
    return sorted(choices, key=lambda choice: (choice.name.casefold(), choice.email))


@dataclass(frozen=True)
class OfficerChange:
    """What the form sends: an account's address, or a typed name and address."""

    account: str = ""
    name: str = ""
    email: str = ""
    language: str = "fr"
    reason: str = ""


async def _new_officer(pool: asyncpg.Pool, change: OfficerChange) -> tuple[str, str]:
    """The new officer's name and address: the account's, or the typed ones (each field
    that is missing named)."""
    account = change.account.strip()
    if account:
        row = await office_accounts.account(pool, account.lower())
        if row is None or row.role != Role.OFFICER.value or row.disabled_at is not None:
            reason = N_("no active officer account has this address")
            raise InvalidInput(f"account: {reason}", [FieldError("account", reason)])
        return row.name, row.email
    errors = []
    if not change.name.strip():
        errors.append(FieldError("name", N_("give the new officer's name, or pick an account")))
    if not change.email.strip():
        errors.append(FieldError("email", N_("give the new officer's e-mail address")))
    if errors:
        raise InvalidInput("; ".join(str(error) for error in errors), errors)
    return change.name, change.email


async def change_responsible_officer(
    pool: asyncpg.Pool,
    client: Client,
    session: OfficeSession,
    convention_id: str,
    change: OfficerChange,
    address: str,
) -> OfficerReceipt:
    """Send the change in the signed-in account's name; Forbidden, InvalidInput (fields
    named) or Refused (the workflow's typed refusal) else. Logged, done or refused."""
    await _require(client, session, convention_id)
    name, email = await _new_officer(pool, change)
    try:
        request = parse_model(
            ChangeOfficer,
            {
                "name": name,
                "email": email,
                "language": change.language or "fr",
                "reason": change.reason,
                "officer": f"{session.user.name} <{session.user.email}>"[:200],
            },
            "change_officer",
        )
    except InputError as error:
        raise InvalidInput(str(error), error.errors) from error
    try:
        receipt = await change_officer(client, convention_id, request, rpc_timeout=RPC_TIMEOUT)
    except (Refused, ConventionNotFound, ConventionUnreadable) as error:
        await access_log.record(
            pool, session.user.email, ACCESS_ACTION, "refused", address, convention_id
        )
        raise Refused(error.detail if isinstance(error, Refused) else str(error)) from error
    await access_log.record(pool, session.user.email, ACCESS_ACTION, "ok", address, convention_id)
    return receipt
