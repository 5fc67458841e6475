"""The pages a POST answers, in Arabic and in French, as a person sees them: the partner's code
page after asking to sign, the code refused, the receipt, an answer refused because a colleague
answered first, a form shown again with its errors; the office's convention page after a
postpone, a reassignment or an ending refused for a bad value, the editor shown again with a
mistake, the directory's form with a bad e-mail address.

The walk of every GET page (tests/test_language_screens.py) lends its stack (`walk_stack`: a
database and a worker of the test's own), its office sessions, its screenshots and its two
checks, imported, not copied: no Latin-script word outside the data in Arabic, no tell-tale
English word in French, and the LAYOUT rules at 768 px (nothing wider than the window, no word
split across lines, no label away from its input, every table in a named box that scrolls).

One browser, one stack; a person reaches each page by the desk's own forms (the language
switched by its switcher, so that what the desk says in the session's language is what is
checked). A value a browser would refuse to send (a date that is no date, an empty reason, an
address that is none) is sent with the form's validation turned off, as an older browser or a
hand-written request sends it: the desk's own refusal is what is looked at.
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

from application.office.signin import SESSION_COOKIE
from devkit.stack import free_port
from rendering.refusals import refusal_text
from schemas.errors import Refusal, RefusalCode
from tests.browser import CHROMIUM, launch_chromium
from tests.conftest import SmtpServer
from tests.partner_stack import (
    COLLEAGUE,
    DECISION,
    FUNDER,
    funding_convention,
    link_path,
    make_desk,
)
from tests.test_delivery_webhook import fast_delivery
from tests.test_language_screens import (
    LANGUAGES,
    LAYOUT,
    VISIBLE_TEXT,
    Screens,
    _directory_names,
    _draft,
    _office_sessions,
    data_of,
    walk_stack,  # noqa: F401  (the walk's fixture: a database and a worker of the test's own)
    wrong_words,
)
from tests.test_partner_links import link_minted
from web.app import create_app

SUBMIT = """([selector, values, submitter]) => {
  // The form as a person fills it, without the browser's own checks (`required`, a date's or
  // an address's format): the desk's refusal is what the test looks at.
  const form = document.querySelector(selector);
  form.noValidate = true;
  for (const [name, value] of Object.entries(values)) {
    const field = form.elements[name];
    if (field.tagName === 'SELECT') {
      if (![...field.options].some(option => option.value === value)) {
        field.add(new Option(value, value));
      }
    } else if (field.tagName === 'INPUT' && field.type !== 'hidden' && field.type !== 'radio') {
      field.type = 'text';
    }
    field.value = value;
  }
  form.requestSubmit(submitter ? form.querySelector(submitter) : undefined);
}"""


class Looks:
    """What each screenshot's two checks found, by page name."""

    def __init__(self, screens: Screens, data: set[str]) -> None:
        self.screens = screens
        self.data = data
        self.wrong: dict[str, list[str]] = {}
        self.layout: dict[str, dict[str, Any]] = {}
        self.names: list[str] = []

    async def take(self, page: Any, name: str, language: str) -> None:
        assert await page.get_attribute("html", "lang") == language, name
        self.names.append(name)
        await self.screens.take(page, name)
        wrong = wrong_words(language, await page.evaluate(VISIBLE_TEXT), self.data)
        if wrong:
            self.wrong[name] = wrong
        layout = await page.evaluate(LAYOUT)
        found = {
            key: value
            for key, value in layout.items()
            if (value > 1 if key == "overflow" else value)
        }
        if found:
            self.layout[name] = found


async def submit(
    page: Any, selector: str, values: dict[str, str], submitter: str | None = None
) -> int:
    """Send the form at `selector` with `values`: the answer's status."""
    async with page.expect_navigation() as navigation:
        await page.evaluate(SUBMIT, [selector, values, submitter])
    response = await navigation.value
    assert response is not None
    status: int = response.status
    return status


async def switch_language(page: Any, desk: str, language: str) -> None:
    """The desk's own switcher: the session reads the desk in `language` from now on."""
    await page.select_option("#language", language)
    async with page.expect_navigation():
        await page.click(f'form[action="/{desk}/language"] button')


def code_in(smtp: SmtpServer, address: str, already: int) -> str:
    mails = smtp.catcher.to(address)
    assert len(mails) > already, "no code mail"
    body = mails[-1].message.get_body(preferencelist=("plain",))
    assert body is not None
    match = re.search(r"\b(\d{6})\b", body.get_content())
    assert match
    return match.group(1)


async def _wait_for_code(smtp: SmtpServer, address: str, already: int) -> str:
    for _ in range(600):  # 30 s: the shared machine may be busy
        if len(smtp.catcher.to(address)) > already:
            break
        await asyncio.sleep(0.05)
    return code_in(smtp, address, already)


APPROVE = {"decision": "approve", "granted.amount": "36000000", "granted.currency": "IsDB-ID"}


async def partner_pages(
    page: Any,
    colleague: Any,
    base: str,
    convention_id: str,
    language: str,
    smtp: SmtpServer,
    looks: Looks,
) -> None:
    """The funder's contact answers in `language`: the form again with its errors, the code
    page, a wrong code, the receipt; then their colleague, whose form was open, is refused."""
    context = page.context
    form = f'form[action="/desk/tasks/{convention_id}/{DECISION}"]'
    # The colleague opens the task first and leaves the form open.
    await context.clear_cookies()
    await colleague.goto(base + link_path(convention_id, COLLEAGUE["name"]))
    await switch_language(colleague, "desk", language)
    colleague_cookies = await context.cookies()

    await context.clear_cookies()
    await page.goto(base + link_path(convention_id, FUNDER["name"]))
    await switch_language(page, "desk", language)
    # Approving without the amount granted: the form again, the error by its field.
    assert await submit(page, form, {"decision": "approve"}) == 422
    await looks.take(page, f"{language}-desk-answer-errors", language)
    sent = len(smtp.catcher.to(FUNDER["email"]))
    assert await submit(page, form, APPROVE) == 200
    await looks.take(page, f"{language}-desk-code", language)
    code = await _wait_for_code(smtp, FUNDER["email"], sent)
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    code_form = 'form[action^="/desk/codes/"]'
    assert await submit(page, code_form, {"code": wrong}) == 422
    await looks.take(page, f"{language}-desk-code-wrong", language)
    assert await submit(page, code_form, {"code": code}) == 200
    assert await page.query_selector("#receipt"), "no receipt"
    await looks.take(page, f"{language}-desk-receipt", language)

    # The colleague sends the form they had open: the task is answered already.
    await context.clear_cookies()
    await context.add_cookies(colleague_cookies)
    assert await submit(colleague, form, APPROVE) == 409
    await looks.take(colleague, f"{language}-desk-answer-refused", language)


async def office_pages(
    page: Any,
    base: str,
    cookies: dict[str, str],
    convention_id: str,
    draft_id: str,
    language: str,
    looks: Looks,
) -> None:
    """The office's forms sent with a bad value, each page shown again with its refusal."""
    context = page.context
    await context.clear_cookies()
    await context.add_cookies([{"name": SESSION_COOKIE, "value": cookies["officer"], "url": base}])
    convention = f"{base}/office/conventions/{convention_id}"
    await page.goto(convention)
    await switch_language(page, "office", language)
    action = f'form[action="/office/conventions/{convention_id}/%s"]'
    bad = {
        # A date that is no date.
        "postpone": {"to": "bientôt", "reason": "x"},
        # A person the directory does not know.
        "reassign": {"contact": "nobody-known", "reason": "x"},
        # No reason given.
        "terminate": {"reason": ""},
    }
    for verb, values in bad.items():
        await page.goto(convention)
        status = await submit(page, action % verb, values)
        assert 400 <= status < 500, (verb, status)
        await looks.take(page, f"{language}-office-{verb}-refused", language)

    # The officer's answer on a party's behalf, with a decision the task does not know.
    await page.goto(f"{convention}/tasks/{DECISION}")
    task_form = f'form[action="/office/conventions/{convention_id}/tasks/{DECISION}"]'
    status = await submit(page, task_form, {"decision": "perhaps"})
    assert 400 <= status < 500, ("office task", status)
    await looks.take(page, f"{language}-office-task-answer-errors", language)

    # The editor, a number that is none.
    await page.goto(f"{base}/office/editor/{draft_id}")
    amount = await page.evaluate(
        "() => document.querySelector('form.editor input[inputmode=decimal]').name"
    )
    status = await submit(page, "form.editor", {amount: "douze"}, 'button[value="save"]')
    assert status < 500, ("editor", status)
    assert await page.query_selector(".error"), "the editor shows no mistake"
    await looks.take(page, f"{language}-office-editor-mistake", language)

    # The directory, an admin adding a person with an address that is none.
    await context.clear_cookies()
    await context.add_cookies([{"name": SESSION_COOKIE, "value": cookies["admin"], "url": base}])
    await page.goto(f"{base}/office/directory/bid")
    await switch_language(page, "office", language)
    people = 'form[action="/office/directory/bid/people"]'
    status = await submit(page, people, {"name": "Test", "email": "pas-une-adresse"})
    assert 400 <= status < 500, ("directory", status)
    await looks.take(page, f"{language}-office-directory-bad-email", language)


@pytest.mark.parametrize(
    ("recorded", "french", "arabic_names"),
    [
        (
            "answered by Fatima Zahra EL ALAOUI for bid, e-mailed link confirmed by code",
            "(de Fatima Zahra EL ALAOUI pour bid, lien personnel confirmé par un code)",
            ["Fatima Zahra EL ALAOUI", "bid"],
        ),
        (
            "entered by officer Nadia Benali on behalf of psa (for Rémi Cabon)",
            "(de l'agent Nadia Benali pour le compte de psa (pour Rémi Cabon))",
            ["Nadia Benali", "psa", "Rémi Cabon"],
        ),
        ("answered by menefp", "(de menefp)", ["menefp"]),
        ("said some other way", "(de said some other way)", ["said some other way"]),
    ],
)
def test_who_answered_a_task_already_answered_is_said_in_the_readers_language(
    recorded: str, french: str, arabic_names: list[str]
) -> None:
    """The workflow names who answered in English (its value, kept): the refusal of a second
    answer says it again in French and Arabic, the names as written (isolated in Arabic), a
    wording it does not know as recorded."""
    params: dict[str, str | int | list[str]] = {"task": "t.1", "answered_by": recorded}
    reason = Refusal(code=RefusalCode.TASK_DONE, field="task_id", params=params).reason(
        f"task 't.1' is already done ({recorded})"
    )
    assert refusal_text(reason, "fr").endswith(french)
    arabic = refusal_text(reason, "ar")
    for name in arabic_names:
        assert f"\u2068{name}\u2069" in arabic
    assert wrong_words("ar", arabic, set()) == []
    assert refusal_text(reason, "en") == str(reason)


@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed")
async def test_the_pages_a_post_answers_speak_arabic_and_french(
    dev_env: WorkflowEnvironment,
    walk_stack: tuple[asyncpg.Pool, str],  # noqa: F811
    smtp_server: SmtpServer,
    tmp_path: Path,
) -> None:
    from playwright.async_api import async_playwright

    db_pool, task_queue = walk_stack
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    delivery = fast_delivery(smtp_host=smtp_server.host, smtp_port=smtp_server.port)
    desk = make_desk(dev_env.client, db_pool, delivery)
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(desk, task_queue=task_queue),
            host="127.0.0.1",
            port=port,
            log_config=None,
            access_log=False,
        )
    )
    serving = asyncio.create_task(server.serve())
    try:
        # One convention per language: answering closes its task.
        conventions = await asyncio.gather(
            *(
                funding_convention(dev_env.client, db_pool, [FUNDER, COLLEAGUE], task_queue)
                for _ in LANGUAGES
            )
        )
        for convention in conventions:
            for contact in (FUNDER, COLLEAGUE):
                await link_minted(db_pool, convention.id, contact["name"])
        cookies = await _office_sessions(base, db_pool)
        draft_id = await _draft(base, cookies["officer"], conventions[0].id)
        data = {"Awa Diallo", "Karim Benali", "Test", "bientôt", "douze", "perhaps"}
        for convention in conventions:
            data |= data_of(convention) | await _directory_names(db_pool, convention)
        looks = Looks(Screens(tmp_path), data)
        async with async_playwright() as playwright:
            browser = await launch_chromium(playwright, tmp_path / "chromium-profile")
            page = await browser.new_page()
            colleague = await browser.new_page()
            for window in (page, colleague):
                await window.set_viewport_size({"width": 768, "height": 1024})
            for language, convention in zip(LANGUAGES, conventions, strict=True):
                # The office first: its refused actions leave the convention as it was.
                await office_pages(page, base, cookies, convention.id, draft_id, language, looks)
                await partner_pages(
                    page, colleague, base, convention.id, language, smtp_server, looks
                )
            await browser.close()
    finally:
        server.should_exit = True
        await serving

    assert not looks.layout, f"layout: {looks.layout}"
    assert not looks.wrong, "\n".join(f"{name}: {wrong}" for name, wrong in looks.wrong.items())
    assert len(looks.names) == 2 * 11
