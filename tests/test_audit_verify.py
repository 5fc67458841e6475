"""PostgreSQL's milestones against the history and their hash chain: a tampered row is named.

Each tampering is done the way someone with write access to the database would: an UPDATE,
a DELETE, an INSERT, by hand, after the fact.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime
from itertools import pairwise

import asyncpg
import pytest
import pytest_asyncio
from temporalio.client import Client
from temporalio.testing import ActivityEnvironment, WorkflowEnvironment

from activities.milestones import MilestoneStore
from application.scenarios import play_scenario
from auditing.histories import TemporalHistories
from auditing.verify import chain_findings, verify_convention
from records.chain import GENESIS_HASH, chain_hash, milestone_fields
from schemas.audit import VerifyProblem, VerifyReport
from schemas.convention import Convention
from schemas.convention_file import load_answer_script
from schemas.milestones import Milestone, MilestoneKind
from storage.milestones import PredecessorMissing
from tests.conftest import DEV_TASK_QUEUE, EXAMPLES, PlayedScenario, example
from tests.test_audit_replay import run_cli, stack_env

ROWS = "SELECT * FROM milestones WHERE convention_id = $1 ORDER BY seq"


@pytest_asyncio.fixture(scope="module")
async def tampered(dev_env: WorkflowEnvironment, db_pool: asyncpg.Pool) -> dict[str, Convention]:
    """Three copies of the Cycle Maalam scenario, played to completion, then tampered with."""
    conventions = {name: example("cycle-maalam") for name in ("edited", "deleted", "extra")}
    script = load_answer_script(EXAMPLES / "cycle-maalam.answers.yaml")
    await asyncio.gather(
        *(
            play_scenario(dev_env.client, DEV_TASK_QUEUE, convention, script)
            for convention in conventions.values()
        )
    )
    await _edit(db_pool, conventions["edited"].id)
    await _delete(db_pool, conventions["deleted"].id)
    await _insert_extra(db_pool, conventions["extra"].id)
    return conventions


async def _edit(pool: asyncpg.Pool, convention_id: str) -> None:
    await pool.execute(
        "UPDATE milestones SET summary = summary || ' (corrigé)' WHERE convention_id = $1 "
        "AND seq = 3",
        convention_id,
    )
    await pool.execute(
        "UPDATE milestones SET details = jsonb_set(details, '{kind}', '\"forged\"') "
        "WHERE convention_id = $1 AND seq = 5",
        convention_id,
    )


async def _delete(pool: asyncpg.Pool, convention_id: str) -> None:
    await pool.execute("DELETE FROM milestones WHERE convention_id = $1 AND seq = 4", convention_id)


async def _insert_extra(pool: asyncpg.Pool, convention_id: str) -> None:
    """A row after the last, with a hash forged right; another after it, with none."""
    last = (await pool.fetch(ROWS, convention_id))[-1]
    forged = dict(last) | {
        "seq": last["seq"] + 1,
        "kind": MilestoneKind.FUNDING_DECIDED.value,
        "summary": "Financement complémentaire accordé",
        "prev_hash": last["hash"],
    }
    forged["hash"] = chain_hash(last["hash"], forged)  # whoever forges knows the algorithm
    unhashed = forged | {"seq": last["seq"] + 2, "prev_hash": None, "hash": None}
    for row in (forged, unhashed):
        await pool.execute(
            "INSERT INTO milestones (convention_id, seq, kind, stage, task_id, party, actor,"
            " occurred_at, summary, details, workflow_id, run_id, prev_hash, hash)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
            *(row[column] for column in INSERTED_COLUMNS),
        )


async def verify(client: Client, pool: asyncpg.Pool, convention_id: str) -> VerifyReport:
    source = TemporalHistories(client)
    return await verify_convention(
        pool, convention_id, await source.history(convention_id), source.description
    )


def named(report: VerifyReport) -> set[tuple[int | None, VerifyProblem, str | None]]:
    return {(f.seq, f.problem, f.field) for f in report.findings}


async def test_every_seed_scenario_agrees_with_its_history_and_its_chain_is_intact(
    client: Client, db_pool: asyncpg.Pool, played_scenarios: dict[str, PlayedScenario]
) -> None:
    for scenario in played_scenarios.values():
        report = await verify(client, db_pool, scenario.convention.id)

        assert report.ok, report.findings
        assert report.rows == report.history_milestones > 10
        assert report.pending_milestones == 0
        rows = await db_pool.fetch(ROWS, scenario.convention.id)
        assert rows[0]["prev_hash"] == GENESIS_HASH
        assert all(row["prev_hash"] == before["hash"] for before, row in pairwise(rows))


async def test_an_edited_row_is_named_with_the_field_that_changed(
    client: Client, db_pool: asyncpg.Pool, tampered: dict[str, Convention]
) -> None:
    convention_id = tampered["edited"].id

    report = await verify(client, db_pool, convention_id)

    assert named(report) == {
        (3, VerifyProblem.DIFFERENT, "summary"),
        (3, VerifyProblem.HASH_MISMATCH, "hash"),
        (5, VerifyProblem.DIFFERENT, "details"),
        (5, VerifyProblem.HASH_MISMATCH, "hash"),
    }
    edited = next(f for f in report.findings if f.field == "summary")
    assert edited.found == edited.expected + " (corrigé)"
    assert edited.message.startswith(f"{convention_id} #3 summary: PostgreSQL has ")


async def test_a_deleted_row_is_named_and_breaks_the_chain_after_it(
    client: Client, db_pool: asyncpg.Pool, tampered: dict[str, Convention]
) -> None:
    report = await verify(client, db_pool, tampered["deleted"].id)

    assert named(report) == {
        (4, VerifyProblem.MISSING, None),
        (5, VerifyProblem.CHAIN_BROKEN, "prev_hash"),
    }


async def test_an_extra_row_is_named_even_with_a_well_forged_hash(
    client: Client, db_pool: asyncpg.Pool, tampered: dict[str, Convention]
) -> None:
    report = await verify(client, db_pool, tampered["extra"].id)

    # The chain cannot tell a well-forged row from a real one; the history can.
    last = report.history_milestones
    assert named(report) == {
        (last + 1, VerifyProblem.EXTRA, None),
        (last + 2, VerifyProblem.EXTRA, None),
        (last + 2, VerifyProblem.UNCHAINED, None),
    }


INSERTED_COLUMNS = (
    "convention_id",
    "seq",
    "kind",
    "stage",
    "task_id",
    "party",
    "actor",
    "occurred_at",
    "summary",
    "details",
    "workflow_id",
    "run_id",
    "prev_hash",
    "hash",
)


async def test_the_cli_names_each_tampered_row_and_exits_1(
    dev_env: WorkflowEnvironment,
    postgres_url: str,
    tampered: dict[str, Convention],
    played_scenarios: dict[str, PlayedScenario],
) -> None:
    env = stack_env(dev_env, postgres_url)
    intact = played_scenarios["tamansourt-cite-des-metiers"].convention.id

    (bad_code, bad_out, _), (ok_code, ok_out, _), (json_code, json_out, _) = await asyncio.gather(
        run_cli("verify", tampered["edited"].id, tampered["deleted"].id, env=env),
        run_cli("verify", intact, env=env),
        run_cli("verify", "--json", tampered["extra"].id, env=env),
    )

    assert bad_code == 1
    lines = bad_out.splitlines()
    assert any(f"{tampered['edited'].id} #3 summary: PostgreSQL has" in line for line in lines)
    assert any(f"{tampered['deleted'].id} #4: missing from PostgreSQL" in line for line in lines)
    assert all(line.startswith("FAIL  ") for line in lines)
    assert (ok_code, ok_out.split()[:2]) == (0, ["ok", intact])
    assert json_code == 1
    report = VerifyReport.model_validate(json.loads(json_out))
    assert {f.problem for f in report.findings} == {VerifyProblem.EXTRA, VerifyProblem.UNCHAINED}


def milestone(convention_id: str, seq: int, summary: str = "Étape – مرحلة") -> Milestone:
    return Milestone(
        convention_id=convention_id,
        seq=seq,
        kind=MilestoneKind.PROGRESS_REPORTED,
        stage="implementation",
        party="ofppt",
        occurred_at=datetime(2024, 3, seq, 9, 30, 0, 123456, tzinfo=UTC),
        summary=summary,
        details={"actuals": {"trainees": 120.0, "budget": 1e20}, "reached": ["m1"]},
    )


@pytest.fixture
def store(db_pool: asyncpg.Pool) -> MilestoneStore:
    return MilestoneStore(db_pool)


async def test_a_retried_milestone_leaves_the_chain_as_it_was(
    db_pool: asyncpg.Pool, store: MilestoneStore
) -> None:
    convention_id = f"chain-{uuid.uuid4().hex[:8]}"
    activities = ActivityEnvironment()

    written = [
        await activities.run(store.persist_milestone, milestone(convention_id, seq))
        for seq in (1, 2, 2, 3, 1)
    ]

    assert written == [True, True, False, True, False]
    rows = {row["seq"]: dict(row) for row in await db_pool.fetch(ROWS, convention_id)}
    assert sorted(rows) == [1, 2, 3]
    assert rows[1]["prev_hash"] == GENESIS_HASH
    assert (
        rows[3]["prev_hash"]
        == rows[2]["hash"]
        == chain_hash(rows[1]["hash"], milestone_fields(milestone(convention_id, 2)))
    )
    # Read back from jsonb (1e20 comes back an integer), the hash is the same.
    assert chain_findings(convention_id, rows) == []
    report = await verify_convention(db_pool, convention_id, None, "no history")
    assert named(report) == {(None, VerifyProblem.NO_HISTORY, None)}


async def test_a_milestone_waits_for_its_predecessor_before_it_is_chained(
    db_pool: asyncpg.Pool, store: MilestoneStore
) -> None:
    convention_id = f"chain-{uuid.uuid4().hex[:8]}"
    activities = ActivityEnvironment()

    with pytest.raises(PredecessorMissing, match=f"{convention_id}#1 is not in PostgreSQL"):
        await activities.run(store.persist_milestone, milestone(convention_id, 2))
    assert await db_pool.fetch(ROWS, convention_id) == []

    # Temporal retries: once #1 is in, #2 chains to it.
    assert await activities.run(store.persist_milestone, milestone(convention_id, 1))
    assert await activities.run(store.persist_milestone, milestone(convention_id, 2))
    rows = await db_pool.fetch(ROWS, convention_id)
    assert rows[1]["prev_hash"] == rows[0]["hash"]


async def test_a_row_from_before_the_chain_is_reported_and_the_chain_starts_again_after_it(
    db_pool: asyncpg.Pool, store: MilestoneStore
) -> None:
    convention_id = f"chain-{uuid.uuid4().hex[:8]}"
    legacy = milestone_fields(milestone(convention_id, 1))
    await db_pool.execute(
        "INSERT INTO milestones (convention_id, seq, kind, stage, task_id, party, actor,"
        " occurred_at, summary, details, workflow_id, run_id)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'wf', 'run')",
        *(legacy[column] for column in INSERTED_COLUMNS[:10]),
    )

    await ActivityEnvironment().run(store.persist_milestone, milestone(convention_id, 2))

    rows = {row["seq"]: dict(row) for row in await db_pool.fetch(ROWS, convention_id)}
    assert rows[2]["prev_hash"] == GENESIS_HASH
    assert {(f.seq, f.problem) for f in chain_findings(convention_id, rows)} == {
        (1, VerifyProblem.UNCHAINED)
    }
