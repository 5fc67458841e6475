"""The archive sweep: a Temporal Schedule archives closed runs by itself, each exactly once.

The schedule is the one the worker creates at start (application/archive_schedule.py), here with a
one-second interval and its own id, on the test session's dev server and worker.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest_asyncio
from temporalio.client import (
    Client,
    ScheduleActionExecutionStartWorkflow,
    ScheduleHandle,
    WorkflowExecutionStatus,
)
from temporalio.testing import WorkflowEnvironment

from application.archive_schedule import ensure_archive_schedule
from auditing.histories import TemporalHistories
from tests.conftest import DEV_TASK_QUEUE, example
from tests.test_archive import run_conventions

SWEEP_EVERY = timedelta(seconds=1)


@pytest_asyncio.fixture
async def sweeping(dev_env: WorkflowEnvironment) -> AsyncIterator[ScheduleHandle]:
    """An archive schedule sweeping every second; deleted after the test."""
    suffix = uuid.uuid4().hex[:8]
    schedule_id = f"archive-sweep-test-{suffix}"
    await ensure_archive_schedule(
        dev_env.client,
        DEV_TASK_QUEUE,
        SWEEP_EVERY,
        schedule_id=schedule_id,
        workflow_id=f"archive-sweep-test-{suffix}",
    )
    handle = dev_env.client.get_schedule_handle(schedule_id)
    yield handle
    await handle.delete()


async def sweeps_completed_since(client: Client, handle: ScheduleHandle, since: datetime) -> int:
    """Sweeps of this schedule started after `since` and completed; a failed one fails."""
    description = await handle.describe()
    completed = 0
    for action in description.info.recent_actions:
        started = action.action
        assert isinstance(started, ScheduleActionExecutionStartWorkflow)
        if action.started_at <= since:
            continue
        run = client.get_workflow_handle(started.workflow_id, run_id=started.first_execution_run_id)
        status = (await run.describe()).status
        assert status is not WorkflowExecutionStatus.FAILED, (await run.fetch_history()).events[-1]
        completed += status is WorkflowExecutionStatus.COMPLETED
    return completed


async def test_the_schedule_archives_every_closed_run_once_continued_as_new_ones_too(
    dev_env: WorkflowEnvironment, db_pool: asyncpg.Pool, sweeping: ScheduleHandle
) -> None:
    client = dev_env.client
    convention = example("cycle-maalam")
    await run_conventions(client, {"swept": (convention, 50)})
    closed = datetime.now(UTC)
    runs = [run.run_id for run in (await TemporalHistories(client).history(convention.id)).runs]

    deadline = time.monotonic() + 60
    while True:
        archived = await db_pool.fetch(
            "SELECT run_id, closed_as FROM history_archive WHERE convention_id = $1 ORDER BY seq",
            convention.id,
        )
        sweeps = await sweeps_completed_since(client, sweeping, closed)
        # Two sweeps after the convention closed: the second found nothing left to do.
        if len(archived) == len(runs) and sweeps >= 2:
            break
        assert time.monotonic() < deadline, (archived, sweeps)
        await asyncio.sleep(0.5)

    assert len(runs) >= 2
    assert [row["run_id"] for row in archived] == runs
    assert [row["closed_as"] for row in archived][:-1] == ["continued_as_new"] * (len(runs) - 1)
    # The worker's start, again: the same schedule, left as it is.
    await ensure_archive_schedule(
        client,
        DEV_TASK_QUEUE,
        SWEEP_EVERY,
        schedule_id=sweeping.id,
        workflow_id=sweeping.id,
    )
    description = await sweeping.describe()
    assert description.schedule.spec.intervals[0].every == SWEEP_EVERY
    assert await db_pool.fetchval(
        "SELECT count(*) FROM history_archive WHERE convention_id = $1", convention.id
    ) == len(runs)
