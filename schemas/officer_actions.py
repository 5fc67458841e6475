"""What an officer does to a running convention, each sent as a workflow update."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import EmailStr, Field

from schemas.actors import DirectoryCheck
from schemas.values import Frozen, Identifier, Language, NonEmptyText, ShortText, Text


class PostponeDeadline(Frozen):
    """Move a task's due date later; reminders and escalation start again from it."""

    task_id: NonEmptyText
    new_due_at: datetime = Field(description="The new due date; must be later than the current.")
    reason: NonEmptyText
    officer: ShortText | None = Field(default=None, description="Who decided, for the record.")


class DirectoryAssignee(Frozen):
    """The directory's person a task is given to, as the desk found them at the moment of
    acting: who (id, name, address, language) and what the directory said (the party they
    act for, the capacity the task needs, the directory's version read)."""

    name: ShortText
    email: EmailStr | None = None
    language: Language = Language.FRENCH
    check: DirectoryCheck = Field(
        description="The organisation, the person's id, the capacity held, the version read."
    )


class ReassignTask(Frozen):
    """Give a task to another contact of the same party: one the convention file names
    (`contact` alone), or a person the directory says may act on it (`person`, whose name
    `contact` repeats; since reassign-directory)."""

    task_id: NonEmptyText
    contact: ShortText = Field(description="The name of one of the party's contacts.")
    reason: NonEmptyText
    officer: ShortText | None = None
    person: DirectoryAssignee | None = Field(
        default=None,
        description="The directory's person, checked by the desk; none for a file's contact.",
        exclude_if=lambda value: value is None,
    )


class TerminateConvention(Frozen):
    """End the convention now, at whatever stage, for a stated reason."""

    reason: NonEmptyText
    officer: ShortText | None = None


class ChangeOfficer(Frozen):
    """Make another person the convention's responsible officer (escalations, the officer's
    copies of reminders and delivery failures go to them from now on)."""

    name: ShortText = Field(description="The new responsible officer's name, as written.")
    email: EmailStr | None = Field(
        default=None,
        description="Their address: required (the workflow refuses a change without one).",
    )
    language: Language = Language.FRENCH
    reason: Text = Field(default="", description="Why, for the record (may be empty).")
    officer: ShortText | None = Field(
        default=None,
        description="Who made the change: the signed-in account, or the CLI's --officer.",
    )


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
    CHANGE_OFFICER = "change_officer"


class OfficerReceipt(Frozen):
    """What the workflow returns once an officer's action is applied."""

    action: OfficerAction
    task_id: str | None = None
    applied_at: datetime
