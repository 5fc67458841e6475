"""Delivery channels: how a notification reaches a party, and what each attempt did."""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum

from pydantic import Field

from schemas.tasks import TaskFacts, TaskKind
from schemas.values import Frozen, Identifier


class Channel(StrEnum):
    """A way to reach a party."""

    WEBHOOK = "webhook"
    EMAIL = "email"


class DeliveryStatus(StrEnum):
    """Where a notification stands on one channel (one row per notification and channel)."""

    PENDING = "pending"
    SENDING = "sending"
    RETRYING = "retrying"
    DELIVERED = "delivered"
    FAILED = "failed"
    NO_CHANNEL = "no_channel"


class AttemptStatus(StrEnum):
    """What one attempt did. 'sending' that never changes: the worker died mid-attempt."""

    SENDING = "sending"
    DELIVERED = "delivered"
    TRANSIENT_FAILURE = "transient_failure"
    PERMANENT_FAILURE = "permanent_failure"


PERMANENT_FAILURE = "PermanentDeliveryFailure"
"""ApplicationError type of a failure that retrying cannot cure (4xx, refused address)."""


class RetrySettings(Frozen):
    """The delivery retry policy, read from the worker's settings and recorded in history."""

    initial_interval: timedelta = Field(description="Wait before the second attempt.")
    maximum_interval: timedelta = Field(description="Cap of the doubling wait.")
    maximum_attempts: int = Field(ge=1, description="Attempts before giving up.")
    attempt_timeout: timedelta = Field(description="How long one attempt may take.")


class DeliveryPlan(Frozen):
    """The channels to attempt for one notification; the others were recorded as no channel."""

    notification_id: str
    channels: list[Channel] = Field(default_factory=list)
    retry: RetrySettings


class DeliveryOutcome(Frozen):
    """A channel's delivery ended well: delivered, or nothing to deliver through."""

    notification_id: str
    channel: Channel
    status: DeliveryStatus
    attempt: int = Field(ge=0, description="The delivery log's attempt number; 0 if none.")
    response_code: int | None = None
    detail: str | None = None


class DeliveryFailure(Frozen):
    """A channel's delivery gave up; recorded in the log, and the officer gets a task."""

    notification_id: str
    channel: Channel
    party: Identifier
    reason: str


class InboxEntry(Frozen):
    """One task a party owes, as the partners' inbox lists it."""

    convention_id: Identifier
    task_id: str
    stage: str
    kind: TaskKind
    assignee: Identifier
    title: str
    assigned_at: datetime
    due_at: datetime
    overdue: bool
    facts: TaskFacts | None = Field(
        default=None, description="What the title states, as facts (rendering.record)."
    )
