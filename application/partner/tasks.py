"""Reading tasks: a party's open tasks (a contact's: those they may answer), one task with what
its form needs, the task an answer is for, the convention file, the stored receipt."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from temporalio.service import RPCError, RPCStatusCode

from application.conventions import (
    ConventionNotFound,
    ConventionUnreadable,
    convention_status,
    task_lookup,
)
from application.directory.authority import authority_of
from application.errors import ConventionNotAnswering, NotFound
from application.partner.context import PartnerContext
from schemas.actors import PrincipalKind
from schemas.channels import InboxEntry
from schemas.contract import workflow_id_for
from schemas.convention import Convention
from schemas.milestone_details import DraftVersionDetails, details_as
from schemas.milestones import MilestoneKind
from schemas.status import ConventionInput, ConventionStatus
from schemas.tasks import Task, TaskStatus
from storage.inbox import inbox_task, owed_tasks
from storage.receipts import Receipt, find_receipt


@dataclass(frozen=True)
class TaskView:
    """A task and what its form needs: the convention file and the workflow's status."""

    task: Task | None
    convention: Convention
    status: ConventionStatus
    receipt: Receipt | None = None
    answered_by: str | None = None
    closed: str | None = None
    closed_task: Task | None = None
    """A closed task as the inbox read model last saw it: a form posted too late is shown
    again, with what was typed and why it was refused."""

    @property
    def overdue(self) -> bool:
        """Past its due date."""
        return self.task is not None and self.task.due_at < datetime.now(UTC)

    def answered_by_contact(self, party: str, contact: str) -> bool:
        """Closed by this very contact's answer, as its kept receipt says: the same form
        posted again (a double click, a retry on another replica) is shown its receipt."""
        receipt = self.receipt
        return (
            self.task is None
            and receipt is not None
            and receipt.principal.kind is PrincipalKind.CONTACT
            and receipt.principal.party == party
            and receipt.principal.id == contact
        )

    def draft_document(self) -> dict[str, Any] | None:
        """The text under review: the latest draft version's document (URI, sha256)."""
        for milestone in reversed(self.status.milestones):
            if milestone.kind is MilestoneKind.DRAFT_VERSION:
                # None: the workflow's bounded copy left the details out (or a run's carried
                # milestones, which have none).
                draft = details_as(milestone, DraftVersionDetails)
                if draft is None:
                    return {"version": None}
                return {"version": draft.version, **draft.document.model_dump(mode="json")}
        return None


def _not_yours(convention_id: str, task_id: str) -> NotFound:
    return NotFound(f"no task {task_id!r} of convention {convention_id!r} for you")


async def _may_act_on(
    ctx: PartnerContext, task: Task, party: str, contact: str | None, email: str | None
) -> bool:
    """The task is the party's (and this contact's, when given to one), and the directory
    lets the contact (its person by address, else by name) act on its kind today."""
    if task.assignee != party or task.contact not in (None, contact or task.contact):
        return False
    if not contact:
        return True
    authority = await authority_of(ctx.pool, party, name=contact, email=email)
    return authority.allows(task.kind.value)


async def open_tasks(
    ctx: PartnerContext, party: str, contact: str | None = None, email: str | None = None
) -> list[InboxEntry]:
    """The party's open tasks, overdue first; for a contact (and their address, when they
    have one), only those they may answer.

    Two reads of PostgreSQL, never a question to Temporal: the inbox's rows carry the contact
    an officer gave a task to (kept by the workflow's own upserts), and the directory says
    which kinds of task this person may act on today."""
    entries = await owed_tasks(ctx.pool, party, datetime.now(UTC), contact)
    if contact is None:
        return entries
    # Only the tasks the directory lets this person act on (their capacities, today): the
    # person the session proved, by address when it has one (a namesake is someone else).
    authority = await authority_of(ctx.pool, party, name=contact, email=email)
    return [entry for entry in entries if authority.allows(entry.kind)]


@asynccontextmanager
async def asking(convention_id: str) -> AsyncIterator[None]:
    """A question to one convention's workflow: a workflow that cannot answer (no worker
    polls, its task fails: `ConventionUnreadable`), or a Temporal that refuses the call, is
    ConventionNotAnswering with the reason, not a server error."""
    try:
        yield
    except ConventionUnreadable as error:
        raise ConventionNotAnswering(str(error), retry_after=30) from None
    except RPCError as error:
        if error.status is RPCStatusCode.NOT_FOUND:
            raise
        raise ConventionNotAnswering(
            f"convention {convention_id}: Temporal cannot answer now: {error.message}",
            retry_after=30,
        ) from None


async def task_view(
    ctx: PartnerContext,
    party: str,
    convention_id: str,
    task_id: str,
    contact: str | None = None,
    email: str | None = None,
) -> TaskView:
    """One of the party's tasks (open, or answered with its receipt); else NotFound."""
    try:
        async with asking(convention_id):
            status = await convention_status(ctx.client, convention_id)
    except ConventionNotFound:
        raise _not_yours(convention_id, task_id) from None
    receipt = await find_receipt(ctx.pool, convention_id, task_id)
    task = next((t for t in status.open_tasks if t.id == task_id), None)
    if task is not None:
        if not await _may_act_on(ctx, task, party, contact, email):
            raise _not_yours(convention_id, task_id)
        return TaskView(task, await convention(ctx, convention_id), status, receipt)
    # The workflow itself knows a task of its current run, open or closed, and who
    # answered it the moment it accepted the answer (before any milestone is recorded);
    # a task of an earlier run (before a continue-as-new) is read from the inbox's row.
    async with asking(convention_id):
        lookup = await task_lookup(ctx.client, convention_id, task_id)
    closed = lookup.task or await task_of_earlier_run(ctx, convention_id, task_id)
    if closed is None or closed.assignee != party:
        raise _not_yours(convention_id, task_id)
    answered = closed.status is TaskStatus.DONE
    return TaskView(
        None,
        await convention(ctx, convention_id),
        status,
        receipt,
        answered_by=closed.answered_by if answered else None,
        closed="answered" if answered else "closed",
        closed_task=closed,
    )


async def answerable_task(
    ctx: PartnerContext,
    party: str,
    convention_id: str,
    task_id: str,
    contact: str | None = None,
    email: str | None = None,
) -> tuple[Task, bool]:
    """The task an answer is for, and whether it is still open; else NotFound.

    What `task_view` decides, from the workflow's narrow `task` query alone: an answer
    needs neither the whole status (every open task, the milestone window), nor the
    convention file, nor the stored receipt. A task of the party closed meanwhile is
    returned too: the answer goes to the workflow, whose refusal says who answered.
    """
    try:
        async with asking(convention_id):
            lookup = await task_lookup(ctx.client, convention_id, task_id)
    except ConventionNotFound:
        raise _not_yours(convention_id, task_id) from None
    task = lookup.task
    if task is not None and task.status is TaskStatus.OPEN:
        if not await _may_act_on(ctx, task, party, contact, email):
            raise _not_yours(convention_id, task_id)
        return task, True
    closed = task or await task_of_earlier_run(ctx, convention_id, task_id)
    if closed is None or closed.assignee != party:
        raise _not_yours(convention_id, task_id)
    return closed, False


async def task_of_earlier_run(ctx: PartnerContext, convention_id: str, task_id: str) -> Task | None:
    """A task the workflow's current run does not know, as the inbox's row says it."""
    task = await inbox_task(ctx.pool, convention_id, task_id)
    if task is None or task.status is not TaskStatus.OPEN:
        return task
    # Not open in the workflow: a row still open is one whose answer landed first.
    return task.model_copy(update={"status": TaskStatus.DONE})


async def owed_in_inbox(
    ctx: PartnerContext, party: str, convention_id: str, task_id: str
) -> Task | None:
    """The task from the inbox read model when its row says open and the party's (a
    task never changes party); None when the row is not there yet, or not open."""
    task = await inbox_task(ctx.pool, convention_id, task_id)
    if task is None or task.status is not TaskStatus.OPEN:
        return None
    if task.assignee != party:
        raise _not_yours(convention_id, task_id)
    return task


async def convention(ctx: PartnerContext, convention_id: str) -> Convention:
    """The convention file the workflow runs, from its history's first event (cached:
    a workflow's convention never changes, continue-as-new carries the same file)."""
    found = ctx._conventions.get(convention_id)
    if found is not None:
        return found
    handle = ctx.client.get_workflow_handle(workflow_id_for(convention_id))
    async with asking(convention_id):  # a Temporal too busy to answer: a 503, not a 500
        async for event in handle.fetch_history_events():
            payloads = event.workflow_execution_started_event_attributes.input.payloads
            [started] = await ctx.client.data_converter.decode(payloads, [ConventionInput])
            assert isinstance(started, ConventionInput)
            if len(ctx._conventions) > 256:
                ctx._conventions.clear()
            ctx._conventions[convention_id] = started.convention
            return started.convention
    raise NotFound(f"convention {convention_id!r} is not known")


async def receipt(ctx: PartnerContext, convention_id: str, task_id: str) -> Receipt | None:
    """The desk's receipt of an answer to this task, if the desk carried it."""
    return await find_receipt(ctx.pool, convention_id, task_id)
