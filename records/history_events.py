"""A workflow history as the archive and the audit both read it: how a run closed, the
workflow id it started under, and the one byte form of its file (whose SHA-256 the archive
and every export record)."""

from __future__ import annotations

from google.protobuf import json_format
from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import History, HistoryEvent
from temporalio.client import WorkflowHistory

from schemas.archive import RunClose

CLOSE_EVENTS = {
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED: RunClose.COMPLETED,
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED: RunClose.FAILED,
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_TIMED_OUT: RunClose.TIMED_OUT,
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CANCELED: RunClose.CANCELED,
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED: RunClose.TERMINATED,
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW: RunClose.CONTINUED_AS_NEW,
}


def closed_as(event: HistoryEvent) -> RunClose | None:
    """completed, failed, continued_as_new… when the event closes a run; None otherwise."""
    return CLOSE_EVENTS.get(event.event_type)


def started_workflow_id(history_events: list[HistoryEvent]) -> str | None:
    """The workflow id the server wrote into the start event (servers from 1.25 on do)."""
    if history_events and history_events[0].HasField("workflow_execution_started_event_attributes"):
        return history_events[0].workflow_execution_started_event_attributes.workflow_id or None
    return None


def history_file_bytes(history: WorkflowHistory) -> bytes:
    """A run's history as its file holds it: the CLI's JSON, keys sorted, UTF-8, a newline.

    Keys sorted because protobuf writes map entries (search attributes, headers) in no fixed
    order: sorted, the same history always gives the same bytes, so a run exported from
    Temporal, from the archive or from an export has one SHA-256, and the archive stores
    exactly these bytes (compressed).
    """
    document = json_format.MessageToJson(History(events=history.events), sort_keys=True)
    return (document + "\n").encode("utf-8")
