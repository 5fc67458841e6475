"""Names, not ids, for readers: an organisation's name in the reader's language (the
directory's, else the name a convention file wrote, else the id) and a person's name.

Ids stay in URLs, exports and logs; what a person reads on a page or in a mail is a name.
One read per page: every id the page shows is looked up at once.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from infra.database import Database
from storage import directory as store


@dataclass(frozen=True)
class Names:
    """The names of the organisations and people one page or message mentions."""

    organisations: dict[str, store.Organisation] = field(default_factory=dict)
    people: dict[str, store.Person] = field(default_factory=dict)
    written: dict[str, str] = field(default_factory=dict)
    """Names as a convention file wrote them, by party id: for an organisation the directory
    does not hold (yet)."""

    def organisation(self, organisation_id: str, language: str = "fr") -> str:
        """Its name in `language` when the directory has it, else another of the directory's,
        else the file's, else the id."""
        held = self.organisations.get(organisation_id)
        if held is not None and (held.name_fr or held.name_ar or held.name_en):
            return held.name(language)
        return self.written.get(organisation_id) or organisation_id

    def person(self, person_id: str) -> str:
        """The person's name as written (removed people keep theirs), else the id."""
        held = self.people.get(person_id)
        return held.name if held is not None else person_id

    def people_names(self) -> dict[str, str]:
        """The names of the people it holds, by person id (for `PartyNames.of`)."""
        return {person_id: person.name for person_id, person in self.people.items()}


def file_name(party: Mapping[str, Any], language: str) -> str:
    """A party's name as a stored convention file wrote it (`{id, name, names}`), in
    `language` when the file gave it in it (`name: {fr: …, ar: …}`), else its original."""
    given = party.get("names")
    each = given if isinstance(given, Mapping) else {}
    return str(each.get(language) or party.get("name") or "")


async def names_of(
    db: Database,
    organisation_ids: list[str],
    person_ids: list[str] | None = None,
    *,
    written: dict[str, str] | None = None,
) -> Names:
    """The names of these organisations and people, in two reads at most."""
    return Names(
        organisations=await store.organisations_by_id(db, organisation_ids),
        people=await store.people_by_id(db, person_ids or []),
        written=dict(written or {}),
    )


async def organisation_name(
    db: Database, organisation_id: str, language: str, written: str | None = None
) -> str:
    """One organisation's name in `language` (see `Names.organisation`)."""
    names = await names_of(
        db, [organisation_id], written={organisation_id: written} if written else None
    )
    return names.organisation(organisation_id, language)


async def parties_said_in(db: Database, written: dict[str, str], language: str) -> dict[str, str]:
    """Each party's name in `language`, by id: the directory's where it holds the
    organisation, else the name the convention file wrote (`written`, by id)."""
    names = await names_of(db, list(written), written=written)
    return {party: names.organisation(party, language) for party in written}
