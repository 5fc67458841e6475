"""The same answer form posted twice (a double click, or a browser retrying on another portal
replica after the first one died with the answer sent; issue 27, item 4): the answer is
recorded once, and the second post shows the contact their receipt, not a refusal naming
themselves. A colleague's answer still comes back as the refusal over the form."""

from __future__ import annotations

import asyncpg
from temporalio.testing import WorkflowEnvironment

from application.conventions import find_task, start_convention
from devkit.polling import eventually
from tests.conftest import DEV_TASK_QUEUE
from tests.partner_stack import link_path, make_desk, portal_client, registered
from tests.test_delivery_webhook import stop
from tests.test_documents_desk import REVIEWER, drafting_and_signature, link_minted
from tests.test_partner_links import csrf_of, open_task_page

REVIEW = "drafting.review.v1.dmk"


async def test_a_form_posted_again_after_its_answer_landed_shows_the_receipt_once(
    dev_env: WorkflowEnvironment, db_pool: asyncpg.Pool
) -> None:
    desk = make_desk(dev_env.client, db_pool)
    convention = await registered(db_pool, drafting_and_signature(REVIEWER))
    await start_convention(dev_env.client, convention, DEV_TASK_QUEUE)
    await find_task(dev_env.client, convention.id, REVIEW, wait_seconds=30)
    await link_minted(db_pool, convention.id, REVIEW)
    action = f"/desk/tasks/{convention.id}/{REVIEW}"
    async with portal_client(desk) as http:
        page = await open_task_page(http, link_path(convention.id, REVIEWER["name"], REVIEW))
        form = {"csrf": csrf_of(page), "decision": "approve", "comments": "Lu et approuvé"}
        first = await http.post(action, data=form)
        again = await http.post(action, data=form)
    assert first.status_code == 200 and 'id="receipt"' in first.text, first.text
    assert again.status_code == 200 and 'id="receipt"' in again.text, again.text
    answered = await eventually(
        lambda: db_pool.fetchval(
            "SELECT count(*) FROM milestones WHERE convention_id = $1 AND task_id = $2"
            " AND kind = 'task_answered'",
            convention.id,
            REVIEW,
        ),
        lambda count: count >= 1,
        what="the review's milestone",
    )
    assert answered == 1
    await stop(dev_env.client, convention.id)
