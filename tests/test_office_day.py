"""An officer's day, the pieces issue 26 still lacked: tasks named by title in the list and
the office's tasks, a page just after an action showing what it produced (a fresh
convention's first task, never "no open task"), "already running" on a second start, the
convention page's contacts, dates, amounts and needs, reassigning by picking a contact,
notices that say what was done, deliveries in words, a chart opened alone (its own CSP),
the indicators as shares of their targets, the inspector's bundle as a zip, an impossible
YAML date among the file's other errors, and languages remembered per account and per
contact. Over the real app, PostgreSQL and the Temporal dev server (with its worker)."""

from __future__ import annotations

import asyncio
import io
import re
import uuid
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pyotp
import pytest
import uvicorn
import yaml
from temporalio.testing import WorkflowEnvironment

from application.conventions import (
    convention_status,
    find_task,
    start_convention,
    terminate_convention,
)
from application.office.overview import delivery_words
from auditing.bundle import check_bundle
from devkit.polling import eventually
from devkit.stack import free_port
from schemas.convention_file import parse_convention
from schemas.errors import FieldError, InputError
from schemas.officer_actions import TerminateConvention
from storage import contact_sessions
from storage import directory as directory_store
from storage.contact_sessions import ContactSession
from storage.purge import purge_expired
from storage.read_model import record_convention_file
from tests.browser import CHROMIUM, launch_chromium
from tests.conftest import example
from tests.partner_stack import COLLEAGUE, DECISION, FUNDER, funding_convention, make_desk
from tests.stage_desk import convention_of
from tests.test_office_browser import no_accessibility_violations
from tests.test_office_desk import (
    PASSWORD,
    csrf_of,
    new_account,
    office_client,
    sign_in,
    signed_in,
)
from tests.test_partner_browser import ARTIFACTS
from web import editor_form
from web.app import create_app
from web.office import _chart
from worker import build_worker

DRAFTING = {"stage": "drafting", "document": {"uri": "docs/draft.pdf"}, "reviewers": ["psa"]}


async def _seed_with_a_titled_task(pool: asyncpg.Pool, convention_id: str, word: str) -> None:
    """A convention in the read model whose next task the inbox has recorded by title, and
    one whose task it has not recorded yet."""
    convention = convention_of(DRAFTING, id=convention_id, title=f"Convention {word}")
    await record_convention_file(pool, convention)
    due = datetime.now(UTC) + timedelta(days=3)
    await pool.execute(
        "INSERT INTO office_tasks (convention_id, task_id, kind, party, stage, due_at)"
        " VALUES ($1, 'signature.sign.psa-dg', 'sign', 'psa', 'signature', $2)",
        convention_id,
        due,
    )
    await pool.execute(
        "INSERT INTO tasks (convention_id, task_id, stage, kind, assignee, title, assigned_at,"
        " due_at, status) VALUES ($1, 'signature.sign.psa-dg', 'signature', 'sign', 'psa',"
        " 'Sign the convention as Karim Idrissi, Directeur général', now(), $2, 'open')",
        convention_id,
        due,
    )


async def test_the_list_names_the_next_task_by_its_title_in_the_readers_language(
    dev_env: WorkflowEnvironment, db_pool: asyncpg.Pool
) -> None:
    word = f"jour{uuid.uuid4().hex[:8]}"
    titled, untitled = f"day-{word}-titled", f"day-{word}-untitled"
    await _seed_with_a_titled_task(db_pool, titled, word)
    bare = convention_of(DRAFTING, id=untitled, title=f"Autre {word}")
    await record_convention_file(db_pool, bare)
    await db_pool.execute(
        "INSERT INTO office_tasks (convention_id, task_id, kind, party, stage, due_at)"
        " VALUES ($1, 'drafting.review.psa', 'review_draft', 'psa', 'drafting', now())",
        untitled,
    )
    async with office_client(make_desk(dev_env.client, db_pool)) as http:
        await signed_in(http, db_pool, "officer")
        listed = await http.get("/office/conventions", params={"q": word})
        assert listed.status_code == 200, listed.text[:2000]
        assert "Signer la convention en tant que" in listed.text
        assert "Karim Idrissi" in listed.text
        # Not yet in the inbox: its kind in words, and its id for want of a title.
        assert "drafting.review.psa" in listed.text
        arabic = await http.get("/office/conventions", params={"q": word, "lang": "ar"})
        assert "Signer la convention" not in arabic.text and "Karim Idrissi" in arabic.text


async def test_a_fresh_convention_shows_its_first_task_and_a_second_start_says_already_running(
    dev_env: WorkflowEnvironment, db_pool: asyncpg.Pool
) -> None:
    desk = make_desk(dev_env.client, db_pool)
    convention = example("bamako-cooperation")
    document = yaml.safe_dump(
        convention.model_dump(mode="json", exclude_none=True), allow_unicode=True
    )
    form = {"document": document, "filename": "bamako.yaml", "action": "start"}
    async with office_client(desk) as http:
        await signed_in(http, db_pool, "officer")
        csrf = csrf_of(await http.get("/office/start"))
        started = await http.post("/office/start", data={"csrf": csrf, **form})
        assert started.status_code == 303, started.text
        page = await http.get(started.headers["location"])
        assert page.status_code == 200
        # Read your own write: the page after the start shows the first open task.
        assert "Aucune tâche ouverte." not in page.text
        assert "/tasks/" in page.text or "Mise à jour en cours" in page.text
        if "Mise à jour en cours" in page.text:  # the bounded wait ran out: it says so
            assert f'url=/office/conventions/{convention.id}"' in page.text
        again = await http.post("/office/start", data={"csrf": csrf, **form})
        assert again.status_code == 409
        assert "Cette convention est déjà en cours" in again.text
        assert f'href="/office/conventions/{convention.id}"' in again.text
        assert "retention" not in again.text


async def test_the_convention_page_says_who_what_when_how_much_and_reassigns_by_picking(
    dev_env: WorkflowEnvironment, db_pool: asyncpg.Pool
) -> None:
    desk = make_desk(dev_env.client, db_pool)
    convention = await funding_convention(dev_env.client, db_pool, [FUNDER, COLLEAGUE])
    await record_convention_file(db_pool, convention)  # as the desk's start records it
    path = f"/office/conventions/{convention.id}"
    async with office_client(desk) as http:
        await signed_in(http, db_pool, "officer")
        page = await eventually(
            lambda: http.get(path), lambda shown: "pas de webhook" in shown.text
        )
        text = page.text
        # Parties by name with their contacts (the directory's), dates and amounts (Babel).
        assert FUNDER["name"] in text and f'href="mailto:{FUNDER["email"]}"' in text
        assert "Prochaine échéance" in text and "Démarrée le" in text
        # What the open task needs, in words.
        assert "Approuvez la demande avec le montant accordé" in text
        # Reassigning picks a person of the party from the directory: a select of their
        # ids, not a typed name.
        colleague = await directory_store.person_by_email(db_pool, COLLEAGUE["email"])
        assert colleague is not None
        assert '<select id="reassign-contact" name="contact"' in text
        assert f'<option value="{colleague.id}">' in text
        assert '<input id="reassign-contact"' not in text
        # Answering for the party picks a decision by its label; the value stays the code.
        assert '<select id="answer-decision" name="decision">' in text
        assert '<option value="approve">Approuver</option>' in text
        assert (
            '<option value="more_information">Demander des informations complémentaires</option>'
            in text
        )
        assert "retry, dismiss" not in text
        # The webhook the party never declared: one line, not a row per notification.
        lines = re.findall(r"<li><bdi>([^<]+)</bdi>: ([^<]+)</li>", text)
        parties = [party for party, _said in lines]
        assert len(parties) == len(set(parties)), lines  # one line a party
        assert any("(BID)" in party and "pas de webhook" in said for party, said in lines), lines
        assert "declares no webhook_url" not in text and "no_channel" not in text
        csrf = csrf_of(page)
        tampered = await http.post(
            f"{path}/reassign",
            data={"csrf": csrf, "task_id": DECISION, "contact": "Nobody", "reason": "r"},
        )
        assert tampered.status_code == 422
        assert "l’annuaire ne connaît pas cette personne" in tampered.text
        impossible = await http.post(
            f"{path}/postpone",
            data={"csrf": csrf, "task_id": DECISION, "to": "2027-02-31", "reason": "r"},
        )
        assert impossible.status_code == 422
        reassigned = await http.post(
            f"{path}/reassign",
            data={
                "csrf": csrf,
                "task_id": DECISION,
                "contact": colleague.id,
                "reason": "en congé",
            },
        )
        assert reassigned.status_code == 200, reassigned.text
        # The notice says what was done (not "Done."), and the page shows it done.
        assert f"a été confiée à {COLLEAGUE['name']}" in reassigned.text
        assert "Fait." not in reassigned.text


def test_deliveries_are_said_in_words() -> None:
    def said(channel: str, status: str, code: int | None) -> tuple[str, str]:
        return delivery_words({"channel": channel, "status": status, "last_response_code": code})

    assert said("webhook", "delivered", 200) == ("delivered", "")
    assert said("webhook", "failed", 401)[1].startswith("the party's server refused the sig")
    assert said("webhook", "retrying", 503)[1] == "the party's server failed while receiving it"
    assert said("webhook", "failed", None)[1] == "the party's server could not be reached"
    assert said("email", "failed", None)[1] == "the mail server did not accept the message"


async def test_a_chart_opened_alone_carries_its_own_policy_and_pages_keep_theirs(
    dev_env: WorkflowEnvironment, db_pool: asyncpg.Pool
) -> None:
    async with office_client(make_desk(dev_env.client, db_pool)) as http:
        await signed_in(http, db_pool, "officer")
        chart = await http.get("/office/charts/stages.svg")
        assert chart.status_code == 200
        policies = chart.headers.get_list("content-security-policy")
        # One policy: two would both apply and the stricter (no inline style) would win.
        assert len(policies) == 1, policies
        assert "style-src 'unsafe-inline'" in policies[0] and "script" not in policies[0]
        assert "default-src 'none'" in policies[0]
        page = await http.get("/office")
        assert page.headers.get_list("content-security-policy") == [
            "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
            "frame-ancestors 'none'; base-uri 'none'"
        ]


def test_the_indicators_chart_draws_shares_of_targets_not_units_on_one_axis() -> None:
    rows: list[dict[str, Any]] = [
        {"convention_id": "maalam", "indicator": "trainees", "target": 3000, "actual": 1500},
        {"convention_id": "maalam", "indicator": "rate", "target": 80, "actual": 60},
        {"convention_id": "tamansourt", "indicator": "centres", "target": 0, "actual": 2},
        # A target null in its file (the full query reads it as NULL): no bar, no figure.
        {"convention_id": "tamansourt", "indicator": "visits", "target": None, "actual": 4},
    ]
    svg = _chart("indicators", rows, "fr")
    assert "Indicateurs : part de chaque cible atteinte (%)" in svg
    assert "trainees (1,500 / 3,000)" in svg and "rate (60 / 80)" in svg
    assert "visits (4 / —)" in svg
    # No "target"/"actual" series in units any more.
    assert ">cible<" not in svg and ">réalisé<" not in svg


async def test_the_inspectors_bundle_downloads_as_a_zip_that_check_bundle_accepts(
    dev_env: WorkflowEnvironment, db_pool: asyncpg.Pool, tmp_path: Path
) -> None:
    convention = await funding_convention(dev_env.client, db_pool)
    audit = f"/office/audit/{convention.id}"
    async with office_client(make_desk(dev_env.client, db_pool)) as http:
        email = await signed_in(http, db_pool, "auditor")
        shown = await http.get(audit)
        assert f'href="{audit}/bundle.zip"' in shown.text
        bundle = await http.get(f"{audit}/bundle.zip")
        assert bundle.status_code == 200, bundle.text[:500]
        assert bundle.headers["content-type"] == "application/zip"
        assert "attachment" in bundle.headers["content-disposition"]
        assert (await http.get("/office/audit/no-such-convention/bundle.zip")).status_code == 404
    with zipfile.ZipFile(io.BytesIO(bundle.content)) as archive:
        names = archive.namelist()
        assert all(name.startswith(f"{convention.id}-bundle/") for name in names)
        archive.extractall(tmp_path)
    folder = tmp_path / f"{convention.id}-bundle"
    assert {"manifest.json", "report.pdf", "milestones.jsonl"} <= {p.name for p in folder.iterdir()}
    checked = await check_bundle(folder, dev_env.client.data_converter)
    assert checked.ok, checked.failures
    logged = await db_pool.fetch(
        "SELECT action, outcome FROM office_access_log WHERE email = $1 AND target = $2",
        email,
        convention.id,
    )
    assert [tuple(line) for line in logged] == [("download_bundle", "ok")]


def test_an_impossible_yaml_date_is_one_error_among_the_files_others() -> None:
    data = example("bamako-cooperation").model_dump(mode="json", exclude_none=True)
    text = yaml.safe_dump(data, allow_unicode=True, sort_keys=False)
    mission = next(s for s in data["stages"] if s["stage"] == "mission")
    text = text.replace(f"starts_on: '{mission['starts_on']}'", "starts_on: 2023-02-30")
    assert "starts_on: 2023-02-30" in text
    text = text.replace("kind: framework", "kind: treaty", 1)
    text = text.replace("party: menefp", "party: nobody-here", 1)
    with pytest.raises(InputError) as refused:
        parse_convention(text, "bamako.yaml", as_json=False)
    errors = refused.value.errors
    fields = {error.field for error in errors}
    assert any(field.endswith("starts_on") for field in fields), errors
    assert any(field.endswith(".kind") for field in fields), errors
    assert any("nobody-here" in str(error.reason) for error in errors), errors
    dated = next(error for error in errors if error.field.endswith("starts_on"))
    line = text.splitlines().index(
        next(row for row in text.splitlines() if "starts_on: 2023-02-30" in row)
    )
    assert dated.line == line + 1 and dated.column is not None
    # A date written as a date still reads as one.
    good = yaml.safe_dump(data, allow_unicode=True).replace(
        f"'{mission['starts_on']}'", str(mission["starts_on"])
    )
    assert parse_convention(good, "bamako.yaml", as_json=False).id == data["id"]


async def test_the_language_is_remembered_per_account_and_per_contact(
    dev_env: WorkflowEnvironment, db_pool: asyncpg.Pool
) -> None:
    desk = make_desk(dev_env.client, db_pool)
    async with office_client(desk) as http:
        email = await signed_in(http, db_pool, "officer")
        page = await http.get("/office")
        chosen = await http.post(
            "/office/language", data={"csrf": csrf_of(page), "language": "ar", "next": "/office"}
        )
        assert chosen.status_code == 303
        # A language not offered is not remembered as itself.
        odd = await http.post(
            "/office/language",
            data={"csrf": csrf_of(page), "language": "xx'; DROP", "next": "/office"},
        )
        assert odd.status_code == 303
        assert await db_pool.fetchval(
            "SELECT preferred_language FROM office_users WHERE email = $1", email
        ) in ("fr", "ar", "en")
        await http.post(
            "/office/language", data={"csrf": csrf_of(page), "language": "ar", "next": "/office"}
        )
    async with office_client(desk) as again:
        signed = await sign_in(again, email)
        assert signed.status_code == 303
        form = await again.get(signed.headers["location"])
        assert 'dir="rtl"' in form.text  # the second factor's page, already in Arabic

    party, name = f"p-{uuid.uuid4().hex[:6]}", "Awa Traoré"
    link_hash = uuid.uuid4().bytes + uuid.uuid4().bytes
    await db_pool.execute(
        "INSERT INTO partner_links (token_hash, notification_id, contact_name, language,"
        " party, convention_id, task_id, expires_at)"
        " VALUES ($1, $2, $3, 'fr', $4, 'c', 't', now() + interval '1 day')",
        link_hash,
        f"n-{party}",
        name,
        party,
    )

    def session_of(language: str) -> ContactSession:
        return ContactSession(uuid.uuid4().bytes, name, None, party, language, link_hash)

    now = datetime.now(UTC)
    first = session_of("fr")
    assert (
        await contact_sessions.insert_session(db_pool, first, now, now + timedelta(hours=1)) == "fr"
    )
    await contact_sessions.set_language(db_pool, first.id_hash, "ar")
    later = session_of("fr")  # a new link in the contact's declared language
    assert (
        await contact_sessions.insert_session(db_pool, later, now, now + timedelta(hours=1)) == "ar"
    )
    other = ContactSession(uuid.uuid4().bytes, "Someone Else", None, party, "en", link_hash)
    assert (
        await contact_sessions.insert_session(db_pool, other, now, now + timedelta(hours=1)) == "en"
    )
    # The purge keeps a choice while a link names the contact.
    await purge_expired(db_pool)
    assert (
        await db_pool.fetchval(
            "SELECT language FROM partner_contact_languages WHERE party = $1 AND contact_name = $2",
            party,
            name,
        )
        == "ar"
    )


def test_the_editor_writes_the_title_one_input_per_language() -> None:
    inputs = editor_form.build({"titles": {"ar": "اتفاقية الشراكة", "fr": "Convention"}})
    titles = next(one for one in inputs if one.path == "titles")
    # The languages given first, in their order (the first is the original), then the rest.
    assert [child.path for child in titles.children] == ["titles.ar", "titles.fr", "titles.en"]
    assert all(child.widget == "text" for child in titles.children)
    form = {
        "titles.ar": ["اتفاقية الشراكة"],
        "titles.fr": ["  Convention  "],
        "titles.en": [""],
    }
    assert editor_form.parse(form)["titles"] == {"ar": "اتفاقية الشراكة", "fr": "Convention"}
    assert "titles" not in editor_form.parse({"titles.fr": [""]})
    # A key that is no language (sent by hand) is kept as typed and refused beside the field.
    tampered = editor_form.parse({"titles.xx": ["Titre"]})
    assert tampered["titles"] == {"xx": "Titre"}
    shown = editor_form.build(tampered)
    errors = [FieldError("titles.xx", "Input should be 'fr', 'ar' or 'en'")]
    assert editor_form.place_errors(shown, errors, "fr") == []
    holder = next(one for one in editor_form.walk(shown) if one.path == "titles.xx")
    assert holder.errors and holder.value == "Titre"


@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed")
async def test_an_officer_answers_an_escalation_from_the_offices_tasks_in_french_in_chromium(
    own_time_env: WorkflowEnvironment, db_pool: asyncpg.Pool, tmp_path: Path
) -> None:
    """A funding decision three days late (time skipped) is escalated to the office; signed
    out, a link to the office's tasks: sign in, back on the tasks, answer the escalation on
    its own form, land on the convention's page with a notice saying what was done; axe
    finds nothing on the three pages."""
    from playwright.async_api import async_playwright

    task_queue = f"day-{uuid.uuid4().hex[:8]}"
    funding = {
        "stage": "funding_request",
        "funder": "bid",
        "terms_of_reference": {"uri": "archive:tdr-4-centres.pdf"},
        "requested": {"amount": "40000000", "currency": "IsDB-ID"},
        "due_in_days": 2,
    }
    convention = convention_of(funding)
    escalation = f"escalation.{DECISION}"
    ARTIFACTS.mkdir(exist_ok=True)
    async with build_worker(own_time_env.client, db_pool, task_queue):
        await start_convention(own_time_env.client, convention, task_queue, milestones=db_pool)
        await find_task(own_time_env.client, convention.id, DECISION, wait_seconds=30)
        await own_time_env.sleep(timedelta(days=3))
        await find_task(own_time_env.client, convention.id, escalation, wait_seconds=30)
        await eventually(
            lambda: db_pool.fetchval(
                "SELECT state FROM office_tasks WHERE convention_id = $1 AND task_id = $2",
                convention.id,
                escalation,
            ),
            lambda state: state == "open",
        )
        port = free_port()
        app = create_app(make_desk(own_time_env.client, db_pool), task_queue=task_queue)
        server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, access_log=False)
        )
        serving = asyncio.create_task(server.serve())
        base = f"http://127.0.0.1:{port}"
        email = await new_account(db_pool, "officer", name="Awa Diallo")
        answer_link = f"/office/conventions/{convention.id}/tasks/{escalation}"
        try:
            async with async_playwright() as playwright:
                browser = await launch_chromium(playwright, tmp_path / "chromium-profile")
                page = await browser.new_page()
                await page.goto(f"{base}/office/tasks?scope=all")
                assert "/office/signin?next=" in page.url
                await page.fill("#email", email)
                await page.fill("#password", PASSWORD)
                await page.click("button.primary")
                await page.wait_for_selector("#code")
                secret = (await page.inner_text("dd.ref >> nth=0")).strip()
                await page.fill("#code", pyotp.TOTP(secret).now())
                await page.click("button.primary")
                await page.wait_for_selector("ul.ref li")
                await page.click("main a")  # "Continue": to the office's tasks
                await page.wait_for_selector(f'a[href="{answer_link}"]')
                assert await page.get_attribute("html", "lang") == "fr"
                await no_accessibility_violations(page, "office tasks (fr)")
                await page.click(f'a[href="{answer_link}"]')
                await page.wait_for_selector("textarea")
                await no_accessibility_violations(page, "escalation form (fr)")
                # Sent empty first: refused beside the field, nothing lost.
                await page.click("main button.primary")
                await page.wait_for_selector("textarea")
                await page.fill("textarea", "Relance téléphonique de la BID ; décision attendue.")
                await page.click("main button.primary")
                await page.wait_for_selector("p.receipt")
                notice = await page.inner_text("p.receipt")
                assert notice.startswith("La réponse à « ") and "envoyée" in notice, notice
                assert "due par Banque Islamique" in notice, notice  # a name, not `bid`
                assert f"/office/conventions/{convention.id}" in page.url
                await page.screenshot(
                    path=str(ARTIFACTS / "office-7-escalation-answered-fr.png"), full_page=True
                )
                await no_accessibility_violations(page, "convention page after the answer (fr)")
                await browser.close()
        finally:
            server.should_exit = True
            await serving
        status = await convention_status(own_time_env.client, convention.id)
        assert escalation not in {task.id for task in status.open_tasks}
        await terminate_convention(
            own_time_env.client, convention.id, TerminateConvention(reason="test over")
        )
