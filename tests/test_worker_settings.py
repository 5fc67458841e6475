"""The worker's own settings: refused before anything starts, applied to the Worker built."""

from __future__ import annotations

import os
import subprocess
import sys

import asyncpg
import pytest
from temporalio.client import Client

from infra.settings import PROJECT_ROOT
from worker import build_worker

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
