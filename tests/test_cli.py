"""The officers' command line, run as a user runs it: `python starter.py …` from the project root.

Commands that need no workflow run together once per module (each is a fresh interpreter), and
so do the read-only commands on one running convention; their tests check what each printed.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest
import pytest_asyncio
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from application.conventions import find_task, start_convention
from schemas.convention_file import load_convention
from schemas.errors import InputError
from schemas.milestones import MilestoneKind
from schemas.status import ConventionState, ConventionStatus
from schemas.tasks import TaskKind
from tests.cli_runner import (
    CliRun,
    cli_env,
    run_cli,
    settled_status,
    workflow_exists,
    write_convention,
    write_document,
)
from tests.conftest import DEV_TASK_QUEUE, EXAMPLES, example
from workflows.convention import ConventionWorkflow, workflow_id_for

EXAMPLE_NAMES = sorted(
    path.stem for path in EXAMPLES.glob("*.yaml") if not path.name.endswith(".answers.yaml")
)
CLOSED_PORT = "127.0.0.1:1"
STAGE_NAMES = {
    "drafting",
    "signature",
    "mission",
    "diagnostic",
    "funding_request",
    "implementation",
}
REVIEWERS = ("psa", "mic", "dfp", "amica")
PSA_REVIEW = "drafting.review.v1.psa"

# A file with five independent mistakes: every one is listed, one per line.
BAD_FILE_ERRORS = {
    "title": "Field required",
    "kind": "Input should be 'framework', 'specific', 'governance' or 'partnership'",
    "officer.email": "value is not a valid email address",
    "parties.1.country": "String should match pattern '^[A-Z]{2}$'",
    "stages.0.due_in_days": "Input should be greater than or equal to 1",
}


def spoil(data: dict[str, Any]) -> None:
    del data["title"]
    data["kind"] = "treaty"
    data["officer"]["email"] = "chargé de coopération"
    data["parties"][1]["country"] = "Maroc"
    data["stages"][0]["due_in_days"] = 0


# --- commands that need no running convention -------------------------------------------


@dataclass(frozen=True)
class OfflineRuns:
    bad_file: Path
    runs: dict[str, CliRun]


@pytest_asyncio.fixture(scope="module")
async def offline(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[OfflineRuns]:
    directory = tmp_path_factory.mktemp("cli")
    data = example("tanger-four-conventions").model_dump(mode="json")
    spoil(data)
    bad_file = write_document(data, directory / "five-mistakes.yaml")
    env = cli_env()
    commands: dict[str, tuple[str, ...]] = {
        **{
            f"validate {name}": ("validate", str(EXAMPLES / f"{name}.yaml"))
            for name in EXAMPLE_NAMES
        },
        "validate bad": ("validate", str(bad_file)),
        "schema": ("schema",),
        "schema --answer": ("schema", "--answer"),
        "act without --as": ("act", "some-convention", PSA_REVIEW, "--decision", "approve"),
    }
    runs = await asyncio.gather(
        *(run_cli(*args, env=env) for args in commands.values()),
        run_cli("status", "anything", env=cli_env(temporal=CLOSED_PORT)),
    )
    yield OfflineRuns(bad_file, dict(zip([*commands, "unavailable"], runs, strict=True)))


@pytest.mark.parametrize("name", EXAMPLE_NAMES)
def test_validate_accepts_each_example_and_prints_ok(name: str, offline: OfflineRuns) -> None:
    run = offline.runs[f"validate {name}"]
    convention = load_convention(EXAMPLES / f"{name}.yaml")

    assert run.code == 0, run
    assert run.stderr == "", run
    assert run.stdout == (
        f"ok: {convention.id} ({convention.kind.value}), stages: "
        + ", ".join(spec.stage for spec in convention.stages)
        + "\n"
    )


def test_validate_of_a_bad_file_exits_1_listing_every_error_one_per_line(
    offline: OfflineRuns,
) -> None:
    run = offline.runs["validate bad"]
    with pytest.raises(InputError) as refused:
        load_convention(offline.bad_file)

    assert run.code == 1, run
    assert run.stdout == "", run
    assert "Traceback" not in run.stderr, run
    assert run.stderr_lines[0] == f"refused: {offline.bad_file}", run
    listed = run.stderr_lines[1:]
    assert len(listed) == len(BAD_FILE_ERRORS), run
    for line in listed:
        field, _, reason = line.removeprefix("  ").partition(": ")
        assert line.startswith("  "), run
        assert BAD_FILE_ERRORS[field] in reason, line
    assert {line.removeprefix("  ").partition(": ")[0] for line in listed} == set(BAD_FILE_ERRORS)
    assert listed == [f"  {problem}" for problem in refused.value.errors]


def _json_schema_problems(schema: dict[str, Any]) -> list[str]:
    """Structural checks of a JSON Schema (no validator library in the venv)."""
    problems: list[str] = []
    definitions = schema.get("$defs", {})
    json_types = {"object", "array", "string", "number", "integer", "boolean", "null"}

    def walk(node: Any, where: str) -> None:
        if isinstance(node, list):
            for index, item in enumerate(node):
                walk(item, f"{where}/{index}")
            return
        if not isinstance(node, dict):
            return
        ref = node.get("$ref")
        if ref is not None and not (
            ref.startswith("#/$defs/") and ref.removeprefix("#/$defs/") in definitions
        ):
            problems.append(f"{where}: unresolved $ref {ref}")
        kind = node.get("type")
        if kind is not None and kind not in json_types:
            problems.append(f"{where}: unknown type {kind!r}")
        if isinstance(node.get("properties"), dict) and "required" in node:
            missing = set(node["required"]) - set(node["properties"])
            if missing:
                problems.append(f"{where}: required but not a property: {sorted(missing)}")
        for key, value in node.items():
            if key == "properties" and isinstance(value, dict):
                for name, child in value.items():
                    walk(child, f"{where}/properties/{name}")
            elif key != "enum" and key != "default":
                walk(value, f"{where}/{key}")

    walk(schema, "#")
    return problems


def _root(schema: dict[str, Any]) -> dict[str, Any]:
    """The schema's top object, following a top-level $ref (a recursive model has one)."""
    ref = schema.get("$ref")
    if ref is None:
        return schema
    root: dict[str, Any] = schema["$defs"][ref.removeprefix("#/$defs/")]
    return root


def test_schema_prints_the_json_schema_of_a_convention_file(offline: OfflineRuns) -> None:
    run = offline.runs["schema"]

    assert run.code == 0, run
    schema = json.loads(run.stdout)
    assert _json_schema_problems(schema) == []
    root = _root(schema)
    assert root["type"] == "object"
    assert {"id", "title", "kind", "officer", "parties", "stages"} <= set(root["properties"])
    assert set(root["required"]) == {"id", "title", "kind", "officer", "parties", "stages"}
    stages = root["properties"]["stages"]
    assert stages["type"] == "array"
    assert set(stages["items"]["discriminator"]["mapping"]) == STAGE_NAMES
    assert root["additionalProperties"] is False
    for name in EXAMPLE_NAMES:  # every example uses only declared top-level fields
        document = load_convention(EXAMPLES / f"{name}.yaml").model_dump(exclude_none=True)
        assert set(document) <= set(root["properties"]), name


def test_schema_answer_prints_the_json_schema_of_an_answer(offline: OfflineRuns) -> None:
    run = offline.runs["schema --answer"]

    assert run.code == 0, run
    schema = json.loads(run.stdout)
    assert _json_schema_problems(schema) == []
    root = _root(schema)
    assert root["type"] == "object"
    assert set(root["required"]) == {"task_id", "acting_party", "answer"}
    answer = root["properties"]["answer"]
    assert answer["discriminator"]["propertyName"] == "kind"
    assert set(answer["discriminator"]["mapping"]) == {kind.value for kind in TaskKind}
    assert "stages" not in root["properties"]


def test_a_command_without_a_required_option_is_a_usage_error_exiting_2(
    offline: OfflineRuns,
) -> None:
    run = offline.runs["act without --as"]

    assert run.code == 2, run
    assert "--as" in run.stderr, run
    assert "Traceback" not in run.stderr, run


def test_status_with_temporal_unreachable_exits_3_saying_unavailable(offline: OfflineRuns) -> None:
    run = offline.runs["unavailable"]

    assert run.code == 3, run
    assert run.stdout == "", run
    assert run.stderr.startswith("unavailable: "), run
    assert CLOSED_PORT in run.stderr, run
    assert "Traceback" not in run.stderr, run


# --- one running convention, read and answered wrongly from the command line --------------


@dataclass(frozen=True)
class DraftingSession:
    convention_id: str
    title: str
    before: ConventionStatus
    after: ConventionStatus
    runs: dict[str, CliRun]


@pytest_asyncio.fixture(scope="module")
async def drafting(
    dev_env: WorkflowEnvironment, db_pool: asyncpg.Pool, postgres_url: str
) -> AsyncIterator[DraftingSession]:
    client = dev_env.client
    convention = example("tanger-four-conventions")
    await start_convention(client, convention, DEV_TASK_QUEUE)
    for party in REVIEWERS:
        await find_task(client, convention.id, f"drafting.review.v1.{party}", wait_seconds=30)
    before = await settled_status(client, db_pool, convention.id)
    env = cli_env(dev_env, postgres_url)
    commands: dict[str, tuple[str, ...]] = {
        "status": ("status", convention.id),
        "status --json": ("status", convention.id, "--json"),
        "status --all --json": ("status", convention.id, "--all", "--json"),
        "act as the wrong party": (
            "act",
            convention.id,
            PSA_REVIEW,
            "--as",
            "mic",
            "--decision",
            "approve",
            "--version",
            "1",
        ),
        "status of an unknown convention": ("status", f"{convention.id}-never-started"),
    }
    runs = await asyncio.gather(*(run_cli(*args, env=env) for args in commands.values()))
    # The same refusal to an officer whose shell reads French.
    commands["act as the wrong party, in French"] = commands["act as the wrong party"]
    runs.append(await run_cli(*commands["act as the wrong party"], env={**env, "PACTE_LANG": "fr"}))
    after = await settled_status(client, db_pool, convention.id)
    yield DraftingSession(
        convention.id, convention.title, before, after, dict(zip(commands, runs, strict=True))
    )


def test_status_shows_the_current_stage_and_the_open_tasks(drafting: DraftingSession) -> None:
    run = drafting.runs["status"]

    assert run.code == 0, run
    lines = run.stdout.splitlines()
    assert lines[0] == f"{drafting.convention_id} — {drafting.title}"
    assert "state: active" in lines[1]
    assert lines[2] == "  stages: [drafting] → signature → implementation"
    assert lines[3] == "open tasks (4):"
    for line, party in zip(lines[4:8], REVIEWERS, strict=True):
        assert re.match(
            # The party by the directory's name (the file's, imported when it started).
            rf"^  drafting\.review\.v1\.{party} +owed by .+ due \d{{4}}-\d\d-\d\d  "
            r"Review version 1 of the text$",
            line,
        ), line
    assert lines[8] == f"timeline ({len(drafting.before.milestones)} milestones):"
    assert len(lines) == 9 + len(drafting.before.milestones)


def test_status_json_parses_as_the_workflows_convention_status(drafting: DraftingSession) -> None:
    run = drafting.runs["status --json"]

    assert run.code == 0, run
    status = ConventionStatus.model_validate_json(run.stdout)
    assert status == drafting.before
    assert status.current_stage == "drafting"
    assert [task.id for task in status.open_tasks] == [
        f"drafting.review.v1.{party}" for party in REVIEWERS
    ]


def test_status_all_reads_the_same_short_timeline_whole(drafting: DraftingSession) -> None:
    # Under 100 milestones, the latest ones are all of them: --all changes nothing here
    # (tests/test_persistence.py reads 150, the latest 100 and the whole of them).
    shown, whole = drafting.runs["status --json"], drafting.runs["status --all --json"]

    assert shown.code == whole.code == 0, (shown, whole)
    assert ConventionStatus.model_validate_json(whole.stdout) == drafting.before
    assert whole.stdout == shown.stdout


def test_act_as_a_party_that_does_not_owe_the_task_exits_1_with_a_one_line_reason(
    drafting: DraftingSession,
) -> None:
    run = drafting.runs["act as the wrong party"]

    assert run.code == 1, run
    assert run.stdout == "", run
    assert run.stderr_lines == [
        f"refused: acting_party: 'mic' does not owe task '{PSA_REVIEW}'; 'psa' does"
    ], run
    assert drafting.after == drafting.before
    # The workflow's refusal is typed: a French shell reads it in French (the prefix stays).
    french = drafting.runs["act as the wrong party, in French"]
    assert french.code == 1 and len(french.stderr_lines) == 1, french
    assert french.stderr_lines[0].startswith("refused: "), french
    assert "does not owe" not in french.stderr_lines[0] and "mic" in french.stderr_lines[0], french


def test_status_of_an_unknown_convention_exits_4(drafting: DraftingSession) -> None:
    run = drafting.runs["status of an unknown convention"]

    assert run.code == 4, run
    assert run.stdout == "", run
    assert run.stderr_lines == [
        f"not found: convention '{drafting.convention_id}-never-started' is not known"
    ], run


# --- commands that change a convention -----------------------------------------------------


@pytest.fixture
def env(dev_env: WorkflowEnvironment, postgres_url: str) -> dict[str, str]:
    return cli_env(dev_env, postgres_url)


async def test_start_prints_the_workflow_id_and_the_convention_runs(
    client: Client, db_pool: asyncpg.Pool, env: dict[str, str], tmp_path: Path
) -> None:
    convention = example("mre-academy")
    file = write_convention(convention, tmp_path / "mre-academy.yaml")

    # Its parent, the 2020 framework convention, never ran on this cluster.
    run = await run_cli("start", "--allow-missing-parent", str(file), env=env)

    assert run.code == 0, run
    assert run.stdout == f"convention-{convention.id}\n", run
    assert run.stderr == "", run
    assert await workflow_exists(client, convention.id)
    await find_task(client, convention.id, "drafting.review.v1.dmk", wait_seconds=30)
    status = await settled_status(client, db_pool, convention.id)
    assert status.convention_id == convention.id
    assert status.state is ConventionState.ACTIVE
    assert status.milestones[0].kind is MilestoneKind.CONVENTION_STARTED


async def test_act_approves_a_review_and_prints_accepted(
    client: Client, db_pool: asyncpg.Pool, env: dict[str, str]
) -> None:
    convention = example("tanger-four-conventions")
    await start_convention(client, convention, DEV_TASK_QUEUE)
    await find_task(client, convention.id, PSA_REVIEW, wait_seconds=30)

    run = await run_cli(
        "act",
        convention.id,
        PSA_REVIEW,
        "--as",
        "psa",
        "--actor",
        "Rémi Cabon",
        "--officer",
        "Nadia Benali",
        "--decision",
        "approve",
        "--version",
        "1",
        env=env,
    )

    assert run.code == 0, run
    assert re.fullmatch(
        rf"accepted: {re.escape(PSA_REVIEW)} at \d{{4}}-\d\d-\d\d \d\d:\d\d:\d\d UTC\n", run.stdout
    ), run
    assert run.stderr == "", run
    handle = client.get_workflow_handle(workflow_id_for(convention.id))
    assert handle.id == f"convention-{convention.id}"
    status = await settled_status(client, db_pool, convention.id)
    assert PSA_REVIEW not in {task.id for task in status.open_tasks}
    [answered] = [
        m
        for m in status.milestones
        if m.kind is MilestoneKind.TASK_ANSWERED and m.task_id == PSA_REVIEW
    ]
    assert (answered.party, answered.actor) == ("psa", "Rémi Cabon")
    # Who really typed it: the officer at the shell, on the party's behalf.
    assert answered.summary.endswith(
        " — entered by officer Nadia Benali on behalf of psa (for Rémi Cabon)"
    )
    assert answered.details["principal"]["method"] == "officer_on_behalf"
    assert answered.details["answer"] == {
        "kind": "review_draft",
        "decision": "approve",
        "version": 1,
        "comments": None,
    }


async def test_officer_postpones_reassigns_then_terminates_from_the_command_line(
    client: Client, db_pool: asyncpg.Pool, env: dict[str, str]
) -> None:
    convention = example("tanger-four-conventions")
    await start_convention(client, convention, DEV_TASK_QUEUE)
    review = await find_task(client, convention.id, PSA_REVIEW, wait_seconds=30)

    too_early = await run_cli(
        "postpone", convention.id, PSA_REVIEW, "--to", "2020-01-01", "--reason", "x", env=env
    )
    assert too_early.code == 1, too_early
    assert len(too_early.stderr_lines) == 1 and "new_due_at:" in too_early.stderr, too_early
    not_a_date = await run_cli(
        "postpone", convention.id, PSA_REVIEW, "--to", "bientôt", "--reason", "x", env=env
    )
    assert not_a_date.code == 1 and "new_due_at: 'bientôt' is not a date" in not_a_date.stderr

    new_day = (review.due_at + timedelta(days=10)).date().isoformat()
    postponed = await run_cli(
        "postpone", convention.id, PSA_REVIEW, "--to", new_day, "--reason", "Salon reporté", env=env
    )
    assert postponed.code == 0, postponed
    assert postponed.stdout.startswith(f"postpone: {PSA_REVIEW} at "), postponed

    contact = convention.party("psa").contacts[0].name
    reassigned = await run_cli(
        "reassign", convention.id, PSA_REVIEW, "--to", contact, "--reason", "Congés", env=env
    )
    assert reassigned.code == 0, reassigned
    unknown = await run_cli(
        "reassign", convention.id, PSA_REVIEW, "--to", "Personne", "--reason", "?", env=env
    )
    assert unknown.code == 1 and "contact: 'Personne' is not a contact of psa" in unknown.stderr

    terminated = await run_cli(
        "terminate", convention.id, "--reason", "Programme abandonné", env=env
    )
    assert terminated.code == 0, terminated
    outcome = await client.get_workflow_handle_for(
        ConventionWorkflow.run, workflow_id_for(convention.id)
    ).result()
    assert (outcome.state, outcome.reason) == (ConventionState.TERMINATED, "Programme abandonné")
    kinds = [m.kind for m in (await settled_status(client, db_pool, convention.id)).milestones]
    assert MilestoneKind.DEADLINE_POSTPONED in kinds and MilestoneKind.TASK_REASSIGNED in kinds
    again = await run_cli("terminate", convention.id, "--reason", "encore", env=env)
    assert again.code == 1 and "is closed" in again.stderr, again


async def test_list_filters_by_stage_and_party_from_temporal_visibility(
    client: Client, env: dict[str, str]
) -> None:
    convention = example("tanger-four-conventions")
    await start_convention(client, convention, DEV_TASK_QUEUE)
    await find_task(client, convention.id, PSA_REVIEW, wait_seconds=30)

    for _ in range(50):  # visibility is eventually consistent
        listed = await run_cli("list", "--stage", "drafting", "--party", "PSA", env=env)
        if convention.id in listed.stdout:
            break
        await asyncio.sleep(0.2)
    assert listed.code == 0 and convention.id in listed.stdout, listed
    elsewhere = await run_cli("list", "--stage", "signature", "--party", "psa", env=env)
    assert elsewhere.code == 0 and convention.id not in elsewhere.stdout, elsewhere
    injected = await run_cli("list", "--party", "psa' OR WorkflowId != '", env=env)
    assert injected.code == 0 and convention.id not in injected.stdout, injected
