"""The convention's record inside the workflow: its tasks, their answers, its milestones.

Stages talk to the board in domain terms (assign a task, wait for answers, record a
milestone); the board turns that into timers and activity calls. Deterministic: the only
clock is workflow.now(), the only I/O goes through activities.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterable
from datetime import datetime, timedelta
from functools import cached_property, partial
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy

from workflows.delivery import DELIVERY_PATCH, Deliveries

with workflow.unsafe.imports_passed_through():
    from activities.milestones import MilestoneStore
    from activities.notify import Notifier
    from schemas.convention import Contact, Convention
    from schemas.milestones import Milestone, MilestoneKind
    from schemas.notifications import Notification, NotificationEvent
    from schemas.tasks import Answer, AnswerTask, Task, TaskKind, TaskStatus

# A milestone or a notification must never be lost: retry until PostgreSQL answers again,
# backing off to a minute between attempts.
PERSISTENCE_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=1),
)
PERSISTENCE_TIMEOUT = timedelta(seconds=30)

AnswerCheck = Callable[[Task, Answer], None]
"""A stage's own rule for an answer; raises ValueError naming the field and the reason."""


class ConventionEnded(Exception):
    """A stage ends the convention early: a refusal, a rejection. Carries the reason."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class AnswerRejected(ValueError):
    """An answer that the workflow refuses; the message says which field and why."""


class TaskBoard:
    """Tasks, answers and milestones of one convention."""

    def __init__(self, convention: Convention) -> None:
        self.convention = convention
        self.current_stage: str | None = None
        self.tasks: dict[str, Task] = {}
        self.answers: dict[str, AnswerTask] = {}
        self.milestones: list[Milestone] = []
        self._checks: dict[str, AnswerCheck] = {}

    # --- milestones -------------------------------------------------------------------

    async def record(
        self,
        kind: MilestoneKind,
        summary: str,
        *,
        task: Task | None = None,
        party: str | None = None,
        actor: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> Milestone:
        """Append a milestone and persist it; its seq is its idempotency key."""
        milestone = Milestone(
            convention_id=self.convention.id,
            seq=len(self.milestones) + 1,
            kind=kind,
            stage=self.current_stage,
            task_id=task.id if task else None,
            party=party if party is not None else (task.assignee if task else None),
            actor=actor,
            occurred_at=workflow.now(),
            summary=summary,
            details=details or {},
        )
        self.milestones.append(milestone)
        await workflow.execute_activity_method(
            MilestoneStore.persist_milestone,
            milestone,
            start_to_close_timeout=PERSISTENCE_TIMEOUT,
            retry_policy=PERSISTENCE_RETRY,
            summary=f"{kind.value} #{milestone.seq}",
        )
        return milestone

    # --- tasks ------------------------------------------------------------------------

    async def assign(
        self,
        task_id: str,
        kind: TaskKind,
        assignee: str,
        title: str,
        *,
        due_at: datetime | None = None,
        due_in: timedelta | None = None,
        signatory: str | None = None,
        check: AnswerCheck | None = None,
    ) -> Task:
        """Open a task for a party, record it and notify the party."""
        now = workflow.now()
        if due_at is None:
            due_at = now + (due_in or timedelta(days=30))
        task = Task(
            id=task_id,
            convention_id=self.convention.id,
            stage=self.current_stage or "",
            kind=kind,
            assignee=assignee,
            signatory=signatory,
            title=title,
            assigned_at=now,
            due_at=due_at,
        )
        self.tasks[task_id] = task
        if check is not None:
            self._checks[task_id] = check
        await self.record(
            MilestoneKind.TASK_ASSIGNED,
            f"{title} — owed by {assignee}, due {due_at:%Y-%m-%d}",
            task=task,
            details={"kind": kind.value, "due_at": due_at.isoformat(), "signatory": signatory},
        )
        await self.notify(NotificationEvent.TASK_ASSIGNED, task)
        return task

    def open_tasks(self) -> list[Task]:
        """Tasks still owed, oldest first."""
        return [task for task in self.tasks.values() if task.status is TaskStatus.OPEN]

    def check_answer(self, request: AnswerTask) -> None:
        """Refuse an answer that does not fit its task; the workflow is left untouched."""
        task = self.tasks.get(request.task_id)
        if task is None:
            known = ", ".join(sorted(t.id for t in self.open_tasks())) or "none"
            raise AnswerRejected(f"task_id: unknown task {request.task_id!r} (open tasks: {known})")
        if task.status is not TaskStatus.OPEN:
            raise AnswerRejected(
                f"task_id: task {task.id!r} is already {task.status.value}"
                + (f" (answered by {task.answered_by})" if task.answered_by else "")
            )
        if request.acting_party != task.assignee:
            raise AnswerRejected(
                f"acting_party: {request.acting_party!r} does not owe task {task.id!r}; "
                f"{task.assignee!r} does"
            )
        if request.answer.kind != task.kind.value:
            raise AnswerRejected(
                f"answer.kind: task {task.id!r} expects a {task.kind.value!r} answer, "
                f"not {request.answer.kind!r}"
            )
        stage_check = self._checks.get(task.id)
        if stage_check is not None:
            try:
                stage_check(task, request.answer)
            except AnswerRejected:
                raise
            except ValueError as error:
                raise AnswerRejected(str(error)) from error

    def accept_answer(self, request: AnswerTask) -> Task:
        """Close the task with its answer; the waiting stage picks it up."""
        task = self.tasks[request.task_id].model_copy(
            update={
                "status": TaskStatus.DONE,
                "answered_at": workflow.now(),
                "answered_by": request.actor or request.acting_party,
            }
        )
        self.tasks[task.id] = task
        self.answers[task.id] = request
        return task

    def cancel(self, task_id: str) -> None:
        """Close a task nobody needs to answer any more (the stage ended without it)."""
        task = self.tasks[task_id]
        if task.status is TaskStatus.OPEN:
            self.tasks[task_id] = task.model_copy(update={"status": TaskStatus.CANCELLED})

    async def answer_to(self, task: Task) -> AnswerTask:
        """Wait for the answer to one task."""
        async for _, request in self.answers_to([task]):
            return request
        raise AssertionError("unreachable: answers_to yields every task")

    async def answers_to(self, tasks: Iterable[Task]) -> AsyncIterator[tuple[Task, AnswerTask]]:
        """Yield each task's answer as it arrives; escalate each task once it is overdue."""
        pending = {task.id for task in tasks}
        escalated: set[str] = set()
        while pending:
            # A stage may cancel the rest of a round (a refusal, a request for changes).
            pending = {t for t in pending if self.tasks[t].status is not TaskStatus.CANCELLED}
            answered = sorted(task_id for task_id in pending if task_id in self.answers)
            for task_id in answered:
                pending.discard(task_id)
                task = self.tasks[task_id]
                request = self.answers[task_id]
                await self.record(
                    MilestoneKind.TASK_ANSWERED,
                    f"{task.title} — answered by {request.acting_party}",
                    task=task,
                    party=request.acting_party,
                    actor=request.actor,
                    details={"answer": request.answer.model_dump(mode="json")},
                )
                yield task, request
            if not pending:
                return
            waiting = [self.tasks[task_id] for task_id in sorted(pending)]
            overdue = [task for task in waiting if task.id not in escalated]
            next_due = min((task.due_at for task in overdue), default=None)
            now = workflow.now()
            if next_due is not None and next_due <= now:
                for task in overdue:
                    if task.due_at <= now:
                        escalated.add(task.id)
                        await self.escalate(task)
                continue
            try:
                await workflow.wait_condition(
                    partial(self._any_answered, frozenset(pending)),
                    timeout=(next_due - now) if next_due is not None else None,
                    timeout_summary="next task due",
                )
            except TimeoutError:
                continue

    def _any_answered(self, task_ids: frozenset[str]) -> bool:
        return not task_ids.isdisjoint(self.answers)

    async def escalate(self, task: Task) -> None:
        """A task is past its due date: remind its party and tell the officer."""
        await self.record(
            MilestoneKind.TASK_OVERDUE,
            f"{task.title} — overdue since {task.due_at:%Y-%m-%d}",
            task=task,
            details={"due_at": task.due_at.isoformat()},
        )
        await self.notify(NotificationEvent.TASK_REMINDER, task)
        await self.notify(NotificationEvent.TASK_ESCALATED, task, to_officer=True)

    # --- notifications ----------------------------------------------------------------

    async def notify(
        self, event: NotificationEvent, task: Task, *, to_officer: bool = False
    ) -> None:
        """Tell the party that owes a task (or the officer) about it, on its channels."""
        convention = self.convention
        # The officer's own tasks (a delivery to fix) go to the officer, not the office's desk.
        to_officer = to_officer or task.kind is TaskKind.FIX_DELIVERY
        party = convention.office if to_officer else convention.party(task.assignee)
        if to_officer:
            officer = convention.officer
            recipients = [
                Contact(name=officer.name, email=officer.email, language=officer.language)
            ]
            language = officer.language
        else:
            recipients = list(party.contacts)
            language = party.language or (
                recipients[0].language if recipients else convention.officer.language
            )
        notification = Notification(
            # Stable across retries and replays: the partner's webhook-id, the log's key.
            id=f"{convention.id}/{task.id}/{event.value}" + ("/officer" if to_officer else ""),
            convention_id=convention.id,
            event=event,
            party=party.id,
            recipients=recipients,
            language=language,
            subject=f"[{convention.id}] {task.title}",
            task=task,
            created_at=workflow.now(),
            convention_title=convention.title,
            webhook_url=str(party.webhook_url) if party.webhook_url else None,
        )
        await workflow.execute_activity_method(
            Notifier.notify_party,
            notification,
            start_to_close_timeout=PERSISTENCE_TIMEOUT,
            retry_policy=PERSISTENCE_RETRY,
            summary=f"{event.value} {party.id}",
        )
        if not workflow.patched(DELIVERY_PATCH):
            return
        await self._deliveries.sync_inbox()
        await self._deliveries.send(notification)

    def sync_task_read_model(self, task: Task) -> None:
        """Bring the partners' inbox up to date with a task's new state, without waiting.

        Call it where a task changes outside an assignment (cancel, reassign, postpone);
        an answered task leaves the inbox through its task_answered milestone already.
        """
        if workflow.patched(DELIVERY_PATCH):
            self._deliveries.sync_in_background(task)

    async def deliveries_settled(self) -> None:
        """Wait for deliveries in flight: call before the workflow returns, or they are cut."""
        if workflow.patched(DELIVERY_PATCH):
            await self._deliveries.settled()

    @cached_property
    def _deliveries(self) -> Deliveries:
        # Created on first use, so that the board's constructor stays as it was.
        return Deliveries(self)
