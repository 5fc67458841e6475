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


class DeliveryDetailCode(StrEnum):
    """What the delivery log's detail says, as a code: the words Pacte writes there (a
    channel a party lacks, an attempt refused before anything was sent, the class of a
    failure) and the frames around what a server answered. Each has its sentence in every
    catalogue (rendering.deliveries); the log keeps the English wording of the code."""

    NO_WEBHOOK = "no_webhook"
    """The party has no webhook endpoint (party)."""
    NO_EMAIL_ADDRESS = "no_email_address"
    """No contact of the party has an e-mail address (party)."""
    NO_SMTP_SERVER = "no_smtp_server"
    """No SMTP server is configured where the delivery was planned."""
    NO_SMTP_ON_WORKER = "no_smtp_on_worker"
    """No SMTP server is configured on the worker that was to send."""
    ALREADY_DELIVERED = "already_delivered"
    """An earlier attempt delivered it (not sent again)."""
    MAIL_ACCEPTED = "mail_accepted"
    """The mail server accepted the message (answer, as the server said it)."""
    MAIL_PARTLY_REFUSED = "mail_partly_refused"
    """The mail went out; some recipients were refused (refusals, as the server said them)."""
    MAIL_REFUSED = "mail_refused"
    """The mail server refused (answer: its code and words)."""
    MAIL_UNREACHABLE = "mail_unreachable"
    """The mail server could not be reached or broke off (error, as the library said it)."""
    HTTP_STATUS = "http_status"
    """The party's server answered with an HTTP status that is not a success (status)."""
    HTTP_GONE = "http_410_gone"
    REDIRECT_NOT_FOLLOWED = "http_3xx_redirect_not_followed"
    TIMEOUT = "timeout"
    CONNECT_ERROR = "connect_error"
    PROTOCOL_ERROR = "protocol_error"
    TRANSPORT_ERROR = "transport_error"
    REFUSED_SCHEME = "refused_scheme"
    REFUSED_CREDENTIALS = "refused_credentials"
    REFUSED_URL = "refused_url"
    REFUSED_ADDRESS = "refused_address"
    UNRESOLVABLE = "unresolvable"
    REFUSED_HOST = "refused_host"


class DeliveryDetail(Frozen):
    """A delivery detail as data: its code and the values its sentence names (a party id,
    what a server answered, as it answered)."""

    code: DeliveryDetailCode
    params: dict[str, str] = Field(default_factory=dict)


class DeliveryOutcome(Frozen):
    """A channel's delivery ended well: delivered, or nothing to deliver through."""

    notification_id: str
    channel: Channel
    status: DeliveryStatus
    attempt: int = Field(ge=0, description="The delivery log's attempt number; 0 if none.")
    response_code: int | None = None
    detail: str | None = None
    detail_facts: DeliveryDetail | None = Field(
        default=None,
        description="The detail as a code and its values (the log keeps its English wording).",
        exclude_if=lambda value: value is None,
    )


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
