"""Run a Pacte worker: every convention workflow and activity, on one task queue."""

from __future__ import annotations

import asyncio
import os
import signal

import asyncpg
import structlog
from temporalio.client import Client
from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from activities.delivery_log import DeliveryLog
from activities.inbox import TaskInbox
from activities.mail import Mailer
from activities.milestones import MilestoneStore
from activities.notify import Notifier
from activities.webhook import WebhookSender
from infra.database import apply_migrations, create_pool
from infra.embedded import embedded_postgres_url
from infra.log_config import configure_logging
from infra.secrets import SecretError
from infra.settings import DeliverySettings, Settings, load_delivery_settings, load_settings
from infra.temporal_client import TemporalUnavailable, connect
from workflows.convention import ConventionWorkflow

log = structlog.get_logger("pacte.worker")


def build_worker(
    client: Client,
    pool: asyncpg.Pool,
    task_queue: str,
    *,
    delivery: DeliverySettings | None = None,
) -> Worker:
    """The worker of every Pacte workflow and activity; tests build theirs with this too.

    `delivery` defaults to the environment's (PACTE_SMTP_*, PACTE_DELIVERY_*, secrets).
    """
    delivery = delivery or load_delivery_settings()
    milestones = MilestoneStore(pool)
    notifier = Notifier(pool, delivery)
    webhooks = WebhookSender(pool, delivery)
    mailer = Mailer(pool, delivery)
    log = DeliveryLog(pool)
    inbox = TaskInbox(pool)
    return Worker(
        client,
        task_queue=task_queue,
        workflows=[ConventionWorkflow],
        # Contacts' e-mail addresses are validated inside workflows: load the validator once,
        # outside the sandbox, rather than re-import it in every workflow run.
        workflow_runner=SandboxedWorkflowRunner(
            restrictions=SandboxRestrictions.default.with_passthrough_modules(
                "email_validator", "idna"
            )
        ),
        activities=[
            milestones.persist_milestone,
            notifier.notify_party,
            notifier.plan_delivery,
            webhooks.deliver_webhook,
            mailer.deliver_email,
            log.give_up_delivery,
            inbox.sync_tasks,
        ],
    )


async def run_worker(settings: Settings) -> None:
    """Connect, migrate, and serve until SIGINT or SIGTERM."""
    database_url = settings.database_url or embedded_postgres_url(settings.state_dir)
    pool = await create_pool(database_url)
    try:
        await apply_migrations(pool)
        client = await connect(settings)
        worker = build_worker(client, pool, settings.task_queue, delivery=settings.delivery)
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


def main() -> int:
    """Entry point: `python worker.py`."""
    configure_logging()
    try:
        asyncio.run(run_worker(load_settings()))
    except SecretError as error:  # a malformed payload key: named, never shown
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
