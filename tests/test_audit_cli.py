"""`python audit.py …` as an auditor runs it: one line per problem, the documented exit codes.

0 all good; 1 a failure found; 2 usage error; 3 Temporal or PostgreSQL unavailable;
4 convention (or file) not found.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import asyncpg
import pytest
from temporalio.testing import WorkflowEnvironment

import auditing.cli
from application.scenarios import play_scenario
from schemas.audit import ReplayResult
from schemas.convention_file import load_answer_script
from schemas.status import ConventionInput
from tests.cli_runner import run_cli as run_starter
from tests.conftest import DEV_TASK_QUEUE, EXAMPLES, PlayedScenario, example
from tests.test_audit_replay import HISTORIES, run_cli, stack_env
from workflows.convention import ConventionWorkflow, workflow_id_for


def one_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr
    return lines[0]


def test_usage_mistakes_say_what_is_wrong_in_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # In this process, for speed (no server is involved); the subprocess tests below run
    # the real script. Temporal's logging is left as the test session has it.
    monkeypatch.setattr(auditing.cli, "_quiet_temporal", lambda: None)
    monkeypatch.setenv("TEMPORAL_ADDRESS", "127.0.0.1:9")  # nothing here may need a server
    (tmp_path / "not-json.json").write_text("{ this is not JSON")
    (tmp_path / "no-events.json").write_text('{"history": []}')
    (tmp_path / "empty.json").write_text('{"events": []}')
    cases = {
        (): "the following arguments are required: command",
        ("replay",): "say which conventions",
        ("replay", "x", "--all"): "not several of them",
        ("verify", "x", "--all"): "not several of them",
        ("replay", "bad id!"): "convention id: 'bad id!' is not an identifier",
        ("timeline", "x", "--format", "pdf"): "invalid choice: 'pdf'",
        ("verify", "--nope"): "unrecognized arguments: --nope",
        ("replay", "--file", str(tmp_path / "not-json.json")): "not a JSON history",
        ("replay", "--file", str(tmp_path / "no-events.json")): "no 'events' list",
        ("replay", "--file", str(tmp_path / "empty.json")): "starts with WorkflowExecutionStarted",
    }

    for args, expected in cases.items():
        code = auditing.cli.main(list(args))

        out, err = capsys.readouterr()
        assert (code, out) == (2, ""), (args, err)
        line = one_line(err)
        assert line.startswith("usage error: ") and expected in line, (args, line)


async def test_the_script_exits_2_3_and_4_for_usage_unavailable_and_not_found(
    dev_env: WorkflowEnvironment, postgres_url: str, tmp_path: Path
) -> None:
    env = stack_env(dev_env, postgres_url)
    history = str(HISTORIES / "current" / "cycle-maalam")
    cases = [
        (("replay", "bad id!"), {}, 2, "usage error: convention id: 'bad id!'"),
        (("replay", "cycle-maalam"), {"TEMPORAL_ADDRESS": "127.0.0.1:9"}, 3, "unavailable: "),
        (
            ("verify", "--file", history),
            {"DATABASE_URL": "postgresql://nobody@127.0.0.1:9/pacte"},
            3,
            "unavailable: PostgreSQL",
        ),
        (("replay", "never-started"), env, 4, "not found: convention 'never-started'"),
        (("timeline", "never-started"), env, 4, "not found: convention 'never-started'"),
        (("export", "never-started", "--out", str(tmp_path)), env, 4, "not found: "),
        (("replay", "--file", str(tmp_path / "missing.json")), {}, 4, "not found: "),
    ]

    results = await asyncio.gather(*(run_cli(*args, env=extra) for args, extra, _, _ in cases))

    for (args, _, expected_code, expected), (code, _, err) in zip(cases, results, strict=True):
        assert code == expected_code, (args, err)
        assert expected in one_line(err), args


async def test_a_tampered_history_file_fails_naming_the_first_event_that_differs(
    tmp_path: Path,
) -> None:
    document = json.loads((HISTORIES / "current" / "cycle-maalam" / "run-01.json").read_text())
    scheduled = [
        event
        for event in document["events"]
        if event["eventType"] == "EVENT_TYPE_ACTIVITY_TASK_SCHEDULED"
    ]
    tampered = scheduled[3]
    tampered["activityTaskScheduledEventAttributes"]["activityType"]["name"] = "notify_everyone"
    (tmp_path / "tampered.json").write_text(json.dumps(document))

    code, out, err = await run_cli("replay", "--file", str(tmp_path / "tampered.json"))

    started = document["events"][0]["workflowExecutionStartedEventAttributes"]
    assert code == 1, err
    assert out.startswith(
        f"FAIL  cycle-maalam  run {started['originalExecutionRunId']}: "
        f"event {tampered['eventId']} ActivityTaskScheduled: "
    )
    assert "notify_everyone" in out and out.rstrip().endswith("[TMPRL1100]")
    assert err.splitlines()[-1] == "0 of 1 conventions replay"


async def test_a_continued_convention_replays_whole_by_query_with_a_progress_bar(
    dev_env: WorkflowEnvironment,
    postgres_url: str,
    played_scenarios: dict[str, PlayedScenario],
    db_pool: asyncpg.Pool,
    tmp_path: Path,
) -> None:
    convention = example("cycle-maalam")
    await dev_env.client.start_workflow(
        ConventionWorkflow.run,
        ConventionInput(convention=convention, history_limit=50),
        id=workflow_id_for(convention.id),
        task_queue=DEV_TASK_QUEUE,
    )
    script = load_answer_script(EXAMPLES / "cycle-maalam.answers.yaml")
    await play_scenario(dev_env.client, DEV_TASK_QUEUE, convention, script)
    env = stack_env(dev_env, postgres_url)
    mre = played_scenarios["mre-academy"].convention.id
    html = tmp_path / "timeline.html"

    (
        (query_code, query_out, query_err),
        (json_code, json_out, _),
        (html_code, _, _),
    ) = await asyncio.gather(
        run_cli(
            "replay",
            "--query",
            f"WorkflowId = '{workflow_id_for(convention.id)}' OR WorkflowId = "
            f"'{workflow_id_for(mre)}'",
            "--progress",
            env=env,
        ),
        run_cli("replay", "--json", convention.id, env=env),
        run_cli("timeline", convention.id, "--format", "html", "--out", str(html), env=env),
    )

    assert query_code == 0, query_err
    lines = dict(line.split(None, 2)[1:] for line in query_out.splitlines())
    assert lines[convention.id].startswith("(")
    assert "runs," in lines[convention.id] and lines[mre].startswith("(1 run, ")
    assert "[" + "#" * 30 + "] 2/2" in query_err  # the bar, on stderr only
    assert query_err.splitlines()[-1].endswith("2 of 2 conventions replay")
    assert json_code == 0
    result = ReplayResult.model_validate_json(json_out)
    assert result.ok and len(result.runs) >= 2, "every run of the continue-as-new chain"
    assert html_code == 0 and html.read_text().count('class="stage-row"') == 1

    # `status` shows the whole timeline, from PostgreSQL: the last run's workflow keeps only
    # what it recorded since it began.
    stored = await db_pool.fetchval(
        "SELECT count(*) FROM milestones WHERE convention_id = $1", convention.id
    )
    status = await run_starter("status", convention.id, env=env)
    assert status.code == 0, status.stderr
    assert f"timeline ({stored} milestones):" in status.stdout
    timeline = status.stdout.split(f"timeline ({stored} milestones):\n", 1)[1].splitlines()
    assert len(timeline) == stored and "Convention started" in timeline[0]
