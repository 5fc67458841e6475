"""`python portal.py` says in one line why it cannot serve: a setting (exit 2), or Temporal
not answering (exit 3) — never a traceback."""

from __future__ import annotations

import asyncio
from pathlib import Path

from devkit.programs import PYTHON
from infra.settings import PROJECT_ROOT
from tests.cli_runner import cli_env


async def run_portal(env: dict[str, str]) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        PYTHON,
        "portal.py",
        cwd=PROJECT_ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    _, stderr = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode is not None
    return process.returncode, stderr.decode()


async def test_a_bad_public_url_is_exit_2_and_no_temporal_is_exit_3(
    postgres_url: str, tmp_path: Path
) -> None:
    env = cli_env(postgres_url=postgres_url, temporal="127.0.0.1:1")
    code, stderr = await run_portal({**env, "PACTE_PUBLIC_URL": "portal.example"})
    assert code == 2 and "configuration: PACTE_PUBLIC_URL" in stderr
    assert "Traceback" not in stderr
    env["PACTE_LINK_SECRET"] = "c2hvcnQ="  # "short": too short to be used
    code, stderr = await run_portal(env)
    assert code == 2 and "PACTE_LINK_SECRET: too short" in stderr and "c2hvcnQ" not in stderr
    del env["PACTE_LINK_SECRET"]
    env["PACTE_STATE_DIR"] = str(tmp_path)
    code, stderr = await run_portal(env)
    assert code == 3 and stderr.splitlines()[-1].startswith("unavailable: TEMPORAL_ADDRESS")
    assert "Traceback" not in stderr
