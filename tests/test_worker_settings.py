"""The worker's own settings: refused before anything starts, applied to the Worker built."""

from __future__ import annotations

import dataclasses
import importlib
import os
import pkgutil
import subprocess
import sys
import types
from datetime import timedelta, timezone

import asyncpg
import pytest
from temporalio.client import Client
from temporalio.common import RetryPolicy

import workflows
from infra.settings import PROJECT_ROOT, SettingsError
from worker import (
    SANDBOX_VARIABLE,
    STRICT_SANDBOX,
    WORKFLOW_SANDBOX,
    build_worker,
    workflow_sandbox,
)

VENV_PYTHON = PROJECT_ROOT / ".venv" / "bin" / "python"
PYTHON = str(VENV_PYTHON) if VENV_PYTHON.exists() else sys.executable


@pytest.mark.parametrize("value", ["0", "-3", "2.5", "beaucoup"])
def test_a_bad_concurrency_stops_the_worker_naming_the_variable(value: str) -> None:
    env = {name: v for name, v in os.environ.items() if not name.startswith("PACTE_")}
    # Nowhere to connect to: the setting must be refused before any connection is tried.
    env |= {
        "PACTE_MAX_CONCURRENT_WORKFLOW_TASKS": value,
        "TEMPORAL_ADDRESS": "127.0.0.1:9",
        "DATABASE_URL": "postgresql://nobody@127.0.0.1:9/none",
    }
    done = subprocess.run(
        [PYTHON, "worker.py"], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2, done.stderr
    assert "PACTE_MAX_CONCURRENT_WORKFLOW_TASKS" in done.stderr
    assert "Traceback" not in done.stderr


async def test_the_worker_runs_as_many_workflow_tasks_at_once_as_configured(
    client: Client, db_pool: asyncpg.Pool, monkeypatch: pytest.MonkeyPatch
) -> None:
    default = build_worker(client, db_pool, "pacte-settings-default")
    assert default.config()["max_concurrent_workflow_tasks"] == 10
    monkeypatch.setenv("PACTE_MAX_CONCURRENT_WORKFLOW_TASKS", "4")
    configured = build_worker(client, db_pool, "pacte-settings-environment")
    assert configured.config()["max_concurrent_workflow_tasks"] == 4
    given = build_worker(client, db_pool, "pacte-settings-given", max_concurrent_workflow_tasks=2)
    assert given.config()["max_concurrent_workflow_tasks"] == 2


# What a module passed through the workflow sandbox may keep at module level (worker.py's
# WORKFLOW_SANDBOX): every workflow run of the worker shares it, so nothing that changes.
# RetryPolicy is a dataclass, not frozen, but only ever read: the SDK copies it into commands.
_SHARED_SAFELY: tuple[type, ...] = (str, int, float, bool, bytes, type(None), timedelta, timezone)
_SHARED_SAFELY += (RetryPolicy, type, types.FunctionType, types.ModuleType)


def _immutable(value: object) -> bool:
    if isinstance(value, _SHARED_SAFELY):
        return True
    if isinstance(value, frozenset | tuple):
        return all(_immutable(item) for item in value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return bool(type(value).__dataclass_params__.frozen)  # type: ignore[attr-defined]
    if isinstance(value, types.UnionType):  # an alias `str | int`: a type, immutable
        return True
    # `from __future__ import annotations`, type aliases (Callable[...], Literal[...]).
    return type(value).__module__ in {"__future__", "typing", "collections.abc"}


def test_the_workflow_code_the_worker_shares_between_runs_keeps_only_constants() -> None:
    assert "workflows" in WORKFLOW_SANDBOX.passthrough_modules
    names = [f"workflows.{found.name}" for found in pkgutil.iter_modules(workflows.__path__)]
    assert "workflows.convention" in names
    for name in names:
        module = importlib.import_module(name)
        for key, value in vars(module).items():
            if key.startswith("__"):
                continue
            assert _immutable(value), f"{name}.{key}: {type(value).__name__}"
            if isinstance(value, type) and value.__module__ == name:
                for attribute, member in vars(value).items():
                    assert not isinstance(member, list | dict | set | bytearray), (
                        f"{name}.{key}.{attribute}: {type(member).__name__}"
                    )


def test_the_suite_s_workers_check_every_call_and_a_deployed_one_shares_the_workflow_code(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert os.environ[SANDBOX_VARIABLE] == "strict"  # tests/conftest.py
    assert workflow_sandbox() is STRICT_SANDBOX
    assert "workflows" not in STRICT_SANDBOX.passthrough_modules
    monkeypatch.delenv(SANDBOX_VARIABLE)
    assert workflow_sandbox() is WORKFLOW_SANDBOX
    monkeypatch.setenv(SANDBOX_VARIABLE, "none")
    with pytest.raises(SettingsError, match=f"{SANDBOX_VARIABLE}: 'shared' or 'strict'"):
        workflow_sandbox()
