"""The office desk's directory pages, against the real stack: the organisations list and its
search, an organisation's page, and the admin's changes (add a person, grant, revoke, remove)
as CSRF-protected forms; an officer may read but not change."""

from __future__ import annotations

import asyncio
import re
from datetime import date
from pathlib import Path

import asyncpg
import pyotp
import pytest
import uvicorn
from babel.messages.pofile import read_po
from temporalio.testing import WorkflowEnvironment

import web
from application.directory.authority import authority_of
from application.directory.capacities import DirectoryCapacity
from application.directory.channels import channel_key, signing_secrets
from application.directory.organisations import NewOrganisation, add_organisation
from application.directory.people import NewPerson, add_person
from application.directory.views import CAPACITY_LABELS
from devkit.stack import free_port
from storage import directory as store
from storage.read_model import record_convention_file
from tests.browser import CHROMIUM, launch_chromium
from tests.conftest import DEV_TASK_QUEUE
from tests.directory_stack import ADMIN, OFFICER, fresh_id, funding_file
from tests.partner_stack import make_desk
from tests.test_office_browser import no_accessibility_violations
from tests.test_office_desk import PASSWORD, csrf_of, new_account, office_client, signed_in
from web.app import create_app
from web.i18n import LANGUAGES, gettext

ARABIC_NAME = "البنك الإسلامي للتنمية"


async def an_organisation(pool: asyncpg.Pool) -> str:
    """A funder with one person who may sign until the end of 2027."""
    organisation_id = fresh_id("isdb")
    await add_organisation(
        pool,
        OFFICER,
        NewOrganisation(
            id=organisation_id,
            kind="funder",
            country="SA",
            name_ar=f"{ARABIC_NAME} {organisation_id}",
            name_fr="Banque islamique de développement",
        ),
    )
    await add_person(
        pool,
        ADMIN,
        organisation_id,
        NewPerson(name="Drissa GUINDO", email=f"drissa@{organisation_id}.example", title="DG"),
        ["sign"],
        valid_until=date(2027, 12, 31),
    )
    return organisation_id


async def test_the_list_finds_an_organisation_by_its_arabic_name_and_its_page_shows_people(
    dev_env: WorkflowEnvironment, db_pool: asyncpg.Pool
) -> None:
    desk = make_desk(dev_env.client, db_pool)
    organisation_id = await an_organisation(db_pool)
    async with office_client(desk) as http:
        await signed_in(http, db_pool, "officer")
        home = await http.get("/office")
        assert 'href="/office/directory"' in home.text
        found = await http.get(
            "/office/directory", params={"q": f"{ARABIC_NAME} {organisation_id}"}
        )
        assert found.status_code == 200, found.text
        assert f'href="/office/directory/{organisation_id}"' in found.text
        assert "<td>1</td></tr>" in found.text  # one person acts for it
        # The reader reads French: the French name is shown, the Arabic one matched.
        assert "Banque islamique de développement" in found.text
        assert "drissa" not in found.text
        # A search is literal: '%' matches only itself.
        wild = await http.get("/office/directory", params={"q": "%"})
        assert wild.status_code == 200 and organisation_id not in wild.text
        longest = await http.get("/office/directory", params={"q": "x" * 5000})
        assert longest.status_code == 200
        shown = await http.get(f"/office/directory/{organisation_id}")
        assert shown.status_code == 200, shown.text
        assert "Drissa GUINDO" in shown.text and f"drissa@{organisation_id}.example" in shown.text
        assert "2027-12-31" in shown.text and "(<bdi>sign</bdi>)" in shown.text
        assert "jamais répondu" in shown.text  # the address never answered
        # An officer reads, but is offered no admin form.
        assert f"/office/directory/{organisation_id}/grant" not in shown.text
        unknown = await http.get("/office/directory/no-such-organisation")
        assert unknown.status_code == 404
        # Ids that cannot be organisations' (a look-alike letter, a space, 300 characters).
        for odd in (organisation_id.replace("i", "\u0456", 1), "is db", "a" * 300):
            assert (await http.get(f"/office/directory/{odd}")).status_code == 404, odd


async def test_an_admin_adds_a_person_and_grants_signing_and_an_officer_is_refused(
    dev_env: WorkflowEnvironment, db_pool: asyncpg.Pool
) -> None:
    desk = make_desk(dev_env.client, db_pool)
    organisation_id = await an_organisation(db_pool)
    email = f"fz@{organisation_id}.example"
    async with office_client(desk) as officer_http:
        await signed_in(officer_http, db_pool, "officer")
        page = await officer_http.get(f"/office/directory/{organisation_id}")
        refused = await officer_http.post(
            f"/office/directory/{organisation_id}/people",
            data={"csrf": csrf_of(page), "name": "Mallory", "email": "m@evil.example"},
        )
        assert refused.status_code == 403, refused.text
    async with office_client(desk) as http:
        admin = await signed_in(http, db_pool, "admin")
        page = await http.get(f"/office/directory/{organisation_id}")
        assert page.status_code == 200, page.text
        csrf = csrf_of(page)
        added = await http.post(
            f"/office/directory/{organisation_id}/people",
            data={
                "csrf": csrf,
                "name": "فاطمة الزهراء العلوي",
                "email": email,
                "language": "ar",
                "title": "مديرة",
                "capacity": "answer",
            },
        )
        assert added.status_code == 200, added.text
        assert "Personne ajoutée." in added.text and "فاطمة الزهراء العلوي" in added.text
        person = await store.person_by_email(db_pool, email)
        assert person is not None and person.language == "ar"
        granted = await http.post(
            f"/office/directory/{organisation_id}/grant",
            data={
                "csrf": csrf,
                "person_id": person.id,
                "capacity": "sign",
                "valid_from": "2026-01-01",
                "valid_until": "2027-12-31",
            },
        )
        assert granted.status_code == 200, granted.text
        assert "Habilitation accordée." in granted.text
        # Dates the wrong way round: refused beside the field, what was typed kept.
        backwards = await http.post(
            f"/office/directory/{organisation_id}/grant",
            data={
                "csrf": csrf,
                "person_id": person.id,
                "capacity": "review",
                "valid_from": "2027-01-01",
                "valid_until": "2026-01-01",
            },
        )
        assert backwards.status_code == 422, backwards.text
        assert 'id="error-grant-valid_until"' in backwards.text
        assert 'value="2027-01-01"' in backwards.text
        # Another organisation's person cannot be removed from this page.
        other = await an_organisation(db_pool)
        [(stranger, _)] = await store.people_of(db_pool, other)
        elsewhere = await http.post(
            f"/office/directory/{organisation_id}/remove",
            data={"csrf": csrf, "person_id": stranger.id, "reason": "wrong page"},
        )
        assert elsewhere.status_code == 409, elsewhere.text
        assert (await store.person(db_pool, stranger.id)).removed_at is None  # type: ignore[union-attr]
    # The directory's use cases see the grant, recorded under the signed-in admin.
    authority = await authority_of(db_pool, organisation_id, email=email, name="")
    assert authority.standing.person is not None and authority.standing.person.id == person.id
    assert authority.refusal(DirectoryCapacity.SIGN) is None
    assert authority.refusal(DirectoryCapacity.REVIEW) is not None
    held = {c.capacity for c in authority.standing.capacities}
    assert {"answer", "sign"} <= held and "review" not in held
    changes = await store.changes(db_pool, organisation_id)
    assert {c.actor for c in changes if c.person_id == person.id} == {f"admin:{admin}"}


async def test_a_bad_address_reshows_the_form_with_what_was_typed_and_the_reason(
    dev_env: WorkflowEnvironment, db_pool: asyncpg.Pool
) -> None:
    desk = make_desk(dev_env.client, db_pool)
    organisation_id = await an_organisation(db_pool)
    async with office_client(desk) as http:
        await signed_in(http, db_pool, "admin")
        page = await http.get(f"/office/directory/{organisation_id}")
        bad = await http.post(
            f"/office/directory/{organisation_id}/people",
            data={
                "csrf": csrf_of(page),
                "name": "Aïcha <b>Traoré</b>",
                "email": "not-an-address",
                "language": "en",
                "title": "Chargée",
                "capacity": "review",
            },
        )
        assert bad.status_code == 422, bad.text
        assert 'id="error-add-email"' in bad.text and "not-an-address" in bad.text
        assert 'aria-invalid="true" aria-describedby="error-add-email"' in bad.text
        assert 'value="Aïcha &lt;b&gt;Traoré&lt;/b&gt;"' in bad.text  # kept, escaped
        assert re.search(r'<option value="en" lang="en" selected>', bad.text)
        assert re.search(r'<option value="review" selected>', bad.text)
        assert "<b>Traoré</b>" not in bad.text
        # Nothing was recorded.
        assert [p.name for p, _ in await store.people_of(db_pool, organisation_id)] == [
            "Drissa GUINDO"
        ]
        # An unknown organisation: 404, nothing recorded.
        missing = await http.post(
            "/office/directory/no-such-organisation/people",
            data={"csrf": csrf_of(page), "name": "X", "email": "x@example.org"},
        )
        assert missing.status_code == 404
        # Revoking a capacity nobody holds: refused (409) with the reason.
        none = await http.post(
            f"/office/directory/{organisation_id}/revoke",
            data={"csrf": csrf_of(page), "person_id": "p-nobody", "capacity": "sign"},
        )
        assert none.status_code == 409 and "p-nobody" in none.text
        # A form without its CSRF token changes nothing.
        forged = await http.post(
            f"/office/directory/{organisation_id}/people",
            data={"name": "Forged", "email": "forged@example.org"},
        )
        assert forged.status_code == 400
        assert await store.person_by_email(db_pool, "forged@example.org") is None


def test_every_string_of_the_directory_pages_is_in_the_three_catalogues() -> None:
    templates = Path(web.__file__).parent / "templates" / "office"
    shown = {
        message
        for name in ("directory.html", "organisation.html", "organisation_more.html")
        for message in re.findall(r'_\("([^"]+)"\)', (templates / name).read_text("utf-8"))
    }
    shown |= set(CAPACITY_LABELS.values())
    shown |= {"Person added.", "Capacity granted.", "Capacity revoked.", "Person removed."}
    shown |= {"Directory", "a date, YYYY-MM-DD", "Address confirmed."}
    shown |= {"Person changed.", "Organisation archived.", "Organisation restored."}
    shown |= {"Secret rotated.", "a whole number of days, 0 to 90"}
    assert len(shown) > 40
    for language in LANGUAGES:
        path = Path(web.__file__).parent / "locales" / language / "LC_MESSAGES" / "messages.po"
        with path.open("rb") as po:
            catalogue = read_po(po, locale=language)
        for message in shown:
            assert message in catalogue, f"{language}: {message!r} missing"
            if language != "en":
                assert catalogue[message].string, f"{language}: {message!r} untranslated"
    assert gettext("ar", "Directory") == "الدليل"


async def test_an_admin_revokes_a_capacity_then_removes_the_person(
    dev_env: WorkflowEnvironment, db_pool: asyncpg.Pool
) -> None:
    desk = make_desk(dev_env.client, db_pool)
    organisation_id = await an_organisation(db_pool)
    [(person, _)] = await store.people_of(db_pool, organisation_id)
    async with office_client(desk) as http:
        await signed_in(http, db_pool, "admin")
        page = await http.get(f"/office/directory/{organisation_id}")
        # The address never answered: an admin confirms it by hand, saying how.
        assert "/confirm" in page.text
        unsaid = await http.post(
            f"/office/directory/{organisation_id}/confirm",
            data={"csrf": csrf_of(page), "person_id": person.id, "reason": "  "},
        )
        assert unsaid.status_code == 422 and 'id="error-confirm-reason"' in unsaid.text
        confirmed = await http.post(
            f"/office/directory/{organisation_id}/confirm",
            data={"csrf": csrf_of(page), "person_id": person.id, "reason": "par téléphone"},
        )
        assert confirmed.status_code == 200, confirmed.text
        assert "Adresse confirmée." in confirmed.text and "jamais répondu" not in confirmed.text
        again = await http.post(
            f"/office/directory/{organisation_id}/confirm",
            data={"csrf": csrf_of(page), "person_id": person.id, "reason": "par téléphone"},
        )
        # Said in the page's language (a coded detail), not the English of the CLI.
        assert again.status_code == 409 and "est déjà confirmée" in again.text
        assert "confirmed already" not in again.text
        revoked = await http.post(
            f"/office/directory/{organisation_id}/revoke",
            data={"csrf": csrf_of(page), "person_id": person.id, "capacity": "sign"},
        )
        assert revoked.status_code == 200, revoked.text
        assert "Habilitation révoquée." in revoked.text
        assert "<strong>révoquée</strong>" in revoked.text
        removed = await http.post(
            f"/office/directory/{organisation_id}/remove",
            data={"csrf": csrf_of(page), "person_id": person.id, "reason": "a quitté la banque"},
        )
        assert removed.status_code == 200, removed.text
        assert "Personne retirée." in removed.text
        # The auditor reads the page too, and sees the person removed.
        async with office_client(desk) as auditor:
            await signed_in(auditor, db_pool, "auditor")
            read = await auditor.get(f"/office/directory/{organisation_id}")
            assert read.status_code == 200 and "Drissa GUINDO" in read.text
            assert "<strong>retirée</strong>" in read.text
    authority = await authority_of(
        db_pool, organisation_id, email=f"drissa@{organisation_id}.example", name=""
    )
    assert authority.refusal() is not None
    changes = await store.changes(db_pool, organisation_id)
    assert "capacity.revoke" in {c.action for c in changes}


async def test_an_arabic_reader_reads_the_list_in_arabic_with_the_arabic_names(
    dev_env: WorkflowEnvironment, db_pool: asyncpg.Pool
) -> None:
    desk = make_desk(dev_env.client, db_pool)
    organisation_id = await an_organisation(db_pool)
    async with office_client(desk) as http:
        await signed_in(http, db_pool, "auditor")
        page = await http.get("/office/directory")
        switched = await http.post(
            "/office/language",
            data={"csrf": csrf_of(page), "language": "ar", "next": "/office/directory"},
        )
        assert switched.status_code == 303, switched.text
        found = await http.get("/office/directory", params={"q": organisation_id.upper()})
        assert found.status_code == 200, found.text
        assert 'dir="rtl"' in found.text and "الدليل" in found.text
        assert f"{ARABIC_NAME} {organisation_id}" in found.text  # the reader's language
        assert "Banque islamique" not in found.text
        funder = gettext("ar", "funder")
        assert funder != "funder" and funder in found.text
        shown = await http.get(f"/office/directory/{organisation_id}")
        assert "يمكنه توقيع الاتفاقيات" in shown.text and "لم يُجب قط" in shown.text


@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed")
async def test_an_admin_adds_a_person_in_arabic_in_a_real_browser_under_the_strict_csp(
    dev_env: WorkflowEnvironment, db_pool: asyncpg.Pool, tmp_path: Path
) -> None:
    from playwright.async_api import async_playwright

    port = free_port()
    desk = make_desk(dev_env.client, db_pool)
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(desk, task_queue=DEV_TASK_QUEUE),
            host="127.0.0.1",
            port=port,
            log_config=None,
            access_log=False,
        )
    )
    serving = asyncio.create_task(server.serve())
    base = f"http://127.0.0.1:{port}"
    organisation_id = await an_organisation(db_pool)
    admin = await new_account(db_pool, "admin", name="Youssef Amrani")
    email = f"fz@{organisation_id}.example"
    try:
        async with async_playwright() as playwright:
            browser = await launch_chromium(playwright, tmp_path / "chromium-profile")
            page = await browser.new_page()
            console: list[str] = []
            page.on("console", lambda message: console.append(message.text))
            await page.goto(f"{base}/office/signin?lang=ar")
            await page.fill("#email", admin)
            await page.fill("#password", PASSWORD)
            await page.click("button.primary")
            await page.wait_for_selector("#code")
            secret = (await page.inner_text("dd.ref >> nth=0")).strip()
            await page.fill("#code", pyotp.TOTP(secret).now())
            await page.click("button.primary")
            await page.wait_for_selector("ul.ref li")
            await page.goto(f"{base}/office/directory?q={organisation_id}")
            await no_accessibility_violations(page, "directory")
            await page.click(f"a[href='/office/directory/{organisation_id}']")
            await page.wait_for_selector("#add-name")
            await no_accessibility_violations(page, "organisation")
            await page.fill("#add-name", "فاطمة الزهراء العلوي")
            await page.fill("#add-email", email)
            await page.select_option("#add-language", "ar")
            await page.select_option("#add-capacity", "decide_funding")
            await page.click("form[action$='/people'] button")
            await page.wait_for_selector("p.receipt")
            await no_accessibility_violations(page, "person added")
            assert "فاطمة الزهراء العلوي" in await page.inner_text("table.tasks")
            await browser.close()
        assert not [line for line in console if "Content Security Policy" in line], console
    finally:
        server.should_exit = True
        await serving
    person = await store.person_by_email(db_pool, email)
    assert person is not None and person.language == "ar"
    held = await store.people_of(db_pool, organisation_id)
    granted = {p.id: [c.capacity for c in cs] for p, cs in held}
    assert granted[person.id] == ["decide_funding"]


async def test_an_admin_edits_a_person_and_a_new_address_must_answer_again(
    dev_env: WorkflowEnvironment, db_pool: asyncpg.Pool
) -> None:
    desk = make_desk(dev_env.client, db_pool)
    organisation_id = await an_organisation(db_pool)
    [(person, _)] = await store.people_of(db_pool, organisation_id)
    await store.confirm_address(db_pool, person.id)
    other = fresh_id("p")
    await add_person(
        db_pool, ADMIN, organisation_id, NewPerson(name="Awa", email=f"{other}@x.example"), []
    )
    new_address = f"d.guindo@{organisation_id}.example"
    edit = {"person_id": person.id, "name": "Drissa Guindo", "language": "ar", "title": "DGA"}
    async with office_client(desk) as http:
        await signed_in(http, db_pool, "admin")
        page = await http.get(f"/office/directory/{organisation_id}")
        assert f'action="/office/directory/{organisation_id}/edit"' in page.text
        taken = await http.post(
            f"/office/directory/{organisation_id}/edit",
            data={"csrf": csrf_of(page), **edit, "email": f"{other}@x.example"},
        )
        assert taken.status_code == 422, taken.text
        assert 'id="error-edit-email"' in taken.text and "Drissa Guindo" in taken.text
        malformed = await http.post(
            f"/office/directory/{organisation_id}/edit",
            data={"csrf": csrf_of(page), **edit, "email": "not an address"},
        )
        assert malformed.status_code == 422
        done = await http.post(
            f"/office/directory/{organisation_id}/edit",
            data={"csrf": csrf_of(page), **edit, "email": new_address},
        )
        assert done.status_code == 200, done.text
        assert "Personne modifiée." in done.text and "jamais répondu" in done.text
        async with office_client(desk) as officer:
            await signed_in(officer, db_pool, "officer")
            read = await officer.get(f"/office/directory/{organisation_id}")
            refused = await officer.post(
                f"/office/directory/{organisation_id}/edit",
                data={"csrf": csrf_of(read), **edit, "name": "Mallory", "email": ""},
            )
            assert refused.status_code == 403
    changed = await store.person(db_pool, person.id)
    assert changed is not None and changed.email == new_address and changed.confirmed_at is None
    assert (changed.name, changed.language, changed.title) == ("Drissa Guindo", "ar", "DGA")
    change = await db_pool.fetchrow(
        "SELECT actor, old_value, new_value FROM directory_changes"
        " WHERE person_id = $1 AND action = 'person.change'",
        person.id,
    )
    assert change["actor"].startswith("admin:")
    assert change["old_value"]["email"] == f"drissa@{organisation_id}.example"
    assert change["new_value"]["email"] == new_address


async def test_an_admin_rotates_a_secret_shown_once_sees_the_conventions_and_archives(
    dev_env: WorkflowEnvironment, db_pool: asyncpg.Pool
) -> None:
    desk = make_desk(dev_env.client, db_pool)
    organisation_id = await an_organisation(db_pool)
    convention = funding_file(organisation_id, [])
    await record_convention_file(db_pool, convention)
    rotate = f"/office/directory/{organisation_id}/rotate"
    async with office_client(desk) as http:
        await signed_in(http, db_pool, "admin")
        page = await http.get(f"/office/directory/{organisation_id}")
        assert f'href="/office/conventions/{convention.id}"' in page.text
        assert convention.title in page.text
        for bad in ("abc", "-1", "91"):
            refused = await http.post(rotate, data={"csrf": csrf_of(page), "overlap_days": bad})
            assert refused.status_code == 422 and 'id="error-rotate-overlap_days"' in refused.text
        assert await signing_secrets(db_pool, channel_key(desk.secret), organisation_id) == []
        rotated = await http.post(rotate, data={"csrf": csrf_of(page), "overlap_days": "3"})
        assert rotated.status_code == 200, rotated.text
        [secret] = re.findall(r'<code dir="ltr" id="new-secret">(whsec_[^<]+)</code>', rotated.text)
        assert await signing_secrets(db_pool, channel_key(desk.secret), organisation_id) == [secret]
        again = await http.get(f"/office/directory/{organisation_id}")
        assert secret not in again.text and "new-secret" not in again.text
        archived = await http.post(
            f"/office/directory/{organisation_id}/archive",
            data={"csrf": csrf_of(page), "archived": "1"},
        )
        assert archived.status_code == 200 and "Organisation archivée." in archived.text
        held = await store.organisation(db_pool, organisation_id)
        assert held is not None and held.archived_at is not None
        restored = await http.post(
            f"/office/directory/{organisation_id}/archive",
            data={"csrf": csrf_of(page), "archived": "0"},
        )
        assert restored.status_code == 200 and "Organisation restaurée." in restored.text
    held = await store.organisation(db_pool, organisation_id)
    assert held is not None and held.archived_at is None
    changes = await store.changes(db_pool, organisation_id)
    assert {"channel.rotate", "organisation.archive", "organisation.restore"} <= {
        c.action for c in changes
    }
    assert all(secret not in str(c) for c in changes)  # the log never holds a secret
