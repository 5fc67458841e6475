"""Reading tasks: a party's open tasks (a contact's: those they may answer), one task with what
its form needs, the task an answer is for, the convention file, the stored receipt."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError
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
from schemas.errors import DetailCode, coded_detail
from schemas.milestone_details import DraftVersionDetails, details_as
from schemas.milestones import MilestoneKind
from schemas.status import ConventionInput, ConventionStatus
from schemas.tasks import Task, TaskKind, TaskStatus
from storage.documents import latest_draft_version
from storage.inbox import inbox_task, owed_tasks
from storage.receipts import Receipt, find_receipt


@dataclass(frozen=True)
class TaskView:
    """A task and what its form needs: the convention file and the workflow's status."""

    task: Task | None
    convention: Convention
    status: ConventionStatus | None
    """The workflow's status, when the view asked the workflow; None when it was read from
    the inbox read model (then `draft` holds what the status would have said of the text)."""
    receipt: Receipt | None = None
    answered_by: str | None = None
    closed: str | None = None
    closed_task: Task | None = None
    """A closed task as the inbox read model last saw it: a form posted too late is shown
    again, with what was typed and why it was refused."""
    draft: dict[str, Any] | None = None
    """The text under review (version, URI, sha256) as the read model's milestones say it,
    when `status` is None."""

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
        if self.status is None:
            return self.draft
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
    """One of the party's tasks (open, or answered with its receipt); else NotFound.

    An open task is read from the inbox read model (the workflow's own upserts) and asks the
    workflow nothing: Temporal answers one workflow's queries a buffer at a time, and dozens
    of contacts reviewing one convention queued behind each other. The workflow is asked
    only when the inbox cannot say (no row yet, a closed task and who answered it, a row
    older than what the page needs); the update's own validator stays the final word on a
    row that is behind (a task answered meanwhile is refused, naming who answered)."""
    owed = await owed_as_inbox_says(ctx, party, convention_id, task_id)
    if owed is not None:
        owed_task, draft = owed
        if not await _may_act_on(ctx, owed_task, party, contact, email):
            raise _not_yours(convention_id, task_id)
        return TaskView(owed_task, await convention(ctx, convention_id), None, draft=draft)
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


async def owed_as_inbox_says(
    ctx: PartnerContext, party: str, convention_id: str, task_id: str
) -> tuple[Task, dict[str, Any] | None] | None:
    """The open task as the inbox read model holds it, with the text under review for a
    review (the read model's latest version, which must be the one the task's facts name),
    when the inbox says all a task page needs; None when the workflow must be asked: no row
    yet, a row not open, a receipt of the desk already kept for the task (an answer carried
    here, the row not yet closed), a signature row written before the inbox kept its
    signatory, a review whose version the milestones do not hold yet."""
    task = await owed_in_inbox(ctx, party, convention_id, task_id)
    if task is None or (task.kind is TaskKind.SIGN and task.signatory is None):
        return None
    if await find_receipt(ctx.pool, convention_id, task_id) is not None:
        return None
    if task.kind is not TaskKind.REVIEW_DRAFT:
        return task, None
    draft = await _draft_to_review(ctx, convention_id, task)
    return None if draft is None else (task, draft)


async def _draft_to_review(
    ctx: PartnerContext, convention_id: str, task: Task
) -> dict[str, Any] | None:
    """The version a review task is for, as `TaskView.draft_document` says it, from the read
    model; None when its latest version is not the task's (a milestone not recorded yet)."""
    wanted = task.facts.version if task.facts is not None else None
    details = await latest_draft_version(ctx.pool, convention_id)
    if wanted is None or details is None:
        return None
    try:
        draft = DraftVersionDetails.model_validate(details)
    except ValidationError:
        return None
    if draft.version != wanted:
        return None
    return {"version": draft.version, **draft.document.model_dump(mode="json")}


async def contact_answerable_task(
    ctx: PartnerContext,
    party: str,
    convention_id: str,
    task_id: str,
    contact: str | None,
    email: str | None,
) -> tuple[Task, bool]:
    """`answerable_task` for a contact's form: an open row of the inbox the contact may act
    on is the task, without asking the workflow (its update's validator refuses an answer
    to a task closed meanwhile, naming who answered); else the workflow's query decides."""
    task = await owed_in_inbox(ctx, party, convention_id, task_id)
    if task is None:
        return await answerable_task(ctx, party, convention_id, task_id, contact, email)
    if not await _may_act_on(ctx, task, party, contact, email):
        raise _not_yours(convention_id, task_id)
    return task, True


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
    # Dozens of contacts opening one convention's links at once share one read of it.
    fetching = ctx._convention_reads.get(convention_id)
    if fetching is None:
        fetching = asyncio.ensure_future(_convention_from_history(ctx, convention_id))
        ctx._convention_reads[convention_id] = fetching
        fetching.add_done_callback(lambda _: ctx._convention_reads.pop(convention_id, None))
    return await asyncio.shield(fetching)


async def _convention_from_history(ctx: PartnerContext, convention_id: str) -> Convention:
    handle = ctx.client.get_workflow_handle(workflow_id_for(convention_id))
    async with asking(convention_id):  # a Temporal too busy to answer: a 503, not a 500
        # One event a page: the first is the one needed, not the whole first page.
        async for event in handle.fetch_history_events(page_size=1):
            payloads = event.workflow_execution_started_event_attributes.input.payloads
            [started] = await ctx.client.data_converter.decode(payloads, [ConventionInput])
            assert isinstance(started, ConventionInput)
            if len(ctx._conventions) > 256:
                ctx._conventions.clear()
            ctx._conventions[convention_id] = started.convention
            return started.convention
    raise NotFound(
        coded_detail(
            DetailCode.CONVENTION_UNKNOWN,
            f"convention {convention_id!r} is not known",
            convention=convention_id,
        )
    )


async def receipt(ctx: PartnerContext, convention_id: str, task_id: str) -> Receipt | None:
    """The desk's receipt of an answer to this task, if the desk carried it."""
    return await find_receipt(ctx.pool, convention_id, task_id)
