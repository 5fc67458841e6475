"""The office's conventions list: search in French and Arabic (accents and letter variants
folded, ids exact), filters, orders, pages, the downloads of the current filter, the
portfolio's links to the rows it counts, and hostile input that must neither fail nor
inject.

The read model is seeded as the projection writes it (the file recorded by
`record_convention_file`, the row's stage and state, the open tasks), under a word of this
module's own so that conventions of other tests never match; pages are read over the real
app, PostgreSQL and Temporal dev server.
"""

from __future__ import annotations

import asyncio
import csv
import html
import io
import re
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import openpyxl
import pyotp
import pytest
import pytest_asyncio
import uvicorn
from babel.messages.pofile import read_po
from temporalio.testing import WorkflowEnvironment

import web
from application.office import conventions_list
from application.office.conventions_list import NamedTask, cursor_text
from devkit.stack import free_port
from rendering.record import task_title
from storage import convention_search
from storage.read_model import record_convention_file
from tests.browser import CHROMIUM, launch_chromium
from tests.conftest import DEV_TASK_QUEUE
from tests.partner_stack import make_desk
from tests.stage_desk import PARTIES, convention_of
from tests.test_office_browser import no_accessibility_violations
from tests.test_office_desk import PASSWORD, new_account, office_client, signed_in
from tests.test_partner_browser import ARTIFACTS
from web.app import create_app
from web.i18n import LANGUAGES, gettext

DRAFTING = {"stage": "drafting", "document": {"uri": "docs/draft.pdf"}, "reviewers": ["psa"]}
NOW = datetime.now(UTC)
ROW = re.compile(r'<tr>\s*<td><a href="/office/conventions/([^"]+)">')


@dataclass(frozen=True)
class Seeded:
    """The conventions this module wrote, by role, and the word in all their titles."""

    word: str
    ids: dict[str, str]
    bulk: list[str]


async def _seed(
    pool: asyncpg.Pool,
    convention_id: str,
    title: str,
    *,
    stage: str = "drafting",
    state: str = "active",
    kind: str = "specific",
    sector: str = "BTP",
    officer: dict[str, str] | None = None,
    parties: list[dict[str, Any]] | None = None,
    updated: datetime = NOW - timedelta(days=30),
    tasks: list[tuple[str, str, str, datetime]] = (),  # type: ignore[assignment]
) -> None:
    convention = convention_of(
        DRAFTING,
        id=convention_id,
        title=title,
        kind=kind,
        sector=sector,
        officer=officer or {"name": "Nadia Benali"},
        parties=parties or PARTIES,
    )
    await record_convention_file(pool, convention)
    await pool.execute(
        "UPDATE conventions SET stage = $2, state = $3, updated_at = $4 WHERE id = $1",
        convention_id,
        stage,
        state,
        updated,
    )
    for task_id, kind_of, party, due in tasks:
        await pool.execute(
            "INSERT INTO office_tasks (convention_id, task_id, kind, party, stage, due_at)"
            " VALUES ($1, $2, $3, $4, $5, $6)",
            convention_id,
            task_id,
            kind_of,
            party,
            stage,
            due,
        )


@pytest_asyncio.fixture(scope="module")
async def seeded(db_pool: asyncpg.Pool) -> Seeded:
    word = f"lot{uuid.uuid4().hex[:8]}"
    prefix = f"srch-{word}"
    ids = {
        name: f"{prefix}-{name}"
        for name in ("kenitra", "bamako", "fes", "ended", "formula", "late")
    }
    morocco = [
        *PARTIES,
        {"id": "ma-btp", "name": "Fédération du BTP", "kind": "association", "country": "TN"},
    ]
    await _seed(
        db_pool,
        ids["kenitra"],
        f"Formation des Électriciens à Kénitra {word} – إعداد الكهربائيين في مدرسة القنيطرة",
        stage="signature",
        parties=morocco,
        officer={"name": "Nadia Benali", "email": "nadia@ofppt.example"},
        updated=NOW - timedelta(days=1),
        tasks=[("signature.sign.psa-dg", "sign", "psa", NOW + timedelta(days=9))],
    )
    await _seed(
        db_pool,
        ids["bamako"],
        f"Apprentissage des soudeurs à Bamako {word}",
        kind="framework",
        sector="Métallurgie",
        officer={"name": "Karim Alaoui"},
        updated=NOW - timedelta(days=3),
        tasks=[("drafting.review.psa", "review_draft", "psa", NOW + timedelta(days=2))],
    )
    await _seed(
        db_pool,
        ids["fes"],
        f"Zellige et artisanat de Fès {word}",
        stage="implementation",
        parties=morocco,
        updated=NOW - timedelta(days=2),
    )
    await _seed(db_pool, ids["ended"], f"Ancienne convention {word}", state="completed")
    await _seed(db_pool, ids["formula"], f'=HYPERLINK("http://evil.example") {word}')
    await _seed(
        db_pool,
        ids["late"],
        f"Convention en retard {word}",
        updated=NOW - timedelta(days=5),
        tasks=[
            (
                "escalation.drafting.review.psa",
                "resolve_escalation",
                "ofppt",
                NOW - timedelta(days=4),
            )
        ],
    )
    bulk = [f"{prefix}-bulk-{n:03d}" for n in range(55)]
    for n, bulk_id in enumerate(bulk):
        await _seed(
            db_pool, bulk_id, f"Lot {word}bulk numéro {n:03d}", updated=NOW - timedelta(days=10)
        )
    return Seeded(word, ids, bulk)


@pytest_asyncio.fixture(scope="module")
async def officer(
    dev_env: WorkflowEnvironment, db_pool: asyncpg.Pool
) -> AsyncIterator[httpx.AsyncClient]:
    async with office_client(make_desk(dev_env.client, db_pool)) as http:
        await signed_in(http, db_pool, "officer")
        yield http


def listed(page: httpx.Response) -> list[str]:
    assert page.status_code == 200, page.text[:2000]
    return ROW.findall(page.text)


async def found(http: httpx.AsyncClient, **params: str) -> list[str]:
    return listed(await http.get("/office/conventions", params=params))


async def test_search_folds_accents_and_arabic_letter_variants_and_matches_ids_exactly(
    seeded: Seeded, officer: httpx.AsyncClient
) -> None:
    kenitra = seeded.ids["kenitra"]
    # French, without the accents the title has, and a stemmed form (électricien/s).
    assert await found(officer, q="electricien kenitra") == [kenitra]
    assert await found(officer, q="ÉLECTRICIENS") == [kenitra]
    # Arabic: ta marbuta written as ha, diacritics added, alef with hamza written bare.
    assert await found(officer, q="مدرسه") == [kenitra]
    assert await found(officer, q="مَدْرَسَةِ") == [kenitra]
    assert await found(officer, q="اعداد الكهربائيين") == [kenitra]
    assert await found(officer, q="ـمدرسـة") == [kenitra]  # tatweel
    # A party's name (only the Moroccan conventions have the federation).
    assert set(await found(officer, q=f"fédération btp {seeded.word}")) == {
        kenitra,
        seeded.ids["fes"],
    }
    # An id matches exactly, and a part of it does not.
    assert await found(officer, q=kenitra) == [kenitra]
    assert await found(officer, q=kenitra[:-2]) == []


async def test_filters_narrow_the_list_and_unknown_values_are_named(
    seeded: Seeded, officer: httpx.AsyncClient
) -> None:
    ids, word = seeded.ids, seeded.word

    async def only(**params: str) -> set[str]:
        return set(await found(officer, q=word, **params))

    assert await only(stage="signature") == {ids["kenitra"]}
    assert await only(state="completed") == {ids["ended"]}
    assert await only(kind="framework") == {ids["bamako"]}
    assert await only(party="MA-BTP") == {ids["kenitra"], ids["fes"]}
    assert await only(country="tn") == {ids["kenitra"], ids["fes"]}
    assert await only(sector="metallurgie") == {ids["bamako"]}
    assert await only(officer="Karim Alaoui") == {ids["bamako"]}
    assert await only(officer="NADIA@ofppt.example") == {ids["kenitra"]}
    assert await only(overdue="yes") == {ids["late"]}
    # Two filters at once: both hold.
    assert await only(party="ma-btp", stage="implementation") == {ids["fes"]}
    refused = await officer.get(
        "/office/conventions",
        params={
            "stage": "nowhere",
            "kind": "treaty",
            "state": "x",
            "sort": "random",
            "overdue": "perhaps",
            "country": "Morocco",
            "after": "not-a-cursor",
        },
    )
    assert refused.status_code == 422
    for field in ("stage", "kind", "state", "sort", "overdue", "country", "after"):
        assert f"<bdi>{field}</bdi>" in refused.text, field
    assert "unknown stage &#39;nowhere&#39;" in refused.text
    # The form keeps what was typed.
    assert 'value="Morocco"' in refused.text
    csv_refused = await officer.get("/office/conventions.csv", params={"kind": "treaty"})
    assert csv_refused.status_code == 422


NEXT = re.compile(r'<a href="/office/conventions\?([^"]+)" rel="next">')


async def every_page(http: httpx.AsyncClient, **params: str) -> list[list[str]]:
    """The list's pages, following each page's "next" link to the last."""
    pages: list[list[str]] = []
    query: dict[str, str] | str = params
    while True:
        page = await http.get("/office/conventions", params=query)
        pages.append(listed(page))
        following = NEXT.search(page.text)
        if following is None:
            return pages
        query = following.group(1).replace("&amp;", "&")
        assert len(pages) < 10


async def test_orders_keyset_pages_and_a_page_past_the_end(
    seeded: Seeded, officer: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids, word = seeded.ids, seeded.word
    by_due = await found(officer, q=word, sort="due")
    # Soonest due first (the overdue one), conventions without an open task last.
    assert by_due[:3] == [ids["late"], ids["bamako"], ids["kenitra"]]
    by_updated = await found(officer, q=word, sort="updated")
    assert by_updated[:3] == [ids["kenitra"], ids["fes"], ids["bamako"]]
    # By title: two pages, the second after the first's last row.
    assert await every_page(officer, q=f"{word}bulk", sort="title") == [
        sorted(seeded.bulk)[:50],
        sorted(seeded.bulk)[50:],
    ]
    first = await officer.get("/office/conventions", params={"q": f"{word}bulk", "sort": "title"})
    assert "Conventions trouvées: 55" in first.text
    # Latest changed: the 55 share one change time, so the id orders them (descending).
    assert await every_page(officer, q=f"{word}bulk", sort="updated") == [
        sorted(seeded.bulk, reverse=True)[:50],
        sorted(seeded.bulk, reverse=True)[50:],
    ]
    # By due date: conventions without a dated task come after, by id, on every page.
    assert await every_page(officer, q=f"{word}bulk", sort="due") == [
        sorted(seeded.bulk)[:50],
        sorted(seeded.bulk)[50:],
    ]
    # Pages of two: the second turns from dated tasks to conventions without one.
    monkeypatch.setattr(conventions_list, "PAGE_SIZE", 2)
    assert await every_page(officer, q=word, sort="due") == [
        by_due[:2],
        by_due[2:4],
        by_due[4:6],
    ]
    monkeypatch.undo()
    # A cursor past the last row: an empty page that says so, and the way back.
    after = cursor_text("title", {"title_key": "zzzz", "id": "zzzz"})
    past = await officer.get(
        "/office/conventions", params={"q": f"{word}bulk", "sort": "title", "after": after}
    )
    assert past.status_code == 200
    assert "Aucune convention ne vient après ce point de la liste" in past.text
    assert listed(past) == []
    # A cursor of another order, or made up: named, refused.
    for sort, cursor in (("updated", after), ("title", "eyJub3QiOiAiYSBwYWdlIn0"), ("due", "%%%")):
        refused = await officer.get("/office/conventions", params={"sort": sort, "after": cursor})
        assert refused.status_code == 422 and "<bdi>after</bdi>" in refused.text, (sort, cursor)
    # Past the count's cap, the page says "more than".
    monkeypatch.setattr(convention_search, "COUNT_CAP", 10)
    capped = await officer.get("/office/conventions", params={"q": f"{word}bulk"})
    assert "Plus de 10 conventions trouvées" in capped.text
    assert len(listed(capped)) == 50


HOSTILE = [
    "x" * 300,
    "%",
    "_",
    "%%__",
    "'",
    '"',
    'l\'électricien "Kénitra"',
    "ً",  # a lone Arabic diacritic (fathatan)
    "&",
    "|",
    "!",
    ":*",
    "<->",
    "a & b | !c",
    "kenitra:* <-> ! & |",
    "'); DROP TABLE conventions; --",
    "\\",
    "(((",
]


@pytest.mark.parametrize("words", HOSTILE)
async def test_hostile_searches_neither_fail_nor_inject(
    words: str, seeded: Seeded, officer: httpx.AsyncClient, db_pool: asyncpg.Pool
) -> None:
    page = await officer.get("/office/conventions", params={"q": words})
    assert page.status_code == 200, page.text[:1000]
    rows = listed(page)
    # `%` and `_` are not wildcards: nothing matches them (no LIKE anywhere).
    if words in ("%", "_", "%%__", "ً", "&", "|", "!", ":*", "<->", "\\", "((("):
        assert rows == []
    if words == "x" * 300:
        assert "La recherche a été coupée à ses 200 premiers caractères." in page.text
    assert await db_pool.fetchval("SELECT count(*) FROM conventions") > 0
    download = await officer.get("/office/conventions.csv", params={"q": words})
    assert download.status_code == 200


async def test_the_downloads_hold_the_current_filter_in_the_readers_dialect(
    seeded: Seeded, officer: httpx.AsyncClient, db_pool: asyncpg.Pool
) -> None:
    ids = seeded.ids
    # The inbox has recorded the next task of one convention: the downloads title it in the
    # reader's language beside its id and kind (the others' titles stay empty).
    recorded = NamedTask("sign", "Sign the convention as Karim Alaoui, directeur général")
    await db_pool.execute(
        "INSERT INTO tasks (convention_id, task_id, stage, kind, assignee, title, assigned_at,"
        " due_at, status) VALUES ($1, 'signature.sign.psa-dg', 'signature', 'sign', 'psa', $2,"
        " now(), now() + interval '9 days', 'open')",
        ids["kenitra"],
        recorded.title,
    )
    try:
        await _downloads(seeded, officer, recorded)
    finally:
        await db_pool.execute("DELETE FROM tasks WHERE convention_id = $1", ids["kenitra"])


async def _downloads(seeded: Seeded, officer: httpx.AsyncClient, recorded: NamedTask) -> None:
    ids, word = seeded.ids, seeded.word
    french = await officer.get("/office/conventions.csv", params={"q": word, "sort": "title"})
    assert french.status_code == 200
    assert french.headers["content-type"].startswith("text/csv")
    text = french.content.decode("utf-8")
    assert text.startswith("\ufeffconvention_id;title;")
    rows = list(csv.reader(io.StringIO(text.removeprefix("\ufeff")), delimiter=";"))
    assert len(rows) - 1 == 6  # every row of the filter, not a page
    by_id = {row[0]: row for row in rows[1:]}
    assert by_id[ids["formula"]][1].startswith("'=HYPERLINK")  # neutralised
    kenitra = by_id[ids["kenitra"]]
    assert kenitra[3] == "signature" and kenitra[8] == "signature.sign.psa-dg"
    assert kenitra[9] == task_title(recorded, "fr").text != task_title(recorded, "en").text
    assert kenitra[10] == "sign" and kenitra[11] == "PSA Maroc"  # who owes it, by name
    assert by_id[ids["fes"]][9] == ""  # no title recorded: its id and kind only
    # Streamed whole: every row of a filter longer than a page.
    bulk = await officer.get("/office/conventions.csv", params={"q": f"{word}bulk"})
    assert len(bulk.text.strip().splitlines()) == 1 + 55
    english = await officer.get(
        "/office/conventions.csv", params={"q": word, "stage": "signature", "lang": "en"}
    )
    assert english.content.decode("utf-8").startswith("\ufeffconvention_id,title,")
    assert len(english.text.strip().splitlines()) == 2
    assert task_title(recorded, "en").text in english.text
    workbook = await officer.get("/office/conventions.xlsx", params={"q": word, "kind": "specific"})
    assert workbook.status_code == 200
    sheet = openpyxl.load_workbook(io.BytesIO(workbook.content)).active
    assert sheet is not None
    cells = list(sheet.iter_rows(values_only=True))
    assert cells[0][0] == "convention_id"
    assert {row[0] for row in cells[1:]} == {
        ids["kenitra"],
        ids["fes"],
        ids["ended"],
        ids["formula"],
        ids["late"],
    }
    assert cells[0][8:11] == ("next_task", "next_task_title", "next_kind")
    in_sheet = next(row for row in cells[1:] if row[0] == ids["kenitra"])
    assert in_sheet[9] == task_title(recorded, "fr").text
    formula = next(row for row in cells[1:] if row[0] == ids["formula"])
    assert formula[1].startswith('=HYPERLINK("')  # kept as text, not a formula
    cell = next(
        c
        for row in sheet.iter_rows()
        for c in row
        if isinstance(c.value, str) and c.value.startswith("=HYPERLINK")
    )
    assert cell.data_type == "s"


async def test_the_portfolio_links_each_count_to_the_list_it_counts(
    seeded: Seeded, officer: httpx.AsyncClient
) -> None:
    page = await officer.get("/office")
    assert page.status_code == 200
    assert "/office/conventions?stage=signature&amp;kind=specific&amp;state=active" in page.text
    assert "/office/conventions?country=TN&amp;sector=BTP" in page.text
    assert "/office/conventions?overdue=yes" in page.text
    assert 'href="/office/portfolio/stages.xlsx"' in page.text
    # The link's filter lists what the count counts.
    counted = await found(
        officer, stage="signature", kind="specific", state="active", q=seeded.word
    )
    assert counted == [seeded.ids["kenitra"]]
    workbook = await officer.get("/office/portfolio/stages.xlsx")
    sheet = openpyxl.load_workbook(io.BytesIO(workbook.content)).active
    assert sheet is not None
    assert next(sheet.iter_rows(values_only=True))[:4] == ("stage", "kind", "state", "conventions")
    french = await officer.get("/office/portfolio/stages.csv?lang=fr")
    assert french.content.decode("utf-8").startswith("\ufeffstage;kind;state;conventions")


def titles_shown(page: httpx.Response) -> dict[str, str]:
    """Each listed convention's title as the page shows it (isolated in a <bdi>), by id."""
    assert page.status_code == 200, page.text[:2000]
    shown = re.findall(
        r'<a href="/office/conventions/([^"]+)"><bdi>[^<]*</bdi></a><br><bdi>([^<]*)</bdi>',
        page.text,
    )
    return {identifier: html.unescape(title) for identifier, title in shown}


async def test_each_reader_sees_the_title_in_their_language_on_the_lists(
    officer: httpx.AsyncClient, db_pool: asyncpg.Pool
) -> None:
    word = f"ttl{uuid.uuid4().hex[:8]}"
    several, arabic_first, one = (f"srch-{word}-{name}" for name in ("both", "ar", "one"))
    french, arabic = f"Formation des formateurs {word}", f"تكوين المكونين {word}"
    owed = [("drafting.review.ofppt", "review_draft", "ofppt", NOW - timedelta(days=400))]
    await _seed(db_pool, several, {"fr": french, "ar": arabic}, tasks=owed)  # type: ignore[arg-type]
    # The original is the first given: here the Arabic one, which a French reader never sees.
    await _seed(
        db_pool,
        arabic_first,
        {"ar": f"تكوين الحرفيين {word}", "fr": f"Formation des artisans {word}"},  # type: ignore[arg-type]
    )
    # One language only (an Arabic title read by a French reader): the original, for all.
    only = f"تكوين المدربين {word}"
    await _seed(db_pool, one, {"ar": only}, tasks=owed)  # type: ignore[arg-type]
    expected = {
        "ar": {several: arabic, arabic_first: f"تكوين الحرفيين {word}", one: only},
        "fr": {several: french, arabic_first: f"Formation des artisans {word}", one: only},
        # English was given by none: the original.
        "en": {several: french, arabic_first: f"تكوين الحرفيين {word}", one: only},
    }
    for language, titles in expected.items():
        page = await officer.get("/office/conventions", params={"q": word, "lang": language})
        assert titles_shown(page) == titles, language
        tasks = titles_shown(await officer.get(f"/office/tasks?scope=all&lang={language}"))
        assert {i: t for i, t in tasks.items() if word in i} == {
            several: titles[several],
            one: titles[one],
        }, language
    # The search still reads the original's words, by relevance too, and the Arabic reader
    # finds the convention by them though its row shows the Arabic title.
    for sort in ("updated", "relevance", "title"):
        page = await officer.get(
            "/office/conventions", params={"q": f"formateurs {word}", "lang": "ar", "sort": sort}
        )
        assert titles_shown(page) == {several: arabic}, sort
    # The downloads keep the original title.
    download = await officer.get("/office/conventions.csv", params={"q": word, "lang": "ar"})
    assert download.status_code == 200
    assert french in download.text and arabic not in download.text


def test_every_string_of_the_list_pages_is_in_the_three_catalogues() -> None:
    templates = Path(web.__file__).parent / "templates" / "office"
    shown = {
        message
        for name in ("conventions.html", "tasks.html")
        for message in re.findall(r"""_\(["']([^"']+)["']\)""", (templates / name).read_text())
    }
    assert len(shown) > 40
    for language in LANGUAGES:
        path = Path(web.__file__).parent / "locales" / language / "LC_MESSAGES" / "messages.po"
        with path.open("rb") as po:
            catalogue = read_po(po, locale=language)
        for message in shown:
            assert message in catalogue, f"{language}: {message!r} missing"
            if language != "en":
                assert catalogue[message].string, f"{language}: {message!r} untranslated"
    assert gettext("ar", "The office's tasks") == "مهام المكتب"


@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed")
async def test_an_officer_finds_a_convention_by_an_arabic_word_in_a_real_browser(
    seeded: Seeded, dev_env: WorkflowEnvironment, db_pool: asyncpg.Pool, tmp_path: Path
) -> None:
    """Signed out, a link to a search: sign in (password, authenticator), back on the search,
    read in Arabic, then the office's tasks; axe finds nothing on either page."""
    from playwright.async_api import async_playwright

    ARTIFACTS.mkdir(exist_ok=True)
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
    email = await new_account(db_pool, "officer", name="Awa Diallo")
    try:
        async with async_playwright() as playwright:
            browser = await launch_chromium(playwright, tmp_path / "chromium-profile")
            page = await browser.new_page()
            await page.goto(f"{base}/office/conventions?q=مدرسه")
            assert "/office/signin?next=" in page.url
            await page.fill("#email", email)
            await page.fill("#password", PASSWORD)
            await page.click("button.primary")
            await page.wait_for_selector("#code")
            secret = (await page.inner_text("dd.ref >> nth=0")).strip()
            await page.fill("#code", pyotp.TOTP(secret).now())
            await page.click("button.primary")
            await page.wait_for_selector("ul.ref li")
            await page.click("main a")  # "Continue": to the search asked for
            await page.wait_for_selector("table.tasks")
            assert seeded.ids["kenitra"] in await page.inner_text("table.tasks")
            await page.select_option("#language", "ar")
            await page.click("form[action='/office/language'] button")
            await page.wait_for_selector("table.tasks")
            assert await page.get_attribute("html", "dir") == "rtl"
            assert "/office/conventions?q=" in page.url  # the same search, now in Arabic
            assert seeded.ids["kenitra"] in await page.inner_text("table.tasks")
            await page.screenshot(path=str(ARTIFACTS / "office-5-search-ar.png"), full_page=True)
            await no_accessibility_violations(page, "conventions list")
            await page.goto(f"{base}/office/tasks?scope=all")
            await page.wait_for_selector("table.tasks")
            assert seeded.ids["late"] in await page.inner_text("table.tasks")
            await page.screenshot(path=str(ARTIFACTS / "office-6-tasks-ar.png"), full_page=True)
            await no_accessibility_violations(page, "office tasks")
            await browser.close()
    finally:
        server.should_exit = True
        await serving
