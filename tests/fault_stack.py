"""A stack that the fault tests may break: workers, PostgreSQL and Temporal of their own.

- `WorkerProcess`: `python worker.py` as an operator runs it, which a test can SIGKILL;
- `PrivatePostgres`: an embedded PostgreSQL in a test's own directory, stopped and started
  again on the same data directory (the session's `postgres_url` is shared: never stopped);
- `PrivateTemporal`: a file-backed Temporal dev server on a free port, stopped and started
  again on the same file;
- `recorded_exactly_once`: the proof that nothing was lost or doubled — PostgreSQL's
  milestones are the workflow's, seq 1..N, hash-chained, and each task's notification was
  recorded under its one id.

Everything is bounded in time: a wait that does not end fails the test with what it saw.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import asyncpg
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from application.conventions import ConventionUnreadable, convention_status
from auditing.verify import chain_findings
from demo import play_scenario
from infra.embedded import (
    TemporalDevServer,
    start_temporal_dev_server,
    stop_embedded_postgres,
    wait_for_temporal,
)
from infra.settings import PROJECT_ROOT, Settings
from infra.temporal_client import connect
from records.chain import GENESIS_HASH
from schemas.convention import Convention
from schemas.convention_file import AnswerScript
from schemas.milestones import Milestone, MilestoneKind
from schemas.status import ConventionStatus
from schemas.tasks import TaskKind
from workflows.convention import workflow_id_for

T = TypeVar("T")

VENV_PYTHON = PROJECT_ROOT / ".venv" / "bin" / "python"
PYTHON = str(VENV_PYTHON) if VENV_PYTHON.exists() else sys.executable
STOP_SECONDS = 20.0


def free_port() -> int:
    """A TCP port nobody listens on right now (never the demo's 7233/8233)."""
    while True:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port: int = probe.getsockname()[1]
        if port not in (7233, 8233):
            return port


async def client_for(address: str, *, within: float = 30.0) -> Client:
    """A client of this Temporal server, configured as the CLI and the worker configure theirs;
    waits for a server just started to call itself healthy."""
    settings = Settings(
        temporal_address=address,
        temporal_namespace="default",
        task_queue="unused",
        database_url=None,
        state_dir=PROJECT_ROOT / ".pacte",
    )
    await wait_for_temporal(settings, within_seconds=within)
    return await connect(settings)


# A busy dev server sometimes drops a call ("context canceled"): the partners call again.
TRANSIENT = {RPCStatusCode.CANCELLED, RPCStatusCode.DEADLINE_EXCEEDED, RPCStatusCode.UNAVAILABLE}


async def play(
    client: Client, task_queue: str, convention: Convention, script: AnswerScript
) -> ConventionStatus:
    """demo.play_scenario, played again after a call the server dropped (it resumes: the
    convention is not started twice and no answer is given twice)."""
    for attempt in range(1, 4):
        try:
            return await play_scenario(client, task_queue, convention, script)
        except ConventionUnreadable:  # no worker answered in time: the one killed
            if attempt == 3:
                raise
            await asyncio.sleep(1)
        except RPCError as error:
            if error.status not in TRANSIENT or attempt == 3:
                raise
            await asyncio.sleep(1)
    raise AssertionError("unreachable")


async def status_of(client: Client, convention_id: str) -> ConventionStatus:
    """The workflow's status, asked again after a call the server dropped."""
    for attempt in range(1, 4):
        try:
            return await convention_status(client, convention_id)
        except ConventionUnreadable:
            if attempt == 3:
                raise
            await asyncio.sleep(1)
        except RPCError as error:
            if error.status not in TRANSIENT or attempt == 3:
                raise
            await asyncio.sleep(1)
    raise AssertionError("unreachable")


# --- workers ------------------------------------------------------------------------------


def worker_environment(temporal_address: str, database_url: str, task_queue: str) -> dict[str, str]:
    """An operator's environment for `python worker.py`: this stack, this task queue only."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("TEMPORAL_", "PACTE_")) and name != "DATABASE_URL"
    }
    env.update(
        TEMPORAL_ADDRESS=temporal_address,
        DATABASE_URL=database_url,
        PACTE_TASK_QUEUE=task_queue,
        PYTHONUNBUFFERED="1",
    )
    return env


class WorkerProcess:
    """One `python worker.py` subprocess; its output goes to a log file the test can show."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.env = env
        self.log = log
        self.process: asyncio.subprocess.Process | None = None

    async def start(self) -> WorkerProcess:
        """Start it (it connects, migrates and polls on its own)."""
        with self.log.open("ab") as sink:
            self.process = await asyncio.create_subprocess_exec(
                PYTHON,
                "worker.py",
                cwd=PROJECT_ROOT,
                env=self.env,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=sink,
                stderr=sink,
            )
        return self

    @property
    def alive(self) -> bool:
        """Started and not exited."""
        return self.process is not None and self.process.returncode is None

    async def kill(self) -> int:
        """SIGKILL: no clean shutdown, whatever it was doing is cut. Returns the exit status."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        return await asyncio.wait_for(self.process.wait(), STOP_SECONDS)

    async def stop(self) -> None:
        """SIGTERM, as an operator stops it; SIGKILL if it does not leave in time."""
        if not self.alive:
            return
        assert self.process is not None
        self.process.terminate()
        try:
            await asyncio.wait_for(self.process.wait(), STOP_SECONDS)
        except TimeoutError:
            self.process.kill()
            await self.process.wait()

    def log_tail(self, lines: int = 40) -> str:
        """The end of the workers' log, for a failing assertion's message."""
        if not self.log.exists():
            return "(no log)"
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


# --- a PostgreSQL and a Temporal server the test may stop ----------------------------------

_START_POSTGRES = (
    "import sys; from pathlib import Path; from infra.embedded import embedded_postgres_url; "
    "print(embedded_postgres_url(Path(sys.argv[1])))"
)


class PrivatePostgres:
    """An embedded PostgreSQL in the test's own directory, which the test stops and restarts."""

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir

    async def start(self) -> str:
        """Start it (again) on its data directory and return its URL.

        In a fresh interpreter: embedded_postgres caches one server handle per data directory
        and process, and would hand back a stopped server's URL without starting it.
        """
        process = await asyncio.create_subprocess_exec(
            PYTHON,
            "-c",
            _START_POSTGRES,
            str(self.state_dir),
            cwd=PROJECT_ROOT,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(process.communicate(), 60)
        assert process.returncode == 0, err.decode(errors="replace")
        return out.decode().strip().splitlines()[-1]

    async def stop(self) -> None:
        """A fast shutdown: every session is cut, as when the database server goes down."""
        await asyncio.to_thread(stop_embedded_postgres, self.state_dir)

    @property
    def running(self) -> bool:
        """Whether its postmaster runs."""
        return (self.state_dir / "pgdata" / "postmaster.pid").exists()


class PrivateTemporal:
    """A file-backed Temporal dev server on a free port, stopped and started on the same file."""

    def __init__(self, state_dir: Path, port: int) -> None:
        self.state_dir = state_dir
        self.port = port
        self.server: TemporalDevServer | None = None

    @property
    def address(self) -> str:
        """host:port."""
        return f"127.0.0.1:{self.port}"

    async def start(self) -> str:
        """Start (or restart) on the same port and database file; registers search attributes."""
        self.server = await asyncio.to_thread(
            start_temporal_dev_server, self.state_dir, port=self.port, ui_port=None
        )
        return self.server.address

    async def stop(self) -> None:
        """SIGTERM, and wait for the process to exit."""
        if self.server is not None:
            await asyncio.to_thread(self.server.stop)


# --- nothing lost, nothing doubled --------------------------------------------------------

_ROWS = """
SELECT convention_id, seq, kind, stage, task_id, party, actor, occurred_at, summary, details,
       workflow_id, run_id, prev_hash, hash
FROM milestones WHERE convention_id = $1 ORDER BY seq
"""


@dataclass(frozen=True)
class Recorded:
    """What PostgreSQL holds of one convention, checked against its workflow."""

    status: ConventionStatus
    rows: list[asyncpg.Record]
    notification_ids: list[str]


async def recorded_exactly_once(pool: asyncpg.Pool, client: Client, convention_id: str) -> Recorded:
    """Assert PostgreSQL holds each of the workflow's milestones once, unchanged and chained,
    and each task's notification once under its stable id; return what was checked."""
    status = await status_of(client, convention_id)
    rows = list(await pool.fetch(_ROWS, convention_id))
    assert [row["seq"] for row in rows] == list(range(1, status.milestone_count + 1)), (
        f"{convention_id}: seqs in PostgreSQL {[row['seq'] for row in rows]} "
        f"for {status.milestone_count} milestones recorded by the workflow"
    )
    # The workflow keeps its latest milestones (since its run began, at most the window):
    # PostgreSQL's last rows are those, unchanged.
    kept_in_workflow = [
        m.model_copy(update={"details": m.model_dump(mode="json")["details"]})
        for m in status.milestones
    ]
    timeline = [
        Milestone.model_validate({name: row[name] for name in Milestone.model_fields})
        for row in rows
    ]
    stored = timeline[len(timeline) - len(kept_in_workflow) :]
    first_difference = next(
        ((row, kept) for row, kept in zip(stored, kept_in_workflow, strict=False) if row != kept),
        None,
    )
    assert stored == kept_in_workflow, (
        f"{convention_id}: PostgreSQL's milestones differ from the workflow's; first: "
        f"{first_difference!r}"
    )
    assert rows[0]["prev_hash"] == GENESIS_HASH
    assert chain_findings(convention_id, {row["seq"]: dict(row) for row in rows}) == []

    notification_ids = [
        row["id"]
        for row in await pool.fetch(
            "SELECT id FROM notifications WHERE convention_id = $1 ORDER BY id", convention_id
        )
    ]
    assigned = [m for m in timeline if m.kind is MilestoneKind.TASK_ASSIGNED]
    # An escalation is the officer's task, announced as such (task.escalated, to the officer).
    expected = {
        f"{convention_id}/{m.task_id}/task.escalated/officer"
        if m.details.get("kind") == TaskKind.RESOLVE_ESCALATION.value
        else f"{convention_id}/{m.task_id}/task.assigned"
        for m in assigned
    }
    assert expected <= set(notification_ids), (
        f"{convention_id}: each task assigned is notified under its stable id; "
        f"missing {sorted(expected - set(notification_ids))}"
    )
    # Other events (a stage announced to the parties…) are notified too, each id once.
    assert all(n.startswith(f"{convention_id}/") for n in notification_ids)
    assert len(set(notification_ids)) == len(notification_ids)
    unsettled = await pool.fetchval(
        "SELECT count(*) FROM deliveries WHERE notification_id = ANY($1::text[])"
        " AND status IN ('pending', 'sending', 'retrying')",
        notification_ids,
    )
    assert unsettled == 0, f"{convention_id}: deliveries left in flight"
    return Recorded(status, rows, notification_ids)


async def retried_activities(client: Client, convention_ids: Iterable[str]) -> dict[str, int]:
    """Activity type -> how many of these conventions' activities completed on a retry."""
    retried: dict[str, int] = {}
    for convention_id in convention_ids:
        history = await client.get_workflow_handle(workflow_id_for(convention_id)).fetch_history()
        scheduled: dict[int, str] = {}
        for event in history.events:
            if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
                activity_type = event.activity_task_scheduled_event_attributes.activity_type
                scheduled[event.event_id] = activity_type.name
            elif event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
                started = event.activity_task_started_event_attributes
                if started.attempt > 1:
                    name = scheduled[started.scheduled_event_id]
                    retried[name] = retried.get(name, 0) + 1
    return retried
