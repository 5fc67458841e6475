"""The issue's walk in a real browser: the office's version 1 (DOCX) is downloaded by DMK's
reviewer from her Arabic task page, who asks for changes; the office uploads version 2 (PDF);
her next task page shows what changed; at the signature she sees the text to sign (title,
version, hash, link) on the Arabic page and signs with the mailed code; the signature is
recorded against that hash.

Debian's Chromium driven by Playwright; the portal on uvicorn in process; the worker,
Temporal, PostgreSQL and the SMTP server real. Screenshots go to tests/artifacts/.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
from pathlib import Path

import asyncpg
import pytest
import uvicorn
from temporalio.testing import WorkflowEnvironment

from application.conventions import answer_open_task, find_task, officer_on_behalf, start_convention
from application.documents import store_of
from devkit.polling import eventually
from devkit.stack import free_port
from schemas.convention import Convention
from tests.browser import CHROMIUM, launch_chromium
from tests.conftest import DEV_TASK_QUEUE, ReceivedMail, SmtpServer
from tests.document_samples import docx_with_paragraphs, pdf_with_text
from tests.partner_stack import link_path, make_desk, registered
from tests.test_delivery_webhook import fast_delivery, stop
from tests.test_documents_desk import V2_TEXT, V3_TEXT, drafting_and_signature
from tests.test_office_desk import csrf_of, office_client, signed_in
from web.app import create_app

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
READER = {"name": "كريم بنعلي", "email": "k.benali.ar@dmk.example", "language": "ar"}
SIGN = "signature.sign.dmk-representant"
REVIEW_V1, REVIEW_V2 = "drafting.review.v1.dmk", "drafting.review.v2.dmk"


def arabic_reviewer_convention(v1_sha256: str) -> Convention:
    """MRE Academy's drafting and signature, DMK's contact reading Arabic, version 1 a DOCX
    Pacte holds."""
    data = drafting_and_signature(READER).model_dump(mode="json")
    data["stages"][0]["document"] = {
        "uri": f"archive:documents/{v1_sha256}",
        "sha256": v1_sha256,
    }
    return Convention.model_validate(data)


@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed")
async def test_review_two_versions_and_sign_the_text_seen_on_the_arabic_page(
    dev_env: WorkflowEnvironment,
    db_pool: asyncpg.Pool,
    smtp_server: SmtpServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from playwright.async_api import async_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    monkeypatch.setenv("PACTE_PUBLIC_URL", base)
    desk = make_desk(
        dev_env.client,
        db_pool,
        fast_delivery(smtp_host=smtp_server.host, smtp_port=smtp_server.port),
    )
    v1, v2 = docx_with_paragraphs(V2_TEXT), pdf_with_text(V3_TEXT)
    v1_sha, v2_sha = hashlib.sha256(v1).hexdigest(), hashlib.sha256(v2).hexdigest()
    convention = arabic_reviewer_convention(v1_sha)
    await store_of(desk).put(
        v1, file_name="projet-v1.docx", uploaded_by="tests", convention_id=convention.id
    )
    convention = await registered(db_pool, convention)
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(desk), host="127.0.0.1", port=port, log_config=None, access_log=False
        )
    )
    serving = asyncio.create_task(server.serve())
    try:
        await start_convention(dev_env.client, convention, DEV_TASK_QUEUE)
        async with async_playwright() as playwright:
            browser = await launch_chromium(playwright, tmp_path / "chromium-profile")
            page = await browser.new_page()
            # 1. Version 1: downloaded from the Arabic page, changes asked.
            await link_minted_for(db_pool, convention.id, "drafting.review.v1.dmk")
            await page.goto(
                base + link_path(convention.id, READER["name"], "drafting.review.v1.dmk")
            )
            assert await page.get_attribute("html", "dir") == "rtl"
            assert v1_sha in await page.inner_text("body")
            async with page.expect_download() as downloading:
                await page.click(f'a[href$="/{v1_sha}"]')
            downloaded = await (await downloading.value).path()
            assert await asyncio.to_thread(Path(downloaded).read_bytes) == v1
            await page.check('input[name="decision"][value="request_changes"]')
            await page.fill('textarea[name="comments"]', "أضيفوا المكوّنين في المادة 3")
            await page.click("button.primary")
            await page.wait_for_selector("#receipt")  # (the ministry's review is cancelled)
            # 2. The office uploads version 2, a PDF, with the drafting form.
            await find_task(dev_env.client, convention.id, "drafting.revise.v2", wait_seconds=30)
            async with office_client(desk) as office:
                await signed_in(office, db_pool, "officer")
                form = await office.get(
                    f"/office/conventions/{convention.id}/tasks/drafting.revise.v2"
                )
                sent = await office.post(
                    f"/office/conventions/{convention.id}/tasks/drafting.revise.v2",
                    data={"csrf": csrf_of(form), "comments": "Formateurs ajoutés"},
                    files={"document.file": ("projet-v2.pdf", v2, "application/pdf")},
                )
                assert sent.status_code == 200, sent.text
            # 3. Her next page shows what changed since version 1, and her earlier comment.
            await link_minted_for(db_pool, convention.id, "drafting.review.v2.dmk")
            await page.goto(
                base + link_path(convention.id, READER["name"], "drafting.review.v2.dmk")
            )
            shown_v2 = await page.inner_text("body")
            assert await page.locator("pre.diff").count() == 1, shown_v2
            changes = await page.inner_text("pre.diff")
            assert "+ Article 3 - Formations au profit des stagiaires et des formateurs" in changes
            assert "أضيفوا المكوّنين في المادة 3" in await page.inner_text("table.rounds")
            await page.screenshot(
                path=str(ARTIFACTS / "documents-1-changes-ar.png"), full_page=True
            )
            await page.check('input[name="decision"][value="approve"]')
            await page.click("button.primary")
            await page.wait_for_selector("#receipt")
            await answer_open_task(
                dev_env.client,
                convention.id,
                "drafting.review.v2.mre-ministry",
                "mre-ministry",
                {"decision": "approve", "version": 2},
                wait_seconds=30,
            )
            # 4. The signature: the text to sign on the Arabic page, then the mailed code.
            await link_minted_for(db_pool, convention.id, SIGN)
            await page.goto(base + link_path(convention.id, READER["name"], SIGN))
            shown = await page.inner_text("section.documents")
            assert v2_sha in shown and convention.title in shown
            await page.screenshot(path=str(ARTIFACTS / "documents-sign-ar.png"), full_page=True)
            await page.check('input[name="decision"][value="sign"]')
            await page.fill('input[name="place.city"]', "برلين")
            await page.fill('input[name="place.country"]', "DE")
            before = len(smtp_server.catcher.to(READER["email"]))
            await page.click("button.primary")
            await page.wait_for_selector('input[name="code"]')
            mails = await eventually(
                lambda: _now(smtp_server.catcher.to(READER["email"])),
                lambda found: len(found) > before,
            )
            body = mails[-1].message.get_body(preferencelist=("plain",))
            assert body is not None
            code = re.search(r"\b(\d{6})\b", body.get_content())
            assert code, "no code in the mail"
            await page.fill('input[name="code"]', code.group(1))
            await page.click("button.primary")
            await page.wait_for_selector("#receipt")
            await browser.close()
        receipt = await desk.receipt(convention.id, SIGN)
        assert receipt is not None and receipt.answer["document_sha256"] == v2_sha
        await answer_open_task(
            dev_env.client,
            convention.id,
            "signature.sign.ofppt-dg",
            "ofppt",
            {"decision": "sign"},
            wait_seconds=30,
            principal=officer_on_behalf("awa", "ofppt"),
        )
    finally:
        server.should_exit = True
        await serving
        await stop(dev_env.client, convention.id)


async def link_minted_for(pool: asyncpg.Pool, convention_id: str, task_id: str) -> None:
    """Wait for the Arabic reader's link to this task (its notification stores it)."""
    await eventually(
        lambda: pool.fetchval(
            "SELECT count(*) FROM partner_links WHERE convention_id = $1 AND task_id = $2 "
            "AND contact_name = $3",
            convention_id,
            task_id,
            READER["name"],
        ),
        bool,
    )


async def _now(value: list[ReceivedMail]) -> list[ReceivedMail]:
    return value
