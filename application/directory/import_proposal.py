"""A convention file's inline `parties:` read as a proposal to the directory.

An organisation the directory does not know yet is created with the file's people by the
officer who starts the file (their directory change, recorded as such; each person gets the
capacities a file's contact always had: answer, review, sign, decide on funding). But a file
never adds a person to, nor changes a person or capacity of, an organisation that exists:
those differences are listed and the start is refused, unless an admin accepts them
explicitly (`--accept-directory-changes`). Names, kind and country of an existing
organisation are the directory's: a file that writes them otherwise is only noted.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import asyncpg

from application.directory.editors import Editor, EditorRole
from application.directory.organisations import (
    NewOrganisation,
    create_organisation,
    organisation_id_problem,
)
from application.directory.people import EVERY_CAPACITY, NewPerson, enrol_person
from application.errors import Forbidden, Refused
from infra.database import Database, transaction
from rendering.catalogues import N_
from schemas.convention import Contact, Convention, DiagnosticStage, Party
from schemas.errors import FieldError
from storage import directory as store

ARCHIVED = "the organisation is archived in the directory"
SETS_WEBHOOK = "sets the webhook endpoint to %(url)s (the directory has %(current)s)"
CHANGES_ADDRESS = "changes the address of %(name)s from %(old)s to %(new)s"
ADDS_PERSON = "adds %(name)s <%(email)s> as a person acting for it"
NAMES_REMOVED = "names %(name)s, removed from the directory"
NAMES_REVOKED = "names %(name)s, whose capacities for it were revoked"
CHANGES_PERSON = "changes %(name)s: %(changes)s"
"""Each difference's sentence, with its facts apart: the command line prints it in English,
a page in its reader's language (the catalogues hold each one)."""


@dataclass(frozen=True)
class Difference:
    """Something the file says of an existing organisation that the directory does not."""

    field: str
    """Where in the file, e.g. `parties.2.contacts.1`."""
    organisation_id: str
    said: str
    """One of the sentences above."""
    party: Party
    contact: Contact | None = None
    person: store.Person | None = None
    facts: tuple[tuple[str, str], ...] = ()
    """The sentence's placeholders' values."""

    @property
    def reason(self) -> str:
        """The sentence with its facts, in English."""
        return self.said % dict(self.facts) if self.facts else self.said

    def as_field_error(self) -> FieldError:
        """The difference as a refusal's field error."""
        return FieldError(self.field, f"{self.organisation_id}: {self.reason}")


@dataclass
class ImportProposal:
    """What starting this file would do to the directory."""

    convention_id: str
    new_organisations: list[Party] = field(default_factory=list)
    differences: list[Difference] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    version: int = 0

    def lines(self) -> list[str]:
        """What the preview (and the CLI) says, one line each."""
        said = [
            f"new organisation {party.id} ({party.name}), with "
            + (", ".join(contact.name for contact in party.contacts) or "no people")
            for party in self.new_organisations
        ]
        said += [f"change: {difference.as_field_error()}" for difference in self.differences]
        return said + [f"note: {note}" for note in self.notes]


def _parties(convention: Convention, prefix: str = "") -> Iterator[tuple[str, Party]]:
    """Every party of the file and of its follow-ups, with its place in the file."""
    for index, party in enumerate(convention.parties):
        yield f"{prefix}parties.{index}", party
    for stage_index, spec in enumerate(convention.stages):
        if isinstance(spec, DiagnosticStage):
            for position, follow_up in enumerate(spec.follow_ups):
                yield from _parties(
                    follow_up, f"{prefix}stages.{stage_index}.follow_ups.{position}."
                )


def _same_name(left: str, right: str) -> bool:
    return " ".join(left.split()).casefold() == " ".join(right.split()).casefold()


async def propose(db: Database, convention: Convention) -> ImportProposal:
    """Compare the file's parties (and its follow-ups') with the directory; change nothing."""
    proposal = ImportProposal(convention.id, version=await store.version(db))
    seen: dict[str, Party] = {}
    for where, party in _parties(convention):
        problem = organisation_id_problem(party.id)
        if problem:
            # An id written before the directory (capitals, '_', '.', up to 80 characters):
            # the directory cannot hold it; its conventions' files still speak for it.
            proposal.notes.append(
                f"{where}.id: {party.id!r} is not imported ({problem}); rename the party to "
                "have the directory speak for it"
            )
            continue
        found = await store.organisation(db, party.id)
        if found is None:
            if party.id not in seen:
                seen[party.id] = party
                proposal.new_organisations.append(party)
            elif party != seen[party.id]:
                proposal.notes.append(
                    f"{where}: {party.id} is declared twice in the file; the first is imported"
                )
            continue
        await _compare(db, proposal, where, party, found)
    return proposal


async def _compare(
    db: Database, proposal: ImportProposal, where: str, party: Party, found: store.Organisation
) -> None:
    if found.archived_at is not None:
        proposal.differences.append(Difference(where, party.id, ARCHIVED, party))
    if not any(
        _same_name(party.name, name or "") for name in (found.name_fr, found.name_ar, found.name_en)
    ):
        proposal.notes.append(
            f"{where}.name: the directory names {party.id} {found.name()!r}; the file's "
            f"{party.name!r} is not imported"
        )
    directory_url = await store.webhook_url(db, party.id)
    if party.webhook_url is not None and str(party.webhook_url) != directory_url:
        proposal.differences.append(
            Difference(
                f"{where}.webhook_url",
                party.id,
                SETS_WEBHOOK,
                party,
                facts=(("url", str(party.webhook_url)), ("current", directory_url or "none")),
            )
        )
    people = await store.people_of(db, party.id)
    for index, contact in enumerate(party.contacts):
        place = f"{where}.contacts.{index}"
        person, capacities = _match(people, contact)
        if contact.email is None:
            # No address: no mail, no link, no code can reach them; only noted.
            if person is None:
                proposal.notes.append(
                    f"{place}: {contact.name} (no address) is not a person of {party.id} in the "
                    "directory; not imported"
                )
            continue
        if person is None:
            same_name = next((p for p, _ in people if _same_name(p.name, contact.name)), None)
            if same_name is not None and contact.email is not None:
                facts = (
                    ("name", contact.name),
                    ("old", same_name.email or "none"),
                    ("new", str(contact.email)),
                )
                proposal.differences.append(
                    Difference(place, party.id, CHANGES_ADDRESS, party, contact, same_name, facts)
                )
            else:
                proposal.differences.append(
                    Difference(
                        place,
                        party.id,
                        ADDS_PERSON,
                        party,
                        contact,
                        facts=(("name", contact.name), ("email", str(contact.email))),
                    )
                )
            continue
        if person.removed_at is not None:
            proposal.differences.append(
                Difference(
                    place,
                    party.id,
                    NAMES_REMOVED,
                    party,
                    contact,
                    person,
                    (("name", contact.name),),
                )
            )
            continue
        if not any(capacity.revoked_at is None for capacity in capacities):
            proposal.differences.append(
                Difference(
                    place,
                    party.id,
                    NAMES_REVOKED,
                    party,
                    contact,
                    person,
                    (("name", contact.name),),
                )
            )
        changed = [
            f"{name} {old or 'none'} → {new or 'none'}"
            for name, old, new in (
                ("language", person.language, contact.language.value),
                ("title", person.title, contact.title),
            )
            if new and old != new
        ]
        if changed:
            proposal.differences.append(
                Difference(
                    place,
                    party.id,
                    CHANGES_PERSON,
                    party,
                    contact,
                    person,
                    (("name", contact.name), ("changes", "; ".join(changed))),
                )
            )


def _match(
    people: list[tuple[store.Person, list[store.Capacity]]], contact: Contact
) -> tuple[store.Person | None, list[store.Capacity]]:
    """The directory's person for a file's contact: by address, or by name when the file
    gives no address (its links then carry none, and no code can be mailed)."""
    for person, capacities in people:
        if contact.email is not None:
            if person.email and person.email.lower() == str(contact.email).lower():
                return person, capacities
        elif _same_name(person.name, contact.name):
            return person, capacities
    return None, []


class DirectoryChangesRefused(Refused):
    """The file would change who acts for an existing organisation: nothing was started."""

    def __init__(self, detail: str, errors: list[FieldError], differences: list[Difference]):
        super().__init__(detail, errors)
        self.differences = differences


def _refusal(proposal: ImportProposal) -> DirectoryChangesRefused:
    return DirectoryChangesRefused(
        f"convention {proposal.convention_id}: the file would change the directory "
        f"({len(proposal.differences)} difference(s)); nothing was started. Make the changes "
        "in the directory (`starter.py parties …`, by an admin), or have an admin accept them "
        "(`--accept-directory-changes`): "
        + "; ".join(str(difference.as_field_error()) for difference in proposal.differences),
        [difference.as_field_error() for difference in proposal.differences],
        proposal.differences,
    )


def _new_person(contact: Contact) -> NewPerson:
    return NewPerson(
        name=contact.name,
        email=str(contact.email) if contact.email else None,
        language=contact.language.value,
        title=contact.title or None,
    )


def _names(party: Party) -> dict[str, str | None]:
    """The file's names: each under its language when it gave several (`name: {fr: …, ar:
    …}`), else its one name under the language it is written in."""
    if party.names:
        return {f"name_{language.value}": name for language, name in party.names.items()}
    arabic = next((c for c in party.name if c.isalpha()), "a") >= "\u0600"
    return {"name_ar": party.name} if arabic else {"name_fr": party.name}


async def apply(
    connection: asyncpg.Connection, editor: Editor, proposal: ImportProposal, *, accept: bool
) -> None:
    """Create the new organisations with their people; with `accept` (an admin), make the
    differences too. Refuses (nothing done) when there are differences and no acceptance."""
    if proposal.differences and not accept:
        raise _refusal(proposal)
    if proposal.differences and editor.role is not EditorRole.ADMIN:
        raise Forbidden(N_("accepting directory changes from a file: only an admin may do this"))
    reason = f"imported from convention {proposal.convention_id}'s file"
    for party in proposal.new_organisations:
        await create_organisation(
            connection,
            editor,
            NewOrganisation(
                id=party.id, kind=party.kind.value, country=party.country, **_names(party)
            ),
            reason=reason,
        )
        if party.webhook_url is not None:
            await store.set_webhook_url(connection, party.id, str(party.webhook_url))
            await store.record_change(
                connection,
                actor=editor.recorded_as,
                action="channel.webhook",
                organisation_id=party.id,
                new_value={"webhook_url": str(party.webhook_url)},
                reason=reason,
            )
        for contact in party.contacts:
            await enrol_person(
                connection,
                editor,
                party.id,
                _new_person(contact),
                list(EVERY_CAPACITY),
                reason=reason,
            )
    await accept_differences(connection, editor, proposal)


async def accept_differences(
    connection: asyncpg.Connection, editor: Editor, proposal: ImportProposal
) -> None:
    """Make the file's differences the directory's, as the admin's changes (the caller checks
    the role: `--accept-directory-changes`, or the desk's confirmation page)."""
    accepted = f"accepted from convention {proposal.convention_id}'s file"
    for difference in proposal.differences:
        await _accept(connection, editor, difference, accepted)


async def _accept(
    connection: asyncpg.Connection, editor: Editor, difference: Difference, reason: str
) -> None:
    party, contact, person = difference.party, difference.contact, difference.person
    if contact is None:
        if difference.field.endswith(".webhook_url"):
            url = str(party.webhook_url) if party.webhook_url else None
            old = await store.set_webhook_url(connection, party.id, url)
            await store.record_change(
                connection,
                actor=editor.recorded_as,
                action="channel.webhook",
                organisation_id=party.id,
                old_value={"webhook_url": old},
                new_value={"webhook_url": url},
                reason=reason,
            )
        return  # an archived organisation stays archived: restoring it is its own act
    if person is not None and person.removed_at is None:
        values = {
            **person.__dict__,
            **{k: v for k, v in _new_person(contact).__dict__.items() if v},
        }
        await store.update_person(connection, person.id, values)
        await store.record_change(
            connection,
            actor=editor.recorded_as,
            action="person.change",
            organisation_id=party.id,
            person_id=person.id,
            old_value={"email": person.email, "language": person.language, "title": person.title},
            new_value={
                "email": values["email"],
                "language": values["language"],
                "title": values["title"],
            },
            reason=reason,
        )
        await store.revoke_capacities(connection, person.id, party.id, None, editor.recorded_as)
        for capacity in EVERY_CAPACITY:
            await store.insert_capacity(
                connection, person.id, party.id, capacity.value, None, None, editor.recorded_as
            )
        await store.record_change(
            connection,
            actor=editor.recorded_as,
            action="capacity.grant",
            organisation_id=party.id,
            person_id=person.id,
            new_value={"capacities": [capacity.value for capacity in EVERY_CAPACITY]},
            reason=reason,
        )
        return
    await enrol_person(
        connection, editor, party.id, _new_person(contact), list(EVERY_CAPACITY), reason=reason
    )


@asynccontextmanager
async def parties_imported(
    pool: asyncpg.Pool, editor: Editor, convention: Convention, *, accept: bool = False
) -> AsyncIterator[ImportProposal]:
    """Import the file's parties for the body of the `with` (the start): if it raises, the
    directory is left as it was; if the file would change existing organisations, refuse
    before the body runs (nothing is started)."""
    async with transaction(pool) as connection:
        await store.lock_imports(connection)
        proposal = await propose(connection, convention)
        await apply(connection, editor, proposal, accept=accept)
        yield proposal


async def import_files(
    pool: asyncpg.Pool, editor: Editor, conventions: list[Convention], *, accept: bool = False
) -> list[str]:
    """Import several files' parties at once (the demo's seeds); the organisations created.
    A second run creates nothing: what the files say is already the directory's."""
    created: list[str] = []
    for convention in conventions:
        async with parties_imported(pool, editor, convention, accept=accept) as proposal:
            created += [party.id for party in proposal.new_organisations]
    return created
