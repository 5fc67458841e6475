"""Partners' systems answer with a CloudEvent signed per Standard Webhooks (the party's
webhook secret), in structured mode (binary mode's attributes would be unsigned: refused); a
repeated source + id is answered once per party; party ids are compared exactly."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest
from standardwebhooks import Webhook
from temporalio.testing import WorkflowEnvironment

from application.conventions import convention_status
from tests.conftest import WEBHOOK_SECRET
from tests.partner_stack import DECISION, funding_convention, make_desk, portal_client
from tests.test_delivery_webhook import stop


def signed(body: bytes, event_id: str, *, at: datetime | None = None) -> dict[str, str]:
    """Standard Webhooks headers over the raw body, as the partner's library sends them."""
    timestamp = at or datetime.now(UTC)
    return {
        "webhook-id": event_id,
        "webhook-timestamp": str(int(timestamp.timestamp())),
        "webhook-signature": Webhook(WEBHOOK_SECRET).sign(event_id, timestamp, body.decode()),
    }


def answer_event(convention_id: str, event_id: str, **data: Any) -> dict[str, Any]:
    return {
        "specversion": "1.0",
        "id": event_id,
        "source": "https://grants.isdb.example/pacte",
        "type": "pacte.task.answer",
        "datacontenttype": "application/json",
        "data": {
            "convention_id": convention_id,
            "task_id": DECISION,
            "answer": {"decision": "reject", "comments": "hors du champ de la Banque"},
            **data,
        },
    }


async def test_a_signed_structured_event_answers_once_and_its_repeat_gets_the_same_receipt(
    dev_env: WorkflowEnvironment, db_pool: asyncpg.Pool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PACTE_WEBHOOK_SECRET_BID", WEBHOOK_SECRET)
    desk = make_desk(dev_env.client, db_pool)
    convention = await funding_convention(dev_env.client, db_pool)
    body = json.dumps(answer_event(convention.id, "evt-1")).encode()
    headers = {"content-type": "application/cloudevents+json", **signed(body, "evt-1")}
    async with portal_client(desk) as http:
        first = await http.post("/api/v1/events/bid", content=body, headers=headers)
        again = await http.post("/api/v1/events/bid", content=body, headers=headers)
    assert first.status_code == 202, first.text
    assert again.status_code == 202 and again.json() == first.json()
    principal = first.json()["principal"]
    assert principal["method"] == "signed_event" and principal["party"] == "bid"
    status = await convention_status(dev_env.client, convention.id)
    assert DECISION not in {t.id for t in status.open_tasks}


async def test_a_binary_mode_event_is_refused_its_attributes_being_unsigned(
    dev_env: WorkflowEnvironment, db_pool: asyncpg.Pool, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Issue 28: ce-id and ce-source are outside the signature; a captured request replayed
    # under a new ce-id within five minutes would be a new event. Structured mode only.
    monkeypatch.setenv("PACTE_WEBHOOK_SECRET_BID", WEBHOOK_SECRET)
    desk = make_desk(dev_env.client, db_pool)
    convention = await funding_convention(dev_env.client, db_pool)
    event = answer_event(convention.id, "evt-binary")
    body = json.dumps(event["data"]).encode()
    headers = {
        "content-type": "application/json",
        "ce-specversion": "1.0",
        "ce-id": "evt-binary",
        "ce-source": event["source"],
        "ce-type": "pacte.task.answer",
        **signed(body, "evt-binary"),
    }
    async with portal_client(desk) as http:
        answered = await http.post("/api/v1/events/bid", content=body, headers=headers)
        replayed = await http.post(
            "/api/v1/events/bid", content=body, headers={**headers, "ce-id": "evt-replayed"}
        )
    for refused in (answered, replayed):
        assert refused.status_code == 415, refused.text
        assert refused.headers["content-type"] == "application/problem+json"
        assert refused.json()["errors"][0]["field"] == "content-type"
        assert "structured mode" in refused.json()["detail"]
    status = await convention_status(dev_env.client, convention.id)
    assert DECISION in {t.id for t in status.open_tasks}
    await stop(dev_env.client, convention.id)


async def test_event_ids_are_per_party_and_party_ids_are_compared_exactly(
    dev_env: WorkflowEnvironment, db_pool: asyncpg.Pool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PACTE_WEBHOOK_SECRET_BID", WEBHOOK_SECRET)
    desk = make_desk(dev_env.client, db_pool)
    convention = await funding_convention(dev_env.client, db_pool)
    event = answer_event(convention.id, f"evt-{convention.id}")
    body = json.dumps(event).encode()
    structured = {"content-type": "application/cloudevents+json"}
    # Another party's system used the same source and id first (and was answered).
    await db_pool.execute(
        "INSERT INTO partner_events (source, id, party, receipt) VALUES ($1, $2, 'menefp',"
        ' \'{"convention_id": "elsewhere", "task_id": "x"}\')',
        event["source"],
        event["id"],
    )
    async with portal_client(desk) as http:
        # /events/BID with bid's secret (PACTE_WEBHOOK_SECRET_BID stands for both spellings):
        # refused, "BID" is not the directory's bid.
        shouted = await http.post(
            "/api/v1/events/BID", content=body, headers={**structured, **signed(body, "e1")}
        )
        assert shouted.status_code == 401, shouted.text
        # bid's own event with that source and id is bid's, answered.
        answered = await http.post(
            "/api/v1/events/bid", content=body, headers={**structured, **signed(body, "e2")}
        )
    assert answered.status_code == 202, answered.text
    assert answered.json()["principal"]["party"] == "bid"
    assert answered.json()["convention_id"] == convention.id
    parties = await db_pool.fetch(
        "SELECT party FROM partner_events WHERE source = $1 AND id = $2 ORDER BY party",
        event["source"],
        event["id"],
    )
    assert [row["party"] for row in parties] == ["bid", "menefp"]


async def test_unsigned_stale_misrouted_and_mistyped_events_answer_nothing(
    dev_env: WorkflowEnvironment, db_pool: asyncpg.Pool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PACTE_WEBHOOK_SECRET_BID", WEBHOOK_SECRET)
    monkeypatch.setenv("PACTE_WEBHOOK_SECRET_MENEFP", WEBHOOK_SECRET)
    desk = make_desk(dev_env.client, db_pool)
    convention = await funding_convention(dev_env.client, db_pool)
    body = json.dumps(answer_event(convention.id, "evt-bad")).encode()
    structured = {"content-type": "application/cloudevents+json"}
    stale = signed(body, "evt-bad", at=datetime.now(UTC) - timedelta(minutes=10))
    wrong_type = json.dumps({**answer_event(convention.id, "evt-t"), "type": "x.y"}).encode()
    async with portal_client(desk) as http:
        unsigned = await http.post("/api/v1/events/bid", content=body, headers=structured)
        old = await http.post("/api/v1/events/bid", content=body, headers={**structured, **stale})
        tampered = await http.post(
            "/api/v1/events/bid",
            content=body.replace(b"reject", b"approve"),
            headers={**structured, **signed(body, "evt-bad")},
        )
        # Signed with a secret menefp also holds, for a task menefp does not owe.
        other_party = await http.post(
            "/api/v1/events/menefp", content=body, headers={**structured, **signed(body, "e2")}
        )
        mistyped = await http.post(
            "/api/v1/events/bid",
            content=wrong_type,
            headers={**structured, **signed(wrong_type, "evt-t")},
        )
        handshake = await http.options(
            "/api/v1/events/bid", headers={"webhook-request-origin": "grants.isdb.example"}
        )
    assert unsigned.status_code == 401 and old.status_code == 401 and tampered.status_code == 401
    assert other_party.status_code == 404
    assert mistyped.status_code == 422 and mistyped.json()["errors"][0]["field"] == "type"
    assert handshake.headers["webhook-allowed-origin"] == "grants.isdb.example"
    status = await convention_status(dev_env.client, convention.id)
    assert DECISION in {t.id for t in status.open_tasks}
    await stop(dev_env.client, convention.id)
