"""Starting and stopping the project's own programs (worker.py, portal.py) beside a stack.

One way to start a program (the interpreter running this one, from the project root, its
output appended to a log file), one way to stop it (SIGTERM, then SIGKILL if it lingers),
and one wait for the partner desk to answer. The embedded stack, the demo, the tests and the
benchmarks all go through here.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from types import FrameType
from typing import Any

import httpx

from infra.settings import PROJECT_ROOT

STOP_SECONDS = 20.0
PORTAL_READY_SECONDS = 90.0


def start_program(
    *command: str, env: Mapping[str, str], log: Path, capture_stdout: bool = False
) -> subprocess.Popen[bytes]:
    """`python COMMAND…` (a script such as `worker.py`, or `-m module …`) from the project
    root, stdin closed, its output appended to `log` (stdout piped back if capture_stdout)."""
    with log.open("ab") as sink:  # the child keeps its own descriptor
        return subprocess.Popen(
            [sys.executable, *command],
            cwd=PROJECT_ROOT,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE if capture_stdout else sink,
            stderr=sink if capture_stdout else subprocess.STDOUT,
        )


def stop_process(process: subprocess.Popen[Any] | None, *, within: float = STOP_SECONDS) -> None:
    """Terminate a process still running; kill it if it has not left after `within` s."""
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=within)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def stop_on_signals() -> None:
    """Make SIGTERM (a service manager, a container stop) and SIGHUP (a terminal closed) stop
    this program as Ctrl-C does: a KeyboardInterrupt, so every `finally` and context manager
    stops what it started. The first signal wins; the ones after it are ignored, so a second
    Ctrl-C cannot cut the stopping short and leave servers behind."""

    def stop(signum: int, frame: FrameType | None) -> None:
        for each in STOP_SIGNALS:
            signal.signal(each, signal.SIG_IGN)
        raise KeyboardInterrupt(signal.Signals(signum).name)

    for each in STOP_SIGNALS:
        signal.signal(each, stop)


def log_tail(log: Path, lines: int = 40) -> str:
    """The end of a program's log, for an error message or a failing assertion."""
    if not log.exists():
        return "(no log)"
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])


async def wait_for_portal(
    base_url: str,
    portal: subprocess.Popen[Any],
    log: Path,
    *,
    within: float = PORTAL_READY_SECONDS,
    ready_path: str = "/api/openapi.json",
) -> None:
    """Until the desk answers its OpenAPI document (it migrates and connects to Temporal
    first), or another web process its `ready_path`; fails with the end of its log if it
    exits or does not answer in time."""
    deadline = asyncio.get_running_loop().time() + within
    async with httpx.AsyncClient(base_url=base_url, timeout=5) as http:
        while True:
            if portal.poll() is not None or asyncio.get_running_loop().time() > deadline:
                tail = log_tail(log, 5)
                how = (
                    f"exited with {portal.returncode}"
                    if portal.poll() is not None
                    else f"did not answer within {within:g} s"
                )
                raise RuntimeError(f"portal.py {how} (see {log}): " + tail.replace("\n", " | "))
            try:
                if (await http.get(ready_path)).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.2)
