"""A worker SIGKILLed mid-stage, during its activities, is replaced: nothing lost or doubled.

The seed scenarios run side by side on a `python worker.py` subprocess while the partners
answer. Once every convention is under way, the test holds PostgreSQL's milestones table
(a SHARE lock: the worker's inserts wait inside their transactions), so that the worker is
caught with persist_milestone activities in flight; it is then killed with SIGKILL, the lock
released, and a new worker started. Temporal retries the lost attempts once their 30 s
start-to-close timeout has passed.
"""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import asyncpg
from temporalio.testing import WorkflowEnvironment

from application.scenarios import play_scenario, scenario_files
from devkit.polling import eventually
from devkit.stack import WorkerProcess, worker_environment
from schemas.convention import Convention, DiagnosticStage
from schemas.convention_file import AnswerScript, load_answer_script
from schemas.status import ConventionState, ConventionStatus
from tests.conftest import EXAMPLES, example
from tests.fault_stack import recorded_exactly_once, retried_activities

# Lost attempts are retried after PERSISTENCE_TIMEOUT (30 s); the rest takes seconds.
SCENARIO_SECONDS = 120.0

_WAITING_INSERTS = """
SELECT count(*) FROM pg_stat_activity
WHERE wait_event_type = 'Lock' AND query LIKE '%INSERT INTO milestones%'
"""


def scenarios() -> list[tuple[Convention, AnswerScript]]:
    """Every seed scenario under a fresh id."""
    return [
        (example(convention_file.stem), load_answer_script(answers_file))
        for convention_file, answers_file in scenario_files(EXAMPLES)
    ]


def every_convention_id(convention: Convention) -> list[str]:
    """The convention and the follow-up conventions its diagnostic starts."""
    return [convention.id] + [
        follow_up.id
        for spec in convention.stages
        if isinstance(spec, DiagnosticStage)
        for follow_up in spec.follow_ups
    ]


async def stored_rows(pool: asyncpg.Pool, convention_ids: list[str]) -> dict[str, int]:
    rows = await pool.fetch(
        "SELECT convention_id, count(*) AS n FROM milestones"
        " WHERE convention_id = ANY($1::text[]) GROUP BY convention_id",
        convention_ids,
    )
    return {row["convention_id"]: row["n"] for row in rows}


async def test_a_worker_killed_during_its_activities_is_replaced_and_every_convention_completes_with_each_milestone_once(  # noqa: E501
    dev_env: WorkflowEnvironment, db_pool: asyncpg.Pool, postgres_url: str, tmp_path: Path
) -> None:
    client = dev_env.client
    task_queue = f"faults-kill-{uuid.uuid4().hex[:8]}"
    env = worker_environment(client.service_client.config.target_host, postgres_url, task_queue)
    played = scenarios()
    main_ids = [convention.id for convention, _ in played]
    first = await WorkerProcess(env, tmp_path / "worker-1.log").start()
    second = WorkerProcess(env, tmp_path / "worker-2.log")
    players: list[asyncio.Task[ConventionStatus]] = []
    try:
        players = [
            asyncio.create_task(play_scenario(client, task_queue, convention, script, attempts=3))
            for convention, script in played
        ]
        # Mid-stage: every convention has milestones in PostgreSQL and is taking answers.
        await eventually(
            lambda: stored_rows(db_pool, main_ids),
            lambda counts: len(counts) == len(main_ids) and min(counts.values()) >= 4,
            within=60,
            what="every convention under way",
        )
        async with db_pool.acquire() as holder:
            hold = holder.transaction()
            await hold.start()
            try:
                await holder.execute("LOCK TABLE milestones IN SHARE MODE")
                waiting = await eventually(
                    lambda: db_pool.fetchval(_WAITING_INSERTS),
                    lambda count: count >= 2,
                    within=30,
                    what="the worker's milestone inserts waiting in PostgreSQL",
                )
                assert await first.kill() == -9
            finally:
                await hold.rollback()
        await second.start()

        statuses = await asyncio.wait_for(asyncio.gather(*players), SCENARIO_SECONDS)

        assert waiting >= 2, "the worker died with activities in flight"
        for (convention, _), status in zip(played, statuses, strict=True):
            assert status.state is ConventionState.COMPLETED, (status.reason, second.log_tail())
            for convention_id in every_convention_id(convention):
                await recorded_exactly_once(db_pool, client, convention_id)
        # The attempts the dead worker held were lost, and retried by the new one.
        everyone = [cid for convention, _ in played for cid in every_convention_id(convention)]
        retried = await retried_activities(client, everyone)
        written = retried.get("persist_milestone", 0) + retried.get("persist_milestones", 0)
        assert written >= waiting, retried
    finally:
        for player in players:
            player.cancel()
        await first.stop()
        await second.stop()
