"""No traceback, ever, from a user's action: every command of `starter.py` and `audit.py`,
given broken input or a broken environment, ends in one readable line (or argparse's usage)
and an exit code from the README's table.

Each case is a fresh process, as an officer or an auditor runs it; they run a few at a time.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest
import pytest_asyncio
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from application.conventions import find_task, start_convention
from devkit.programs import run_program
from tests.cli_runner import CliRun, cli_env, write_convention
from tests.conftest import DEV_TASK_QUEUE, EXAMPLES, example
from workflows.convention import workflow_id_for

CLOSED_PORT = "127.0.0.1:1"
NO_DATABASE = "postgresql://pacte@127.0.0.1:1/pacte"
PSA_REVIEW = "drafting.review.v1.psa"
AT_ONCE = 4


@dataclass(frozen=True)
class Case:
    """One broken command: the program, its arguments, the environment, the code expected."""

    name: str
    program: str
    args: tuple[str, ...]
    code: int
    environment: str = "stack"  # stack | offline | no-temporal | no-database


async def _run(program: str, args: tuple[str, ...], env: Mapping[str, str]) -> CliRun:
    return await run_program(program, *args, env=env, within=90)


@dataclass(frozen=True)
class Files:
    directory: Path
    valid: Path
    orphan: Path
    bad_yaml: Path
    impossible_date: Path
    duplicate_yaml: Path
    duplicate_json: Path
    bad_escape_json: Path
    bad_escape_yaml: Path
    not_utf8: Path
    empty: Path
    deep: Path
    huge_integer: Path
    answer_duplicate: Path
    answer_list: Path


def _files(directory: Path) -> Files:
    valid = write_convention(example("cycle-maalam"), directory / "valid.yaml")
    orphan = write_convention(
        example("cycle-maalam").model_copy(update={"parent": "never-ran-here"}),
        directory / "orphan.yaml",
    )
    text = valid.read_text(encoding="utf-8")

    def write(name: str, content: str | bytes) -> Path:
        path = directory / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
        return path

    data = json.loads(json.dumps(example("cycle-maalam").model_dump(mode="json")))
    as_json = json.dumps(data, ensure_ascii=False, indent=2)
    return Files(
        directory=directory,
        valid=valid,
        orphan=orphan,
        bad_yaml=write("bad.yaml", "id: x\ntitle: [unclosed\n"),
        impossible_date=write(
            "date.yaml",
            text.replace("planned_on: '2021-06-30'", "planned_on: 2027-02-31")
            if "planned_on: '2021-06-30'" in text
            else text + "extra_date: 2027-02-31\n",
        ),
        duplicate_yaml=write("duplicate.yaml", text + f"id: {data['id']}-again\n"),
        duplicate_json=write(
            "duplicate.json", as_json.replace('"title":', '"id": "again",\n  "title":', 1)
        ),
        bad_escape_json=write("escape.json", as_json.replace('"title": "', '"title": "\\q', 1)),
        bad_escape_yaml=write("escape.yaml", 'id: "bad \\q escape"\n'),
        not_utf8=write("latin1.yaml", "title: Kénitra\n".encode("latin-1")),
        empty=write("empty.yaml", ""),
        deep=write("deep.json", "[" * 50_000 + "]" * 50_000),
        huge_integer=write("huge.yaml", "id: x\nbudget: " + "9" * 5_000 + "\n"),
        answer_duplicate=write("answer.yaml", "decision: approve\ndecision: refuse\n"),
        answer_list=write("answer.json", "[1, 2]"),
    )


def _cases(files: Files, convention_id: str, idle: str, failing: str) -> list[Case]:
    """`idle`: a convention no worker runs; `failing`: one whose workflow task always fails."""
    f, cid = files, convention_id
    huge = json.dumps({"decision": "approve", "version": 1, "comments": "x" * 100_000})
    starter = [
        # validate: every syntax error is one line with its position
        Case(
            "validate missing file", "starter.py", ("validate", "no/such/file.yaml"), 1, "offline"
        ),
        Case("validate a directory", "starter.py", ("validate", str(f.directory)), 1, "offline"),
        Case("validate bad yaml", "starter.py", ("validate", str(f.bad_yaml)), 1, "offline"),
        Case(
            "validate impossible date",
            "starter.py",
            ("validate", str(f.impossible_date)),
            1,
            "offline",
        ),
        Case(
            "validate duplicate key yaml",
            "starter.py",
            ("validate", str(f.duplicate_yaml)),
            1,
            "offline",
        ),
        Case(
            "validate duplicate key json",
            "starter.py",
            ("validate", str(f.duplicate_json)),
            1,
            "offline",
        ),
        Case(
            "validate bad escape json",
            "starter.py",
            ("validate", str(f.bad_escape_json)),
            1,
            "offline",
        ),
        Case(
            "validate bad escape yaml",
            "starter.py",
            ("validate", str(f.bad_escape_yaml)),
            1,
            "offline",
        ),
        Case("validate not utf-8", "starter.py", ("validate", str(f.not_utf8)), 1, "offline"),
        Case("validate empty file", "starter.py", ("validate", str(f.empty)), 1, "offline"),
        Case("validate nested too deep", "starter.py", ("validate", str(f.deep)), 1, "offline"),
        Case(
            "validate huge integer", "starter.py", ("validate", str(f.huge_integer)), 1, "offline"
        ),
        Case(
            "validate an answers file",
            "starter.py",
            ("validate", str(EXAMPLES / "bamako-cooperation.answers.yaml")),
            1,
            "offline",
        ),
        Case("unknown command", "starter.py", ("frobnicate",), 2, "offline"),
        Case("schema unknown option", "starter.py", ("schema", "--bogus"), 2, "offline"),
        Case("list bad state", "starter.py", ("list", "--state", "running"), 2, "offline"),
        Case(
            "start history limit not a number",
            "starter.py",
            ("start", str(f.valid), "--history-limit", "many"),
            2,
            "offline",
        ),
        Case(
            "start history limit too low",
            "starter.py",
            ("start", str(f.valid), "--history-limit", "10"),
            2,
            "offline",
        ),
        Case("act without --as", "starter.py", ("act", cid, PSA_REVIEW), 2, "offline"),
        Case(
            "act answer and answer file",
            "starter.py",
            ("act", cid, PSA_REVIEW, "--as", "psa", "--answer", "{}", "--answer-file", "x"),
            2,
            "offline",
        ),
        Case(
            "postpone without --reason",
            "starter.py",
            ("postpone", cid, PSA_REVIEW, "--to", "2030-01-01"),
            2,
            "offline",
        ),
        # start
        Case("start missing file", "starter.py", ("start", "no/such/file.yaml"), 1),
        Case("start impossible date", "starter.py", ("start", str(f.impossible_date)), 1),
        Case("start duplicate key", "starter.py", ("start", str(f.duplicate_yaml)), 1),
        Case("start unknown parent", "starter.py", ("start", str(f.orphan)), 1),
        # status
        Case("status unknown convention", "starter.py", ("status", f"{cid}-never"), 4),
        Case("status id with spaces", "starter.py", ("status", "a b/../c"), 4),
        Case("status --json unknown", "starter.py", ("status", "--json", f"{cid}-never"), 4),
        # act
        Case(
            "act unknown convention",
            "starter.py",
            ("act", f"{cid}-never", PSA_REVIEW, "--as", "psa", "--decision", "approve"),
            4,
        ),
        Case(
            "act unknown task",
            "starter.py",
            ("act", cid, "no.such.task", "--as", "psa", "--decision", "approve"),
            1,
        ),
        Case(
            "act wrong party",
            "starter.py",
            ("act", cid, PSA_REVIEW, "--as", "mic", "--decision", "approve", "--version", "1"),
            1,
        ),
        Case(
            "act answer not json",
            "starter.py",
            ("act", cid, PSA_REVIEW, "--as", "psa", "--answer", "{decision: approve"),
            1,
        ),
        Case(
            "act answer not a mapping",
            "starter.py",
            ("act", cid, PSA_REVIEW, "--as", "psa", "--answer", "[1]"),
            1,
        ),
        Case(
            "act huge answer",
            "starter.py",
            ("act", cid, PSA_REVIEW, "--as", "psa", "--answer", huge),
            1,
        ),
        Case(
            "act bad --set", "starter.py", ("act", cid, PSA_REVIEW, "--as", "psa", "--set", "=x"), 1
        ),
        Case(
            "act answer file missing",
            "starter.py",
            ("act", cid, PSA_REVIEW, "--as", "psa", "--answer-file", "no/such/answer.yaml"),
            1,
        ),
        Case(
            "act answer file duplicate key",
            "starter.py",
            ("act", cid, PSA_REVIEW, "--as", "psa", "--answer-file", str(f.answer_duplicate)),
            1,
        ),
        Case(
            "act answer file not a mapping",
            "starter.py",
            ("act", cid, PSA_REVIEW, "--as", "psa", "--answer-file", str(f.answer_list)),
            1,
        ),
        Case(
            "act answer file is a directory",
            "starter.py",
            ("act", cid, PSA_REVIEW, "--as", "psa", "--answer-file", str(f.directory)),
            1,
        ),
        # list
        Case("list malformed query", "starter.py", ("list", "--query", "ConventionStage = "), 2),
        Case("list unknown attribute", "starter.py", ("list", "--query", "Nope = 'x'"), 2),
        Case("list quote in a filter", "starter.py", ("list", "--party", "psa' OR '1'='1"), 0),
        # postpone / reassign / terminate
        Case(
            "postpone impossible date",
            "starter.py",
            ("postpone", cid, PSA_REVIEW, "--to", "2027-02-31", "--reason", "r"),
            1,
        ),
        Case(
            "postpone not a date",
            "starter.py",
            ("postpone", cid, PSA_REVIEW, "--to", "bientôt", "--reason", "r"),
            1,
        ),
        Case(
            "postpone earlier date",
            "starter.py",
            ("postpone", cid, PSA_REVIEW, "--to", "2001-01-01", "--reason", "r"),
            1,
        ),
        Case(
            "postpone empty reason",
            "starter.py",
            ("postpone", cid, PSA_REVIEW, "--to", "2099-01-01", "--reason", ""),
            1,
        ),
        Case(
            "postpone unknown task",
            "starter.py",
            ("postpone", cid, "no.such.task", "--to", "2099-01-01", "--reason", "r"),
            1,
        ),
        Case(
            "postpone unknown convention",
            "starter.py",
            ("postpone", f"{cid}-never", PSA_REVIEW, "--to", "2099-01-01", "--reason", "r"),
            4,
        ),
        Case(
            "reassign unknown contact",
            "starter.py",
            ("reassign", cid, PSA_REVIEW, "--to", "Personne", "--reason", "r"),
            1,
        ),
        Case(
            "reassign empty reason",
            "starter.py",
            ("reassign", cid, PSA_REVIEW, "--to", "x", "--reason", "  "),
            1,
        ),
        Case("terminate empty reason", "starter.py", ("terminate", cid, "--reason", ""), 1),
        Case(
            "terminate unknown convention",
            "starter.py",
            ("terminate", f"{cid}-never", "--reason", "r"),
            4,
        ),
        # inbox
        Case("inbox bad party id", "starter.py", ("inbox", "../etc"), 1),
        # keys (the partner desk's API keys)
        Case("keys without a subcommand", "starter.py", ("keys",), 2, "offline"),
        Case("keys create bad party id", "starter.py", ("keys", "create", "../etc"), 1),
        Case("keys revoke unknown key", "starter.py", ("keys", "revoke", "no-such-key"), 1),
        Case("keys list, PostgreSQL unreachable", "starter.py", ("keys", "list"), 3, "no-database"),
        # Temporal unreachable
        Case(
            "start, Temporal unreachable", "starter.py", ("start", str(f.valid)), 3, "no-temporal"
        ),
        Case("status, Temporal unreachable", "starter.py", ("status", cid), 3, "no-temporal"),
        Case(
            "act, Temporal unreachable",
            "starter.py",
            ("act", cid, PSA_REVIEW, "--as", "psa", "--decision", "approve"),
            3,
            "no-temporal",
        ),
        Case("list, Temporal unreachable", "starter.py", ("list",), 3, "no-temporal"),
        Case(
            "postpone, Temporal unreachable",
            "starter.py",
            ("postpone", cid, PSA_REVIEW, "--to", "2099-01-01", "--reason", "r"),
            3,
            "no-temporal",
        ),
        Case(
            "reassign, Temporal unreachable",
            "starter.py",
            ("reassign", cid, PSA_REVIEW, "--to", "x", "--reason", "r"),
            3,
            "no-temporal",
        ),
        Case(
            "terminate, Temporal unreachable",
            "starter.py",
            ("terminate", cid, "--reason", "r"),
            3,
            "no-temporal",
        ),
        # PostgreSQL unreachable
        Case(
            "start, PostgreSQL unreachable", "starter.py", ("start", str(f.valid)), 3, "no-database"
        ),
        Case("inbox, PostgreSQL unreachable", "starter.py", ("inbox", "psa"), 3, "no-database"),
        Case(
            "terminate, PostgreSQL unreachable",
            "starter.py",
            ("terminate", cid, "--reason", "r"),
            3,
            "no-database",
        ),
        Case("status, PostgreSQL unreachable", "starter.py", ("status", cid), 0, "no-database"),
        # a convention whose workflow cannot move: said in one line, exit 3
        Case("status, no worker", "starter.py", ("status", idle), 3),
        Case(
            "act, no worker",
            "starter.py",
            ("act", idle, PSA_REVIEW, "--as", "psa", "--decision", "approve"),
            3,
        ),
        Case(
            "postpone, no worker",
            "starter.py",
            ("postpone", idle, PSA_REVIEW, "--to", "2099-01-01", "--reason", "r"),
            3,
        ),
        Case(
            "reassign, no worker",
            "starter.py",
            ("reassign", idle, PSA_REVIEW, "--to", "x", "--reason", "r"),
            3,
        ),
        Case("status, workflow task failing", "starter.py", ("status", failing), 3),
        Case(
            "status --json, workflow task failing", "starter.py", ("status", "--json", failing), 3
        ),
        Case(
            "act, workflow task failing",
            "starter.py",
            ("act", failing, PSA_REVIEW, "--as", "psa", "--decision", "approve"),
            3,
        ),
        Case(
            "postpone, workflow task failing",
            "starter.py",
            ("postpone", failing, PSA_REVIEW, "--to", "2099-01-01", "--reason", "r"),
            3,
        ),
    ]
    audit = [
        Case("audit unknown command", "audit.py", ("frobnicate",), 2, "offline"),
        Case("audit replay nothing named", "audit.py", ("replay",), 2, "offline"),
        Case("audit export without --out", "audit.py", ("export", cid), 2, "offline"),
        Case(
            "audit timeline bad format",
            "audit.py",
            ("timeline", cid, "--format", "pdf"),
            2,
            "offline",
        ),
        Case(
            "audit replay missing file",
            "audit.py",
            ("replay", "--file", "no/such/history.json"),
            4,
            "offline",
        ),
        Case(
            "audit replay a file that is not a history",
            "audit.py",
            ("replay", "--file", str(f.bad_yaml)),
            2,
            "offline",
        ),
        Case(
            "audit replay malformed query",
            "audit.py",
            ("replay", "--query", "ConventionStage = "),
            2,
        ),
        Case("audit replay unknown convention", "audit.py", ("replay", f"{cid}-never"), 4),
        Case("audit timeline unknown convention", "audit.py", ("timeline", f"{cid}-never"), 4),
        Case("audit verify unknown convention", "audit.py", ("verify", f"{cid}-never"), 4),
        Case(
            "audit export unknown convention",
            "audit.py",
            ("export", f"{cid}-never", "--out", str(f.directory / "out")),
            4,
        ),
        Case("audit replay, Temporal unreachable", "audit.py", ("replay", cid), 3, "no-temporal"),
        Case("audit verify, PostgreSQL unreachable", "audit.py", ("verify", cid), 3, "no-database"),
    ]
    return starter + audit


@dataclass(frozen=True)
class Ran:
    case: Case
    run: CliRun


@pytest_asyncio.fixture(scope="module")
async def ran(
    dev_env: WorkflowEnvironment, postgres_url: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[dict[str, Ran]]:
    client: Client = dev_env.client
    convention = example("tanger-four-conventions")
    await start_convention(client, convention, DEV_TASK_QUEUE)
    await find_task(client, convention.id, PSA_REVIEW, wait_seconds=60)
    idle = example("tanger-four-conventions")
    await start_convention(client, idle, f"pacte-no-worker-{idle.id}")
    failing = f"undecodable-{idle.id}"
    await client.start_workflow(  # an input the worker cannot decode: every task fails
        "ConventionWorkflow",
        {"convention": {"id": failing}},
        id=workflow_id_for(failing),
        task_queue=DEV_TASK_QUEUE,
    )
    await asyncio.sleep(6)  # past the first retry, and past UNSCHEDULED_WORKFLOW_TASK
    files = _files(tmp_path_factory.mktemp("broken"))
    environments = {
        "stack": cli_env(dev_env, postgres_url),
        "offline": cli_env(temporal=CLOSED_PORT, postgres_url=NO_DATABASE),
        "no-temporal": cli_env(temporal=CLOSED_PORT, postgres_url=postgres_url),
        "no-database": cli_env(dev_env, NO_DATABASE),
    }
    gate = asyncio.Semaphore(AT_ONCE)

    async def one(case: Case) -> Ran:
        async with gate:
            return Ran(case, await _run(case.program, case.args, environments[case.environment]))

    cases = _cases(files, convention.id, idle.id, failing)
    results = await asyncio.gather(*(one(case) for case in cases))
    yield {result.case.name: result for result in results}
    for convention_id in (convention.id, idle.id, failing):
        await client.get_workflow_handle(workflow_id_for(convention_id)).terminate("fin du test")


def _names() -> list[str]:
    placeholder = Files(*(Path("/nonexistent") for _ in range(len(Files.__dataclass_fields__))))
    return [case.name for case in _cases(placeholder, "x", "y", "z")]


@pytest.mark.parametrize("name", _names())
def test_a_broken_command_ends_in_one_line_and_its_exit_code_never_a_traceback(
    name: str, ran: dict[str, Ran]
) -> None:
    case, run = ran[name].case, ran[name].run

    assert "Traceback" not in run.stderr and "Traceback" not in run.stdout, run
    assert run.code == case.code, run
    if case.code == 0:
        return
    assert run.stdout == "", run
    lines = run.stderr_lines
    assert lines, run
    if case.code == 2 and lines[0].startswith("usage:") and len(lines) > 1:
        # argparse: its usage, then one line naming the mistake
        assert lines[-1].startswith(("starter.py", "audit.py")), run
        return
    if lines[0].startswith("refused: ") and len(lines) > 1:
        # a refused input: its source, then one indented line per problem
        assert all(line.startswith("  ") for line in lines[1:]), run
        return
    assert len(lines) <= 2, run  # one line (audit.py may add its source line)
    if (case.code == 3 and "worker" in case.name) or "failing" in case.name:
        assert lines == [lines[0]] and lines[0].startswith("stuck: convention "), run
