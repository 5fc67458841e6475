"""Run a Pacte worker: every convention workflow and activity, on one task queue."""

from __future__ import annotations

import asyncio
import os
import signal
from datetime import timedelta

import asyncpg
import structlog
from temporalio.client import Client
from temporalio.service import RPCError
from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import SandboxRestrictions

from activities.archive import Archiver
from activities.delivery_log import DeliveryLog
from activities.inbox import TaskInbox
from activities.mail import Mailer
from activities.milestones import MilestoneStore
from activities.notify import Notifier
from activities.webhook import WebhookSender
from application.archive_schedule import ensure_archive_schedule
from infra.database import apply_migrations, create_pool
from infra.embedded import embedded_postgres_url
from infra.log_config import configure_logging
from infra.portal_settings import link_secret
from infra.secrets import SecretError
from infra.settings import (
    DeliverySettings,
    Environment,
    Settings,
    SettingsError,
    load_archive_settings,
    load_delivery_settings,
    load_max_concurrent_workflow_tasks,
    load_settings,
    read_environment,
)
from infra.temporal_client import TemporalUnavailable, connect
from infra.workflow_runner import workflow_runner
from records.archive_store import ArchiveStore, open_archive
from workflows.archive import ArchiveSweepWorkflow
from workflows.convention import ConventionWorkflow

log = structlog.get_logger("pacte.worker")

STRICT_SANDBOX = SandboxRestrictions.default.with_passthrough_modules("email_validator", "idna")
"""The SDK's sandbox with the e-mail validator shared: every call of workflow code checked."""
WORKFLOW_SANDBOX = STRICT_SANDBOX.with_passthrough_modules("workflows")
"""Modules every workflow run shares instead of re-importing them in its own sandbox.

The sandbox re-imports every module it does not pass through, for every workflow run it
holds: Pacte's workflow code (workflows/) cost each cached convention some 0.3 MiB of module
and code objects (benchmarks/scale.py, issue 12). It keeps nothing at module level but
constants (tests/test_worker_settings.py holds it to that) and reaches the clock, randomness
and I/O only through `workflow.*` and activities, so one copy serves every run. Passed
through, its calls escape the sandbox's checks in this worker (a `datetime.now()` would not
raise here); the auditors' replayer keeps the SDK's default sandbox (auditing/replay.py), and
every recorded history replays in it (tests/test_audit_replay.py), and the test suite's own
workers run with STRICT_SANDBOX (PACTE_WORKFLOW_SANDBOX=strict, set by tests/conftest.py), so
a forbidden call on any path a test takes fails there. Contacts' e-mail addresses are
validated inside workflows, hence the validator and its idna.
"""
SANDBOX_VARIABLE = "PACTE_WORKFLOW_SANDBOX"


def workflow_sandbox(env: Environment | None = None) -> SandboxRestrictions:
    """PACTE_WORKFLOW_SANDBOX: `shared` (the default, WORKFLOW_SANDBOX) or `strict`."""
    mode = (env or read_environment()).workflow_sandbox or "shared"
    if mode not in ("shared", "strict"):
        raise SettingsError(f"{SANDBOX_VARIABLE}: 'shared' or 'strict', not {mode!r}")
    return STRICT_SANDBOX if mode == "strict" else WORKFLOW_SANDBOX


def build_worker(
    client: Client,
    pool: asyncpg.Pool,
    task_queue: str,
    *,
    delivery: DeliverySettings | None = None,
    archive: ArchiveStore | None = None,
    max_concurrent_workflow_tasks: int | None = None,
    env: Environment | None = None,
) -> Worker:
    """The worker of every Pacte workflow and activity; tests build theirs with this too.

    `delivery` defaults to the environment's (PACTE_SMTP_*, PACTE_DELIVERY_*, secrets);
    `archive` to the environment's archive (PACTE_ARCHIVE_DIR, or PostgreSQL);
    `max_concurrent_workflow_tasks` to PACTE_MAX_CONCURRENT_WORKFLOW_TASKS (10).
    """
    env = env or read_environment()
    delivery = delivery or load_delivery_settings(env)
    archiver = Archiver(client, pool, archive or open_archive(load_archive_settings(env), pool))
    milestones = MilestoneStore(pool)
    notifier = Notifier(pool, delivery)
    webhooks = WebhookSender(pool, delivery)
    mailer = Mailer(pool, delivery)
    log = DeliveryLog(pool)
    inbox = TaskInbox(pool)
    return Worker(
        client,
        task_queue=task_queue,
        workflows=[ConventionWorkflow, ArchiveSweepWorkflow],
        max_concurrent_workflow_tasks=(
            max_concurrent_workflow_tasks or load_max_concurrent_workflow_tasks(env)
        ),
        # The SDK's sandbox, without its per-payload context lookup when the client's
        # converter reads no context (infra/workflow_runner.py).
        workflow_runner=workflow_runner(workflow_sandbox(env), client.data_converter),
        activities=[
            milestones.persist_milestone,
            milestones.persist_milestones,
            notifier.record_notification,
            notifier.notify_party,
            notifier.plan_delivery,
            webhooks.deliver_webhook,
            mailer.deliver_email,
            log.give_up_delivery,
            inbox.sync_tasks,
            archiver.archive_closed_runs,
        ],
    )


async def run_worker(settings: Settings) -> None:
    """Connect, migrate, and serve until SIGINT or SIGTERM."""
    database_url = settings.database_url or embedded_postgres_url(settings.state_dir)
    pool = await create_pool(database_url)
    try:
        await apply_migrations(pool)
        client = await connect(settings)
        archive = open_archive(settings.archive, pool, database_url)
        worker = build_worker(
            client,
            pool,
            settings.task_queue,
            delivery=settings.delivery,
            archive=archive,
            max_concurrent_workflow_tasks=settings.max_concurrent_workflow_tasks,
            env=settings.environment,
        )
        await _ensure_archive_schedule(client, settings)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        log.info(
            "worker started",
            task_queue=settings.task_queue,
            namespace=settings.temporal_namespace,
            pid=os.getpid(),
        )
        async with worker:
            await stop.wait()
        log.info("worker stopped")
    finally:
        await pool.close()


async def _ensure_archive_schedule(client: Client, settings: Settings) -> None:
    every = timedelta(seconds=settings.archive.every_seconds)
    try:
        await ensure_archive_schedule(client, settings.task_queue, every)
    except RPCError as error:
        # Conventions still run; the archive falls behind, and says so to whoever looks.
        log.error("archive schedule not ensured: closed runs are not archived", reason=str(error))


def main() -> int:
    """Entry point: `python worker.py`."""
    configure_logging()
    try:
        settings = load_settings()
        # A bad PACTE_WORKFLOW_SANDBOX is named before any connection.
        workflow_sandbox(settings.environment)
        # The worker mints the contacts' links: in production a missing or published secret
        # stops it here, in one line, rather than sending mails without links.
        link_secret(settings.delivery.secrets_file, settings.state_dir)
        asyncio.run(run_worker(settings))
    except (SecretError, SettingsError) as error:  # named, never a secret's value
        log.error("cannot start", reason=str(error))
        return 2
    except TemporalUnavailable as error:
        log.error("cannot start", reason=str(error))
        return 3
    except (OSError, asyncpg.PostgresError) as error:
        log.error("cannot reach PostgreSQL", reason=str(error))
        return 3
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
