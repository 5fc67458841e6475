"""Partners' systems answer through the REST API with their party's key: real dev server,
real worker, real PostgreSQL; the app served in process over httpx."""

from __future__ import annotations

import asyncio
import json

import asyncpg
from temporalio.testing import WorkflowEnvironment

from application.conventions import convention_status
from devkit.polling import eventually
from schemas.tasks import AnswerTask
from tests.partner_stack import (
    DECISION,
    bearer,
    funding_convention,
    make_desk,
    portal_client,
)
from tests.test_delivery_webhook import stop
from workflows.convention import workflow_id_for


async def answers_in_history(env: WorkflowEnvironment, convention_id: str) -> list[AnswerTask]:
    """The answers the workflow accepted, decoded from its history's update events."""
    handle = env.client.get_workflow_handle(workflow_id_for(convention_id))
    answers = []
    async for event in handle.fetch_history_events():
        if not event.HasField("workflow_execution_update_accepted_event_attributes"):
            continue
        request = event.workflow_execution_update_accepted_event_attributes.accepted_request
        if request.input.name != "answer_task":
            continue
        [answer] = await env.client.data_converter.decode(request.input.args.payloads, [AnswerTask])
        answers.append(answer)
    return answers


APPROVAL = {
    "answer": {"decision": "approve", "granted": {"amount": 36000000, "currency": "IsDB-ID"}}
}


async def test_a_partys_key_lists_its_open_tasks_and_answers_one_with_its_principal(
    dev_env: WorkflowEnvironment, db_pool: asyncpg.Pool
) -> None:
    desk = make_desk(dev_env.client, db_pool)
    convention = await funding_convention(dev_env.client, db_pool)
    key, record = await desk.create_key("bid", "IsDB grants system")
    async with portal_client(desk) as http:
        # The list reads the inbox read model, which the workflow syncs a moment after.
        listed = await eventually(
            lambda: http.get("/api/v1/tasks", headers=bearer(key)),
            lambda answer: (
                answer.status_code != 200
                or (convention.id, DECISION)
                in [(t["convention_id"], t["task_id"]) for t in answer.json()["tasks"]]
            ),
        )
        assert listed.status_code == 200, listed.text
        one = await http.get(f"/api/v1/tasks/{convention.id}/{DECISION}", headers=bearer(key))
        assert one.status_code == 200 and one.json()["status"] == "open"
        answered = await http.post(
            f"/api/v1/tasks/{convention.id}/{DECISION}/answer", json=APPROVAL, headers=bearer(key)
        )
    assert answered.status_code == 200, answered.text
    principal = answered.json()["principal"]
    assert principal["kind"] == "api_key" and principal["method"] == "api_key"
    assert principal["id"] == record.id and principal["party"] == "bid"
    assert principal["request_id"]
    status = await convention_status(dev_env.client, convention.id)
    assert DECISION not in {t.id for t in status.open_tasks}
    # The principal travels inside the update itself: the history records who, and how.
    [sent] = await answers_in_history(dev_env, convention.id)
    assert sent.principal is not None and sent.principal.method.value == "api_key"
    assert sent.principal.id == record.id and sent.acting_party == "bid"
    assert key not in sent.model_dump_json()
    # The secret itself is nowhere in PostgreSQL: only its hash.
    rows = await db_pool.fetch("SELECT * FROM partner_api_keys WHERE id = $1", record.id)
    assert key not in repr([dict(r) for r in rows])


async def test_another_partys_key_gets_404_never_403(
    dev_env: WorkflowEnvironment, db_pool: asyncpg.Pool
) -> None:
    desk = make_desk(dev_env.client, db_pool)
    convention = await funding_convention(dev_env.client, db_pool)
    key, _ = await desk.create_key("menefp", "ministry")
    path = f"/api/v1/tasks/{convention.id}/{DECISION}"
    async with portal_client(desk) as http:
        seen = await http.get(path, headers=bearer(key))
        posted = await http.post(f"{path}/answer", json=APPROVAL, headers=bearer(key))
        listed = await http.get("/api/v1/tasks", headers=bearer(key))
    assert seen.status_code == 404 and posted.status_code == 404
    assert posted.headers["content-type"].startswith("application/problem+json")
    assert DECISION not in [t["task_id"] for t in listed.json()["tasks"]]
    status = await convention_status(dev_env.client, convention.id)
    assert DECISION in {t.id for t in status.open_tasks}
    await stop(dev_env.client, convention.id)


async def test_a_revoked_key_is_refused_401_at_once(
    dev_env: WorkflowEnvironment, db_pool: asyncpg.Pool
) -> None:
    desk = make_desk(dev_env.client, db_pool)
    key, record = await desk.create_key("bid", "to revoke")
    async with portal_client(desk) as http:
        assert (await http.get("/api/v1/tasks", headers=bearer(key))).status_code == 200
        await desk.revoke_key(record.id)
        refused = await http.get("/api/v1/tasks", headers=bearer(key))
        unknown = await http.get("/api/v1/tasks", headers=bearer("pk_nothing_here"))
        missing = await http.get("/api/v1/tasks")
    assert refused.status_code == 401 and unknown.status_code == 401 and missing.status_code == 401
    assert refused.json()["status"] == 401
    assert refused.headers["www-authenticate"].startswith("Bearer")
    assert key not in refused.text


async def test_an_idempotent_retry_gets_the_same_receipt_and_another_body_409(
    dev_env: WorkflowEnvironment, db_pool: asyncpg.Pool
) -> None:
    desk = make_desk(dev_env.client, db_pool)
    convention = await funding_convention(dev_env.client, db_pool)
    key, _ = await desk.create_key("bid", "retrying system")
    path = f"/api/v1/tasks/{convention.id}/{DECISION}/answer"
    headers = {**bearer(key), "idempotency-key": "decision-2026-0001"}
    async with portal_client(desk) as http:
        first = await http.post(path, json=APPROVAL, headers=headers)
        again = await http.post(path, json=APPROVAL, headers=headers)
        other = dict(APPROVAL, answer={**APPROVAL["answer"], "comments": "changed my mind"})
        conflicting = await http.post(path, json=other, headers=headers)
    assert first.status_code == 200, first.text
    assert again.status_code == 200 and again.json() == first.json()
    assert conflicting.status_code == 409
    assert "Idempotency-Key" in conflicting.json()["detail"]


async def test_bad_bodies_are_problem_documents_naming_the_field(
    dev_env: WorkflowEnvironment, db_pool: asyncpg.Pool
) -> None:
    desk = make_desk(dev_env.client, db_pool)
    convention = await funding_convention(dev_env.client, db_pool)
    key, _ = await desk.create_key("bid", "sloppy system")
    path = f"/api/v1/tasks/{convention.id}/{DECISION}/answer"
    async with portal_client(desk) as http:
        not_json = await http.post(
            path, content=b"decision=approve", headers={**bearer(key), "content-type": "text/plain"}
        )
        huge = await http.post(
            path,
            content=json.dumps({"answer": {"comments": "x" * 5_000_000}}).encode(),
            headers={**bearer(key), "content-type": "application/json"},
        )
        unknown = await http.post(
            path,
            json={
                "answer": {
                    "decision": "approve",
                    "granted": {"amount": 1, "currency": "MAD"},
                    "bonus": True,
                },
                "principal": {"kind": "officer"},
            },
            headers=bearer(key),
        )
        missing = await http.post(
            path, json={"answer": {"decision": "approve"}}, headers=bearer(key)
        )
    assert not_json.status_code == 400
    assert not_json.headers["content-type"].startswith("application/problem+json")
    assert huge.status_code == 413
    assert unknown.status_code == 422
    fields = {e["field"] for e in unknown.json()["errors"]}
    assert "principal" in fields
    missing_fields = {(e["field"], e["reason"]) for e in missing.json()["errors"]}
    assert ("answer.granted", "required when approving") in missing_fields
    status = await convention_status(dev_env.client, convention.id)
    assert DECISION in {t.id for t in status.open_tasks}
    await stop(dev_env.client, convention.id)


async def test_two_colleagues_answering_at_once_one_is_accepted_the_other_told_who(
    dev_env: WorkflowEnvironment, db_pool: asyncpg.Pool
) -> None:
    desk = make_desk(dev_env.client, db_pool)
    convention = await funding_convention(dev_env.client, db_pool)
    key_a, _ = await desk.create_key("bid", "Jeddah desk")
    key_b, _ = await desk.create_key("bid", "Rabat desk")
    path = f"/api/v1/tasks/{convention.id}/{DECISION}/answer"
    rejection = {"answer": {"decision": "reject", "comments": "out of scope"}}
    async with portal_client(desk) as http:
        first, second = await asyncio.gather(
            http.post(path, json=APPROVAL, headers=bearer(key_a)),
            http.post(path, json=rejection, headers=bearer(key_b)),
        )
    codes = sorted([first.status_code, second.status_code])
    assert codes == [200, 409], (first.text, second.text)
    winner, loser = (first, second) if first.status_code == 200 else (second, first)
    assert winner.json()["principal"]["name"] in loser.json()["detail"]


async def test_an_answer_finds_its_task_in_the_inbox_and_the_workflow_still_decides(
    dev_env: WorkflowEnvironment, db_pool: asyncpg.Pool
) -> None:
    """The answer path reads the task from the inbox's row; a row not there yet, or still
    open after the task closed, changes nothing the partner sees."""
    desk = make_desk(dev_env.client, db_pool)
    convention = await funding_convention(dev_env.client, db_pool)
    key, _ = await desk.create_key("bid", "IsDB grants system")
    other, _ = await desk.create_key("menefp", "ministry")
    path = f"/api/v1/tasks/{convention.id}/{DECISION}/answer"
    ids = (convention.id, DECISION)

    async def synced() -> bool:
        found = await db_pool.fetchval(
            "SELECT count(*) FROM tasks WHERE convention_id = $1 AND task_id = $2", *ids
        )
        return bool(found)

    await eventually(synced, bool)
    async with portal_client(desk) as http:
        # The row says whose task it is: another party's key is 404, the workflow not asked.
        assert (await http.post(path, json=APPROVAL, headers=bearer(other))).status_code == 404
        # Not written yet (the sync lags): the workflow's query finds the task instead.
        kept = await db_pool.fetchrow(
            "DELETE FROM tasks WHERE convention_id = $1 AND task_id = $2 RETURNING *", *ids
        )
        answered = await http.post(path, json=APPROVAL, headers=bearer(key))
        assert answered.status_code == 200, answered.text
        # Still open in the inbox after the answer: the workflow refuses, naming who answered.
        await db_pool.execute("DELETE FROM tasks WHERE convention_id = $1 AND task_id = $2", *ids)
        await db_pool.execute(
            "INSERT INTO tasks SELECT * FROM jsonb_populate_record(NULL::tasks, $1::jsonb)",
            json.loads(json.dumps(dict(kept), default=str)),
        )
        again = await http.post(path, json=APPROVAL, headers=bearer(key))
    assert again.status_code == 409, again.text
    assert "IsDB grants system" in again.json()["detail"]
    assert len(await answers_in_history(dev_env, convention.id)) == 1
    await stop(dev_env.client, convention.id)


async def test_the_openapi_document_is_3_1_with_the_three_paths(
    dev_env: WorkflowEnvironment, db_pool: asyncpg.Pool
) -> None:
    desk = make_desk(dev_env.client, db_pool)
    async with portal_client(desk) as http:
        document = (await http.get("/api/openapi.json")).json()
    assert document["openapi"].startswith("3.1")
    assert set(document["paths"]) >= {
        "/api/v1/tasks",
        "/api/v1/tasks/{convention_id}/{task_id}",
        "/api/v1/tasks/{convention_id}/{task_id}/answer",
    }
    assert "AnswerTask" in document["components"]["schemas"]


async def test_failed_keys_from_one_address_are_slowed_with_429_but_a_valid_key_still_passes(
    dev_env: WorkflowEnvironment, db_pool: asyncpg.Pool
) -> None:
    desk = make_desk(dev_env.client, db_pool)
    async with portal_client(desk) as http:
        answers = [
            (await http.get("/api/v1/tasks", headers=bearer(f"pk_guess_{n}"))).status_code
            for n in range(21)
        ]
        key, _ = await desk.create_key("bid", "legit but same address")
        valid = await http.get("/api/v1/tasks", headers=bearer(key))
        guessed = await http.get("/api/v1/tasks", headers=bearer("pk_guess_again"))
    assert answers[:20] == [401] * 20 and answers[20] == 429
    # Credential first: other clients' failures on the address never refuse a valid key …
    assert valid.status_code == 200, valid.text
    # … while a guess from that address is still slowed.
    assert guessed.status_code == 429 and int(guessed.headers["retry-after"]) > 0
