"""Organisations: the stable party ids conventions refer to, their names as written, kind,
country, parent, active or archived."""

from __future__ import annotations

import re
from dataclasses import dataclass

import asyncpg

from application.directory.editors import Editor, require_admin
from application.errors import Conflict, InvalidInput, NotFound
from infra.database import Database, transaction
from schemas.convention import PartyKind
from schemas.errors import DetailCode, FieldError, coded_detail
from storage import directory as store

ORGANISATION_ID = re.compile(r"[a-z0-9][a-z0-9-]{1,63}")
"""Lowercase ASCII letters, digits and '-', 2 to 64 characters: what a URL, a log line and a
workflow id carry unchanged, and what no look-alike letter of another script can imitate."""
NAME_MAX = 200


def organisation_id_problem(value: str) -> str | None:
    """Why this cannot be an organisation id, or None when it can."""
    if ORGANISATION_ID.fullmatch(value):
        return None
    if not 2 <= len(value) <= 64:
        return f"{len(value)} characters: an organisation id has 2 to 64"
    if any(character.isspace() for character in value):
        return "contains a space: an organisation id has none"
    if not value.isascii():
        odd = next(character for character in value if not character.isascii())
        return (
            f"contains {odd!r} (U+{ord(odd):04X}), not an ASCII letter: an organisation id "
            "has lowercase ASCII letters, digits and '-' only (no look-alike letters)"
        )
    if value != value.lower():
        return "contains capitals: an organisation id is lowercase"
    return "lowercase ASCII letters, digits and '-' only, starting with a letter or digit"


def checked_id(value: str, field: str = "id") -> str:
    """The id, or InvalidInput naming the field and the reason."""
    problem = organisation_id_problem(value)
    if problem:
        raise InvalidInput(f"{field}: {problem}", [FieldError(field, problem)])
    return value


@dataclass(frozen=True)
class NewOrganisation:
    """What an organisation is created with."""

    id: str
    kind: str
    country: str
    name_fr: str | None = None
    name_ar: str | None = None
    name_en: str | None = None
    parent_id: str | None = None


def _checked(new: NewOrganisation) -> dict[str, object]:
    errors: list[FieldError] = []
    problem = organisation_id_problem(new.id)
    if problem:
        errors.append(FieldError("id", problem))
    if new.kind not in {kind.value for kind in PartyKind}:
        errors.append(FieldError("kind", f"one of {', '.join(kind.value for kind in PartyKind)}"))
    if not re.fullmatch(r"[A-Z]{2}", new.country):
        errors.append(FieldError("country", "an ISO 3166-1 alpha-2 code, e.g. MA, ML"))
    names = {"name_fr": new.name_fr, "name_ar": new.name_ar, "name_en": new.name_en}
    for field, name in names.items():
        if name is not None and not 1 <= len(name.strip()) <= NAME_MAX:
            errors.append(FieldError(field, f"1 to {NAME_MAX} characters"))
    if not any(name and name.strip() for name in names.values()):
        errors.append(FieldError("name_fr", "at least one name (fr, ar or en)"))
    if errors:
        raise InvalidInput(f"organisation {new.id!r} cannot be created", errors)
    return {
        "id": new.id,
        "kind": new.kind,
        "country": new.country,
        "parent_id": new.parent_id,
        **{field: name.strip() if name else None for field, name in names.items()},
    }


async def create_organisation(
    connection: asyncpg.Connection, editor: Editor, new: NewOrganisation, *, reason: str
) -> store.Organisation:
    """Create it inside the caller's transaction (an officer may: the organisation is new)."""
    values = _checked(new)
    if await store.organisation(connection, new.id) is not None:
        raise Conflict(
            coded_detail(
                DetailCode.ORGANISATION_EXISTS,
                f"organisation {new.id!r} exists already",
                organisation=new.id,
            )
        )
    if new.parent_id is not None and await store.organisation(connection, new.parent_id) is None:
        raise InvalidInput(
            "unknown parent",
            [
                FieldError(
                    "parent",
                    coded_detail(
                        DetailCode.NO_ORGANISATION,
                        f"no organisation {new.parent_id!r}",
                        organisation=new.parent_id,
                    ),
                )
            ],
        )
    created = await store.insert_organisation(connection, values, editor.recorded_as)
    await store.record_change(
        connection,
        actor=editor.recorded_as,
        action="organisation.create",
        organisation_id=new.id,
        new_value=values,
        reason=reason,
    )
    return created


async def add_organisation(
    pool: asyncpg.Pool, editor: Editor, new: NewOrganisation, reason: str = "added"
) -> store.Organisation:
    """A new organisation, recorded as the editor's change."""
    async with transaction(pool) as connection:
        return await create_organisation(connection, editor, new, reason=reason)


async def archive_organisation(
    pool: asyncpg.Pool, editor: Editor, organisation_id: str, *, archived: bool = True
) -> store.Organisation:
    """Archive (no one acts for it any more) or restore an organisation: an admin's change."""
    require_admin(editor, "archiving an organisation")
    async with transaction(pool) as connection:
        before = await store.organisation(connection, organisation_id)
        after = await store.set_archived(connection, organisation_id, archived)
        if before is None or after is None:
            raise NotFound(
                coded_detail(
                    DetailCode.NO_ORGANISATION,
                    f"no organisation {organisation_id!r}",
                    organisation=organisation_id,
                )
            )
        await store.record_change(
            connection,
            actor=editor.recorded_as,
            action="organisation.archive" if archived else "organisation.restore",
            organisation_id=organisation_id,
            old_value={"archived": before.archived_at is not None},
            new_value={"archived": archived},
        )
    return after


async def find_organisations(db: Database, search: str | None = None) -> list[store.Organisation]:
    """Active organisations, all or those matching `search` (id or any name)."""
    return await store.organisations(db, search)


@dataclass(frozen=True)
class OrganisationPage:
    """Everything the directory says of one organisation."""

    organisation: store.Organisation
    people: list[tuple[store.Person, list[store.Capacity]]]
    webhook_url: str | None
    changes: list[store.Change]


async def show_organisation(db: Database, organisation_id: str) -> OrganisationPage:
    """The organisation, its people and capacities, its channel and its latest changes."""
    found = await store.organisation(db, organisation_id)
    if found is None:
        raise NotFound(
            coded_detail(
                DetailCode.NO_ORGANISATION,
                f"no organisation {organisation_id!r}",
                organisation=organisation_id,
            )
        )
    return OrganisationPage(
        organisation=found,
        people=await store.people_of(db, organisation_id),
        webhook_url=await store.webhook_url(db, organisation_id),
        changes=await store.changes(db, organisation_id, limit=50),
    )
