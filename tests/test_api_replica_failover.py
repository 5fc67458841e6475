"""A portal replica killed in the middle of an API answer (issue 27, item 4): its request had
reserved the Idempotency-Key and never kept a receipt nor freed the key. The partner's system
retries on the other replica with the same key: while the reservation is young (its request
may still be running) it hears 409 "still in progress"; once it is older than the lease, the
retry takes it over and answers, once."""

from __future__ import annotations

from functools import partial
from types import SimpleNamespace
from typing import Any, cast

import asyncpg
import pytest
from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment

from application import documents
from application.conventions import ConventionUnreadable, _refusals
from application.errors import ConventionNotAnswering, Refused
from application.partner import answers
from application.partner.answers import _body_hash
from application.partner.update_gate import UpdateGates
from devkit.polling import eventually
from storage.idempotency import IdempotencyKey, OnceState, reserve_once
from tests.partner_stack import DECISION, bearer, funding_convention, make_desk, portal_client
from tests.test_api_inbox import row_open
from tests.test_delivery_webhook import stop
from tests.test_partner_api import APPROVAL


async def test_a_retry_takes_over_the_reservation_a_killed_replica_left(
    dev_env: WorkflowEnvironment, db_pool: asyncpg.Pool
) -> None:
    desk = make_desk(dev_env.client, db_pool)
    convention = await funding_convention(dev_env.client, db_pool)
    key, _record = await desk.create_key("bid", "failover")
    await row_open(db_pool, convention.id)
    idempotency_key = f"failover-{convention.id}"
    # What the killed replica left: the key reserved for this very request, no receipt.
    cut = IdempotencyKey(
        "bid",
        idempotency_key,
        _body_hash(convention.id, DECISION, APPROVAL),
        convention.id,
        DECISION,
    )
    assert (await reserve_once(db_pool, cut)).state is OnceState.RESERVED
    path = f"/api/v1/tasks/{convention.id}/{DECISION}/answer"
    headers = {**bearer(key), "idempotency-key": idempotency_key}
    async with portal_client(desk) as http:
        young = await http.post(path, json=APPROVAL, headers=headers)
        assert young.status_code == 409, young.text
        assert "still in progress" in young.json()["detail"]
        await db_pool.execute(
            "UPDATE partner_idempotency SET created_at = now() - interval '31 seconds'"
            " WHERE party = 'bid' AND key = $1",
            idempotency_key,
        )
        other = {"answer": {"decision": "reject", "comments": "no"}}
        another_body = await http.post(path, json=other, headers=headers)
        retried = await http.post(path, json=APPROVAL, headers=headers)
        again = await http.post(path, json=APPROVAL, headers=headers)
    # Another body under the key is never the same request, however old the reservation.
    assert another_body.status_code == 409 and "another request" in another_body.text
    assert retried.status_code == 200, retried.text
    assert again.status_code == 200 and again.json() == retried.json()
    answered = await eventually(
        partial(
            db_pool.fetchval,
            "SELECT count(*) FROM milestones WHERE convention_id = $1 AND task_id = $2"
            " AND kind = 'task_answered'",
            convention.id,
            DECISION,
        ),
        lambda count: count >= 1,
        what="the answer's milestone",
    )
    assert answered == 1
    await stop(dev_env.client, convention.id)


async def test_temporal_refusing_an_update_for_now_is_a_503_to_retry_not_a_refusal() -> None:
    # More updates in flight to one workflow than Temporal admits (10 by default), an update
    # aborted: nothing was recorded, so the desk must say "try again", not "refused".
    for status, message in (
        (RPCStatusCode.RESOURCE_EXHAUSTED, "limit on number of concurrent in-flight updates"),
        (RPCStatusCode.ABORTED, "workflow update was aborted"),
    ):
        with pytest.raises(ConventionNotAnswering) as raised:
            async with _refusals(cast(Client, None), "c-1"):
                raise RPCError(message, status, b"")
        assert raised.value.retry_after == 1 and message in raised.value.detail
    with pytest.raises(Refused):
        async with _refusals(cast(Client, None), "c-1"):
            raise RPCError("invalid", RPCStatusCode.INVALID_ARGUMENT, b"")


async def test_a_workflow_task_failing_under_load_is_a_503_to_retry_not_a_500(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A worker overloaded: the update's workflow task fails or comes late. Nothing was
    # recorded for sure; the caller sends the same answer again (a second one is refused).
    async def unchanged(ctx: Any, convention_id: str, request: Any) -> Any:
        return request

    async def late(client: Any, convention_id: str, request: Any, **_: Any) -> Any:
        raise ConventionUnreadable(f"convention {convention_id}: did not take the update")

    monkeypatch.setattr(documents, "checked_answer", unchanged)
    monkeypatch.setattr(answers, "answer_task", late)
    request = SimpleNamespace(principal=object(), task_id="t-1")
    with pytest.raises(ConventionNotAnswering) as raised:
        context = SimpleNamespace(client=None, update_gates=UpdateGates())
        await answers.send(cast(Any, context), "c-1", cast(Any, request))
    assert raised.value.retry_after == 5


async def test_an_update_temporal_dropped_is_a_503_and_the_workflows_refusal_a_409() -> None:
    dropped = WorkflowUpdateFailedError(ApplicationError("workflow update was aborted"))
    with pytest.raises(ConventionNotAnswering):
        async with _refusals(cast(Client, None), "c-1"):
            raise dropped
    refused = WorkflowUpdateFailedError(
        ApplicationError("task_id: task 't' is already answered", type="AnswerRejected")
    )
    with pytest.raises(Refused):
        async with _refusals(cast(Client, None), "c-1"):
            raise refused
