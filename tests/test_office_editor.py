"""The convention editor (`/office/editor`): drafts written in forms, every error at once
beside its field in the page's language, versioned drafts two officers share, the preview,
the start (the desk's own use case), export and import that round trip, and nothing typed
lost on a refusal — the editor's, and the workflow's own refusal of an answer entered on a
partner's behalf.

httpx over the ASGI app against the real dev server, worker and PostgreSQL.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import lxml.html
import pyotp
import pytest
import pytest_asyncio
import uvicorn
import yaml
from babel.dates import format_date
from babel.messages.pofile import read_po
from temporalio.client import Client
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

import web
from application.conventions import convention_status, start_convention
from application.directory.organisations import archive_organisation
from application.office import editor
from application.partner import PartnerDesk
from devkit.stack import free_port
from schemas.convention import MAX_AGENDA_ITEMS, Convention, ReminderPolicy
from schemas.convention_file import read_document
from tests.browser import CHROMIUM, launch_chromium
from tests.conftest import DEV_TASK_QUEUE, EXAMPLES, example
from tests.directory_stack import fresh_id, funding_file
from tests.partner_stack import FUNDER, TEST_ADMIN, make_desk, registered
from tests.test_office_browser import no_accessibility_violations
from tests.test_office_desk import PASSWORD, csrf_of, new_account, office_client, signed_in
from tests.test_partner_browser import ARTIFACTS
from tests.test_validate_all_errors import TEN_MISTAKES, ten_mistakes
from web.app import create_app
from web.editor_form import EMAIL, ENDS_BEFORE, LABELS, MESSAGES, POSITION, ROW_LABELS, STALE
from web.i18n import LANGUAGES, gettext
from workflows.convention import workflow_id_for
from workflows.task_board import TaskBoard
from workflows.task_rules import next_follow_up


@dataclass
class Officer:
    http: httpx.AsyncClient
    email: str


@pytest_asyncio.fixture
async def two_officers(
    dev_env: WorkflowEnvironment, db_pool: asyncpg.Pool
) -> AsyncIterator[tuple[PartnerDesk, Officer, Officer]]:
    desk = make_desk(dev_env.client, db_pool)
    async with office_client(desk) as first, office_client(desk) as second:
        one = Officer(first, await signed_in(first, db_pool, "officer"))
        two = Officer(second, await signed_in(second, db_pool, "officer"))
        yield desk, one, two


async def import_draft(
    http: httpx.AsyncClient, text: str, filename: str, lang: str = "fr"
) -> tuple[httpx.Response, str]:
    """A file imported as a new draft: the editor's page and the draft's id."""
    drafts = await http.get("/office/editor")
    assert drafts.status_code == 200, drafts.text
    page = await http.post(
        f"/office/editor?lang={lang}",
        data={"csrf": csrf_of(drafts), "action": "import"},
        files={"file": (filename, text.encode(), "application/yaml")},
    )
    forms = lxml.html.fromstring(page.text).forms
    action = next(str(f.action) for f in forms if str(f.action).count("/") == 3)
    return page, action.rsplit("/", 1)[1]


def form_values(page: httpx.Response, draft_id: str) -> dict[str, str]:
    """What the editor's form would post as it is shown (its inputs, selects, textareas)."""
    [form] = [f for f in lxml.html.fromstring(page.text).forms if str(f.action).endswith(draft_id)]
    values = dict(form.form_values())
    assert len(values) == len(form.form_values()), "an input name given twice"
    return values


def beside(page: httpx.Response, path: str) -> str:
    """The error said beside the input of this field path."""
    element_id = "f-" + path.replace(".", "-") + "-error"
    found = lxml.html.fromstring(page.text).get_element_by_id(element_id, None)
    assert found is not None, f"no error beside {path}"
    return str(found.text_content()).replace("\u2068", "").replace("\u2069", "")


async def stored(pool: asyncpg.Pool, draft_id: str) -> tuple[dict[str, Any], int]:
    row = await pool.fetchrow("SELECT document, version FROM office_drafts WHERE id = $1", draft_id)
    assert row is not None
    return json.loads(row["document"]), row["version"]


def as_yaml(data: dict[str, Any]) -> str:
    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False)


async def test_an_import_with_ten_errors_shows_all_ten_beside_their_fields_in_french(
    two_officers: tuple[PartnerDesk, Officer, Officer], db_pool: asyncpg.Pool
) -> None:
    _desk, officer, _ = two_officers
    page, draft_id = await import_draft(officer.http, as_yaml(ten_mistakes()), "ten.yaml")

    assert page.status_code == 200, page.text
    assert "10 erreurs" in page.text
    assert "Partie inconnue nobody" in beside(page, "signatories.0.party")
    assert "Signataire inconnu ghost" in beside(page, "stages.1.signatories.5")
    assert "Au moins 1." in beside(page, "stages.0.due_in_days")
    assert "Pas une adresse électronique." in beside(page, "officer.email")
    assert "Choisissez parmi : 'framework', 'specific'," in beside(page, "kind")
    assert "ligne" in beside(page, "stages.0.due_in_days")  # where the file held it
    for path in TEN_MISTAKES:
        if path not in ("title", "parties", "kind", "officer.email", "parent"):
            continue
        assert beside(page, path), path
    document, version = await stored(db_pool, draft_id)
    assert document["signatories"][0]["party"] == "nobody" and version == 1  # kept as it is

    # The desk's upload (`/office/start`) lists the same ten, each with its line and column.
    form = await officer.http.get("/office/start")
    uploaded = await officer.http.post(
        "/office/start",
        data={"csrf": csrf_of(form)},
        files={"file": ("ten.yaml", as_yaml(ten_mistakes()).encode(), "application/yaml")},
    )
    assert uploaded.status_code == 422
    [refusal] = lxml.html.fromstring(uploaded.text).find_class("refusal")
    listed = [str(item.text_content()) for item in refusal.findall("li")]
    assert len(listed) == 10 and all("(ligne " in item for item in listed), listed


async def test_the_form_posts_back_every_field_of_every_stage_unchanged(
    two_officers: tuple[PartnerDesk, Officer, Officer], db_pool: asyncpg.Pool
) -> None:
    _desk, officer, _ = two_officers
    for name in ("tanger-four-conventions", "mre-academy", "tamansourt-cite-des-metiers"):
        original = read_document(EXAMPLES / f"{name}.yaml")
        original = json.loads(json.dumps(original, ensure_ascii=False, default=str))
        page, draft_id = await import_draft(officer.http, as_yaml(original), f"{name}.yaml")
        assert "erreur" not in page.text, page.text
        saved = await officer.http.post(
            f"/office/editor/{draft_id}", data=form_values(page, draft_id) | {"action": "save"}
        )
        assert saved.status_code == 200, saved.text
        document, version = await stored(db_pool, draft_id)
        assert Convention.model_validate(document) == Convention.model_validate(original), name
        assert version == 2


async def test_rows_added_past_the_schemas_bound_are_said_beside_the_field(
    two_officers: tuple[PartnerDesk, Officer, Officer],
) -> None:
    _desk, officer, _ = two_officers
    data = example("mre-academy").model_dump(mode="json", exclude_none=True)
    mission = next(i for i, s in enumerate(data["stages"]) if s["stage"] == "mission")
    page, draft_id = await import_draft(officer.http, as_yaml(data), "mre.yaml")
    values = form_values(page, draft_id)
    for n in range(MAX_AGENDA_ITEMS):  # 2 already: 62 once posted
        base = f"stages.{mission}.agenda.{100 + n}"
        values |= {f"{base}.id": f"item-{n}", f"{base}.kind": "meeting", f"{base}.title": "R"}
    refused = await officer.http.post(
        f"/office/editor/{draft_id}?lang=en", data=values | {"action": "save"}
    )

    assert refused.status_code == 422
    assert f"At most {MAX_AGENDA_ITEMS} rows." in beside(refused, f"stages.{mission}.agenda")
    assert 'value="item-59"' in refused.text  # what was typed, shown again

    # The mission ending before it starts: said beside its end date, in French.
    values = form_values(refused, draft_id) | {f"stages.{mission}.ends_on": "2021-01-01"}
    backwards = await officer.http.post(f"/office/editor/{draft_id}", data=values)
    assert "Finit avant de commencer (2021-02-08)." in beside(
        backwards, f"stages.{mission}.ends_on"
    )


async def test_two_officers_saving_the_same_version_the_second_is_told_and_nothing_is_overwritten(
    two_officers: tuple[PartnerDesk, Officer, Officer], db_pool: asyncpg.Pool
) -> None:
    _desk, one, two = two_officers
    data = example("bamako-cooperation").model_dump(mode="json", exclude_none=True)
    page, draft_id = await import_draft(one.http, as_yaml(data), "bamako.yaml")
    assert (await two.http.get(f"/office/editor/{draft_id}")).status_code == 404  # not theirs
    shared = await one.http.post(
        f"/office/editor/{draft_id}/share", data={"csrf": csrf_of(page), "email": two.email}
    )
    assert shared.status_code == 200 and two.email in shared.text
    theirs = await two.http.get(f"/office/editor/{draft_id}")
    assert theirs.status_code == 200

    first = dict(form_values(page, draft_id)) | {"title": "Titre de la première", "action": "save"}
    second = dict(form_values(theirs, draft_id)) | {"title": "Titre de la seconde"}
    assert (await one.http.post(f"/office/editor/{draft_id}", data=first)).status_code == 200
    stale = await two.http.post(f"/office/editor/{draft_id}", data=second | {"action": "save"})

    assert stale.status_code == 409
    assert "Un autre chargé de coopération a modifié ce brouillon" in stale.text
    assert 'value="Titre de la seconde"' in stale.text  # what they typed, not lost
    document, version = await stored(db_pool, draft_id)
    assert document["title"] == "Titre de la première" and version == 2


async def test_a_party_from_the_directory_and_one_archived_since_are_said(
    two_officers: tuple[PartnerDesk, Officer, Officer], db_pool: asyncpg.Pool
) -> None:
    _desk, officer, _ = two_officers
    party_id = fresh_id()
    convention = await registered(db_pool, funding_file(party_id, [FUNDER]))
    funder = convention.party(party_id)
    drafts = await officer.http.get("/office/editor")
    created = await officer.http.post(
        "/office/editor", data={"csrf": csrf_of(drafts), "action": "new"}
    )
    assert created.status_code == 303
    draft_id = created.headers["location"].rsplit("/", 1)[1]
    page = await officer.http.get(f"/office/editor/{draft_id}")
    added = await officer.http.post(
        f"/office/editor/{draft_id}",
        data=form_values(page, draft_id) | {"action": "directory", "directory_party": funder.id},
    )
    assert added.status_code == 200, added.text
    document, _ = await stored(db_pool, draft_id)
    [party] = document["parties"]
    assert party["id"] == funder.id and party["kind"] == "funder"
    assert [c["name"] for c in party["contacts"]] == [FUNDER["name"]]

    await archive_organisation(db_pool, TEST_ADMIN, funder.id)
    try:
        reopened = await officer.http.get(f"/office/editor/{draft_id}")
        assert "Cet organisme est archivé dans l’annuaire." in reopened.text
    finally:
        await archive_organisation(db_pool, TEST_ADMIN, funder.id, archived=False)


async def test_export_and_import_round_trip_and_a_start_refused_for_a_used_id_keeps_the_draft(
    two_officers: tuple[PartnerDesk, Officer, Officer], client: Client, db_pool: asyncpg.Pool
) -> None:
    desk, officer, _ = two_officers
    data = example("bamako-cooperation").model_dump(mode="json", exclude_none=True)
    await registered(db_pool, Convention.model_validate(data))
    _page, draft_id = await import_draft(officer.http, as_yaml(data), "bamako.yaml")
    as_yaml_file = await officer.http.get(f"/office/editor/{draft_id}/export.yaml")
    as_json_file = await officer.http.get(f"/office/editor/{draft_id}/export.json")
    assert as_yaml_file.headers["content-disposition"].endswith('.yaml"')

    _, from_yaml = await import_draft(officer.http, as_yaml_file.text, "again.yaml")
    _, from_json = await import_draft(officer.http, as_json_file.text, "again.json")
    original, _ = await stored(db_pool, draft_id)
    assert (await stored(db_pool, from_yaml))[0] == original
    assert (await stored(db_pool, from_json))[0] == original

    # Start the YAML one from the editor; the JSON one (the same id) is refused, kept.
    preview = await officer.http.get(f"/office/editor/{from_yaml}/preview")
    assert preview.status_code == 200, preview.text
    assert "Plan des étapes" in preview.text and "notifié" in preview.text
    started = await officer.http.post(
        f"/office/editor/{from_yaml}/start", data={"csrf": csrf_of(preview), "version": "1"}
    )
    assert started.status_code == 303, started.text
    assert started.headers["location"] == f"/office/conventions/{data['id']}"
    handle = client.get_workflow_handle(workflow_id_for(data["id"]))
    running = await desk.convention(data["id"])
    assert running == Convention.model_validate(original)

    second = await officer.http.get(f"/office/editor/{from_json}/preview")
    refused = await officer.http.post(
        f"/office/editor/{from_json}/start", data={"csrf": csrf_of(second), "version": "1"}
    )
    assert refused.status_code == 409
    assert "Cette convention est déjà en cours" in refused.text
    assert f'href="/office/conventions/{data["id"]}"' in refused.text
    assert "Le brouillon est gardé tel quel." in refused.text
    kept, version = await stored(db_pool, from_json)
    assert kept == original and version == 1
    assert (
        await db_pool.fetchval("SELECT started_as FROM office_drafts WHERE id = $1", from_json)
        is None
    )
    # "Copy from an existing convention": a new draft from its file, under a new id.
    listed = await officer.http.get("/office/editor")
    copied = await officer.http.post(
        "/office/editor",
        data={"csrf": csrf_of(listed), "action": "copy", "convention_id": data["id"]},
    )
    assert copied.status_code == 303, copied.text
    copy_document, _ = await stored(db_pool, copied.headers["location"].rsplit("/", 1)[1])
    assert copy_document == original | {"id": f"{data['id']}-copy"}
    await handle.terminate(reason="editor test: started, that is all we check")


async def test_a_refused_answer_on_a_partners_behalf_shows_the_form_again_with_what_was_typed(
    two_officers: tuple[PartnerDesk, Officer, Officer], client: Client, db_pool: asyncpg.Pool
) -> None:
    _desk, officer, _ = two_officers
    data = example("mre-academy").model_dump(mode="json", exclude_none=True)
    data["stages"] = [copy.deepcopy(s) for s in data["stages"] if s["stage"] == "mission"]
    convention = Convention.model_validate(data)
    await start_convention(client, convention, DEV_TASK_QUEUE)
    status = None
    for _ in range(100):
        status = await convention_status(client, convention.id)
        if status.open_tasks:
            break
    assert status is not None and status.open_tasks
    task = status.open_tasks[0]
    path = f"/office/conventions/{convention.id}/tasks/{task.id}"
    form = await officer.http.get(path)
    assert form.status_code == 200, form.text

    # One agenda item said held, the other forgotten: the workflow refuses the answer.
    refused = await officer.http.post(
        path + "?lang=en",
        data={"csrf": csrf_of(form), "agenda.visit-sale": "held", "comments": "Bien reçus."},
    )

    assert refused.status_code == 409, refused.text
    agenda = refused.text.split('id="field-agenda"')[1].split("</fieldset>")[0]
    assert "visit-kenitra" in agenda and "held or cancelled" in agenda  # beside the field
    assert 'value="held" checked' in refused.text
    assert "Bien reçus." in refused.text
    await client.get_workflow_handle(workflow_id_for(convention.id)).terminate(reason="test")


def test_every_string_of_the_editor_is_in_the_three_catalogues() -> None:
    templates = Path(web.__file__).parent / "templates" / "office"
    shown = {
        message
        for name in ("editor.html", "editor_drafts.html", "editor_preview.html")
        for message in re.findall(r'_\("([^"]+)"\)', (templates / name).read_text("utf-8"))
    }
    shown |= (
        set(LABELS.values())
        | set(MESSAGES.values())
        | set(ROW_LABELS.values())
        | {STALE, POSITION, EMAIL, ENDS_BEFORE}
    )
    assert len(shown) > 100
    for language in LANGUAGES:
        path = Path(web.__file__).parent / "locales" / language / "LC_MESSAGES" / "messages.po"
        with path.open("rb") as po:
            catalogue = read_po(po, locale=language)
        for message in shown:
            assert message in catalogue, f"{language}: {message!r} missing"
            if language != "en":
                assert catalogue[message].string, f"{language}: {message!r} untranslated"
    assert gettext("ar", "Convention editor") == "محرر الاتفاقيات"


def expected_follow_ups(
    convention: Convention, index: int, now: datetime
) -> tuple[datetime, datetime | None, datetime, timedelta]:
    """What the workflow itself would do with a stage's first task: the board's reminder
    policy for the stage (TaskBoard.reminders) stepped through its own schedule
    (`next_follow_up`), as the board applies each follow-up."""
    spec = convention.stages[index]
    board = TaskBoard(convention)
    board.enter_stage(spec)
    task = editor.first_task(convention, spec, now)
    reminder = None
    when, follow_up = next_follow_up(task, board.reminders) or (None, None)
    if follow_up == "remind_before_due":
        reminder = when
        task = task.model_copy(update={"reminded_before_due": True})
        when, follow_up = next_follow_up(task, board.reminders) or (None, None)
    assert follow_up == "escalate" and when is not None
    escalated = task.model_copy(update={"escalated": True})
    late, follow_up = next_follow_up(escalated, board.reminders) or (None, None)
    assert follow_up == "remind_late" and late is not None
    return task.due_at, reminder, when, late - task.due_at


def test_the_previews_reminders_are_the_workflows_own_schedule() -> None:
    bamako = example("bamako-cooperation")
    ends_on = bamako.stages[0].ends_on  # type: ignore[union-attr]
    now = datetime.combine(ends_on - timedelta(days=30), time(9, 30), tzinfo=UTC)
    # A stage of its own policy (no reminder before the due date), one due sooner than the
    # reminder would come (none either), and the convention's own policy for the rest.
    diagnostic, funding = bamako.stages[1], bamako.stages[2]
    varied = bamako.model_copy(
        update={
            "reminders": ReminderPolicy(before_due_days=5, late_every_days=4),
            "stages": [
                bamako.stages[0],
                diagnostic.model_copy(update={"due_in_days": 4}),
                funding.model_copy(
                    update={"reminders": ReminderPolicy(before_due_days=None, late_every_days=2)}
                ),
            ],
        }
    )
    conventions = [varied] + [example(n) for n in ("mre-academy", "tanger-four-conventions")]
    for convention in conventions:
        planned = editor.plan(convention, now)
        for index, stage in enumerate(planned):
            due, reminder, escalation, late_every = expected_follow_ups(convention, index, now)

            def said(moment: datetime | None, absolute: bool) -> str:
                if moment is None:
                    return ""
                return moment.date().isoformat() if absolute else f"+{(moment - now).days}"

            absolute = index == 0 or stage.stage == "mission"
            assert stage.due == said(due, absolute), (convention.id, stage)
            assert stage.reminder == said(reminder, absolute), (convention.id, stage)
            assert stage.escalation == said(escalation, absolute), (convention.id, stage)
            assert timedelta(days=stage.late_every_days) == late_every, (convention.id, stage)

    # Said plainly for the varied Bamako: the mission's host reminded 5 days before the
    # mission's last day, the diagnostic's findings never (due in 4), the funding decision
    # never (its stage's policy), late reminders every 4 then every 2 days.
    mission, findings, decision = editor.plan(varied, now)
    assert (mission.due, mission.reminder) == (str(ends_on), str(ends_on - timedelta(days=5)))
    assert (findings.due, findings.reminder, findings.escalation) == ("+4", "", "+4")
    assert (decision.reminder, decision.late_every_days) == ("", 2)
    assert (findings.late_every_days, mission.late_every_days) == (4, 4)


async def submitted(page: Any, selector: str) -> None:
    """Click a button of the editor's form and wait for the page its post answers."""
    async with page.expect_navigation():
        await page.click(selector)


async def said_beside(page: Any, path: str) -> str:
    """The error shown beside a field in the browser, its isolated values unwrapped."""
    text = await page.inner_text("#f-" + path.replace(".", "-") + "-error")
    return str(text).replace("\u2068", "").replace("\u2069", "")


SEARCHED = "photovoltaïques"
"""A word of the French convention's title, searched for in the list."""


@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed")
async def test_an_arabic_import_and_a_blank_french_convention_fixed_previewed_started_listed(
    dev_env: WorkflowEnvironment, db_pool: asyncpg.Pool, tmp_path: Path
) -> None:
    """The editor's day in Chromium: in Arabic, a file of three mistakes imported, fixed,
    previewed, started; in French, a blank convention written in the forms row by row
    (parties picked from the directory, signatories, a sequential signature, a funding
    request) with three mistakes made on purpose, all said at once beside their fields,
    fixed, previewed with its reminders, started, then found in the list by a word of its
    title. axe scans the drafts, the editor's errors and the preview; the screenshots are
    kept under tests/artifacts/."""
    from playwright.async_api import async_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    data = example("bamako-cooperation").model_dump(mode="json", exclude_none=True)
    del data["title"]
    data["parties"][1]["country"] = "Mali"
    assert data["stages"][2]["stage"] == "funding_request"
    data["stages"][2]["requested"]["amount"] = "-5"
    spoiled = tmp_path / "bamako.yaml"
    spoiled.write_text(as_yaml(data), "utf-8")
    # Two organisations of the directory the French convention picks: a training office and
    # a funder of this test's own.
    funder_id = fresh_id("fonds")
    await registered(db_pool, funding_file(funder_id, [FUNDER]))
    port = free_port()
    app = create_app(make_desk(dev_env.client, db_pool), task_queue=DEV_TASK_QUEUE)
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, access_log=False)
    )
    serving = asyncio.create_task(server.serve())
    base = f"http://127.0.0.1:{port}"
    email = await new_account(db_pool, "officer", name="Awa Diallo")
    blank_id = f"{data['id']}-pv"
    try:
        async with async_playwright() as playwright:
            browser = await launch_chromium(playwright, tmp_path / "chromium-profile")
            page = await browser.new_page()
            await page.goto(f"{base}/office/signin?lang=ar")
            await page.fill("#email", email)
            await page.fill("#password", PASSWORD)
            await page.click("button.primary")
            await page.wait_for_selector("#code")
            secret = (await page.inner_text("dd.ref >> nth=0")).strip()
            await page.fill("#code", pyotp.TOTP(secret).now())
            await page.click("button.primary")
            await page.wait_for_selector("ul.ref li")
            # The language chosen on the editor's own page (which it returns to): the
            # portfolio's charts are not drawn on the way.
            await page.goto(f"{base}/office/editor")
            await page.select_option("#language", "ar")
            async with page.expect_navigation():
                await page.click("form[action='/office/language'] button")
            assert await page.get_attribute("html", "dir") == "rtl"
            await no_accessibility_violations(page, "drafts")

            await page.set_input_files("#import-file", str(spoiled))
            await page.click("button[value='import']")
            await page.wait_for_selector("form.editor")
            assert "3 أخطاء" in await page.inner_text("main")
            # (axe scans the editor's errors in French below: the same markup, right to left
            # here; the screenshot shows the Arabic)
            await page.screenshot(path=str(ARTIFACTS / "editor-1-three-mistakes-ar.png"))
            await page.fill("#f-title", "تعاون مع مالي — Coopération avec le Mali")
            await page.fill("#f-parties-1-country", "ML")
            await page.fill("#f-stages-2-requested-amount", "36 000 000")
            await page.click("p.actions button[value='save'] >> nth=0")
            await page.wait_for_selector("p.receipt")
            assert not await page.query_selector("p.error")

            await page.click("p.actions button[value='preview'] >> nth=0")
            await page.wait_for_selector("ol.plan")
            # (and the preview in French)
            await page.screenshot(path=str(ARTIFACTS / "editor-2-preview-ar.png"), full_page=True)
            await page.click("form[action$='/start'] button")
            await page.wait_for_url(f"{base}/office/conventions/{data['id']}")

            # The same day in French, on the same stack: a blank convention written in the
            # forms, row by row, each row added by submitting (no script needed).
            await page.goto(f"{base}/office/editor")
            await page.select_option("#language", "fr")
            async with page.expect_navigation():
                await page.click("form[action='/office/language'] button")
            assert await page.get_attribute("html", "lang") == "fr"
            await submitted(page, "button[value='new']")
            await page.fill("#f-id", blank_id)
            await page.fill("#f-title", f"Formation aux métiers {SEARCHED} — Settat")
            for organisation in ("ofppt", funder_id):
                await page.select_option("#directory-party", organisation)
                await submitted(page, "button[value='directory']")
            assert await page.input_value("#f-parties-1-id") == funder_id
            signatories = [
                ("dg-ofppt", "Loubna Tazi", "Directrice générale", "ofppt"),
                # Mistake 1: a party the convention does not name.
                ("dg-fonds", "Fatima Zahra El Alaoui", "Directrice", "fonds-inconnu"),
            ]
            for number, (signatory_id, name, capacity, party) in enumerate(signatories):
                await submitted(page, "button[value='add:signatories']")
                row = f"#f-signatories-{number}"
                await page.fill(f"{row}-id", signatory_id)
                await page.fill(f"{row}-name", name)
                await page.fill(f"{row}-capacity", capacity)
                await page.fill(f"{row}-party", party)
            await page.select_option("#new-stage", "signature")
            await submitted(page, "button[value='add:stages']")
            for number, (signatory_id, *_) in enumerate(signatories):
                await submitted(page, "button[value='add:stages.0.signatories']")
                await page.fill(f"#f-stages-0-signatories-{number}", signatory_id)
            await page.select_option("#f-stages-0-order", "sequential")
            await page.fill("#f-stages-0-due_in_days", "0")  # mistake 2: no day to sign in
            await page.select_option("#new-stage", "funding_request")
            await submitted(page, "button[value='add:stages']")
            await page.fill("#f-stages-1-funder", funder_id)
            await page.fill("#f-stages-1-terms_of_reference-uri", "https://example.org/tdr.pdf")
            await page.fill("#f-stages-1-requested-amount", "-250 000")  # mistake 3
            await page.select_option("#f-stages-1-requested-currency", "MAD")
            await submitted(page, "p.actions button[value='save'] >> nth=0")

            # All three at once, each beside its field, in French.
            assert "3 erreurs" in await page.inner_text("main")
            assert "Partie inconnue fonds-inconnu" in await said_beside(page, "signatories.1.party")
            assert "Au moins 1." in await said_beside(page, "stages.0.due_in_days")
            assert "Au moins 0." in await said_beside(page, "stages.1.requested.amount")
            assert await page.input_value("#f-stages-1-requested-amount") == "-250000"
            await no_accessibility_violations(
                page, "a blank convention with three errors, in French"
            )
            await page.screenshot(
                path=str(ARTIFACTS / "editor-3-three-mistakes-fr.png"), full_page=True
            )
            await page.fill("#f-signatories-1-party", funder_id)
            await page.fill("#f-stages-0-due_in_days", "15")
            await page.fill("#f-stages-1-requested-amount", "2 500 000")
            await submitted(page, "p.actions button[value='save'] >> nth=0")
            assert "Brouillon enregistré." in await page.inner_text("p.receipt")
            assert not await page.query_selector("p.error")

            await submitted(page, "p.actions button[value='preview'] >> nth=0")
            plan = await page.inner_text("ol.plan")
            first_due = date.fromisoformat(plan.split("échéance ", 1)[1][:10])
            assert "rappel" in plan and "escaladée au chargé de coopération" in plan, plan
            assert "tous les 7 jours" in plan, plan
            await no_accessibility_violations(page, "preview, in French")
            await page.screenshot(path=str(ARTIFACTS / "editor-4-preview-fr.png"), full_page=True)
            await page.click("form[action$='/start'] button")
            await page.wait_for_url(f"{base}/office/conventions/{blank_id}")

            # Found in the list by a word of its title (the read model may lag a moment).
            await page.goto(f"{base}/office/conventions?q={SEARCHED}")
            assert await page.input_value("#q") == SEARCHED
            listed = f"table.tasks a[href='/office/conventions/{blank_id}']"
            for _ in range(20):
                if await page.query_selector(listed):
                    break
                await asyncio.sleep(0.5)
                await page.reload()
            else:
                raise AssertionError(await page.inner_text("main"))
            # Its next task is due when the preview said (the workflow's own date).
            row = await page.inner_text(
                f"table.tasks tr:has(a[href='/office/conventions/{blank_id}'])"
            )
            assert format_date(first_due, "d MMMM y", locale="fr") in row, row
            # (the list's markup is scanned by axe in tests/test_office_conventions.py)
            await page.screenshot(path=str(ARTIFACTS / "editor-5-listed-fr.png"), full_page=True)
            await browser.close()
        for started_id in (data["id"], blank_id):
            handle = dev_env.client.get_workflow_handle(workflow_id_for(started_id))
            assert (await handle.describe()).status is not None
    finally:
        server.should_exit = True
        await serving
        for started_id in (data["id"], blank_id):
            with contextlib.suppress(RPCError):
                await dev_env.client.get_workflow_handle(workflow_id_for(started_id)).terminate(
                    reason="editor browser test"
                )
