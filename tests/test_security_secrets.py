"""No secret ever appears in a log line, an error message or a history.

A convention runs with known secrets: the funder's webhook signing secret (environment), the
SMTP password (secrets file), a payload key (environment), a PostgreSQL password inside
DATABASE_URL (a role created for the test), the codec endpoint's token. The worker runs as
`python worker.py` with its JSON logs captured; the officer's and the auditors' commands run
as subprocesses, with their error paths (an unreachable DATABASE_URL carrying the password,
a DSN with a wrong scheme, a malformed payload key); delivery fails and retries on the way
(a partner answering 500, an SMTP server refusing to log in). Then everything emitted — the
worker's log, every command's output, the history (raw and decrypted), the rows of the
delivery log, the notifications, the milestones and the task inbox — is searched for every
secret, in every spelling.
"""

from __future__ import annotations

import asyncio
import base64
import uuid
from pathlib import Path
from typing import TypeVar

import asyncpg
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from application.conventions import convention_status, find_task
from devkit.polling import eventually
from devkit.programs import PYTHON, run_program
from infra.database import create_pool
from infra.settings import PROJECT_ROOT
from schemas.status import ConventionState
from tests.cli_runner import cli_env, write_convention
from tests.conftest import (
    WEBHOOK_SECRET,
    SmtpServer,
    WebhookReceiver,
    _search_attribute_keys,
    venv_binary,
)
from tests.security_stack import (
    Run,
    cli_json_bytes,
    codec_of,
    converter_for,
    decrypted_bytes,
    found_in,
    history_bytes,
    keys_setting,
    new_key,
    private_database,
    temporal_show,
    with_database,
)
from tests.test_delivery_webhook import funding_request_to
from workflows.convention import workflow_id_for

T = TypeVar("T")
SUFFIX = uuid.uuid4().hex[:10]
DB_ROLE = f"pacte_secret_{SUFFIX}"
DB_PASSWORD = f"S3cr3t-Pw-{SUFFIX}"
SMTP_PASSWORD = f"smtp-Pw-{SUFFIX}"
CODEC_TOKEN = f"codec-token-{SUFFIX}"
PAYLOAD_KEY = new_key("leak")
WEBHOOK_KEY = base64.b64decode(WEBHOOK_SECRET.removeprefix("whsec_"))
SECRETS = {
    "the PostgreSQL password": DB_PASSWORD,
    "the webhook secret": WEBHOOK_SECRET,
    "the webhook secret's base64": WEBHOOK_SECRET.removeprefix("whsec_"),
    "the webhook secret's bytes": WEBHOOK_KEY.decode(),
    "the SMTP password": SMTP_PASSWORD,
    "the payload key, base64": base64.b64encode(PAYLOAD_KEY[1]).decode(),
    "the payload key, hex": PAYLOAD_KEY[1].hex(),
    "the codec token": CODEC_TOKEN,
}


async def database_with_password(postgres_url: str) -> str:
    """A private database and a login role with a password; the URL carrying both."""
    url = await private_database(postgres_url, "pacte_secrets")
    admin = await asyncpg.connect(url)
    try:
        statement = await admin.fetchval(
            "SELECT format('CREATE ROLE %I LOGIN SUPERUSER PASSWORD %L', $1::text, $2::text)",
            DB_ROLE,
            DB_PASSWORD,
        )
        await admin.execute(statement)
    finally:
        await admin.close()
    database = url.split("?")[0].rsplit("/", 1)[1]
    return with_database(url, database, user=f"{DB_ROLE}:{DB_PASSWORD}")


def secret_env(
    address: str, database_url: str, secrets_file: Path, smtp: SmtpServer
) -> dict[str, str]:
    """An operator's environment holding every secret, as production would."""
    env = cli_env(temporal=address, postgres_url=database_url)
    env.update(
        PACTE_TASK_QUEUE=f"secrets-{SUFFIX}",
        PACTE_WEBHOOK_SECRET_BID=WEBHOOK_SECRET,
        PACTE_PAYLOAD_KEYS=keys_setting(PAYLOAD_KEY),
        PACTE_SECRETS_FILE=str(secrets_file),
        PACTE_SMTP_HOST=smtp.host,
        PACTE_SMTP_PORT=str(smtp.port),
        PACTE_SMTP_USER="pacte",
        PACTE_CODEC_TOKEN=CODEC_TOKEN,
        PACTE_DELIVERY_INITIAL_RETRY_SECONDS="0.2",
        PACTE_DELIVERY_MAXIMUM_RETRY_SECONDS="0.4",
        PACTE_DELIVERY_MAXIMUM_ATTEMPTS="2",
        PACTE_DELIVERY_ATTEMPT_TIMEOUT_SECONDS="5",
        PYTHONUNBUFFERED="1",
    )
    return env


async def rows_as_text(pool: asyncpg.Pool, convention_id: str) -> str:
    """Every row the convention left in Pacte's tables, as text."""
    queries = {
        "milestones": "SELECT * FROM milestones WHERE convention_id = $1",
        "notifications": "SELECT * FROM notifications WHERE convention_id = $1",
        "deliveries": (
            "SELECT d.* FROM deliveries d JOIN notifications n ON n.id = d.notification_id"
            " WHERE n.convention_id = $1"
        ),
        "delivery_attempts": (
            "SELECT a.* FROM delivery_attempts a JOIN notifications n"
            " ON n.id = a.notification_id WHERE n.convention_id = $1"
        ),
        "tasks": "SELECT * FROM tasks WHERE convention_id = $1",
    }
    parts = []
    for table, query in queries.items():
        rows = await pool.fetch(query, convention_id)
        assert rows, f"{table}: no row: the scenario did not run as planned"
        parts.append(f"{table}: {[dict(row) for row in rows]!r}")
    return "\n".join(parts)


async def test_no_secret_appears_in_logs_errors_histories_or_the_delivery_log(
    postgres_url: str,
    webhook_receiver: WebhookReceiver,
    smtp_server: SmtpServer,
    tmp_path: Path,
) -> None:
    database_url = await database_with_password(postgres_url)
    secrets_file = tmp_path / "secrets.toml"
    secrets_file.write_text(f'smtp_password = "{SMTP_PASSWORD}"\n', encoding="utf-8")
    endpoint = webhook_receiver.endpoint([500])  # one failed attempt, then delivered
    convention = funding_request_to(
        endpoint, [{"name": "Bureau de Jeddah", "email": "jeddah@isdb.example"}]
    )
    convention_file = write_convention(convention, tmp_path / "convention.yaml")
    worker_log = tmp_path / "worker.log"
    emitted: dict[str, bytes] = {}
    runs: list[Run] = []

    temporal = await WorkflowEnvironment.start_local(
        dev_server_existing_path=venv_binary("temporal"),
        search_attributes=_search_attribute_keys(),
        dev_server_log_level="error",
    )
    address = temporal.client.service_client.config.target_host
    env = secret_env(address, database_url, secrets_file, smtp_server)
    with worker_log.open("wb") as sink:
        worker = await asyncio.create_subprocess_exec(
            PYTHON, "worker.py", env=env, stdout=sink, stderr=sink, cwd=PROJECT_ROOT
        )
    pool = await create_pool(database_url, max_size=2)
    try:
        officer = await Client.connect(address, data_converter=converter_for(PAYLOAD_KEY))

        async def act(task_id: str, *args: str) -> None:
            await find_task(officer, convention.id, task_id, wait_seconds=30)
            runs.append(
                await run_program("starter.py", "act", convention.id, task_id, *args, env=env)
            )
            assert runs[-1].code == 0, runs[-1]

        runs.append(await run_program("starter.py", "start", str(convention_file), env=env))
        assert runs[-1].code == 0, runs[-1]
        await act(
            "funding_request.decision.r1",
            "--as",
            "bid",
            "--decision",
            "more_information",
            "--comments",
            "Merci de ventiler le coût par centre.",
        )
        await act(
            "funding_request.information.r1",
            "--as",
            "ofppt",
            "--answer",
            '{"document": {"uri": "archive:tdr-v2.pdf"}}',
            "--comments",
            "TdR v2 : coût ventilé.",
        )
        await act(
            "funding_request.decision.r2",
            "--as",
            "bid",
            "--decision",
            "approve",
            "--set",
            'granted={"amount": 36000000, "currency": "IsDB-ID"}',
        )
        await eventually(
            lambda: convention_status(officer, convention.id),
            lambda status: status.state is ConventionState.COMPLETED,
        )
        # Every delivery settled: delivered, given up, or no channel.
        await eventually(
            lambda: pool.fetchval(
                "SELECT count(*) FROM deliveries d JOIN notifications n"
                " ON n.id = d.notification_id WHERE n.convention_id = $1"
                " AND d.status IN ('pending', 'sending', 'retrying')",
                convention.id,
            ),
            lambda pending: pending == 0,
        )
        runs.extend(
            await asyncio.gather(
                run_program("starter.py", "status", convention.id, env=env),
                run_program("starter.py", "inbox", "ofppt", env=env),
                run_program("audit.py", "timeline", convention.id, env=env),
                run_program("audit.py", "verify", convention.id, env=env),
            )
        )
        assert all(run.code == 0 for run in runs), runs

        # Error paths: each one line naming what is wrong, never the secret behind it.
        unreachable = f"postgresql://{DB_ROLE}:{DB_PASSWORD}@127.0.0.1:1/pacte"
        wrong_scheme = database_url.replace("postgresql://", "postgres+asyncpg://")
        # A password with an unescaped '@': the parser takes part of it for a host and port,
        # and its message quoted it (asyncpg's "invalid literal for int(): '<password>@…'").
        unescaped = f"postgresql://{DB_ROLE}:p@ss:{DB_PASSWORD}@127.0.0.1/pacte"
        broken_key = f"leak={base64.b64encode(PAYLOAD_KEY[1]).decode()}"
        failing = await asyncio.gather(
            run_program("starter.py", "inbox", "bid", env={**env, "DATABASE_URL": unreachable}),
            run_program("starter.py", "inbox", "bid", env={**env, "DATABASE_URL": wrong_scheme}),
            run_program("starter.py", "inbox", "bid", env={**env, "DATABASE_URL": unescaped}),
            run_program(
                "audit.py", "verify", convention.id, env={**env, "DATABASE_URL": unreachable}
            ),
            run_program("worker.py", env={**env, "DATABASE_URL": unreachable}),
            run_program("worker.py", env={**env, "DATABASE_URL": unescaped}),
            run_program(
                "starter.py", "status", convention.id, env={**env, "PACTE_PAYLOAD_KEYS": broken_key}
            ),
        )
        runs.extend(failing)
        assert [run.code for run in failing] == [3, 3, 3, 3, 3, 3, 2], failing
        assert all(run.stderr.strip() for run in failing), failing

        workflow_id = workflow_id_for(convention.id)
        plain = await Client.connect(address, data_converter=pydantic_data_converter)
        history = await plain.get_workflow_handle(workflow_id).fetch_history()
        emitted["the history (protobuf)"] = history_bytes(history)
        emitted["the history, decrypted"] = decrypted_bytes(
            history, codec_of(converter_for(PAYLOAD_KEY))
        )
        emitted["the history (temporal workflow show)"] = cli_json_bytes(
            await temporal_show(address, workflow_id)
        )
        emitted["the database rows"] = (await rows_as_text(pool, convention.id)).encode()
    finally:
        worker.terminate()
        await worker.wait()
        await pool.close()
        await temporal.shutdown()
    emitted["the worker's log"] = worker_log.read_bytes()
    for run in runs:
        emitted[f"`{' '.join(run.args)}`"] = run.output.encode()

    # The capture holds what it should: the run happened, with its failures and retries.
    log = emitted["the worker's log"].decode()
    assert '"event": "worker started"' in log, log[-2000:]
    rows = emitted["the database rows"].decode()
    assert "'response_code': 500" in rows and "'status': 'delivered'" in rows, rows
    assert "'channel': 'email'" in rows and "'status': 'failed'" in rows, rows
    assert [r.verified for r in webhook_receiver.requests_to(endpoint)][:2] == [True, True]
    assert "Merci de ventiler" in emitted["the history, decrypted"].decode(errors="replace")

    leaks = [
        f"{name} in {where}"
        for where, blob in emitted.items()
        for name, secret in SECRETS.items()
        if found_in(blob, [secret])
    ]
    assert leaks == []
