"""The file-backed Temporal dev server stopped and started again while conventions wait on
their partners: they carry on from where they were, in the same runs, nothing lost or doubled.

The test has a dev server of its own (a free port, its SQLite file in the test's directory)
and a `python worker.py` subprocess on it; PostgreSQL is the session's.
"""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import asyncpg
from temporalio.client import Client

from application.conventions import answer_open_task, start_convention
from application.scenarios import play_scenario
from devkit.stack import PrivateTemporal, WorkerProcess, client_for, free_port, worker_environment
from infra.embedded import port_open
from schemas.convention import Convention
from schemas.convention_file import AnswerScript
from schemas.milestones import MilestoneKind
from schemas.status import ConventionState, ConventionStatus
from tests.cli_runner import settled_status, status_when
from tests.fault_stack import recorded_exactly_once
from tests.test_faults_worker_killed import every_convention_id, scenarios
from workflows.convention import workflow_id_for

SCENARIO_SECONDS = 90.0


async def answer_first_half(
    client: Client, task_queue: str, convention: Convention, script: AnswerScript
) -> list[str]:
    """Start the convention and give the first half of its own answers; return their tasks."""
    await start_convention(client, convention, task_queue)
    own = [step for step in script.answers if step.follow_up is None]
    given = own[: len(own) // 2]
    for step in given:
        await answer_open_task(
            client,
            convention.id,
            step.task,
            step.acting_party,
            step.answer,
            actor=step.actor,
            wait_seconds=30,
        )
    return [step.task for step in given]


async def at_rest(
    client: Client, pool: asyncpg.Pool, convention_id: str, answered: list[str]
) -> ConventionStatus:
    """The status once every answer given is recorded (a stage records an accepted answer
    when it gets to it) and PostgreSQL holds every milestone."""
    await status_when(
        client,
        convention_id,
        lambda status: (
            set(answered)
            <= {m.task_id for m in status.milestones if m.kind is MilestoneKind.TASK_ANSWERED}
        ),
        wait_seconds=30,
    )
    return await settled_status(client, pool, convention_id)


async def run_id(client: Client, convention_id: str) -> str:
    return (await client.get_workflow_handle(workflow_id_for(convention_id)).describe()).run_id


async def test_conventions_waiting_on_partners_carry_on_from_where_they_were_after_temporal_restarts(  # noqa: E501
    db_pool: asyncpg.Pool, postgres_url: str, tmp_path: Path
) -> None:
    temporal = PrivateTemporal(tmp_path / "temporal", free_port())
    address = await temporal.start()
    client = await client_for(address)
    task_queue = f"faults-temporal-{uuid.uuid4().hex[:8]}"
    worker = WorkerProcess(
        worker_environment(address, postgres_url, task_queue), tmp_path / "worker.log"
    )
    await worker.start()
    played = scenarios()
    try:
        given = await asyncio.gather(
            *(
                answer_first_half(client, task_queue, convention, script)
                for convention, script in played
            )
        )
        assert sum(map(len, given)) > 0
        before: dict[str, ConventionStatus] = {}
        runs: dict[str, str] = {}
        for (convention, _), answered in zip(played, given, strict=True):
            before[convention.id] = await at_rest(client, db_pool, convention.id, answered)
            assert before[convention.id].state is ConventionState.ACTIVE
            assert before[convention.id].open_tasks, "waiting on partners"
            runs[convention.id] = await run_id(client, convention.id)

        await temporal.stop()
        assert not port_open(temporal.port)
        await asyncio.sleep(2)  # the worker polls a server that is gone
        assert worker.alive, worker.log_tail()
        await temporal.start()

        statuses = await asyncio.wait_for(
            asyncio.gather(
                *(
                    play_scenario(client, task_queue, convention, script, attempts=3)
                    for convention, script in played
                )
            ),
            SCENARIO_SECONDS,
        )

        assert worker.alive, worker.log_tail()
        for (convention, _), status in zip(played, statuses, strict=True):
            assert status.state is ConventionState.COMPLETED, (status.reason, worker.log_tail())
            assert await run_id(client, convention.id) == runs[convention.id], "the same run"
            earlier = before[convention.id].milestones
            assert status.milestones[: len(earlier)] == earlier, "carried on, not started over"
            for convention_id in every_convention_id(convention):
                await recorded_exactly_once(db_pool, client, convention_id)
    finally:
        await worker.stop()
        await temporal.stop()
