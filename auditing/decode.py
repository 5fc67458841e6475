"""Reading a run's history: its events decoded with the pydantic data converter.

Payloads are decoded to plain JSON values, not to today's models: an auditor reads histories
recorded years ago, by code whose models have changed since, and must still see what they say.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from temporalio.api.common.v1 import Payloads
from temporalio.api.enums.v1 import EventType
from temporalio.api.failure.v1 import Failure
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DataConverter

from infra.payload_codec import require_codec
from records.history_events import CLOSE_EVENTS
from schemas.archive import RunClose
from schemas.audit import EventOutcome
from schemas.contract import ANSWER_UPDATE

# Names as histories record them (the SDK registers an activity or an update under its
# method's name). Literal on purpose: a history keeps the name it was recorded with, so a
# rename in the code must not change what an auditor looks for in older histories.
PERSIST_MILESTONE = "persist_milestone"  # MilestoneStore.persist_milestone
PERSIST_MILESTONES = "persist_milestones"  # MilestoneStore.persist_milestones: a batch
NOTIFY_PARTY = "notify_party"  # Notifier.notify_party
RECORD_NOTIFICATION = "record_notification"  # Notifier.record_notification: with the inbox
DELIVERIES = {"deliver_webhook": "webhook", "deliver_email": "e-mail"}  # WebhookSender, Mailer
GIVE_UP_DELIVERY = "give_up_delivery"  # DeliveryLog.give_up_delivery
ANSWER_TASK = ANSWER_UPDATE  # the name histories carry, from the contract

_ACTIVITY_OUTCOMES = {
    EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED: EventOutcome.COMPLETED,
    EventType.EVENT_TYPE_ACTIVITY_TASK_FAILED: EventOutcome.FAILED,
    EventType.EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT: EventOutcome.TIMED_OUT,
    EventType.EVENT_TYPE_ACTIVITY_TASK_CANCELED: EventOutcome.CANCELED,
}
# Events a workflow task's commands produce: they happen at that task's workflow.now().
_COMMAND_EVENTS = {
    EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED,
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED,
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_COMPLETED,
    *(kind for kind, name in CLOSE_EVENTS.items() if name is not RunClose.TERMINATED),
}


def event_type_name(event: HistoryEvent) -> str:
    """EVENT_TYPE_ACTIVITY_TASK_SCHEDULED → ActivityTaskScheduled, as the Web UI shows it."""
    words = EventType.Name(event.event_type).removeprefix("EVENT_TYPE_").split("_")
    return "".join(word.capitalize() for word in words)


@dataclass(frozen=True)
class ScheduledActivity:
    """An activity the workflow scheduled, with its decoded input and how it ended."""

    event_id: int
    at: datetime
    activity_type: str
    input: list[Any]
    outcome: EventOutcome | None = None
    result: Any = None


@dataclass(frozen=True)
class AcceptedUpdate:
    """An update the workflow accepted (a party's answer), with its outcome."""

    event_id: int
    at: datetime
    name: str
    args: list[Any]
    outcome: EventOutcome | None = None
    result: Any = None
    failure: str | None = None


@dataclass(frozen=True)
class RunClosed:
    """How the run ended."""

    event_id: int
    at: datetime
    closed_as: RunClose
    detail: str | None = None


RunItem = ScheduledActivity | AcceptedUpdate | RunClosed


@dataclass(frozen=True)
class RunRecord:
    """One run's history, as the items a person or a verifier cares about, in event order."""

    workflow_id: str
    run_id: str
    workflow_type: str
    started_at: datetime
    input: list[Any]
    events: int
    continued_from: str | None
    items: list[RunItem] = field(default_factory=list)

    @property
    def closed(self) -> RunClosed | None:
        """The close event, None while the run is open."""
        last = self.items[-1] if self.items else None
        return last if isinstance(last, RunClosed) else None


async def decode_payloads(
    payloads: Payloads, converter: DataConverter = pydantic_data_converter
) -> list[Any]:
    """Payloads as JSON values (through the converter's codec, if it has one)."""
    if not payloads.payloads:
        return []
    require_codec(payloads.payloads, converter.payload_codec)
    return await converter.decode(list(payloads.payloads))


async def failure_message(
    failure: Failure, converter: DataConverter = pydantic_data_converter
) -> str:
    """A failure's message; an encrypted one (a codec's encoded attributes) decrypted."""
    if not failure.HasField("encoded_attributes"):
        return failure.message
    require_codec([failure.encoded_attributes], converter.payload_codec)
    copy = Failure()
    copy.CopyFrom(failure)  # decoding works in place: the history stays as recorded
    return str(await converter.decode_failure(copy))


async def read_run(
    history: WorkflowHistory, converter: DataConverter = pydantic_data_converter
) -> RunRecord:
    """Decode one run's history into the activities, answers and close it holds."""
    events = list(history.events)
    if not events or not events[0].HasField("workflow_execution_started_event_attributes"):
        raise ValueError("a history starts with WorkflowExecutionStarted")
    started = events[0].workflow_execution_started_event_attributes
    outcomes: dict[int, HistoryEvent] = {}
    for event in events:
        if event.event_type in _ACTIVITY_OUTCOMES:
            scheduled_id = _attributes(event).scheduled_event_id
            outcomes[scheduled_id] = event
        elif event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_COMPLETED:
            completed = event.workflow_execution_update_completed_event_attributes
            outcomes[completed.accepted_event_id] = event

    record = RunRecord(
        workflow_id=history.workflow_id,
        run_id=history.run_id,
        workflow_type=started.workflow_type.name,
        started_at=events[0].event_time.ToDatetime(tzinfo=UTC),
        input=await decode_payloads(started.input, converter),
        events=len(events),
        continued_from=started.continued_execution_run_id or None,
    )
    clock = record.started_at
    for event in events:
        at = event.event_time.ToDatetime(tzinfo=UTC)
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED:
            clock = at
            continue
        when = clock if event.event_type in _COMMAND_EVENTS else at
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            record.items.extend(
                _one_per_milestone(await _scheduled(event, when, outcomes, converter))
            )
        elif event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED:
            record.items.append(await _accepted(event, when, outcomes, converter))
        elif event.event_type in CLOSE_EVENTS:
            record.items.append(await _closed(event, when, converter))
    return record


async def _scheduled(
    event: HistoryEvent,
    at: datetime,
    outcomes: dict[int, HistoryEvent],
    converter: DataConverter,
) -> ScheduledActivity:
    attributes = event.activity_task_scheduled_event_attributes
    outcome_event = outcomes.get(event.event_id)
    result: Any = None
    if outcome_event is not None and outcome_event.HasField(
        "activity_task_completed_event_attributes"
    ):
        values = await decode_payloads(
            outcome_event.activity_task_completed_event_attributes.result, converter
        )
        result = values[0] if values else None
    return ScheduledActivity(
        event_id=event.event_id,
        at=at,
        activity_type=attributes.activity_type.name,
        input=await decode_payloads(attributes.input, converter),
        outcome=_ACTIVITY_OUTCOMES.get(outcome_event.event_type) if outcome_event else None,
        result=result,
    )


def _one_per_milestone(scheduled: ScheduledActivity) -> list[ScheduledActivity]:
    """A batch the ledger wrote in one activity reads as its milestones, each on its own, so
    that the timeline and verify read histories of either writer the same way; a
    notification recorded with the inbox's tasks reads as the notification alone."""
    if scheduled.activity_type == RECORD_NOTIFICATION:
        owed = (
            scheduled.input[0] if scheduled.input and isinstance(scheduled.input[0], dict) else {}
        )
        return [
            ScheduledActivity(
                event_id=scheduled.event_id,
                at=scheduled.at,
                activity_type=NOTIFY_PARTY,
                input=[owed.get("notification")],
                outcome=scheduled.outcome,
            )
        ]
    if scheduled.activity_type != PERSIST_MILESTONES:
        return [scheduled]
    batch = scheduled.input[0] if scheduled.input and isinstance(scheduled.input[0], dict) else {}
    return [
        ScheduledActivity(
            event_id=scheduled.event_id,
            at=scheduled.at,
            activity_type=PERSIST_MILESTONE,
            input=[milestone],
            outcome=scheduled.outcome,
        )
        for milestone in batch.get("milestones", [])
    ]


async def _accepted(
    event: HistoryEvent,
    at: datetime,
    outcomes: dict[int, HistoryEvent],
    converter: DataConverter,
) -> AcceptedUpdate:
    request = event.workflow_execution_update_accepted_event_attributes.accepted_request
    completed = outcomes.get(event.event_id)
    outcome: EventOutcome | None = None
    result: Any = None
    failure: str | None = None
    if completed is not None:
        update_outcome = completed.workflow_execution_update_completed_event_attributes.outcome
        if update_outcome.HasField("failure"):
            outcome = EventOutcome.FAILED
            failure = await failure_message(update_outcome.failure, converter)
        else:
            outcome = EventOutcome.COMPLETED
            values = await decode_payloads(update_outcome.success, converter)
            result = values[0] if values else None
    return AcceptedUpdate(
        event_id=event.event_id,
        at=at,
        name=request.input.name,
        args=await decode_payloads(request.input.args, converter),
        outcome=outcome,
        result=result,
        failure=failure,
    )


async def _closed(event: HistoryEvent, at: datetime, converter: DataConverter) -> RunClosed:
    closed_as = CLOSE_EVENTS[event.event_type]
    detail: str | None = None
    if event.HasField("workflow_execution_failed_event_attributes"):
        detail = await failure_message(
            event.workflow_execution_failed_event_attributes.failure, converter
        )
    elif event.HasField("workflow_execution_terminated_event_attributes"):
        detail = event.workflow_execution_terminated_event_attributes.reason or None
    elif event.HasField("workflow_execution_continued_as_new_event_attributes"):
        detail = event.workflow_execution_continued_as_new_event_attributes.new_execution_run_id
    return RunClosed(event_id=event.event_id, at=at, closed_as=closed_as, detail=detail)


def _attributes(event: HistoryEvent) -> Any:
    # Each activity outcome has its own attributes message; all carry scheduled_event_id.
    attributes_field = event.WhichOneof("attributes")
    return getattr(event, attributes_field) if attributes_field else None


def convention_of(input_values: list[Any]) -> dict[str, Any] | None:
    """The convention file a ConventionWorkflow run started with, as JSON values."""
    if input_values and isinstance(input_values[0], dict):
        convention = input_values[0].get("convention")
        if isinstance(convention, dict):
            return convention
    return None
