"""Running one of the project's programs (starter.py, audit.py, worker.py…) and reading what
it did: its exit code and its two streams."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
_VENV_PYTHON = PROJECT_ROOT / ".venv" / "bin" / "python"
PYTHON = str(_VENV_PYTHON) if _VENV_PYTHON.exists() else sys.executable
DEFAULT_TIMEOUT_SECONDS = 90.0


@dataclass(frozen=True, repr=False)
class ProgramRun:
    """What one run did: the command (program and arguments), the exit code, the streams."""

    args: tuple[str, ...]
    code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        """Both streams, as one text to search."""
        return self.stdout + self.stderr

    @property
    def stderr_lines(self) -> list[str]:
        """The non-blank lines of stderr."""
        return [line for line in self.stderr.splitlines() if line.strip()]

    def __repr__(self) -> str:  # what an assertion shows when it fails
        return (
            f"{' '.join(self.args)} -> exit {self.code}\n"
            f"--- stdout ---\n{self.stdout}--- stderr ---\n{self.stderr}"
        )


async def run_program(
    program: str,
    *args: str,
    env: Mapping[str, str],
    within: float = DEFAULT_TIMEOUT_SECONDS,
) -> ProgramRun:
    """`python PROGRAM ARGS…` from the project root, stdin closed; killed after `within` seconds."""
    process = await asyncio.create_subprocess_exec(
        PYTHON,
        program,
        *args,
        cwd=PROJECT_ROOT,
        env=dict(env),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        stdout, stderr = await asyncio.wait_for(process.communicate(), within)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise
    assert process.returncode is not None
    return ProgramRun(
        (program, *args),
        process.returncode,
        stdout.decode("utf-8", "replace"),
        stderr.decode("utf-8", "replace"),
    )
