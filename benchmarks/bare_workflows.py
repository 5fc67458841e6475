"""The bare baselines: plain Temporal workflows and their activities, nothing of Pacte.

They live apart from the benchmark scripts so that the workflow sandbox, which re-imports a
workflow's module for every run, imports only temporalio here (Pacte's own workflow module
passes its imports through the same way).

- `BareLifecycle`: Pacte's activity plan with no-op activities: what Temporal alone costs.
- `StraightforwardLifecycle`: the same business written the way a team would first write it
  on Temporal: one activity per milestone, a plain `INSERT` (no hash chain, no read model),
  one per notification, an `INSERT` into an outbox (no delivery, no links, no inbox).
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass, field
from datetime import timedelta
from functools import partial
from typing import TYPE_CHECKING, Any

from temporalio import activity, workflow
from temporalio.common import RetryPolicy

if TYPE_CHECKING:
    import asyncpg

STEP_TIMEOUT = timedelta(seconds=30)
WRITE_RETRY = RetryPolicy(initial_interval=timedelta(milliseconds=200), maximum_attempts=10)


@activity.defn
async def bare_step(step: int) -> int:
    """An activity that does nothing: the cost of an activity to Temporal alone."""
    return step


@workflow.defn
class BareLifecycle:
    """A convention's skeleton: `plan[0]` activities, answer 1, `plan[1]` activities, answer 2…

    An answer sent early waits in its update handler until the workflow is ready for it, so
    the client needs no polling: the best Temporal can do with the same activities and updates.
    """

    def __init__(self) -> None:
        self.ready = 0
        self.answered = 0

    @workflow.run
    async def run(self, plan: list[int]) -> int:
        """Run each segment of activities, each followed by one answer but the last."""
        for index, count in enumerate(plan):
            for _ in range(count):
                await workflow.execute_activity(
                    bare_step, index, start_to_close_timeout=STEP_TIMEOUT
                )
            if index < len(plan) - 1:
                self.ready = index + 1
                await workflow.wait_condition(partial(self._answered_past, index))
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self.answered

    def _answered_past(self, index: int) -> bool:
        return self.answered > index

    def _ready_for(self, number: int) -> bool:
        return self.ready >= number

    @workflow.update
    async def answer(self, number: int) -> int:
        """Answer number `number` (from 1), taken once the workflow waits for it."""
        await workflow.wait_condition(partial(self._ready_for, number))
        self.answered = number
        return number


class _TakesAnswers:
    """The answers, query and end of `BareWaiter` and `BareRecorder` (handlers are inherited:
    the SDK reads a workflow class's members with its bases')."""

    def __init__(self) -> None:
        self.answers = 0
        self.done = False

    @workflow.update
    def answer(self, payload: dict[str, Any]) -> dict[str, Any]:
        """Accept anything: a bare update's round trip."""
        self.answers += 1
        return {"accepted": self.answers, "task_id": payload.get("task_id")}

    @workflow.query
    def answered(self) -> int:
        """Answers taken so far."""
        return self.answers

    @workflow.signal
    def finish(self) -> None:
        """Close the workflow."""
        self.done = True


@workflow.defn
class BareWaiter(_TakesAnswers):
    """Runs `activities_first` activities, then takes answers (updates) until told to finish."""

    @workflow.run
    async def run(self, activities_first: int) -> int:
        """The open workflow of the scale and latency baselines."""
        for step in range(activities_first):
            await workflow.execute_activity(bare_step, step, start_to_close_timeout=STEP_TIMEOUT)
        await workflow.wait_condition(lambda: self.done)
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self.answers


@workflow.defn
class BareRecorder(_TakesAnswers):
    """Takes answers like `BareWaiter`, and each answer's workflow task writes what Pacte's
    does besides the update: the wait's reminder timer cancelled, one activity scheduled.

    The latency floor of an answer that must be recorded and ends a timed wait, on Temporal
    alone: a no-op activity, no state, no rules.
    """

    def __init__(self) -> None:
        super().__init__()
        self.recorded = 0

    @workflow.run
    async def run(self, reminder: bool = True) -> int:
        """Wait for an answer (or, with a reminder, three days), record it, wait again; until
        told to finish."""
        while not self.done:
            with contextlib.suppress(TimeoutError):
                await workflow.wait_condition(
                    self._to_record, timeout=timedelta(days=3) if reminder else None
                )
            while self.recorded < self.answers:
                self.recorded += 1
                await workflow.execute_activity(
                    bare_step, self.recorded, start_to_close_timeout=STEP_TIMEOUT
                )
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self.answers

    def _to_record(self) -> bool:
        return self.done or self.recorded < self.answers


# --- the straightforward implementation -----------------------------------------------------

STRAIGHTFORWARD_SCHEMA = """
CREATE TABLE IF NOT EXISTS straightforward_milestones (
    convention_id  text        NOT NULL,
    seq            integer     NOT NULL,
    kind           text        NOT NULL,
    summary        text        NOT NULL,
    details        jsonb       NOT NULL,
    recorded_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (convention_id, seq)
);
CREATE TABLE IF NOT EXISTS straightforward_outbox (
    convention_id  text        NOT NULL,
    id             text        NOT NULL,
    message        jsonb       NOT NULL,
    recorded_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (convention_id, id)
);
"""
_INSERT_MILESTONE = """
INSERT INTO straightforward_milestones (convention_id, seq, kind, summary, details)
VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (convention_id, seq) DO NOTHING
"""
_INSERT_OUTBOX = """
INSERT INTO straightforward_outbox (convention_id, id, message) VALUES ($1, $2, $3)
ON CONFLICT (convention_id, id) DO NOTHING
"""


@dataclass
class Step:
    """One activity of the straightforward plan: a milestone to insert or a message to queue.

    `payload` is what Pacte's own workflow recorded (a milestone, a notification), so that
    both sides carry the same data.
    """

    activity: str
    payload: dict[str, Any]


@dataclass
class StraightforwardPlan:
    """A convention's business: `segments[0]` steps, answer 1, `segments[1]` steps, answer 2…"""

    convention_id: str
    segments: list[list[Step]] = field(default_factory=list)


class StraightforwardActivities:
    """A plain INSERT per milestone, a plain INSERT per notification (the outbox)."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    @activity.defn
    async def record_milestone(self, convention_id: str, milestone: dict[str, Any]) -> None:
        """Insert the milestone's row, once (a retry finds it written)."""
        await self._pool.execute(
            _INSERT_MILESTONE,
            convention_id,
            milestone["seq"],
            milestone["kind"],
            milestone["summary"],
            json.dumps(milestone.get("details", {}), ensure_ascii=False),
        )

    @activity.defn
    async def queue_notification(self, convention_id: str, message: dict[str, Any]) -> None:
        """Put the message in the outbox, once; a sender would take it from there."""
        await self._pool.execute(
            _INSERT_OUTBOX, convention_id, message["id"], json.dumps(message, ensure_ascii=False)
        )


@workflow.defn
class StraightforwardLifecycle:
    """Each segment's steps one activity after the other, then wait for the next answer.

    The answers are the partners' payloads as Pacte receives them (taken as they come, as a
    first implementation would); an early answer waits in its handler for its turn.
    """

    def __init__(self) -> None:
        self.ready = 0
        self.received = 0
        self.answers: list[dict[str, Any]] = []

    @workflow.run
    async def run(self, plan: StraightforwardPlan) -> int:
        """Run the plan; return the number of answers taken."""
        for index, steps in enumerate(plan.segments):
            for step in steps:
                if step.activity == "milestone":
                    await workflow.execute_activity_method(
                        StraightforwardActivities.record_milestone,
                        args=[plan.convention_id, step.payload],
                        start_to_close_timeout=STEP_TIMEOUT,
                        retry_policy=WRITE_RETRY,
                    )
                else:
                    await workflow.execute_activity_method(
                        StraightforwardActivities.queue_notification,
                        args=[plan.convention_id, step.payload],
                        start_to_close_timeout=STEP_TIMEOUT,
                        retry_policy=WRITE_RETRY,
                    )
            if index < len(plan.segments) - 1:
                self.ready = index + 1
                await workflow.wait_condition(partial(self._answered_past, index))
        await workflow.wait_condition(workflow.all_handlers_finished)
        return len(self.answers)

    def _answered_past(self, index: int) -> bool:
        return len(self.answers) > index

    def _ready_for(self, number: int) -> bool:
        return self.ready >= number

    @workflow.update
    async def answer(self, request: dict[str, Any]) -> dict[str, Any]:
        """Take the next answer once the workflow waits for it; a receipt."""
        self.received += 1
        number = self.received
        await workflow.wait_condition(partial(self._ready_for, number))
        self.answers.append(request)
        return {"accepted": number, "task_id": request.get("task_id")}


BARE_WORKFLOWS: list[type] = [BareLifecycle, BareWaiter, BareRecorder, StraightforwardLifecycle]


def bare_activities(pool: asyncpg.Pool) -> list[Any]:
    """The baselines' activities; the straightforward ones write through the worker's pool."""
    straightforward = StraightforwardActivities(pool)
    return [bare_step, straightforward.record_milestone, straightforward.queue_notification]
