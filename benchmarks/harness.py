"""What every benchmark shares: its own servers, a worker process, the Bamako shape, figures.

- `Servers`: a Temporal dev server (in memory, headless, on free ports, Pacte's search
  attributes registered) and an embedded PostgreSQL (migrated), both in a temporary
  directory, both stopped and removed afterwards.
- `WorkerProcess`: a worker in its own process (`python -m benchmarks.harness worker …`):
  Pacte's own `build_worker`, and/or the bare baselines of `benchmarks.bare_workflows`, so
  that its memory is its own and its CPU is not the driver's.
- The Bamako shape: `examples/bamako-cooperation.yaml` without its follow-up convention,
  played with its scripted answers through `application.conventions` as `demo.py` does.
- Figures: history profiles (activities per type, where the time goes), percentiles, tables,
  the ratio line every benchmark prints, and `finish`, which leaves with `os._exit` once the
  output is flushed (a Temporal client can abort at interpreter exit: sdk-python issue 300).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import inspect
import json
import logging
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Any, NoReturn

import psutil  # type: ignore[import-untyped]
import temporalio
import temporalio.client as client_module
from temporalio import activity
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHandle, WorkflowHistory
from temporalio.worker import (
    ActivityInboundInterceptor,
    ExecuteActivityInput,
    Interceptor,
    Worker,
)
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from application.conventions import (
    answer_open_task,
    answer_task,
    build_answer,
    convention_status,
    start_convention,
)
from infra.database import apply_migrations, create_pool
from infra.embedded import (
    embedded_postgres_url,
    port_open,
    stop_embedded_postgres,
    temporal_cli,
)
from infra.log_config import configure_logging
from infra.settings import (
    PROJECT_ROOT,
    DeliverySettings,
    Settings,
    load_max_concurrent_workflow_tasks,
)
from infra.temporal_client import connect as pacte_connect
from schemas.contract import SEARCH_ATTRIBUTES
from schemas.convention import Convention, DiagnosticStage, MissionStage
from schemas.convention_file import ScriptedAnswer, load_answer_script, load_convention
from schemas.tasks import Task
from workflows.convention import ConventionWorkflow, workflow_id_for

PACTE_QUEUE = "bench-pacte"
BARE_QUEUE = "bench-bare"
BAMAKO_FILE = PROJECT_ROOT / "examples" / "bamako-cooperation.yaml"
BAMAKO_ANSWERS = PROJECT_ROOT / "examples" / "bamako-cooperation.answers.yaml"
MISSION_STARTS_IN_DAYS = 60
SDK_DEFAULT_MAX_CACHED_WORKFLOWS: int = (
    inspect.signature(Worker).parameters["max_cached_workflows"].default
)


# --- the machine and the output -------------------------------------------------------------


def load_average() -> str:
    """The 1, 5 and 15 minute load averages, as `uptime` prints them."""
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f}, {five:.2f}, {fifteen:.2f}"


def print_header(name: str, settings: dict[str, Any]) -> None:
    """What ran, where, when, with which sizes."""
    configure_logging(logging.WARNING)  # the driver's own: only what goes wrong
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    print(f"== benchmark: {name}", flush=True)
    print(
        f"   {now}; {os.cpu_count()} cores, {platform.machine()}, Python "
        f"{platform.python_version()}, temporalio {temporalio.__version__}; "
        f"load average {load_average()}"
    )
    print("   " + ", ".join(f"{key}={value}" for key, value in settings.items()), flush=True)


def print_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    """A compact left-aligned table."""
    cells = [[str(h) for h in headers], *[[_cell(value) for value in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    for index, row in enumerate(cells):
        print("   " + "  ".join(value.ljust(widths[i]) for i, value in enumerate(row)).rstrip())
        if index == 0:
            print("   " + "  ".join("-" * width for width in widths))
    sys.stdout.flush()


def _cell(value: object) -> str:
    if isinstance(value, float):
        return f"{value:,.3f}" if abs(value) < 10 else f"{value:,.1f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def print_ratio(label: str, ratio: float, *, target: float | None, at_least: bool) -> bool:
    """The line every benchmark prints: `ratio <what>: <value> (target …: met | NOT met)`."""
    if target is None:
        print(f"ratio  {label}: {ratio:.2f}  (no target)", flush=True)
        return True
    met = ratio >= target if at_least else ratio <= target
    sign = ">=" if at_least else "<="
    verdict = "met" if met else "NOT met"
    print(f"ratio  {label}: {ratio:.2f}  (target {sign} {target:g}: {verdict})", flush=True)
    return met


def print_load(when: str) -> None:
    """The load now: other engineers' test suites share these cores."""
    print(f"   load average {when}: {load_average()}", flush=True)


def percentile(values: Sequence[float], fraction: float) -> float:
    """The nearest-rank percentile (fraction in 0..1) of the values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(fraction * len(ordered) + 0.5)))
    return ordered[rank - 1]


def finish(main: Callable[[], int]) -> NoReturn:
    """Run a benchmark's main, flush, and leave with os._exit (sdk-python issue 300)."""
    try:
        code = main()
    except KeyboardInterrupt:
        code = 130
    except Exception:
        traceback.print_exc()
        code = 1
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def add_common_arguments(parser: argparse.ArgumentParser) -> None:
    """--quick: the small sizes; --keep: leave the temporary directory for a look."""
    parser.add_argument("--quick", action="store_true", help="small sizes, for a quick run")
    parser.add_argument(
        "--keep", action="store_true", help="keep the temporary directory (logs) afterwards"
    )


# --- servers ----------------------------------------------------------------------------


def stop_process(process: subprocess.Popen[Any] | None, *, within: float = 20) -> None:
    """Terminate a server still running; kill it if it has not left after `within` s."""
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=within)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def free_port() -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class Servers:
    """A Temporal dev server (in memory) and an embedded PostgreSQL, private to one run."""

    def __init__(self, *, keep: bool = False, temporal: bool = True) -> None:
        self.keep = keep
        self.with_temporal = temporal
        self.directory = Path(tempfile.mkdtemp(prefix="pacte-bench-"))
        self.temporal: subprocess.Popen[bytes] | None = None
        self.temporal_address = ""
        self.database_url = ""
        self._postgres_started = False

    def __enter__(self) -> Servers:
        try:
            self._start()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def _start(self) -> None:
        started = time.monotonic()
        port = free_port()
        if self.with_temporal:
            # The dev server starts while PostgreSQL does.
            command = [
                temporal_cli(),
                "server",
                "start-dev",
                "--headless",
                "--ip",
                "127.0.0.1",
                "--port",
                str(port),
                "--http-port",
                str(free_port()),
                "--metrics-port",
                str(free_port()),
                "--log-level",
                "error",
            ]
            for name, kind in SEARCH_ATTRIBUTES.items():
                command += ["--search-attribute", f"{name}={kind}"]
            log = (self.directory / "temporal.log").open("ab")
            self.temporal = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        self.database_url = embedded_postgres_url(self.directory)
        self._postgres_started = True
        if self.temporal is not None:
            deadline = time.monotonic() + 60
            while not port_open(port):
                if self.temporal.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"the dev server did not start: see {self.directory}")
                time.sleep(0.1)
            self.temporal_address = f"127.0.0.1:{port}"
        asyncio.run(self._prepare())
        what = (
            f"Temporal dev server (in memory) {self.temporal_address}, "
            if self.with_temporal
            else ""
        )
        print(
            f"   servers up in {time.monotonic() - started:.1f} s: {what}"
            f"PostgreSQL in {self.directory}",
            flush=True,
        )

    async def _prepare(self) -> None:
        pool = await create_pool(self.database_url, max_size=1)
        try:
            await apply_migrations(pool)
        finally:
            await pool.close()
        if not self.with_temporal:
            return
        deadline = time.monotonic() + 30
        while True:
            try:
                await self.client()
                return
            except Exception:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.2)

    async def client(self) -> Client:
        """A client as Pacte's CLI makes it: pydantic converter, TEMPORAL_* settings."""
        return await pacte_connect(self.settings())

    def settings(self) -> Settings:
        """Pacte's settings pointing at these servers."""
        return Settings(
            temporal_address=self.temporal_address,
            temporal_namespace="default",
            task_queue=PACTE_QUEUE,
            database_url=self.database_url,
            state_dir=self.directory,
            delivery=DeliverySettings(),
        )

    def postgres_pid(self) -> int | None:
        """The postmaster's process id."""
        pid_file = self.directory / "pgdata" / "postmaster.pid"
        try:
            return int(pid_file.read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        stop_process(self.temporal)
        if self._postgres_started:
            stop_embedded_postgres(self.directory)
        if self.keep:
            print(f"   kept {self.directory}", flush=True)
        else:
            shutil.rmtree(self.directory, ignore_errors=True)


class ClientCalls(client_module.Interceptor):
    """Counts the queries and updates a client sends, and times the queries."""

    def __init__(self) -> None:
        self.queries = 0
        self.query_seconds = 0.0
        self.updates = 0

    def intercept_client(
        self, next: client_module.OutboundInterceptor
    ) -> client_module.OutboundInterceptor:
        return _CountingOutbound(next, self)


class _CountingOutbound(client_module.OutboundInterceptor):
    def __init__(self, next: client_module.OutboundInterceptor, calls: ClientCalls) -> None:
        super().__init__(next)
        self._calls = calls

    async def query_workflow(self, input: client_module.QueryWorkflowInput) -> Any:
        began = time.perf_counter()
        try:
            return await super().query_workflow(input)
        finally:
            self._calls.queries += 1
            self._calls.query_seconds += time.perf_counter() - began

    async def start_workflow_update(
        self, input: client_module.StartWorkflowUpdateInput
    ) -> client_module.WorkflowUpdateHandle[Any]:
        self._calls.updates += 1
        return await super().start_workflow_update(input)


def counting_client(client: Client, calls: ClientCalls) -> Client:
    """The same connection, its queries and updates counted."""
    config = client.config()
    config["interceptors"] = [*config["interceptors"], calls]
    return Client(**config)


# --- the worker process -----------------------------------------------------------------


class WorkerProcess:
    """A worker in its own process; `rss()` is its resident memory."""

    def __init__(
        self,
        servers: Servers,
        *,
        pacte: bool = False,
        bare: bool = False,
        max_cached_workflows: int | None = None,
        count_activities: bool = False,
        passthrough_all: bool = False,
        name: str = "worker",
    ) -> None:
        self.servers = servers
        self.command = [
            sys.executable,
            "-m",
            "benchmarks.harness",
            "worker",
            "--address",
            servers.temporal_address,
            "--database-url",
            servers.database_url,
        ]
        if pacte:
            self.command += ["--pacte-queue", PACTE_QUEUE]
        if bare:
            self.command += ["--bare-queue", BARE_QUEUE]
        if max_cached_workflows is not None:
            self.command += ["--max-cached-workflows", str(max_cached_workflows)]
        if count_activities:
            self.command.append("--count-activities")
        if passthrough_all:
            self.command.append("--passthrough-all")
        self.log_path = servers.directory / f"{name}.log"
        self.process: subprocess.Popen[str] | None = None
        self.activities = 0
        self.activities_by_type: dict[str, int] = {}
        self._ready = threading.Event()
        self._reader: threading.Thread | None = None

    def spawn(self) -> WorkerProcess:
        """Start the process without waiting for it (several workers start side by side)."""
        if self.process is not None:
            return self
        environment = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
        for name in list(environment):
            if name.startswith(("PACTE_SMTP_", "PACTE_WEBHOOK_SECRET_")):
                del environment[name]
        log = self.log_path.open("a")
        self.process = subprocess.Popen(
            self.command,
            cwd=PROJECT_ROOT,
            env=environment,
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        return self

    def __enter__(self) -> WorkerProcess:
        self.spawn()
        assert self.process is not None
        deadline = time.monotonic() + 120
        while not self._ready.wait(timeout=0.1):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.__exit__(None, None, None)
                tail = self.log_path.read_text(errors="replace").splitlines()[-5:]
                raise RuntimeError(
                    f"the worker did not start (see {self.log_path}): " + " | ".join(tail)
                )
        return self

    def _read(self) -> None:
        assert self.process is not None and self.process.stdout is not None
        for line in self.process.stdout:
            if line.startswith("ready"):
                self._ready.set()
            elif line.startswith("stats "):
                try:
                    stats, _ = json.JSONDecoder().raw_decode(line[len("stats ") :])
                    self.activities = stats["activities"]
                    self.activities_by_type = stats["by_type"]
                except (ValueError, KeyError, TypeError):
                    self._stray(line)
            else:
                self._stray(line)

    def _stray(self, line: str) -> None:
        # Anything else the worker writes on stdout goes to its log, not in the figures.
        with self.log_path.open("a") as log:
            log.write(f"[stdout] {line}")

    @property
    def pid(self) -> int:
        """The worker's process id."""
        assert self.process is not None
        return self.process.pid

    def rss(self) -> int:
        """The worker's resident memory, in bytes."""
        return int(psutil.Process(self.pid).memory_info().rss)

    def cpu_seconds(self) -> float:
        """CPU time the worker used so far (user + system)."""
        times = psutil.Process(self.pid).cpu_times()
        return float(times.user + times.system)

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def _cpu_seconds(pid: int | None, *, with_children: bool = False) -> float:
    if pid is None:
        return 0.0
    try:
        process = psutil.Process(pid)
        times = process.cpu_times()
        total = float(times.user + times.system)
        if with_children:
            # Reaped children (short-lived backends) and the live ones (pooled connections).
            total += float(times.children_user + times.children_system)
            for child in process.children(recursive=True):
                with contextlib.suppress(psutil.Error):
                    child_times = child.cpu_times()
                    total += float(child_times.user + child_times.system)
        return total
    except psutil.Error:
        return 0.0


class CpuMeter:
    """CPU seconds spent by each process of a run: driver, worker, Temporal, PostgreSQL."""

    def __init__(self, servers: Servers, worker: WorkerProcess) -> None:
        self._servers = servers
        self._worker = worker
        self._start = self._sample()

    def _sample(self) -> dict[str, float]:
        temporal = self._servers.temporal.pid if self._servers.temporal else None
        return {
            "driver (this process)": _cpu_seconds(os.getpid()),
            "worker": _cpu_seconds(self._worker.pid),
            "Temporal dev server": _cpu_seconds(temporal),
            "PostgreSQL": _cpu_seconds(self._servers.postgres_pid(), with_children=True),
        }

    def spent(self) -> dict[str, float]:
        """CPU seconds per process since the meter was made."""
        now = self._sample()
        return {name: now[name] - self._start[name] for name in now}


class _ActivityCounter(Interceptor):
    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _CountingActivity(next, self.counts)


class _CountingActivity(ActivityInboundInterceptor):
    def __init__(self, next: ActivityInboundInterceptor, counts: Counter[str]) -> None:
        super().__init__(next)
        self._counts = counts

    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        result = await super().execute_activity(input)
        self._counts[activity.info().activity_type] += 1
        return result


async def _serve(args: argparse.Namespace) -> None:
    import worker as pacte_worker
    from benchmarks.bare_workflows import BARE_WORKFLOWS, bare_activities

    configure_logging()  # as worker.py does: JSON lines on stderr (the worker's log file)
    client = await Client.connect(args.address, data_converter=_pydantic())
    counter = _ActivityCounter()
    # Both workers run as many workflow tasks at once as the product's worker does.
    options: dict[str, Any] = {
        "max_concurrent_workflow_tasks": load_max_concurrent_workflow_tasks()
    }
    if args.max_cached_workflows is not None:
        options["max_cached_workflows"] = args.max_cached_workflows
    if args.count_activities:
        options["interceptors"] = [counter]
    if args.passthrough_all:
        # An experiment, not the product: every module passed through the sandbox.
        options["workflow_runner"] = SandboxedWorkflowRunner(
            restrictions=SandboxRestrictions.default.with_passthrough_all_modules()
        )
    workers: list[Worker] = []
    pool = await create_pool(args.database_url)
    if args.pacte_queue:
        # build_worker is the product's own; only the cache size and the counter are added,
        # through the Worker it constructs.
        original = vars(pacte_worker)["Worker"]
        setattr(pacte_worker, "Worker", _with_options(original, options))  # noqa: B010
        try:
            workers.append(
                pacte_worker.build_worker(
                    client, pool, args.pacte_queue, delivery=DeliverySettings()
                )
            )
        finally:
            setattr(pacte_worker, "Worker", original)  # noqa: B010
    if args.bare_queue:
        workers.append(
            Worker(
                client,
                task_queue=args.bare_queue,
                workflows=BARE_WORKFLOWS,
                activities=bare_activities(pool),
                **options,
            )
        )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        async with contextlib.AsyncExitStack() as stack:
            for running in workers:
                await stack.enter_async_context(running)
            print("ready", flush=True)
            while not stop.is_set():
                if args.count_activities:
                    stats = {"activities": counter.counts.total(), "by_type": dict(counter.counts)}
                    print("stats " + json.dumps(stats), flush=True)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=0.5)
    finally:
        await pool.close()


def _with_options(original: Any, options: dict[str, Any]) -> Callable[..., Worker]:
    def make(*args: Any, **kwargs: Any) -> Worker:
        worker: Worker = original(*args, **{**kwargs, **options})
        return worker

    return make


def _pydantic() -> Any:
    from temporalio.contrib.pydantic import pydantic_data_converter

    return pydantic_data_converter


def _worker_main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.harness worker")
    parser.add_argument("--address", required=True)
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--pacte-queue")
    parser.add_argument("--bare-queue")
    parser.add_argument("--max-cached-workflows", type=int)
    parser.add_argument("--count-activities", action="store_true")
    parser.add_argument("--passthrough-all", action="store_true")
    asyncio.run(_serve(parser.parse_args(argv)))
    return 0


# --- the Bamako shape -------------------------------------------------------------------


@functools.cache
def _bamako() -> Convention:
    return load_convention(BAMAKO_FILE)


def bamako_convention(convention_id: str, *, keep_dates: bool = False) -> Convention:
    """Bamako (mission, diagnostic, funding request) under a new id, without its follow-up.

    Unless keep_dates, the mission moves 60 days ahead (same length): with the file's 2023
    dates every task would be overdue at once, and escalations are not the nominal path.
    """
    stages = []
    for spec in _bamako().stages:
        if isinstance(spec, DiagnosticStage):
            spec = spec.model_copy(update={"follow_ups": []})
        elif isinstance(spec, MissionStage) and not keep_dates:
            starts = date.today() + timedelta(days=MISSION_STARTS_IN_DAYS)
            spec = spec.model_copy(
                update={"starts_on": starts, "ends_on": starts + (spec.ends_on - spec.starts_on)}
            )
        stages.append(spec)
    return _bamako().model_copy(update={"id": convention_id, "stages": stages})


@functools.cache
def bamako_answers() -> tuple[ScriptedAnswer, ...]:
    """The scripted answers of the convention itself (not of its follow-up)."""
    script = load_answer_script(BAMAKO_ANSWERS)
    return tuple(step for step in script.answers if step.follow_up is None)


async def play_convention(
    client: Client,
    convention: Convention,
    answers: Sequence[ScriptedAnswer],
    *,
    wait_seconds: float = 300.0,
    poll_seconds: float | None = None,
) -> None:
    """Start, answer every task as a partner would (the CLI's path), wait for the end.

    poll_seconds: an experiment, not the CLI's path: look for the open task every so many
    seconds instead of `find_task`'s doubling pauses (same status query, answer and update).
    """
    await start_convention(client, convention, PACTE_QUEUE)
    for step in answers:
        if poll_seconds is None:
            await answer_open_task(
                client,
                convention.id,
                step.task,
                step.acting_party,
                step.answer,
                actor=step.actor,
                wait_seconds=wait_seconds,
            )
            continue
        task = await _poll_open_task(client, convention.id, step.task, poll_seconds)
        request = build_answer(task, step.acting_party, step.answer, step.actor)
        await answer_task(client, convention.id, request)
    await client.get_workflow_handle_for(
        ConventionWorkflow.run, workflow_id_for(convention.id)
    ).result()


async def _poll_open_task(client: Client, convention_id: str, task_id: str, every: float) -> Task:
    for _ in range(int(600 / every)):
        status = await convention_status(client, convention_id)
        for task in status.open_tasks:
            if task.id == task_id:
                return task
        await asyncio.sleep(every)
    raise TimeoutError(f"{convention_id}: task {task_id} did not open")


# --- reading histories ------------------------------------------------------------------


@dataclass
class HistoryProfile:
    """Where a workflow's time went, from its history."""

    events: int = 0
    size_bytes: int = 0
    activities: Counter[str] = field(default_factory=Counter)
    retries: Counter[str] = field(default_factory=Counter)
    """Attempts after the first, per activity type (a milestone written before its
    predecessor, PredecessorMissing, is retried: the ordered ledger should make it 0)."""
    activity_wait: dict[str, list[float]] = field(default_factory=dict)
    activity_run: dict[str, list[float]] = field(default_factory=dict)
    workflow_tasks: int = 0
    workflow_task_wait: list[float] = field(default_factory=list)
    workflow_task_run: list[float] = field(default_factory=list)
    updates: int = 0
    timers: int = 0
    segments: list[int] = field(default_factory=list)
    duration: float = 0.0

    @property
    def activity_count(self) -> int:
        """Activities scheduled, every type."""
        return self.activities.total()


def profile_history(history: WorkflowHistory) -> HistoryProfile:
    """Count activities per type, updates, timers, workflow tasks; time their waits and runs.

    `segments`: activities scheduled before the first accepted update, between updates, and
    after the last one; the bare lifecycle workflow runs the same plan.
    """
    profile = HistoryProfile(segments=[0])
    scheduled: dict[int, tuple[str, float]] = {}
    started: dict[int, float] = {}
    task_scheduled: dict[int, float] = {}
    task_started: dict[int, float] = {}
    times = [event.event_time.ToNanoseconds() / 1e9 for event in history.events]
    for event, at in zip(history.events, times, strict=True):
        profile.events += 1
        profile.size_bytes += event.ByteSize()
        kind = event.event_type
        if kind == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            name = event.activity_task_scheduled_event_attributes.activity_type.name
            profile.activities[name] += 1
            profile.segments[-1] += 1
            scheduled[event.event_id] = (name, at)
        elif kind == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
            source = event.activity_task_started_event_attributes.scheduled_event_id
            name, when = scheduled[source]
            profile.retries[name] += event.activity_task_started_event_attributes.attempt - 1
            profile.activity_wait.setdefault(name, []).append(at - when)
            started[source] = at
        elif kind == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
            source = event.activity_task_completed_event_attributes.scheduled_event_id
            name, _ = scheduled[source]
            if source in started:
                profile.activity_run.setdefault(name, []).append(at - started[source])
        elif kind == EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED:
            task_scheduled[event.event_id] = at
        elif kind == EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED:
            source = event.workflow_task_started_event_attributes.scheduled_event_id
            if source in task_scheduled:
                profile.workflow_task_wait.append(at - task_scheduled[source])
            task_started[event.event_id] = at
        elif kind == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
            profile.workflow_tasks += 1
            source = event.workflow_task_completed_event_attributes.started_event_id
            if source in task_started:
                profile.workflow_task_run.append(at - task_started[source])
        elif kind == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED:
            profile.updates += 1
            profile.segments.append(0)
        elif kind == EventType.EVENT_TYPE_TIMER_STARTED:
            profile.timers += 1
    if times:
        profile.duration = times[-1] - times[0]
    return profile


def mean(values: Sequence[float]) -> float:
    """The arithmetic mean (nan when empty)."""
    return sum(values) / len(values) if values else float("nan")


def print_profiles(profiles: dict[str, list[HistoryProfile]]) -> None:
    """Per workflow, averaged over each side's histories: what it did and where time went."""
    names = list(profiles)
    rows: list[list[object]] = []

    def average(pick: Callable[[HistoryProfile], float]) -> list[object]:
        return [mean([pick(p) for p in profiles[name]]) for name in names]

    rows.append(["events", *average(lambda p: p.events)])
    rows.append(["history KiB", *average(lambda p: p.size_bytes / 1024)])
    rows.append(["updates (answers)", *average(lambda p: p.updates)])
    rows.append(["timers started", *average(lambda p: p.timers)])
    rows.append(["workflow tasks", *average(lambda p: p.workflow_tasks)])
    rows.append(["  mean wait in queue, ms", *average(lambda p: 1000 * mean(p.workflow_task_wait))])
    rows.append(["  mean run on worker, ms", *average(lambda p: 1000 * mean(p.workflow_task_run))])
    rows.append(["activities", *average(lambda p: p.activity_count)])
    types = sorted({kind for side in profiles.values() for p in side for kind in p.activities})
    for kind in types:
        rows.append([f"  {kind}", *average(lambda p, k=kind: p.activities[k])])  # type: ignore[misc]
        rows.append(
            [
                "    mean wait / run, ms",
                *[
                    _wait_run(
                        [x for p in profiles[name] for x in p.activity_wait.get(kind, [])],
                        [x for p in profiles[name] for x in p.activity_run.get(kind, [])],
                    )
                    for name in names
                ],
            ]
        )
    persist = ("persist_milestone", "persist_milestones")
    rows.append(
        [
            "milestone write retries (total)",
            *[sum(p.retries[k] for p in profiles[name] for k in persist) for name in names],
        ]
    )
    rows.append(["first to last event, s", *average(lambda p: p.duration)])
    print_table(["per workflow (mean)", *names], rows)


def _wait_run(waits: list[float], runs: list[float]) -> str:
    if not waits:
        return "-"
    return f"{1000 * mean(waits):.1f} / {1000 * mean(runs):.1f}"


async def wait_idle(handle: WorkflowHandle[Any, Any], poll_seconds: float = 0.02) -> None:
    """Until the workflow has neither an activity nor a workflow task pending."""
    while True:
        raw = (await handle.describe()).raw_description
        if not raw.pending_activities and not raw.HasField("pending_workflow_task"):
            return
        await asyncio.sleep(poll_seconds)


async def fetch_histories(
    client: Client, workflow_ids: Sequence[str], *, concurrency: int = 8
) -> list[WorkflowHistory]:
    """The histories of these workflows (latest run each), fetched a few at a time."""
    gate = asyncio.Semaphore(concurrency)

    async def fetch(workflow_id: str) -> WorkflowHistory:
        async with gate:
            return await client.get_workflow_handle(workflow_id).fetch_history()

    return list(await asyncio.gather(*(fetch(workflow_id) for workflow_id in workflow_ids)))


async def run_bounded(
    jobs: Sequence[Callable[[], Any]],
    concurrency: int,
    *,
    progress: Callable[[int], None] | None = None,
) -> None:
    """Run the coroutine factories with at most `concurrency` at once."""
    gate = asyncio.Semaphore(concurrency)
    done = 0

    async def one(job: Callable[[], Any]) -> None:
        nonlocal done
        async with gate:
            await job()
        done += 1
        if progress is not None:
            progress(done)

    await asyncio.gather(*(one(job) for job in jobs))


if __name__ == "__main__":
    if sys.argv[1:2] != ["worker"]:
        print("usage: python -m benchmarks.harness worker --address … --database-url …")
        os._exit(2)
    sys.stdout.flush()
    code = _worker_main(sys.argv[2:])
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
