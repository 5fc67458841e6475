"""Tasks owed by parties, and the answers they give."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Annotated, Any, Literal, Self

from pydantic import BaseModel, Field, StringConstraints, model_validator

from schemas.actors import Principal
from schemas.reasons import ReasonFacts
from schemas.values import (
    DocumentRef,
    Frozen,
    Identifier,
    ItemText,
    Money,
    NonEmptyText,
    Place,
    ShortText,
    Text,
)

MAX_LIST_ITEMS = 60
"""Agenda items held or cancelled, milestones reached, cohorts reported in one answer."""
MAX_FINDINGS = 40
"""Findings, recommendations or outcomes in one answer (each of ITEM_MAX_CHARS at most)."""
MAX_ATTACHMENTS = 10
"""Documents attached to one answer (each a reference: the bytes never travel in a workflow)."""


def _attachments() -> Any:
    """The documents sent with an answer: left out of a dump when there are none, so answers
    recorded before attachments existed read and serialise as they always did."""
    return Field(
        default_factory=list,
        max_length=MAX_ATTACHMENTS,
        description=(
            'Documents attached to the answer: `{"uri": "archive:documents/<sha256>"}` '
            "for a document uploaded to Pacte (POST /api/v1/conventions/{id}/documents)."
        ),
        exclude_if=lambda value: not value,
    )


class TaskKind(StrEnum):
    """Every kind of work a stage asks of a party."""

    REVIEW_DRAFT = "review_draft"
    REVISE_DRAFT = "revise_draft"
    SIGN = "sign"
    HOST_MISSION = "host_mission"
    FILE_MISSION_REPORT = "file_mission_report"
    FILE_FINDINGS = "file_findings"
    AGREE_OUTCOMES = "agree_outcomes"
    DECIDE_FUNDING = "decide_funding"
    PROVIDE_INFORMATION = "provide_information"
    REVISE_FUNDING_REQUEST = "revise_funding_request"
    REPORT_PROGRESS = "report_progress"
    FIX_DELIVERY = "fix_delivery"
    RESOLVE_ESCALATION = "resolve_escalation"


class TaskStatus(StrEnum):
    """A task is open until its party answers it, or its stage closes it."""

    OPEN = "open"
    DONE = "done"
    CANCELLED = "cancelled"


class TaskFacts(Frozen):
    """What a task's title states, as facts: each reader's language says them again
    (rendering.record.task_title). Written by the workflow since `typed-task-facts`; a task
    assigned before carries none, and its title is read back from the workflow's wording.
    Only the fields of the task's kind are set; a dump leaves the others out."""

    kind: TaskKind
    version: int | None = Field(default=None, description="review_draft: the version to read.")
    party: str | None = Field(
        default=None,
        description=(
            "revise_draft: who asked for changes; fix_delivery: the party not reached; "
            "resolve_escalation: the party late."
        ),
    )
    comments: str | None = Field(
        default=None, description="What was asked (revise_draft, provide_information), cut short."
    )
    signatory_name: str | None = Field(default=None, description="sign: who signs.")
    capacity: str | None = Field(default=None, description="sign: in which capacity.")
    place: Place | None = Field(
        default=None, description="host_mission, file_mission_report: the mission's place."
    )
    starts_on: date | None = None
    ends_on: date | None = None
    round: int | None = Field(default=None, description="file_findings: the diagnostic's round.")
    amount: Money | None = Field(default=None, description="decide_funding: the amount asked.")
    funder: str | None = Field(
        default=None, description="provide_information, revise_funding_request: the funder."
    )
    report: int | None = Field(default=None, description="report_progress: the report's number.")
    event: str | None = Field(default=None, description="fix_delivery: the event not delivered.")
    channel: str | None = Field(default=None, description="fix_delivery: the channel that failed.")
    reason: str | None = Field(
        default=None, description="fix_delivery: why it failed (the channel's words), cut short."
    )
    due_on: date | None = Field(
        default=None, description="resolve_escalation: the late task's due date (its UTC date)."
    )
    due_at: datetime | None = Field(
        default=None,
        description=(
            "resolve_escalation: the late task's due moment (since escalation-due-moment; "
            "older escalations carry `due_on` alone)."
        ),
    )
    about: TaskFacts | None = Field(
        default=None,
        description="resolve_escalation, fix_delivery: the facts of the task concerned.",
    )
    about_title: str | None = Field(
        default=None,
        description=(
            "resolve_escalation, fix_delivery: the title of the task concerned when it carries "
            "no facts (assigned before them), or a notification's subject."
        ),
    )

    def dumped(self) -> dict[str, Any]:
        """The facts as the record stores them: JSON, without the fields left unset."""
        return self.model_dump(mode="json", exclude_none=True)


class Task(Frozen):
    """Work owed by one party, by a due date."""

    id: str = Field(description="Unique within the convention, e.g. 'signature.sign.psa-dg'.")
    convention_id: Identifier
    stage: str
    kind: TaskKind
    assignee: Identifier = Field(description="The party that owes the task.")
    signatory: Identifier | None = Field(default=None, description="For a signature: who signs.")
    contact: str | None = Field(
        default=None, description="The party's contact the task is assigned to, once reassigned."
    )
    contact_person: str | None = Field(
        default=None,
        description=(
            "The directory's id of that contact, when the task was given to a person the "
            "directory names (since reassign-directory)."
        ),
        exclude_if=lambda value: value is None,
    )
    title: NonEmptyText
    assigned_at: datetime
    due_at: datetime
    status: TaskStatus = TaskStatus.OPEN
    answered_at: datetime | None = None
    answered_by: str | None = None
    reminded_before_due: bool = False
    escalated: bool = Field(default=False, description="Past due, and the officer was told.")
    late_reminders: int = Field(default=0, ge=0, description="Reminders sent since it is late.")
    escalates: str | None = Field(
        default=None, description="For an officer's escalation task: the late task's id."
    )
    closed_reason: str | None = Field(
        default=None, description="Why the task was cancelled, once it is."
    )
    closed_reason_facts: ReasonFacts | None = Field(
        default=None,
        description="Why it was cancelled, as a code and its values (since typed-reasons).",
        exclude_if=lambda value: value is None,
    )
    facts: TaskFacts | None = Field(
        default=None,
        description="What the title states, as facts (tasks assigned since typed-task-facts).",
        exclude_if=lambda value: value is None,
    )


class ReviewAnswer(Frozen):
    """A reviewing party approves a version of the text, or asks for changes."""

    kind: Literal["review_draft"] = "review_draft"
    decision: Literal["approve", "request_changes"]
    version: int = Field(ge=1, description="The version reviewed; must be the current one.")
    comments: Text | None = None

    @model_validator(mode="after")
    def _changes_are_explained(self) -> Self:
        if self.decision == "request_changes" and not (self.comments or "").strip():
            raise ValueError("comments: required when asking for changes")
        return self


class RevisionAnswer(Frozen):
    """The office submits a new version of the text."""

    kind: Literal["revise_draft"] = "revise_draft"
    document: DocumentRef
    comments: Text | None = None


class SignAnswer(Frozen):
    """A signatory signs, refuses, or withdraws the party from the convention, with a reason."""

    kind: Literal["sign"] = "sign"
    decision: Literal["sign", "refuse", "withdraw"]
    place: Place | None = Field(default=None, description="Where the signature was given.")
    capacity: ShortText | None = Field(
        default=None,
        description=(
            "The capacity in which the person signs, when it is not the file's (a contact "
            "signing in place of the named signatory, e.g. 'Vice-présidente')."
        ),
    )
    reason: Text | None = None
    document_sha256: Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")] | None = Field(
        default=None,
        description=(
            "The SHA-256 of the text the signatory was shown; when given, it must be the "
            "approved version's (a newer version uploaded meanwhile is refused)."
        ),
        exclude_if=lambda value: value is None,
    )

    @model_validator(mode="after")
    def _refusal_is_explained(self) -> Self:
        if self.decision != "sign" and not (self.reason or "").strip():
            raise ValueError(f"reason: required to {self.decision}")
        if self.decision != "sign" and self.place is not None:
            raise ValueError("place: only a signature has a place")
        return self


class HostMissionAnswer(Frozen):
    """The host confirms which agenda items were held and which were cancelled."""

    kind: Literal["host_mission"] = "host_mission"
    held: list[Identifier] = Field(
        default_factory=list, max_length=MAX_LIST_ITEMS, description="Agenda item ids held."
    )
    cancelled: list[Identifier] = Field(default_factory=list, max_length=MAX_LIST_ITEMS)
    comments: Text | None = None


class MissionReportAnswer(Frozen):
    """The mission report is filed."""

    kind: Literal["file_mission_report"] = "file_mission_report"
    report: DocumentRef
    summary: NonEmptyText


class Restitution(Frozen):
    """The session where the findings are presented to the parties."""

    held_on: date
    place: Place | None = None
    attendees: list[ShortText] = Field(min_length=1, max_length=MAX_LIST_ITEMS)


class FindingsAnswer(Frozen):
    """A diagnostic's findings and recommendations, and the restitution session if held."""

    kind: Literal["file_findings"] = "file_findings"
    findings: list[ItemText] = Field(min_length=1, max_length=MAX_FINDINGS)
    recommendations: list[ItemText] = Field(default_factory=list, max_length=MAX_FINDINGS)
    restitution: Restitution | None = None
    attachments: list[DocumentRef] = _attachments()


class OutcomesAnswer(Frozen):
    """A party agrees the diagnostic's outcomes, or disagrees with a reason."""

    kind: Literal["agree_outcomes"] = "agree_outcomes"
    decision: Literal["agree", "disagree"]
    outcomes: list[ItemText] = Field(default_factory=list, max_length=MAX_FINDINGS)
    comments: Text | None = None

    @model_validator(mode="after")
    def _agreement_names_outcomes(self) -> Self:
        if self.decision == "agree" and not self.outcomes:
            raise ValueError("outcomes: at least one outcome is required to agree")
        if self.decision == "disagree" and not (self.comments or "").strip():
            raise ValueError("comments: required when disagreeing")
        return self


class FundingDecisionAnswer(Frozen):
    """A funder approves (with the granted amount), rejects, or asks for more information."""

    kind: Literal["decide_funding"] = "decide_funding"
    decision: Literal["approve", "reject", "more_information"]
    granted: Money | None = None
    comments: Text | None = None
    attachments: list[DocumentRef] = _attachments()

    @model_validator(mode="after")
    def _approval_grants_an_amount(self) -> Self:
        if self.decision == "approve" and self.granted is None:
            raise ValueError("granted: required when approving")
        if self.decision != "approve" and self.granted is not None:
            raise ValueError("granted: only an approval grants an amount")
        if self.decision != "approve" and not (self.comments or "").strip():
            raise ValueError(f"comments: required for decision {self.decision!r}")
        return self


class InformationAnswer(Frozen):
    """The office answers a funder's request for more information."""

    kind: Literal["provide_information"] = "provide_information"
    document: DocumentRef | None = None
    comments: NonEmptyText


class RevisedFundingRequest(Frozen):
    """The office revises its request before the funding stage runs again (after a rejection)."""

    kind: Literal["revise_funding_request"] = "revise_funding_request"
    requested: Money = Field(description="The amount now requested, in its currency.")
    terms_of_reference: DocumentRef = Field(description="The revised terms of reference.")
    note: NonEmptyText = Field(description="What changed, for the funder and the record.")


class Cancellation(Frozen):
    """A planned milestone or a cohort that will not happen, and why."""

    id: Identifier
    reason: NonEmptyText


class CohortReport(Frozen):
    """A cohort (promotion) that started or finished since the last report."""

    id: Identifier
    event: Literal["started", "finished"]
    trainees: int = Field(ge=0, description="Enrolled (started) or who completed (finished).")
    graduates: int | None = Field(default=None, ge=0, description="Who passed, when finished.")
    cities: int | None = Field(default=None, ge=0)

    @model_validator(mode="after")
    def _graduates_only_when_finished(self) -> Self:
        if self.event == "started" and self.graduates is not None:
            raise ValueError("graduates: a cohort that just started has no graduates yet")
        if self.graduates is not None and self.graduates > self.trainees:
            raise ValueError("graduates: more graduates than trainees")
        return self


class ProgressReportAnswer(Frozen):
    """The implementer reports milestones reached, indicator values and cohorts."""

    kind: Literal["report_progress"] = "report_progress"
    reached: list[Identifier] = Field(
        default_factory=list, max_length=MAX_LIST_ITEMS, description="Planned milestone ids."
    )
    actuals: dict[Identifier, float] = Field(
        default_factory=dict, max_length=MAX_LIST_ITEMS, description="Indicator id to its value."
    )
    spent: Money | None = None
    cohorts: list[CohortReport] = Field(default_factory=list, max_length=MAX_LIST_ITEMS)
    cancelled_milestones: list[Cancellation] = Field(
        default_factory=list,
        max_length=MAX_LIST_ITEMS,
        description="Planned milestones that will not be reached, each with its reason.",
    )
    cancelled_cohorts: list[Cancellation] = Field(
        default_factory=list,
        max_length=MAX_LIST_ITEMS,
        description="Cohorts that will not start or finish, each with its reason.",
    )
    comments: Text | None = None
    attachments: list[DocumentRef] = _attachments()


class FixDeliveryAnswer(Frozen):
    """The officer's answer to an undelivered notification: try again, or it is handled."""

    kind: Literal["fix_delivery"] = "fix_delivery"
    decision: Literal["retry", "dismiss"] = Field(
        description=(
            "'retry' once the cause is fixed (secret set, endpoint back, address corrected "
            "by the operator); 'dismiss' when the party was told some other way."
        )
    )
    comments: Text | None = None

    @model_validator(mode="after")
    def _dismissal_is_explained(self) -> Self:
        if self.decision == "dismiss" and not (self.comments or "").strip():
            raise ValueError("comments: required when dismissing (how was the party told?)")
        return self


class EscalationAnswer(Frozen):
    """The officer notes what was done about a late task (postponed, chased by phone…)."""

    kind: Literal["resolve_escalation"] = "resolve_escalation"
    comments: NonEmptyText


Answer = Annotated[
    ReviewAnswer
    | RevisionAnswer
    | SignAnswer
    | HostMissionAnswer
    | MissionReportAnswer
    | FindingsAnswer
    | OutcomesAnswer
    | FundingDecisionAnswer
    | InformationAnswer
    | RevisedFundingRequest
    | ProgressReportAnswer
    | FixDeliveryAnswer
    | EscalationAnswer,
    Field(discriminator="kind"),
]


def one_line_ending(value: Any) -> Any:
    """Every text inside `value` with `\n` for its line breaks (a browser's form sends
    `\r\n`, the API and the CLI `\n`); nothing else changes (NFC or not, as typed)."""
    if isinstance(value, str):
        return value.replace("\r\n", "\n").replace("\r", "\n")
    if isinstance(value, BaseModel):
        return one_line_ending(value.model_dump(mode="json"))
    if isinstance(value, dict):
        return {key: one_line_ending(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [one_line_ending(item) for item in value]
    return value


class AnswerTask(Frozen):
    """A party's answer to one of its tasks, sent as a workflow update.

    Its answer's texts are stored the same whichever way they came: line breaks are `\n`
    (`one_line_ending`), here, where every path (form, API, CLI, CloudEvent) builds one.
    """

    task_id: NonEmptyText
    acting_party: Identifier = Field(description="The party answering; must owe the task.")
    actor: ShortText | None = Field(default=None, description="The person acting for the party.")
    principal: Principal | None = Field(
        default=None,
        description=(
            "The authenticated actor (contact, API key or officer), how they were proven, and "
            "the request; set by the desks and the CLI, checked by the workflow. Absent in "
            "answers recorded before it existed."
        ),
    )
    answer: Answer

    @model_validator(mode="before")
    @classmethod
    def _one_line_ending(cls, data: Any) -> Any:
        if isinstance(data, dict) and "answer" in data:
            return {**data, "answer": one_line_ending(data["answer"])}
        return data


class AnswerReceipt(Frozen):
    """What the workflow returns once an answer is accepted."""

    task_id: str
    accepted_at: datetime
