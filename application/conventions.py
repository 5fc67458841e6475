"""What officers and partners do to a convention, through Temporal: start, answer, read."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
from pydantic import BaseModel, Field, ValidationError
from temporalio.api.enums.v1 import EventType, PendingWorkflowTaskState, TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import (
    Client,
    WorkflowExecutionStatus,
    WorkflowHandle,
    WorkflowQueryFailedError,
    WorkflowQueryRejectedError,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from application.errors import ConventionNotAnswering, Refused
from schemas.actors import AuthMethod, Principal, PrincipalKind
from schemas.contract import WORKFLOW_ID_PREFIX, workflow_id_for
from schemas.convention import Convention
from schemas.convention_file import parse_model
from schemas.errors import (
    DetailCode,
    FieldError,
    InputError,
    Reason,
    Refusal,
    RefusalCode,
    coded_detail,
)
from schemas.milestone_details import TERMINATED_BY_TEMPORAL
from schemas.milestones import Milestone, MilestoneKind
from schemas.officer_actions import (
    ChangeOfficer,
    OfficerAction,
    OfficerReceipt,
    PostponeDeadline,
    ReassignTask,
    TerminateConvention,
)
from schemas.status import ConventionInput, ConventionState, ConventionStatus, TaskLookup
from schemas.tasks import AnswerReceipt, AnswerTask, Task, TaskStatus
from storage.milestones import chain_milestone, has_milestones, last_seq
from storage.read_model import record_convention_file
from workflows import visibility
from workflows.convention import ConventionWorkflow
from workflows.visibility import search_attributes_for

FIRST_POLL_PAUSE_SECONDS = 0.05
LAST_POLL_PAUSE_SECONDS = 1.0
QUERY_TIMEOUT = timedelta(seconds=10)
"""How long a query may wait for a worker: past it, the convention's workflow is not answering."""
UPDATE_TIMEOUT = timedelta(seconds=15)
"""How long the officer's terminate update may wait before Temporal's own terminate is used."""
UNSCHEDULED_WORKFLOW_TASK = timedelta(seconds=5)
"""A workflow task waiting longer than this for a worker, with none polling, is stuck."""


class ConventionAlreadyStarted(Exception):
    """A convention runs (or ran) already: a second start is refused, not duplicated.
    `running`: its workflow is still running (a page links to it rather than to the
    archive)."""

    def __init__(self, message: str, *, running: bool = False) -> None:
        super().__init__(message)
        self.running = running


class ConventionNotFound(Exception):
    """No workflow carries this convention."""


class ConventionUnreadable(Exception):
    """The convention's workflow does not answer: its workflow task fails, or no worker runs it."""


class QueryRefused(Exception):
    """Temporal refused a visibility query as malformed (a usage error)."""


class ParentUnknown(Exception):
    """The file names a parent convention that Temporal does not hold."""


class ConventionSummary(BaseModel):
    """One line of `list`."""

    convention_id: str
    workflow_id: str
    status: str = Field(
        description=(
            "The convention's state (ConventionState); Temporal's own execution status "
            "instead when the workflow ended outside Pacte (terminated, timed out) while the "
            "attribute still says active."
        )
    )
    started_at: datetime | None
    stage: str | None = None
    kind: str | None = None
    parent: str | None = None
    parties: list[str] = []


async def start_convention(
    client: Client,
    convention: Convention,
    task_queue: str,
    *,
    milestones: asyncpg.Pool | None = None,
    history_limit: int | None = None,
    require_parent: bool = False,
    started_by: str | None = None,
) -> str:
    """Start the convention's workflow; its id is derived from the convention's own id.

    `started_by` is who pressed Start (the signed-in account, the CLI's officer): the
    record's actor of convention_started, the file's officer staying the responsible one.

    Temporal refuses an id it still holds; given the `milestones` database, an id whose
    workflow retention has already deleted is refused too. With `require_parent`, a file
    whose parent Temporal does not hold (no workflow `convention-<parent>`) is refused.
    """
    workflow_id = workflow_id_for(convention.id)
    if require_parent and convention.parent and not await _known(client, convention.parent):
        raise ParentUnknown(
            f"parent: convention {convention.parent!r} is not known to Temporal (no workflow "
            f"{workflow_id_for(convention.parent)}); start it first, or pass "
            "--allow-missing-parent to start this one unlinked"
        )
    if milestones is not None and await has_milestones(milestones, convention.id):
        # Recorded milestones mean "started before"; Temporal says whether it still runs,
        # ended within its retention, or is past it (then only the archive holds it).
        running = await _running(client, convention.id)
        if running is None:
            raise ConventionAlreadyStarted(
                f"convention {convention.id!r} was already started: its milestones are "
                "recorded in PostgreSQL (its workflow is past Temporal's retention; "
                "`audit.py` reads it from the archive); it was not started again"
            )
        raise _already_started(convention.id, workflow_id, running)
    try:
        await client.start_workflow(
            ConventionWorkflow.run,
            ConventionInput(convention=convention, started_by=started_by)
            if history_limit is None
            else ConventionInput(
                convention=convention, history_limit=history_limit, started_by=started_by
            ),
            id=workflow_id,
            task_queue=task_queue,
            # A convention id is used once, ever: even a finished one is not started again.
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
            # Listable by stage, party, kind… from the first moment, not the first upsert.
            search_attributes=search_attributes_for(
                convention, convention.stages[0].stage, ConventionState.ACTIVE
            ),
        )
    except WorkflowAlreadyStartedError as error:
        running = bool(await _running(client, convention.id))
        raise _already_started(convention.id, workflow_id, running) from error
    if milestones is not None:  # the static facts the office's portfolio shows
        await record_convention_file(milestones, convention)
    return workflow_id


def _already_started(convention_id: str, workflow_id: str, running: bool) -> Exception:
    state = "it is still running" if running else "it has ended"
    return ConventionAlreadyStarted(
        f"convention {convention_id!r} was already started (workflow {workflow_id}; "
        f"{state}); it was not started again",
        running=running,
    )


async def _running(client: Client, convention_id: str) -> bool | None:
    """Whether the convention's workflow is running (False: ended, Temporal still holds
    it; None: Temporal holds no such workflow)."""
    try:
        described = await _handle(client, convention_id).describe()
    except RPCError as error:
        if error.status is RPCStatusCode.NOT_FOUND:
            return None
        raise
    return described.status is WorkflowExecutionStatus.RUNNING


async def _known(client: Client, convention_id: str) -> bool:
    """Whether Temporal holds a workflow for this convention id (running or closed)."""
    try:
        await _handle(client, convention_id).describe()
    except RPCError as error:
        if error.status is RPCStatusCode.NOT_FOUND:
            return False
        raise
    return True


async def convention_status(
    client: Client, convention_id: str, *, rpc_timeout: timedelta | None = None
) -> ConventionStatus:
    """The workflow's own view: stage, open tasks, milestones."""
    handle = client.get_workflow_handle_for(ConventionWorkflow.run, workflow_id_for(convention_id))
    async with _query_errors(convention_id):
        return await handle.query(ConventionWorkflow.status, rpc_timeout=rpc_timeout)


async def workflow_busy(client: Client, convention_id: str) -> bool:
    """Whether the convention's workflow has work in hand (a workflow task or an activity
    pending): what it shows now may change in a moment, without anyone acting."""
    try:
        description = await _handle(client, convention_id).describe(rpc_timeout=QUERY_TIMEOUT)
    except RPCError as error:
        if error.status is RPCStatusCode.NOT_FOUND:
            return False
        raise
    if description.status not in (None, WorkflowExecutionStatus.RUNNING):
        return False
    raw = description.raw_description
    return raw.HasField("pending_workflow_task") or len(raw.pending_activities) > 0


async def task_lookup(
    client: Client, convention_id: str, task_id: str, *, rpc_timeout: timedelta | None = None
) -> TaskLookup:
    """The workflow's narrow answer about one task: open, closed (how), waited for, unknown."""
    handle = _handle(client, convention_id)
    async with _query_errors(convention_id):
        return await handle.query(ConventionWorkflow.task, task_id, rpc_timeout=rpc_timeout)


@asynccontextmanager
async def _query_errors(convention_id: str) -> AsyncIterator[None]:
    try:
        yield
    except RPCError as error:
        if error.status is RPCStatusCode.NOT_FOUND:
            raise ConventionNotFound(f"convention {convention_id!r} is not known") from error
        if _workflow_task_failed(error):
            raise ConventionUnreadable(
                f"convention {convention_id}: its workflow cannot answer: {error.message}"
            ) from error
        if error.status in (RPCStatusCode.DEADLINE_EXCEEDED, RPCStatusCode.CANCELLED):
            raise ConventionUnreadable(
                f"convention {convention_id}: its workflow did not answer in time "
                "(no worker runs it, or its workflow task is failing)"
            ) from error
        if error.status is RPCStatusCode.FAILED_PRECONDITION:
            # A query with no deadline: Temporal's own "no poller seen for task queue
            # recently, worker may be down", after about half a minute.
            raise ConventionUnreadable(
                f"convention {convention_id}: its workflow cannot answer now: {error.message}"
            ) from error
        raise
    except WorkflowQueryRejectedError as error:
        raise ConventionNotFound(f"convention {convention_id!r}: {error}") from error
    except WorkflowQueryFailedError as error:
        raise ConventionUnreadable(
            f"convention {convention_id}: its workflow could not answer: {error.message}"
        ) from error


@dataclass(frozen=True)
class WorkflowHealth:
    """What Temporal itself says of a convention's workflow, beyond the workflow's own view."""

    execution_status: WorkflowExecutionStatus
    trouble: str | None = None
    """Why the workflow cannot move on: its workflow task fails, or no worker polls."""


async def workflow_health(client: Client, convention_id: str) -> WorkflowHealth:
    """Describe the convention's workflow: closed how, and whether its workflow task is stuck."""
    handle = _handle(client, convention_id)
    try:
        description = await handle.describe(rpc_timeout=QUERY_TIMEOUT)
    except RPCError as error:
        if error.status is RPCStatusCode.NOT_FOUND:
            raise ConventionNotFound(f"convention {convention_id!r} is not known") from error
        raise
    status = description.status or WorkflowExecutionStatus.RUNNING
    raw = description.raw_description
    if status is not WorkflowExecutionStatus.RUNNING or not raw.HasField("pending_workflow_task"):
        return WorkflowHealth(status)
    pending = raw.pending_workflow_task
    failure = await _last_workflow_task_failure(handle) if pending.attempt > 1 else None
    if failure is not None:  # retries after a timeout alone (a worker restarted) recover
        return WorkflowHealth(
            status, f"workflow task failing (attempt {pending.attempt}): {failure}"
        )
    waited = datetime.now(UTC) - pending.scheduled_time.ToDatetime(tzinfo=UTC)
    if (
        pending.state == PendingWorkflowTaskState.PENDING_WORKFLOW_TASK_STATE_SCHEDULED
        and waited > UNSCHEDULED_WORKFLOW_TASK
        and not await _has_pollers(client, description.task_queue)
    ):
        return WorkflowHealth(
            status,
            f"no worker polls task queue {description.task_queue!r}: its workflow task has "
            f"waited {int(waited.total_seconds())} s",
        )
    return WorkflowHealth(status)


async def _last_workflow_task_failure(handle: WorkflowHandle[Any, Any]) -> str | None:
    """The message of the history's last WorkflowTaskFailed, unless a task completed since."""
    message: str | None = None
    async for event in handle.fetch_history_events(rpc_timeout=QUERY_TIMEOUT):
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED:
            failure = event.workflow_task_failed_event_attributes.failure
            message = (failure.message or "no message").splitlines()[0]
        elif event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
            message = None
    return message


async def _has_pollers(client: Client, task_queue: str) -> bool:
    response = await client.workflow_service.describe_task_queue(
        DescribeTaskQueueRequest(
            namespace=client.namespace,
            task_queue=TaskQueue(name=task_queue),
            task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
        ),
        timeout=QUERY_TIMEOUT,
    )
    return bool(response.pollers)


def build_answer(
    task: Task,
    acting_party: str,
    answer_fields: dict[str, Any],
    actor: str | None = None,
    principal: Principal | None = None,
) -> AnswerTask:
    """Validate an answer against its task's kind before it is sent (field-level errors)."""
    fields = {"kind": task.kind.value, **answer_fields}
    request = parse_model(
        AnswerTask,
        {"task_id": task.id, "acting_party": acting_party, "actor": actor, "answer": fields},
        f"answer to {task.id}",
    )
    return request if principal is None else request.model_copy(update={"principal": principal})


def officer_on_behalf(officer: str, party: str) -> Principal:
    """The principal of an answer an officer enters for a party (the CLI, the office desk)."""
    return Principal(
        kind=PrincipalKind.OFFICER,
        id=officer,
        name=officer,
        party=party,
        method=AuthMethod.OFFICER_ON_BEHALF,
        request_id=str(uuid.uuid4()),
    )


async def answer_task(
    client: Client,
    convention_id: str,
    request: AnswerTask,
    *,
    rpc_timeout: timedelta | None = None,
) -> AnswerReceipt:
    """Send an answer as an update; a refusal raises Refused with the workflow's reason.

    With `rpc_timeout`, a workflow that does not take the update in time (no worker runs it,
    its workflow task fails) raises ConventionUnreadable instead of waiting for ever.
    """
    async with _refusals(client, convention_id):
        return await _handle(client, convention_id).execute_update(
            ConventionWorkflow.answer_task, request, rpc_timeout=rpc_timeout
        )


async def postpone_deadline(
    client: Client,
    convention_id: str,
    request: PostponeDeadline,
    *,
    rpc_timeout: timedelta | None = None,
) -> OfficerReceipt:
    """The officer moves an open task's due date later."""
    async with _refusals(client, convention_id):
        return await _handle(client, convention_id).execute_update(
            ConventionWorkflow.postpone_deadline, request, rpc_timeout=rpc_timeout
        )


async def reassign_task(
    client: Client,
    convention_id: str,
    request: ReassignTask,
    *,
    rpc_timeout: timedelta | None = None,
) -> OfficerReceipt:
    """The officer gives an open task to another contact of the same party."""
    async with _refusals(client, convention_id):
        return await _handle(client, convention_id).execute_update(
            ConventionWorkflow.reassign_task, request, rpc_timeout=rpc_timeout
        )


async def terminate_convention(
    client: Client,
    convention_id: str,
    request: TerminateConvention,
    *,
    rpc_timeout: timedelta | None = None,
) -> OfficerReceipt:
    """The officer ends the convention now, with a reason (through the workflow's update)."""
    async with _refusals(client, convention_id):
        return await _handle(client, convention_id).execute_update(
            ConventionWorkflow.terminate, request, rpc_timeout=rpc_timeout
        )


async def change_officer(
    client: Client,
    convention_id: str,
    request: ChangeOfficer,
    *,
    rpc_timeout: timedelta | None = None,
) -> OfficerReceipt:
    """Make another person the convention's responsible officer (the workflow's update);
    returns once the officer_changed milestone is written."""
    async with _refusals(client, convention_id):
        return await _handle(client, convention_id).execute_update(
            ConventionWorkflow.change_officer, request, rpc_timeout=rpc_timeout
        )


class TerminationUnrecorded(Exception):
    """Temporal terminated the convention, but its milestone could not be written."""


class WorkflowCannotTerminate(Exception):
    """The workflow cannot take the terminate update: its workflow task fails or never runs."""


@dataclass(frozen=True)
class Termination:
    """How a convention was ended: by its workflow, or by Temporal when the workflow could not."""

    receipt: OfficerReceipt
    by_temporal: str | None = None
    """Why Temporal's own terminate was used (the update was refused or timed out)."""
    milestone_seq: int | None = None
    """The convention_terminated milestone written from here, when Temporal terminated it."""


async def end_convention(
    client: Client,
    convention_id: str,
    request: TerminateConvention,
    milestones: asyncpg.Pool,
    *,
    update_timeout: timedelta = UPDATE_TIMEOUT,
) -> Termination:
    """The officer can always end a convention.

    First the workflow's own terminate update (open tasks cancelled, its milestone written
    by the workflow). When the workflow cannot take it — the update is refused because its
    workflow task is failing, or it times out because no worker runs it — Temporal's own
    terminate ends the execution with the officer's reason, and the convention_terminated
    milestone is chained to the convention's record in PostgreSQL from here, since the
    workflow will never write it.
    """
    try:
        async with _stuck_update(convention_id):
            receipt = await terminate_convention(
                client, convention_id, request, rpc_timeout=update_timeout
            )
        return Termination(receipt)
    except WorkflowCannotTerminate as stuck:
        why = str(stuck)
    handle = _handle(client, convention_id)
    description = await handle.describe(rpc_timeout=QUERY_TIMEOUT)
    officer = request.officer or "the officer"
    await handle.terminate(
        reason=f"{request.reason} (terminated by {officer} through Temporal: {why})",
        rpc_timeout=QUERY_TIMEOUT,
    )
    now = datetime.now(UTC)
    try:
        seq = await _record_termination(
            milestones, convention_id, request, why, description.run_id or "", now
        )
    except (OSError, asyncpg.PostgresError) as error:
        raise TerminationUnrecorded(
            f"convention {convention_id}: Temporal terminated it, but PostgreSQL did not take "
            f"its convention_terminated milestone ({error}); Temporal's history keeps the "
            "reason (`audit.py timeline`)"
        ) from error
    return Termination(
        OfficerReceipt(action=OfficerAction.TERMINATE, applied_at=now),
        by_temporal=why,
        milestone_seq=seq,
    )


@asynccontextmanager
async def _stuck_update(convention_id: str) -> AsyncIterator[None]:
    """Tell a stuck workflow (refused for a failed workflow task, or silent) from a refusal."""
    try:
        yield
    except ConventionUnreadable as error:
        cause = error.__cause__
        if isinstance(cause, RPCError):  # refused: "Workflow Task in failed state"
            raise WorkflowCannotTerminate(
                f"the terminate update was refused: {cause.message}"
            ) from error
        raise WorkflowCannotTerminate(
            f"the terminate update was not answered in time ({cause})"
        ) from error


async def _record_termination(
    pool: asyncpg.Pool,
    convention_id: str,
    request: TerminateConvention,
    why: str,
    run_id: str,
    now: datetime,
) -> int:
    """Chain a convention_terminated milestone after the convention's last stored one."""
    for _ in range(5):  # a milestone activity still in flight may take the seq first
        seq = await last_seq(pool, convention_id) + 1
        milestone = Milestone(
            convention_id=convention_id,
            seq=seq,
            kind=MilestoneKind.CONVENTION_TERMINATED,
            party=None,
            actor=request.officer,
            occurred_at=now,
            summary=f"Convention terminated by the officer through Temporal: {request.reason}",
            details={
                "reason": request.reason,
                "terminated_by": TERMINATED_BY_TEMPORAL,
                "why": why,
                "recorded_by": "starter.py terminate",
            },
        )
        if await chain_milestone(
            pool, milestone, workflow_id=workflow_id_for(convention_id), run_id=run_id
        ):
            return seq
    raise RuntimeError(f"{convention_id}: could not chain the termination milestone")


def _workflow_task_failed(error: RPCError) -> bool:
    """Temporal refuses queries and updates once a workflow's task keeps failing."""
    return "workflow task in failed state" in error.message.lower()


def _handle(client: Client, convention_id: str) -> WorkflowHandle[ConventionWorkflow, Any]:
    return client.get_workflow_handle_for(ConventionWorkflow.run, workflow_id_for(convention_id))


_TRANSIENT_UPDATE_REFUSALS = frozenset(
    {
        RPCStatusCode.RESOURCE_EXHAUSTED,
        RPCStatusCode.ABORTED,
        RPCStatusCode.UNAVAILABLE,
        RPCStatusCode.DEADLINE_EXCEEDED,
    }
)
"""Temporal's refusals of an update that say nothing of the convention: try again soon."""


_ABORTED_BY_TEMPORAL = (
    "update was aborted",
    "update registry was cleared",
    "wasn't processed by worker",
)
"""How Temporal words an update it dropped before the workflow ran it (a workflow task
failed or timed out under load, the workflow's state reloaded): not the workflow's refusal."""


def _aborted_by_temporal(cause: BaseException | None) -> bool:
    if isinstance(cause, ApplicationError) and cause.type == "AnswerRejected":
        return False
    text = (getattr(cause, "message", None) or str(cause)).lower()
    return any(words in text for words in _ABORTED_BY_TEMPORAL)


@asynccontextmanager
async def _refusals(client: Client, convention_id: str) -> AsyncIterator[None]:
    """Turn Temporal's refusals of an update into Refused / ConventionNotFound."""
    try:
        yield
    except WorkflowUpdateFailedError as error:
        if _aborted_by_temporal(error.cause):
            raise ConventionNotAnswering(
                f"convention {convention_id}: Temporal dropped the answer before its workflow "
                f"took it: {getattr(error.cause, 'message', error.cause)}",
                retry_after=1,
            ) from error
        raise refusal_of(error.cause) from error
    except WorkflowUpdateRPCTimeoutOrCancelledError as error:
        raise ConventionUnreadable(
            f"convention {convention_id}: its workflow did not take the update in time "
            "(no worker runs it, or its workflow task is failing)"
        ) from error
    except RPCError as error:
        if _workflow_task_failed(error):
            raise ConventionUnreadable(
                f"convention {convention_id}: its workflow cannot take the update: {error.message}"
            ) from error
        if error.status in _TRANSIENT_UPDATE_REFUSALS:
            # Not the workflow's word: Temporal could not take the update now (more updates
            # in flight to this workflow than it admits at once, an update aborted as its
            # workflow moved): nothing was recorded, the same request may be sent again.
            raise ConventionNotAnswering(
                f"convention {convention_id}: Temporal cannot take the answer now: {error.message}",
                retry_after=1,
            ) from error
        if error.status is not RPCStatusCode.NOT_FOUND:
            raise Refused(error.message) from error
        # Servers word it differently; a closed convention is not an unknown one.
        closed = await _closed_status(client, convention_id)
        if closed is None:
            raise ConventionNotFound(f"convention {convention_id!r} is not known") from error
        raise Refused(
            coded_detail(
                DetailCode.CONVENTION_CLOSED,
                f"convention: {convention_id} is closed ({closed}): it takes no more changes",
                convention=convention_id,
            )
        ) from error


def refusal_of(cause: BaseException | None) -> Refused:
    """The workflow's refusal as Refused: its detail a Reason (the English text, and the code,
    parameters and field the workflow sent as the failure's details, when it did)."""
    text = getattr(cause, "message", None) or str(cause)
    details = getattr(cause, "details", None) or ()
    if isinstance(cause, ApplicationError) and cause.type == "AnswerRejected" and details:
        try:
            refusal = Refusal.model_validate(details[0])
        except ValidationError:
            return Refused(text)
        return Refused(refusal.reason(text))
    return Refused(text)


async def _closed_status(client: Client, convention_id: str) -> str | None:
    """How the convention's workflow closed, or None if it does not exist."""
    try:
        description = await _handle(client, convention_id).describe()
    except RPCError:
        return None
    status = description.status or WorkflowExecutionStatus.RUNNING
    return status.name.lower()


async def answer_open_task(
    client: Client,
    convention_id: str,
    task_id: str,
    acting_party: str,
    answer_fields: dict[str, Any],
    *,
    actor: str | None = None,
    principal: Principal | None = None,
    wait_seconds: float = 0.0,
    rpc_timeout: timedelta | None = None,
    poll_every: float | None = None,
) -> AnswerReceipt:
    """Find the task (waiting for it to open if asked), validate the answer, send it."""
    task = await find_task(
        client,
        convention_id,
        task_id,
        wait_seconds=wait_seconds,
        rpc_timeout=rpc_timeout,
        poll_every=poll_every,
    )
    request = build_answer(task, acting_party, answer_fields, actor, principal)
    return await answer_task(client, convention_id, request, rpc_timeout=rpc_timeout)


async def find_task(
    client: Client,
    convention_id: str,
    task_id: str,
    *,
    wait_seconds: float = 0.0,
    rpc_timeout: timedelta | None = None,
    poll_every: float | None = None,
) -> Task:
    """The open task with this id; polls the workflow up to wait_seconds for it to open.

    Each poll is a query the worker answers like a workflow task, so the pause between polls
    doubles from 50 ms to 1 s: a waiting partner sees its task within a second without
    keeping the worker busy. `poll_every` (an experiment's, not the CLI's): a fixed pause.
    """
    deadline = time.monotonic() + wait_seconds
    pause = poll_every or FIRST_POLL_PAUSE_SECONDS
    longest = poll_every or LAST_POLL_PAUSE_SECONDS
    while True:
        try:
            lookup = await task_lookup(client, convention_id, task_id, rpc_timeout=rpc_timeout)
        except ConventionUnreadable:
            # A worker restarting leaves queries unanswered a moment: ride it out while the
            # caller is willing to wait, then say what is wrong.
            if time.monotonic() >= deadline:
                raise
            await asyncio.sleep(min(pause, max(deadline - time.monotonic(), 0.0)))
            pause = min(pause * 2, longest)
            continue
        if lookup.task is not None and lookup.task.status is TaskStatus.OPEN:
            return lookup.task
        if time.monotonic() >= deadline:
            raise InputError(
                f"convention {convention_id}",
                [FieldError("task", why_not_open(lookup))],
            )
        await asyncio.sleep(min(pause, max(deadline - time.monotonic(), 0.0)))
        pause = min(pause * 2, longest)


def why_not_open(lookup: TaskLookup) -> str:
    """Why a task cannot be answered now, from the workflow's `task` query. A task answered
    or cancelled is said as the workflow's refusal of it would be (a Reason with its code,
    so the partner's page and the CLI say it in their reader's language)."""
    task, task_id = lookup.task, repr(lookup.task_id)
    open_ids = ", ".join(lookup.open_task_ids) or "none"
    if task is not None and task.status is TaskStatus.DONE:
        when = f" at {task.answered_at:%Y-%m-%d %H:%M:%S %Z}" if task.answered_at else ""
        return Refusal(
            code=RefusalCode.TASK_DONE,
            field="task_id",
            params={"task": task.id}
            | ({"answered_by": task.answered_by} if task.answered_by else {}),
        ).reason(
            f"no open task {task_id}: already answered by {task.answered_by or 'its party'}{when}"
        )
    if task is not None and task.status is TaskStatus.CANCELLED:
        # Why it was cancelled travels too: the workflow's English reason, and its facts when
        # the workflow wrote them (typed-reasons), so each reader's language says it again.
        why: dict[str, Any] = {"task": task.id}
        if task.closed_reason:
            why["reason"] = task.closed_reason
        if task.closed_reason_facts is not None:
            why["reason_facts"] = task.closed_reason_facts.details()
        return Reason(
            f"no open task {task_id}: cancelled ({task.closed_reason or 'no reason recorded'})",
            RefusalCode.TASK_CANCELLED.value,
            why,
            "task_id",
        )
    if lookup.waiting_for:
        return f"no open task {task_id}: not open yet ({lookup.waiting_for})"
    if lookup.convention_state is not ConventionState.ACTIVE:
        return f"no open task {task_id}: the convention is {lookup.convention_state.value}"
    return f"no open task {task_id}: unknown in this convention (open tasks: {open_ids})"


class ConventionFilter(BaseModel):
    """What officers list conventions by; each maps to one search attribute."""

    stage: str | None = None
    party: str | None = None
    kind: str | None = None
    country: str | None = None
    sector: str | None = None
    state: ConventionState | None = None
    parent: str | None = None

    def query(self) -> str:
        """A Temporal visibility query; values are quoted, so no input can change its shape."""
        clauses = ["WorkflowType = 'ConventionWorkflow'"]
        for key, value in (
            (visibility.STAGE, self.stage),
            (visibility.PARTIES, self.party.lower() if self.party else None),
            (visibility.KIND, self.kind),
            (visibility.COUNTRIES, self.country.upper() if self.country else None),
            # Indexed by as much of it as fits Temporal's limit: searched the same way.
            (
                visibility.SECTOR,
                visibility.keyword_within_budget(self.sector) if self.sector else None,
            ),
            (visibility.PARENT, self.parent),
        ):
            if value is not None:
                clauses.append(f"{key.name} = {_quoted(value)}")
        if self.state is not None:
            clauses.append(_STATE_CLAUSES[self.state])
        return " AND ".join(clauses)


# A workflow ended outside Pacte (`temporal workflow terminate`, a run timeout) keeps the
# ConventionState it last upserted, `active`: Temporal's own status decides those.
_STATE_CLAUSES = {
    ConventionState.ACTIVE: f"{visibility.STATE.name} = 'active' AND ExecutionStatus = 'Running'",
    ConventionState.COMPLETED: f"{visibility.STATE.name} = 'completed'",
    ConventionState.FAILED: (
        f"({visibility.STATE.name} = 'failed' OR ExecutionStatus IN ('Failed', 'TimedOut'))"
    ),
    ConventionState.TERMINATED: (
        f"({visibility.STATE.name} = 'terminated' OR ExecutionStatus = 'Terminated')"
    ),
}


def _quoted(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


async def list_conventions(
    client: Client, conventions: ConventionFilter | None = None, extra_query: str | None = None
) -> list[ConventionSummary]:
    """Conventions from Temporal's own visibility (search attributes), newest first.

    Only the latest run of each workflow: a convention that continued-as-new is listed once.
    """
    query = (conventions or ConventionFilter()).query()
    if extra_query:
        query = f"{query} AND ({extra_query})"
    summaries = []
    try:
        async for execution in client.list_workflows(query):
            status = execution.status or WorkflowExecutionStatus.RUNNING
            if status is WorkflowExecutionStatus.CONTINUED_AS_NEW:
                continue
            attributes = execution.typed_search_attributes
            summaries.append(
                ConventionSummary(
                    convention_id=execution.id.removeprefix(WORKFLOW_ID_PREFIX),
                    workflow_id=execution.id,
                    status=listed_state(attributes.get(visibility.STATE), status),
                    started_at=execution.start_time,
                    stage=attributes.get(visibility.STAGE),
                    kind=attributes.get(visibility.KIND),
                    parent=attributes.get(visibility.PARENT),
                    parties=list(attributes.get(visibility.PARTIES) or []),
                )
            )
    except RPCError as error:
        if error.status is RPCStatusCode.INVALID_ARGUMENT:
            raise QueryRefused(f"--query: Temporal refused the query: {error.message}") from error
        raise
    return summaries


def listed_state(attribute: str | None, execution: WorkflowExecutionStatus) -> str:
    """The convention's state, unless Temporal ended its execution behind the workflow's back."""
    running = execution is WorkflowExecutionStatus.RUNNING
    if attribute in (None, ConventionState.ACTIVE.value) and not running:
        return execution.name.lower()
    return attribute or execution.name.lower()
