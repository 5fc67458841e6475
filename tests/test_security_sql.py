"""Every SQL statement is parameterised; quotes, SQL fragments and Arabic pass through unchanged.

- No SQL is built from text: a scan of the project's Python sources finds no call to
  execute/fetch/fetchrow/fetchval/executemany/copy_*… whose statement is an f-string, a
  concatenation or a `.format()` (directly, or through a name a function assigns one), and
  names the file and line of any that appears.
- A convention whose title, party, contact, officer, answer comments and actor hold
  `O'Brien`, `'; DROP TABLE milestones; --`, `Robert"); --` and Arabic goes through the
  milestones, the notifications, the task inbox (`starter.py inbox --json`) and
  `audit.py verify`: everything is stored and shown unchanged, and every table is still there.
"""

from __future__ import annotations

import ast
import json
from pathlib import Path

import asyncpg
from temporalio.testing import WorkflowEnvironment

from application.conventions import find_task
from devkit.programs import run_program
from infra.settings import PROJECT_ROOT
from schemas.convention import Convention
from schemas.milestones import MilestoneKind
from tests.cli_runner import cli_env, run_cli, settled_status, write_convention
from tests.conftest import example, forget_organisations

SQL_CALLS = frozenset(
    {
        "execute",
        "executemany",
        "fetch",
        "fetchrow",
        "fetchval",
        "prepare",
        "cursor",
        "copy_from_query",
        "copy_from_table",
        "copy_to_table",
        "copy_records_to_table",
    }
)
SKIPPED_DIRECTORIES = frozenset({".venv", ".pacte", ".git", "build", "node_modules"})
COMPOSED_FROM_FIXED_CLAUSES = {
    "storage/convention_search.py": (
        "tests/test_office_conventions.py",
        "the conventions list's filters and orders: each clause is a fixed text of this module,"
        " chosen by which filters are given; every value a person gives is a $n parameter",
    ),
}
"""The one file allowed to compose a statement: nine optional filters and three orders make
hundreds of statements, which a single one with `$n IS NULL OR …` would plan badly at
100,000 conventions. Its test sends quotes, SQL and tsquery operators through every filter."""


def _built_from_text(node: ast.expr) -> bool:
    """An f-string with a placeholder, a concatenation or %-format, or a `.format()` call."""
    if isinstance(node, ast.JoinedStr):
        return any(isinstance(part, ast.FormattedValue) for part in node.values)
    if isinstance(node, ast.BinOp):
        return not all(
            isinstance(side, ast.Constant) and isinstance(side.value, str)
            for side in (node.left, node.right)
        )
    return (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "format"
    )


def unparameterised_sql(source: str, filename: str) -> list[str]:
    """`file:line: call(...)` for each SQL call whose statement is built from text."""
    tree = ast.parse(source, filename)
    # A name a function assigns a statement built from text. Module-level constants are left
    # alone: computed once from the code (a column list joined from a tuple), never from input.
    built_names = {
        target.id
        for function in ast.walk(tree)
        if isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef)
        for node in ast.walk(function)
        if isinstance(node, ast.Assign | ast.AnnAssign) and node.value is not None
        for target in (node.targets if isinstance(node, ast.Assign) else [node.target])
        if isinstance(target, ast.Name) and _built_from_text(node.value)
    }
    found = []
    for node in ast.walk(tree):
        if not (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in SQL_CALLS
            and node.args
        ):
            continue
        statement = node.args[0]
        if _built_from_text(statement) or (
            isinstance(statement, ast.Name) and statement.id in built_names
        ):
            found.append(f"{filename}:{node.lineno}: {node.func.attr}({ast.unparse(statement)})")
    return found


def python_sources(root: Path) -> list[Path]:
    """The project's own Python files."""
    return sorted(
        path
        for path in root.rglob("*.py")
        if not SKIPPED_DIRECTORIES.intersection(path.relative_to(root).parts)
    )


def test_the_scan_catches_sql_built_from_text() -> None:
    source = """
COLUMNS = ", ".join(("a", "b"))
BY_NAME = f"SELECT {COLUMNS} FROM t WHERE name = $1"

async def leaky(pool, connection, table, name):
    await pool.execute(f"DELETE FROM {table}")
    await pool.fetch("SELECT * FROM t WHERE name = '" + name + "'")
    await connection.fetchrow("SELECT * FROM t WHERE name = '{}'".format(name))
    await pool.fetchval("SELECT %s" % name)
    query = f"SELECT * FROM {table}"
    await pool.fetch(query)
    await pool.copy_records_to_table(f"{table}", records=[])
    await pool.execute("SELECT $1", name)
    await pool.execute("SELECT 1 " "FROM t")
    await pool.fetch(BY_NAME, name)
"""
    assert [line.split(": ")[0] for line in unparameterised_sql(source, "leaky.py")] == [
        "leaky.py:6",
        "leaky.py:7",
        "leaky.py:8",
        "leaky.py:9",
        "leaky.py:11",
        "leaky.py:12",
    ]


def test_every_sql_statement_in_the_project_is_parameterised() -> None:
    sources = python_sources(PROJECT_ROOT)
    assert len(sources) > 40 and any(path.name == "milestones.py" for path in sources)
    found = [
        line
        for path in sources
        if str(path.relative_to(PROJECT_ROOT)) not in COMPOSED_FROM_FIXED_CLAUSES
        for line in unparameterised_sql(
            path.read_text(encoding="utf-8"), str(path.relative_to(PROJECT_ROOT))
        )
    ]
    for composer, (its_test, _why) in COMPOSED_FROM_FIXED_CLAUSES.items():
        assert (PROJECT_ROOT / its_test).read_text(encoding="utf-8").count("DROP TABLE"), (
            f"{composer} composes its statements: {its_test} must send SQL through them"
        )
    assert found == [], "SQL built from text (pass the values as $1, $2…):\n" + "\n".join(found)


# --- hostile text, through the real stack ---------------------------------------------

O_BRIEN = "O'Brien"
DROP = "'; DROP TABLE milestones; --"
ROBERT = 'Robert"); --'
ARABIC = "يرجى المراجعة قبل التوقيع"
TITLE = f"Convention {O_BRIEN} {DROP} {ARABIC}"
PARTY_NAME = f"{O_BRIEN} & Fils {ROBERT}"
CONTACT_NAME = f"{ROBERT} DROP TABLE tasks; -- {O_BRIEN}"
OFFICER = f"{O_BRIEN} {DROP}"
COMMENTS = f"{DROP} {ROBERT} {ARABIC} – {O_BRIEN}"
ACTOR = f"{ROBERT} {O_BRIEN}"
TABLES = ("milestones", "notifications", "deliveries", "delivery_attempts", "tasks")
PSA_REVIEW = "drafting.review.v1.psa"
REVISION = "drafting.revise.v2"


def hostile_convention() -> Convention:
    """The Tanger convention with quotes, SQL and Arabic in every name a person writes."""
    data = example("tanger-four-conventions").model_dump(mode="json")
    data["title"] = TITLE
    data["officer"]["name"] = OFFICER
    mic = data["parties"][1]
    assert mic["id"] == "mic"
    mic["name"] = PARTY_NAME
    mic["contacts"][0]["name"] = CONTACT_NAME
    return Convention.model_validate(data)


async def test_quotes_sql_fragments_and_arabic_are_stored_and_shown_unchanged(
    dev_env: WorkflowEnvironment, db_pool: asyncpg.Pool, postgres_url: str, tmp_path: Path
) -> None:
    client = dev_env.client
    env = cli_env(dev_env, postgres_url)
    convention = hostile_convention()

    async def rows_elsewhere() -> list[int]:
        return [
            await db_pool.fetchval(query, convention.id)
            for query in (
                "SELECT count(*) FROM milestones WHERE convention_id <> $1",
                "SELECT count(*) FROM notifications WHERE convention_id <> $1",
                "SELECT count(*) FROM tasks WHERE convention_id <> $1",
            )
        ]

    # Its file brings its parties into the directory (none held before, as a first import).
    await forget_organisations(db_pool, (party.id for party in convention.parties))
    before = await rows_elsewhere()
    started = await run_cli(
        "start", str(write_convention(convention, tmp_path / "c.yaml")), env=env
    )
    assert started.code == 0, started
    await find_task(client, convention.id, PSA_REVIEW, wait_seconds=30)
    answered = await run_cli(
        "act",
        convention.id,
        PSA_REVIEW,
        "--as",
        "psa",
        "--decision",
        "request_changes",
        "--version",
        "1",
        "--comments",
        COMMENTS,
        "--actor",
        ACTOR,
        env=env,
    )
    assert answered.code == 0, answered
    status = await settled_status(client, db_pool, convention.id)

    # Every table is still there, no row of the other conventions gone.
    for table in TABLES:
        assert await db_pool.fetchval("SELECT to_regclass($1)::text", table) == table
    # (Other tests' conventions may still be writing: their rows may grow, never go.)
    after = await rows_elsewhere()
    assert all(a >= b for a, b in zip(after, before, strict=True)), "rows of others deleted"

    # Milestones: as the workflow recorded them, byte for byte.
    rows = await db_pool.fetch(
        "SELECT seq, kind, task_id, summary, actor, details FROM milestones"
        " WHERE convention_id = $1 ORDER BY seq",
        convention.id,
    )
    assert [row["summary"] for row in rows] == [m.summary for m in status.milestones]
    assert rows[0]["summary"] == f"Convention started: {TITLE}"
    [answer] = [
        row
        for row in rows
        if row["kind"] == MilestoneKind.TASK_ANSWERED.value and row["task_id"] == PSA_REVIEW
    ]
    assert answer["actor"] == ACTOR
    assert answer["details"]["answer"]["comments"] == COMMENTS
    assert (
        await db_pool.fetchval(
            "SELECT count(*) FROM milestones WHERE convention_id = $1 AND actor = $2",
            convention.id,
            ACTOR,
        )
        == 1
    )

    # Notifications: the contact as written.
    notifications = await db_pool.fetch(
        "SELECT party, recipients FROM notifications WHERE convention_id = $1",
        convention.id,
    )
    to_mic = [row for row in notifications if row["party"] == "mic"]
    assert to_mic and all(row["recipients"][0]["name"] == CONTACT_NAME for row in to_mic)

    # The task inbox: the revision PSA asked for, its comments in the title, read back
    # from the table and through the CLI.
    revise_title = f"Revise the text as psa asked: {COMMENTS}"
    assert (
        await db_pool.fetchval(
            "SELECT title FROM tasks WHERE convention_id = $1 AND task_id = $2",
            convention.id,
            REVISION,
        )
        == revise_title
    )
    inbox = await run_cli("inbox", "ofppt", "--json", env=env)
    assert inbox.code == 0, inbox
    owed = [entry for entry in json.loads(inbox.stdout) if entry["convention_id"] == convention.id]
    assert [(entry["task_id"], entry["title"]) for entry in owed] == [(REVISION, revise_title)]

    # The auditors' check: the rows agree with the history and their hash chain holds.
    verified = await run_program("audit.py", "verify", convention.id, env=env)
    assert verified.code == 0 and verified.stdout.startswith("ok "), verified
