"""The convention's record inside the workflow: its tasks, their answers, its milestones.

Stages talk to the board in domain terms (assign a task, wait for answers, record a
milestone); the board turns that into timers and activity calls: *remind the party before the
due date, escalate to the officer at the due date, remind the late party every few days*.
Officers act on it too (postpone, reassign, terminate). Deterministic: the only clock is
workflow.now(), the only I/O goes through activities.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from datetime import datetime, timedelta
from functools import cached_property, partial
from typing import Any

from temporalio import workflow

from workflows import task_rules as rules
from workflows.activity_options import PERSISTENCE_RETRY, PERSISTENCE_TIMEOUT
from workflows.delivery import (
    DELIVERY_PATCH,
    FIX_DELIVERY_DUE,
    ONE_NOTIFICATION_ACTIVITY_PATCH,
    Deliveries,
)
from workflows.ledger import LEDGER_PATCH, Ledger
from workflows.patches import Patches
from workflows.task_rules import AnswerCheck, FollowUp, shortened, workflow_json

with workflow.unsafe.imports_passed_through():
    from activities.milestones import MilestoneStore
    from activities.notify import Notifier
    from schemas.convention import Convention, ReminderPolicy, StageSpec
    from schemas.errors import RefusalCode
    from schemas.milestones import Milestone, MilestoneKind
    from schemas.notifications import Notification, NotificationEvent
    from schemas.officer_actions import (
        ChangeOfficer,
        ConventionLink,
        PostponeDeadline,
        ReassignTask,
        TerminateConvention,
    )
    from schemas.reasons import ReasonCode, ReasonFacts
    from schemas.status import (
        BoardState,
        ImplementationProgress,
        StandingSignature,
        TaskLookup,
    )
    from schemas.tasks import AnswerTask, Task, TaskFacts, TaskKind, TaskStatus

ESCALATION_DUE = timedelta(days=7)

MILESTONE_WINDOW = 200
"""Milestones the workflow keeps (for `status` and the next run); PostgreSQL keeps them all."""
KEPT_DETAILS_BYTES = 2_048
"""A milestone's details larger than this are left out of the workflow's copy (a long answer,
a report's totals): the written milestone has them. With MILESTONE_WINDOW this bounds what
the workflow holds, queries and carries to the next run, whatever the convention's age."""
KEPT_SUMMARY_CHARS = 300
RESUME_MILESTONES = 1
"""Milestones carried to the next run: the last one (its history_continued), without its
details, which gives the next run its seq. The timeline is PostgreSQL's (`status` reads it
there), so a convention's fifth year starts its run with an input no larger than its
second year's; the new run's `status` query shows the milestones since."""

MAX_ROUNDS = 20
"""Review rounds, diagnostic rounds, funders' questions: past this, the stage fails with the
reason (the officer decides what follows) rather than grow a history towards Temporal's
51,200-event limit."""
TYPED_TASK_FACTS_PATCH = "typed-task-facts"
"""Tasks carry their facts (TaskFacts: version, signatory, place and dates, amount, round…)
in the Task and in their milestones' details, and the convention's title, a follow-up's
title and an implementation milestone's label are written into the details, so each reader's
language says them (rendering.record); runs recorded before wrote the English titles alone
(tests/histories/before-typed-task-facts/)."""
TASK_MILESTONES = frozenset(
    {
        MilestoneKind.TASK_ASSIGNED,
        MilestoneKind.TASK_ANSWERED,
        MilestoneKind.TASK_OVERDUE,
        MilestoneKind.TASK_REMINDED,
        MilestoneKind.TASK_CANCELLED,
        MilestoneKind.DEADLINE_POSTPONED,
        MilestoneKind.TASK_REASSIGNED,
    }
)
"""The milestones about a task: their details carry the task's facts, when it has them."""
CHANGE_OFFICER_PATCH = "change-officer"
"""The `change_officer` update: the board's responsible officer (escalations, the officer's
copies) becomes the one named, recorded as officer_changed and carried to the next run.
Asked in the update's handler, so a run that never changed its officer holds no marker;
histories of the code before: tests/histories/before-change-officer/."""
REASSIGN_DIRECTORY_PATCH = "reassign-directory"
"""A task given to a person the directory names for its party (the desk checked them), not
only to a contact the convention file names: the task keeps the person's directory id, the
milestone names it with the capacity and the directory's version. Asked in the update's
handler when it carries a person, so a run that never did it holds no marker; histories of
the code before: tests/histories/before-reassign-directory/."""
TYPED_REASONS_PATCH = "typed-reasons"
"""The reasons the workflow gives (a task cancelled, a stage failed, the convention ended)
are written as facts too: a code and its values (schemas.reasons.ReasonFacts) in the
milestone's details and the closed task, beside the English wording, so each reader's
language says them (rendering.reasons). Asked where a run first gives a reason, so a run
that never gives one holds no marker; histories of the code before:
tests/histories/before-typed-reasons/ (their wording is read back by pattern)."""
ESCALATION_DUE_MOMENT_PATCH = "escalation-due-moment"
"""An escalation's facts carry the late task's due moment (`TaskFacts.due_at`), not only its
UTC date (`due_on`, still written), so each reader's zone says the day it was due. Asked at
an escalation, in a run that writes facts, so a run that never escalates holds no marker;
histories of the code before: tests/histories/before-escalation-due-moment/."""
ONE_OVERDUE_NOTICE_PATCH = "one-overdue-notice"
"""A task created already late (its due date passed) gets one overdue notice, then the late
reminders still to come, not every late reminder of the past in a burst."""


class StageFailed(Exception):
    """A stage cannot succeed (a refusal, a rejection); the file says what follows.
    `reason` is the English wording the record always held, `facts` the same as data."""

    def __init__(self, reason: str, facts: ReasonFacts) -> None:
        super().__init__(reason)
        self.reason = reason
        self.facts = facts


class ConventionEnded(Exception):
    """The convention ends now: a failed stage with nowhere to go, or the officer's decision."""

    def __init__(self, reason: str, facts: ReasonFacts, *, terminated: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.facts = facts
        self.terminated = terminated


def terminated_by_officer(termination: TerminateConvention) -> ReasonFacts:
    """Why the officer's termination ended the convention: their reason, as written."""
    return ReasonFacts.of(ReasonCode.CONVENTION_TERMINATED, reason=termination.reason)


class ContinueAsNewRequested(Exception):
    """The run's history is long: the workflow carries on in a new run at a safe point."""


class TaskBoard:
    """Tasks, answers and milestones of one convention."""

    def __init__(
        self,
        convention: Convention,
        *,
        state: BoardState | None = None,
        history_limit: int = 10_000,
    ) -> None:
        self.convention = convention
        self.history_limit = history_limit
        # One run's own state: rebuilt, never carried (see BoardState).
        self.current_stage: str | None = None
        self.current_spec: StageSpec | None = None
        self.answers: dict[str, AnswerTask] = {}
        self.ledger = Ledger()
        self.patches = Patches()
        self._uses_ledger: bool | None = None
        self._typed_facts: bool | None = None
        self._typed_reasons: bool | None = None
        # Signature tasks of a sequential signature not yet open, and whom they wait for.
        self.waiting_for: dict[str, str] = {}
        self._checks: dict[str, AnswerCheck] = {}
        # What the next run carries, from the previous run's BoardState or a new start.
        self.tasks: dict[str, Task] = {}
        self.milestones: list[Milestone] = []
        self.next_seq = 1
        self.stage_attempts: dict[str, int] = {}
        self.links: list[ConventionLink] = []
        self.implementation_progress: ImplementationProgress | None = None
        self.runs = 1
        self.signatures: dict[str, StandingSignature] = {}
        self.document: str | None = None
        # Bumped by every officer action, so that waiting stages re-plan their timers.
        self._changes = 0
        self.termination: TerminateConvention | None = None
        if state is not None:
            self._restore(state)

    def _restore(self, state: BoardState) -> None:
        """Take up the previous run's state; what is derived from it is derived here."""
        self.tasks = {task.id: task for task in state.open_tasks}
        self.milestones = list(state.milestones[-MILESTONE_WINDOW:])
        self.next_seq = state.milestones[-1].seq + 1 if state.milestones else 1
        self.stage_attempts = dict(state.stage_attempts)
        self.links = list(state.links)
        self.implementation_progress = state.implementation
        self.runs = state.runs + 1
        self.signatures = {s.signatory: s for s in state.signatures}
        self.document = state.document
        self._changes = state.changes
        self.termination = state.termination

    def carried(self, stage_index: int) -> BoardState:
        """What the next run needs: the last milestone (its seq), open tasks, running totals."""
        return BoardState(
            stage_index=stage_index,
            stage_attempts=dict(self.stage_attempts),
            milestones=[
                milestone.model_copy(update={"details": {}})
                for milestone in self.milestones[-RESUME_MILESTONES:]
            ],
            open_tasks=self.open_tasks(),
            links=list(self.links),
            implementation=self.implementation_progress,
            runs=self.runs,
            signatures=list(self.signatures.values()),
            document=self.document,
            changes=self._changes,
            termination=self.termination,
        )

    # --- what stages keep -------------------------------------------------------------

    def approve_text(self, version_key: str) -> None:
        """The text signatures are given on from now: a new version needs them anew."""
        self.document = version_key

    def keep_signature(self, signature: StandingSignature) -> None:
        """A signature given on the current text: it stands while the text is unchanged."""
        self.signatures[signature.signatory] = signature

    def wait_for(self, waiting: dict[str, str]) -> None:
        """Tasks not yet open (later signatories) and what each waits for; {}: none."""
        self.waiting_for = dict(waiting)

    def keep_progress(self, progress: ImplementationProgress) -> None:
        """The implementation's running totals, carried to the next run."""
        self.implementation_progress = progress

    def add_link(self, link: ConventionLink) -> None:
        """Keep a link to another convention (status shows it, the next run carries it)."""
        self.links.append(link)

    def links_to(self, convention_id: str) -> bool:
        """Whether a link to this convention is kept already."""
        return any(known.convention_id == convention_id for known in self.links)

    def leave_stages(self) -> None:
        """Every stage is done: no stage is current any more."""
        self.current_stage, self.current_spec = None, None

    # --- stages -----------------------------------------------------------------------

    def enter_stage(self, spec: StageSpec, *, resumed: bool = False) -> None:
        """Make spec the current stage; a stage entered again numbers its tasks anew."""
        self.current_stage, self.current_spec = spec.stage, spec
        if not resumed:
            self.stage_attempts[spec.stage] = self.stage_attempts.get(spec.stage, 0) + 1

    def task_id(self, *parts: str | int) -> str:
        """`<stage>.<parts>` on a stage's first run, `<stage>-<attempt>.<parts>` after."""
        return rules.stage_task_id(self.current_stage, self.stage_attempts, *parts)

    @property
    def reminders(self) -> ReminderPolicy:
        """The current stage's reminder policy, else the convention's."""
        return rules.reminder_policy(self.convention, self.current_spec)

    def history_is_long(self) -> bool:
        """Time to continue-as-new: Temporal suggests it, or the run reached its limit."""
        info = workflow.info()
        return (
            info.is_continue_as_new_suggested()
            or info.get_current_history_length() >= self.history_limit
        )

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
        if task is not None and task.facts is not None and kind in TASK_MILESTONES:
            # Facts exist only in runs that took typed-task-facts (or carried its tasks).
            details = {**(details or {}), "task": task.facts.dumped()}
        milestone = Milestone(
            convention_id=self.convention.id,
            seq=self.next_seq,
            kind=kind,
            stage=self.current_stage,
            task_id=task.id if task else None,
            party=party if party is not None else (task.assignee if task else None),
            actor=actor,
            occurred_at=workflow.now(),
            summary=summary,
            details=details or {},
        )
        self.next_seq += 1
        self._keep(milestone)
        if self._ordered_ledger():
            self.ledger.append(milestone)
            return milestone
        await workflow.execute_activity_method(
            MilestoneStore.persist_milestone,
            milestone,
            start_to_close_timeout=PERSISTENCE_TIMEOUT,
            retry_policy=PERSISTENCE_RETRY,
            summary=f"{kind.value} #{milestone.seq}",
        )
        return milestone

    def _ordered_ledger(self) -> bool:
        # Runs recorded before the ledger wrote one activity per milestone, awaited where it
        # was recorded; they replay that way.
        if self._uses_ledger is None:
            self._uses_ledger = self.patches.on(LEDGER_PATCH)
        return self._uses_ledger

    def writes_reasons(self) -> bool:
        """Whether this run writes its reasons as facts too (typed-reasons): asked once, where
        the run first gives a reason."""
        if self._typed_reasons is None:
            self._typed_reasons = self.patches.on(TYPED_REASONS_PATCH)
        return self._typed_reasons

    def reason_details(self, facts: ReasonFacts) -> dict[str, Any]:
        """`reason_facts` for a milestone's details, in a run that writes them; else nothing."""
        return {"reason_facts": facts.details()} if self.writes_reasons() else {}

    def writes_facts(self) -> bool:
        """Tasks and milestones carry their facts (typed-task-facts), asked once a run."""
        if self._typed_facts is None:
            self._typed_facts = self.patches.on(TYPED_TASK_FACTS_PATCH)
        return self._typed_facts

    @property
    def uses_ledger(self) -> bool:
        """Milestones go through the one ordered writer (every run since the patch)."""
        return self._ordered_ledger()

    def start_ledger(self) -> None:
        """Start the ledger's writer (from the workflow's run, before its first milestone)."""
        if self._ordered_ledger():
            self.ledger.start()

    async def quiesce(self) -> None:
        """Wait until every handler has finished and every milestone is written."""
        await workflow.wait_condition(
            lambda: workflow.all_handlers_finished() and (self.ledger.idle or self.ledger.failed)
        )
        await self.ledger.settled()

    def _keep(self, milestone: Milestone) -> None:
        """Keep a bounded copy: the last MILESTONE_WINDOW, each without oversized details."""
        details_size = len(workflow_json(milestone.details))
        if details_size > KEPT_DETAILS_BYTES or len(milestone.summary) > KEPT_SUMMARY_CHARS:
            milestone = milestone.model_copy(
                update={
                    "summary": shortened(milestone.summary, KEPT_SUMMARY_CHARS),
                    "details": (
                        {"left_out": f"{details_size} bytes, kept in PostgreSQL"}
                        if details_size > KEPT_DETAILS_BYTES
                        else milestone.details
                    ),
                }
            )
        self.milestones.append(milestone)
        if len(self.milestones) > MILESTONE_WINDOW:
            del self.milestones[: len(self.milestones) - MILESTONE_WINDOW]

    @property
    def milestone_count(self) -> int:
        """Milestones recorded since the convention started, in every run."""
        return self.next_seq - 1

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
        escalates: str | None = None,
        check: AnswerCheck | None = None,
        facts: dict[str, Any] | None = None,
    ) -> Task:
        """Open a task for a party, record it and notify the party.

        `facts` are what the title states (TaskFacts' fields but its kind): kept in the Task
        and its milestones in runs that took typed-task-facts."""
        typed = TaskFacts(kind=kind, **(facts or {})) if self.writes_facts() else None
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
            escalates=escalates,
            facts=typed,
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
        if kind is TaskKind.RESOLVE_ESCALATION:
            await self.notify(NotificationEvent.TASK_ESCALATED, task, to_officer=True)
        else:
            await self.notify(NotificationEvent.TASK_ASSIGNED, task)
        return task

    def open_tasks(self) -> list[Task]:
        """Tasks still owed, oldest first."""
        return [task for task in self.tasks.values() if task.status is TaskStatus.OPEN]

    def open_task(self, task_id: str) -> Task:
        """The open task with this id, or AnswerRejected naming task_id and why."""
        return rules.open_task(self.tasks, task_id)

    def check_answer(self, request: AnswerTask) -> None:
        """Refuse an answer that does not fit its task; the workflow is left untouched."""
        task = self.open_task(request.task_id)
        rules.check_answer(task, request, self._checks.get(task.id))

    def accept_answer(self, request: AnswerTask) -> Task:
        """Close the task with its answer; the waiting stage picks it up."""
        principal = request.principal
        task = self._replace(
            self.tasks[request.task_id],
            status=TaskStatus.DONE,
            answered_at=workflow.now(),
            answered_by=(
                rules.answered_by(request) if principal else request.actor or request.acting_party
            ),
        )
        self.answers[task.id] = request
        return task

    async def cancel(self, task_id: str, reason: str, facts: ReasonFacts) -> None:
        """Close a task nobody needs to answer any more, and say why (in English, and as
        facts in a run that writes them)."""
        task = self.tasks[task_id]
        if task.status is not TaskStatus.OPEN:
            return
        typed = self.writes_reasons()
        task = self._replace(
            task,
            status=TaskStatus.CANCELLED,
            closed_reason=reason,
            closed_reason_facts=facts if typed else None,
        )
        self.sync_task_read_model(task)
        await self.record(
            MilestoneKind.TASK_CANCELLED,
            f"{task.title} — cancelled: {reason}",
            task=task,
            details={"reason": reason} | self.reason_details(facts),
        )
        await self._close_escalations(
            task,
            f"{task.id} was cancelled",
            ReasonFacts.of(ReasonCode.ESCALATED_TASK_CANCELLED, task=task.id),
        )

    async def cancel_all_open(self, reason: str, facts: ReasonFacts) -> None:
        """Close every open task: the convention is over."""
        for task in self.open_tasks():
            await self.cancel(task.id, reason, facts)

    async def answer_to(self, task: Task) -> AnswerTask:
        """Wait for the answer to one task."""
        async for _, request in self.answers_to([task]):
            return request
        raise AssertionError("unreachable: answers_to yields every task")

    async def answers_to(self, tasks: Iterable[Task]) -> AsyncIterator[tuple[Task, AnswerTask]]:
        """Yield each task's answer as it arrives, reminding and escalating on the way.

        Raises ConventionEnded as soon as the officer terminates the convention.
        """
        pending = {task.id for task in tasks}
        while pending:
            if self.termination is not None:
                raise ConventionEnded(
                    self.termination.reason,
                    terminated_by_officer(self.termination),
                    terminated=True,
                )
            for task_id in sorted(t for t in pending if t in self.answers):
                pending.discard(task_id)
                task = self.tasks[task_id]
                # Consumed: the workflow does not keep answers it no longer needs.
                request = self.answers.pop(task_id)
                await self._record_answer(task, request)
                await self._close_escalations(
                    task,
                    f"{task.id} was answered",
                    ReasonFacts.of(ReasonCode.ESCALATED_TASK_ANSWERED, task=task.id),
                )
                yield task, request
            # The stage may have cancelled the rest of a round (a refusal, a request for
            # changes) while it handled an answer: nobody waits for those any more.
            pending = {t for t in pending if self.tasks[t].status is not TaskStatus.CANCELLED}
            if not pending:
                return
            now = workflow.now()
            plans = sorted(
                (plan, task_id)
                for task_id in pending
                if (plan := rules.next_follow_up(self.tasks[task_id], self.reminders)) is not None
            )
            if plans and plans[0][0][0] <= now:
                for (when, follow_up), task_id in plans:
                    if when <= now:
                        await self._follow_up(self.tasks[task_id], follow_up)
                continue
            something_happened = partial(
                self._something_happened, frozenset(pending), self._changes
            )
            if not plans:  # every reminder sent: wait for an answer or the officer
                await workflow.wait_condition(something_happened)
                continue
            try:
                await workflow.wait_condition(
                    something_happened,
                    timeout=plans[0][0][0] - now,
                    timeout_summary="next reminder or escalation",
                )
            except TimeoutError:
                continue

    def _something_happened(self, waiting: frozenset[str], changes_seen: int) -> bool:
        return (
            not waiting.isdisjoint(self.answers)
            or self._changes != changes_seen
            or self.termination is not None
        )

    async def _record_answer(self, task: Task, request: AnswerTask) -> None:
        await self.record(
            MilestoneKind.TASK_ANSWERED,
            f"{task.title} — {rules.answered_by(request)}",
            task=task,
            party=request.acting_party,
            actor=rules.recorded_actor(request),
            details=rules.answer_details(request),
        )

    async def record_unawaited_answer(self, task: Task) -> None:
        """An answer no stage waits for (the officer's escalation note): record it at once."""
        await self._record_answer(task, self.answers.pop(task.id))

    # --- reminders and escalation -----------------------------------------------------

    async def _follow_up(self, task: Task, follow_up: FollowUp) -> None:
        if follow_up == "remind_before_due":
            task = self._replace(task, reminded_before_due=True)
            await self._remind(task, "before-due", f"due {task.due_at:%Y-%m-%d}")
        elif follow_up == "escalate":
            await self.escalate(task)
        else:
            task = self._replace(task, late_reminders=task.late_reminders + 1)
            late_days = (workflow.now() - task.due_at).days
            await self._remind(task, f"late-{task.late_reminders}", f"{late_days} days late")

    async def _remind(self, task: Task, occurrence: str, why: str) -> None:
        await self.record(
            MilestoneKind.TASK_REMINDED,
            f"{task.title} — {task.assignee} reminded ({why})",
            task=task,
            details={"occurrence": occurrence, "due_at": task.due_at.isoformat()},
        )
        await self.notify(NotificationEvent.TASK_REMINDER, task, occurrence=occurrence)

    async def escalate(self, task: Task) -> None:
        """A task is past its due date: tell its party, and give the officer a task."""
        skipped = 0
        if self.patches.on(ONE_OVERDUE_NOTICE_PATCH):
            # Created late (or left late across a long pause): the late reminders whose dates
            # already passed are folded into this one overdue notice.
            skipped = rules.late_reminders_passed(workflow.now(), task.due_at, self.reminders)
        task = self._replace(task, escalated=True, late_reminders=skipped)
        await self.record(
            MilestoneKind.TASK_OVERDUE,
            f"{task.title} — overdue since {task.due_at:%Y-%m-%d}",
            task=task,
            details={"due_at": task.due_at.isoformat()},
        )
        await self.notify(NotificationEvent.TASK_REMINDER, task, occurrence="overdue")
        await self.assign(
            rules.escalation_task_id(task.id, self.tasks),
            TaskKind.RESOLVE_ESCALATION,
            self.convention.office.id,
            f"Late: {task.title} (owed by {task.assignee}, due {task.due_at:%Y-%m-%d})",
            due_in=ESCALATION_DUE,
            escalates=task.id,
            facts=rules.escalation_facts(
                task,
                # Asked only where facts are written: a run that writes none would record a
                # marker for facts it drops.
                with_moment=self.writes_facts() and self.patches.on(ESCALATION_DUE_MOMENT_PATCH),
            ),
        )

    async def _close_escalations(self, task: Task, reason: str, facts: ReasonFacts) -> None:
        for escalation in self.open_tasks():
            if escalation.escalates == task.id:
                await self.cancel(escalation.id, reason, facts)

    # --- the officer's actions --------------------------------------------------------

    def check_postponement(self, request: PostponeDeadline) -> None:
        """A postponement moves an open task's due date later."""
        rules.check_postponement(self.open_task(request.task_id), request)

    async def postpone(self, request: PostponeDeadline) -> Task:
        """Move the due date; reminders and escalation start again from it."""
        old = self.tasks[request.task_id]
        task = self._replace(
            old,
            due_at=request.new_due_at,
            reminded_before_due=False,
            escalated=False,
            late_reminders=0,
        )
        self._changes += 1
        await self.record(
            MilestoneKind.DEADLINE_POSTPONED,
            f"{task.title} — due date moved from {old.due_at:%Y-%m-%d} to "
            f"{task.due_at:%Y-%m-%d}: {request.reason}",
            task=task,
            party=self.convention.office.id,
            actor=request.officer or self.convention.officer.name,
            details={
                "from": old.due_at.isoformat(),
                "to": task.due_at.isoformat(),
                "reason": request.reason,
            },
        )
        await self._close_escalations(
            task, "its deadline was postponed", ReasonFacts.of(ReasonCode.DEADLINE_POSTPONED)
        )
        await self.notify(
            NotificationEvent.TASK_REMINDER, task, occurrence=f"postponed-{self._changes}"
        )
        return task

    def check_reassignment(self, request: ReassignTask) -> None:
        """A task goes to another named contact of the party that owes it."""
        task = self.open_task(request.task_id)
        rules.check_reassignment(task, self.convention.party(task.assignee), request)

    async def reassign(self, request: ReassignTask) -> Task:
        """Give the task to the named contact (a file's, or the directory's person) and tell
        them."""
        old = self.tasks[request.task_id]
        if request.person is None:
            # contact_person is None in every run recorded before reassign-directory.
            task = self._replace(old, contact=request.contact, contact_person=None)
            details = {"from": old.contact, "to": request.contact, "reason": request.reason}
        else:
            if not self.patches.on(REASSIGN_DIRECTORY_PATCH):
                # Never taken: no history recorded before the update carries a person.
                raise rules.refused(RefusalCode.STAGE_RULE, "contact", "not supported by this run")
            # Checked again: another reassignment accepted in the same moment may have won.
            rules.check_directory_assignee(old, request)
            task = self._replace(
                old, contact=request.contact, contact_person=request.person.check.person
            )
            details = rules.reassignment_details(request, old)
        self._changes += 1
        await self.record(
            MilestoneKind.TASK_REASSIGNED,
            f"{task.title} — reassigned to {request.contact} ({task.assignee}): {request.reason}",
            task=task,
            party=self.convention.office.id,
            actor=request.officer or self.convention.officer.name,
            details=details,
        )
        await self.notify(
            NotificationEvent.TASK_ASSIGNED, task, occurrence=f"reassigned-{self._changes}"
        )
        return task

    def check_officer_change(self, request: ChangeOfficer) -> None:
        """The new responsible officer has a name and an address and is someone else; the
        convention has recorded its start (the change comes after it in the record)."""
        if self.milestone_count == 0:
            raise rules.refused(
                RefusalCode.STILL_STARTING,
                "convention",
                f"{self.convention.id} is still starting: try again in a moment",
                convention=self.convention.id,
            )
        rules.check_officer_change(self.convention.officer, request)

    async def change_officer(self, request: ChangeOfficer) -> None:
        """Make the named person the responsible officer, record it, and return once the
        record is written (the read model's officer with it: the desk reads its own write)."""
        if not self.patches.on(CHANGE_OFFICER_PATCH):
            # Never taken: no history recorded before the update holds one.
            raise rules.refused(
                RefusalCode.OFFICER_CHANGE_UNSUPPORTED, "officer", "not supported by this run"
            )
        # Checked again: another change accepted in the same moment may have named them.
        rules.check_officer_change(self.convention.officer, request)
        before, after = self.convention.officer, rules.changed_officer(request)
        self.convention = self.convention.model_copy(update={"officer": after})
        changed_by = request.officer or before.name
        await self.record(
            MilestoneKind.OFFICER_CHANGED,
            f"Responsible officer changed from {before.name} to {after.name} by {changed_by}"
            + (f": {request.reason}" if request.reason else ""),
            party=self.convention.office.id,
            actor=changed_by,
            details=rules.officer_change_details(before, after, request, changed_by),
        )
        if self.uses_ledger:
            await self.ledger.settled()

    def terminate(self, request: TerminateConvention) -> None:
        """Ask the running stage to stop; the workflow records the end."""
        self.termination = request
        self._changes += 1

    def lookup(self, task_id: str) -> TaskLookup:
        """One task, open or closed, or what a task not yet open waits for."""
        return TaskLookup(
            task_id=task_id,
            task=self.tasks.get(task_id),
            waiting_for=self.waiting_for.get(task_id),
            open_task_ids=[task.id for task in self.open_tasks()],
        )

    def _replace(self, task: Task, **changes: Any) -> Task:
        updated = task.model_copy(update=changes)
        self.tasks[task.id] = updated
        return updated

    # --- notifications ----------------------------------------------------------------

    async def notify(
        self,
        event: NotificationEvent,
        task: Task,
        *,
        to_officer: bool = False,
        occurrence: str | None = None,
    ) -> None:
        """Tell the party that owes a task (or the officer) about it, on its channels.

        `occurrence` tells repeated notifications of one event apart (reminder 1, 2…): it is
        part of the notification id, which stays stable across retries and replays.
        """
        notification = rules.task_notification(
            self.convention,
            task,
            event,
            workflow.now(),
            to_officer=to_officer,
            occurrence=occurrence,
        )
        await self._send(notification)

    async def announce_stage(self) -> None:
        """Tell every partner (the office drives the stages) that the current stage began."""
        for party in rules.partners(self.convention):
            await self._send(
                rules.stage_announcement(
                    self.convention,
                    party,
                    self.current_stage,
                    self.task_id("entered"),
                    workflow.now(),
                )
            )

    async def _send(self, notification: Notification) -> None:
        """Record the notification owed, then deliver it on the party's channels."""
        if self._uses_ledger:
            # What a party is told of is on the record first: the milestones recorded so far
            # are written before the notification, and the audit timeline reads in that order.
            await self.ledger.settled()
        if self.patches.on(ONE_NOTIFICATION_ACTIVITY_PATCH):
            await self._deliveries.record_and_send(notification)
            return
        await workflow.execute_activity_method(
            Notifier.notify_party,
            notification,
            start_to_close_timeout=PERSISTENCE_TIMEOUT,
            retry_policy=PERSISTENCE_RETRY,
            summary=f"{notification.event.value} {notification.party}",
        )
        self.patches.deprecated(DELIVERY_PATCH)
        await self._deliveries.sync_inbox()
        await self._deliveries.send(notification)

    def sync_task_read_model(self, task: Task) -> None:
        """Bring the partners' inbox up to date with a task's new state, without waiting.

        Call it where a task changes outside an assignment (cancel, reassign, postpone);
        an answered task leaves the inbox through its task_answered milestone already.
        """
        self.patches.deprecated(DELIVERY_PATCH)
        self._deliveries.sync_in_background(task)

    async def deliveries_settled(self) -> None:
        """Wait for deliveries in flight: call before the workflow returns, or they are cut."""
        self.patches.deprecated(DELIVERY_PATCH)
        await self._deliveries.settled()

    @cached_property
    def _deliveries(self) -> Deliveries:
        # Created on first use, so that the board's constructor stays as it was.
        return Deliveries(lambda: self.tasks.values(), self._ask_officer_to_fix)

    async def _ask_officer_to_fix(
        self, task_id: str, title: str, facts: dict[str, Any]
    ) -> AnswerTask:
        """Give the officer a task to fix a delivery; wait for the answer."""
        fix = await self.assign(
            task_id,
            TaskKind.FIX_DELIVERY,
            self.convention.office.id,
            title,
            due_in=FIX_DELIVERY_DUE,
            facts=facts,
        )
        return await self.answer_to(fix)
