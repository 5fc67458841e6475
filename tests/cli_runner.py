"""Shared helpers of the bad-input, CLI and text round-trip tests.

- running `starter.py` as an officer does (a subprocess of the venv's python, from the project
  root, pointed at the test session's Temporal dev server, task queue and PostgreSQL);
- writing convention files the way an officer writes them (YAML or JSON, UTF-8, unescaped);
- reading what a convention left behind: its workflow, its status once settled, its rows.

Subprocesses run under asyncio: the test worker lives on the same event loop, so a blocking
call would stall the very workflow the command is talking to.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import asyncpg
import yaml
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment

from application.conventions import convention_status
from devkit.programs import ProgramRun, run_program
from schemas.convention import Convention
from schemas.status import ConventionStatus
from tests.conftest import DEV_TASK_QUEUE
from workflows.convention import workflow_id_for

CLI_TIMEOUT_SECONDS = 60.0


CliRun = ProgramRun
"""What one `starter.py` command did: its exit code and its two streams, as UTF-8."""


def temporal_address(env: WorkflowEnvironment) -> str:
    """host:port of the session's dev server."""
    return env.client.service_client.config.target_host


def cli_env(
    dev_env: WorkflowEnvironment | None = None,
    postgres_url: str | None = None,
    *,
    temporal: str | None = None,
) -> dict[str, str]:
    """The environment an officer's shell would have, pointed at the test stack.

    Inherited TEMPORAL_* and PACTE_* variables are dropped so the user's own settings never
    leak in; `temporal` overrides the address (e.g. a closed port).
    """
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("TEMPORAL_", "PACTE_")) and name != "DATABASE_URL"
    }
    env["PACTE_TASK_QUEUE"] = DEV_TASK_QUEUE
    env["PACTE_ENV"] = "development"  # the tests' stack: see infra/settings.py
    if temporal is not None:
        env["TEMPORAL_ADDRESS"] = temporal
    elif dev_env is not None:
        env["TEMPORAL_ADDRESS"] = temporal_address(dev_env)
    if postgres_url is not None:
        env["DATABASE_URL"] = postgres_url
    return env


async def run_cli(*args: str, env: Mapping[str, str]) -> CliRun:
    """Run `python starter.py ARGS…` from the project root and wait for it to exit."""
    return await run_program("starter.py", *args, env=env, within=CLI_TIMEOUT_SECONDS)


def write_document(data: Any, path: Path) -> Path:
    """Write data as the file an officer would: YAML or JSON by suffix, UTF-8, unescaped."""
    if path.suffix == ".json":
        text = json.dumps(data, ensure_ascii=False, indent=2)
    else:
        text = yaml.safe_dump(data, allow_unicode=True, sort_keys=False)
    path.write_text(text, encoding="utf-8")
    return path


def write_convention(convention: Convention, path: Path) -> Path:
    """A convention file holding exactly this convention."""
    return write_document(convention.model_dump(mode="json"), path)


async def workflow_exists(client: Client, convention_id: str) -> bool:
    """Whether Temporal holds any workflow for this convention id (described, then listed)."""
    workflow_id = workflow_id_for(convention_id)
    try:
        await client.get_workflow_handle(workflow_id).describe()
    except RPCError as error:
        if error.status is not RPCStatusCode.NOT_FOUND:
            raise
    else:
        return True
    listed = [
        execution async for execution in client.list_workflows(f"WorkflowId = '{workflow_id}'")
    ]
    return bool(listed)


async def stored_milestone_count(pool: asyncpg.Pool, convention_id: str) -> int:
    """Rows of the milestones table for this convention."""
    count: int = await pool.fetchval(
        "SELECT count(*) FROM milestones WHERE convention_id = $1", convention_id
    )
    return count


async def settled_status(
    client: Client, pool: asyncpg.Pool, convention_id: str, *, wait_seconds: float = 20.0
) -> ConventionStatus:
    """The status once the workflow is at rest: every milestone it shows is in PostgreSQL,
    and two reads a moment apart agree."""
    deadline = asyncio.get_running_loop().time() + wait_seconds
    previous: ConventionStatus | None = None
    while True:
        status = await convention_status(client, convention_id)
        stored = await stored_milestone_count(pool, convention_id)
        if stored == status.milestone_count and status == previous:
            return status
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(
                f"{convention_id} did not settle: {len(status.milestones)} milestones in the "
                f"workflow, {stored} rows in PostgreSQL"
            )
        previous = status
        await asyncio.sleep(0.1)


async def status_when(
    client: Client,
    convention_id: str,
    condition: Callable[[ConventionStatus], bool],
    *,
    wait_seconds: float = 20.0,
) -> ConventionStatus:
    """The first status that meets the condition; fails the test after wait_seconds."""
    deadline = asyncio.get_running_loop().time() + wait_seconds
    while True:
        status = await convention_status(client, convention_id)
        if condition(status):
            return status
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"{convention_id}: condition not met within {wait_seconds}s")
        await asyncio.sleep(0.05)
