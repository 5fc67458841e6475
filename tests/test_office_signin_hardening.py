"""The office's sign-in against login CSRF and against a stalled event loop (issue 28,
item 4): a page elsewhere cannot sign a browser in (or out), and a password check runs in a
worker thread while the loop keeps serving."""

from __future__ import annotations

import asyncio

import asyncpg
import httpx
from temporalio.testing import WorkflowEnvironment

from application.office.accounts import hash_password, password_matches
from tests.partner_stack import make_desk
from tests.test_office_desk import (
    PASSWORD,
    csrf_of,
    new_account,
    office_client,
    sign_in,
    signed_in,
)
from web.office import SIGNIN_COOKIE


async def _sessions(pool: asyncpg.Pool, email: str) -> int:
    count = await pool.fetchval("SELECT count(*) FROM office_sessions WHERE email = $1", email)
    return int(count)


async def _form(http: httpx.AsyncClient) -> str:
    page = await http.get("/office/signin")
    assert page.status_code == 200, page.text
    assert http.cookies.get(SIGNIN_COOKIE)
    return csrf_of(page)


async def test_a_sign_in_posted_from_another_site_is_refused_and_opens_no_session(
    dev_env: WorkflowEnvironment, db_pool: asyncpg.Pool
) -> None:
    desk = make_desk(dev_env.client, db_pool)
    email = await new_account(db_pool, "auditor")
    credentials = {"email": email, "password": PASSWORD}
    async with office_client(desk) as http:
        token = await _form(http)
        # The attacker's page, in the victim's browser: the browser says where it comes from.
        for headers in (
            {"origin": "https://attacker.example"},
            {"origin": "null"},
            {"origin": "http://portal.test.attacker.example"},
            {"origin": "http://portal.test:8080"},  # another port: another origin
            {"origin": "http://127.0.0.1:8300.attacker.example"},
            {"origin": "https://127.0.0.1:8300"},  # the public URL's host, another scheme
            {"sec-fetch-site": "cross-site"},
            {"sec-fetch-site": "same-site"},
            {"origin": "null", "sec-fetch-site": "cross-site"},
        ):
            refused = await http.post(
                "/office/signin", data={**credentials, "csrf": token}, headers=headers
            )
            assert refused.status_code == 403, f"{headers}: {refused.status_code}"
            assert SIGNIN_COOKIE in http.cookies  # nothing was set, nothing was consumed
        assert await _sessions(db_pool, email) == 0
        # The same form from the desk's own page signs in.
        same_site = await http.post(
            "/office/signin",
            data={**credentials, "csrf": token},
            headers={"origin": "http://portal.test", "sec-fetch-site": "same-origin"},
        )
        assert same_site.status_code == 303, same_site.text
        assert await _sessions(db_pool, email) == 1
    async with office_client(desk) as http:
        # Behind a proxy that rewrites Host, the browser's Origin is the public URL's.
        token = await _form(http)
        behind_proxy = await http.post(
            "/office/signin",
            data={**credentials, "csrf": token},
            headers={"origin": desk.settings.public_url},
        )
        assert behind_proxy.status_code == 303, behind_proxy.text
        assert await _sessions(db_pool, email) == 2
    async with office_client(desk) as http:
        # What Chromium sends with the desk's own form under `Referrer-Policy: no-referrer`.
        token = await _form(http)
        own_form = await http.post(
            "/office/signin",
            data={**credentials, "csrf": token},
            headers={"origin": "null", "sec-fetch-site": "same-origin"},
        )
        assert own_form.status_code == 303, own_form.text
        assert await _sessions(db_pool, email) == 3


async def test_a_sign_in_without_the_forms_token_is_refused(
    dev_env: WorkflowEnvironment, db_pool: asyncpg.Pool
) -> None:
    desk = make_desk(dev_env.client, db_pool)
    email = await new_account(db_pool, "auditor")
    credentials = {"email": email, "password": PASSWORD}
    async with office_client(desk) as victim, office_client(desk) as attacker:
        # A browser that never sent Origin (an old one, or a form a proxy rewrote) has only
        # the token to stop it: no token, a forged one, or the attacker's own one (from the
        # attacker's sign-in page, bound to the attacker's cookie) is refused.
        attackers_token = await _form(attacker)
        await _form(victim)
        for token in ("", "forged", attackers_token):
            refused = await victim.post("/office/signin", data={**credentials, "csrf": token})
            assert refused.status_code == 400, f"{token!r}: {refused.status_code}"
        # Without the sign-in page's cookie (a cross-site POST does not carry a Strict one).
        victim.cookies.delete(SIGNIN_COOKIE)
        assert (
            await victim.post("/office/signin", data={**credentials, "csrf": attackers_token})
        ).status_code == 400
        assert await _sessions(db_pool, email) == 0
        assert (await sign_in(victim, email)).status_code == 303


async def test_a_sign_out_posted_from_another_site_is_refused(
    dev_env: WorkflowEnvironment, db_pool: asyncpg.Pool
) -> None:
    desk = make_desk(dev_env.client, db_pool)
    async with office_client(desk) as http:
        await signed_in(http, db_pool, "auditor")
        page = await http.get("/office")
        assert page.status_code == 200
        refused = await http.post(
            "/office/signout",
            data={"csrf": csrf_of(page)},
            headers={"origin": "https://attacker.example"},
        )
        assert refused.status_code == 403
        assert (await http.get("/office")).status_code == 200  # still signed in
        assert (await http.post("/office/signout", data={})).status_code == 400
        assert (await http.get("/office")).status_code == 200
        out = await http.post("/office/signout", data={"csrf": csrf_of(page)})
        assert out.status_code == 303
        assert (await http.get("/office")).status_code == 401


async def test_a_password_check_runs_off_the_event_loop() -> None:
    stored = await hash_password(PASSWORD)
    order: list[str] = []

    async def check(password: str) -> bool:
        matches = await password_matches(stored, password)
        order.append("checked")
        return matches

    async def trivial() -> None:
        order.append("served")

    checking = asyncio.create_task(check(PASSWORD))
    await asyncio.sleep(0)  # the check has begun: argon2 is hashing
    served = asyncio.create_task(trivial())
    assert await checking
    await served
    # Had argon2 run in the coroutine, the check would have ended before anything else ran.
    assert order == ["served", "checked"]

    order.clear()
    checking = asyncio.create_task(check("a wrong password"))
    await asyncio.sleep(0)
    served = asyncio.create_task(trivial())
    assert not await checking
    await served
    assert order == ["served", "checked"]
    # No account: a dummy hash is checked, off the loop too.
    assert not await password_matches(None, PASSWORD)
