"""Nothing typed is lost when the session times out: a form of the office desk posted after
the officer's session expired sends them to sign in; signed in again, they are back on the
page with what they typed — the editor's draft saved with it, the convention page's answer
form and a task's own form filled again. The fields are held sealed and bound to the account
(another account's sign-in with the same token gets nothing); an answer the workflow refuses
on the convention page's small form is shown back with what was typed.

httpx over the ASGI app against the real dev server, worker and PostgreSQL.
"""

from __future__ import annotations

import copy
from urllib.parse import parse_qs, quote, unquote, urlsplit

import asyncpg
import httpx
import pytest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from application.conventions import convention_status, start_convention
from application.partner import PartnerDesk
from schemas.convention import Convention
from tests.conftest import DEV_TASK_QUEUE, example
from tests.partner_stack import make_desk
from tests.test_office_desk import PASSWORD, csrf_of, enrol, new_account, office_client
from tests.test_office_editor import form_values, stored
from workflows.convention import workflow_id_for

BROWSER = {"accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}
TYPED_TITLE = "Formation des formateurs — saisi juste avant l’expiration"


async def expire(pool: asyncpg.Pool, email: str) -> None:
    """The officer's session times out (as an idle one does) while they type."""
    await pool.execute(
        "UPDATE office_sessions SET expires_at = now() - interval '1 minute' WHERE email = $1",
        email,
    )


async def sign_in_again(http: httpx.AsyncClient, email: str, code: str, to: str) -> str:
    """Password and a recovery code on the sign-in page that `to` (its `Location`) names;
    the page the desk sends the officer back to."""
    form = await http.get(to)
    next_url = parse_qs(urlsplit(to).query)["next"][0]
    signed = await http.post(
        "/office/signin",
        data={"email": email, "password": PASSWORD, "csrf": csrf_of(form), "next": next_url},
    )
    assert signed.headers["location"] == "/office/second-factor?next=" + quote(next_url, safe="/")
    second = await http.get(signed.headers["location"])
    back = await http.post(
        "/office/second-factor", data={"csrf": csrf_of(second), "code": code, "next": next_url}
    )
    assert back.status_code == 303, back.text
    assert back.headers["location"] == next_url
    return next_url


def held_token(location: str) -> str:
    next_url = unquote(parse_qs(urlsplit(location).query)["next"][0])
    return parse_qs(urlsplit(next_url).query)["held"][0]


async def test_an_editor_form_sent_after_the_session_timed_out_is_saved_after_sign_in(
    dev_env: WorkflowEnvironment, db_pool: asyncpg.Pool
) -> None:
    desk = make_desk(dev_env.client, db_pool)
    async with office_client(desk) as http, office_client(desk) as other:
        email = await new_account(db_pool, "officer")
        _secret, codes = await enrol(http, email)
        other_email = await new_account(db_pool, "officer")
        _other_secret, other_codes = await enrol(other, other_email)
        drafts = await http.get("/office/editor")
        created = await http.post(
            "/office/editor", data={"csrf": csrf_of(drafts), "action": "blank"}
        )
        draft_path = created.headers["location"]
        draft_id = draft_path.rsplit("/", 1)[1]
        page = await http.get(draft_path)
        # Shared: the other officer may open the draft, yet not what this one typed.
        await http.post(f"{draft_path}/share", data={"csrf": csrf_of(page), "email": other_email})
        page = await http.get(draft_path)
        typed = form_values(page, draft_id) | {"title": TYPED_TITLE, "action": "save"}
        _, version = await stored(db_pool, draft_id)

        await expire(db_pool, email)
        sent = await http.post(draft_path, data=typed, headers=BROWSER)

        assert sent.status_code == 303, sent.text
        location = sent.headers["location"]
        assert location.startswith("/office/signin?next=" + quote(draft_path + "?held=", safe="/"))
        assert "Formation" not in location  # the token names the fields, never carries them
        token = held_token(location)
        [held] = await db_pool.fetch("SELECT * FROM office_held_forms WHERE email = $1", email)
        assert TYPED_TITLE.encode() not in bytes(held["sealed"])  # sealed at rest
        assert (await stored(db_pool, draft_id))[1] == version  # nothing written signed out

        # Another officer's session with the token: the draft as it was, the form still held.
        theirs = await other.get(f"{draft_path}?held={token}")
        assert theirs.status_code == 200 and TYPED_TITLE not in theirs.text
        assert await db_pool.fetchval(
            "SELECT count(*) FROM office_held_forms WHERE email = $1", email
        )
        assert other_codes  # (their own sign-in is the one enrol made)

        back = await sign_in_again(http, email, codes[0], location)
        shown = await http.get(back)

        assert shown.status_code == 200, shown.text
        assert TYPED_TITLE in shown.text
        assert "Votre session avait pris fin pendant la saisie" in shown.text
        document, saved_version = await stored(db_pool, draft_id)
        assert document["title"] == TYPED_TITLE and saved_version == version + 1
        # Given back once: the same link again shows the draft, nothing saved twice.
        again = await http.get(back)
        assert again.status_code == 200 and "pendant la saisie" not in again.text
        assert (await stored(db_pool, draft_id))[1] == version + 1


async def test_a_form_sent_signed_out_or_from_another_page_holds_nothing(
    dev_env: WorkflowEnvironment, db_pool: asyncpg.Pool
) -> None:
    desk = make_desk(dev_env.client, db_pool)
    async with office_client(desk) as http:
        email = await new_account(db_pool, "officer")
        await enrol(http, email)
        drafts = await http.get("/office/editor")
        created = await http.post(
            "/office/editor", data={"csrf": csrf_of(drafts), "action": "blank"}
        )
        draft_path = created.headers["location"]
        page = await http.get(draft_path)
        await http.post("/office/signout", data={"csrf": csrf_of(page)})
        # Signed out on purpose: sent to sign in, nothing held.
        sent = await http.post(
            draft_path, data={"csrf": csrf_of(page), "title": "x"}, headers=BROWSER
        )
        assert sent.headers["location"] == "/office/signin?next=" + quote(draft_path, safe="/")
    async with office_client(desk) as http:
        email = await new_account(db_pool, "officer")
        await enrol(http, email)
        await expire(db_pool, email)
        # A form whose token is not this session's (a page elsewhere): nothing held.
        sent = await http.post(draft_path, data={"csrf": "forged", "title": "x"}, headers=BROWSER)
        assert sent.status_code == 303 and "held" not in sent.headers["location"]
        # A program (no page wanted) keeps its 401.
        assert (await http.post(draft_path, data={"title": "x"})).status_code == 401
    assert not await db_pool.fetchval(
        "SELECT count(*) FROM office_held_forms WHERE email = $1", email
    )


async def _mission_task(client: Client) -> tuple[str, str]:
    data = example("mre-academy").model_dump(mode="json", exclude_none=True)
    data["stages"] = [copy.deepcopy(s) for s in data["stages"] if s["stage"] == "mission"]
    data["id"] = f"{data['id']}-held"
    convention = Convention.model_validate(data)
    await start_convention(client, convention, DEV_TASK_QUEUE)
    for _ in range(100):
        status = await convention_status(client, convention.id)
        if status.open_tasks:
            return convention.id, status.open_tasks[0].id
    pytest.fail("the mission opened no task")


async def test_the_answer_forms_keep_what_was_typed_on_a_refusal_and_across_a_timed_out_session(
    dev_env: WorkflowEnvironment, client: Client, db_pool: asyncpg.Pool
) -> None:
    desk: PartnerDesk = make_desk(dev_env.client, db_pool)
    convention_id, task_id = await _mission_task(client)
    page_path = f"/office/conventions/{convention_id}"
    try:
        async with office_client(desk) as http, office_client(desk) as other:
            email = await new_account(db_pool, "officer")
            _secret, codes = await enrol(http, email)
            await enrol(other, await new_account(db_pool, "officer"))
            page = await http.get(page_path)
            # One agenda item said held, the other forgotten: the workflow refuses the answer,
            # and the convention page's small form shows what was typed (issue 26).
            answer = {
                "csrf": csrf_of(page),
                "task_id": task_id,
                "comments": "Bien reçus à Kénitra.",
                "answer": "agenda:\n  visit-sale: held\n",
            }
            refused = await http.post(f"{page_path}/answer", data=answer)
            assert refused.status_code in (409, 422), refused.text
            assert 'value="Bien reçus à Kénitra."' in refused.text
            assert "visit-sale: held" in refused.text
            assert f'<option value="{task_id}" selected>' in refused.text

            # The session times out; the answer is sent: held, then given back after sign-in.
            await expire(db_pool, email)
            sent = await http.post(f"{page_path}/answer", data=answer, headers=BROWSER)
            assert sent.status_code == 303, sent.text
            token = held_token(sent.headers["location"])
            stranger = await other.get(f"{page_path}?held={token}")
            assert stranger.status_code == 200 and "Kénitra." not in stranger.text
            back = await sign_in_again(http, email, codes[0], sent.headers["location"])
            # The token on another page (the task's form) gives nothing, and keeps the form.
            elsewhere = await http.get(f"{page_path}/tasks/{task_id}?held={token}")
            assert elsewhere.status_code == 200 and "Kénitra." not in elsewhere.text
            shown = await http.get(back)
            assert 'value="Bien reçus à Kénitra."' in shown.text
            assert "visit-sale: held" in shown.text
            assert "Votre session avait pris fin" in shown.text

            # The task's own form (multipart, as the drafting task's is): the same.
            form_path = f"{page_path}/tasks/{task_id}"
            form = await http.get(form_path)
            await expire(db_pool, email)
            sent = await http.post(
                form_path,
                data={"csrf": csrf_of(form), "agenda.visit-sale": "held", "comments": "Vu."},
                files={"document": ("v2.txt", b"texte", "text/plain")},
                headers=BROWSER,
            )
            assert sent.status_code == 303, sent.text
            assert sent.headers["location"].startswith(
                "/office/signin?next=" + quote(form_path + "?held=", safe="/")
            )
            back = await sign_in_again(http, email, codes[1], sent.headers["location"])
            shown = await http.get(back)
            assert 'value="held" checked' in shown.text and "Vu." in shown.text
            assert "choisissez-le à nouveau" in shown.text  # the file is not held
    finally:
        await client.get_workflow_handle(workflow_id_for(convention_id)).terminate(reason="test")
