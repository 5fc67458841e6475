"""The partner desk's storage floor against a real PostgreSQL: one `reserve_once` for both
once-only answers (API Idempotency-Key, CloudEvent source + id), one failure limiter."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from application import limits
from application.errors import TooManyAttempts
from schemas.actors import AuthMethod, Principal, PrincipalKind
from storage.idempotency import (
    EventKey,
    IdempotencyKey,
    OnceState,
    complete,
    release,
    reserve_once,
)
from storage.receipts import Receipt, find_receipt


def _receipt(convention_id: str, task_id: str) -> Receipt:
    return Receipt(
        convention_id=convention_id,
        task_id=task_id,
        accepted_at=datetime(2027, 3, 1, 9, 30, tzinfo=UTC),
        principal=Principal(
            kind=PrincipalKind.API_KEY,
            id="k1",
            name="IsDB grants system",
            party="bid",
            method=AuthMethod.API_KEY,
            request_id="r1",
        ),
        answer={"kind": "decide_funding", "decision": "reject"},
    )


async def test_an_idempotency_key_reserves_once_then_gives_the_stored_receipt(
    db_pool: asyncpg.Pool,
) -> None:
    convention_id, task_id = f"c-{uuid.uuid4().hex[:8]}", "funding.decision.r1"
    key = IdempotencyKey("bid", uuid.uuid4().hex, b"body-1", convention_id, task_id)
    assert (await reserve_once(db_pool, key)).state is OnceState.RESERVED
    # Not answered yet: a second call is told the first one is still in flight.
    assert (await reserve_once(db_pool, key)).state is OnceState.IN_FLIGHT
    receipt = _receipt(convention_id, task_id)
    await complete(db_pool, key, receipt, "bid")
    again = await reserve_once(db_pool, key)
    assert again.state is OnceState.DONE and again.receipt == receipt
    assert await find_receipt(db_pool, convention_id, task_id) == receipt
    other = IdempotencyKey("bid", key.key, b"body-2", convention_id, task_id)
    refused = await reserve_once(db_pool, other)
    assert refused.state is OnceState.OTHER_REQUEST and refused.receipt is None
    # Another party's key of the same name is its own.
    theirs = IdempotencyKey("menefp", key.key, b"body-2", convention_id, task_id)
    assert (await reserve_once(db_pool, theirs)).state is OnceState.RESERVED


async def test_a_released_key_is_free_for_a_corrected_request(db_pool: asyncpg.Pool) -> None:
    key = IdempotencyKey("bid", uuid.uuid4().hex, b"wrong", "c", "t")
    assert (await reserve_once(db_pool, key)).state is OnceState.RESERVED
    await release(db_pool, key)
    corrected = IdempotencyKey("bid", key.key, b"right", "c", "t")
    assert (await reserve_once(db_pool, corrected)).state is OnceState.RESERVED


async def test_a_cloudevent_is_answered_once_whatever_a_repeat_carries(
    db_pool: asyncpg.Pool,
) -> None:
    convention_id, task_id = f"c-{uuid.uuid4().hex[:8]}", "funding.decision.r1"
    event = EventKey("urn:isdb:grants", uuid.uuid4().hex, "bid")
    assert (await reserve_once(db_pool, event)).state is OnceState.RESERVED
    assert (await reserve_once(db_pool, event)).state is OnceState.IN_FLIGHT
    receipt = _receipt(convention_id, task_id)
    await complete(db_pool, event, receipt, "bid")
    repeat = await reserve_once(db_pool, event)
    assert repeat.state is OnceState.DONE and repeat.receipt == receipt
    # The same source and id from another party's system is another event (each party's ids
    # are its own: migration 016), never that party's receipt.
    other = await reserve_once(db_pool, EventKey(event.source, event.id, "menefp"))
    assert other.state is OnceState.RESERVED and other.receipt is None


async def test_the_failure_limiter_refuses_once_a_bucket_is_full(db_pool: asyncpg.Pool) -> None:
    bucket = {f"address:test-{uuid.uuid4().hex}": 3}
    now = datetime.now(UTC)
    for _ in range(3):
        await limits.count_failure(db_pool, bucket, now)
    with pytest.raises(TooManyAttempts) as refused:
        await limits.count_failure(db_pool, bucket, now)
    wait = refused.value.retry_after
    assert wait is not None and 0 < wait <= limits.FAILURE_WINDOW.total_seconds() + 1
    # Once the window has slid past those failures, the bucket starts afresh.
    later = now + limits.FAILURE_WINDOW + timedelta(seconds=1)
    await limits.count_failure(db_pool, bucket, later)
