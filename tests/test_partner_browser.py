"""A contact signs in a real browser: the mail on the SMTP test server, the link, the Arabic
page (right to left), the code from the second mail, the receipt.

Debian's Chromium driven by Playwright (never a downloaded browser); the portal on uvicorn
in process; the worker, Temporal and PostgreSQL real. Screenshots go to tests/artifacts/.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

import asyncpg
import pytest
import uvicorn
from temporalio.testing import WorkflowEnvironment

from application.conventions import convention_status, find_task, start_convention
from devkit.polling import eventually
from devkit.stack import free_port
from schemas.convention import Convention
from tests.browser import CHROMIUM, launch_chromium
from tests.conftest import SmtpServer, example
from tests.partner_stack import make_desk, registered
from tests.test_delivery_webhook import fast_delivery, running_worker
from web.app import create_app

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
SIGNER = "مولاي حفيظ العلمي"
SIGNER_EMAIL = "ministre@mic.example"
TASK = "signature.sign.mic-ministre"
LINK = re.compile(r"(http://127\.0\.0\.1:\d+/t/[A-Za-z0-9_-]+)")


def signature_by_an_arabic_reading_minister() -> Convention:
    """Tanger's PSA framework reduced to one signature, by a minister who reads Arabic."""
    data = example("tanger-four-conventions").model_dump(mode="json")
    data["stages"] = [
        dict(s, signatories=["mic-ministre"]) for s in data["stages"] if s["stage"] == "signature"
    ]
    for party in data["parties"]:
        if party["id"] == "mic":
            party["contacts"] = [{"name": SIGNER, "email": SIGNER_EMAIL, "language": "ar"}]
    return Convention.model_validate(data)


def plain_text(mail: Any) -> str:
    body = mail.message.get_body(preferencelist=("plain",))
    assert body is not None
    text: str = body.get_content()
    return text


@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed")
async def test_a_minister_signs_on_the_arabic_page_with_the_mailed_code(
    dev_env: WorkflowEnvironment,
    db_pool: asyncpg.Pool,
    smtp_server: SmtpServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from playwright.async_api import async_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    port = free_port()
    monkeypatch.setenv("PACTE_PUBLIC_URL", f"http://127.0.0.1:{port}")
    delivery = fast_delivery(smtp_host=smtp_server.host, smtp_port=smtp_server.port)
    desk = make_desk(dev_env.client, db_pool, delivery)
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(desk), host="127.0.0.1", port=port, log_config=None, access_log=False
        )
    )
    serving = asyncio.create_task(server.serve())
    convention = await registered(db_pool, signature_by_an_arabic_reading_minister())
    try:
        async with running_worker(dev_env, db_pool, delivery) as task_queue:
            await start_convention(dev_env.client, convention, task_queue)
            await find_task(dev_env.client, convention.id, TASK, wait_seconds=30)
            mails = await eventually(
                lambda: _async(smtp_server.catcher.to(SIGNER_EMAIL)),
                lambda found: (
                    any(convention.id in m.message["Subject"] for m in found)
                    and any(LINK.search(plain_text(m)) for m in found)
                ),
            )
            [link] = {
                match.group(1)
                for m in mails
                if convention.id in m.message["Subject"]
                for match in [LINK.search(plain_text(m))]
                if match
            }
            async with async_playwright() as playwright:
                browser = await launch_chromium(playwright, tmp_path / "chromium-profile")
                page = await browser.new_page()
                await page.goto(link)
                assert await page.get_attribute("html", "dir") == "rtl"
                assert await page.get_attribute("html", "lang") == "ar"
                await page.screenshot(path=str(ARTIFACTS / "sign-1-task-ar.png"), full_page=True)
                await page.check('input[name="decision"][value="sign"]')
                await page.fill('input[name="place.city"]', "طنجة")
                await page.fill('input[name="place.country"]', "MA")
                sent_before = len(smtp_server.catcher.to(SIGNER_EMAIL))
                await page.click("button.primary")
                await page.wait_for_selector('input[name="code"]')
                await page.screenshot(path=str(ARTIFACTS / "sign-2-code-ar.png"), full_page=True)
                code_mails = await eventually(
                    lambda: _async(smtp_server.catcher.to(SIGNER_EMAIL)),
                    lambda found: len(found) > sent_before,
                )
                code_match = re.search(r"\b(\d{6})\b", plain_text(code_mails[-1]))
                assert code_match, "no code in the second mail"
                assert code_mails[-1].message["Content-Language"] == "ar"
                await page.fill('input[name="code"]', code_match.group(1))
                await page.click("button.primary")
                await page.wait_for_selector("#receipt")
                await page.screenshot(path=str(ARTIFACTS / "sign-3-receipt-ar.png"), full_page=True)
                receipt_text = await page.inner_text("#receipt")
                assert "تم تسجيل ردكم" in receipt_text  # "Your answer is recorded"
                assert SIGNER in receipt_text
                await browser.close()
            status = await convention_status(dev_env.client, convention.id)
            assert TASK not in {t.id for t in status.open_tasks}
            receipt = await desk.receipt(convention.id, TASK)
            assert receipt is not None
            assert receipt.principal.method.value == "link_and_code"
            assert receipt.answer["place"]["city"] == "طنجة"
    finally:
        server.should_exit = True
        await serving


async def _async(value: Any) -> Any:
    return value
