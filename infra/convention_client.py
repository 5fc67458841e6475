"""What officers and partners do to a convention, through Temporal: start, answer, read."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime
from typing import Any

from pydantic import BaseModel
from temporalio.client import (
    Client,
    WorkflowExecutionStatus,
    WorkflowQueryRejectedError,
    WorkflowUpdateFailedError,
)
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from schemas.convention import Convention
from schemas.convention_file import parse_model
from schemas.errors import FieldError, InputError
from schemas.status import ConventionInput, ConventionStatus
from schemas.tasks import AnswerReceipt, AnswerTask, Task
from workflows.convention import ConventionWorkflow, workflow_id_for


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


async def start_convention(client: Client, convention: Convention, task_queue: str) -> str:
    """Start the convention's workflow; its id is derived from the convention's own id."""
    workflow_id = workflow_id_for(convention.id)
    try:
        await client.start_workflow(
            ConventionWorkflow.run,
            ConventionInput(convention=convention),
            id=workflow_id,
            task_queue=task_queue,
            # A convention id is used once, ever: even a finished one is not started again.
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
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
    handle = client.get_workflow_handle_for(ConventionWorkflow.run, workflow_id_for(convention_id))
    try:
        return await handle.execute_update(ConventionWorkflow.answer_task, request)
    except WorkflowUpdateFailedError as error:
        cause = error.cause
        raise AnswerRefused(getattr(cause, "message", None) or str(cause)) from error
    except RPCError as error:
        if error.status is RPCStatusCode.NOT_FOUND:
            raise ConventionNotFound(f"convention {convention_id!r} is not known") from error
        raise AnswerRefused(error.message) from error


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
    """The open task with this id; polls the workflow up to wait_seconds for it to open."""
    deadline = time.monotonic() + wait_seconds
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
        await asyncio.sleep(0.05)


async def list_conventions(client: Client, query: str | None = None) -> list[ConventionSummary]:
    """Conventions from Temporal's visibility, newest first."""
    base = "WorkflowType = 'ConventionWorkflow'"
    summaries = []
    async for execution in client.list_workflows(f"{base} AND ({query})" if query else base):
        status = execution.status or WorkflowExecutionStatus.RUNNING
        summaries.append(
            ConventionSummary(
                convention_id=execution.id.removeprefix("convention-"),
                workflow_id=execution.id,
                status=status.name.lower(),
                started_at=execution.start_time,
            )
        )
    return summaries
