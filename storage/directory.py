"""The partner directory's SQL (migration 009): organisations, people, capacities, channels,
and the change log with its version counter.

Every write goes through `record_change`, in the caller's transaction: it bumps the one
version counter and logs who, what, the old and the new value, so that no change escapes the
log and an answer can say which version of the directory it was checked against.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import asyncpg

from infra.database import Database


@dataclass(frozen=True)
class Organisation:
    """An organisation as the directory holds it."""

    id: str
    name_fr: str | None
    name_ar: str | None
    name_en: str | None
    kind: str
    country: str
    parent_id: str | None
    archived_at: datetime | None
    created_at: datetime
    created_by: str

    def name(self, language: str = "fr") -> str:
        """Its name in the reader's language when the directory has it, else another."""
        names = {"fr": self.name_fr, "ar": self.name_ar, "en": self.name_en}
        return names.get(language) or self.name_fr or self.name_en or self.name_ar or self.id


@dataclass(frozen=True)
class Person:
    """A person, whatever organisations they act for."""

    id: str
    name: str
    email: str | None
    language: str
    title: str | None
    confirmed_at: datetime | None
    removed_at: datetime | None
    time_zone: str | None = None
    """The IANA zone they read dates in; None: their organisation's country's."""


@dataclass(frozen=True)
class Capacity:
    """One capacity a person holds for an organisation, with its dates."""

    id: int
    person_id: str
    organisation_id: str
    capacity: str
    valid_from: date | None
    valid_until: date | None
    granted_by: str
    revoked_at: datetime | None

    def valid_on(self, day: date) -> bool:
        """Held on this day: not revoked, and within its dates."""
        return (
            self.revoked_at is None
            and (self.valid_from is None or self.valid_from <= day)
            and (self.valid_until is None or day <= self.valid_until)
        )


@dataclass(frozen=True)
class Change:
    """One line of the change log."""

    id: int
    version: int
    at: datetime
    actor: str
    action: str
    organisation_id: str | None
    person_id: str | None
    old_value: Any
    new_value: Any
    reason: str | None


@dataclass(frozen=True)
class SealedSecret:
    """A channel's signing secret, still sealed."""

    id: str
    organisation_id: str
    sealed: bytes
    created_at: datetime
    valid_until: datetime | None


@dataclass(frozen=True)
class Standing:
    """What the directory says, in one read, of a person named for an organisation."""

    version: int
    organisation: Organisation | None
    person: Person | None
    capacities: list[Capacity]


def _organisation(row: Any) -> Organisation:
    return Organisation(
        id=row["id"],
        name_fr=row["name_fr"],
        name_ar=row["name_ar"],
        name_en=row["name_en"],
        kind=row["kind"],
        country=row["country"],
        parent_id=row["parent_id"],
        archived_at=row["archived_at"],
        created_at=row["created_at"],
        created_by=row["created_by"],
    )


def _person(row: Any) -> Person:
    return Person(
        id=row["id"],
        name=row["name"],
        email=row["email"],
        language=row["language"],
        title=row["title"],
        confirmed_at=row["confirmed_at"],
        removed_at=row["removed_at"],
        time_zone=row.get("time_zone"),
    )


def _capacity(row: Any) -> Capacity:
    return Capacity(
        id=row["id"],
        person_id=row["person_id"],
        organisation_id=row["organisation_id"],
        capacity=row["capacity"],
        valid_from=row["valid_from"],
        valid_until=row["valid_until"],
        granted_by=row["granted_by"],
        revoked_at=row["revoked_at"],
    )


# --- the version and the log ---------------------------------------------------------------


async def version(db: Database) -> int:
    """The directory's current version."""
    value = await db.fetchval("SELECT version FROM directory_version")
    return int(value or 0)


async def record_change(
    connection: asyncpg.Connection,
    *,
    actor: str,
    action: str,
    organisation_id: str | None = None,
    person_id: str | None = None,
    old_value: Any = None,
    new_value: Any = None,
    reason: str | None = None,
) -> int:
    """Bump the version and log the change, in the caller's transaction; the new version."""
    bumped = await connection.fetchval(
        "UPDATE directory_version SET version = version + 1 RETURNING version"
    )
    await connection.execute(
        "INSERT INTO directory_changes (version, actor, action, organisation_id, person_id,"
        " old_value, new_value, reason) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        bumped,
        actor,
        action,
        organisation_id,
        person_id,
        old_value,
        new_value,
        reason,
    )
    return int(bumped)


async def changes(
    db: Database, organisation_id: str | None = None, limit: int = 200
) -> list[Change]:
    """The latest changes (of one organisation, or all), newest first."""
    rows = await db.fetch(
        "SELECT * FROM directory_changes WHERE $1::text IS NULL OR organisation_id = $1"
        " ORDER BY id DESC LIMIT $2",
        organisation_id,
        limit,
    )
    return [
        Change(
            id=row["id"],
            version=row["version"],
            at=row["at"],
            actor=row["actor"],
            action=row["action"],
            organisation_id=row["organisation_id"],
            person_id=row["person_id"],
            old_value=row["old_value"],
            new_value=row["new_value"],
            reason=row["reason"],
        )
        for row in rows
    ]


# Two imports of the same new organisation at once (two starts): the second waits, then sees it.
_IMPORT_LOCK_KEY = 0x5041_4354_44


async def lock_imports(connection: asyncpg.Connection) -> None:
    """Serialise imports of files' parties until the caller's transaction ends."""
    await connection.execute("SELECT pg_advisory_xact_lock($1)", _IMPORT_LOCK_KEY)


# --- organisations ---------------------------------------------------------------------------


async def organisation(db: Database, organisation_id: str) -> Organisation | None:
    """The organisation with this id, archived or not."""
    row = await db.fetchrow("SELECT * FROM directory_organisations WHERE id = $1", organisation_id)
    return None if row is None else _organisation(row)


async def organisations_by_id(db: Database, ids: list[str]) -> dict[str, Organisation]:
    """The organisations among `ids` the directory holds, archived or not, in one read."""
    if not ids:
        return {}
    rows = await db.fetch(
        "SELECT * FROM directory_organisations WHERE id = ANY($1::text[])", sorted(set(ids))
    )
    return {row["id"]: _organisation(row) for row in rows}


async def people_by_id(db: Database, ids: list[str]) -> dict[str, Person]:
    """The people among `ids`, removed or not (their past answers keep their name)."""
    if not ids:
        return {}
    rows = await db.fetch(
        "SELECT * FROM directory_people WHERE id = ANY($1::text[])", sorted(set(ids))
    )
    return {row["id"]: _person(row) for row in rows}


async def organisations(
    db: Database, search: str | None = None, *, include_archived: bool = False
) -> list[Organisation]:
    """Organisations by id, optionally those whose id or a name contains `search`."""
    rows = await db.fetch(
        "SELECT * FROM directory_organisations"
        " WHERE ($1::text IS NULL OR id ILIKE '%' || $1 || '%' OR name_fr ILIKE '%' || $1 || '%'"
        "        OR name_ar ILIKE '%' || $1 || '%' OR name_en ILIKE '%' || $1 || '%')"
        "   AND ($2 OR archived_at IS NULL)"
        " ORDER BY id",
        search,
        include_archived,
    )
    return [_organisation(row) for row in rows]


def _like(text: str) -> str:
    """`text` as a literal part of an ILIKE pattern (its `%`, `_` and `\\` escaped)."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


async def organisations_with_people(
    db: Database, search: str | None = None, *, limit: int = 200
) -> list[tuple[Organisation, int]]:
    """Organisations by id, archived ones included, with how many people (not removed) act
    for each; those whose id or a name contains `search` (literally: its `%` and `_` match
    themselves), at most `limit` rows."""
    pattern = None if not search else f"%{_like(search)}%"
    rows = await db.fetch(
        "SELECT o.*, (SELECT count(DISTINCT c.person_id) FROM directory_capacities AS c"
        "   JOIN directory_people AS p ON p.id = c.person_id"
        "   WHERE c.organisation_id = o.id AND p.removed_at IS NULL) AS people"
        " FROM directory_organisations AS o"
        " WHERE ($1::text IS NULL OR o.id ILIKE $1 ESCAPE '\\' OR o.name_fr ILIKE $1 ESCAPE '\\'"
        "        OR o.name_ar ILIKE $1 ESCAPE '\\' OR o.name_en ILIKE $1 ESCAPE '\\')"
        " ORDER BY o.id LIMIT $2",
        pattern,
        limit,
    )
    return [(_organisation(row), int(row["people"])) for row in rows]


async def insert_organisation(
    connection: asyncpg.Connection, values: dict[str, Any], actor: str
) -> Organisation:
    """A new organisation (the caller records the change)."""
    row = await connection.fetchrow(
        "INSERT INTO directory_organisations (id, name_fr, name_ar, name_en, kind, country,"
        " parent_id, created_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING *",
        values["id"],
        values.get("name_fr"),
        values.get("name_ar"),
        values.get("name_en"),
        values["kind"],
        values["country"],
        values.get("parent_id"),
        actor,
    )
    return _organisation(row)


async def set_archived(
    connection: asyncpg.Connection, organisation_id: str, archived: bool
) -> Organisation | None:
    """Archive (or restore) an organisation."""
    row = await connection.fetchrow(
        "UPDATE directory_organisations"
        " SET archived_at = CASE WHEN $2 THEN coalesce(archived_at, now()) END"
        " WHERE id = $1 RETURNING *",
        organisation_id,
        archived,
    )
    return None if row is None else _organisation(row)


# --- people and capacities ------------------------------------------------------------------


async def person(db: Database, person_id: str) -> Person | None:
    """The person with this id, removed or not."""
    row = await db.fetchrow("SELECT * FROM directory_people WHERE id = $1", person_id)
    return None if row is None else _person(row)


async def person_by_email(db: Database, email: str) -> Person | None:
    """The active person with this address (one at most)."""
    row = await db.fetchrow(
        "SELECT * FROM directory_people WHERE lower(email) = lower($1) AND removed_at IS NULL",
        email,
    )
    return None if row is None else _person(row)


async def people_of(db: Database, organisation_id: str) -> list[tuple[Person, list[Capacity]]]:
    """Every person holding (or having held) a capacity for the organisation, with them."""
    rows = await db.fetch(
        "SELECT c.*, p.name, p.email, p.language, p.title, p.confirmed_at, p.removed_at,"
        " p.time_zone"
        " FROM directory_capacities AS c JOIN directory_people AS p ON p.id = c.person_id"
        " WHERE c.organisation_id = $1 ORDER BY p.name, c.id",
        organisation_id,
    )
    found: dict[str, tuple[Person, list[Capacity]]] = {}
    for row in rows:
        entry = found.setdefault(
            row["person_id"], (_person({**dict(row), "id": row["person_id"]}), [])
        )
        entry[1].append(_capacity(row))
    return list(found.values())


_READING_ZONE = (
    "SELECT o.country, (SELECT p.time_zone FROM directory_people AS p"
    "  JOIN directory_capacities AS c ON c.person_id = p.id"
    "  WHERE c.organisation_id = o.id AND p.removed_at IS NULL AND p.time_zone IS NOT NULL"
    "  AND (p.name = $2 OR lower(p.email) = lower($3)) ORDER BY p.id LIMIT 1) AS time_zone"
    " FROM directory_organisations AS o WHERE o.id = $1"
)


async def reading_zone(
    db: Database, party: str, contact_name: str | None, email: str | None = None
) -> tuple[str | None, str | None]:
    """The zone a contact of `party` chose (found by name or address among the people acting
    for it) and the organisation's country: (None, None) when the directory holds neither."""
    row = await db.fetchrow(_READING_ZONE, party, contact_name or "", email or "")
    return (None, None) if row is None else (row["time_zone"], row["country"])


async def insert_person(
    connection: asyncpg.Connection, values: dict[str, Any], actor: str
) -> Person:
    """A new person (the caller records the change)."""
    row = await connection.fetchrow(
        "INSERT INTO directory_people (id, name, email, language, title, created_by, time_zone)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING *",
        values["id"],
        values["name"],
        values.get("email"),
        values.get("language") or "fr",
        values.get("title"),
        actor,
        values.get("time_zone"),
    )
    return _person(row)


async def update_person(
    connection: asyncpg.Connection, person_id: str, values: dict[str, Any]
) -> Person | None:
    """Change a person's name, address, language or title, and their time zone when `values`
    holds one (the caller records the change)."""
    row = await connection.fetchrow(
        "UPDATE directory_people SET name = $2, email = $3, language = $4, title = $5,"
        " time_zone = CASE WHEN $7::boolean THEN $6 ELSE time_zone END,"
        " confirmed_at = CASE WHEN lower(coalesce(email, '')) = lower(coalesce($3, ''))"
        "                     THEN confirmed_at END"
        " WHERE id = $1 RETURNING *",
        person_id,
        values["name"],
        values.get("email"),
        values["language"],
        values.get("title"),
        values.get("time_zone"),
        "time_zone" in values,
    )
    return None if row is None else _person(row)


async def mark_removed(connection: asyncpg.Connection, person_id: str) -> Person | None:
    """The person acts for no one any more; their open sessions and codes end with it."""
    row = await connection.fetchrow(
        "UPDATE directory_people SET removed_at = coalesce(removed_at, now())"
        " WHERE id = $1 RETURNING *",
        person_id,
    )
    if row is None:
        return None
    removed = _person(row)
    if removed.email:
        await connection.execute(
            "UPDATE partner_codes SET used_at = coalesce(used_at, now()) WHERE session_hash IN"
            " (SELECT id_hash FROM partner_sessions WHERE lower(contact_email) = lower($1))",
            removed.email,
        )
        await connection.execute(
            "UPDATE partner_sessions SET ended_at = coalesce(ended_at, now())"
            " WHERE lower(contact_email) = lower($1)",
            removed.email,
        )
    return removed


async def confirm_address(db: Database, person_id: str) -> bool:
    """Record that the person opened a mailed link (their address answers); True the first time."""
    status: str = await db.execute(
        "UPDATE directory_people SET confirmed_at = now() WHERE id = $1 AND confirmed_at IS NULL",
        person_id,
    )
    return status.endswith(" 1")


async def insert_capacity(
    connection: asyncpg.Connection,
    person_id: str,
    organisation_id: str,
    capacity: str,
    valid_from: date | None,
    valid_until: date | None,
    actor: str,
) -> Capacity:
    """A capacity granted (the caller records the change)."""
    row = await connection.fetchrow(
        "INSERT INTO directory_capacities (person_id, organisation_id, capacity, valid_from,"
        " valid_until, granted_by) VALUES ($1, $2, $3, $4, $5, $6) RETURNING *",
        person_id,
        organisation_id,
        capacity,
        valid_from,
        valid_until,
        actor,
    )
    return _capacity(row)


async def revoke_capacities(
    connection: asyncpg.Connection,
    person_id: str,
    organisation_id: str,
    capacity: str | None,
    actor: str,
) -> list[Capacity]:
    """Revoke the person's capacities for the organisation (one, or all); the revoked rows."""
    rows = await connection.fetch(
        "UPDATE directory_capacities SET revoked_at = now(), revoked_by = $4"
        " WHERE person_id = $1 AND organisation_id = $2 AND ($3::text IS NULL OR capacity = $3)"
        "   AND revoked_at IS NULL RETURNING *",
        person_id,
        organisation_id,
        capacity,
        actor,
    )
    return [_capacity(row) for row in rows]


async def never_answered(db: Database, organisation_id: str | None = None) -> list[Person]:
    """Active people whose address never answered (no mailed link opened yet)."""
    rows = await db.fetch(
        "SELECT DISTINCT p.* FROM directory_people AS p"
        " JOIN directory_capacities AS c ON c.person_id = p.id AND c.revoked_at IS NULL"
        " WHERE p.removed_at IS NULL AND p.confirmed_at IS NULL"
        "   AND ($1::text IS NULL OR c.organisation_id = $1)"
        " ORDER BY p.name",
        organisation_id,
    )
    return [_person(row) for row in rows]


# The directory's word on one person for one organisation, read from a one-row relation `who`
# (organisation_id, email, name): the person by address, or by name when no address is given.
# Shared by `standing` and by the contact's session check (storage.contact_sessions), which
# reads it in the same statement as the session.
STANDING_COLUMNS = """(SELECT version FROM directory_version) AS version,
       to_jsonb(o) AS organisation,
       to_jsonb(p) AS person,
       (SELECT coalesce(jsonb_agg(to_jsonb(c) ORDER BY c.id), '[]'::jsonb)
          FROM directory_capacities AS c
         WHERE c.person_id = p.id AND c.organisation_id = o.id) AS capacities"""
STANDING_JOINS = """
  LEFT JOIN directory_organisations AS o ON o.id = who.organisation_id
  LEFT JOIN LATERAL (
        SELECT * FROM directory_people AS p
         WHERE p.id IN (SELECT person_id FROM directory_capacities WHERE organisation_id = o.id)
           AND ((p.email IS NOT NULL AND lower(p.email) = lower(who.email))
                OR (who.email IS NULL AND lower(p.name) = lower(who.name)))
         ORDER BY p.removed_at NULLS FIRST LIMIT 1) AS p ON true"""
_STANDING = f"""
SELECT {STANDING_COLUMNS}
  FROM (SELECT $1::text AS organisation_id, $2::text AS email, $3::text AS name) AS who
{STANDING_JOINS}
"""


async def standing(db: Database, organisation_id: str, *, email: str | None, name: str) -> Standing:
    """The version, the organisation, the person (by address, or by name when none is given)
    and their capacities for it, read in one snapshot: one statement (PostgreSQL reads a
    statement at one snapshot), so asked at every answer it costs one round trip."""
    return standing_of_row(await db.fetchrow(_STANDING, organisation_id, email, name))


def standing_of_row(row: Any) -> Standing:
    """A Standing from a row holding STANDING_COLUMNS."""
    found, person_row = row["organisation"], row["person"]
    capacities = (
        [_capacity(_timestamps(capacity)) for capacity in row["capacities"] or []]
        if found is not None and person_row is not None
        else []
    )
    return Standing(
        version=int(row["version"] or 0),
        organisation=None if found is None else _organisation(_timestamps(found)),
        person=None if person_row is None else _person(_timestamps(person_row)),
        capacities=capacities,
    )


def organisation_from_json(value: dict[str, Any]) -> Organisation:
    """An organisation read as JSON (`to_jsonb`) within another statement."""
    return _organisation(_timestamps(value))


def _timestamps(row: dict[str, Any]) -> dict[str, Any]:
    """A row read as JSON: its timestamps back to datetimes."""
    converted = dict(row)
    for key in ("created_at", "archived_at", "confirmed_at", "removed_at", "revoked_at"):
        if isinstance(converted.get(key), str):
            converted[key] = datetime.fromisoformat(converted[key])
    for key in ("valid_from", "valid_until"):
        if isinstance(converted.get(key), str):
            converted[key] = date.fromisoformat(converted[key])
    return converted


# --- channels ----------------------------------------------------------------------------------


async def webhook_url(db: Database, organisation_id: str) -> str | None:
    """The organisation's webhook endpoint, if any."""
    value = await db.fetchval(
        "SELECT webhook_url FROM directory_channels WHERE organisation_id = $1", organisation_id
    )
    return None if value is None else str(value)


async def set_webhook_url(
    connection: asyncpg.Connection, organisation_id: str, url: str | None
) -> str | None:
    """Set the endpoint; the previous one."""
    old = await webhook_url(connection, organisation_id)
    await connection.execute(
        "INSERT INTO directory_channels (organisation_id, webhook_url) VALUES ($1, $2)"
        " ON CONFLICT (organisation_id) DO UPDATE SET webhook_url = $2, updated_at = now()",
        organisation_id,
        url,
    )
    return old


async def insert_secret(
    connection: asyncpg.Connection, secret_id: str, organisation_id: str, sealed: bytes, actor: str
) -> None:
    """Store a new sealed secret (the caller records the change)."""
    await connection.execute(
        "INSERT INTO directory_secrets (id, organisation_id, sealed, created_by)"
        " VALUES ($1, $2, $3, $4)",
        secret_id,
        organisation_id,
        sealed,
        actor,
    )


async def end_secrets(
    connection: asyncpg.Connection, organisation_id: str, until: datetime, keep: str
) -> list[str]:
    """Give every other live secret of the organisation an end (the rotation's overlap)."""
    rows = await connection.fetch(
        "UPDATE directory_secrets SET valid_until = $2"
        " WHERE organisation_id = $1 AND id <> $3 AND (valid_until IS NULL OR valid_until > $2)"
        " RETURNING id",
        organisation_id,
        until,
        keep,
    )
    return [row["id"] for row in rows]


async def live_secrets(db: Database, organisation_id: str, now: datetime) -> list[SealedSecret]:
    """The organisation's secrets that still sign, newest first."""
    rows = await db.fetch(
        "SELECT * FROM directory_secrets WHERE organisation_id = $1"
        " AND (valid_until IS NULL OR valid_until > $2) ORDER BY created_at DESC",
        organisation_id,
        now,
    )
    return [
        SealedSecret(
            id=row["id"],
            organisation_id=row["organisation_id"],
            sealed=row["sealed"],
            created_at=row["created_at"],
            valid_until=row["valid_until"],
        )
        for row in rows
    ]


async def conventions_of(db: Database, organisation_id: str, limit: int = 200) -> list[Any]:
    """The conventions whose stored file names the organisation as a party, latest first:
    id, title, stage and state (the read model's, when it has the row)."""
    return list(
        await db.fetch(
            "SELECT f.convention_id AS id, c.title, c.stage, c.state"
            " FROM convention_files AS f LEFT JOIN conventions AS c ON c.id = f.convention_id"
            " WHERE f.document -> 'parties'"
            "   @> jsonb_build_array(jsonb_build_object('id', $1::text))"
            " ORDER BY f.recorded_at DESC, f.convention_id LIMIT $2",
            organisation_id,
            limit,
        )
    )


# --- the running conventions' files (the data migration reads them) ----------------------------


async def open_convention_files(db: Database) -> list[tuple[str, Any]]:
    """(convention id, stored file) of every convention still active, oldest file first."""
    rows = await db.fetch(
        "SELECT f.convention_id, f.document FROM convention_files AS f"
        " LEFT JOIN conventions AS c ON c.id = f.convention_id"
        " WHERE coalesce(c.state, 'active') = 'active'"
        " ORDER BY f.recorded_at, f.convention_id"
    )
    return [(row["convention_id"], row["document"]) for row in rows]


async def organisation_spellings(db: Database, organisation_id: str) -> list[str]:
    """The organisations whose ids differ from this one only by case or punctuation (the
    spellings one PACTE_WEBHOOK_SECRET_<PARTY> variable stands for), this one included."""
    rows = await db.fetch(
        "SELECT id FROM directory_organisations"
        " WHERE upper(regexp_replace(id, '[^A-Za-z0-9]', '_', 'g'))"
        " = upper(regexp_replace($1, '[^A-Za-z0-9]', '_', 'g')) ORDER BY id",
        organisation_id,
    )
    return [row["id"] for row in rows]


async def webhook_hosts(db: Database, organisation_id: str) -> tuple[str, ...] | None:
    """The organisation's allow-list of webhook hosts (migration 015), or None: no list."""
    value = await db.fetchval(
        "SELECT webhook_hosts FROM directory_channels WHERE organisation_id = $1",
        organisation_id,
    )
    return None if value is None else tuple(value)


async def set_webhook_hosts(
    connection: asyncpg.Connection, organisation_id: str, hosts: list[str] | None
) -> tuple[str, ...] | None:
    """Set the allow-list (None: no list); the previous one."""
    old = await webhook_hosts(connection, organisation_id)
    await connection.execute(
        "INSERT INTO directory_channels (organisation_id, webhook_hosts) VALUES ($1, $2)"
        " ON CONFLICT (organisation_id) DO UPDATE SET webhook_hosts = $2, updated_at = now()",
        organisation_id,
        hosts,
    )
    return old


_CAPACITIES_FOR = (
    "SELECT * FROM directory_capacities WHERE person_id = $1 AND organisation_id = $2 ORDER BY id"
)


async def capacities_for(db: Database, person_id: str, organisation_id: str) -> list[Capacity]:
    """Every capacity (held or not any more) the person has had for the organisation; empty:
    they never acted for it."""
    rows = await db.fetch(_CAPACITIES_FOR, person_id, organisation_id)
    return [_capacity(row) for row in rows]
