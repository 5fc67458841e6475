"""A convention's page on the office desk: the workflow's status, the read model's row, its
linked conventions, its deliveries, its archived runs and its latest milestones."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import asyncpg
from temporalio.client import Client

from application.conventions import (
    ConventionNotFound,
    ConventionUnreadable,
    convention_status,
    workflow_busy,
)
from application.directory.names import Names, file_name, names_of
from application.errors import NotFound
from rendering.catalogues import N_
from rendering.deliveries import delivery_detail, read_back
from rendering.formats import Said, money
from rendering.record import directory_people
from rendering.zones import DEFAULT_ZONE, day_in
from schemas.channels import DeliveryDetailCode
from schemas.convention import Officer
from schemas.errors import DetailCode, coded_detail
from schemas.milestones import Milestone, MilestoneKind
from schemas.status import ConventionState, ConventionStatus
from storage import convention_overview as stored
from storage import directory as directory_store
from storage.milestones import recorded_timeline

TIMELINE_SHOWN = 500
"""Milestones on a convention's page, the latest; the auditors' timeline has them all."""
SETTLE_AFTER_ACTION = 5.0
"""Seconds a page shown just after an action (a start, an answer, a reassignment) waits for
the workflow to settle, so that it shows the state the action produced; past them, the page
says "updating" and refreshes."""
_SETTLE_POLL = 0.2


@dataclass(frozen=True)
class PersonView:
    """Someone who acts for a party, as the page shows them: name, role, address."""

    name: str
    email: str
    title: str


@dataclass(frozen=True)
class PartyView:
    """A party as the page shows it: its name in the reader's language, the people who act
    for it with their contacts (the directory's, or the file's for an organisation it
    lacks), and the contacts a task of it may be reassigned to (the file's: the workflow
    gives a task only to a contact the convention names)."""

    id: str
    name: str
    kind: str
    people: list[PersonView]
    in_directory: bool
    contacts: list[str] = field(default_factory=list)


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
    missing_channels: list[tuple[str, list[str]]] = field(default_factory=list)
    """(party id, msgids): the channels a party never declared, said once on one line, not
    one row per notification."""
    facts: list[tuple[str, Said]] = field(default_factory=list)
    """The dates and amounts, each with its label's msgid, said in the reader's language."""
    reader_email: str = ""
    """The reader's address: the responsible officer may change who it is."""
    officer_choices: list[Any] = field(default_factory=list)
    """The office accounts the form to change the responsible officer offers (filled only
    for a reader who may change it: application.office.responsible_officer.OfficerChoice)."""
    reassign_choices: list[Any] = field(default_factory=list)
    """For each open task, the people it may be given to (filled only for a reader who may
    reassign: application.office.reassignees.TaskChoices)."""
    updating: bool = False
    """The workflow is still at work and has no open task to show yet (a convention just
    started, a stage just ended): the page says so and refreshes, never "no open task"."""
    titles: dict[str, str] = field(default_factory=dict)
    """The title in each language the file gave it in (`title: {fr: …, ar: …}`)."""

    def title(self, original: str) -> str:
        """The title in the reader's language when the file gave it, else `original`."""
        return self.titles.get(self.language) or original

    def contacts_of(self, party_id: str) -> list[str]:
        """The contacts a task owed by this party may be given to (the file's, by name)."""
        return next((p.contacts for p in self.parties if p.id == party_id), [])

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
    def officer(self) -> Officer | None:
        """The responsible officer now, as the workflow holds it (None: it does not answer)."""
        return self.status.officer if self.status is not None else None

    @property
    def can_change_officer(self) -> bool:
        """The reader is the responsible officer, the convention running: they may hand it
        over (an admin does it from the officer's page)."""
        officer = self.officer
        return (
            self.can_act
            and self.active
            and officer is not None
            and officer.email is not None
            and officer.email.lower() == self.reader_email.lower()
        )

    @property
    def any_action(self) -> bool:
        """Whether the page offers the reader any action."""
        return self.can_postpone or self.can_reassign or self.can_answer or self.can_terminate


async def convention_overview(
    pool: asyncpg.Pool,
    client: Client,
    convention_id: str,
    *,
    can_act: bool,
    language: str = "fr",
    settle: float = 0.0,
    reader_email: str = "",
    zone: str = DEFAULT_ZONE,
) -> ConventionOverview:
    """The convention's page; NotFound if neither Temporal nor the read model knows it.
    `settle`: seconds to wait for a busy workflow to show an open task (after an action);
    `zone`: the reader's, the day its dates are."""
    row = await stored.convention_row(pool, convention_id)
    try:
        status, updating = await settled_status(client, convention_id, settle)
    except ConventionNotFound as error:
        if row is None:
            raise NotFound(
                coded_detail(
                    DetailCode.CONVENTION_UNKNOWN,
                    f"no convention {convention_id!r}",
                    convention=convention_id,
                )
            ) from error
        status, updating = None, False
    except ConventionUnreadable:
        status, updating = None, False
    # The timeline is PostgreSQL's (the workflow keeps only its latest milestones).
    recorded = await recorded_timeline(pool, convention_id, last=TIMELINE_SHOWN)
    timeline = recorded.with_unwritten(status.milestones if status is not None else [])
    every_delivery = await stored.deliveries(pool, convention_id)
    deliveries = [
        {**d, "said": delivery_words(d), "detail": _detail(d, language)}
        for d in every_delivery
        if d["status"] != "no_channel"
    ]
    missing = _missing_channels(every_delivery)
    titles, declared = await stored.file_languages(pool, convention_id)
    mentioned = [p["id"] for p in declared]
    mentioned += [t.assignee for t in status.open_tasks] if status is not None else []
    mentioned += [d["party"] for d in every_delivery] + [
        m.party for m in timeline.milestones if m.party
    ]
    names = await names_of(
        pool,
        mentioned,
        directory_people(m.details for m in timeline.milestones),
        written={p["id"]: file_name(p, language) for p in declared},
    )
    return ConventionOverview(
        timeline=timeline.milestones[-TIMELINE_SHOWN:],
        timeline_total=timeline.total,
        row=row,
        status=status,
        children=await stored.children(pool, convention_id),
        deliveries=deliveries,
        missing_channels=missing,
        archived_runs=await stored.archived_runs(pool, convention_id),
        can_act=can_act,
        parties=[await _party(pool, party, names, language) for party in declared],
        names=names,
        titles=titles,
        language=language,
        facts=_facts(row, status, timeline.milestones, language, zone),
        reader_email=reader_email,
        updating=updating,
    )


_DELIVERY_STATES = {
    "pending": N_("waiting to be sent"),
    "sending": N_("being sent"),
    "retrying": N_("failed for now, will be tried again"),
    "delivered": N_("delivered"),
    "failed": N_("failed: an officer's task asks what to do"),
}


def delivery_words(delivery: dict[str, Any]) -> tuple[str, str]:
    """A delivery's state and, for a failure, its cause, as msgids (the raw detail stays
    for those who want it): what an officer reads instead of `failed` and a stack of text."""
    state = _DELIVERY_STATES.get(str(delivery["status"]), str(delivery["status"]))
    if delivery["status"] not in ("retrying", "failed"):
        return state, ""
    code = delivery.get("last_response_code")
    if delivery["channel"] == "email":
        return state, N_("the mail server did not accept the message")
    if code is None:
        return state, N_("the party's server could not be reached")
    if code in (401, 403):
        return state, N_("the party's server refused the signature (wrong secret?)")
    if 400 <= code < 500:
        return state, N_("the party's server refused the message")
    return state, N_("the party's server failed while receiving it")


def _detail(delivery: dict[str, Any], language: str) -> Said | None:
    """The log's detail of a delivery in the reader's language (what a server answered
    quoted as it answered; a wording Pacte does not write, as recorded)."""
    text = delivery.get("last_detail")
    if not text:
        return None
    return delivery_detail(str(text), delivery["channel"], delivery["status"], language)


_NO_MAIL_SERVER = frozenset(
    {DeliveryDetailCode.NO_SMTP_SERVER, DeliveryDetailCode.NO_SMTP_ON_WORKER}
)


def _missing_channels(every_delivery: list[dict[str, Any]]) -> list[tuple[str, list[str]]]:
    """One line per party: the channels it never declared (or unusable here), each said
    once however many notifications it missed."""
    reasons: dict[str, dict[str, str]] = {}
    for delivery in every_delivery:
        if delivery["status"] != "no_channel":
            continue
        detail = read_back(
            str(delivery.get("last_detail") or ""), delivery["channel"], delivery["status"]
        )
        if delivery["channel"] == "webhook":
            said = N_("no webhook")
        elif detail is not None and detail.code in _NO_MAIL_SERVER:
            said = N_("no mail server configured here: e-mails are not sent")
        else:
            said = N_("no e-mail address")
        reasons.setdefault(str(delivery["party"]), {}).setdefault(str(delivery["channel"]), said)
    return [
        (party, [said for _channel, said in sorted(by_channel.items())])
        for party, by_channel in sorted(reasons.items())
    ]


def _facts(
    row: dict[str, Any] | None,
    status: ConventionStatus | None,
    milestones: list[Milestone],
    language: str,
    zone: str = DEFAULT_ZONE,
) -> list[tuple[str, Said]]:
    """The convention's dates and amounts as the page lists them (Babel's forms); each
    date is a moment's, said as the day it is in the reader's `zone`."""
    facts: list[tuple[str, Said]] = []
    started = next((m for m in milestones if m.kind is MilestoneKind.CONVENTION_STARTED), None)
    if started is not None:
        facts.append((N_("Started on"), day_in(started.occurred_at, language, zone)))
    if status is not None and status.open_tasks:
        soonest = min(task.due_at for task in status.open_tasks)
        facts.append((N_("Next due date"), day_in(soonest, language, zone)))
    if row is not None:
        facts.append((N_("Last changed on"), day_in(row["updated_at"], language, zone)))
        for label, amount, currency in (
            (N_("Funding requested"), "requested", "currency"),
            (N_("Funding granted"), "granted", "granted_currency"),
            (N_("Budget"), "budget", "budget_currency"),
            (N_("Spent"), "spent", "spent_currency"),
        ):
            value, code = row.get(amount), row.get(currency) or row.get("currency")
            if value is not None and code:
                facts.append((label, money(value, str(code), language)))
    return facts


def _waiting(status: ConventionStatus) -> bool:
    """Nothing to answer yet while running: what a workflow at work may be about to change."""
    return status.state is ConventionState.ACTIVE and not status.open_tasks


async def settled_status(
    client: Client, convention_id: str, settle: float = 0.0
) -> tuple[ConventionStatus, bool]:
    """The workflow's status once it shows an open task, has ended, or has nothing in hand
    (waiting at most `settle` seconds), and whether it is still at work with nothing to show
    (the page then says "updating")."""
    deadline = time.monotonic() + settle
    while True:
        status = await convention_status(client, convention_id, rpc_timeout=timedelta(seconds=10))
        if not _waiting(status):
            return status, False
        busy = await workflow_busy(client, convention_id)
        if not busy:
            return status, False
        if time.monotonic() >= deadline:
            return status, True
        await asyncio.sleep(_SETTLE_POLL)


async def _party(
    pool: asyncpg.Pool, declared: dict[str, Any], names: Names, language: str
) -> PartyView:
    """One declared party: the directory's people when it holds the organisation (it decides
    who acts for it), else the names of the file's contacts."""
    party_id = declared["id"]
    in_directory = party_id in names.organisations
    written = [c for c in declared.get("contacts") or [] if isinstance(c, dict)]
    if in_directory:
        people = [
            PersonView(person.name, person.email or "", person.title or "")
            for person, _ in await directory_store.people_of(pool, party_id)
            if person.removed_at is None
        ]
    else:
        people = [
            PersonView(str(c["name"]), str(c.get("email") or ""), str(c.get("title") or ""))
            for c in written
        ]
    return PartyView(
        id=party_id,
        name=names.organisation(party_id, language),
        kind=str(declared.get("kind") or ""),
        people=people,
        in_directory=in_directory,
        contacts=[str(c["name"]) for c in written],
    )
