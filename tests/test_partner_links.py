"""Contacts answer through their e-mailed link: sessions, CSRF, codes, receipts, refusals.

Real dev server, worker and PostgreSQL; codes go through the real SMTP test server; the
link tokens are the ones the worker's notify_party minted (derived from the shared secret).
"""

from __future__ import annotations

import asyncio
import re
import uuid
from datetime import timedelta
from functools import partial
from typing import Any

import asyncpg
import httpx
import pytest
from temporalio.testing import WorkflowEnvironment

from application.conventions import (
    convention_status,
    find_task,
    postpone_deadline,
    reassign_task,
)
from devkit.polling import eventually
from schemas.officer_actions import PostponeDeadline, ReassignTask
from schemas.tasks import TaskStatus
from storage.inbox import inbox_task
from tests.conftest import SmtpServer
from tests.partner_stack import (
    COLLEAGUE,
    DECISION,
    FUNDER,
    bearer,
    funding_convention,
    link_path,
    make_desk,
    portal_client,
)
from tests.test_delivery_webhook import fast_delivery, stop
from tests.test_partner_api import answers_in_history
from worker import build_worker

CSRF = re.compile(r'name="csrf" value="([^"]+)"')
CODE_ID = re.compile(r'action="/desk/codes/([^"]+)"')
APPROVE_FORM = {"decision": "approve", "granted.amount": "36000000", "granted.currency": "IsDB-ID"}


async def link_minted(pool: asyncpg.Pool, convention_id: str, contact: str) -> None:
    """Wait for notify_party to have stored the contact's link."""
    await eventually(
        lambda: pool.fetchval(
            "SELECT count(*) FROM partner_links WHERE convention_id = $1 AND contact_name = $2",
            convention_id,
            contact,
        ),
        lambda count: bool(count),
    )


async def open_task_page(http: httpx.AsyncClient, path: str) -> httpx.Response:
    """Open the link as a browser does: the redirect, then the task's page."""
    opened = await http.get(path)
    assert opened.status_code == 303, opened.text
    page = await http.get(opened.headers["location"])
    assert page.status_code == 200, page.text
    return page


def csrf_of(page: httpx.Response) -> str:
    match = CSRF.search(page.text)
    assert match, "no CSRF token in the page"
    return match.group(1)


async def still_open(env: WorkflowEnvironment, convention_id: str) -> bool:
    status = await convention_status(env.client, convention_id)
    return DECISION in {t.id for t in status.open_tasks}


async def test_a_scanner_opening_the_link_answers_nothing_and_the_page_is_arabic_rtl(
    dev_env: WorkflowEnvironment, db_pool: asyncpg.Pool
) -> None:
    desk = make_desk(dev_env.client, db_pool)
    convention = await funding_convention(dev_env.client, db_pool)
    await link_minted(db_pool, convention.id, FUNDER["name"])
    async with portal_client(desk) as http:
        opened = await http.get(link_path(convention.id, FUNDER["name"]))
        assert opened.status_code == 303
        cookie = opened.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=lax" in cookie
        page = await http.get(opened.headers["location"])
    assert page.status_code == 200
    assert '<html lang="ar" dir="rtl">' in page.text
    assert "قراركم" in page.text  # "Your decision", from the Arabic catalogue
    csp = page.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in csp and "script-src" not in csp
    assert "<script" not in page.text
    assert page.headers["referrer-policy"] == "no-referrer"
    # The server's own time, for developer tools and benchmarks/partner_desk.py.
    assert re.fullmatch(r"app;dur=\d+\.\d", page.headers["server-timing"])
    assert await still_open(dev_env, convention.id)
    await stop(dev_env.client, convention.id)


async def test_wrong_expired_and_reassigned_links_open_nothing(
    dev_env: WorkflowEnvironment, db_pool: asyncpg.Pool
) -> None:
    desk = make_desk(dev_env.client, db_pool)
    convention = await funding_convention(dev_env.client, db_pool, [FUNDER, COLLEAGUE])
    await link_minted(db_pool, convention.id, COLLEAGUE["name"])
    async with portal_client(desk) as http:
        wrong = await http.get("/t/" + "A" * 43)
        assert wrong.status_code == 404
        # The colleague opens a session before the task is given to the funder alone.
        colleague_page = await open_task_page(http, link_path(convention.id, COLLEAGUE["name"]))
        assert colleague_page.status_code == 200
        await reassign_task(
            dev_env.client,
            convention.id,
            ReassignTask(task_id=DECISION, contact=FUNDER["name"], reason="the funder decides"),
        )
        await eventually(
            lambda: db_pool.fetchval(
                "SELECT revoked_at FROM partner_links WHERE convention_id = $1"
                " AND contact_name = $2",
                convention.id,
                COLLEAGUE["name"],
            ),
            lambda revoked: revoked is not None,
        )
        reassigned = await http.get(link_path(convention.id, COLLEAGUE["name"]))
        assert reassigned.status_code == 410
        # The colleague's session no longer shows the task either: not theirs any more.
        hidden = await http.get(f"/desk/tasks/{convention.id}/{DECISION}")
        assert hidden.status_code == 404
        listed = await http.get("/desk")
        assert f"/desk/tasks/{convention.id}/{DECISION}" not in listed.text
    async with portal_client(desk) as http:
        await db_pool.execute(
            "UPDATE partner_links SET expires_at = now() - interval '1 day'"
            " WHERE convention_id = $1 AND contact_name = $2",
            convention.id,
            FUNDER["name"],
        )
        expired = await http.get(link_path(convention.id, FUNDER["name"]))
        assert expired.status_code == 410
    assert await still_open(dev_env, convention.id)
    await stop(dev_env.client, convention.id)


async def test_a_convention_whose_worker_is_down_is_still_listed_and_its_link_opens(
    dev_env: WorkflowEnvironment, db_pool: asyncpg.Pool
) -> None:
    # Two conventions of the same party whose only worker stops once their tasks are in the
    # inbox: Temporal then holds a query to each for about half a minute, waiting for a
    # worker. The list used to ask them one after the other, for a minute.
    lost_queue = f"lost-worker-{uuid.uuid4().hex[:8]}"
    async with build_worker(dev_env.client, db_pool, lost_queue):
        lost = [
            await funding_convention(dev_env.client, db_pool, [FUNDER], task_queue=lost_queue)
            for _ in range(2)
        ]
        for convention in lost:
            await eventually(
                partial(inbox_task, db_pool, convention.id, DECISION),
                lambda task: task is not None and task.status is TaskStatus.OPEN,
            )
    desk = make_desk(dev_env.client, db_pool)
    convention = await funding_convention(dev_env.client, db_pool, [FUNDER])
    await link_minted(db_pool, convention.id, FUNDER["name"])
    async with portal_client(desk) as http:
        await open_task_page(http, link_path(convention.id, FUNDER["name"]))
        # The list reads the inbox alone (its rows carry the contact a task is given to):
        # no convention is asked, so none holds the page (bounded here so that a list that
        # asks the workflows fails, not hangs: Temporal holds each query about 30 s).
        listed = await asyncio.wait_for(http.get("/desk"), timeout=10)
    assert listed.status_code == 200
    assert f"/desk/tasks/{convention.id}/{DECISION}" in listed.text
    # A lost convention's task is listed all the same: what it owes is in PostgreSQL.
    for gone in lost:
        assert f"/desk/tasks/{gone.id}/{DECISION}" in listed.text
    # Its own link opens its task too: the page reads it from the inbox, and asks the
    # workflow nothing (tests/test_inbox_pages.py: its answer, once the update has waited
    # its deadline for a worker, is a 503 to come back later).
    async with portal_client(desk) as http:
        page = await asyncio.wait_for(
            open_task_page(http, link_path(lost[0].id, FUNDER["name"])), timeout=10
        )
    assert f'action="/desk/tasks/{lost[0].id}/{DECISION}"' in page.text
    for gone in lost:
        await stop(dev_env.client, gone.id)
    await stop(dev_env.client, convention.id)


async def test_a_post_without_the_csrf_token_is_refused_and_answers_nothing(
    dev_env: WorkflowEnvironment, db_pool: asyncpg.Pool
) -> None:
    desk = make_desk(dev_env.client, db_pool)
    convention = await funding_convention(dev_env.client, db_pool)
    await link_minted(db_pool, convention.id, FUNDER["name"])
    form = {"decision": "reject", "comments": "no"}
    async with portal_client(desk) as http:
        await open_task_page(http, link_path(convention.id, FUNDER["name"]))
        action = f"/desk/tasks/{convention.id}/{DECISION}"
        without = await http.post(action, data=form)
        forged = await http.post(action, data={**form, "csrf": "forged.token.value"})
    assert without.status_code == 403 and forged.status_code == 403
    async with portal_client(desk) as stranger:
        # No session at all: the form is not even read.
        anonymous = await stranger.post(action, data=form)
    assert anonymous.status_code == 401
    assert await still_open(dev_env, convention.id)
    await stop(dev_env.client, convention.id)


async def test_field_errors_stand_beside_their_field_in_french_and_keep_what_was_typed(
    dev_env: WorkflowEnvironment, db_pool: asyncpg.Pool
) -> None:
    desk = make_desk(dev_env.client, db_pool)
    convention = await funding_convention(dev_env.client, db_pool, [COLLEAGUE])
    await link_minted(db_pool, convention.id, COLLEAGUE["name"])
    async with portal_client(desk) as http:
        page = await open_task_page(http, link_path(convention.id, COLLEAGUE["name"]))
        assert '<html lang="fr" dir="ltr">' in page.text
        answered = await http.post(
            f"/desk/tasks/{convention.id}/{DECISION}",
            data={"csrf": csrf_of(page), "decision": "approve", "comments": "Très bien « vu »"},
        )
    assert answered.status_code == 422
    granted = answered.text.split('id="field-granted"')[1].split("</fieldset>")[0]
    assert "obligatoire pour approuver" in granted
    assert "Très bien « vu »" in answered.text  # kept, and escaped as text
    assert await still_open(dev_env, convention.id)
    await stop(dev_env.client, convention.id)


def code_in(smtp: SmtpServer, address: str, already: int) -> str:
    mails = smtp.catcher.to(address)
    assert len(mails) > already, "no code mail"
    body = mails[-1].message.get_body(preferencelist=("plain",))
    assert body is not None
    match = re.search(r"\b(\d{6})\b", body.get_content())
    assert match
    return match.group(1)


async def test_a_funding_decision_waits_for_the_mailed_code_and_six_tries_lock_it(
    dev_env: WorkflowEnvironment, db_pool: asyncpg.Pool, smtp_server: SmtpServer
) -> None:
    delivery = fast_delivery(smtp_host=smtp_server.host, smtp_port=smtp_server.port)
    desk = make_desk(dev_env.client, db_pool, delivery)
    convention = await funding_convention(dev_env.client, db_pool)
    await link_minted(db_pool, convention.id, FUNDER["name"])
    address = FUNDER["email"]
    action = f"/desk/tasks/{convention.id}/{DECISION}"
    async with portal_client(desk) as http:
        page = await open_task_page(http, link_path(convention.id, FUNDER["name"]))
        sent_before = len(smtp_server.catcher.to(address))
        asked = await http.post(action, data={"csrf": csrf_of(page), **APPROVE_FORM})
        assert asked.status_code == 200 and 'autocomplete="one-time-code"' in asked.text
        code = code_in(smtp_server, address, sent_before)
        wrong = f"{(int(code) + 1) % 1_000_000:06d}"
        code_action = f"/desk/codes/{CODE_ID.search(asked.text).group(1)}"  # type: ignore[union-attr]
        fields: dict[str, Any] = {
            "csrf": csrf_of(asked),
            "convention_id": convention.id,
            "task_id": DECISION,
        }
        tries = [
            (await http.post(code_action, data={**fields, "code": wrong})).status_code
            for _ in range(5)
        ]
        locked = await http.post(code_action, data={**fields, "code": code})
        assert tries == [422] * 5 and locked.status_code == 429
        assert await still_open(dev_env, convention.id)
        # A fresh answer gets a fresh code; the right one sends it, proven by link and code.
        sent_before = len(smtp_server.catcher.to(address))
        asked = await http.post(action, data={"csrf": csrf_of(page), **APPROVE_FORM})
        code = code_in(smtp_server, address, sent_before)
        code_action = f"/desk/codes/{CODE_ID.search(asked.text).group(1)}"  # type: ignore[union-attr]
        done = await http.post(code_action, data={**fields, "code": code})
        assert done.status_code == 200, done.text
        assert 'id="receipt"' in done.text
    assert not await still_open(dev_env, convention.id)
    receipt = await desk.receipt(convention.id, DECISION)
    assert receipt is not None and receipt.principal.method.value == "link_and_code"
    assert receipt.principal.name == FUNDER["name"]
    [sent] = await answers_in_history(dev_env, convention.id)
    assert sent.principal is not None and sent.principal.method.value == "link_and_code"
    assert sent.principal.kind.value == "contact" and sent.principal.id == FUNDER["name"]
    # The code is stored only as a keyed hash.
    rows = await db_pool.fetch("SELECT * FROM partner_codes WHERE task_id = $1", DECISION)
    assert code not in repr([dict(r) for r in rows])


async def test_the_link_reused_after_answering_shows_the_receipt_and_opens_no_session(
    dev_env: WorkflowEnvironment, db_pool: asyncpg.Pool, smtp_server: SmtpServer
) -> None:
    delivery = fast_delivery(smtp_host=smtp_server.host, smtp_port=smtp_server.port)
    desk = make_desk(dev_env.client, db_pool, delivery)
    convention = await funding_convention(dev_env.client, db_pool)
    await link_minted(db_pool, convention.id, FUNDER["name"])
    path = link_path(convention.id, FUNDER["name"])
    async with portal_client(desk) as http:
        page = await open_task_page(http, path)
        sent_before = len(smtp_server.catcher.to(FUNDER["email"]))
        asked = await http.post(
            f"/desk/tasks/{convention.id}/{DECISION}",
            data={"csrf": csrf_of(page), "decision": "reject", "comments": "hors champ"},
        )
        code = code_in(smtp_server, FUNDER["email"], sent_before)
        code_id = CODE_ID.search(asked.text).group(1)  # type: ignore[union-attr]
        done = await http.post(
            f"/desk/codes/{code_id}",
            data={
                "csrf": csrf_of(asked),
                "code": code,
                "convention_id": convention.id,
                "task_id": DECISION,
            },
        )
        assert done.status_code == 200
    async with portal_client(desk) as again:
        reused = await again.get(path)
    assert reused.status_code == 200 and 'id="receipt"' in reused.text
    assert "set-cookie" not in reused.headers
    assert FUNDER["name"] in reused.text


async def test_a_colleague_answering_meanwhile_is_shown_over_the_form_with_the_input_kept(
    dev_env: WorkflowEnvironment, db_pool: asyncpg.Pool
) -> None:
    desk = make_desk(dev_env.client, db_pool)
    convention = await funding_convention(dev_env.client, db_pool, [COLLEAGUE])
    await link_minted(db_pool, convention.id, COLLEAGUE["name"])
    key, _ = await desk.create_key("bid", "Jeddah grants system")
    async with portal_client(desk) as http:
        page = await open_task_page(http, link_path(convention.id, COLLEAGUE["name"]))
        by_api = await http.post(
            f"/api/v1/tasks/{convention.id}/{DECISION}/answer",
            json={"answer": {"decision": "reject", "comments": "decided in Jeddah"}},
            headers=bearer(key),
        )
        assert by_api.status_code == 200
        late = await http.post(
            f"/desk/tasks/{convention.id}/{DECISION}",
            data={"csrf": csrf_of(page), "decision": "reject", "comments": "mon texte à moi"},
        )
    assert late.status_code == 409
    assert "Jeddah grants system" in late.text
    assert "mon texte à moi" in late.text


async def test_the_contact_switches_language_and_an_idle_session_ends(
    dev_env: WorkflowEnvironment, db_pool: asyncpg.Pool
) -> None:
    desk = make_desk(dev_env.client, db_pool)
    convention = await funding_convention(dev_env.client, db_pool)
    await link_minted(db_pool, convention.id, FUNDER["name"])
    task_page = f"/desk/tasks/{convention.id}/{DECISION}"
    async with portal_client(desk) as http:
        page = await open_task_page(http, link_path(convention.id, FUNDER["name"]))
        assert 'dir="rtl"' in page.text
        switched = await http.post(
            "/desk/language", data={"csrf": csrf_of(page), "language": "fr", "next": task_page}
        )
        assert switched.status_code == 303 and switched.headers["location"] == task_page
        french = await http.get(task_page)
        assert '<html lang="fr" dir="ltr">' in french.text and "Votre décision" in french.text
        # The funder's name, as written in the file, whatever the page's language.
        assert FUNDER["name"] in french.text
        await db_pool.execute(
            "UPDATE partner_sessions SET last_seen_at = now() - interval '31 minutes'"
            " WHERE contact_name = $1",
            FUNDER["name"],
        )
        idle = await http.get(task_page)
    assert idle.status_code == 401
    await stop(dev_env.client, convention.id)


async def test_no_log_line_shows_a_link_token_or_a_session_cookie(
    dev_env: WorkflowEnvironment, db_pool: asyncpg.Pool, capsys: pytest.CaptureFixture[str]
) -> None:
    desk = make_desk(dev_env.client, db_pool)
    convention = await funding_convention(dev_env.client, db_pool)
    await link_minted(db_pool, convention.id, FUNDER["name"])
    path = link_path(convention.id, FUNDER["name"])
    async with portal_client(desk) as http:
        opened = await http.get(path)
        cookie = http.cookies.get("pacte_session")
        await http.get(opened.headers["location"])
        await http.get(path + "x")  # a wrong token is not logged either
    logged = capsys.readouterr()
    assert cookie
    assert "/t/[token]" in logged.out + logged.err  # the requests were logged…
    for secret in (path.removeprefix("/t/"), cookie):
        assert secret not in logged.out and secret not in logged.err  # …without their secrets
    await stop(dev_env.client, convention.id)


async def test_a_session_gets_five_codes_per_window_not_an_endless_supply(
    dev_env: WorkflowEnvironment, db_pool: asyncpg.Pool, smtp_server: SmtpServer
) -> None:
    delivery = fast_delivery(smtp_host=smtp_server.host, smtp_port=smtp_server.port)
    desk = make_desk(dev_env.client, db_pool, delivery)
    convention = await funding_convention(dev_env.client, db_pool)
    await link_minted(db_pool, convention.id, FUNDER["name"])
    async with portal_client(desk) as http:
        page = await open_task_page(http, link_path(convention.id, FUNDER["name"]))
        asked = [
            await http.post(
                f"/desk/tasks/{convention.id}/{DECISION}",
                data={"csrf": csrf_of(page), **APPROVE_FORM},
            )
            for _ in range(6)
        ]
    assert [a.status_code for a in asked] == [200] * 5 + [429]
    assert int(asked[-1].headers["retry-after"]) > 0
    assert await still_open(dev_env, convention.id)
    await stop(dev_env.client, convention.id)


async def test_a_postponed_task_s_earlier_link_expires_with_the_new_due_date(
    dev_env: WorkflowEnvironment, db_pool: asyncpg.Pool
) -> None:
    desk = make_desk(dev_env.client, db_pool)
    convention = await funding_convention(dev_env.client, db_pool)
    await link_minted(db_pool, convention.id, FUNDER["name"])
    first_link = (
        "SELECT expires_at FROM partner_links WHERE notification_id = $1 AND contact_name = $2"
    )
    first_notification = f"{convention.id}/{DECISION}/task.assigned"
    before = await db_pool.fetchval(first_link, first_notification, FUNDER["name"])
    task = await find_task(dev_env.client, convention.id, DECISION)
    assert before == task.due_at + timedelta(days=30)
    new_due = task.due_at + timedelta(days=60)

    await postpone_deadline(
        dev_env.client,
        convention.id,
        PostponeDeadline(task_id=DECISION, new_due_at=new_due, reason="the board meets later"),
    )

    await eventually(
        lambda: db_pool.fetchval(first_link, first_notification, FUNDER["name"]),
        lambda expires: expires == new_due + timedelta(days=30),
    )
    async with portal_client(desk) as http:
        opened = await http.get(link_path(convention.id, FUNDER["name"]))
        assert opened.status_code == 303
    await stop(dev_env.client, convention.id)
