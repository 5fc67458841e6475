"""An office account chooses the time zone it reads dates in (issue 24): checked against the
IANA database, kept on the account (migration 030), read by its next page. Empty: UTC, the
record's own zone, said on every date."""

from __future__ import annotations

import asyncpg

from application.errors import InvalidInput
from application.office.roles import Permission, authorize
from application.office.signin import OfficeSession
from rendering.catalogues import N_
from rendering.zones import UnknownZone, valid_zone
from schemas.errors import FieldError
from storage import office_accounts


async def choose_reading_zone(pool: asyncpg.Pool, session: OfficeSession, typed: str) -> str | None:
    """The zone kept for the session's account (None: UTC); InvalidInput naming `time_zone`
    for a name the zone database does not hold, nothing changed."""
    authorize(session, Permission.OWN_ACCOUNT)
    zone = typed.strip() or None
    if zone is not None:
        try:
            zone = valid_zone(zone)
        except UnknownZone as error:
            raise InvalidInput(
                f"time_zone: {zone!r} is not a time zone",
                [FieldError("time_zone", N_("not a time zone of the IANA database"))],
            ) from error
    await office_accounts.set_time_zone(pool, session.user.email, zone)
    return zone
