"""The directory in a real browser, end to end (issue 23's test against the real servers): an
admin adds a person in Arabic on the office desk, the person confirms her address by opening
the link mailed to her (the tests' SMTP catcher), then signs with the mailed code.

Debian's Chromium driven by Playwright (tests/browser.py's launch); the portal on uvicorn in
process; the worker, Temporal and PostgreSQL real."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import asyncpg
import pyotp
import pytest
import uvicorn
from temporalio.testing import WorkflowEnvironment

from application.conventions import convention_status, find_task, start_convention
from devkit.polling import eventually
from devkit.stack import free_port
from schemas.convention import Convention
from storage import directory as store
from tests.browser import CHROMIUM, launch_chromium
from tests.conftest import SmtpServer
from tests.directory_stack import fresh_id
from tests.partner_stack import make_desk, registered
from tests.test_delivery_webhook import fast_delivery, running_worker
from tests.test_office_desk import PASSWORD, new_account
from tests.test_partner_browser import (
    LINK,
    TASK,
    _async,
    plain_text,
    signature_by_an_arabic_reading_minister,
)
from web.app import create_app

SIGNER = "مريم بنعلي"
CODE = re.compile(r"\b(\d{6})\b")


def signature_by(email: str | None) -> Convention:
    """Tanger's signature by mic's minister (a fresh convention id), whose contact is the
    person the admin adds (or no one yet)."""
    data = signature_by_an_arabic_reading_minister().model_dump(mode="json")
    data["id"] = fresh_id("tanger")
    for party in data["parties"]:
        if party["id"] == "mic":
            party["contacts"] = (
                [{"name": SIGNER, "email": email, "language": "ar"}] if email else []
            )
    return Convention.model_validate(data)


@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed")
async def test_an_admin_adds_a_person_in_arabic_who_confirms_her_address_then_signs(
    dev_env: WorkflowEnvironment,
    db_pool: asyncpg.Pool,
    smtp_server: SmtpServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from playwright.async_api import async_playwright

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    monkeypatch.setenv("PACTE_PUBLIC_URL", base)
    delivery = fast_delivery(smtp_host=smtp_server.host, smtp_port=smtp_server.port)
    desk = make_desk(dev_env.client, db_pool, delivery)
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(desk), host="127.0.0.1", port=port, log_config=None, access_log=False
        )
    )
    serving = asyncio.create_task(server.serve())
    email = f"{fresh_id('ministre')}@mic.example"
    convention = signature_by(email)
    await registered(db_pool, signature_by(None))  # every other party's people; mic, no one
    admin = await new_account(db_pool, "admin", name="Youssef Amrani")
    try:
        async with async_playwright() as playwright:
            browser = await launch_chromium(playwright, tmp_path / "chromium-profile")
            page = await browser.new_page()
            # The admin signs in (password, then the second factor set up) and adds her.
            await page.goto(f"{base}/office/signin?lang=ar")
            await page.fill("#email", admin)
            await page.fill("#password", PASSWORD)
            await page.click("button.primary")
            await page.wait_for_selector("#code")
            secret = (await page.inner_text("dd.ref >> nth=0")).strip()
            await page.fill("#code", pyotp.TOTP(secret).now())
            await page.click("button.primary")
            await page.wait_for_selector("ul.ref li")
            await page.goto(f"{base}/office/directory/mic")
            await page.select_option("#language", "ar")  # the admin reads Arabic
            await page.click("form[action='/office/language'] button")
            await page.wait_for_selector("html[dir='rtl'] #add-name")
            await page.fill("#add-name", SIGNER)
            await page.fill("#add-email", email)
            await page.select_option("#add-language", "ar")
            await page.select_option("#add-capacity", "sign")
            await page.click("form[action$='/people'] button")
            await page.wait_for_selector("p.receipt")
            added = await page.inner_text("table.tasks")
            assert SIGNER in added and "لم يُجب قط" in added  # her address never answered
            person = await store.person_by_email(db_pool, email)
            assert person is not None and person.confirmed_at is None
            async with running_worker(dev_env, db_pool, delivery) as task_queue:
                await start_convention(dev_env.client, convention, task_queue)
                await find_task(dev_env.client, convention.id, TASK, wait_seconds=30)
                mails = await eventually(
                    lambda: _async(smtp_server.catcher.to(email)),
                    lambda found: any(LINK.search(plain_text(m)) for m in found),
                )
                [link] = {m.group(1) for mail in mails if (m := LINK.search(plain_text(mail)))}
                # She opens the mailed link: her address is confirmed.
                signer = await browser.new_page()
                await signer.goto(link)
                assert await signer.get_attribute("html", "dir") == "rtl"
                confirmed = await store.person(db_pool, person.id)
                assert confirmed is not None and confirmed.confirmed_at is not None
                await signer.check('input[name="decision"][value="sign"]')
                await signer.fill('input[name="place.city"]', "طنجة")
                await signer.fill('input[name="place.country"]', "MA")
                sent_before = len(smtp_server.catcher.to(email))
                await signer.click("button.primary")
                await signer.wait_for_selector('input[name="code"]')
                code_mails = await eventually(
                    lambda: _async(smtp_server.catcher.to(email)),
                    lambda found: len(found) > sent_before,
                )
                [digits] = {
                    found.group(1)
                    for mail in code_mails[sent_before:]
                    if (found := CODE.search(plain_text(mail)))
                }
                await signer.fill('input[name="code"]', digits)
                await signer.click("button.primary")
                await signer.wait_for_selector("#receipt")
                assert SIGNER in await signer.inner_text("#receipt")
                # The admin's page now says her address answered.
                await page.goto(f"{base}/office/directory/mic")
                her_row = await page.inner_text(f"table.tasks tr:has-text('{email}')")
                assert SIGNER in her_row and "لم يُجب قط" not in her_row
                await browser.close()
                status = await convention_status(dev_env.client, convention.id)
                assert TASK not in {t.id for t in status.open_tasks}
                receipt = await desk.receipt(convention.id, TASK)
                assert receipt is not None and receipt.principal.method.value == "link_and_code"
                assert receipt.principal.directory is not None
                assert receipt.principal.directory.person == person.id
                assert receipt.principal.directory.capacity == "sign"
    finally:
        server.should_exit = True
        await serving
