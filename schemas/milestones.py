"""Milestones: the dated, attributable record every stage leaves."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import Field

from schemas.values import Frozen, Identifier


class MilestoneKind(StrEnum):
    """What happened."""

    CONVENTION_STARTED = "convention_started"
    STAGE_ENTERED = "stage_entered"
    STAGE_COMPLETED = "stage_completed"
    TASK_ASSIGNED = "task_assigned"
    TASK_ANSWERED = "task_answered"
    TASK_OVERDUE = "task_overdue"
    DRAFT_VERSION = "draft_version"
    DRAFT_APPROVED = "draft_approved"
    SIGNED = "signed"
    SIGNATURE_REFUSED = "signature_refused"
    ENTERED_INTO_FORCE = "entered_into_force"
    MISSION_HELD = "mission_held"
    MISSION_REPORT_FILED = "mission_report_filed"
    FINDINGS_FILED = "findings_filed"
    OUTCOMES_AGREED = "outcomes_agreed"
    FUNDING_REQUESTED = "funding_requested"
    FUNDING_DECIDED = "funding_decided"
    PROGRESS_REPORTED = "progress_reported"
    IMPLEMENTATION_MILESTONE_REACHED = "implementation_milestone_reached"
    CONVENTION_COMPLETED = "convention_completed"
    CONVENTION_FAILED = "convention_failed"
    CONVENTION_TERMINATED = "convention_terminated"
    TASK_REMINDED = "task_reminded"
    DEADLINE_POSTPONED = "deadline_postponed"
    TASK_REASSIGNED = "task_reassigned"
    TASK_CANCELLED = "task_cancelled"
    STAGE_FAILED = "stage_failed"
    PARTY_WITHDREW = "party_withdrew"
    RESTITUTION_HELD = "restitution_held"
    FOLLOW_UP_STARTED = "follow_up_started"
    CHILD_LINKED = "child_linked"
    PARENT_LINKED = "parent_linked"
    COHORT_STARTED = "cohort_started"
    COHORT_FINISHED = "cohort_finished"
    HISTORY_CONTINUED = "history_continued"
    SIGNATURE_STANDS = "signature_stands"
    FUNDING_REQUEST_REVISED = "funding_request_revised"
    IMPLEMENTATION_MILESTONE_CANCELLED = "implementation_milestone_cancelled"
    COHORT_CANCELLED = "cohort_cancelled"
    OFFICER_CHANGED = "officer_changed"


class Milestone(Frozen):
    """One step of a convention's record; (convention_id, seq) is its idempotency key."""

    convention_id: Identifier
    seq: int = Field(ge=1, description="Position in the convention's record, from 1.")
    kind: MilestoneKind
    stage: str | None = None
    task_id: str | None = None
    party: str | None = Field(default=None, description="The party that acted or owes.")
    actor: str | None = Field(default=None, description="The person who acted, when known.")
    occurred_at: datetime
    summary: str
    details: dict[str, Any] = Field(default_factory=dict)

    @property
    def idempotency_key(self) -> str:
        """Stable across retries, replays and continue-as-new."""
        return f"{self.convention_id}#{self.seq}"


class MilestoneBatch(Frozen):
    """Consecutive milestones of one convention, written in one transaction by the ledger."""

    milestones: list[Milestone] = Field(min_length=1)
