"""A production start of the worker or the portal refuses a missing or published link secret:
one line saying how to generate one, exit 2, before anything is reached (issue 28, item 1)."""

from __future__ import annotations

import base64
import os
import secrets
import subprocess
from pathlib import Path

import pytest

from devkit.programs import PYTHON
from infra.portal_settings import GENERATE_SECRET_HINT, link_secret
from infra.secrets import SecretError
from infra.settings import PROJECT_ROOT

# The old docker-compose.yml default and the tests' own secret: both are in the repository.
PUBLISHED_SECRETS = (
    "cGFjdGUtZGV2ZWxvcG1lbnQtbGluay1zZWNyZXQtMzJieQ==",
    base64.b64encode(b"pacte-portal-test-link-secret-32b!").decode(),
)
PROGRAMS = ("worker.py", "portal.py")
GENERATE = 'python3 -c "import secrets; print(secrets.token_urlsafe(32))"'


def production_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """Nothing to connect to: a secret must be refused before any connection is tried."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("TEMPORAL_", "PACTE_")) and name != "DATABASE_URL"
    }
    env.update(
        TEMPORAL_ADDRESS="127.0.0.1:9",
        DATABASE_URL="postgresql://nobody@127.0.0.1:9/none",
        PACTE_STATE_DIR=str(tmp_path),
        **extra,
    )
    return env


def run(program: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [PYTHON, program], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=60
    )


@pytest.mark.parametrize("program", PROGRAMS)
def test_a_production_start_without_a_link_secret_says_how_to_make_one_and_exits_2(
    program: str, tmp_path: Path
) -> None:
    done = run(program, production_env(tmp_path))
    lines = [line for line in (done.stdout + done.stderr).splitlines() if line.strip()]
    assert done.returncode == 2, done.stderr
    assert len(lines) == 1, lines
    assert "PACTE_LINK_SECRET" in lines[0] and GENERATE in lines[0].replace('\\"', '"')
    assert "Traceback" not in done.stderr
    # Nothing was made in its place: a production secret is never invented on the spot.
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("program", PROGRAMS)
@pytest.mark.parametrize("published", PUBLISHED_SECRETS)
def test_a_production_start_with_a_published_link_secret_exits_2(
    program: str, published: str, tmp_path: Path
) -> None:
    done = run(program, production_env(tmp_path, PACTE_LINK_SECRET=published))
    lines = [line for line in (done.stdout + done.stderr).splitlines() if line.strip()]
    assert done.returncode == 2, done.stderr
    assert len(lines) == 1, lines
    assert "published" in lines[0] and "token_urlsafe(32)" in lines[0]
    assert published not in done.stdout + done.stderr


def test_pacte_env_production_refuses_a_missing_secret_even_on_the_embedded_stack(
    tmp_path: Path,
) -> None:
    env = production_env(tmp_path, PACTE_ENV="production")
    del env["TEMPORAL_ADDRESS"], env["DATABASE_URL"]
    done = run("worker.py", env)
    assert done.returncode == 2 and "token_urlsafe(32)" in done.stdout + done.stderr


def test_a_generated_secret_is_accepted_and_the_development_stack_makes_its_own(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://nobody@127.0.0.1:9/none")
    monkeypatch.setenv("PACTE_ENV", "production")
    generated = secrets.token_urlsafe(32)  # the command the message gives: base64url
    monkeypatch.setenv("PACTE_LINK_SECRET", generated)
    assert link_secret(state_dir=tmp_path) == base64.urlsafe_b64decode(generated + "=")
    monkeypatch.setenv("PACTE_LINK_SECRET", PUBLISHED_SECRETS[0])
    with pytest.raises(SecretError, match="published"):
        link_secret(state_dir=tmp_path)
    monkeypatch.delenv("PACTE_LINK_SECRET")
    with pytest.raises(SecretError) as refused:
        link_secret(state_dir=tmp_path)
    assert GENERATE_SECRET_HINT in str(refused.value)
    monkeypatch.setenv("PACTE_ENV", "development")
    assert len(link_secret(state_dir=tmp_path)) == 32
    assert (tmp_path / "portal-link.secret").exists()
