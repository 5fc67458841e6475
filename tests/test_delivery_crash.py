"""A worker killed in the middle of a delivery: another worker delivers it, same webhook-id.

Workers run as `python worker.py` subprocesses, as in production; the first is SIGKILLed
while the partner's endpoint holds its request, so it never learns the outcome.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import uuid
from pathlib import Path
from typing import Any

import asyncpg
from temporalio.testing import WorkflowEnvironment

from application.conventions import start_convention
from devkit.polling import eventually
from infra.settings import PROJECT_ROOT
from tests.conftest import WEBHOOK_SECRET, WebhookReceiver
from tests.test_delivery_webhook import DECISION, funding_request_to, stop

VENV_PYTHON = PROJECT_ROOT / ".venv" / "bin" / "python"
PYTHON = str(VENV_PYTHON) if VENV_PYTHON.exists() else sys.executable


def worker_env(dev_env: WorkflowEnvironment, postgres_url: str, task_queue: str) -> dict[str, str]:
    """An operator's environment for the worker: the test stack, fast retries, bid's secret."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("TEMPORAL_", "PACTE_")) and name != "DATABASE_URL"
    }
    env.update(
        TEMPORAL_ADDRESS=dev_env.client.service_client.config.target_host,
        DATABASE_URL=postgres_url,
        PACTE_TASK_QUEUE=task_queue,
        PACTE_ENV="development",  # the receiver is on loopback, over http
        PACTE_WEBHOOK_SECRET_BID=WEBHOOK_SECRET,
        PACTE_DELIVERY_INITIAL_RETRY_SECONDS="0.2",
        PACTE_DELIVERY_MAXIMUM_RETRY_SECONDS="0.5",
        # The attempt the dead worker held times out after this, then is retried elsewhere.
        PACTE_DELIVERY_ATTEMPT_TIMEOUT_SECONDS="3",
        PYTHONUNBUFFERED="1",
    )
    return env


async def start_worker(env: dict[str, str], log: Path) -> asyncio.subprocess.Process:
    """`python worker.py`, its log in a file."""
    with log.open("ab") as sink:
        return await asyncio.create_subprocess_exec(
            PYTHON,
            "worker.py",
            cwd=PROJECT_ROOT,
            env=env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=sink,
            stderr=sink,
        )


async def test_a_worker_killed_mid_delivery_is_replaced_and_the_partner_sees_one_webhook_id(
    dev_env: WorkflowEnvironment,
    db_pool: asyncpg.Pool,
    postgres_url: str,
    webhook_receiver: WebhookReceiver,
    tmp_path: Any,
) -> None:
    task_queue = f"crash-{uuid.uuid4().hex[:8]}"
    env = worker_env(dev_env, postgres_url, task_queue)
    url = webhook_receiver.endpoint(["stall"])
    convention = funding_request_to(url)
    notification_id = f"{convention.id}/{DECISION}/task.assigned"
    log = tmp_path / "workers.log"

    first = await start_worker(env, log)
    second: asyncio.subprocess.Process | None = None
    try:
        await start_convention(dev_env.client, convention, task_queue)
        await eventually(
            lambda: asyncio.sleep(0, webhook_receiver.requests_to(url)), bool, within=30
        )
        first.kill()  # SIGKILL: no clean shutdown, the attempt's outcome is never recorded
        assert await first.wait() == -9

        second = await start_worker(env, log)
        attempts = await eventually(
            lambda: db_pool.fetch(
                "SELECT attempt, status, response_code FROM delivery_attempts"
                " WHERE notification_id = $1 AND channel = 'webhook' ORDER BY attempt",
                notification_id,
            ),
            lambda rows: bool(rows) and rows[-1]["status"] == "delivered",
            within=30,
        )
    finally:
        for process in (first, second):
            if process is not None and process.returncode is None:
                process.terminate()
                await process.wait()
    await stop(dev_env.client, convention.id)

    received = webhook_receiver.requests_to(url)
    assert len(received) >= 2, log.read_text()
    assert all(r.verified for r in received), [r.error for r in received]
    assert {r.webhook_id for r in received} == {notification_id}, "the partner dedupes to one"
    assert len({r.body for r in received}) == 1, _differences(received[0].body, received[-1].body)
    assert received[-1].answered == 200
    # The dead worker's attempt stays 'sending': the log does not pretend to know its outcome.
    assert [(a["status"], a["response_code"]) for a in attempts] == [
        ("sending", None),
        ("delivered", 200),
    ]
    row = await db_pool.fetchrow(
        "SELECT status, attempts FROM deliveries"
        " WHERE notification_id = $1 AND channel = 'webhook'",
        notification_id,
    )
    assert (row["status"], row["attempts"]) == ("delivered", 2)


def _differences(first: bytes, last: bytes) -> list[str]:
    """Where two bodies differ, for a readable failure."""
    a, b = json.loads(first), json.loads(last)
    found = [f"{key}: {a.get(key)!r} != {b.get(key)!r}" for key in a if a.get(key) != b.get(key)]
    return found or [f"same JSON, different bytes: {first!r} {last!r}"]
