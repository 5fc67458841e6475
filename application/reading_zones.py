"""The zone a reader reads dates in (rendering.zones): a contact's is the directory's (the
person acting for the party, found by name or address) when they chose one, else their
organisation's country's, else UTC."""

from __future__ import annotations

from infra.database import Database
from rendering.zones import zone_for
from storage import directory


async def contact_zone(
    db: Database, party: str, contact_name: str | None, email: str | None = None
) -> tuple[str, bool]:
    """The contact's IANA zone, and whether it is a fallback (they chose none)."""
    chosen, country = await directory.reading_zone(db, party, contact_name, email)
    return zone_for(chosen, country)
