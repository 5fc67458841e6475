"""Notifications owed to parties: what to tell whom, about which task."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import Field

from schemas.convention import Contact
from schemas.tasks import Task
from schemas.values import Frozen, Identifier, Language


class NotificationEvent(StrEnum):
    """Why a party is told something."""

    TASK_ASSIGNED = "task.assigned"
    TASK_REMINDER = "task.reminder"
    TASK_ESCALATED = "task.escalated"
    STAGE_CHANGED = "convention.stage_changed"


class Notification(Frozen):
    """One message owed to one party; its id is stable across retries and replays."""

    id: str = Field(description="convention id / task or stage / event: the delivery key.")
    convention_id: Identifier
    event: NotificationEvent
    party: Identifier
    recipients: list[Contact] = Field(default_factory=list)
    language: Language
    subject: str
    task: Task | None = None
    stage: str | None = Field(
        default=None, description="For a stage change: the stage the convention entered."
    )
    created_at: datetime
    convention_title: str | None = Field(
        default=None, description="The convention's title, for the message's reader."
    )
    webhook_url: str | None = Field(
        default=None, description="The party's webhook, if it declared one (never a secret)."
    )

    @property
    def event_type(self) -> str:
        """The CloudEvents type: pacte.task.assigned, pacte.convention.stage_changed…"""
        return f"pacte.{self.event.value}"

    @property
    def emails(self) -> list[str]:
        """The recipients' addresses, each once, in order."""
        return list(dict.fromkeys(str(c.email) for c in self.recipients if c.email))


class OwedNotification(Frozen):
    """A notification to record, with the tasks the partners' inbox has not seen in their
    current state yet: one activity records both and plans the channels."""

    notification: Notification
    tasks: list[Task] = Field(
        default_factory=list, description="Tasks to upsert in the inbox before it leaves."
    )
