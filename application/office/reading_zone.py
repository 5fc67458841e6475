"""An office account chooses the time zone it reads dates in (issue 24): checked against the
IANA database, kept on the account (migration 030), read by its next page. Empty: UTC, the
record's own zone, said on every date."""

from __future__ import annotations

import asyncpg

from application.directory.people import checked_zone
from application.errors import InvalidInput
from application.office.roles import Permission, authorize
from application.office.signin import OfficeSession
from storage import office_accounts


async def choose_reading_zone(pool: asyncpg.Pool, session: OfficeSession, typed: str) -> str | None:
    """The zone kept for the session's account (None: UTC); InvalidInput naming `time_zone`
    for a name the zone database does not hold, nothing changed."""
    authorize(session, Permission.OWN_ACCOUNT)
    zone, error = checked_zone(typed)
    if error is not None:
        raise InvalidInput(f"time_zone: {typed.strip()!r} is not a time zone", [error])
    await office_accounts.set_time_zone(pool, session.user.email, zone)
    return zone
