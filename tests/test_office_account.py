"""Office accounts after their first password (issue 28, item 4): one's own password changed
on the desk (the current one required, argon2id, the session rotated, the account's other
sessions ended), and an admin's reset link mailed to the account (single use, expiring,
stored hashed, voided by a newer one), every form behind CSRF and an Origin check.

httpx over the ASGI app against the real PostgreSQL, dev server and SMTP test server.
"""

from __future__ import annotations

import re

import asyncpg
import httpx
import pytest
from temporalio.testing import WorkflowEnvironment

from application.office.signin import PASSWORD_FAILURES_PER_ACCOUNT, SESSION_COOKIE
from application.partner import PartnerDesk
from infra.portal_settings import token_hash
from tests.conftest import SmtpServer
from tests.partner_stack import make_desk
from tests.test_delivery_webhook import fast_delivery
from tests.test_office_desk import (
    PASSWORD,
    csrf_of,
    enrol,
    new_account,
    office_client,
    sign_in,
    signed_in,
)
from web.security import redacted_path

NEW_PASSWORD = "a much longer passphrase for the desk"
LINK = re.compile(r"http://127\.0\.0\.1:8300(/office/reset/[A-Za-z0-9_-]{43})")


@pytest.fixture(scope="module")
def desk(
    dev_env: WorkflowEnvironment, db_pool: asyncpg.Pool, smtp_server: SmtpServer
) -> PartnerDesk:
    delivery = fast_delivery(smtp_host=smtp_server.host, smtp_port=smtp_server.port)
    return make_desk(dev_env.client, db_pool, delivery)


async def _change(
    http: httpx.AsyncClient, current: str, new: str, repeated: str | None = None
) -> httpx.Response:
    form = await http.get("/office/account")
    assert form.status_code == 200, form.text
    return await http.post(
        "/office/account/password",
        data={
            "csrf": csrf_of(form),
            "current_password": current,
            "new_password": new,
            "repeated_password": new if repeated is None else repeated,
        },
    )


async def test_changing_ones_password_needs_the_current_one_and_ends_the_other_sessions(
    desk: PartnerDesk, db_pool: asyncpg.Pool
) -> None:
    async with office_client(desk) as http, office_client(desk) as elsewhere:
        email = await new_account(db_pool, "auditor")
        _, recovery_codes = await enrol(http, email)
        # Signed in on another browser too (a recovery code for its second factor).
        assert (await sign_in(elsewhere, email)).status_code == 303
        form = await elsewhere.get("/office/second-factor")
        done = await elsewhere.post(
            "/office/second-factor", data={"csrf": csrf_of(form), "code": recovery_codes[0]}
        )
        assert done.status_code == 303, done.text
        assert (await elsewhere.get("/office")).status_code == 200
        before = await db_pool.fetchval(
            "SELECT password_hash FROM office_users WHERE email = $1", email
        )
        wrong = await _change(http, "not my password", NEW_PASSWORD)
        assert wrong.status_code == 422 and 'id="error-current_password"' in wrong.text
        short = await _change(http, PASSWORD, "short")
        assert short.status_code == 422 and 'id="error-new_password"' in short.text
        mismatch = await _change(http, PASSWORD, NEW_PASSWORD, NEW_PASSWORD + "!")
        assert mismatch.status_code == 422 and 'id="error-repeated_password"' in mismatch.text
        forged = await http.post(
            "/office/account/password",
            data={"current_password": PASSWORD, "new_password": NEW_PASSWORD},
        )
        assert forged.status_code == 400
        cross_site = await http.post(
            "/office/account/password",
            headers={"origin": "https://elsewhere.example", "sec-fetch-site": "cross-site"},
            data={"current_password": PASSWORD, "new_password": NEW_PASSWORD},
        )
        assert cross_site.status_code == 403
        assert before == await db_pool.fetchval(
            "SELECT password_hash FROM office_users WHERE email = $1", email
        )

        old_cookie = http.cookies[SESSION_COOKIE]
        changed = await _change(http, PASSWORD, NEW_PASSWORD)
        assert changed.status_code == 303, changed.text
        assert changed.headers["location"] == "/office/account?changed=true"
        # The session goes on under a new id; the old id and the other browser are out.
        assert http.cookies[SESSION_COOKIE] != old_cookie
        assert (await http.get("/office/account?changed=true")).status_code == 200
        assert (await elsewhere.get("/office")).status_code == 401
        http.cookies.set(SESSION_COOKIE, old_cookie)
        assert (await http.get("/office")).status_code == 401
    stored = await db_pool.fetchval(
        "SELECT password_hash FROM office_users WHERE email = $1", email
    )
    assert stored.startswith("$argon2id$") and stored != before
    async with office_client(desk) as http:
        assert (await sign_in(http, email)).status_code == 401
        assert (await sign_in(http, email, NEW_PASSWORD)).status_code == 303


async def _mail_reset(admin: httpx.AsyncClient, email: str) -> httpx.Response:
    page = await admin.get("/office/accounts")
    assert page.status_code == 200 and email in page.text
    return await admin.post("/office/accounts/reset", data={"csrf": csrf_of(page), "email": email})


def _link_mailed_to(smtp_server: SmtpServer, email: str) -> str:
    [*_, mail] = smtp_server.catcher.to(email)
    body = mail.message.get_content()
    match = LINK.search(body)
    assert match, body
    return match.group(1)


async def test_an_admins_reset_link_is_mailed_works_once_and_ends_the_sessions(
    desk: PartnerDesk, db_pool: asyncpg.Pool, smtp_server: SmtpServer
) -> None:
    async with (
        office_client(desk) as admin,
        office_client(desk) as holder,
        office_client(desk) as anyone,
    ):
        await signed_in(admin, db_pool, "admin")
        email = await signed_in(holder, db_pool, "auditor")
        sent = await _mail_reset(admin, email)
        assert sent.status_code == 200, sent.text
        path = _link_mailed_to(smtp_server, email)
        token = path.rsplit("/", 1)[1]
        # The admin never sees the link; only its hash is stored.
        assert token not in sent.text
        stored = await db_pool.fetch("SELECT * FROM office_password_resets WHERE email = $1", email)
        assert [row["token_hash"] for row in stored] == [token_hash(token)]
        assert token not in str([dict(row) for row in stored])

        # Opening the link (a mail scanner does) uses nothing.
        form = await anyone.get(path)
        assert form.status_code == 200 and email in form.text
        assert (await anyone.get(path)).status_code == 200
        forged = await anyone.post(path, data={"new_password": NEW_PASSWORD})
        assert forged.status_code == 400
        other_form = await anyone.post(
            path,
            data={
                "csrf": csrf_of(await admin.get("/office/accounts")),
                "new_password": NEW_PASSWORD,
                "repeated_password": NEW_PASSWORD,
            },
        )
        assert other_form.status_code == 400  # a token of another form does not do
        short = await anyone.post(
            path,
            data={"csrf": csrf_of(form), "new_password": "short", "repeated_password": "short"},
        )
        assert short.status_code == 422
        done = await anyone.post(
            path,
            data={
                "csrf": csrf_of(form),
                "new_password": NEW_PASSWORD,
                "repeated_password": NEW_PASSWORD,
            },
        )
        assert done.status_code == 200, done.text
        assert (await holder.get("/office")).status_code == 401  # every session ended
        again = await anyone.post(
            path,
            data={
                "csrf": csrf_of(form),
                "new_password": "yet another passphrase, mine",
                "repeated_password": "yet another passphrase, mine",
            },
        )
        assert again.status_code == 410
        assert (await anyone.get(path)).status_code == 410
    async with office_client(desk) as http:
        assert (await sign_in(http, email)).status_code == 401
        assert (await sign_in(http, email, NEW_PASSWORD)).status_code == 303


async def test_a_reset_link_expires_and_a_newer_one_voids_the_older(
    desk: PartnerDesk, db_pool: asyncpg.Pool, smtp_server: SmtpServer
) -> None:
    async with office_client(desk) as admin, office_client(desk) as anyone:
        await signed_in(admin, db_pool, "admin")
        email = await new_account(db_pool, "officer")
        assert (await _mail_reset(admin, email)).status_code == 200
        older = _link_mailed_to(smtp_server, email)
        assert (await _mail_reset(admin, email)).status_code == 200
        newer = _link_mailed_to(smtp_server, email)
        assert older != newer
        assert (await anyone.get(older)).status_code == 410
        assert (await anyone.get(newer)).status_code == 200
        await db_pool.execute(
            "UPDATE office_password_resets SET expires_at = now() - interval '1 second'"
            " WHERE token_hash = $1",
            token_hash(newer.rsplit("/", 1)[1]),
        )
        assert (await anyone.get(newer)).status_code == 410
        assert (await anyone.get("/office/reset/not-a-link")).status_code == 410
        # No account, or an officer's session: nothing is mailed.
        page = await admin.get("/office/accounts")
        nobody = await admin.post(
            "/office/accounts/reset", data={"csrf": csrf_of(page), "email": "nobody@ofppt.example"}
        )
        assert nobody.status_code == 404
    async with office_client(desk) as officer:
        await enrol(officer, await new_account(db_pool, "officer"))
        assert (await officer.get("/office/accounts")).status_code == 403
        assert (
            await officer.post("/office/accounts/reset", data={"email": email})
        ).status_code == 403


def test_a_reset_links_token_never_reaches_the_access_log() -> None:
    assert redacted_path("/office/reset/abcDEF_123-x") == "/office/reset/[token]"
    assert redacted_path("/t/abcDEF_123-x/task") == "/t/[token]/task"


async def test_when_an_accounts_delay_starts_its_holder_and_the_admins_get_one_notice(
    desk: PartnerDesk, db_pool: asyncpg.Pool, smtp_server: SmtpServer
) -> None:
    email = await new_account(db_pool, "auditor")
    admin = await new_account(db_pool, "admin")
    async with office_client(desk) as http:
        for _ in range(PASSWORD_FAILURES_PER_ACCOUNT - 1):
            assert (await sign_in(http, email, "not the password")).status_code == 401
        assert smtp_server.catcher.to(email) == []  # no delay yet: no notice
        assert (await sign_in(http, email, "not the password")).status_code == 401
        # The fifth failure starts the delay: one notice each, in the three languages.
        [to_holder] = smtp_server.catcher.to(email)
        [to_admin] = smtp_server.catcher.to(admin)
        body = to_holder.message.get_content()
        assert email in body and "mots de passe erronés" in body and "wrong passwords" in body
        assert to_admin.message["subject"] == to_holder.message["subject"]
        # Refused during the delay: no more mail.
        assert (await sign_in(http, email, "not the password")).status_code == 429
    assert len(smtp_server.catcher.to(email)) == 1


async def test_a_reset_link_is_mailed_in_the_language_its_holder_chose(
    desk: PartnerDesk, db_pool: asyncpg.Pool, smtp_server: SmtpServer
) -> None:
    async with office_client(desk) as admin:
        await signed_in(admin, db_pool, "admin")  # the admin's desk stays French
        chose_arabic = await new_account(db_pool, "officer")
        never_chose = await new_account(db_pool, "officer")
        await db_pool.execute(
            "UPDATE office_users SET preferred_language = 'ar' WHERE email = $1", chose_arabic
        )
        assert (await _mail_reset(admin, chose_arabic)).status_code == 200
        assert (await _mail_reset(admin, never_chose)).status_code == 200
    [arabic] = smtp_server.catcher.to(chose_arabic)
    [french] = smtp_server.catcher.to(never_chose)
    assert arabic.message["Content-Language"] == "ar"
    assert french.message["Content-Language"] == "fr"
    assert arabic.message["subject"] != french.message["subject"]
