"""What officers and partners do to a convention, through Temporal: start, answer, read."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

import asyncpg
from pydantic import BaseModel
from temporalio.client import (
    Client,
    WorkflowExecutionStatus,
    WorkflowHandle,
    WorkflowQueryRejectedError,
    WorkflowUpdateFailedError,
)
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from activities.milestones import has_milestones
from schemas.convention import Convention
from schemas.convention_file import parse_model
from schemas.errors import FieldError, InputError
from schemas.officer_actions import (
    OfficerReceipt,
    PostponeDeadline,
    ReassignTask,
    TerminateConvention,
)
from schemas.status import ConventionInput, ConventionState, ConventionStatus
from schemas.tasks import AnswerReceipt, AnswerTask, Task
from workflows import visibility
from workflows.convention import ConventionWorkflow, workflow_id_for
from workflows.visibility import search_attributes_for

FIRST_POLL_PAUSE_SECONDS = 0.05
LAST_POLL_PAUSE_SECONDS = 1.0


class ConventionAlreadyStarted(Exception):
    """A convention runs (or ran) already: a second start is refused, not duplicated."""


class ConventionNotFound(Exception):
    """No workflow carries this convention."""


class AnswerRefused(Exception):
    """The workflow refused an answer; the message names the field and the reason."""


class ConventionSummary(BaseModel):
    """One line of `list`."""

    convention_id: str
    workflow_id: str
    status: str
    started_at: datetime | None
    stage: str | None = None
    kind: str | None = None
    parties: list[str] = []


async def start_convention(
    client: Client,
    convention: Convention,
    task_queue: str,
    *,
    milestones: asyncpg.Pool | None = None,
) -> str:
    """Start the convention's workflow; its id is derived from the convention's own id.

    Temporal refuses an id it still holds; given the `milestones` database, an id whose
    workflow retention has already deleted is refused too.
    """
    workflow_id = workflow_id_for(convention.id)
    if milestones is not None and await has_milestones(milestones, convention.id):
        raise ConventionAlreadyStarted(
            f"convention {convention.id!r} was already started: its milestones are recorded "
            "in PostgreSQL (its workflow is past Temporal's retention; `audit.py` reads it "
            "from the archive); it was not started again"
        )
    try:
        await client.start_workflow(
            ConventionWorkflow.run,
            ConventionInput(convention=convention),
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
        raise ConventionAlreadyStarted(
            f"convention {convention.id!r} was already started (workflow {workflow_id}); "
            "it was not started again"
        ) from error
    return workflow_id


async def convention_status(client: Client, convention_id: str) -> ConventionStatus:
    """The workflow's own view: stage, open tasks, milestones."""
    handle = client.get_workflow_handle_for(ConventionWorkflow.run, workflow_id_for(convention_id))
    try:
        return await handle.query(ConventionWorkflow.status)
    except RPCError as error:
        if error.status is RPCStatusCode.NOT_FOUND:
            raise ConventionNotFound(f"convention {convention_id!r} is not known") from error
        raise
    except WorkflowQueryRejectedError as error:
        raise ConventionNotFound(f"convention {convention_id!r}: {error}") from error


def build_answer(
    task: Task, acting_party: str, answer_fields: dict[str, Any], actor: str | None = None
) -> AnswerTask:
    """Validate an answer against its task's kind before it is sent (field-level errors)."""
    fields = {"kind": task.kind.value, **answer_fields}
    return parse_model(
        AnswerTask,
        {"task_id": task.id, "acting_party": acting_party, "actor": actor, "answer": fields},
        f"answer to {task.id}",
    )


async def answer_task(client: Client, convention_id: str, request: AnswerTask) -> AnswerReceipt:
    """Send an answer as an update; a refusal raises AnswerRefused with the workflow's reason."""
    async with _refusals(client, convention_id):
        return await _handle(client, convention_id).execute_update(
            ConventionWorkflow.answer_task, request
        )


async def postpone_deadline(
    client: Client, convention_id: str, request: PostponeDeadline
) -> OfficerReceipt:
    """The officer moves an open task's due date later."""
    async with _refusals(client, convention_id):
        return await _handle(client, convention_id).execute_update(
            ConventionWorkflow.postpone_deadline, request
        )


async def reassign_task(
    client: Client, convention_id: str, request: ReassignTask
) -> OfficerReceipt:
    """The officer gives an open task to another contact of the same party."""
    async with _refusals(client, convention_id):
        return await _handle(client, convention_id).execute_update(
            ConventionWorkflow.reassign_task, request
        )


async def terminate_convention(
    client: Client, convention_id: str, request: TerminateConvention
) -> OfficerReceipt:
    """The officer ends the convention now, with a reason."""
    async with _refusals(client, convention_id):
        return await _handle(client, convention_id).execute_update(
            ConventionWorkflow.terminate, request
        )


def _handle(client: Client, convention_id: str) -> WorkflowHandle[ConventionWorkflow, Any]:
    return client.get_workflow_handle_for(ConventionWorkflow.run, workflow_id_for(convention_id))


@asynccontextmanager
async def _refusals(client: Client, convention_id: str) -> AsyncIterator[None]:
    """Turn Temporal's refusals of an update into AnswerRefused / ConventionNotFound."""
    try:
        yield
    except WorkflowUpdateFailedError as error:
        cause = error.cause
        raise AnswerRefused(getattr(cause, "message", None) or str(cause)) from error
    except RPCError as error:
        if error.status is not RPCStatusCode.NOT_FOUND:
            raise AnswerRefused(error.message) from error
        # Servers word it differently; a closed convention is not an unknown one.
        closed = await _closed_status(client, convention_id)
        if closed is None:
            raise ConventionNotFound(f"convention {convention_id!r} is not known") from error
        raise AnswerRefused(
            f"convention: {convention_id} is closed ({closed}): it takes no more changes"
        ) from error


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
    wait_seconds: float = 0.0,
) -> AnswerReceipt:
    """Find the task (waiting for it to open if asked), validate the answer, send it."""
    task = await find_task(client, convention_id, task_id, wait_seconds=wait_seconds)
    request = build_answer(task, acting_party, answer_fields, actor)
    return await answer_task(client, convention_id, request)


async def find_task(
    client: Client, convention_id: str, task_id: str, *, wait_seconds: float = 0.0
) -> Task:
    """The open task with this id; polls the workflow up to wait_seconds for it to open.

    Each poll is a query the worker answers like a workflow task, so the pause between polls
    doubles from 50 ms to 1 s: a waiting partner sees its task within a second without
    keeping the worker busy.
    """
    deadline = time.monotonic() + wait_seconds
    pause = FIRST_POLL_PAUSE_SECONDS
    while True:
        status = await convention_status(client, convention_id)
        for task in status.open_tasks:
            if task.id == task_id:
                return task
        if time.monotonic() >= deadline:
            open_ids = ", ".join(task.id for task in status.open_tasks) or "none"
            raise InputError(
                f"convention {convention_id}",
                [FieldError("task", f"no open task {task_id!r} (open tasks: {open_ids})")],
            )
        await asyncio.sleep(min(pause, max(deadline - time.monotonic(), 0.0)))
        pause = min(pause * 2, LAST_POLL_PAUSE_SECONDS)


class ConventionFilter(BaseModel):
    """What officers list conventions by; each maps to one search attribute."""

    stage: str | None = None
    party: str | None = None
    kind: str | None = None
    country: str | None = None
    sector: str | None = None
    state: str | None = None

    def query(self) -> str:
        """A Temporal visibility query; values are quoted, so no input can change its shape."""
        clauses = ["WorkflowType = 'ConventionWorkflow'"]
        for key, value in (
            (visibility.STAGE, self.stage),
            (visibility.PARTIES, self.party.lower() if self.party else None),
            (visibility.KIND, self.kind),
            (visibility.COUNTRIES, self.country.upper() if self.country else None),
            (visibility.SECTOR, self.sector),
            (visibility.STATE, self.state),
        ):
            if value is not None:
                clauses.append(f"{key.name} = {_quoted(value)}")
        return " AND ".join(clauses)


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
    async for execution in client.list_workflows(query):
        status = execution.status or WorkflowExecutionStatus.RUNNING
        if status is WorkflowExecutionStatus.CONTINUED_AS_NEW:
            continue
        attributes = execution.typed_search_attributes
        summaries.append(
            ConventionSummary(
                convention_id=execution.id.removeprefix(visibility.workflow_id_for("")),
                workflow_id=execution.id,
                status=status.name.lower(),
                started_at=execution.start_time,
                stage=attributes.get(visibility.STAGE),
                kind=attributes.get(visibility.KIND),
                parties=list(attributes.get(visibility.PARTIES) or []),
            )
        )
    return summaries
