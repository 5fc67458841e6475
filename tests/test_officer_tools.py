"""The officers' tools, run as an officer runs them (`python starter.py …`, a fresh process):
listing by parent and by state as Temporal itself sees it, a parent that must exist, a long
answer from a file or stdin, why a task cannot be answered, the history limit, and a
convention that can always be ended — even when its workflow cannot move.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import pytest
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from application.conventions import (
    end_convention,
    start_convention,
    task_lookup,
    why_not_open,
)
from auditing.verify import chain_findings
from devkit.programs import PYTHON
from infra.settings import PROJECT_ROOT
from schemas.convention import Convention
from schemas.milestones import Milestone, MilestoneKind
from schemas.officer_actions import TerminateConvention
from schemas.status import ConventionInput, ConventionState, TaskLookup
from schemas.tasks import TaskStatus
from storage.milestones import chain_milestone
from tests.cli_runner import CliRun, cli_env, run_cli, settled_status, write_convention
from tests.conftest import DEV_TASK_QUEUE, example
from workflows import visibility
from workflows.convention import workflow_id_for

PSA_REVIEW = "drafting.review.v1.psa"
MIC_REVIEW = "drafting.review.v1.mic"


@pytest.fixture
def env(dev_env: WorkflowEnvironment, postgres_url: str) -> dict[str, str]:
    return cli_env(dev_env, postgres_url)


async def _listed_until(
    env: Mapping[str, str], args: tuple[str, ...], done: Callable[[CliRun], bool]
) -> CliRun:
    """`list …` until its output satisfies `done` (visibility is eventually consistent)."""
    for _ in range(60):
        run = await run_cli("list", *args, env=env)
        if run.code != 0 or done(run):
            return run
        await asyncio.sleep(0.25)
    return run


def _line_of(run: CliRun, convention_id: str) -> str:
    [line] = [line for line in run.stdout.splitlines() if line.split()[0] == convention_id]
    return line


async def _stdin_cli(*args: str, stdin: bytes, env: Mapping[str, str]) -> CliRun:
    """`python starter.py ARGS…` with `stdin` piped in."""
    process = await asyncio.create_subprocess_exec(
        PYTHON,
        "starter.py",
        *args,
        cwd=PROJECT_ROOT,
        env=dict(env),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(stdin), 60)
    assert process.returncode is not None
    return CliRun(args, process.returncode, stdout.decode(), stderr.decode())


# --- start: the parent, the history limit ------------------------------------------------


async def test_start_refuses_a_parent_unknown_to_temporal_unless_allowed_then_lists_by_parent(
    client: Client, env: dict[str, str], tmp_path: Path
) -> None:
    framework = example("cycle-maalam")
    specific = example("tamansourt-cite-des-metiers").model_copy(update={"parent": framework.id})
    file = write_convention(specific, tmp_path / "specific.yaml")

    refused = await run_cli("start", str(file), env=env)

    assert refused.code == 1, refused
    assert refused.stdout == "", refused
    assert refused.stderr_lines == [
        f"refused: parent: convention {framework.id!r} is not known to Temporal (no workflow "
        f"convention-{framework.id}); start it first, or pass --allow-missing-parent to start "
        "this one unlinked"
    ], refused

    await start_convention(client, framework, DEV_TASK_QUEUE)
    started = await run_cli("start", str(file), env=env)
    assert started.code == 0, started

    orphan = example("mre-academy")  # its parent, mre-academy-cadre-2020, never ran here
    orphan_file = write_convention(orphan, tmp_path / "orphan.yaml")
    allowed = await run_cli("start", "--allow-missing-parent", str(orphan_file), env=env)
    assert allowed.code == 0, allowed
    assert allowed.stdout == f"convention-{orphan.id}\n", allowed

    listed = await _listed_until(
        env, ("--parent", framework.id), lambda run: specific.id in run.stdout
    )
    assert listed.code == 0, listed
    assert [line.split()[0] for line in listed.stdout.splitlines()] == [specific.id], listed
    for convention_id in (framework.id, specific.id, orphan.id):
        await client.get_workflow_handle(workflow_id_for(convention_id)).terminate("fin du test")


async def test_start_history_limit_reaches_the_workflow_and_a_low_one_is_a_usage_error(
    client: Client, env: dict[str, str], tmp_path: Path
) -> None:
    convention = example("cycle-maalam")
    file = write_convention(convention, tmp_path / "limited.yaml")

    too_low = await run_cli("start", "--history-limit", "49", str(file), env=env)
    assert too_low.code == 2, too_low
    assert "Traceback" not in too_low.stderr
    assert too_low.stderr_lines[-1].endswith("49 is below 50, the smallest history limit")

    started = await run_cli("start", "--history-limit", "500", str(file), env=env)
    assert started.code == 0, started
    handle = client.get_workflow_handle(workflow_id_for(convention.id))
    history = await handle.fetch_history()
    payloads = history.events[0].workflow_execution_started_event_attributes.input.payloads
    [given] = pydantic_data_converter.payload_converter.from_payloads(
        list(payloads), [ConventionInput]
    )
    assert given.history_limit == 500
    await handle.terminate("fin du test")


# --- list: states as Temporal has them, malformed queries ----------------------------------


async def test_list_and_status_show_temporal_own_status_for_a_convention_ended_outside_pacte(
    client: Client, db_pool: asyncpg.Pool, env: dict[str, str]
) -> None:
    convention = example("tanger-four-conventions")
    await start_convention(client, convention, DEV_TASK_QUEUE)
    await settled_status(client, db_pool, convention.id, wait_seconds=30)
    active = await _listed_until(
        env, ("--state", "active"), lambda run: convention.id in run.stdout
    )
    assert convention.id in active.stdout, active

    # As `temporal workflow terminate` does: the workflow never learns it, its attribute
    # ConventionState stays `active`.
    handle = client.get_workflow_handle(workflow_id_for(convention.id))
    await handle.terminate(reason="terminated outside Pacte")

    listed = await _listed_until(
        env, (), lambda run: "terminated" in _line_of(run, convention.id).split()
    )
    assert listed.code == 0, listed
    assert _line_of(listed, convention.id).split()[1] == "terminated", listed
    still_active = await _listed_until(
        env, ("--state", "active"), lambda run: convention.id not in run.stdout
    )
    assert convention.id not in still_active.stdout, still_active
    terminated = await _listed_until(
        env, ("--state", "terminated"), lambda run: convention.id in run.stdout
    )
    assert convention.id in terminated.stdout, terminated

    status = await run_cli("status", convention.id, env=env)
    assert status.code == 0, status
    assert "state: terminated (in Temporal; the workflow last said active)" in status.stdout


@pytest.mark.parametrize(
    "query", ["ConventionStage = ", "NoSuchAttribute = 'x'", "WorkflowId = 'a' AND AND"]
)
async def test_a_malformed_query_is_one_line_and_a_usage_error(
    query: str, env: dict[str, str]
) -> None:
    run = await run_cli("list", "--query", query, env=env)

    assert run.code == 2, run
    assert run.stdout == "", run
    assert len(run.stderr_lines) == 1, run
    assert run.stderr.startswith("usage: --query: Temporal refused the query: "), run


async def test_list_state_is_one_of_the_convention_states(env: dict[str, str]) -> None:
    run = await run_cli("list", "--state", "running", env=env)

    assert run.code == 2, run
    assert "invalid choice: 'running'" in run.stderr, run
    assert "Traceback" not in run.stderr, run


# --- act: a long answer from a file or stdin; why a task is not open ----------------------


async def test_act_reads_the_answer_from_a_file_or_from_stdin(
    client: Client, env: dict[str, str], tmp_path: Path
) -> None:
    convention = example("tanger-four-conventions")
    await start_convention(client, convention, DEV_TASK_QUEUE)
    long_comments = "Article 4 : « dans la mesure du possible ». " * 90  # ~4,000 characters
    answer_file = tmp_path / "review.yaml"
    answer_file.write_text(
        f"decision: approve\nversion: 1\ncomments: {json.dumps(long_comments[:3_990])}\n",
        encoding="utf-8",
    )
    await _wait_open(client, convention.id, PSA_REVIEW)
    await _wait_open(client, convention.id, MIC_REVIEW)

    from_file = await run_cli(
        "act", convention.id, PSA_REVIEW, "--as", "psa", "--answer-file", str(answer_file), env=env
    )
    from_stdin = await _stdin_cli(
        "act",
        convention.id,
        MIC_REVIEW,
        "--as",
        "mic",
        "--answer-file",
        "-",
        stdin=json.dumps({"decision": "approve", "version": 1}).encode(),
        env=env,
    )

    assert from_file.code == 0, from_file
    assert from_file.stdout.startswith(f"accepted: {PSA_REVIEW} at "), from_file
    assert from_stdin.code == 0, from_stdin
    assert from_stdin.stdout.startswith(f"accepted: {MIC_REVIEW} at "), from_stdin
    lookup = await task_lookup(client, convention.id, PSA_REVIEW)
    assert lookup.task is not None and lookup.task.status is TaskStatus.DONE
    await client.get_workflow_handle(workflow_id_for(convention.id)).terminate("fin du test")


async def _wait_open(client: Client, convention_id: str, task_id: str) -> None:
    for _ in range(200):
        lookup = await task_lookup(client, convention_id, task_id)
        if lookup.task is not None and lookup.task.status is TaskStatus.OPEN:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"{task_id} never opened")


async def test_act_on_a_task_that_is_not_open_says_why(client: Client, env: dict[str, str]) -> None:
    convention = example("tanger-four-conventions")
    await start_convention(client, convention, DEV_TASK_QUEUE)
    await _wait_open(client, convention.id, PSA_REVIEW)
    await _wait_open(client, convention.id, MIC_REVIEW)
    changes = await run_cli(
        "act",
        convention.id,
        PSA_REVIEW,
        "--as",
        "psa",
        "--actor",
        "Rémi Cabon",
        "--decision",
        "request_changes",
        "--version",
        "1",
        "--comments",
        "Article 3 à revoir",
        env=env,
    )
    assert changes.code == 0, changes
    for _ in range(200):  # a request for changes cancels the round's other reviews
        mic = await task_lookup(client, convention.id, MIC_REVIEW)
        if mic.task is not None and mic.task.status is TaskStatus.CANCELLED:
            break
        await asyncio.sleep(0.1)

    again = await run_cli(
        "act", convention.id, PSA_REVIEW, "--as", "psa", "--decision", "approve", env=env
    )
    cancelled = await run_cli(
        "act", convention.id, MIC_REVIEW, "--as", "mic", "--decision", "approve", env=env
    )
    unknown = await run_cli(
        "act",
        convention.id,
        "drafting.review.v9.psa",
        "--as",
        "psa",
        "--decision",
        "approve",
        env=env,
    )

    prefix = f"refused: convention {convention.id}"
    for run in (again, cancelled, unknown):
        assert run.code == 1, run
        assert run.stderr_lines[0] == prefix, run
        assert len(run.stderr_lines) == 2, run
    assert again.stderr_lines[1].startswith(
        f"  task: no open task '{PSA_REVIEW}': already answered by "
    ), again
    assert " at 20" in again.stderr_lines[1], again
    assert cancelled.stderr_lines[1].startswith(
        f"  task: no open task '{MIC_REVIEW}': cancelled ("
    ), cancelled
    assert unknown.stderr_lines[1] == (
        "  task: no open task 'drafting.review.v9.psa': unknown in this convention "
        "(open tasks: drafting.revise.v2)"
    ), unknown
    await client.get_workflow_handle(workflow_id_for(convention.id)).terminate("fin du test")


async def test_act_on_a_later_sequential_signature_says_whose_signature_it_waits_for(
    client: Client, env: dict[str, str]
) -> None:
    base = example("mre-academy")
    signature = next(spec for spec in base.stages if spec.stage == "signature")
    convention = base.model_copy(update={"stages": [signature], "parent": None})
    await start_convention(client, convention, DEV_TASK_QUEUE)
    await _wait_open(client, convention.id, "signature.sign.ofppt-dg")

    run = await run_cli(
        "act",
        convention.id,
        "signature.sign.dmk-representant",
        "--as",
        "dmk",
        "--decision",
        "sign",
        env=env,
    )

    assert run.code == 1, run
    assert run.stderr_lines == [
        f"refused: convention {convention.id}",
        "  task: no open task 'signature.sign.dmk-representant': not open yet (waiting for "
        "the earlier signature of Loubna Tricha)",
    ], run
    await client.get_workflow_handle(workflow_id_for(convention.id)).terminate("fin du test")


def test_a_task_of_a_closed_convention_says_the_convention_is_closed() -> None:
    closed = TaskLookup(task_id="x", convention_state=ConventionState.COMPLETED)

    assert why_not_open(closed) == "no open task 'x': the convention is completed"


# --- terminate: always possible, even on a convention whose workflow cannot move ------------


def _stuck(convention: Convention) -> str:
    """A task queue no worker polls: the workflow's first workflow task never runs."""
    return f"pacte-no-worker-{convention.id}-{uuid.uuid4().hex[:6]}"


async def test_terminate_of_a_convention_no_worker_runs_falls_back_to_temporal_and_records_it(
    client: Client, db_pool: asyncpg.Pool, env: dict[str, str]
) -> None:
    # Reproduced: a ConventionWorkflow started on a task queue with no worker. Its workflow
    # task is never picked up, so the terminate update is not answered: the CLI's update
    # times out (15 s) and it falls back to Temporal's own terminate.
    convention = example("tanger-four-conventions")
    await start_convention(client, convention, _stuck(convention))
    await asyncio.sleep(6)  # past UNSCHEDULED_WORKFLOW_TASK: the workflow task is overdue

    status = await run_cli("status", convention.id, env=env)
    assert status.code == 3, status
    assert status.stdout == "", status
    [line] = status.stderr_lines
    assert line.startswith(f"stuck: convention {convention.id}: no worker polls task queue "), line

    ended = await run_cli(
        "terminate",
        convention.id,
        "--reason",
        "Partenaire dissous",
        "--officer",
        "A. Idrissi",
        env=env,
    )

    assert ended.code == 0, ended
    assert "Traceback" not in ended.stderr, ended
    fallback, receipt = ended.stdout.splitlines()
    assert fallback.startswith("terminate: the workflow could not take the update ("), ended
    assert "Temporal terminated" in fallback and "milestone #1 convention_terminated" in fallback
    assert receipt.startswith(f"terminate: {convention.id} at "), ended
    handle = client.get_workflow_handle(workflow_id_for(convention.id))
    description = await handle.describe()
    assert description.status is WorkflowExecutionStatus.TERMINATED
    history = await handle.fetch_history()
    reason = history.events[-1].workflow_execution_terminated_event_attributes.reason
    assert reason.startswith("Partenaire dissous (terminated by A. Idrissi through Temporal: ")
    rows = await db_pool.fetch(
        "SELECT * FROM milestones WHERE convention_id = $1 ORDER BY seq", convention.id
    )
    [row] = rows
    assert (row["seq"], row["kind"], row["actor"]) == (
        1,
        MilestoneKind.CONVENTION_TERMINATED.value,
        "A. Idrissi",
    )
    assert row["run_id"] == description.run_id
    assert row["details"]["reason"] == "Partenaire dissous"
    assert chain_findings(convention.id, {r["seq"]: dict(r) for r in rows}) == []
    # The auditors' check accepts it: its run's terminate event carries the same reason.
    verified = await _audit("verify", convention.id, env=env)
    assert verified.code == 0, verified

    listed = await _listed_until(
        env, ("--state", "terminated"), lambda run: convention.id in run.stdout
    )
    assert convention.id in listed.stdout, listed


async def test_terminate_falls_back_after_prior_milestones_and_chains_after_the_last(
    client: Client, db_pool: asyncpg.Pool
) -> None:
    # A convention that ran, then lost its worker (its task queue is no longer polled): the
    # termination milestone is chained after the last one the workflow wrote.
    convention = example("tanger-four-conventions")
    await start_convention(client, convention, DEV_TASK_QUEUE)
    before = await settled_status(client, db_pool, convention.id, wait_seconds=30)
    await client.get_workflow_handle(workflow_id_for(convention.id)).terminate("copied below")
    stuck = convention.model_copy(update={"id": f"{convention.id}-b"})
    await start_convention(client, stuck, _stuck(stuck))
    await _copy_rows(db_pool, convention.id, stuck.id, before.milestone_count)

    ended = await end_convention(
        client,
        stuck.id,
        TerminateConvention(reason="Plus de worker"),
        db_pool,
        update_timeout=timedelta(seconds=2),
    )

    assert ended.by_temporal is not None and "not answered in time" in ended.by_temporal
    assert ended.milestone_seq == before.milestone_count + 1
    rows = await db_pool.fetch(
        "SELECT * FROM milestones WHERE convention_id = $1 ORDER BY seq", stuck.id
    )
    assert [r["seq"] for r in rows] == list(range(1, before.milestone_count + 2))
    assert chain_findings(stuck.id, {r["seq"]: dict(r) for r in rows}) == []
    assert ended.receipt.applied_at <= datetime.now(UTC)


async def _copy_rows(pool: asyncpg.Pool, source: str, target: str, count: int) -> None:
    """Give `target` the chained record of `source` (same fields, re-chained under its id)."""
    rows = await pool.fetch(
        "SELECT * FROM milestones WHERE convention_id = $1 AND seq <= $2 ORDER BY seq",
        source,
        count,
    )
    for row in rows:
        milestone = Milestone(
            convention_id=target,
            seq=row["seq"],
            kind=row["kind"],
            stage=row["stage"],
            task_id=row["task_id"],
            party=row["party"],
            actor=row["actor"],
            occurred_at=row["occurred_at"],
            summary=row["summary"],
            details=row["details"],
        )
        await chain_milestone(pool, milestone, workflow_id=workflow_id_for(target), run_id="r")


def test_visibility_keeps_the_training_office_first_within_the_byte_budget() -> None:
    base = example("cycle-maalam")
    office = base.office
    others = [
        office.model_copy(update={"id": f"p{index:02d}-" + "x" * 76, "kind": "company"})
        for index in range(49)
    ]
    convention = base.model_copy(update={"parties": [*others[:3], office, *others[3:]]})

    attributes = visibility.search_attributes_for(
        convention, "implementation", ConventionState.ACTIVE
    )
    parties = attributes.get(visibility.PARTIES)

    assert parties is not None
    assert parties[0] == office.id
    assert parties[1:] == [party.id.lower() for party in others][: len(parties) - 1]
    assert len(json.dumps(parties).encode()) <= visibility.KEYWORD_LIST_BUDGET_BYTES
    assert len(parties) < 50


async def _audit(*args: str, env: Mapping[str, str]) -> CliRun:
    process = await asyncio.create_subprocess_exec(
        PYTHON,
        "audit.py",
        *args,
        cwd=PROJECT_ROOT,
        env=dict(env),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode is not None
    return CliRun(args, process.returncode, stdout.decode(), stderr.decode())


async def test_status_and_terminate_of_a_convention_whose_workflow_task_fails(
    client: Client, db_pool: asyncpg.Pool, env: dict[str, str]
) -> None:
    # Reproduced: a ConventionWorkflow on the test worker's queue whose input the worker
    # cannot decode (as after a schema change that older inputs no longer satisfy): every
    # workflow task fails with "Failed decoding arguments", Temporal retries it for ever.
    convention_id = f"undecodable-{uuid.uuid4().hex[:8]}"
    await client.start_workflow(
        "ConventionWorkflow",
        {"convention": {"id": convention_id}},
        id=workflow_id_for(convention_id),
        task_queue=DEV_TASK_QUEUE,
    )
    status = await run_cli("status", convention_id, env=env)
    for _ in range(60):  # until the first retry of the workflow task
        if status.code == 3:
            break
        await asyncio.sleep(0.5)
        status = await run_cli("status", convention_id, env=env)

    assert status.code == 3, status
    assert status.stdout == "", status
    [line] = status.stderr_lines
    assert line.startswith(f"stuck: convention {convention_id}: workflow task failing (attempt ")
    assert line.endswith("): Failed decoding arguments"), line

    ended = await run_cli("terminate", convention_id, "--reason", "Dossier illisible", env=env)

    assert ended.code == 0, ended
    assert "Temporal terminated" in ended.stdout, ended
    description = await client.get_workflow_handle(workflow_id_for(convention_id)).describe()
    assert description.status is WorkflowExecutionStatus.TERMINATED
    [row] = await db_pool.fetch("SELECT * FROM milestones WHERE convention_id = $1", convention_id)
    assert (row["seq"], row["kind"]) == (1, MilestoneKind.CONVENTION_TERMINATED.value)
