"""What the office desk's directory pages show, as view models: the rows of the
organisations list and one organisation's page, read in the reader's language. Never a
secret: a channel shows its webhook URL only."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from application.directory.organisations import show_organisation
from infra.database import Database
from storage import directory as store

SEARCH_MAX = 100
"""The longest search the list accepts (longer text is cut)."""
LIST_MAX = 200
"""The most organisations the list shows at once."""

CAPACITY_LABELS = {
    "answer": "May answer tasks",
    "review": "May review drafts",
    "sign": "May sign conventions",
    "decide_funding": "May decide funding",
}
"""Each capacity's label, as the catalogues hold it (translated where shown)."""


@dataclass(frozen=True)
class OrganisationRow:
    """One line of the organisations list."""

    id: str
    name: str
    kind: str
    country: str
    archived: bool
    people: int


@dataclass(frozen=True)
class CapacityView:
    """One capacity a person holds (or held) for the organisation."""

    capacity: str
    label: str
    valid_from: str
    valid_until: str
    revoked: bool
    held_today: bool


@dataclass(frozen=True)
class PersonView:
    """A person acting for the organisation, and their capacities."""

    id: str
    name: str
    email: str
    language: str
    title: str
    time_zone: str
    """Their IANA zone; empty: the organisation's country's."""
    confirmed: bool
    removed: bool
    capacities: list[CapacityView]


@dataclass(frozen=True)
class ConventionRef:
    """A convention the organisation is a party to."""

    id: str
    title: str
    stage: str
    state: str


@dataclass(frozen=True)
class SecretView:
    """A signing secret that still signs: its id and dates, never the secret."""

    id: str
    created_at: str
    valid_until: str


@dataclass(frozen=True)
class OrganisationView:
    """An organisation's page."""

    id: str
    name: str
    names: list[tuple[str, str]]
    kind: str
    country: str
    archived: bool
    parent_id: str | None
    parent_name: str | None
    people: list[PersonView]
    webhook_url: str | None
    conventions: list[ConventionRef] = field(default_factory=list)
    secrets: list[SecretView] = field(default_factory=list)

    @property
    def unconfirmed(self) -> list[PersonView]:
        """The people (not removed) whose address never answered."""
        return [p for p in self.people if p.email and not p.confirmed and not p.removed]


def bounded_search(text: str | None) -> str | None:
    """The search as the list reads it: trimmed, at most SEARCH_MAX characters, None when
    empty."""
    text = (text or "").strip()[:SEARCH_MAX]
    return text or None


async def organisation_rows(
    db: Database, search: str | None, language: str
) -> list[OrganisationRow]:
    """The organisations whose id or a name contains the search, archived ones included."""
    found = await store.organisations_with_people(db, bounded_search(search), limit=LIST_MAX)
    return [
        OrganisationRow(
            id=organisation.id,
            name=organisation.name(language),
            kind=organisation.kind,
            country=organisation.country,
            archived=organisation.archived_at is not None,
            people=people,
        )
        for organisation, people in found
    ]


def _day(value: date | None) -> str:
    return value.isoformat() if value else ""


async def organisation_view(
    db: Database, organisation_id: str, language: str, today: date | None = None
) -> OrganisationView:
    """The organisation's page (NotFound for an unknown id)."""
    shown = await show_organisation(db, organisation_id)
    day = today or datetime.now(UTC).date()
    found = shown.organisation
    parent = await store.organisation(db, found.parent_id) if found.parent_id else None
    people = [
        PersonView(
            id=person.id,
            name=person.name,
            email=person.email or "",
            language=person.language,
            title=person.title or "",
            time_zone=person.time_zone or "",
            confirmed=person.confirmed_at is not None,
            removed=person.removed_at is not None,
            capacities=[
                CapacityView(
                    capacity=capacity.capacity,
                    label=CAPACITY_LABELS.get(capacity.capacity, capacity.capacity),
                    valid_from=_day(capacity.valid_from),
                    valid_until=_day(capacity.valid_until),
                    revoked=capacity.revoked_at is not None,
                    held_today=capacity.valid_on(day),
                )
                for capacity in capacities
            ],
        )
        for person, capacities in shown.people
    ]
    names = [
        (code, name)
        for code, name in (("fr", found.name_fr), ("ar", found.name_ar), ("en", found.name_en))
        if name
    ]
    return OrganisationView(
        id=found.id,
        name=found.name(language),
        names=names,
        kind=found.kind,
        country=found.country,
        archived=found.archived_at is not None,
        parent_id=found.parent_id,
        parent_name=parent.name(language) if parent else None,
        people=people,
        webhook_url=shown.webhook_url,
        conventions=[
            ConventionRef(row["id"], row["title"] or "", row["stage"] or "", row["state"] or "")
            for row in await store.conventions_of(db, found.id)
        ],
        secrets=[
            SecretView(
                secret.id,
                f"{secret.created_at:%Y-%m-%d %H:%M}",
                f"{secret.valid_until:%Y-%m-%d %H:%M}" if secret.valid_until else "",
            )
            for secret in await store.live_secrets(db, found.id, datetime.now(UTC))
        ],
    )


async def acts_for(db: Database, organisation_id: str, person_id: str) -> bool:
    """Whether the person holds (or held) a capacity for the organisation: a page's form
    changes only the people it shows."""
    return any(person.id == person_id for person, _ in await store.people_of(db, organisation_id))
