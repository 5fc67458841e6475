"""Delivering a convention's notifications, from inside its workflow.

Read aloud: *plan the channels of each notification; deliver on each channel in the
background, retrying with backoff; if a channel gives up, log it and give the officer a
task — and try again if the officer says it is fixed.*

Deliveries run beside the stages rather than in their way: a partner whose endpoint is down
for a day must not hold back the other parties' tasks. Every channel's outcome comes back to
the workflow as an activity result or failure, so the officer's task is raised durably.
The partners' inbox (the tasks read model) is brought up to date before each notification
leaves, so a partner who opens it on receipt finds the task there.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, RetryState

from workflows.activity_options import PERSISTENCE_RETRY, PERSISTENCE_TIMEOUT
from workflows.task_rules import (
    fix_delivery_task_facts,
    fix_delivery_task_id,
    fix_delivery_task_title,
)

with workflow.unsafe.imports_passed_through():
    from activities.delivery_log import DeliveryLog
    from activities.inbox import TaskInbox
    from activities.mail import Mailer
    from activities.notify import Notifier
    from activities.webhook import WebhookSender
    from schemas.channels import (
        PERMANENT_FAILURE,
        Channel,
        DeliveryFailure,
        DeliveryPlan,
        RetrySettings,
    )
    from schemas.notifications import Notification, OwedNotification
    from schemas.tasks import AnswerTask, FixDeliveryAnswer, Task, TaskKind

DELIVERY_PATCH = "notification-delivery"
"""Deprecated (workflows/patches.py): every run recorded before the consolidation holds its
marker, none replays without delivery; the marker is still asked where it was recorded."""
ONE_NOTIFICATION_ACTIVITY_PATCH = "one-notification-activity"
"""Workflows recorded before replay their three activities a notification (notify_party,
sync_tasks, plan_delivery); later ones make one, record_notification."""

FIX_DELIVERY_DUE = timedelta(days=7)

AskOfficer = Callable[[str, str, dict[str, Any]], Awaitable[AnswerTask]]
"""Give the officer a task (its id, its title, its facts) and wait for the answer: the board
does it."""


def delivery_retry_policy(retry: RetrySettings) -> RetryPolicy:
    """Exponential backoff, capped, bounded; a permanent failure is never retried."""
    return RetryPolicy(
        initial_interval=retry.initial_interval,
        backoff_coefficient=2.0,
        maximum_interval=retry.maximum_interval,
        maximum_attempts=retry.maximum_attempts,
        non_retryable_error_types=[PERMANENT_FAILURE],
    )


def failure_reason(error: ActivityError) -> str:
    """One line: what the other side said, and why Temporal stopped retrying."""
    cause = error.cause
    said = getattr(cause, "message", None) or str(cause or error)
    if error.retry_state is RetryState.MAXIMUM_ATTEMPTS_REACHED:
        return f"{said} (gave up after the last allowed attempt)"
    if error.retry_state is RetryState.TIMEOUT:
        return f"{said} (gave up: out of time)"
    return said


class Deliveries:
    """One convention's deliveries in flight, and what the inbox read model has seen.

    Given what it needs of the task board, not the board: the tasks as they stand (for the
    inbox) and a way to ask the officer to fix a channel.
    """

    def __init__(self, tasks: Callable[[], Iterable[Task]], ask_officer: AskOfficer) -> None:
        self._tasks = tasks
        self._ask_officer = ask_officer
        self._synced: dict[str, Task] = {}
        self._background: set[asyncio.Task[None]] = set()
        self._activities_in_flight = 0

    async def send(self, notification: Notification) -> None:
        """Plan the notification's channels, then deliver each in the background."""
        plan = await workflow.execute_activity_method(
            Notifier.plan_delivery,
            notification,
            start_to_close_timeout=PERSISTENCE_TIMEOUT,
            retry_policy=PERSISTENCE_RETRY,
            summary=f"plan {notification.id}",
        )
        self.deliver(notification, plan)

    async def record_and_send(self, notification: Notification) -> None:
        """Record the notification, the inbox's unseen task states and the channels' plan in
        one activity (record_notification), then deliver on each channel in the background."""
        changed = self._take_unsynced()
        plan = await workflow.execute_activity_method(
            Notifier.record_notification,
            OwedNotification(notification=notification, tasks=changed),
            start_to_close_timeout=PERSISTENCE_TIMEOUT,
            retry_policy=PERSISTENCE_RETRY,
            summary=f"{notification.event.value} {notification.party}",
        )
        self.deliver(notification, plan)

    def deliver(self, notification: Notification, plan: DeliveryPlan) -> None:
        """Each planned channel, in the background."""
        for channel in plan.channels:
            self._spawn(self._deliver(notification, channel, plan.retry))

    async def sync_inbox(self) -> None:
        """Upsert every task whose state the read model has not seen yet."""
        changed = self._take_unsynced()
        if changed:
            await self._sync(changed)

    def _take_unsynced(self) -> list[Task]:
        """The tasks whose state the read model has not seen, marked seen (their upsert is
        about to be scheduled)."""
        changed = [task for task in self._tasks() if self._synced.get(task.id) != task]
        for task in changed:
            self._synced[task.id] = task
        return changed

    def sync_in_background(self, task: Task) -> None:
        """Upsert one task without waiting: callable from synchronous workflow code."""
        if self._synced.get(task.id) != task:
            self._spawn(self._sync([task]))

    async def settled(self) -> None:
        """Wait until no delivery attempt or bookkeeping write is in flight.

        An officer's open fix_delivery task is not waited for: its failure is in the log.
        """
        await workflow.wait_condition(lambda: self._activities_in_flight == 0)

    async def _sync(self, tasks: list[Task]) -> None:
        for task in tasks:
            self._synced[task.id] = task  # (already, when they come from _take_unsynced)
        await self._activity(
            workflow.execute_activity_method(
                TaskInbox.sync_tasks,
                tasks,
                start_to_close_timeout=PERSISTENCE_TIMEOUT,
                retry_policy=PERSISTENCE_RETRY,
                summary=f"inbox {len(tasks)} task(s)",
            )
        )

    async def _deliver(
        self, notification: Notification, channel: Channel, retry: RetrySettings
    ) -> None:
        deliver = (
            WebhookSender.deliver_webhook if channel is Channel.WEBHOOK else Mailer.deliver_email
        )
        round_number = 1
        while True:
            try:
                await self._activity(
                    workflow.execute_activity_method(
                        deliver,
                        notification,
                        start_to_close_timeout=retry.attempt_timeout,
                        retry_policy=delivery_retry_policy(retry),
                        summary=f"{channel.value} {notification.id}",
                    )
                )
                return
            except ActivityError as error:
                reason = failure_reason(error)
            failure = DeliveryFailure(
                notification_id=notification.id,
                channel=channel,
                party=notification.party,
                reason=reason,
            )
            await self._activity(
                workflow.execute_activity_method(
                    DeliveryLog.give_up_delivery,
                    failure,
                    start_to_close_timeout=PERSISTENCE_TIMEOUT,
                    retry_policy=PERSISTENCE_RETRY,
                    summary=f"gave up {channel.value} {notification.id}",
                )
            )
            task = notification.task
            if task is not None and task.kind is TaskKind.FIX_DELIVERY:
                # The officer's own channel fails: the fix task is in the officer's inbox and
                # status already; a task about that task would only fail the same way.
                return
            request = await self._ask_officer(
                fix_delivery_task_id(notification, channel, round_number),
                fix_delivery_task_title(notification, channel, reason),
                fix_delivery_task_facts(notification, channel, reason),
            )
            answer = request.answer
            if not (isinstance(answer, FixDeliveryAnswer) and answer.decision == "retry"):
                return
            round_number += 1

    async def _activity(self, call: Awaitable[Any]) -> None:
        # Counted from before the activity is scheduled until its outcome is in history.
        self._activities_in_flight += 1
        try:
            await call
        finally:
            self._activities_in_flight -= 1

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        # The workflow's event loop is deterministic: these tasks replay in the same order.
        task = asyncio.create_task(work)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
