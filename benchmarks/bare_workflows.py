"""The bare baselines: plain Temporal workflows and a no-op activity, nothing of Pacte.

They live apart from the benchmark scripts so that the workflow sandbox, which re-imports a
workflow's module for every run, imports only temporalio here (Pacte's own workflow module
passes its imports through the same way).
"""

from __future__ import annotations

from datetime import timedelta
from functools import partial
from typing import Any

from temporalio import activity, workflow

STEP_TIMEOUT = timedelta(seconds=30)


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


@workflow.defn
class BareWaiter:
    """Runs `activities_first` activities, then takes answers (updates) until told to finish."""

    def __init__(self) -> None:
        self.answers = 0
        self.done = False

    @workflow.run
    async def run(self, activities_first: int) -> int:
        """The open workflow of the scale and latency baselines."""
        for step in range(activities_first):
            await workflow.execute_activity(bare_step, step, start_to_close_timeout=STEP_TIMEOUT)
        await workflow.wait_condition(lambda: self.done)
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self.answers

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


BARE_WORKFLOWS: list[type] = [BareLifecycle, BareWaiter]
BARE_ACTIVITIES = [bare_step]
