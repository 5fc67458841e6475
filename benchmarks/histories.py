"""Reading a run's histories: where each workflow's time went, and its profile printed."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHandle, WorkflowHistory

from benchmarks.report import mean, print_table


@dataclass
class HistoryProfile:
    """Where a workflow's time went, from its history."""

    events: int = 0
    size_bytes: int = 0
    activities: Counter[str] = field(default_factory=Counter)
    retries: Counter[str] = field(default_factory=Counter)
    """Attempts after the first, per activity type (a milestone written before its
    predecessor, PredecessorMissing, is retried: the ordered ledger should make it 0)."""
    activity_wait: dict[str, list[float]] = field(default_factory=dict)
    activity_run: dict[str, list[float]] = field(default_factory=dict)
    workflow_tasks: int = 0
    workflow_task_wait: list[float] = field(default_factory=list)
    workflow_task_run: list[float] = field(default_factory=list)
    updates: int = 0
    timers: int = 0
    segments: list[int] = field(default_factory=list)
    duration: float = 0.0

    @property
    def activity_count(self) -> int:
        """Activities scheduled, every type."""
        return self.activities.total()


def profile_history(history: WorkflowHistory) -> HistoryProfile:
    """Count activities per type, updates, timers, workflow tasks; time their waits and runs.

    `segments`: activities scheduled before the first accepted update, between updates, and
    after the last one; the bare lifecycle workflow runs the same plan.
    """
    profile = HistoryProfile(segments=[0])
    scheduled: dict[int, tuple[str, float]] = {}
    started: dict[int, float] = {}
    task_scheduled: dict[int, float] = {}
    task_started: dict[int, float] = {}
    times = [event.event_time.ToNanoseconds() / 1e9 for event in history.events]
    for event, at in zip(history.events, times, strict=True):
        profile.events += 1
        profile.size_bytes += event.ByteSize()
        kind = event.event_type
        if kind == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            name = event.activity_task_scheduled_event_attributes.activity_type.name
            profile.activities[name] += 1
            profile.segments[-1] += 1
            scheduled[event.event_id] = (name, at)
        elif kind == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
            source = event.activity_task_started_event_attributes.scheduled_event_id
            name, when = scheduled[source]
            profile.retries[name] += event.activity_task_started_event_attributes.attempt - 1
            profile.activity_wait.setdefault(name, []).append(at - when)
            started[source] = at
        elif kind == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
            source = event.activity_task_completed_event_attributes.scheduled_event_id
            name, _ = scheduled[source]
            if source in started:
                profile.activity_run.setdefault(name, []).append(at - started[source])
        elif kind == EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED:
            task_scheduled[event.event_id] = at
        elif kind == EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED:
            source = event.workflow_task_started_event_attributes.scheduled_event_id
            if source in task_scheduled:
                profile.workflow_task_wait.append(at - task_scheduled[source])
            task_started[event.event_id] = at
        elif kind == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
            profile.workflow_tasks += 1
            source = event.workflow_task_completed_event_attributes.started_event_id
            if source in task_started:
                profile.workflow_task_run.append(at - task_started[source])
        elif kind == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED:
            profile.updates += 1
            profile.segments.append(0)
        elif kind == EventType.EVENT_TYPE_TIMER_STARTED:
            profile.timers += 1
    if times:
        profile.duration = times[-1] - times[0]
    return profile


def print_profiles(profiles: dict[str, list[HistoryProfile]]) -> None:
    """Per workflow, averaged over each side's histories: what it did and where time went."""
    names = list(profiles)
    rows: list[list[object]] = []

    def average(pick: Callable[[HistoryProfile], float]) -> list[object]:
        return [mean([pick(p) for p in profiles[name]]) for name in names]

    rows.append(["events", *average(lambda p: p.events)])
    rows.append(["history KiB", *average(lambda p: p.size_bytes / 1024)])
    rows.append(["updates (answers)", *average(lambda p: p.updates)])
    rows.append(["timers started", *average(lambda p: p.timers)])
    rows.append(["workflow tasks", *average(lambda p: p.workflow_tasks)])
    rows.append(["  mean wait in queue, ms", *average(lambda p: 1000 * mean(p.workflow_task_wait))])
    rows.append(["  mean run on worker, ms", *average(lambda p: 1000 * mean(p.workflow_task_run))])
    rows.append(["activities", *average(lambda p: p.activity_count)])
    types = sorted({kind for side in profiles.values() for p in side for kind in p.activities})
    for kind in types:
        rows.append([f"  {kind}", *average(lambda p, k=kind: p.activities[k])])  # type: ignore[misc]
        rows.append(
            [
                "    mean wait / run, ms",
                *[
                    _wait_run(
                        [x for p in profiles[name] for x in p.activity_wait.get(kind, [])],
                        [x for p in profiles[name] for x in p.activity_run.get(kind, [])],
                    )
                    for name in names
                ],
            ]
        )
    persist = ("persist_milestone", "persist_milestones")
    rows.append(
        [
            "milestone write retries (total)",
            *[sum(p.retries[k] for p in profiles[name] for k in persist) for name in names],
        ]
    )
    rows.append(["first to last event, s", *average(lambda p: p.duration)])
    print_table(["per workflow (mean)", *names], rows)


def _wait_run(waits: list[float], runs: list[float]) -> str:
    if not waits:
        return "-"
    return f"{1000 * mean(waits):.1f} / {1000 * mean(runs):.1f}"


async def wait_idle(handle: WorkflowHandle[Any, Any], poll_seconds: float = 0.02) -> None:
    """Until the workflow has neither an activity nor a workflow task pending."""
    while True:
        raw = (await handle.describe()).raw_description
        if not raw.pending_activities and not raw.HasField("pending_workflow_task"):
            return
        await asyncio.sleep(poll_seconds)


async def fetch_histories(
    client: Client, workflow_ids: Sequence[str], *, concurrency: int = 8
) -> list[WorkflowHistory]:
    """The histories of these workflows (latest run each), fetched a few at a time."""
    gate = asyncio.Semaphore(concurrency)

    async def fetch(workflow_id: str) -> WorkflowHistory:
        async with gate:
            return await client.get_workflow_handle(workflow_id).fetch_history()

    return list(await asyncio.gather(*(fetch(workflow_id) for workflow_id in workflow_ids)))
