"""The data migration for running conventions: the parties and contacts of every open
convention's stored file imported into the directory, once, with a report of conflicts.

The first file (oldest recorded) that names an organisation creates it with its people; a
later file that names the same party id with other names or other contacts is not applied:
each difference is reported for an admin to resolve in the directory (`starter.py parties
…`). Until an organisation is in the directory, its conventions' files still decide who acts
for it; once it is, only the directory does. Running it again imports what is new and
reports the same conflicts again (nothing is done twice).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field, replace

import asyncpg
from pydantic import ValidationError

from application.directory.editors import Editor
from application.directory.import_proposal import apply, propose
from infra.database import transaction
from schemas.convention import Convention
from storage import directory as store


@dataclass(frozen=True)
class Conflict:
    """A running convention's file that says otherwise than the directory."""

    convention_id: str
    field: str
    reason: str

    def __str__(self) -> str:
        return f"{self.convention_id}: {self.field}: {self.reason}"


@dataclass
class MigrationReport:
    """What the migration did, and what an admin has to resolve."""

    conventions: int = 0
    organisations: list[str] = field(default_factory=list)
    people: int = 0
    conflicts: list[Conflict] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)


async def import_running_conventions(
    pool: asyncpg.Pool, editor: Editor, only: Collection[str] | None = None
) -> MigrationReport:
    """Import the parties of every open convention's stored file (see the module's text);
    `only`: of these conventions alone (one at a time, or a trial run)."""
    report = MigrationReport()
    for convention_id, document in await store.open_convention_files(pool):
        if only is not None and convention_id not in only:
            continue
        try:
            convention = Convention.model_validate(document)
        except ValidationError:
            report.unreadable.append(convention_id)
            continue
        report.conventions += 1
        async with transaction(pool) as connection:
            await store.lock_imports(connection)
            proposal = await propose(connection, convention)
            await apply(connection, editor, replace(proposal, differences=[]), accept=False)
        report.organisations += [party.id for party in proposal.new_organisations]
        report.people += sum(len(party.contacts) for party in proposal.new_organisations)
        report.conflicts += [
            Conflict(
                convention_id,
                difference.field,
                f"{difference.organisation_id}: {difference.reason}",
            )
            for difference in proposal.differences
        ]
        report.conflicts += [
            Conflict(convention_id, *note.split(": ", 1))
            for note in proposal.notes
            if ".name: " in note or "(no address)" in note
        ]
    return report
