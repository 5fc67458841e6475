"""PostgreSQL down for 20 seconds in the middle of the scenarios: activities retry, the worker
stays up, and every milestone lands once when the database is back.

The test has a PostgreSQL of its own (the session's is shared with every other test) and a
`python worker.py` subprocess on it. Persist activities retry from 1 s, doubling, up to a
minute apart (PERSISTENCE_RETRY), so after a 20 s outage the next attempt may come up to
16 s later: the scenarios are given time for that.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path

import asyncpg
from temporalio.testing import WorkflowEnvironment

from application.scenarios import play_scenario
from devkit.polling import eventually
from devkit.stack import PrivatePostgres, WorkerProcess, worker_environment
from infra.database import create_pool
from schemas.status import ConventionState, ConventionStatus
from tests.fault_stack import recorded_exactly_once, retried_activities
from tests.test_faults_worker_killed import every_convention_id, scenarios, stored_rows

OUTAGE_SECONDS = 20.0
# After the outage: up to 16 s until the next attempt, then the rest of the answers.
RECOVERY_SECONDS = 90.0


async def test_postgres_down_for_twenty_seconds_mid_scenario_loses_and_doubles_no_milestone(
    dev_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    client = dev_env.client
    postgres = PrivatePostgres(tmp_path / "pacte-state")
    database_url = await postgres.start()
    task_queue = f"faults-pg-{uuid.uuid4().hex[:8]}"
    env = worker_environment(client.service_client.config.target_host, database_url, task_queue)
    worker = await WorkerProcess(env, tmp_path / "worker.log").start()
    played = scenarios()
    main_ids = [convention.id for convention, _ in played]
    players: list[asyncio.Task[ConventionStatus]] = []
    pool: asyncpg.Pool | None = None
    try:
        pool = await eventually(
            lambda: _migrated_pool(database_url),
            lambda ready: ready is not None,
            within=30,
            what="the worker's migrations",
        )
        assert pool is not None
        players = [
            asyncio.create_task(play_scenario(client, task_queue, convention, script, attempts=3))
            for convention, script in played
        ]
        await eventually(
            lambda: stored_rows(pool, main_ids),
            lambda counts: len(counts) == len(main_ids) and min(counts.values()) >= 4,
            within=60,
            what="every convention under way",
        )
        await pool.close()

        await postgres.stop()
        down_at = time.monotonic()
        while time.monotonic() - down_at < OUTAGE_SECONDS:
            assert worker.alive, worker.log_tail()
            assert not [p.exception() for p in players if p.done() and p.exception()]
            await asyncio.sleep(1)
        assert await postgres.start() == database_url, "same data directory, same socket"
        pool = await create_pool(database_url)
        back_at = await pool.fetchval("SELECT now()")

        statuses = await asyncio.wait_for(asyncio.gather(*players), RECOVERY_SECONDS)

        assert worker.alive, worker.log_tail()
        for (convention, _), status in zip(played, statuses, strict=True):
            assert status.state is ConventionState.COMPLETED, (status.reason, worker.log_tail())
            for convention_id in every_convention_id(convention):
                await recorded_exactly_once(pool, client, convention_id)
        # Writes failed during the outage and were retried; milestones landed after it.
        written_after = await pool.fetchval(
            "SELECT count(*) FROM milestones WHERE recorded_at >= $1", back_at
        )
        assert written_after > 0
        everyone = [cid for convention, _ in played for cid in every_convention_id(convention)]
        retried = await retried_activities(client, everyone)
        assert sum(retried.values()) >= 1, retried
    finally:
        for player in players:
            player.cancel()
        await worker.stop()
        if pool is not None:
            await pool.close()
        await postgres.stop()


async def _migrated_pool(database_url: str) -> asyncpg.Pool | None:
    """A pool once the worker has migrated the database, else None."""
    pool = await create_pool(database_url)
    if await pool.fetchval("SELECT to_regclass('milestones') IS NOT NULL"):
        return pool
    await pool.close()
    return None
