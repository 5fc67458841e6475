"""`starter.py inbox PARTY`: what a party owes across conventions, read from PostgreSQL."""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
from temporalio.client import Client

from application.conventions import (
    answer_open_task,
    convention_status,
    find_task,
    start_convention,
)
from application.scenarios import InboxWatch, play
from benchmarks.metering import ClientCalls, counting_client
from devkit.polling import eventually
from infra.settings import PROJECT_ROOT
from schemas.channels import InboxEntry
from schemas.convention import Convention
from schemas.convention_file import load_answer_script
from schemas.milestones import MilestoneKind
from schemas.status import ConventionState
from schemas.tasks import TaskKind, TaskStatus
from storage.inbox import inbox_task, owed_tasks
from tests.conftest import DEV_TASK_QUEUE, EXAMPLES, example
from tests.test_delivery_webhook import DECISION, stop

VENV_PYTHON = PROJECT_ROOT / ".venv" / "bin" / "python"
PYTHON = str(VENV_PYTHON) if VENV_PYTHON.exists() else sys.executable


def funding_due_in(days: int) -> Convention:
    """Bamako reduced to its funding request, due in so many days, no delivery channel."""
    data = example("bamako-cooperation").model_dump(mode="json")
    data["stages"] = [
        dict(s, due_in_days=days) for s in data["stages"] if s["stage"] == "funding_request"
    ]
    return Convention.model_validate(data)


async def inbox_cli(*args: str, database_url: str) -> tuple[int, str, str]:
    """Run `python starter.py inbox ARGS` as an officer would; (exit code, stdout, stderr)."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("TEMPORAL_", "PACTE_")) and name != "DATABASE_URL"
    }
    env["DATABASE_URL"] = database_url
    process = await asyncio.create_subprocess_exec(
        PYTHON,
        "starter.py",
        "inbox",
        *args,
        cwd=PROJECT_ROOT,
        env=env,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode is not None
    return process.returncode, stdout.decode("utf-8"), stderr.decode("utf-8")


def of(entries: list[InboxEntry], conventions: list[Convention]) -> list[tuple[str, str]]:
    """(convention, task) of the entries that belong to these conventions, in order."""
    ids = {convention.id for convention in conventions}
    return [(e.convention_id, e.task_id) for e in entries if e.convention_id in ids]


async def test_the_inbox_lists_open_tasks_across_conventions_overdue_first_then_by_due_date(
    client: Client, db_pool: asyncpg.Pool, postgres_url: str
) -> None:
    later, sooner, answered = funding_due_in(30), funding_due_in(10), funding_due_in(5)
    for convention in (later, sooner, answered):
        await start_convention(client, convention, DEV_TASK_QUEUE)
    await find_task(client, answered.id, DECISION, wait_seconds=20)
    await answer_open_task(
        client, answered.id, DECISION, "bid", {"decision": "reject", "comments": "Hors cadre"}
    )
    conventions = [later, sooner, answered]

    entries = await eventually(
        lambda: owed_tasks(db_pool, "bid", datetime.now(UTC)),
        # The answered task leaves the inbox and the other two enter it in any order:
        # wait for exactly those two before looking at their order.
        lambda found: set(of(found, conventions)) == {(sooner.id, DECISION), (later.id, DECISION)},
    )
    assert of(entries, conventions) == [(sooner.id, DECISION), (later.id, DECISION)]
    assert not any(e.overdue for e in entries if e.convention_id in {later.id, sooner.id})

    # Twenty days on, the sooner one is overdue and comes first; the later one is not.
    in_20_days = await owed_tasks(db_pool, "bid", datetime.now(UTC) + timedelta(days=20))
    mine = [e for e in in_20_days if e.convention_id in {later.id, sooner.id}]
    assert [(e.convention_id, e.overdue) for e in mine] == [(sooner.id, True), (later.id, False)]
    assert all(
        earlier.overdue >= following.overdue
        for earlier, following in itertools.pairwise(in_20_days)
    )

    code, stdout, stderr = await inbox_cli("bid", "--json", database_url=postgres_url)
    assert code == 0, stderr
    listed = [InboxEntry.model_validate(item) for item in json.loads(stdout)]
    assert of(listed, conventions) == [(sooner.id, DECISION), (later.id, DECISION)]
    assert [e.due_at for e in listed] == sorted(e.due_at for e in listed)

    code, stdout, stderr = await inbox_cli("bid", database_url=postgres_url)
    assert code == 0, stderr
    lines = stdout.splitlines()
    assert lines[0].startswith("bid owes ")
    positions = [
        next(i for i, line in enumerate(lines) if convention.id in line)
        for convention in (sooner, later)
    ]
    assert positions == sorted(positions)
    assert answered.id not in stdout
    for convention in (later, sooner):
        await stop(client, convention.id)


async def test_a_review_cancelled_by_a_request_for_changes_leaves_the_reviewers_inbox(
    client: Client, db_pool: asyncpg.Pool
) -> None:
    data: dict[str, Any] = example("tanger-four-conventions").model_dump(mode="json")
    data["stages"] = [dict(data["stages"][0], reviewers=["psa", "mic"])]
    convention = Convention.model_validate(data)
    await start_convention(client, convention, DEV_TASK_QUEUE)
    review = await find_task(client, convention.id, "drafting.review.v1.psa", wait_seconds=20)
    await eventually(
        lambda: owed_tasks(db_pool, "mic", datetime.now(UTC)),
        lambda found: of(found, [convention]) == [(convention.id, "drafting.review.v1.mic")],
    )
    await answer_open_task(
        client,
        convention.id,
        review.id,
        "psa",
        {"decision": "request_changes", "version": 1, "comments": "Article 4 à revoir"},
    )
    await eventually(
        lambda: owed_tasks(db_pool, "mic", datetime.now(UTC)),
        lambda found: of(found, [convention]) == [],
    )
    state = await db_pool.fetchval(
        "SELECT status FROM tasks WHERE convention_id = $1 AND task_id = $2",
        convention.id,
        "drafting.review.v1.mic",
    )
    assert state == "cancelled"
    await stop(client, convention.id)


async def test_the_inbox_refuses_a_malformed_party_and_reports_an_unreachable_database(
    postgres_url: str,
) -> None:
    code, stdout, stderr = await inbox_cli("../etc", database_url=postgres_url)
    assert (code, stdout) == (1, "")
    assert "party: '../etc' is not a party id" in stderr
    assert "Traceback" not in stderr

    code, stdout, stderr = await inbox_cli("nobody-owes", database_url=postgres_url)
    assert (code, stdout.strip()) == (0, "nobody-owes owes no open task")

    closed_port = "postgresql://pacte@127.0.0.1:1/pacte"
    code, stdout, stderr = await inbox_cli("bid", database_url=closed_port)
    assert code == 3, stderr
    assert stderr.startswith("unavailable: DATABASE_URL: PostgreSQL does not answer")
    assert len(stderr.strip().splitlines()) == 1 and "Traceback" not in stderr


async def test_a_scenario_answered_from_the_inbox_asks_the_workflow_no_query(
    client: Client, db_pool: asyncpg.Pool
) -> None:
    """A partner's system's way (the desk's API): the task read from its inbox row, the
    answer built against it and sent; the workflow's validator decides, no query is asked."""
    convention = example("bamako-cooperation")
    script = load_answer_script(EXAMPLES / "bamako-cooperation.answers.yaml")
    calls = ClientCalls()

    await play(
        counting_client(client, calls),
        DEV_TASK_QUEUE,
        convention,
        script,
        resume=False,
        task_opened=InboxWatch(db_pool),
    )

    assert calls.queries == 0
    assert calls.updates == len(script.answers)
    status = await convention_status(client, convention.id)
    assert status.state is ConventionState.COMPLETED, status.reason
    answered = {m.task_id for m in status.milestones if m.kind is MilestoneKind.TASK_ANSWERED}
    assert answered == {step.task for step in script.answers if step.follow_up is None}


async def test_the_inbox_watch_gives_a_closed_task_to_the_workflow_query_to_explain(
    client: Client, db_pool: asyncpg.Pool
) -> None:
    convention = funding_due_in(30)
    await start_convention(client, convention, DEV_TASK_QUEUE)
    watch = InboxWatch(db_pool)
    opened = await watch(convention.id, DECISION, 20)
    assert opened is not None and opened.status is TaskStatus.OPEN
    assert opened.kind is TaskKind.DECIDE_FUNDING and opened.assignee == "bid"
    await answer_open_task(
        client, convention.id, DECISION, "bid", {"decision": "reject", "comments": "Hors cadre"}
    )
    closed = await eventually(
        lambda: inbox_task(db_pool, convention.id, DECISION),
        lambda task: task is not None and task.status is not TaskStatus.OPEN,
    )
    assert closed is not None and closed.status is TaskStatus.DONE
    assert await watch(convention.id, DECISION, 5) is None
    assert await watch(convention.id, "no.such.task", 0.3) is None
