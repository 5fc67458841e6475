"""A receipt PostgreSQL lost is rebuilt from the record (issue 27, item 2).

An API answer's receipt and its Idempotency-Key's mark are committed without waiting for the
disk, so a crash of PostgreSQL can lose them while the workflow keeps the answer. What such a
crash leaves is made here by hand after a real answer: the receipt row deleted (the key still
done), the key set back to reserved, the key's row deleted too. Each time a retry with the
same Idempotency-Key and body gets the same receipt as the first request, the key is marked
done again, and the answer is recorded once; another request is never given that receipt.
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import partial
from typing import Any, cast

import asyncpg
from temporalio.testing import WorkflowEnvironment

from application.partner.answers import _body_hash
from benchmarks.metering import ClientCalls, counting_client
from devkit.polling import eventually
from schemas.actors import AuthMethod, Principal, PrincipalKind
from storage import idempotency
from storage.idempotency import IdempotencyKey
from storage.receipts import Receipt, find_receipt
from tests.partner_stack import DECISION, bearer, funding_convention, make_desk, portal_client
from tests.test_api_inbox import row_open
from tests.test_delivery_webhook import stop
from tests.test_partner_api import APPROVAL


async def _answers_recorded(pool: asyncpg.Pool, convention_id: str) -> int:
    count = await pool.fetchval(
        "SELECT count(*) FROM milestones WHERE convention_id = $1 AND task_id = $2"
        " AND kind = 'task_answered'",
        convention_id,
        DECISION,
    )
    return int(count)


async def _key_row(pool: asyncpg.Pool, key: str) -> Any:
    return await pool.fetchrow(
        "SELECT receipt FROM partner_idempotency WHERE party = 'bid' AND key = $1", key
    )


async def test_a_retry_gets_the_same_receipt_when_postgresql_lost_it(
    dev_env: WorkflowEnvironment, db_pool: asyncpg.Pool
) -> None:
    calls = ClientCalls()
    desk = make_desk(counting_client(dev_env.client, calls), db_pool)
    convention = await funding_convention(dev_env.client, db_pool)
    key, _record = await desk.create_key("bid", "repair")
    await row_open(db_pool, convention.id)
    idempotency_key = f"repair-{convention.id}"
    path = f"/api/v1/tasks/{convention.id}/{DECISION}/answer"
    headers = {**bearer(key), "idempotency-key": idempotency_key}
    lost_receipt = (
        "DELETE FROM partner_receipts WHERE convention_id = $1 AND task_id = $2",
        convention.id,
        DECISION,
    )
    async with portal_client(desk) as http:
        first = await http.post(path, json=APPROVAL, headers=headers)
        assert first.status_code == 200, first.text
        await eventually(
            partial(_answers_recorded, db_pool, convention.id),
            lambda count: count >= 1,
            what="the answer's milestone",
        )
        retries: dict[str, Any] = {}
        # 1. The receipt lost, the key's mark kept (done): 409 "no receipt" before.
        await db_pool.execute(*lost_receipt)
        retries["receipt lost"] = await http.post(path, json=APPROVAL, headers=headers)
        # 2. Both lost, the reservation kept: 409 "still in progress" for 30 s, then the
        # answer sent again and refused as already given, before.
        await db_pool.execute(*lost_receipt)
        await db_pool.execute(
            "UPDATE partner_idempotency SET receipt = NULL WHERE party = 'bid' AND key = $1",
            idempotency_key,
        )
        retries["key reserved"] = await http.post(path, json=APPROVAL, headers=headers)
        updates_before_sending_again = calls.updates
        # 3. The reservation lost too: the retry reserves the key, sends the answer, which
        # the workflow refuses as given; the record says it was this very request's.
        await db_pool.execute(*lost_receipt)
        await db_pool.execute(
            "DELETE FROM partner_idempotency WHERE party = 'bid' AND key = $1", idempotency_key
        )
        retries["key lost"] = await http.post(path, json=APPROVAL, headers=headers)
        # Another request, under another key: refused, naming who answered, never given
        # the first request's receipt; its key is free again.
        other = {"answer": {"decision": "reject", "comments": "no"}}
        another = await http.post(
            path, json=other, headers={**bearer(key), "idempotency-key": f"other-{convention.id}"}
        )
        # The same body under another key is another request too.
        same_body = await http.post(
            path,
            json=APPROVAL,
            headers={**bearer(key), "idempotency-key": f"again-{idempotency_key}"},
        )
    for what, retry in retries.items():
        assert retry.status_code == 200, (what, retry.text)
        assert retry.json() == first.json(), what
    # Only the third retry sent the answer again (to be refused); the first two were repaired
    # from the record alone.
    assert updates_before_sending_again == 1 and calls.updates == 4
    assert another.status_code == 409 and "answered by" in another.json()["detail"]
    assert same_body.status_code == 409 and "answered by" in same_body.json()["detail"]
    assert await _key_row(db_pool, f"other-{convention.id}") is None
    assert await _key_row(db_pool, f"again-{idempotency_key}") is None
    # The key is done again, its receipt kept; the answer is in the record once.
    assert (await _key_row(db_pool, idempotency_key))["receipt"] is not None
    kept = await find_receipt(db_pool, convention.id, DECISION)
    assert kept is not None
    assert kept.accepted_at == datetime.fromisoformat(first.json()["accepted_at"])
    assert await _answers_recorded(db_pool, convention.id) == 1
    await stop(dev_env.client, convention.id)


async def test_the_receipts_commit_does_not_wait_for_the_disk(db_pool: asyncpg.Pool) -> None:
    # The statement turns synchronous_commit off for its own transaction only.
    principal = Principal(
        kind=PrincipalKind.API_KEY, id="k", name="n", party="bid", method=AuthMethod.API_KEY
    )
    receipt = Receipt("commit-mode", "t", datetime.now(UTC), principal, {"kind": "x"})
    once = IdempotencyKey("bid", "commit-mode", _body_hash("commit-mode", "t", {}), "c", "t")
    async with db_pool.acquire() as connection:
        async with connection.transaction():
            await connection.execute(
                "INSERT INTO partner_idempotency (party, key, body_hash, convention_id, task_id)"
                " VALUES ($1, $2, $3, $4, $5)",
                once.party,
                once.key,
                once.body_hash,
                once.convention_id,
                once.task_id,
            )
            assert await connection.fetchval("SHOW synchronous_commit") == "on"
            await idempotency.complete(cast(asyncpg.Pool, connection), once, receipt, "bid")
            assert await connection.fetchval("SHOW synchronous_commit") == "off"
        assert await connection.fetchval("SHOW synchronous_commit") == "on"
    await db_pool.execute(
        "DELETE FROM partner_idempotency WHERE party = 'bid' AND key = 'commit-mode'"
    )
    await db_pool.execute("DELETE FROM partner_receipts WHERE convention_id = 'commit-mode'")
