"""People and the capacities they act in for organisations, with their dates.

A person is one row whatever organisations they act for (a consultant may act for two); what
they may do for each is an explicit capacity, granted by an admin, with its dates. Removing a
person ends their links' sessions and pending codes at once; their past answers keep their
name (the record carries it).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import date

import asyncpg
from pydantic import EmailStr, TypeAdapter, ValidationError

from application.directory.capacities import DirectoryCapacity
from application.directory.editors import Editor, require_admin
from application.errors import Conflict, InvalidInput, NotFound
from infra.database import transaction
from rendering.catalogues import N_
from rendering.zones import UnknownZone, valid_zone
from schemas.errors import EMAIL_INVALID, DetailCode, FieldError, Reason, coded_detail
from storage import directory as store

NAME_MAX = 200
_EMAIL = TypeAdapter(EmailStr)


EVERY_CAPACITY = tuple(DirectoryCapacity)


@dataclass(frozen=True)
class NewPerson:
    """A person as an editor writes them."""

    name: str
    email: str | None = None
    language: str = "fr"
    title: str | None = None
    time_zone: str | None = None
    """An IANA zone name; None or empty: the organisation's country's (rendering.zones)."""


def _no_active_person(person_id: str) -> Reason:
    """The refusal of a change to a person removed or never recorded (a stale form)."""
    return coded_detail(
        DetailCode.NO_ACTIVE_PERSON, f"no active person {person_id!r}", person=person_id
    )


def checked_person(new: NewPerson) -> dict[str, str | None]:
    """The person's values, or InvalidInput naming each field at fault."""
    errors: list[FieldError] = []
    name = new.name.strip()
    if not 1 <= len(name) <= NAME_MAX:
        # The English text for the CLI and the API, the code for a desk's reader.
        code, params = (
            ("missing", {}) if not name else ("string_too_long", {"max_length": NAME_MAX})
        )
        text = f"1 to {NAME_MAX} characters"
        errors.append(FieldError("name", Reason(text, code, params, "name"), code))
    email = new.email.strip() if new.email else None
    if email is not None:
        try:
            email = str(_EMAIL.validate_python(email))
        except ValidationError:
            text = f"{email!r} is not an e-mail address"
            errors.append(
                FieldError("email", Reason(text, EMAIL_INVALID, {}, "email"), EMAIL_INVALID)
            )
    if new.language not in ("fr", "ar", "en"):
        expected = {"expected": "'fr', 'ar' or 'en'"}
        reason = Reason("fr, ar or en", "enum", expected, "language")
        errors.append(FieldError("language", reason, "enum"))
    if new.title is not None and len(new.title) > NAME_MAX:
        reason = Reason(
            f"at most {NAME_MAX} characters", "string_too_long", {"max_length": NAME_MAX}, "title"
        )
        errors.append(FieldError("title", reason, "string_too_long"))
    time_zone, zone_error = checked_zone(new.time_zone)
    if zone_error is not None:
        errors.append(zone_error)
    if errors:
        raise InvalidInput(f"person {new.name!r} cannot be recorded", errors)
    return {
        "name": name,
        "email": email,
        "language": new.language,
        "title": new.title,
        "time_zone": time_zone,
    }


def checked_zone(typed: str | None) -> tuple[str | None, FieldError | None]:
    """The IANA zone as typed (None when empty: the fallback's), or the error naming
    `time_zone` when the zone database does not hold it: a person's, an office account's."""
    zone = (typed or "").strip() or None
    if zone is None:
        return None, None
    try:
        return valid_zone(zone), None
    except UnknownZone:
        return None, FieldError("time_zone", N_("not a time zone of the IANA database"))


def checked_capacities(names: list[str]) -> list[DirectoryCapacity]:
    """The capacities named, or InvalidInput."""
    known = {capacity.value for capacity in DirectoryCapacity}
    wrong = [name for name in names if name not in known]
    if wrong:
        raise InvalidInput(
            "unknown capacity",
            [
                FieldError("capacity", f"{name!r}: one of {', '.join(sorted(known))}")
                for name in wrong
            ],
        )
    return [DirectoryCapacity(name) for name in names]


async def enrol_person(
    connection: asyncpg.Connection,
    editor: Editor,
    organisation_id: str,
    new: NewPerson,
    capacities: list[DirectoryCapacity],
    *,
    valid_from: date | None = None,
    valid_until: date | None = None,
    reason: str,
) -> store.Person:
    """Record the person (found again by address when known) and grant them the capacities
    for the organisation, in the caller's transaction. The caller decides who may."""
    values = checked_person(new)
    _check_dates(valid_from, valid_until)
    if await store.organisation(connection, organisation_id) is None:
        raise NotFound(
            coded_detail(
                DetailCode.NO_ORGANISATION,
                f"no organisation {organisation_id!r}",
                organisation=organisation_id,
            )
        )
    email = values["email"]
    person = await store.person_by_email(connection, email) if email else None
    if person is None:
        person = await store.insert_person(
            connection, {**values, "id": f"p-{secrets.token_hex(6)}"}, editor.recorded_as
        )
        await store.record_change(
            connection,
            actor=editor.recorded_as,
            action="person.create",
            organisation_id=organisation_id,
            person_id=person.id,
            new_value=values,
            reason=reason,
        )
    for capacity in capacities:
        await _grant(
            connection,
            editor,
            person.id,
            organisation_id,
            capacity,
            valid_from,
            valid_until,
            reason=reason,
        )
    return person


async def add_person(
    pool: asyncpg.Pool,
    editor: Editor,
    organisation_id: str,
    new: NewPerson,
    capacities: list[str],
    *,
    valid_from: date | None = None,
    valid_until: date | None = None,
    reason: str = "added",
) -> store.Person:
    """Add a person to an existing organisation with capacities: an admin's change."""
    require_admin(editor, "giving a capacity")
    granted = checked_capacities(capacities)
    async with transaction(pool) as connection:
        return await enrol_person(
            connection,
            editor,
            organisation_id,
            new,
            granted,
            valid_from=valid_from,
            valid_until=valid_until,
            reason=reason,
        )


async def grant_capacity(
    pool: asyncpg.Pool,
    editor: Editor,
    person_id: str,
    organisation_id: str,
    capacity: str,
    *,
    valid_from: date | None = None,
    valid_until: date | None = None,
) -> store.Capacity:
    """Give a person one more capacity for an organisation: an admin's change."""
    require_admin(editor, "giving a capacity")
    [granted] = checked_capacities([capacity])
    _check_dates(valid_from, valid_until)
    async with transaction(pool) as connection:
        person = await store.person(connection, person_id)
        if person is None or person.removed_at is not None:
            raise NotFound(_no_active_person(person_id))
        if await store.organisation(connection, organisation_id) is None:
            raise NotFound(
                coded_detail(
                    DetailCode.NO_ORGANISATION,
                    f"no organisation {organisation_id!r}",
                    organisation=organisation_id,
                )
            )
        row = await _grant(
            connection, editor, person_id, organisation_id, granted, valid_from, valid_until
        )
    return row


async def revoke_capacity(
    pool: asyncpg.Pool,
    editor: Editor,
    person_id: str,
    organisation_id: str,
    capacity: str | None = None,
) -> list[store.Capacity]:
    """Take one capacity (or all) back, at once: an admin's change."""
    require_admin(editor, "revoking a capacity")
    if capacity is not None:
        checked_capacities([capacity])
    async with transaction(pool) as connection:
        revoked = await store.revoke_capacities(
            connection, person_id, organisation_id, capacity, editor.recorded_as
        )
        if not revoked:
            raise NotFound(
                coded_detail(
                    DetailCode.NO_SUCH_CAPACITY,
                    f"{person_id!r} holds no such capacity for {organisation_id!r}",
                    person=person_id,
                    organisation=organisation_id,
                )
            )
        await store.record_change(
            connection,
            actor=editor.recorded_as,
            action="capacity.revoke",
            organisation_id=organisation_id,
            person_id=person_id,
            old_value=[row.capacity for row in revoked],
        )
    return revoked


async def remove_person(
    pool: asyncpg.Pool, editor: Editor, person_id: str, reason: str = "removed"
) -> store.Person:
    """The person acts for no one any more; their sessions and pending codes end at once."""
    require_admin(editor, "removing a person")
    async with transaction(pool) as connection:
        before = await store.person(connection, person_id)
        removed = await store.mark_removed(connection, person_id)
        if before is None or removed is None:
            raise NotFound(
                coded_detail(DetailCode.NO_PERSON, f"no person {person_id!r}", person=person_id)
            )
        await store.record_change(
            connection,
            actor=editor.recorded_as,
            action="person.remove",
            person_id=person_id,
            old_value={"name": before.name, "email": before.email},
            new_value={"removed": True},
            reason=reason,
        )
    return removed


async def change_person(
    pool: asyncpg.Pool, editor: Editor, person_id: str, new: NewPerson
) -> store.Person:
    """Change a person's name, address, language or title: an admin's change. A new address
    is unconfirmed until a link mailed to it is opened."""
    require_admin(editor, "changing a person")
    values = checked_person(new)
    async with transaction(pool) as connection:
        before = await store.person(connection, person_id)
        if before is None or before.removed_at is not None:
            raise NotFound(_no_active_person(person_id))
        email = values.get("email")
        holder = await store.person_by_email(connection, email) if email else None
        if holder is not None and holder.id != person_id:
            # One person per address: a consultant acting for two organisations is one person
            # with a capacity for each, not two people sharing an address.
            raise InvalidInput(
                "email",
                [
                    FieldError(
                        "email",
                        coded_detail(
                            DetailCode.ADDRESS_TAKEN,
                            f"{email} is the address of {holder.name} already",
                            email=str(email),
                            name=holder.name,
                        ),
                    )
                ],
            )
        after = await store.update_person(connection, person_id, values)
        assert after is not None
        await store.record_change(
            connection,
            actor=editor.recorded_as,
            action="person.change",
            person_id=person_id,
            old_value={
                "name": before.name,
                "email": before.email,
                "language": before.language,
                "title": before.title,
                "time_zone": before.time_zone,
            },
            new_value=values,
        )
    return after


async def change_reading(
    pool: asyncpg.Pool,
    editor: Editor,
    person_id: str,
    *,
    time_zone: str | None = None,
    language: str | None = None,
) -> store.Person:
    """Change how a person reads: the zone their dates are said in (`time_zone`, an IANA
    name; "" for their organisation's country's) and/or their language; the rest of the
    person as it is. An admin's change, recorded; InvalidInput naming `time_zone` or
    `language` when it is not one (nothing is written then)."""
    require_admin(editor, "changing a person")
    if time_zone is None and language is None:
        raise InvalidInput(
            "nothing to change",
            [FieldError("time_zone", "give a time zone (or a language) to change")],
        )
    async with transaction(pool) as connection:
        before = await store.person(connection, person_id)
        if before is None or before.removed_at is not None:
            raise NotFound(_no_active_person(person_id))
        values = checked_person(
            NewPerson(
                before.name,
                before.email,
                before.language if language is None else language,
                before.title,
                before.time_zone if time_zone is None else time_zone,
            )
        )
        after = await store.update_person(connection, person_id, values)
        assert after is not None
        await store.record_change(
            connection,
            actor=editor.recorded_as,
            action="person.change",
            person_id=person_id,
            old_value={"language": before.language, "time_zone": before.time_zone},
            new_value={"language": values["language"], "time_zone": values["time_zone"]},
        )
    return after


async def confirm_address_by_hand(
    pool: asyncpg.Pool, editor: Editor, person_id: str, reason: str
) -> store.Person:
    """An admin confirms a person's address without a mailed link (the person answered by
    another way, which the reason says): an admin's change, recorded."""
    require_admin(editor, "confirming an address")
    if not reason.strip():
        raise InvalidInput("reason", [FieldError("reason", "say how the address was confirmed")])
    async with transaction(pool) as connection:
        before = await store.person(connection, person_id)
        if before is None or before.removed_at is not None:
            raise NotFound(_no_active_person(person_id))
        if before.email is None:
            raise InvalidInput(
                "no address",
                [
                    FieldError(
                        "person_id",
                        coded_detail(
                            DetailCode.NO_ADDRESS, f"{before.name} has no address", name=before.name
                        ),
                    )
                ],
            )
        if before.confirmed_at is not None:
            raise Conflict(
                coded_detail(
                    DetailCode.ADDRESS_CONFIRMED,
                    f"{before.name}'s address {before.email} is confirmed already",
                    name=before.name,
                    email=before.email,
                )
            )
        await store.confirm_address(connection, person_id)
        await store.record_change(
            connection,
            actor=editor.recorded_as,
            action="person.confirm",
            person_id=person_id,
            old_value={"email": before.email, "confirmed": False},
            new_value={"email": before.email, "confirmed": True},
            reason=reason.strip(),
        )
        after = await store.person(connection, person_id)
    assert after is not None
    return after


def _check_dates(valid_from: date | None, valid_until: date | None) -> None:
    """A capacity's validity may not end before it starts."""
    if valid_from and valid_until and valid_until < valid_from:
        raise InvalidInput(
            "dates",
            [
                FieldError(
                    "valid_until",
                    coded_detail(
                        DetailCode.ENDS_BEFORE_START,
                        f"{valid_until} is before {valid_from}",
                        valid_until=valid_until.isoformat(),
                        valid_from=valid_from.isoformat(),
                    ),
                )
            ],
        )


async def _grant(
    connection: asyncpg.Connection,
    editor: Editor,
    person_id: str,
    organisation_id: str,
    capacity: DirectoryCapacity,
    valid_from: date | None,
    valid_until: date | None,
    *,
    reason: str | None = None,
) -> store.Capacity:
    """One capacity given, and its change recorded with it, in the caller's transaction."""
    row = await store.insert_capacity(
        connection,
        person_id,
        organisation_id,
        capacity.value,
        valid_from,
        valid_until,
        editor.recorded_as,
    )
    await store.record_change(
        connection,
        actor=editor.recorded_as,
        action="capacity.grant",
        organisation_id=organisation_id,
        person_id=person_id,
        new_value={
            "capacity": capacity.value,
            "valid_from": valid_from.isoformat() if valid_from else None,
            "valid_until": valid_until.isoformat() if valid_until else None,
        },
        reason=reason,
    )
    return row
