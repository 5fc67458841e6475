"""A milestone's `details`, typed per kind: what the timeline, verify and the reports read.

`Milestone.details` stays the plain dict the workflows write (the hash chain hashes it, the
workflows' payloads carry it, recorded histories replay with it); the models here only read
it back. Each kind has its model (`DETAILS_BY_KIND`; `NoDetails` for the kinds that carry
none), discriminated by the milestone's kind rather than by a field, since several details
have a `kind` of their own (the convention's, the task's). Fields are named and typed as the
workflows write them; a field some writers or older recorded histories leave out is optional;
unknown fields are kept (`extra="allow"`), so details written before a field was removed
still read. tests/test_milestone_details.py reads every milestone of every recorded history.

    details = details_as(milestone, FundingDecidedDetails)  # None: another kind, or unreadable
    if details is not None and details.granted is not None: ...
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from schemas.actors import Principal
from schemas.convention import ConventionKind
from schemas.milestones import Milestone, MilestoneKind
from schemas.officer_actions import LinkKind
from schemas.reasons import ReasonFacts
from schemas.tasks import Answer, TaskFacts, TaskKind
from schemas.values import DocumentRef, Money, Place

TERMINATED_BY_TEMPORAL = "temporal"
"""`terminated_by` of the convention_terminated milestone `starter.py terminate` chains when
Temporal had to end a workflow that could not take the officer's update."""
LEFT_OUT = "left_out"
"""The key of the marker the workflow keeps, in its own bounded copy, in place of oversized
details (PostgreSQL and the history keep them whole)."""


class MilestoneDetails(BaseModel):
    """Base of every kind's details: read-only, unknown fields kept."""

    model_config = ConfigDict(extra="allow", frozen=True, populate_by_name=True)


class NoDetails(MilestoneDetails):
    """The kinds that carry no details: a stage entered or completed, the convention's end."""


# --- the convention ----------------------------------------------------------------------


class ConventionStartedDetails(MilestoneDetails):
    kind: ConventionKind = Field(description="The convention's kind.")
    parent: str | None = None
    origin: str | None = None
    started_by: str | None = Field(
        default=None, description="Who pressed Start; absent in runs started before it was kept."
    )
    responsible_officer: str | None = Field(
        default=None, description="The file's officer, responsible for the convention."
    )
    title: str | None = Field(
        default=None,
        description="The convention's title (since typed-task-facts; before, the summary's).",
    )
    titles: dict[str, str] | None = Field(
        default=None, description="The title in each language it was given in, if several."
    )


class OfficerRef(MilestoneDetails):
    """A responsible officer as the record names them."""

    name: str
    email: str | None = None


class OfficerChangedDetails(MilestoneDetails):
    """The convention's responsible officer was changed (since change-officer)."""

    changed_by: str = Field(
        description="Who changed it: the signed-in account, or the command line's --officer."
    )
    from_: OfficerRef = Field(alias="from", description="The responsible officer before.")
    to: OfficerRef = Field(description="The responsible officer from now on.")
    reason: str = ""


class StageFailedDetails(MilestoneDetails):
    reason: str
    on_failure: str = Field(description="The stage to go back to, or 'end'.")
    reason_facts: ReasonFacts | None = Field(
        default=None, description="The reason as a code and its values (since typed-reasons)."
    )


class ConventionFailedDetails(MilestoneDetails):
    """The convention ended without success: why (since typed-reasons; before, the summary
    alone said it)."""

    reason: str | None = None
    reason_facts: ReasonFacts | None = Field(
        default=None, description="The reason as a code and its values (since typed-reasons)."
    )


class ConventionTerminatedDetails(MilestoneDetails):
    """Written by the workflow ({reason}) or, when Temporal had to end a workflow that could
    not take the officer's update, by `starter.py terminate` (the other fields)."""

    reason: str
    terminated_by: str | None = Field(
        default=None, description=f"{TERMINATED_BY_TEMPORAL!r} when starter.py chained it."
    )
    why: str | None = None
    recorded_by: str | None = None

    @property
    def by_temporal(self) -> bool:
        """Chained by `starter.py terminate` after Temporal ended the workflow."""
        return self.terminated_by == TERMINATED_BY_TEMPORAL


class HistoryContinuedDetails(MilestoneDetails):
    run: int = Field(description="The run the history continues in, from 1.")


class ChildLinkedDetails(MilestoneDetails):
    """A ConventionLink as the workflow records it."""

    convention_id: str
    title: str
    kind: LinkKind


class ParentLinkedDetails(MilestoneDetails):
    parent: str
    linked: bool = Field(description="Whether the framework convention took the link.")


class FollowUpStartedDetails(MilestoneDetails):
    convention_id: str
    workflow_id: str
    kind: ConventionKind = Field(description="The follow-up convention's kind.")
    started: bool = Field(description="False: it was already running.")
    title: str | None = Field(
        default=None,
        description="The follow-up's title (since typed-task-facts; before, the summary's).",
    )


# --- tasks -------------------------------------------------------------------------------


class TaskAssignedDetails(MilestoneDetails):
    kind: TaskKind = Field(description="The task's kind.")
    due_at: datetime
    signatory: str | None = None
    task: TaskFacts | None = Field(
        default=None, description="The task's facts (since typed-task-facts)."
    )

    @property
    def escalation(self) -> bool:
        """The officer's task to resolve a late one."""
        return self.kind == TaskKind.RESOLVE_ESCALATION.value


class TaskAnsweredDetails(MilestoneDetails):
    answer: Answer
    principal: Principal | None = Field(
        default=None, description="The authenticated actor, when the answer came with one."
    )
    task: TaskFacts | None = Field(
        default=None, description="The task's facts (since typed-task-facts)."
    )


class TaskRemindedDetails(MilestoneDetails):
    occurrence: str = Field(description="before-due, late-1, late-2…")
    due_at: datetime
    task: TaskFacts | None = Field(
        default=None, description="The task's facts (since typed-task-facts)."
    )


class TaskOverdueDetails(MilestoneDetails):
    due_at: datetime
    task: TaskFacts | None = Field(
        default=None, description="The task's facts (since typed-task-facts)."
    )


class TaskCancelledDetails(MilestoneDetails):
    reason: str
    task: TaskFacts | None = Field(
        default=None, description="The task's facts (since typed-task-facts)."
    )
    reason_facts: ReasonFacts | None = Field(
        default=None, description="The reason as a code and its values (since typed-reasons)."
    )


class DeadlinePostponedDetails(MilestoneDetails):
    from_: datetime = Field(alias="from")
    to: datetime
    reason: str
    task: TaskFacts | None = Field(
        default=None, description="The task's facts (since typed-task-facts)."
    )


class TaskReassignedDetails(MilestoneDetails):
    from_: str | None = Field(alias="from", description="The contact before, if one was named.")
    to: str
    reason: str
    task: TaskFacts | None = Field(
        default=None, description="The task's facts (since typed-task-facts)."
    )
    person: str | None = Field(
        default=None,
        description="The directory's id of the person it went to (since reassign-directory).",
    )
    capacity: str | None = Field(
        default=None, description="The capacity the directory said they hold for the task."
    )
    directory_version: int | None = Field(
        default=None, description="The directory's version the desk checked them against."
    )


# --- drafting and signature --------------------------------------------------------------


class DraftVersionDetails(MilestoneDetails):
    version: int
    document: DocumentRef


class DraftApprovedDetails(MilestoneDetails):
    version: int
    approved_by: list[str]


class SignedDetails(MilestoneDetails):
    signatory: str
    capacity: str
    place: Place | None = None
    signed_at: datetime
    replacing: str | None = Field(
        default=None, description="The signatory a reassigned contact signed in place of."
    )


class _Refusal(MilestoneDetails):
    signatory: str
    reason: str | None = None
    replacing: str | None = None


class SignatureRefusedDetails(_Refusal):
    pass


class PartyWithdrewDetails(_Refusal):
    pass


class SignatureStandsDetails(MilestoneDetails):
    signatory: str
    signed_at: datetime
    document: str = Field(description="The text the signature was given on (board.document).")


class EnteredIntoForceDetails(MilestoneDetails):
    in_force_on: date


# --- mission and diagnostic --------------------------------------------------------------


class AgendaItemHeld(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)

    id: str
    title: str


class MissionHeldDetails(MilestoneDetails):
    destination: Place
    starts_on: date
    ends_on: date
    postponed_by_days: int
    delegation: list[str]
    held: list[AgendaItemHeld]
    cancelled: list[AgendaItemHeld]


class MissionReportFiledDetails(MilestoneDetails):
    report: DocumentRef
    summary: str


class FindingsFiledDetails(MilestoneDetails):
    findings: list[str]
    recommendations: list[str] = Field(default_factory=list)


class RestitutionHeldDetails(MilestoneDetails):
    held_on: date
    place: Place | None = None
    attendees: list[str]


class OutcomesAgreedDetails(MilestoneDetails):
    outcomes: list[str]
    agreed_by: list[str]


# --- funding -----------------------------------------------------------------------------


class FundingRequestedDetails(MilestoneDetails):
    funder: str
    requested: Money
    # Always written by the workflow; the read model's unit fixtures leave it out.
    terms_of_reference: DocumentRef | None = None
    revision_note: str | None = Field(default=None, description="Set on a revised request.")


class FundingRequestRevisedDetails(MilestoneDetails):
    requested: Money
    terms_of_reference: DocumentRef
    note: str


class FundingDecidedDetails(MilestoneDetails):
    """`more_information` writes the decision and comments only; a final decision adds the
    amount granted (None on a rejection) and the amount requested."""

    decision: str = Field(description="approve, reject or more_information.")
    comments: str | None = None
    granted: Money | None = None
    requested: Money | None = None


# --- implementation ----------------------------------------------------------------------


class ProgressReportedDetails(MilestoneDetails):
    report: int
    actuals: dict[str, float]
    totals: dict[str, float] = Field(description="Running totals since the start.")
    targets: dict[str, float | None]
    # Recorded since cancelled milestones were counted apart; older reports lack them.
    milestones_reached: int | None = None
    milestones_cancelled: int | None = None
    milestones_planned: int | None = None
    spent: Money | None = None
    budget: Money | None = None
    comments: str | None = None


class ImplementationMilestoneReachedDetails(MilestoneDetails):
    milestone: str
    planned_on: date | None = None
    label: str | None = Field(
        default=None, description="The plan's label (since typed-task-facts)."
    )


class ImplementationMilestoneCancelledDetails(MilestoneDetails):
    milestone: str
    reason: str
    label: str | None = Field(
        default=None, description="The plan's label (since typed-task-facts)."
    )


class _Cohort(MilestoneDetails):
    """A CohortReport as the workflow records it."""

    id: str
    # Always written by the workflow (the kind says it too); unit fixtures leave it out.
    event: str | None = None
    trainees: int
    graduates: int | None = None
    cities: int | None = None


class CohortStartedDetails(_Cohort):
    pass


class CohortFinishedDetails(_Cohort):
    pass


class CohortCancelledDetails(MilestoneDetails):
    cohort: str
    reason: str


DETAILS_BY_KIND: Mapping[MilestoneKind, type[MilestoneDetails]] = {
    MilestoneKind.CONVENTION_STARTED: ConventionStartedDetails,
    MilestoneKind.STAGE_ENTERED: NoDetails,
    MilestoneKind.STAGE_COMPLETED: NoDetails,
    MilestoneKind.TASK_ASSIGNED: TaskAssignedDetails,
    MilestoneKind.TASK_ANSWERED: TaskAnsweredDetails,
    MilestoneKind.TASK_OVERDUE: TaskOverdueDetails,
    MilestoneKind.DRAFT_VERSION: DraftVersionDetails,
    MilestoneKind.DRAFT_APPROVED: DraftApprovedDetails,
    MilestoneKind.SIGNED: SignedDetails,
    MilestoneKind.SIGNATURE_REFUSED: SignatureRefusedDetails,
    MilestoneKind.ENTERED_INTO_FORCE: EnteredIntoForceDetails,
    MilestoneKind.MISSION_HELD: MissionHeldDetails,
    MilestoneKind.MISSION_REPORT_FILED: MissionReportFiledDetails,
    MilestoneKind.FINDINGS_FILED: FindingsFiledDetails,
    MilestoneKind.OUTCOMES_AGREED: OutcomesAgreedDetails,
    MilestoneKind.FUNDING_REQUESTED: FundingRequestedDetails,
    MilestoneKind.FUNDING_DECIDED: FundingDecidedDetails,
    MilestoneKind.PROGRESS_REPORTED: ProgressReportedDetails,
    MilestoneKind.IMPLEMENTATION_MILESTONE_REACHED: ImplementationMilestoneReachedDetails,
    MilestoneKind.CONVENTION_COMPLETED: NoDetails,
    MilestoneKind.CONVENTION_FAILED: ConventionFailedDetails,
    MilestoneKind.CONVENTION_TERMINATED: ConventionTerminatedDetails,
    MilestoneKind.TASK_REMINDED: TaskRemindedDetails,
    MilestoneKind.DEADLINE_POSTPONED: DeadlinePostponedDetails,
    MilestoneKind.TASK_REASSIGNED: TaskReassignedDetails,
    MilestoneKind.TASK_CANCELLED: TaskCancelledDetails,
    MilestoneKind.STAGE_FAILED: StageFailedDetails,
    MilestoneKind.PARTY_WITHDREW: PartyWithdrewDetails,
    MilestoneKind.RESTITUTION_HELD: RestitutionHeldDetails,
    MilestoneKind.FOLLOW_UP_STARTED: FollowUpStartedDetails,
    MilestoneKind.CHILD_LINKED: ChildLinkedDetails,
    MilestoneKind.PARENT_LINKED: ParentLinkedDetails,
    MilestoneKind.COHORT_STARTED: CohortStartedDetails,
    MilestoneKind.COHORT_FINISHED: CohortFinishedDetails,
    MilestoneKind.HISTORY_CONTINUED: HistoryContinuedDetails,
    MilestoneKind.SIGNATURE_STANDS: SignatureStandsDetails,
    MilestoneKind.FUNDING_REQUEST_REVISED: FundingRequestRevisedDetails,
    MilestoneKind.IMPLEMENTATION_MILESTONE_CANCELLED: ImplementationMilestoneCancelledDetails,
    MilestoneKind.COHORT_CANCELLED: CohortCancelledDetails,
    MilestoneKind.OFFICER_CHANGED: OfficerChangedDetails,
}
"""Each kind's model; NoDetails for the kinds that carry none."""

_KINDS_OF: Mapping[type[MilestoneDetails], frozenset[str]] = {
    model: frozenset(kind.value for kind, its in DETAILS_BY_KIND.items() if its is model)
    for model in DETAILS_BY_KIND.values()
}

D = TypeVar("D", bound=MilestoneDetails)


class UnreadableDetails(ValueError):
    """A milestone's details do not read as its kind's: an unknown kind, details left out of
    the workflow's bounded copy, or details that are not what any writer wrote."""


def details_of(milestone: Milestone | Mapping[str, Any]) -> MilestoneDetails:
    """The milestone's details as its kind's model.

    `milestone` is a Milestone, or a mapping with its `kind` and `details` (a PostgreSQL row,
    a milestone decoded from a history). Raises UnreadableDetails.
    """
    kind_value, details = _kind_and_details(milestone)
    try:
        kind = MilestoneKind(kind_value)
    except ValueError:
        raise UnreadableDetails(f"kind: {kind_value!r} is not a milestone kind") from None
    if isinstance(details, str):
        try:
            details = json.loads(details)
        except ValueError:
            raise UnreadableDetails(f"{kind.value}: details are not JSON") from None
    if details is None:
        details = {}
    if not isinstance(details, Mapping):
        raise UnreadableDetails(f"{kind.value}: details are {type(details).__name__}, not a map")
    model = DETAILS_BY_KIND[kind]
    if LEFT_OUT in details and model is not NoDetails:
        raise UnreadableDetails(f"{kind.value}: details left out ({details[LEFT_OUT]})")
    try:
        return model.model_validate(details)
    except ValidationError as error:
        raise UnreadableDetails(f"{kind.value}: {error}") from error


def details_as(milestone: Milestone | Mapping[str, Any], model: type[D]) -> D | None:
    """The milestone's details if its kind's model is `model` and they read; else None."""
    kind_value, _ = _kind_and_details(milestone)
    if kind_value not in _KINDS_OF.get(model, ()):
        return None
    try:
        details = details_of(milestone)
    except UnreadableDetails:
        return None
    assert isinstance(details, model)
    return details


def _kind_and_details(milestone: Milestone | Mapping[str, Any]) -> tuple[Any, Any]:
    if isinstance(milestone, Milestone):
        return milestone.kind, milestone.details
    return milestone.get("kind"), milestone.get("details")
