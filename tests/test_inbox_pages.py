"""Issue 27, item 4: a contact's task page and the form's post read the inbox read model.

Temporal answers one workflow's queries a buffer at a time: dozens of contacts reviewing one
convention queued behind each other when each page and each post asked the workflow. An
open task is now read from the inbox's row (the workflow's own upserts) and the milestones
(the text under review); the workflow is asked only when the inbox cannot say. A row that is
behind never lets an answer through: the update's validator refuses it, and the page shows
the refusal naming who answered, over what the contact typed.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest
from temporalio.testing import WorkflowEnvironment

from application.conventions import answer_task, build_answer, find_task, start_convention
from application.partner import PartnerDesk
from application.partner.tasks import owed_as_inbox_says
from application.partner.update_gate import UpdateGates
from benchmarks.histories import wait_idle
from benchmarks.metering import ClientCalls, counting_client
from devkit.polling import eventually
from infra.portal_settings import PortalSettings
from schemas.contract import workflow_id_for
from schemas.convention import Convention
from schemas.tasks import Task, TaskFacts, TaskKind
from storage.inbox import inbox_task, upsert_tasks
from tests.conftest import DEV_TASK_QUEUE
from tests.partner_stack import link_path, make_desk, portal_client, registered
from tests.test_delivery_webhook import stop
from tests.test_documents_desk import REVIEWER, drafting_and_signature, link_minted
from tests.test_partner_links import csrf_of, open_task_page
from worker import build_worker

REVIEW = "drafting.review.v1.dmk"
ANSWERED = """SELECT details FROM milestones
 WHERE convention_id = $1 AND task_id = $2 AND kind = 'task_answered'"""


async def review_in_inbox(
    env: WorkflowEnvironment, pool: asyncpg.Pool
) -> tuple[PartnerDesk, ClientCalls, Convention]:
    """A drafting convention whose review by DMK's reviewer the inbox holds whole (its open
    row and the version it names), with a desk whose queries and updates are counted."""
    calls = ClientCalls()
    desk = make_desk(counting_client(env.client, calls), pool)
    convention = await registered(pool, drafting_and_signature(REVIEWER))
    await start_convention(env.client, convention, DEV_TASK_QUEUE)
    await link_minted(pool, convention.id, REVIEW)
    await eventually(
        lambda: owed_as_inbox_says(desk, "dmk", convention.id, REVIEW),
        lambda owed: owed is not None,
        what="the review's inbox row and its version's milestone",
    )
    return desk, calls, convention


async def test_the_task_page_and_the_forms_post_ask_the_workflow_nothing(
    dev_env: WorkflowEnvironment, db_pool: asyncpg.Pool
) -> None:
    desk, calls, convention = await review_in_inbox(dev_env, db_pool)
    action = f"/desk/tasks/{convention.id}/{REVIEW}"
    async with portal_client(desk) as http:
        page = await open_task_page(http, link_path(convention.id, REVIEWER["name"], REVIEW))
        again = await http.get(action)
        assert calls.queries == 0, "the link and the task page asked the workflow"
        form = {"csrf": csrf_of(page), "decision": "approve", "comments": "Lu, rien à redire"}
        answered = await http.post(action, data=form)
    assert again.status_code == 200 and "<form" in again.text
    # The text under review, from the read model's milestones, as the status said it.
    assert "Version 1" in page.text, page.text
    assert answered.status_code == 200 and 'id="receipt"' in answered.text, answered.text
    assert calls.queries == 0 and calls.updates == 1
    details = await eventually(
        lambda: db_pool.fetchval(ANSWERED, convention.id, REVIEW),
        lambda found: found is not None,
        what="the review's milestone",
    )
    # The version the page took from the read model is the one the workflow accepted.
    assert details["answer"]["version"] == 1
    await stop(dev_env.client, convention.id)


async def test_a_row_behind_the_workflow_ends_in_its_refusal_over_the_form(
    dev_env: WorkflowEnvironment, db_pool: asyncpg.Pool
) -> None:
    desk, calls, convention = await review_in_inbox(dev_env, db_pool)
    action = f"/desk/tasks/{convention.id}/{REVIEW}"
    async with portal_client(desk) as http:
        page = await open_task_page(http, link_path(convention.id, REVIEWER["name"], REVIEW))
        # Another reviewer's answer reaches the workflow (no receipt of the desk) ...
        task = await find_task(dev_env.client, convention.id, REVIEW)
        other = {"decision": "request_changes", "version": 1, "comments": "Article 2 à revoir"}
        await answer_task(
            dev_env.client, convention.id, build_answer(task, "dmk", other, actor="Leila Haddad")
        )
        await eventually(
            lambda: db_pool.fetchval(ANSWERED, convention.id, REVIEW),
            lambda found: found is not None,
        )
        await wait_idle(dev_env.client.get_workflow_handle(workflow_id_for(convention.id)))
        # ... and the read model is put behind it: the row open, the answer not recorded.
        await db_pool.execute(
            "DELETE FROM milestones WHERE convention_id = $1 AND task_id = $2"
            " AND kind = 'task_answered'",
            convention.id,
            REVIEW,
        )
        await db_pool.execute(
            "UPDATE tasks SET status = 'open' WHERE convention_id = $1 AND task_id = $2",
            convention.id,
            REVIEW,
        )
        assert await owed_as_inbox_says(desk, "dmk", convention.id, REVIEW) is not None
        form = {"csrf": csrf_of(page), "decision": "approve", "comments": "Tout est bon"}
        refused = await http.post(action, data=form)
    # The update went to the workflow, whose validator refused it, naming who answered; the
    # page shows the refusal over what the contact typed.
    assert refused.status_code == 409, refused.text
    assert "Leila Haddad" in refused.text and "Tout est bon" in refused.text
    assert calls.queries == 0 and calls.updates == 1
    await stop(dev_env.client, convention.id)


async def test_the_inbox_keeps_a_signatory_and_says_when_the_workflow_must_be_asked(
    dev_env: WorkflowEnvironment, db_pool: asyncpg.Pool
) -> None:
    desk = make_desk(dev_env.client, db_pool)
    convention_id = f"inbox-pages-{id(db_pool)}-{datetime.now(UTC).timestamp()}"
    now = datetime.now(UTC)

    def task(task_id: str, kind: TaskKind, **fields: object) -> Task:
        return Task.model_validate(
            {
                "id": task_id,
                "convention_id": convention_id,
                "stage": "signature",
                "kind": kind,
                "assignee": "dmk",
                "title": "Tâche",
                "assigned_at": now,
                "due_at": now + timedelta(days=7),
                **fields,
            }
        )

    signed = task("sign.dg", TaskKind.SIGN, signatory="dmk-dg")
    unnamed = task("sign.old", TaskKind.SIGN)
    review = task(
        "review.v2", TaskKind.REVIEW_DRAFT, facts=TaskFacts(kind=TaskKind.REVIEW_DRAFT, version=2)
    )
    await upsert_tasks(db_pool, [signed, unnamed, review])
    # A later upsert without the signatory (none of the workflow's does) keeps it.
    await upsert_tasks(db_pool, [signed.model_copy(update={"signatory": None})])
    held = await inbox_task(db_pool, convention_id, "sign.dg")
    assert held is not None and held.signatory == "dmk-dg"
    assert await owed_as_inbox_says(desk, "dmk", convention_id, "sign.dg") is not None
    # A signature row written before the inbox kept signatories, and a review whose version
    # the milestones do not hold yet: the workflow is asked, as before.
    assert await owed_as_inbox_says(desk, "dmk", convention_id, "sign.old") is None
    assert await owed_as_inbox_says(desk, "dmk", convention_id, "review.v2") is None
    await db_pool.execute("DELETE FROM tasks WHERE convention_id = $1", convention_id)


async def test_an_answer_to_a_workflow_no_worker_runs_is_a_503_after_its_deadline(
    dev_env: WorkflowEnvironment, db_pool: asyncpg.Pool
) -> None:
    # The form's post no longer asks the workflow first: the update's own deadline (the
    # portal's `answer_wait_seconds`) tells a workflow no worker runs, as the query did.
    lost_queue = f"lost-worker-{uuid.uuid4().hex[:8]}"
    convention = await registered(db_pool, drafting_and_signature(REVIEWER))
    calls = ClientCalls()
    desk = make_desk(
        counting_client(dev_env.client, calls),
        db_pool,
        settings=PortalSettings(answer_wait_seconds=2),
    )
    async with build_worker(dev_env.client, db_pool, lost_queue):
        await start_convention(dev_env.client, convention, lost_queue)
        await link_minted(db_pool, convention.id, REVIEW)
        await eventually(
            lambda: owed_as_inbox_says(desk, "dmk", convention.id, REVIEW),
            lambda owed: owed is not None,
        )
        await wait_idle(dev_env.client.get_workflow_handle(workflow_id_for(convention.id)))
    action = f"/desk/tasks/{convention.id}/{REVIEW}"
    async with portal_client(desk) as http:
        page = await open_task_page(http, link_path(convention.id, REVIEWER["name"], REVIEW))
        form = {"csrf": csrf_of(page), "decision": "approve", "comments": "Lu sans réserve"}
        began = time.monotonic()
        refused = await http.post(action, data=form)
        waited = time.monotonic() - began
    assert refused.status_code == 503, refused.text
    assert refused.headers["retry-after"] == "5"
    # In the contact's language (French), over the form that keeps what they typed.
    assert "pas pris votre réponse à temps" in refused.text, refused.text
    assert "Lu sans réserve" in refused.text
    assert waited < 20  # the deadline, not Temporal's half minute
    assert calls.queries == 0
    await dev_env.client.get_workflow_handle(workflow_id_for(convention.id)).terminate("test")


async def test_answers_to_one_convention_take_turns_and_a_turn_not_come_sends_nothing() -> None:
    gates = UpdateGates(limit=2)
    inside = 0
    most = 0
    release = asyncio.Event()

    async def answer(convention_id: str) -> None:
        nonlocal inside, most
        async with gates.turn(convention_id):
            inside += 1
            most = max(most, inside)
            await release.wait()
            inside -= 1

    waiting = [asyncio.create_task(answer("c-1")) for _ in range(5)]
    other = asyncio.create_task(answer("c-2"))
    await asyncio.sleep(0.05)
    assert inside == 3  # two of c-1's, and c-2's own turn: conventions do not wait on others
    with pytest.raises(TimeoutError):
        async with gates.turn("c-1", wait=0.05):
            raise AssertionError("no turn was free")
    release.set()
    await asyncio.gather(*waiting, other)
    assert most == 3 and len(gates) == 0
