"""An officer retries a failed delivery from the convention's page: the page shows the
failure, the answer to the office's fix_delivery task goes as `officer_on_behalf` with the
signed-in officer, and the same event is delivered."""

from __future__ import annotations

from typing import Any

import asyncpg
from temporalio.testing import WorkflowEnvironment

from application.conventions import start_convention
from devkit.polling import eventually
from tests.conftest import WEBHOOK_SECRET, WebhookReceiver
from tests.partner_stack import DECISION, make_desk
from tests.test_delivery_webhook import (
    fast_delivery,
    funding_request_to,
    log_of,
    open_fix_tasks,
    running_worker,
    stop,
)
from tests.test_office_desk import csrf_of, office_client, signed_in


async def test_an_officer_retries_a_failed_webhook_from_the_conventions_page(
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
    desk = make_desk(client, db_pool)
    async with running_worker(dev_env, db_pool, fast_delivery()) as task_queue:
        await start_convention(client, convention, task_queue)
        [fix] = await eventually(lambda: open_fix_tasks(client, convention.id), bool)
        async with office_client(desk) as http:
            email = await signed_in(http, db_pool, "officer")
            page = await http.get(f"/office/conventions/{convention.id}")
            assert page.status_code == 200
            assert notification_id in page.text and "410" in page.text
            webhook_receiver.answer_next(url, [200])
            retried = await http.post(
                f"/office/conventions/{convention.id}/answer",
                data={"csrf": csrf_of(page), "task_id": fix.id, "decision": "retry"},
            )
            assert retried.status_code == 200, retried.text
        await eventually(
            lambda: log_of(db_pool, notification_id),
            lambda log: log[0]["status"] == "delivered",
        )
        answered = await db_pool.fetchrow(
            "SELECT details FROM milestones WHERE convention_id = $1 AND task_id = $2"
            " AND kind = 'task_answered'",
            convention.id,
            fix.id,
        )
        principal = answered["details"]["principal"]
        assert (principal["method"], principal["id"]) == ("officer_on_behalf", email)
    await stop(client, convention.id)
    assert [r.answered for r in webhook_receiver.requests_to(url)] == [410, 200]
