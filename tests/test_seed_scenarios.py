"""The five seed scenarios run end to end on the real dev server and PostgreSQL."""

from __future__ import annotations

import asyncpg
import pytest
from temporalio.client import Client

from application.scenarios import play_scenario, scenario_files
from schemas.convention_file import load_answer_script
from schemas.milestones import Milestone, MilestoneKind
from schemas.status import ConventionState
from tests.conftest import DEV_TASK_QUEUE, EXAMPLES, example

SCENARIOS = [convention_file.stem for convention_file, _ in scenario_files(EXAMPLES)]


def test_every_seed_article_has_a_scenario() -> None:
    assert sorted(SCENARIOS) == [
        "bamako-cooperation",
        "cycle-maalam",
        "mre-academy",
        "tamansourt-cite-des-metiers",
        "tanger-four-conventions",
    ]


async def stored_milestones(pool: asyncpg.Pool, convention_id: str) -> list[Milestone]:
    rows = await pool.fetch(
        "SELECT convention_id, seq, kind, stage, task_id, party, actor, occurred_at,"
        " summary, details FROM milestones WHERE convention_id = $1 ORDER BY seq",
        convention_id,
    )
    return [Milestone.model_validate(dict(row)) for row in rows]


@pytest.mark.parametrize("scenario", SCENARIOS)
async def test_seed_scenario_completes_and_postgres_holds_each_milestone_once(
    client: Client, db_pool: asyncpg.Pool, scenario: str
) -> None:
    convention = example(scenario)
    script = load_answer_script(EXAMPLES / f"{scenario}.answers.yaml")

    status = await play_scenario(client, DEV_TASK_QUEUE, convention, script)

    assert status.state is ConventionState.COMPLETED, status.reason
    kinds = [milestone.kind for milestone in status.milestones]
    assert kinds[0] is MilestoneKind.CONVENTION_STARTED
    assert kinds[-1] is MilestoneKind.CONVENTION_COMPLETED
    for spec in convention.stages:
        assert any(
            m.kind is MilestoneKind.STAGE_COMPLETED and m.stage == spec.stage
            for m in status.milestones
        ), spec.stage
    answered = {m.task_id for m in status.milestones if m.kind is MilestoneKind.TASK_ANSWERED}
    assert answered == {step.task for step in script.answers if step.follow_up is None}
    assert status.open_tasks == []

    stored = await stored_milestones(db_pool, convention.id)
    assert [m.seq for m in stored] == list(range(1, len(status.milestones) + 1))
    assert stored == [
        m.model_copy(update={"details": m.model_dump(mode="json")["details"]})
        for m in status.milestones
    ]
    duplicates = await db_pool.fetchval(
        "SELECT count(*) - count(DISTINCT (convention_id, seq)) FROM milestones"
        " WHERE convention_id = $1",
        convention.id,
    )
    assert duplicates == 0
