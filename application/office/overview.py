"""A convention's page on the office desk: the workflow's status, the read model's row, its
linked conventions, its deliveries, its archived runs and its latest milestones."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import asyncpg
from temporalio.client import Client

from application.conventions import ConventionNotFound, ConventionUnreadable, convention_status
from application.directory.names import Names, names_of
from application.errors import NotFound
from schemas.milestones import Milestone
from schemas.status import ConventionState, ConventionStatus
from storage import convention_overview as stored
from storage import directory as directory_store
from storage.milestones import recorded_timeline

TIMELINE_SHOWN = 500
"""Milestones on a convention's page, the latest; the auditors' timeline has them all."""


@dataclass(frozen=True)
class PartyView:
    """A party as the page shows it: its name in the reader's language, and the people who
    act for it (the directory's, or the file's contacts for an organisation it lacks)."""

    id: str
    name: str
    kind: str
    people: list[str]
    in_directory: bool


@dataclass(frozen=True)
class ConventionOverview:
    """What the convention's page shows; `can_terminate` and `can_act` say what the reader
    may do there, so the page decides nothing itself."""

    timeline: list[Milestone]
    timeline_total: int
    row: dict[str, Any] | None
    status: ConventionStatus | None
    children: list[dict[str, Any]]
    deliveries: list[dict[str, Any]]
    archived_runs: int
    can_act: bool
    parties: list[PartyView] = field(default_factory=list)
    names: Names = field(default_factory=Names)
    language: str = "fr"

    def party_name(self, party_id: str | None) -> str:
        """A party's name in the reader's language (its id when no name is known)."""
        return "" if not party_id else self.names.organisation(party_id, self.language)

    @property
    def active(self) -> bool:
        """The workflow answers and the convention is still running."""
        return self.status is not None and self.status.state is ConventionState.ACTIVE

    @property
    def can_open_tasks(self) -> bool:
        """The reader may open a task's form to answer it on the party's behalf."""
        return self.can_act

    @property
    def can_postpone(self) -> bool:
        """The reader may postpone a task's deadline: an officer, the convention running."""
        return self.can_act and self.active

    @property
    def can_reassign(self) -> bool:
        """The reader may reassign a task: an officer, the convention running."""
        return self.can_act and self.active

    @property
    def can_answer(self) -> bool:
        """The reader may answer on a party's behalf: an officer, the convention running."""
        return self.can_act and self.active

    @property
    def can_terminate(self) -> bool:
        """The reader may terminate the convention: an officer, the convention running."""
        return self.can_act and self.active

    @property
    def any_action(self) -> bool:
        """Whether the page offers the reader any action."""
        return self.can_postpone or self.can_reassign or self.can_answer or self.can_terminate


async def convention_overview(
    pool: asyncpg.Pool, client: Client, convention_id: str, *, can_act: bool, language: str = "fr"
) -> ConventionOverview:
    """The convention's page; NotFound if neither Temporal nor the read model knows it."""
    row = await stored.convention_row(pool, convention_id)
    try:
        status: ConventionStatus | None = await convention_status(
            client, convention_id, rpc_timeout=timedelta(seconds=10)
        )
    except ConventionNotFound as error:
        if row is None:
            raise NotFound(f"no convention {convention_id!r}") from error
        status = None
    except ConventionUnreadable:
        status = None
    # The timeline is PostgreSQL's (the workflow keeps only its latest milestones).
    recorded = await recorded_timeline(pool, convention_id, last=TIMELINE_SHOWN)
    timeline = recorded.with_unwritten(status.milestones if status is not None else [])
    deliveries = await stored.deliveries(pool, convention_id)
    declared = await stored.file_parties(pool, convention_id)
    mentioned = [p["id"] for p in declared]
    mentioned += [t.assignee for t in status.open_tasks] if status is not None else []
    mentioned += [d["party"] for d in deliveries] + [
        m.party for m in timeline.milestones if m.party
    ]
    names = await names_of(
        pool, mentioned, written={p["id"]: str(p.get("name") or "") for p in declared}
    )
    return ConventionOverview(
        timeline=timeline.milestones[-TIMELINE_SHOWN:],
        timeline_total=timeline.total,
        row=row,
        status=status,
        children=await stored.children(pool, convention_id),
        deliveries=deliveries,
        archived_runs=await stored.archived_runs(pool, convention_id),
        can_act=can_act,
        parties=[await _party(pool, party, names, language) for party in declared],
        names=names,
        language=language,
    )


async def _party(
    pool: asyncpg.Pool, declared: dict[str, Any], names: Names, language: str
) -> PartyView:
    """One declared party: the directory's people when it holds the organisation (it decides
    who acts for it), else the names of the file's contacts."""
    party_id = declared["id"]
    in_directory = party_id in names.organisations
    if in_directory:
        people = [
            person.name
            for person, _ in await directory_store.people_of(pool, party_id)
            if person.removed_at is None
        ]
    else:
        people = [str(c["name"]) for c in declared.get("contacts") or [] if isinstance(c, dict)]
    return PartyView(
        id=party_id,
        name=names.organisation(party_id, language),
        kind=str(declared.get("kind") or ""),
        people=people,
        in_directory=in_directory,
    )
