"""What an officer does to a running convention, each sent as a workflow update."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import Field

from schemas.values import Frozen, Identifier, NonEmptyText, ShortText


class PostponeDeadline(Frozen):
    """Move a task's due date later; reminders and escalation start again from it."""

    task_id: NonEmptyText
    new_due_at: datetime = Field(description="The new due date; must be later than the current.")
    reason: NonEmptyText
    officer: ShortText | None = Field(default=None, description="Who decided, for the record.")


class ReassignTask(Frozen):
    """Give a task to another contact of the same party."""

    task_id: NonEmptyText
    contact: ShortText = Field(description="The name of one of the party's contacts.")
    reason: NonEmptyText
    officer: ShortText | None = None


class TerminateConvention(Frozen):
    """End the convention now, at whatever stage, for a stated reason."""

    reason: NonEmptyText
    officer: ShortText | None = None


class LinkKind(StrEnum):
    """How two conventions relate."""

    SPECIFIC = "specific"
    """A specific convention derived from a framework convention (`parent`)."""
    FOLLOW_UP = "follow_up"
    """A convention that a diagnostic's outcomes led to (`origin`)."""


class ConventionLink(Frozen):
    """A convention linked to this one, as the workflow records it."""

    convention_id: Identifier
    title: str
    kind: LinkKind


class OfficerAction(StrEnum):
    """What an officer did to a running convention."""

    POSTPONE = "postpone"
    REASSIGN = "reassign"
    TERMINATE = "terminate"


class OfficerReceipt(Frozen):
    """What the workflow returns once an officer's action is applied."""

    action: OfficerAction
    task_id: str | None = None
    applied_at: datetime
