"""Navigation that holds on the office desk: a signed-out browser is sent to sign in and
comes back to the page it asked for (never to another site); the language switch returns to
the page being read, never to an action's POST URL; each role lands on its own home; error
pages (403, 404, 405) keep the desk's layout and the reader's language and offer no "sign
in" to someone signed in.

httpx over the real app, PostgreSQL and Temporal dev server.
"""

from __future__ import annotations

import io
from urllib.parse import quote

import asyncpg
import openpyxl
import pyotp
import pytest
from temporalio.testing import WorkflowEnvironment

from application.conventions import start_convention
from devkit.polling import eventually
from tests.conftest import DEV_TASK_QUEUE, example, renamed
from tests.partner_stack import funding_convention, make_desk
from tests.test_office_desk import (
    PASSWORD,
    SECRET,
    csrf_of,
    new_account,
    office_client,
    signed_in,
)
from web.navigation import safe_next

BROWSER = {"accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}
WANTED = "/office/conventions?q=k%C3%A9nitra&stage=signature"


@pytest.mark.parametrize(
    ("given", "kept"),
    [
        ("/office/conventions?q=a&lang=ar", "/office/conventions?q=a"),
        ("/office", "/office"),
        ("/office/tasks?scope=all", "/office/tasks?scope=all"),
        ("//evil.example/office", None),
        ("https://evil.example/office", None),
        ("/\\evil.example", None),
        ("/office\\..\\desk", None),
        ("/office/../desk", None),
        ("/desk", None),
        ("/officer-of-another-app", None),
        ("/office/signout", None),
        ("/office/signin?next=/office", None),
        ("/office\r\nSet-Cookie: x=1", None),
        ("/office/conventions#top", None),
        ("javascript:alert(1)", None),
        ("", None),
        ("/office/" + "x" * 3000, None),
    ],
)
def test_only_a_path_of_the_desk_is_kept_as_next(given: str, kept: str | None) -> None:
    assert safe_next(given) == kept


async def test_a_signed_out_browser_signs_in_and_comes_back_to_the_page_it_asked_for(
    dev_env: WorkflowEnvironment, db_pool: asyncpg.Pool
) -> None:
    desk = make_desk(dev_env.client, db_pool)
    async with office_client(desk) as http:
        asked = await http.get(WANTED, headers=BROWSER)
        assert asked.status_code == 303
        assert asked.headers["location"] == "/office/signin?next=" + quote(WANTED, safe="/")
        # A program keeps its 401 (no page to come back to).
        assert (await http.get(WANTED)).status_code == 401
        # An officer: password, then the authenticator's set-up, then back.
        email = await new_account(db_pool, "officer")
        form = await http.get(asked.headers["location"])
        assert f'name="next" value="{WANTED.replace("&", "&amp;")}"' in form.text
        signed = await http.post(
            "/office/signin",
            data={"email": email, "password": PASSWORD, "csrf": csrf_of(form), "next": WANTED},
        )
        assert signed.headers["location"] == "/office/enrol?next=" + quote(WANTED, safe="/")
        enrol = await http.get(signed.headers["location"])
        match = SECRET.search(enrol.text)
        assert match
        secret = match.group(1)
        confirmed = await http.post(
            "/office/enrol",
            data={"csrf": csrf_of(enrol), "code": pyotp.TOTP(secret).now(), "next": WANTED},
        )
        assert confirmed.status_code == 200
        assert f'href="{WANTED.replace("&", "&amp;")}"' in confirmed.text
        back = await http.get(WANTED, headers=BROWSER)
        assert back.status_code == 200 and "kénitra" in back.text
    async with office_client(desk) as http:
        # An auditor owes a second factor too (issue 28): the page asked for rides along;
        # another site never.
        email = await new_account(db_pool, "auditor")
        form = await http.get("/office/signin")
        signed = await http.post(
            "/office/signin",
            data={"email": email, "password": PASSWORD, "csrf": csrf_of(form), "next": WANTED},
        )
        assert signed.headers["location"] == "/office/enrol?next=" + quote(WANTED, safe="/")
    async with office_client(desk) as http:
        email = await new_account(db_pool, "auditor")
        form = await http.get("/office/signin?next=//evil.example/office")
        assert "evil.example" not in form.text
        signed = await http.post(
            "/office/signin",
            data={
                "email": email,
                "password": PASSWORD,
                "csrf": csrf_of(form),
                "next": "https://evil.example/office",
            },
        )
        assert signed.headers["location"] == "/office/enrol"  # no next: then the home


async def test_each_role_lands_on_its_own_home(
    dev_env: WorkflowEnvironment, db_pool: asyncpg.Pool
) -> None:
    desk = make_desk(dev_env.client, db_pool)
    for role, home in (("auditor", "/office"), ("admin", "/office/access-log")):
        async with office_client(desk) as http:
            await signed_in(http, db_pool, role)
            page = await http.get(home)
            assert page.status_code == 200, (role, page.text[:300])
            # The language switch from home comes back home.
            switched = await http.post(
                "/office/language", data={"csrf": csrf_of(page), "language": "en", "next": home}
            )
            assert switched.headers["location"] == home
            # Nowhere to come back to: the role's own home, not a page it may not open.
            nowhere = await http.post(
                "/office/language",
                data={"csrf": csrf_of(page), "language": "fr", "next": "/office/signout"},
            )
            assert nowhere.headers["location"] == home
            # A page it may not open answers in the desk's layout, with the way home.
            other = "/office/tasks" if role == "admin" else "/office/access-log"
            refused = await http.get(other)
            assert refused.status_code == 403
            assert f'href="{home}"' in refused.text and "/office/signin" not in refused.text


async def test_the_language_switch_returns_to_the_page_never_to_a_post_url(
    dev_env: WorkflowEnvironment, db_pool: asyncpg.Pool
) -> None:
    desk = make_desk(dev_env.client, db_pool)
    async with office_client(desk) as http:
        await signed_in(http, db_pool, "officer")
        listed = await http.get("/office/conventions?q=kenitra&lang=en")
        # The page's own language switch carries the page and its filter.
        assert 'name="next" value="/office/conventions?q=kenitra&amp;lang=en"' in listed.text
        token = csrf_of(listed)

        async def switch(next_: str, language: str = "ar") -> str:
            answered = await http.post(
                "/office/language", data={"csrf": token, "language": language, "next": next_}
            )
            assert answered.status_code == 303
            return answered.headers["location"]

        assert (
            await switch("/office/conventions?q=kenitra&lang=en") == "/office/conventions?q=kenitra"
        )
        # An action's URL (POST only): the page it was taken on.
        assert await switch("/office/conventions/c-1/postpone") == "/office/conventions/c-1"
        assert await switch("/office/conventions/c-1/answer") == "/office/conventions/c-1"
        assert await switch("/office/audit/c-1/check") == "/office/audit/c-1"
        assert await switch("/office/directory/ofppt/grant") == "/office/directory/ofppt"
        assert await switch("/office/start") == "/office/start"  # it has its GET page
        assert await switch("https://evil.example/") == "/office"
        assert await switch("/office/signout") == "/office"
        # As a browser lives it: an action refused on a page, then the switch on that page.
        acted = await http.post(
            "/office/conventions/no-such-convention/postpone",
            data={"csrf": token, "task_id": "t", "to": "2030-01-01", "reason": "r"},
        )
        assert 'name="next" value="/office/conventions/no-such-convention/postpone"' in acted.text
        location = await switch("/office/conventions/no-such-convention/postpone")
        assert location == "/office/conventions/no-such-convention"
        assert (await http.get(location)).status_code == 404  # a GET view, not a 405


async def test_error_pages_keep_the_desks_layout_and_the_readers_language(
    dev_env: WorkflowEnvironment, db_pool: asyncpg.Pool
) -> None:
    desk = make_desk(dev_env.client, db_pool)
    async with office_client(desk) as http:
        await signed_in(http, db_pool, "officer")
        page = await http.get("/office")
        await http.post(
            "/office/language", data={"csrf": csrf_of(page), "language": "ar", "next": "/office"}
        )
        for url, status in (
            ("/office/conventions/no-such-convention", 404),
            ("/office/no-such-page", 404),
            ("/office/conventions/no-such-convention/postpone", 405),
            ("/office/access-log", 403),
        ):
            shown = await http.get(url)
            assert shown.status_code == status, url
            assert 'dir="rtl"' in shown.text and "مكتب" in shown.text, url
            assert 'href="/office/conventions"' in shown.text, url  # the desk's own menu
            assert "/office/signin" not in shown.text, url
        assert "الطريقة غير مسموح بها" in (await http.get("/office/conventions/x/postpone")).text
    async with office_client(desk) as stranger:
        # Signed out, a program: 401, in the desk's layout, with the way to sign in.
        shown = await stranger.get("/office/conventions/no-such-convention")
        assert shown.status_code == 401
        assert 'href="/office/signin"' in shown.text


async def test_an_auditor_goes_from_a_convention_to_its_audit_page_and_its_files(
    dev_env: WorkflowEnvironment, db_pool: asyncpg.Pool, monkeypatch: pytest.MonkeyPatch
) -> None:
    desk = make_desk(dev_env.client, db_pool)
    convention = await funding_convention(dev_env.client, db_pool)
    audit = f"/office/audit/{convention.id}"
    async with office_client(desk) as officer:
        await signed_in(officer, db_pool, "officer")
        page = await officer.get(f"/office/conventions/{convention.id}")
        assert page.status_code == 200 and f'href="{audit}"' not in page.text
    async with office_client(desk) as http:
        email = await signed_in(http, db_pool, "auditor")
        page = await http.get(f"/office/conventions/{convention.id}")
        assert f'href="{audit}"' in page.text
        listed = await http.get("/office/conventions", params={"q": convention.id})
        assert f'href="{audit}"' in listed.text
        shown = await http.get(audit)
        for download in ("report.pdf", "iati.xml", "timeline.xlsx", "export.json"):
            assert f'href="{audit}/{download}"' in shown.text, download
        report = await http.get(f"{audit}/report.pdf")
        assert report.status_code == 200, report.text[:500]
        assert report.headers["content-type"] == "application/pdf"
        assert report.content.startswith(b"%PDF")
        assert "attachment" in report.headers["content-disposition"]
        monkeypatch.delenv("PACTE_IATI_ORG_REF", raising=False)
        unset = await http.get(f"{audit}/iati.xml")
        assert unset.status_code == 503 and "PACTE_IATI_ORG_REF" in unset.text
        monkeypatch.setenv("PACTE_IATI_ORG_REF", "MA-RC-12345")
        # Still in its funding request, dated by nothing IATI could call a start: said so.
        lacking = await http.get(f"{audit}/iati.xml")
        assert lacking.status_code == 409
        assert "IATI needs a planned or an actual start" in lacking.text
        # A 409 in the desk's own layout: its menu, no "sign in" for someone signed in.
        assert 'href="/office/conventions"' in lacking.text
        assert "/office/signin" not in lacking.text
        # A convention with its mission dated: its activity file, valid against 2.03.
        dated = renamed(example("bamako-cooperation"))
        await start_convention(dev_env.client, dated, DEV_TASK_QUEUE)
        await eventually(
            lambda: db_pool.fetchval(
                "SELECT count(*) FROM milestones WHERE convention_id = $1", dated.id
            ),
            lambda count: count > 0,
        )
        iati = await http.get(f"/office/audit/{dated.id}/iati.xml")
        assert iati.status_code == 200, iati.text[iati.text.find("<main") :][:1500]
        assert iati.headers["content-type"].startswith("application/xml")
        assert b"<iati-activities" in iati.content
        assert f"MA-RC-12345-{dated.id}".encode() in iati.content
        workbook = await http.get(f"{audit}/timeline.xlsx")
        sheet = openpyxl.load_workbook(io.BytesIO(workbook.content)).active
        assert sheet is not None
        cells = list(sheet.iter_rows(values_only=True))
        assert "convention_started" in {cell for row in cells[1:] for cell in row}
        french = await http.get(f"{audit}/timeline.csv?lang=fr")
        assert french.content.decode("utf-8").startswith("\ufeff")
        assert ";" in french.text.splitlines()[0]
        plain = await http.get(f"{audit}/timeline.csv")
        assert not plain.content.startswith("\ufeff".encode())
    logged = await db_pool.fetch(
        "SELECT action, outcome FROM office_access_log WHERE email = $1 AND target = $2"
        " ORDER BY id",
        email,
        convention.id,
    )
    assert [tuple(line) for line in logged] == [
        ("download_report", "ok"),
        ("download_iati", "incomplete"),
        ("download_timeline_xlsx", "ok"),
        ("download_timeline_csv", "ok"),
        ("download_timeline_csv", "ok"),
    ]
