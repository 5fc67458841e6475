"""The convention editor's use cases: drafts written in the office desk's forms, kept per
officer, versioned and shareable; checked by the same models as `starter.py validate` (every
error at once); previewed as a stage plan; started by the same use case as the desk's
upload and `starter.py start`; exported to and imported from YAML or JSON unchanged.

A draft is a convention file's document as it stands, valid or not: what the officer typed is
kept even when it does not validate yet, so nothing typed is lost.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import yaml
from temporalio.service import RPCError

from application.errors import Conflict, InvalidInput, NotFound
from application.office import starting
from application.office.roles import Permission, authorize
from application.office.signin import OfficeSession
from application.partner import PartnerDesk
from schemas.convention import (
    Convention,
    DiagnosticStage,
    DraftingStage,
    FundingRequestStage,
    ImplementationStage,
    MissionStage,
    ReminderPolicy,
    SignatureStage,
    StageSpec,
)
from schemas.convention_file import (
    convention_errors,
    count_values,
    located,
    parse_document,
)
from schemas.errors import DetailCode, FieldError, InputError, coded_detail
from schemas.tasks import Task, TaskKind
from storage import directory as directory_store
from storage import drafts as store
from storage import office_accounts as accounts_store
from storage.drafts import DraftRow
from workflows import task_rules as rules

MAX_DRAFT_BYTES = starting.UPLOAD_MAX_BYTES
"""A draft's document as JSON may take this much: what an uploaded file may."""
STALE = "another officer changed this draft since you opened it: nothing was saved"


@dataclass(frozen=True)
class Draft:
    """A draft as the editor shows it: its document, its version, who may open it."""

    id: str
    owner: str
    document: dict[str, Any]
    version: int
    updated_at: datetime
    updated_by: str
    started_as: str | None
    shared_with: tuple[str, ...]

    @property
    def title(self) -> str:
        """Its title as typed so far (or its id)."""
        title = self.document.get("title")
        return title if isinstance(title, str) and title else str(self.document.get("id") or "")


def _draft(row: DraftRow) -> Draft:
    return Draft(
        row.id,
        row.owner,
        row.document,
        row.version,
        row.updated_at,
        row.updated_by,
        row.started_as,
        row.shared_with,
    )


def blank_document(session: OfficeSession) -> dict[str, Any]:
    """What a new draft starts from: the officer in charge is the one writing it."""
    return {
        "id": "",
        "title": "",
        "kind": "framework",
        "officer": {"name": session.user.name, "email": session.user.email},
        "parties": [],
        "signatories": [],
        "stages": [],
    }


def _officer(session: OfficeSession) -> str:
    authorize(session, Permission.START)
    return session.user.email


def _bounded(document: dict[str, Any]) -> None:
    size = len(json.dumps(document, ensure_ascii=False, default=str).encode())
    if size > MAX_DRAFT_BYTES or count_values(document, starting.UPLOAD_MAX_NODES) > (
        starting.UPLOAD_MAX_NODES
    ):
        raise InvalidInput(
            "draft too large",
            [FieldError("", f"a draft may take at most {MAX_DRAFT_BYTES} bytes")],
        )


async def create(
    partner: PartnerDesk, session: OfficeSession, document: dict[str, Any] | None = None
) -> Draft:
    """A new draft of this officer's, blank or from a document (a copy, an import)."""
    owner = _officer(session)
    document = blank_document(session) if document is None else document
    _bounded(document)
    draft_id = "d-" + secrets.token_hex(8)
    return _draft(await store.insert(partner.pool, draft_id, owner, document))


async def open_draft(partner: PartnerDesk, session: OfficeSession, draft_id: str) -> Draft:
    """A draft its owner or an officer it was shared with may open; NotFound otherwise."""
    email = _officer(session)
    row = await store.get(partner.pool, draft_id)
    if row is None or (row.owner != email and email not in row.shared_with):
        raise NotFound(coded_detail(DetailCode.NO_DRAFT, f"no draft {draft_id!r}", draft=draft_id))
    return _draft(row)


async def drafts_of(partner: PartnerDesk, session: OfficeSession) -> list[Draft]:
    """The drafts the officer owns or was given, latest first."""
    return [_draft(row) for row in await store.visible_to(partner.pool, _officer(session))]


async def save(
    partner: PartnerDesk,
    session: OfficeSession,
    draft_id: str,
    version: int,
    document: dict[str, Any],
) -> Draft:
    """Store what was typed over the version it was typed on; Conflict (nothing written) if
    another officer saved the draft since."""
    draft = await open_draft(partner, session, draft_id)
    _bounded(document)
    saved = await store.save(partner.pool, draft.id, version, document, session.user.email)
    if saved is None:
        raise Conflict(STALE, [FieldError("version", STALE)])
    return await open_draft(partner, session, draft_id)


async def share(partner: PartnerDesk, session: OfficeSession, draft_id: str, email: str) -> Draft:
    """Give the draft to another officer (an account of the office, by e-mail)."""
    draft = await open_draft(partner, session, draft_id)
    email = email.strip().lower()
    account = await accounts_store.account(partner.pool, email)
    if account is None or account.role != "officer" or account.disabled_at is not None:
        raise InvalidInput(
            "no such officer", [FieldError("email", "no officer has this e-mail address")]
        )
    await store.share(partner.pool, draft.id, email, session.user.email)
    return await open_draft(partner, session, draft_id)


async def copy_of(partner: PartnerDesk, session: OfficeSession, convention_id: str) -> Draft:
    """A new draft from an existing convention's file, under a new id to choose."""
    _officer(session)
    try:
        convention = await partner.convention(convention_id.strip())
    except (RPCError, ValueError) as error:
        raise NotFound(
            coded_detail(
                DetailCode.CONVENTION_UNKNOWN,
                f"no convention {convention_id!r}",
                convention=convention_id,
            )
        ) from error
    document = convention.model_dump(mode="json", exclude_none=True)
    document["id"] = f"{convention.id}-copy"[:80]
    document.pop("origin", None)
    return await create(partner, session, document)


def check(document: dict[str, Any]) -> tuple[Convention | None, list[FieldError]]:
    """The convention, or every error of it at once: the models `starter.py validate` uses."""
    return convention_errors(document)


@dataclass(frozen=True)
class Imported:
    """A file read into a new draft, and every error it has (the draft keeps it as it is)."""

    draft: Draft
    errors: list[FieldError]


async def import_file(
    partner: PartnerDesk, session: OfficeSession, data: bytes, filename: str
) -> Imported:
    """A YAML or JSON file as a new draft, with every error of it, each at its line and
    column; a file that is not even a mapping is refused (InvalidInput), nothing created."""
    _officer(session)
    source = filename or "upload"
    if len(data) > starting.UPLOAD_MAX_BYTES:
        raise InvalidInput(
            "file too large",
            [FieldError("", f"{source}: larger than {starting.UPLOAD_MAX_BYTES} bytes")],
        )
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise InvalidInput("not UTF-8", [FieldError("", f"{source}: not UTF-8 text")]) from error
    as_json = source.lower().endswith(".json")
    try:
        document = parse_document(text, source, as_json=as_json)
    except InputError as error:
        raise InvalidInput(str(error), error.errors) from error
    if not isinstance(document, dict):
        raise InvalidInput(
            "not a mapping", [FieldError("", f"{source}: expected a mapping of fields")]
        )
    document = json.loads(json.dumps(document, ensure_ascii=False, default=_json_value))
    draft = await create(partner, session, document)
    _, errors = check(document)
    return Imported(draft, located(errors, text, as_json=as_json))


def _json_value(value: Any) -> Any:
    """YAML's dates as the ISO text JSON carries them (the models read both)."""
    if isinstance(value, date | datetime):
        return value.isoformat()
    raise TypeError(f"cannot keep a {type(value).__name__} in a draft")


def export(document: dict[str, Any], fmt: str) -> str:
    """The draft as a convention file: YAML or JSON, keys in the draft's order."""
    if fmt == "json":
        return json.dumps(document, ensure_ascii=False, indent=2) + "\n"
    return yaml.safe_dump(document, allow_unicode=True, sort_keys=False)


async def archived_parties(partner: PartnerDesk, document: dict[str, Any]) -> dict[str, str]:
    """The draft's parties the directory has archived since: party id → organisation id."""
    found: dict[str, str] = {}
    for party in document.get("parties") or []:
        party_id = party.get("id") if isinstance(party, dict) else None
        if not isinstance(party_id, str) or not party_id:
            continue
        organisation = await directory_store.organisation(partner.pool, party_id)
        if organisation is not None and organisation.archived_at is not None:
            found[party_id] = organisation.id
    return found


async def party_from_directory(partner: PartnerDesk, organisation_id: str) -> dict[str, Any]:
    """A party as the directory holds it: its id, name, kind, country, its people as
    contacts, its webhook; NotFound for an unknown or archived organisation."""
    organisation = await directory_store.organisation(partner.pool, organisation_id)
    if organisation is None or organisation.archived_at is not None:
        raise NotFound(
            coded_detail(
                DetailCode.NO_ORGANISATION,
                f"no organisation {organisation_id!r} in the directory",
                organisation=organisation_id,
            )
        )
    contacts = []
    for person, _capacities in await directory_store.people_of(partner.pool, organisation.id):
        if person.removed_at is not None:
            continue
        contact: dict[str, Any] = {"name": person.name, "language": person.language}
        if person.email:
            contact["email"] = person.email
        if person.title:
            contact["title"] = person.title
        contacts.append(contact)
    party: dict[str, Any] = {
        "id": organisation.id,
        "name": organisation.name("fr"),
        "kind": organisation.kind,
        "country": organisation.country,
        "contacts": contacts[:10],
    }
    webhook = await directory_store.webhook_url(partner.pool, organisation.id)
    if webhook:
        party["webhook_url"] = webhook
    return party


async def directory_choices(partner: PartnerDesk, language: str) -> list[tuple[str, str]]:
    """The organisations a party may be picked from (not archived): id and name."""
    return [
        (organisation.id, organisation.name(language))
        for organisation in await directory_store.organisations(partner.pool)
    ]


# --- preview ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Owed:
    """Who owes a stage's work, and who is told: the party's contacts or its webhook."""

    party: str
    name: str
    what: str
    notified: list[str]


@dataclass(frozen=True)
class PlannedStage:
    """One stage of the plan: its kind, when its first task is due, reminded and escalated
    (an ISO date, or "+N": N days after the stage opens), and what each party owes.

    `reminder` is empty when no reminder comes before the due date (none in the policy, or
    one that would fall before the task is assigned)."""

    stage: str
    due: str
    owed: list[Owed] = field(default_factory=list)
    reminder: str = ""
    escalation: str = ""
    late_every_days: int = 0


def _notified(convention: Convention, party_id: str) -> list[str]:
    party = next((p for p in convention.parties if p.id == party_id), None)
    if party is None:
        return []
    told = [f"{c.name} <{c.email}>" if c.email else c.name for c in party.contacts]
    if party.webhook_url:
        told.append(f"webhook {party.webhook_url}")
    return told


def _owed(convention: Convention, party_id: str, what: str) -> Owed:
    party = next((p for p in convention.parties if p.id == party_id), None)
    return Owed(party_id, party.name if party else party_id, what, _notified(convention, party_id))


FIRST_TASK = {
    "drafting": TaskKind.REVIEW_DRAFT,
    "signature": TaskKind.SIGN,
    "mission": TaskKind.HOST_MISSION,
    "diagnostic": TaskKind.FILE_FINDINGS,
    "funding_request": TaskKind.DECIDE_FUNDING,
    "implementation": TaskKind.REPORT_PROGRESS,
}
"""The kind of the first task each stage assigns (its workflow's first `board.assign`)."""


def first_task_due(spec: StageSpec, opened_at: datetime) -> datetime:
    """When a stage opened at `opened_at` has its first task due, as its workflow sets it: a
    mission's host by the mission's last day (23:59 UTC), a report after the reporting
    period, any other task `due_in_days` after the stage opens."""
    if isinstance(spec, MissionStage):
        return datetime.combine(spec.ends_on, time(23, 59), tzinfo=UTC)
    if isinstance(spec, ImplementationStage):
        return opened_at + timedelta(days=spec.report_every_days)
    return opened_at + timedelta(days=spec.due_in_days)


def first_task(convention: Convention, spec: StageSpec, opened_at: datetime) -> Task:
    """The stage's first task as the board would assign it when the stage opens."""
    owed = _stage_owed(convention, spec)
    return Task(
        id=f"{spec.stage}.preview",
        convention_id=convention.id,
        stage=spec.stage,
        kind=FIRST_TASK[spec.stage],
        assignee=owed[0].party if owed else convention.parties[0].id,
        title=spec.stage,
        assigned_at=opened_at,
        due_at=first_task_due(spec, opened_at),
    )


def follow_ups(
    convention: Convention, spec: StageSpec, opened_at: datetime
) -> tuple[datetime, datetime | None, datetime, ReminderPolicy]:
    """The first task's due date, its reminder before it (or None) and its escalation, by
    the workflow's own schedule (`next_follow_up`) and reminder policy."""
    policy = rules.reminder_policy(convention, spec)
    task = first_task(convention, spec, opened_at)
    reminder: datetime | None = None
    follow_up = rules.next_follow_up(task, policy)
    if follow_up is not None and follow_up[1] == "remind_before_due":
        reminder = follow_up[0]
        follow_up = rules.next_follow_up(
            task.model_copy(update={"reminded_before_due": True}), policy
        )
    assert follow_up is not None and follow_up[1] == "escalate", follow_up
    return task.due_at, reminder, follow_up[0], policy


def plan(convention: Convention, now: datetime | None = None) -> list[PlannedStage]:
    """The stage plan: for each stage, when its first task is due, reminded and escalated
    (dates for the first stage, which opens at the start, and for a mission, whose dates
    are the file's; days after the stage opens for the others, whose opening depends on
    when the one before ends); who owes what in each, and who is told."""
    opened = now or datetime.now(UTC)
    planned: list[PlannedStage] = []
    for index, spec in enumerate(convention.stages):
        due, reminder, escalation, policy = follow_ups(convention, spec, opened)

        def when(moment: datetime | None, absolute: bool) -> str:
            if moment is None:
                return ""
            if absolute:
                return moment.date().isoformat()
            return f"+{(moment - opened).days}"

        absolute = index == 0 or isinstance(spec, MissionStage)
        planned.append(
            PlannedStage(
                spec.stage,
                when(due, absolute),
                _stage_owed(convention, spec),
                reminder=when(reminder, absolute),
                escalation=when(escalation, absolute),
                late_every_days=policy.late_every_days,
            )
        )
    return planned


def _stage_owed(convention: Convention, spec: StageSpec) -> list[Owed]:
    match spec:
        case DraftingStage():
            return [_owed(convention, p, "review the draft") for p in spec.reviewers]
        case SignatureStage():
            owed = []
            for signatory_id in spec.signatories:
                signatory = convention.signatory(signatory_id)
                owed.append(_owed(convention, signatory.party, f"sign: {signatory.name}"))
            return owed
        case MissionStage():
            return [
                _owed(convention, spec.host, "host the mission"),
                _owed(convention, spec.report_by, "file the mission report"),
            ]
        case DiagnosticStage():
            return [_owed(convention, spec.prepared_by, "file the findings")] + [
                _owed(convention, p, "agree the outcomes") for p in spec.agreed_by
            ]
        case FundingRequestStage():
            return [_owed(convention, spec.funder, "decide the funding")]
        case ImplementationStage():
            return [_owed(convention, spec.implementer, "report progress")]
    return []


async def start(
    partner: PartnerDesk,
    task_queue: str,
    session: OfficeSession,
    draft_id: str,
    version: int,
    address: str,
) -> str:
    """Start the draft's convention exactly as the desk's upload and `starter.py start` do;
    a refusal (invalid, id already used) leaves the draft as it is."""
    draft = await open_draft(partner, session, draft_id)
    if draft.version != version:
        raise Conflict(STALE, [FieldError("version", STALE)])
    convention, errors = check(draft.document)
    if convention is None:
        raise InvalidInput("the draft does not validate", errors)
    # Refused (the id used before, a directory change): raised as it is, the draft untouched.
    workflow_id = await starting.start(partner, task_queue, session, convention, address)
    await store.mark_started(partner.pool, draft.id, convention.id)
    return workflow_id
