"""Tasks reach partners as signed CloudEvents, at least once, never counted twice.

A real HTTP endpoint on 127.0.0.1 verifies every request with the `standardwebhooks` package
and parses it with the `cloudevents` SDK; the workflows run on the real dev server with a
worker whose retry intervals are shortened, and the log is read from PostgreSQL.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any, TypeVar

import asyncpg
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment

from application.conventions import answer_open_task, convention_status, start_convention
from devkit.polling import eventually
from infra.settings import DeliverySettings, SmtpSettings
from schemas.convention import Convention
from schemas.tasks import Task, TaskKind
from tests.conftest import WEBHOOK_SECRET, ReceivedWebhook, WebhookReceiver, example
from worker import build_worker
from workflows.convention import workflow_id_for

T = TypeVar("T")
DECISION = "funding_request.decision.r1"


def funding_request_to(
    webhook_url: str | None,
    contacts: list[dict[str, Any]] | None = None,
    *,
    office_webhook_url: str | None = None,
) -> Convention:
    """Bamako reduced to its funding request, due in 30 days; bid declares these channels."""
    data = example("bamako-cooperation").model_dump(mode="json")
    data["stages"] = [
        dict(s, due_in_days=30) for s in data["stages"] if s["stage"] == "funding_request"
    ]
    for party in data["parties"]:
        if party["id"] == "bid":
            party["webhook_url"] = webhook_url
            party["contacts"] = contacts or []
        if party["id"] == "ofppt":
            party["webhook_url"] = office_webhook_url
    return Convention.model_validate(data)


def fast_delivery(
    secrets_file: Any = None, *, smtp_host: str | None = None, smtp_port: int = 25
) -> DeliverySettings:
    """Retries in tenths of a second, so that a test sees four attempts in about a second."""
    smtp = (
        SmtpSettings(
            host=smtp_host,
            port=smtp_port,
            sender="Pacte OFPPT <pacte@localhost>",
            user=None,
            starttls=False,
            tls=False,
        )
        if smtp_host
        else None
    )
    return DeliverySettings(
        smtp=smtp,
        initial_retry_seconds=0.2,
        maximum_retry_seconds=0.5,
        maximum_attempts=6,
        attempt_timeout_seconds=5.0,
        secrets_file=secrets_file,
    )


@asynccontextmanager
async def running_worker(
    env: WorkflowEnvironment, pool: asyncpg.Pool, delivery: DeliverySettings
) -> AsyncIterator[str]:
    """A worker of its own task queue, so the test's delivery settings apply to it alone."""
    task_queue = f"delivery-{uuid.uuid4().hex[:8]}"
    async with build_worker(env.client, pool, task_queue, delivery=delivery):
        yield task_queue


async def log_of(pool: asyncpg.Pool, notification_id: str) -> tuple[Any, list[Any]]:
    """The channel's row and its attempts, for the webhook channel."""
    row = await pool.fetchrow(
        "SELECT * FROM deliveries WHERE notification_id = $1 AND channel = 'webhook'",
        notification_id,
    )
    attempts = await pool.fetch(
        "SELECT * FROM delivery_attempts WHERE notification_id = $1 AND channel = 'webhook'"
        " ORDER BY attempt",
        notification_id,
    )
    return row, list(attempts)


async def open_fix_tasks(client: Client, convention_id: str) -> list[Task]:
    """The officer's open fix_delivery tasks about task events (not stage announcements)."""
    status = await convention_status(client, convention_id)
    return [
        t
        for t in status.open_tasks
        if t.kind is TaskKind.FIX_DELIVERY and "convention.stage_changed" not in t.id
    ]


async def stop(client: Client, convention_id: str) -> None:
    """End a convention left waiting on its partner (one that has just ended is left so)."""
    try:
        await client.get_workflow_handle(workflow_id_for(convention_id)).terminate("test over")
    except RPCError as error:
        if error.status is not RPCStatusCode.NOT_FOUND:
            raise


async def test_a_webhook_failing_three_times_is_delivered_once_after_four_attempts(
    dev_env: WorkflowEnvironment,
    db_pool: asyncpg.Pool,
    webhook_receiver: WebhookReceiver,
    monkeypatch: Any,
) -> None:
    monkeypatch.setenv("PACTE_WEBHOOK_SECRET_BID", WEBHOOK_SECRET)
    url = webhook_receiver.endpoint([500, 500, 500])
    convention = funding_request_to(url)
    notification_id = f"{convention.id}/{DECISION}/task.assigned"
    async with running_worker(dev_env, db_pool, fast_delivery()) as task_queue:
        await start_convention(dev_env.client, convention, task_queue)
        row, attempts = await eventually(
            lambda: log_of(db_pool, notification_id),
            lambda log: log[0] is not None and log[0]["status"] == "delivered",
        )
    await stop(dev_env.client, convention.id)

    received = webhook_receiver.requests_to(url)
    assert [r.answered for r in received] == [500, 500, 500, 200]
    assert all(r.verified for r in received), [r.error for r in received]
    assert {r.webhook_id for r in received} == {notification_id}
    assert len({r.body for r in received}) == 1, "every attempt carries the same event"
    event = received[-1].event
    assert event is not None
    assert event.get_id() == notification_id
    assert event.get_type() == "pacte.task.assigned"
    assert event.get_specversion() == "1.0"
    assert event.get_subject() == convention.id
    assert event.get_source() == "/pacte"
    data = event.get_data()
    assert data["task"]["id"] == DECISION
    assert data["task"]["assignee"] == "bid"
    assert data["due_at"] == data["task"]["due_at"]
    assert data["action"]["answer_kind"] == "decide_funding"
    assert "Coopération OFPPT" in data["convention"]["title"]

    assert row["attempts"] == 4 and row["last_response_code"] == 200
    assert [(a["attempt"], a["status"], a["response_code"]) for a in attempts] == [
        (1, "transient_failure", 500),
        (2, "transient_failure", 500),
        (3, "transient_failure", 500),
        (4, "delivered", 200),
    ]
    counts = await db_pool.fetchrow(
        "SELECT (SELECT count(*) FROM notifications WHERE id = $1) AS notifications,"
        " (SELECT count(*) FROM deliveries WHERE notification_id = $1"
        "   AND status = 'delivered') AS delivered",
        notification_id,
    )
    assert dict(counts) == {"notifications": 1, "delivered": 1}
    email = await db_pool.fetchrow(
        "SELECT status FROM deliveries WHERE notification_id = $1 AND channel = 'email'",
        notification_id,
    )
    assert email["status"] == "no_channel"


async def test_a_webhook_answering_410_is_not_retried_and_the_officer_gets_a_task_to_retry(
    dev_env: WorkflowEnvironment,
    db_pool: asyncpg.Pool,
    webhook_receiver: WebhookReceiver,
    monkeypatch: Any,
) -> None:
    monkeypatch.setenv("PACTE_WEBHOOK_SECRET_BID", WEBHOOK_SECRET)
    url = webhook_receiver.endpoint([410])
    convention = funding_request_to(url)
    notification_id = f"{convention.id}/{DECISION}/task.assigned"
    client = dev_env.client
    async with running_worker(dev_env, db_pool, fast_delivery()) as task_queue:
        await start_convention(client, convention, task_queue)
        fixes = await eventually(lambda: open_fix_tasks(client, convention.id), bool)
        # Several retry intervals later, the endpoint has still been called once.
        await asyncio.sleep(1.0)
        assert [r.answered for r in webhook_receiver.requests_to(url)] == [410]
        row, attempts = await log_of(db_pool, notification_id)
        assert (row["status"], row["attempts"], row["last_response_code"]) == ("failed", 1, 410)
        assert [a["status"] for a in attempts] == ["permanent_failure"]
        [fix] = fixes
        assert fix.assignee == convention.office.id
        assert fix.id == f"delivery.fix.{DECISION}.task.assigned.webhook.r1"
        assert "410" in fix.title
        officer_told = await db_pool.fetchval(
            "SELECT count(*) FROM notifications WHERE id = $1",
            f"{convention.id}/{fix.id}/task.assigned/officer",
        )
        assert officer_told == 1

        # The partner fixes its endpoint; the officer says so; the same event goes again.
        webhook_receiver.answer_next(url, [200])
        await answer_open_task(client, convention.id, fix.id, "ofppt", {"decision": "retry"})
        row, attempts = await eventually(
            lambda: log_of(db_pool, notification_id),
            lambda log: log[0]["status"] == "delivered",
        )
        assert await open_fix_tasks(client, convention.id) == []
    await stop(client, convention.id)
    received = webhook_receiver.requests_to(url)
    assert [r.answered for r in received] == [410, 200]
    assert {r.webhook_id for r in received} == {notification_id}
    assert [a["status"] for a in attempts] == ["permanent_failure", "delivered"]


async def test_a_webhook_without_a_secret_is_never_sent_unsigned_and_the_officer_is_told(
    dev_env: WorkflowEnvironment,
    db_pool: asyncpg.Pool,
    webhook_receiver: WebhookReceiver,
    monkeypatch: Any,
) -> None:
    monkeypatch.delenv("PACTE_WEBHOOK_SECRET_BID", raising=False)
    url = webhook_receiver.endpoint()
    convention = funding_request_to(url)
    notification_id = f"{convention.id}/{DECISION}/task.assigned"
    async with running_worker(dev_env, db_pool, fast_delivery()) as task_queue:
        await start_convention(dev_env.client, convention, task_queue)
        [fix] = await eventually(lambda: open_fix_tasks(dev_env.client, convention.id), bool)
    await stop(dev_env.client, convention.id)
    assert webhook_receiver.requests_to(url) == []
    row, _ = await log_of(db_pool, notification_id)
    assert row["status"] == "failed"
    assert "PACTE_WEBHOOK_SECRET_BID" in row["last_detail"]
    assert "PACTE_WEBHOOK_SECRET_BID" in fix.title


async def test_a_webhook_signed_with_the_wrong_secret_is_refused_and_not_retried(
    dev_env: WorkflowEnvironment,
    db_pool: asyncpg.Pool,
    webhook_receiver: WebhookReceiver,
    tmp_path: Any,
    monkeypatch: Any,
) -> None:
    monkeypatch.delenv("PACTE_WEBHOOK_SECRET_BID", raising=False)
    wrong = "whsec_" + "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo0NTY3ODk="
    secrets_file = tmp_path / "secrets.toml"
    secrets_file.write_text(f'[webhook_secrets]\nbid = "{wrong}"\n', encoding="utf-8")
    url = webhook_receiver.endpoint()
    convention = funding_request_to(url)
    notification_id = f"{convention.id}/{DECISION}/task.assigned"
    async with running_worker(dev_env, db_pool, fast_delivery(secrets_file)) as task_queue:
        await start_convention(dev_env.client, convention, task_queue)
        await eventually(lambda: open_fix_tasks(dev_env.client, convention.id), bool)
    await stop(dev_env.client, convention.id)
    received = webhook_receiver.requests_to(url)
    assert [(r.verified, r.answered) for r in received] == [(False, 401)]
    row, _ = await log_of(db_pool, notification_id)
    assert (row["status"], row["last_response_code"]) == ("failed", 401)
    assert wrong not in (row["last_detail"] or "")


async def test_reminders_and_escalations_go_through_the_same_signed_path(
    time_env: WorkflowEnvironment,
    db_pool: asyncpg.Pool,
    webhook_receiver: WebhookReceiver,
    monkeypatch: Any,
) -> None:
    monkeypatch.setenv("PACTE_WEBHOOK_SECRET_BID", WEBHOOK_SECRET)
    monkeypatch.setenv("PACTE_WEBHOOK_SECRET_OFPPT", WEBHOOK_SECRET)
    funder_url, office_url = webhook_receiver.endpoint(), webhook_receiver.endpoint()
    convention = funding_request_to(funder_url, office_webhook_url=office_url)

    def to(url: str) -> Awaitable[list[ReceivedWebhook]]:
        return asyncio.sleep(0, webhook_receiver.requests_to(url))

    def types(requests: list[ReceivedWebhook]) -> set[str]:
        return {r.event.get_type() for r in requests if r.event is not None}

    async with running_worker(time_env, db_pool, fast_delivery()) as task_queue:
        await start_convention(time_env.client, convention, task_queue)
        await eventually(lambda: to(funder_url), bool)
        await time_env.sleep(timedelta(days=31))
        funder = await eventually(
            lambda: to(funder_url), lambda r: "pacte.task.reminder" in types(r)
        )
        office = await eventually(
            lambda: to(office_url), lambda r: "pacte.task.escalated" in types(r)
        )
        await stop(time_env.client, convention.id)
    requests = funder + office
    assert all(r.verified for r in requests), [r.error for r in requests]
    assert all(r.event is not None and r.event.get_id() == r.webhook_id for r in requests)
    assert len({r.webhook_id for r in requests}) == len(requests), "one id per notification"
    assert types(funder) >= {"pacte.task.assigned", "pacte.task.reminder"}
    escalated = [r for r in office if r.event and r.event.get_type() == "pacte.task.escalated"]
    assert escalated and all(r.webhook_id.endswith("/officer") for r in escalated)
    assert all(r.event.get_data()["overdue"] for r in escalated if r.event)
