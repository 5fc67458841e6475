"""`starter.py users` manages office accounts (a one-time initial password, never a stored
secret shown) and `starter.py report` prints the portfolio from the desk's own queries."""

from __future__ import annotations

import asyncio
import json
import uuid

import asyncpg
from temporalio.testing import WorkflowEnvironment

from application.office.portfolio import portfolio, portfolio_json
from devkit.polling import eventually
from devkit.programs import PYTHON
from infra.settings import PROJECT_ROOT
from tests.cli_runner import cli_env, run_cli
from tests.partner_stack import funding_convention, make_desk
from tests.test_office_desk import enrol, new_account, office_client, sign_in


async def test_users_create_prints_a_one_time_password_list_hides_it_disable_stops_it(
    dev_env: WorkflowEnvironment, db_pool: asyncpg.Pool, postgres_url: str
) -> None:
    env = cli_env(dev_env, postgres_url)
    email = f"auditor-{uuid.uuid4().hex[:8]}@ofppt.example"
    created = await run_cli(
        "users", "create", email, "--name", "Salma Idrissi", "--role", "auditor", env=env
    )
    assert created.code == 0, created
    password = created.stdout.strip().splitlines()[-1]
    assert len(password) >= 20
    desk = make_desk(dev_env.client, db_pool)
    async with office_client(desk) as http:
        assert (await sign_in(http, email, password)).status_code == 303
    listed = await run_cli("users", "list", env=env)
    assert listed.code == 0 and email in listed.stdout and "auditor" in listed.stdout
    assert password not in listed.stdout and "$argon2" not in listed.stdout
    again = await run_cli(
        "users", "create", email, "--name", "Salma Idrissi", "--role", "auditor", env=env
    )
    assert again.code == 1 and "already exists" in again.stderr
    bad_role = await run_cli(
        "users", "create", "x@y.example", "--name", "X", "--role", "boss", env=env
    )
    assert bad_role.code == 2
    disabled = await run_cli("users", "disable", email, env=env)
    assert disabled.code == 0, disabled
    async with office_client(desk) as http:
        assert (await sign_in(http, email, password)).status_code == 401
    unknown = await run_cli("users", "disable", "nobody@ofppt.example", env=env)
    assert unknown.code == 1 and "no account" in unknown.stderr


async def test_users_create_reads_the_password_from_stdin_and_prints_none(
    dev_env: WorkflowEnvironment, db_pool: asyncpg.Pool, postgres_url: str
) -> None:
    env = cli_env(dev_env, postgres_url)
    email = f"officer-{uuid.uuid4().hex[:8]}@ofppt.example"
    chosen = "a long chosen password 42"
    process = await asyncio.create_subprocess_exec(
        PYTHON,
        "starter.py",
        "users",
        "create",
        email,
        "--name",
        "Awa",
        "--role",
        "officer",
        "--password-stdin",
        cwd=PROJECT_ROOT,
        env=dict(env),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(f"{chosen}\n".encode()), 60)
    assert process.returncode == 0, stderr
    assert chosen not in stdout.decode()
    desk = make_desk(dev_env.client, db_pool)
    async with office_client(desk) as http:
        signed = await sign_in(http, email, chosen)
        assert signed.status_code == 303 and signed.headers["location"] == "/office/enrol"


async def test_report_gives_the_portfolios_figures_from_the_same_queries(
    dev_env: WorkflowEnvironment, db_pool: asyncpg.Pool, postgres_url: str
) -> None:
    convention = await funding_convention(dev_env.client, db_pool)
    await eventually(
        lambda: db_pool.fetchval("SELECT funder FROM conventions WHERE id = $1", convention.id),
        lambda funder: funder == "bid",
    )
    env = cli_env(dev_env, postgres_url)
    as_json = await run_cli("report", "--format", "json", env=env)
    assert as_json.code == 0, as_json
    assert json.loads(as_json.stdout) == json.loads(portfolio_json(await portfolio(db_pool)))
    text = await run_cli("report", env=env)
    assert text.code == 0 and "== funding ==" in text.stdout
    assert "bid" in text.stdout and "IsDB-ID" in text.stdout and "E+" not in text.stdout
    funding = await run_cli("report", "--format", "csv", "--table", "funding", env=env)
    assert funding.stdout.splitlines()[0] == "funder,currency,requested,granted,pending,rejected"


async def test_users_and_report_refuse_broken_input_in_one_line(
    dev_env: WorkflowEnvironment, postgres_url: str
) -> None:
    env = cli_env(dev_env, postgres_url)
    no_subcommand = await run_cli("users", env=env)
    assert no_subcommand.code == 2 and "Traceback" not in no_subcommand.stderr
    short = await run_cli(
        "users",
        "create",
        "x@ofppt.example",
        "--name",
        "X",
        "--role",
        "admin",
        "--password-stdin",
        env=env,
    )  # stdin is empty: an empty password
    assert short.code == 1 and "password" in short.stderr and "Traceback" not in short.stderr
    not_an_email = await run_cli(
        "users", "create", "not-an-email", "--name", "X", "--role", "admin", env=env
    )
    assert not_an_email.code == 1 and "email" in not_an_email.stderr
    bad_format = await run_cli("report", "--format", "xml", env=env)
    assert bad_format.code == 2
    down = await run_cli(
        "report", env={**env, "DATABASE_URL": "postgresql://pacte@127.0.0.1:1/pacte"}
    )
    assert down.code == 3 and "Traceback" not in down.stderr


async def test_users_reset_factor_ends_the_sessions_and_the_next_sign_in_enrols_anew(
    dev_env: WorkflowEnvironment, db_pool: asyncpg.Pool, postgres_url: str
) -> None:
    env = cli_env(dev_env, postgres_url)
    desk = make_desk(dev_env.client, db_pool)
    email = await new_account(db_pool, "officer")
    async with office_client(desk) as http:
        old_secret, _old_codes = await enrol(http, email)
        assert (await http.get("/office")).status_code == 200

        reset = await run_cli("users", "reset-factor", email, env=env)
        assert reset.code == 0, reset
        assert (await http.get("/office")).status_code == 401  # the session ended

    listed = await run_cli("users", "list", env=env)
    [line] = [line for line in listed.stdout.splitlines() if line.startswith(email)]
    assert " totp " not in line
    assert (
        await db_pool.fetchval("SELECT count(*) FROM office_recovery_codes WHERE email = $1", email)
        == 0
    )
    async with office_client(desk) as http:
        new_secret, _ = await enrol(http, email)  # the password leads to a new set-up
    assert new_secret != old_secret
    unknown = await run_cli("users", "reset-factor", "nobody@ofppt.example", env=env)
    assert unknown.code == 1 and "no account" in unknown.stderr
