"""Webhook deliveries are signed with the directory's channel secrets (issue 23, item 1):
during a rotation's overlap with the old and the new one (Standard Webhooks carries several
`v1,` signatures), so a partner verifying with either accepts; `PACTE_WEBHOOK_SECRET_<PARTY>`
stays an override. A real endpoint on 127.0.0.1 verifies with the `standardwebhooks` package.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import asyncpg
import pytest
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError
from temporalio.testing import WorkflowEnvironment

from application.conventions import start_convention
from application.directory.channels import channel_key, rotate_secret
from devkit.polling import eventually
from infra.portal_settings import link_secret
from infra.secrets import webhook_secret_variable
from tests.conftest import WEBHOOK_SECRET, WebhookReceiver
from tests.directory_stack import ADMIN, fresh_id, funding_file
from tests.partner_stack import registered
from tests.test_delivery_webhook import DECISION, fast_delivery, log_of, running_worker, stop


async def test_a_delivery_is_signed_with_the_directorys_old_and_new_secret_and_the_override_wins(
    dev_env: WorkflowEnvironment, db_pool: asyncpg.Pool, monkeypatch: Any
) -> None:
    party = fresh_id()
    monkeypatch.delenv(webhook_secret_variable(party), raising=False)
    receiver = WebhookReceiver(WEBHOOK_SECRET)
    try:
        url = receiver.endpoint()
        first = await registered(db_pool, funding_file(party, [], webhook_url=url))
        key = channel_key(link_secret())
        old = await rotate_secret(db_pool, ADMIN, key, party)
        new = await rotate_secret(db_pool, ADMIN, key, party, overlap=timedelta(days=1))
        receiver.secret = old.secret  # the partner has not switched to the new one yet
        second = funding_file(party, [], webhook_url=url)
        async with running_worker(dev_env, db_pool, fast_delivery()) as task_queue:
            await start_convention(dev_env.client, first, task_queue)
            await eventually(
                lambda: log_of(db_pool, f"{first.id}/{DECISION}/task.assigned"),
                lambda log: log[0] is not None and log[0]["status"] == "delivered",
            )
            # The operator's override: it alone signs.
            monkeypatch.setenv(webhook_secret_variable(party), WEBHOOK_SECRET)
            receiver.secret = WEBHOOK_SECRET
            await start_convention(dev_env.client, second, task_queue)
            await eventually(
                lambda: log_of(db_pool, f"{second.id}/{DECISION}/task.assigned"),
                lambda log: log[0] is not None and log[0]["status"] == "delivered",
            )
        for convention in (first, second):
            await stop(dev_env.client, convention.id)
        by_directory, by_override = (
            [r for r in receiver.requests_to(url) if r.webhook_id.startswith(c.id)]
            for c in (first, second)
        )
    finally:
        receiver.close()
    [delivered] = by_directory
    assert delivered.verified and delivered.answered == 200, delivered.error
    assert delivered.headers["webhook-signature"].count("v1,") == 2
    Webhook(new.secret).verify(delivered.body, delivered.headers)  # the new one verifies too
    [overridden] = by_override
    assert overridden.verified, overridden.error
    assert overridden.headers["webhook-signature"].count("v1,") == 1
    with pytest.raises(WebhookVerificationError):
        Webhook(old.secret).verify(overridden.body, overridden.headers)
