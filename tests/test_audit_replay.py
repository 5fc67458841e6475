"""Histories replay against this code, and a change that breaks them is caught, naming the event.

The recorded histories under tests/histories/ (re-record with `python -m tests.histories.record`)
are CI's guard: every one of them must replay on the workflows of this commit.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import re
import sys
from collections.abc import AsyncIterator, Iterable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from temporalio import workflow
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import UnsandboxedWorkflowRunner

import workflows.convention
from auditing.decode import PERSIST_MILESTONE, ScheduledActivity, read_run
from auditing.histories import ConventionHistory, FileHistories, TemporalHistories
from auditing.replay import replay_conventions
from devkit.programs import run_program
from infra.settings import PROJECT_ROOT
from schemas.audit import ReplayResult
from tests.conftest import PlayedScenario
from workflows.patches import (
    CONSOLIDATED_PATCHES,
    CONSOLIDATION_PATCH,
    DEPRECATED_PATCHES,
    LATER_PATCHES,
)
from workflows.signature import run_signature

HISTORIES = PROJECT_ROOT / "tests" / "histories"
PATCH_MARKER = "core_patch"
PYTHON = sys.executable


async def _each(histories: Iterable[ConventionHistory]) -> AsyncIterator[ConventionHistory]:
    for history in histories:
        yield history


async def replay_all(histories: Iterable[ConventionHistory], **options: Any) -> list[ReplayResult]:
    return [result async for result in replay_conventions(_each(histories), **options)]


def recorded_groups() -> list[Path]:
    """tests/histories/current and every before-<patch-id> kept beside it."""
    return sorted(
        path for path in HISTORIES.iterdir() if path.is_dir() and any(path.rglob("*.json"))
    )


def patch_ids(path: Path) -> set[str]:
    """The workflow.patched ids a directory's histories carry (core_patch markers)."""
    found: set[str] = set()
    for history_file in path.rglob("run-*.json"):
        for event in json.loads(history_file.read_text(encoding="utf-8"))["events"]:
            marker = event.get("markerRecordedEventAttributes")
            if marker and marker.get("markerName") == PATCH_MARKER:
                for payload in marker["details"]["patch-data"]["payloads"]:
                    found.add(json.loads(base64.b64decode(payload["data"]))["id"])
    return found


@pytest.mark.parametrize("group", recorded_groups(), ids=lambda path: path.name)
async def test_every_recorded_history_replays_on_this_code(group: Path) -> None:
    source = await FileHistories.load([group])

    results = await replay_all(source.chains)

    failures = [f"{r.convention_id}: {r.first_failure}" for r in results if not r.ok]
    assert len(results) == len(source.chains) >= (10 if group.name == "current" else 1)
    assert failures == [], "re-record (python -m tests.histories.record) if the change is meant"


async def test_the_recorded_histories_take_every_stage_path() -> None:
    source = await FileHistories.load([HISTORIES / "current"])
    kinds: set[str] = set()
    decisions: set[str] = set()
    stages: set[str] = set()
    for chain in source.chains:
        for history in chain.runs:
            for item in (await read_run(history)).items:
                if isinstance(item, ScheduledActivity) and item.activity_type == PERSIST_MILESTONE:
                    milestone = item.input[0]
                    kinds.add(milestone["kind"])
                    stages.add(milestone["stage"] or "")
                    answer = milestone["details"].get("answer") or {}
                    if "decision" in answer:
                        decisions.add(f"{answer['kind']}:{answer['decision']}")

    assert {
        "drafting",
        "signature",
        "mission",
        "diagnostic",
        "funding_request",
        "implementation",
    } <= stages
    assert {
        "task_overdue",
        "signature_refused",
        "convention_failed",
        "convention_completed",
        "draft_version",
        "funding_decided",
        "outcomes_agreed",
        "implementation_milestone_reached",
    } <= kinds
    assert {
        "review_draft:request_changes",
        "sign:refuse",
        "agree_outcomes:disagree",
        "decide_funding:more_information",
        "decide_funding:reject",
        "decide_funding:approve",
    } <= decisions


def test_histories_kept_from_before_a_patch_lack_it_and_the_current_ones_take_it() -> None:
    """A stage changed with workflow.patched("<id>") keeps tests/histories/before-<id>/.

    The replay test above replays those old histories and the current ones on this code;
    this one checks that they are what their names say.
    """
    befores = sorted(HISTORIES.glob("before-*"))
    if not befores:
        pytest.skip(
            "no tests/histories/before-<patch-id>/ yet: see tests/histories/record.py "
            "(record one before making a change with workflow.patched)"
        )
    current = patch_ids(HISTORIES / "current")
    for before in befores:
        patch_id = before.name.removeprefix("before-")
        # A run started since the consolidation takes every branch it covers without a
        # marker of its own: the consolidation's marker says it took them.
        taken = patch_id in current or (
            patch_id in CONSOLIDATED_PATCHES and CONSOLIDATION_PATCH in current
        )
        assert taken, f"no current history takes the {patch_id!r} branch"
        assert patch_id not in patch_ids(before), f"{before} was recorded after the patch"


def test_a_deprecated_patch_has_no_recorded_history_through_its_old_branch() -> None:
    """`workflow.deprecate_patch` takes the new branch in every run: safe only while every
    history replayed on this code either took it (its marker) or the consolidation."""
    assert DEPRECATED_PATCHES <= CONSOLIDATED_PATCHES
    for patch_id in DEPRECATED_PATCHES:
        assert not (HISTORIES / f"before-{patch_id}").exists()
        for group in recorded_groups():
            for chain in sorted(path for path in group.iterdir() if path.is_dir()):
                carried = patch_ids(chain)
                assert patch_id in carried or CONSOLIDATION_PATCH in carried, chain


def test_a_run_started_now_records_one_patch_marker_whatever_it_goes_through() -> None:
    """Each marker costs an event and a TemporalChangeVersion upsert: new runs carry the
    consolidation's alone, though they go through the stages every other patch changed."""
    assert patch_ids(HISTORIES / "current") == {CONSOLIDATION_PATCH} | LATER_PATCHES
    assert patch_ids(HISTORIES / f"before-{CONSOLIDATION_PATCH}") >= CONSOLIDATED_PATCHES


async def test_a_non_deterministic_change_to_a_stage_is_caught_at_its_first_event(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The change: the signature stage now gives the signatories an hour's notice before it
    # assigns them their tasks. Harmless-looking, and incompatible with every history that
    # reached the signature stage without it.
    async def signature_after_a_notice(*args: Any) -> None:
        await workflow.sleep(timedelta(hours=1))
        await run_signature(*args)

    monkeypatch.setattr(workflows.convention, "run_signature", signature_after_a_notice)
    source = await FileHistories.load([HISTORIES / "current" / "mre-academy"])
    (chain,) = source.chains
    first_signature_task = next(
        item.event_id
        for item in (await read_run(chain.runs[0])).items
        if isinstance(item, ScheduledActivity)
        and item.activity_type == PERSIST_MILESTONE
        and item.input[0]["kind"] == "task_assigned"
        and item.input[0]["stage"] == "signature"
    )

    # Unsandboxed: the sandbox would re-import workflows.convention, without the change.
    (result,) = await replay_all([chain], workflow_runner=UnsandboxedWorkflowRunner())

    failure = result.first_failure
    assert failure is not None
    # The stage's first command writes its first signature task (a run started since the
    # patches' consolidation asks for no marker there): the sleep command meets it.
    assert failure.event_type == "ActivityTaskScheduled"
    assert failure.event_id == first_signature_task
    assert failure.code == "TMPRL1100"
    assert "Timer machine does not handle this event" in failure.detail


async def test_each_seed_scenario_replays_from_the_server(
    client: Client, played_scenarios: dict[str, PlayedScenario]
) -> None:
    source = TemporalHistories(client)
    histories = [
        await source.history(scenario.convention.id) for scenario in played_scenarios.values()
    ]

    results = await replay_all(histories)

    assert [(r.convention_id, r.ok) for r in results] == [
        (scenario.convention.id, True) for scenario in played_scenarios.values()
    ]
    assert all(r.source.startswith("temporal ") and len(r.runs) == 1 for r in results)


async def run_cli(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    """`python audit.py …` as an auditor runs it; asynchronous, the worker shares this loop."""
    run = await run_program("audit.py", *args, env={**os.environ, **(env or {})}, within=60)
    return run.code, run.stdout, run.stderr


def stack_env(dev_env: WorkflowEnvironment, postgres_url: str) -> dict[str, str]:
    """The variables that point audit.py at the test session's servers."""
    return {
        "TEMPORAL_ADDRESS": dev_env.client.service_client.config.target_host,
        "TEMPORAL_NAMESPACE": "default",
        "DATABASE_URL": postgres_url,
    }


async def test_a_history_exported_by_the_temporal_cli_replays_offline_and_matches_export(
    dev_env: WorkflowEnvironment,
    played_scenarios: dict[str, PlayedScenario],
    postgres_url: str,
    tmp_path: Path,
) -> None:
    convention = played_scenarios["cycle-maalam"].convention
    workflow_id = workflows.convention.workflow_id_for(convention.id)
    temporal = Path(PYTHON).parent / "temporal"
    process = await asyncio.create_subprocess_exec(
        str(temporal),
        "workflow",
        "show",
        "--workflow-id",
        workflow_id,
        "--output",
        "json",
        "--address",
        dev_env.client.service_client.config.target_host,
        "--namespace",
        "default",
        stdout=asyncio.subprocess.PIPE,
    )
    shown, _ = await process.communicate()
    assert process.returncode == 0
    cli_file = tmp_path / "from-temporal-cli.json"
    cli_file.write_bytes(shown)

    # Offline: no server variable at all, an unreachable one even.
    offline = {"TEMPORAL_ADDRESS": "127.0.0.1:9", "DATABASE_URL": "postgresql:///nowhere"}
    (code, out, err), (export_code, export_out, _) = await asyncio.gather(
        run_cli("replay", "--file", str(cli_file), env=offline),
        run_cli(
            "export",
            convention.id,
            "--out",
            str(tmp_path / "export"),
            env=stack_env(dev_env, postgres_url),
        ),
    )

    assert (code, err.splitlines()[-1]) == (0, "1 of 1 conventions replay"), err
    assert out.startswith(f"ok    {convention.id}  (1 run, ")
    assert export_code == 0, export_out
    exported = tmp_path / "export" / workflow_id / "run-01.json"
    assert str(exported) in export_out
    # The same history, in the same format (Go writes 2, Python 2.0 for a float: same value).
    assert json.loads(exported.read_text()) == json.loads(shown)
    manifest = json.loads((exported.parent / "manifest.json").read_text())
    assert manifest["convention_id"] == convention.id
    assert [run["file"] for run in manifest["runs"]] == ["run-01.json"]


async def test_the_runs_of_a_continued_convention_are_one_convention_in_run_order(
    tmp_path: Path,
) -> None:
    recorded = HISTORIES / "current" / "continued-as-new"
    # File names that sort the wrong way round: the order comes from the histories.
    (tmp_path / "b.json").write_text((recorded / "run-01.json").read_text())
    (tmp_path / "a.json").write_text((recorded / "run-02.json").read_text())

    (chain,) = (await FileHistories.load([tmp_path])).chains

    first, second = chain.runs
    last_event = first.events[-1].workflow_execution_continued_as_new_event_attributes
    assert last_event.new_execution_run_id == second.run_id
    started = second.events[0].workflow_execution_started_event_attributes
    assert started.continued_execution_run_id == first.run_id
    (result,) = await replay_all([chain])
    assert result.ok and [run.run_id for run in result.runs] == [first.run_id, second.run_id]


def test_the_workflows_ask_their_patches_through_the_consolidation() -> None:
    """A `workflow.patched` asked directly would record its own marker in every new run;
    and every consolidated id is one the workflows define (a typo would take no branch)."""
    defined: set[str] = set()
    for module in (PROJECT_ROOT / "workflows").glob("*.py"):
        code = module.read_text(encoding="utf-8")
        defined |= set(re.findall(r'^[A-Z_]+_PATCH = "([a-z-]+)"', code, re.MULTILINE))
        if module.name != "patches.py":
            assert "workflow.patched(" not in code, module.name
    assert defined - {CONSOLIDATION_PATCH} == CONSOLIDATED_PATCHES | LATER_PATCHES
