"""Every page of both desks, the mails and the PDF report, in Arabic and in French, as a person
sees them: Chromium takes a full-page screenshot of each, and the visible text outside the
data must hold no Latin-script word (Arabic) and no tell-tale English word (French).

One stack: the portal on uvicorn in process, one seeded convention (Bamako's funding request
to bid), an officer, an auditor and an admin signed in over HTTP (their cookies handed to
Chromium), the funder's contact opening the link the workflow minted. The pages are listed
in `PAGES`, checked against every router the portal includes: a new page cannot be
forgotten. The screenshots go to the test's temporary directory and, for a person to look at
them, to `PACTE_SCREENS_DIR` when it is set (read through infra.settings).

"Data" is what people wrote or what identifies: text inside <bdi>, inputs, <code>/<kbd>/
<samp>/<pre>, `.ref` elements, URLs and e-mail addresses, tokens holding a digit or one of
`-_./@:` (ids), and every name and title the seeded file, the directory and the accounts
hold. What remains is the product's own wording.
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

import asyncpg
import httpx
import pytest
import pytest_asyncio
import uvicorn
from fastapi import APIRouter
from fastapi.responses import HTMLResponse
from fastapi.routing import APIRoute
from temporalio.testing import WorkflowEnvironment

import web.app
from activities.message_templates import render
from application.conventions import find_task, start_convention
from application.office.signin import SESSION_COOKIE
from devkit.stack import free_port
from infra.database import create_pool
from infra.settings import read_environment
from schemas.convention import Contact, Convention
from schemas.notifications import Notification, NotificationEvent
from schemas.tasks import Task
from schemas.values import Language
from tests.browser import CHROMIUM, launch_chromium
from tests.conftest import DEV_TASK_QUEUE
from tests.partner_stack import (
    DECISION,
    FUNDER,
    funding_convention,
    link_path,
    make_desk,
    registered,
)
from tests.security_stack import private_database
from tests.test_delivery_webhook import funding_request_to
from tests.test_office_desk import csrf_of, new_account, sign_in, signed_in
from tests.test_partner_browser import SIGNER, signature_by_an_arabic_reading_minister
from tests.test_partner_browser import TASK as SIGNATURE_TASK
from tests.test_partner_links import link_minted
from web.app import create_app
from web.i18n import code_mail
from worker import build_worker

LANGUAGES = ("fr", "ar")

# --- what is the product's wording, and what is data --------------------------------------

ALLOWED_LATIN = {
    # Names of things that are the same in every language (documented in
    # docs/guides/languages.md).
    "Pacte",
    "PDF",
    "CSV",
    "XLSX",
    "JSON",
    "YAML",
    "IATI",
    "API",
    "TOTP",
    "UTC",
    "SVG",
    "XML",
    "ZIP",
    "HTML",
    "OFPPT",
    "IsDB",
    "ID",
    "MAD",
    "EUR",
    "USD",
    "XOF",
    "SAR",
    "PostgreSQL",
    "Temporal",
    "IANA",  # the time zone database a person's zone is named from
}
LAYOUT = r"""() => {
  // How much wider than the window the page is (0 when nothing sticks out).
  const overflow = document.documentElement.scrollWidth - document.documentElement.clientWidth;
  // Words split across two lines: each word of the text in table cells, captions, labels and
  // facts, as a Range, must lie on one line (its boxes overlap vertically; a word the bidi
  // algorithm cuts in runs has several boxes on one line). Ids (a digit or one of -_./@:),
  // code and a word wider than 24em (the seeded 200-letter name) may break: nothing else
  // can stay in the page.
  const split = new Set();
  const range = document.createRange();
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  const identifier = /[0-9_./@:\\-]/;
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const holder = node.parentElement;
    if (!holder || !holder.closest('td, th, caption, label, dt, dd, legend')) continue;
    if (holder.closest('code, kbd, samp, pre, .ref, script, style, select, textarea')) continue;
    // A dash joins two words the line may break between ("Marrakech–Safi"), as a space does.
    for (const match of node.data.matchAll(/[^\s\u2010-\u2015]+/g)) {
      const word = match[0];
      if (identifier.test(word)) continue;
      range.setStart(node, match.index);
      range.setEnd(node, match.index + word.length);
      const boxes = [...range.getClientRects()].filter(box => box.width > 0);
      // A word wider than 24em alone (what the fuzzing of other tests names things) is the
      // one the desk lets break inside itself (desk.css): no cell could hold it whole.
      const em = parseFloat(getComputedStyle(holder).fontSize);
      if (boxes.reduce((sum, box) => sum + box.width, 0) > 24 * em) continue;
      if (boxes.some(box => boxes.some(other => other.bottom <= box.top + 1))) split.add(word);
    }
  }
  // Labels beside their inputs: on the same row, or directly above (overlapping it across,
  // less than a line between them), never at the end of one line with the input on the next.
  const apart = [];
  for (const label of document.querySelectorAll('label[for]')) {
    const control = document.getElementById(label.htmlFor);
    if (!control || label.contains(control)) continue;
    const l = label.getBoundingClientRect();
    const c = control.getBoundingClientRect();
    if (!l.width || !c.width) continue;
    const sameRow = l.top < c.bottom && c.top < l.bottom;
    const above = l.bottom <= c.top + 1 && c.top - l.bottom < l.height
      && l.left < c.right && c.left < l.right;
    if (!sameRow && !above) apart.push(label.textContent.trim());
  }
  // Every table in its own box that scrolls sideways, reachable by Tab and named.
  const unboxed = [...document.querySelectorAll('table')].filter(table => {
    const box = table.parentElement;
    return !box || !box.matches('.scroll[tabindex="0"][role="region"]')
      || !(box.getAttribute('aria-label') || box.getAttribute('aria-labelledby'))
      || getComputedStyle(box).overflowX !== 'auto';
  }).map(table => table.querySelector('th')?.textContent.trim() || table.className);
  return {overflow, split: [...split], apart, unboxed};
}"""
"""One look at the page's layout (one call into Chromium): how much wider than the window it
is, the words split across lines, the labels away from their inputs, the tables without a
box of their own."""
LATIN_WORD = re.compile(r"[A-Za-z]{2,}")
ENGLISH_TELLS = re.compile(
    r"\b(the|with|and|of|your|task|tasks|answer|answers|answered|sign in|signed in|"
    r"sign out|submit|save|send|search|back|next|previous|none|please|upload|download|"
    r"password|account|accounts|settings|open|overdue|funder|reminder|escalation|"
    r"milestones?|timeline|stage|stages|request|decision|approve|reject|refuse)\b",
    re.IGNORECASE,
)
"""English words a French page would leave if a string were not translated ("due" is French
too, so it is not one of them)."""
IDENTIFIER = re.compile(r"\S*[0-9_./@:\\-]\S*|https?://\S+|\b[0-9a-f]{16,}\b")

VISIBLE_TEXT = """() => {
  const copy = document.body.cloneNode(true);
  copy.querySelectorAll('bdi, input, textarea, code, kbd, samp, pre, script, style, .ref, svg')
      .forEach(e => e.remove());
  // What is said in another language on purpose (each language's name in the switcher).
  const lang = document.documentElement.lang;
  copy.querySelectorAll('[lang]').forEach(e => { if (e.lang !== lang) e.remove(); });
  copy.querySelectorAll('select').forEach(s => {
      // A choice's label is the product's wording; what is chosen is data.
      s.replaceWith(document.createTextNode(' '));
  });
  document.body.appendChild(copy);
  copy.style.position = 'absolute';
  const text = copy.innerText;
  copy.remove();
  return text;
}"""


def outside_data(text: str, data: set[str]) -> str:
    """The text without its data: names and titles first (longest first), then ids and URLs.
    A value is taken out only where it stands whole: an organisation some earlier test named
    "t" must not cut every "t" out of the page's words."""
    for value in sorted(data, key=len, reverse=True):
        text = re.sub(rf"(?<!\w){re.escape(value)}(?!\w)", " ", text)
    return IDENTIFIER.sub(" ", text.replace("\u2068", "\n\u2068")).replace("\u2069", " ")


ISOLATED = re.compile("\u2068[^\u2069]*\u2069")


def wrong_words(language: str, text: str, data: set[str]) -> list[str]:
    """The Latin-script words of an Arabic text, the English words of a French one, outside
    the data."""
    rest = outside_data(ISOLATED.sub(" ", text), data)
    if language == "ar":
        return sorted({w for w in LATIN_WORD.findall(rest) if w not in ALLOWED_LATIN})
    # An acronym in capitals ("OF" of a broken "OFPPT") is not an English word.
    return sorted({m.group(0) for m in ENGLISH_TELLS.finditer(rest) if not m.group(0).isupper()})


def words_of(values: set[str]) -> set[str]:
    """The Latin-script words of the data: the PDF's text breaks names across lines, so the
    report's data is matched word by word."""
    return {word for value in values for word in LATIN_WORD.findall(value)}


def data_of(convention: Convention) -> set[str]:
    """Every name, title, label and address the seeded file wrote."""
    found: set[str] = set()

    def walk(value: Any, key: str = "") -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                walk(v, k)
        elif isinstance(value, list):
            for v in value:
                walk(v, key)
        elif isinstance(value, str) and key in {
            "title",
            "name",
            "label",
            "capacity",
            "email",
            "description",
            "summary",
            "city",
            "place",
            "unit",
            "currency",
            "titles",
            "fr",
            "ar",
            "en",
        }:
            found.add(value)

    walk(convention.model_dump(mode="json"))
    return {value for value in found if value.strip()}


# --- the pages ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Visit:
    """Who opens a page, and at which address (placeholders filled from the stack)."""

    who: str
    path: str


PAGES: dict[str, Visit] = {
    # The partner's desk.
    "/": Visit("anyone", "/"),
    "/t/{token}": Visit("contact", "{link}"),
    "/desk": Visit("contact", "/desk"),
    "/desk/tasks/{convention_id}/{task_id}": Visit("contact", "/desk/tasks/{convention_id}/{task}"),
    # The office's sign-in and its steps.
    "/office/signin": Visit("anyone", "/office/signin"),
    "/office/second-factor": Visit("second_factor", "/office/second-factor"),
    "/office/enrol": Visit("enrolling", "/office/enrol"),
    # A reset link that is no longer valid: what a person following an old mail sees (a
    # valid one is mailed by an admin; tests/test_office_account.py follows it).
    "/office/reset/{token}": Visit("anyone", "/office/reset/an-old-link"),
    # The office's desk, by the role that may open each page.
    "/office": Visit("officer", "/office"),
    "/office/conventions": Visit("officer", "/office/conventions"),
    "/office/conventions/{convention_id}": Visit("officer", "/office/conventions/{convention_id}"),
    "/office/conventions/{convention_id}/tasks/{task_id}": Visit(
        "officer", "/office/conventions/{convention_id}/tasks/{task}"
    ),
    # An admin changes a convention's responsible officer from its own page.
    "/office/conventions/{convention_id}/officer": Visit(
        "admin", "/office/conventions/{convention_id}/officer"
    ),
    "/office/tasks": Visit("officer", "/office/tasks"),
    "/office/start": Visit("officer", "/office/start"),
    "/office/account": Visit("officer", "/office/account"),
    "/office/editor": Visit("officer", "/office/editor"),
    "/office/editor/{draft_id}": Visit("officer", "/office/editor/{draft_id}"),
    "/office/editor/{draft_id}/preview": Visit("officer", "/office/editor/{draft_id}/preview"),
    "/office/audit/{convention_id}": Visit("auditor", "/office/audit/{convention_id}"),
    "/office/access-log": Visit("admin", "/office/access-log"),
    "/office/accounts": Visit("admin", "/office/accounts"),
    "/office/directory": Visit("admin", "/office/directory"),
    "/office/directory/{org_id}": Visit("admin", "/office/directory/bid"),
    "/office/directory/proposals/{proposal_id}": Visit(
        "admin", "/office/directory/proposals/{proposal_id}"
    ),
}

MORE_VISITS: dict[str, tuple[str, Visit]] = {
    # The second seeded convention: Tanger's signature, by a minister who reads Arabic.
    "signature": ("/t/{token}", Visit("signer", "{signature_link}")),
}
"""Pages seen a second time, with other facts: by name, the route and the visit."""

EXPECTED_FAILURES: dict[tuple[str, str], str] = {}
"""Pages whose check fails today, by (route, language), with the reason: it only shrinks."""


def _html_pages() -> set[str]:
    """Every GET route of the portal that answers a page (HTML)."""
    routers = [
        module.router
        for module in vars(web.app).values()
        if isinstance(module, ModuleType) and isinstance(getattr(module, "router", None), APIRouter)
    ]
    return {
        route.path
        for router in routers
        for route in router.routes
        if isinstance(route, APIRoute)
        and "GET" in (route.methods or ())
        and getattr(route.response_class, "value", route.response_class) is HTMLResponse
    }


def test_every_page_of_both_desks_is_visited() -> None:
    assert set(PAGES) == _html_pages()
    assert {route for route, _ in EXPECTED_FAILURES} <= set(PAGES)


def test_the_check_finds_the_words_left_in_english_and_spares_the_data() -> None:
    data = {"Fatima Zahra EL ALAOUI", "Coopération OFPPT – MENEFP"}
    # Arabic: a Latin word outside the data is found; names, ids, isolates, URLs are not.
    assert wrong_words("ar", "أرسلوا ردكم Submit", data) == ["Submit"]
    assert wrong_words("ar", "wrong code (4 tries left)", set()) == [
        "code",
        "left",
        "tries",
        "wrong",
    ]
    spared = (
        "وقّع Fatima Zahra EL ALAOUI على Coopération OFPPT – MENEFP"
        " funding_request.decision.r1 https://pacte.example/t/abc \u2068Tanger\u2069 Pacte PDF"
    )
    assert wrong_words("ar", spared, data) == []
    # French: the tell-tale English words, not French ones that look alike ("due").
    assert wrong_words("fr", "Sign in to answer the task", set()) == [
        "Sign in",
        "answer",
        "task",
        "the",
    ]
    assert wrong_words("fr", "Somme due par la partie ; lien OF (OFPPT)", set()) == []
    # A one-letter name in the data (an earlier test's organisation) leaves the words whole.
    assert wrong_words("ar", "Pacte audit", {"t", "Pacte"}) == ["audit"]


# --- the mails and the report -------------------------------------------------------------

NOW = datetime(2026, 12, 7, 9, tzinfo=UTC)


def _decision_task(title: str) -> Task:
    from schemas.tasks import TaskKind

    return Task(
        id="funding_request.decision.r1",
        convention_id="bamako-2026",
        stage="funding_request",
        kind=TaskKind.DECIDE_FUNDING,
        assignee="bid",
        title=title,
        assigned_at=NOW,
        due_at=NOW + timedelta(days=30),
    )


def mails(language: str) -> Iterator[tuple[str, str]]:
    """Each mail's HTML part (the code mail, plain text only, laid in a page): name, HTML."""
    lang = Language(language)
    task = _decision_task("Decide on the funding request of 40000000 IsDB-ID")
    funder = {"fr": "Banque islamique de développement", "ar": "البنك الإسلامي للتنمية"}[language]
    for event in (
        NotificationEvent.TASK_ASSIGNED,
        NotificationEvent.TASK_REMINDER,
        NotificationEvent.TASK_ESCALATED,
        NotificationEvent.STAGE_CHANGED,
    ):
        notification = Notification(
            id=f"bamako-2026/x/{event.value}",
            convention_id="bamako-2026",
            event=event,
            party="ofppt" if event is NotificationEvent.TASK_ESCALATED else "bid",
            recipients=[Contact(name="Awa Diallo", email="awa@example.org", language=lang)],
            language=lang,
            subject="[bamako-2026] x",
            task=None if event is NotificationEvent.STAGE_CHANGED else task,
            stage="funding_request" if event is NotificationEvent.STAGE_CHANGED else None,
            created_at=NOW,
            convention_title="Coopération OFPPT – MENEFP",
        )
        named = {"bid": funder, "ofppt": "OFPPT"}
        rendered = render(notification, party_name=named[notification.party], names=named)
        yield event.value, _with_subject(rendered.subject, rendered.html, language)
    code = code_mail(language, "493817", "Coopération OFPPT – MENEFP")
    page = (
        f'<!DOCTYPE html><html lang="{language}" dir="{"rtl" if language == "ar" else "ltr"}">'
        f'<head><meta charset="utf-8"></head><body><pre style="white-space: pre-wrap; '
        f'font-family: sans-serif">{_escape(code.text)}</pre></body></html>'
    )
    yield "code", _with_subject(code.subject, page, language)


def _escape(text: str) -> str:
    import html

    return html.escape(text)


def _with_subject(subject: str, page: str, language: str) -> str:
    """The mail's page with its subject above, as a mail reader shows it."""
    direction = "rtl" if language == "ar" else "ltr"
    return page.replace(
        "<body", f'<body><h3 class="subject" dir="{direction}">{_escape(subject)}</h3><div', 1
    ).replace("</body>", "</div></body>", 1)


def report_pdf(language: str) -> tuple[bytes, set[str]]:
    """The audit report of Bamako's recorded convention, as a PDF, in `language`, and the
    words of its data (every text of the convention's file)."""
    from auditing.report import ReportUnavailable, render_report_pdf
    from tests.test_record_outputs import _report_facts

    facts, _ = _report_facts()
    try:
        pdf = render_report_pdf(facts.__class__(**{**facts.__dict__, "language": language}))
    except ReportUnavailable as error:
        pytest.skip(str(error))
    written = [facts.convention.model_dump(mode="json")] + [
        # What people wrote in their answers (a comment, a place), and who acted.
        [entry.details, entry.actor]
        for entry in facts.timeline.entries
    ]
    return pdf, words_of(set(_strings(written)))


def report_pages(language: str, tmp_path: Path, screens: Screens) -> tuple[str, set[str]]:
    """The report's first two pages rasterised (Poppler's pdftoppm) among the screenshots;
    their text (pdftotext) and the words of the report's data."""
    report, report_data = report_pdf(language)
    pdf = tmp_path / f"report-{language}.pdf"
    pdf.write_bytes(report)
    prefix = tmp_path / f"report-{language}"
    first_pages = ["-f", "1", "-l", "2"]
    rasterise = ["pdftoppm", "-png", "-r", "80", *first_pages, str(pdf), str(prefix)]
    subprocess.run(rasterise, check=True)
    for number, png in enumerate(sorted(tmp_path.glob(f"report-{language}-*.png")), 1):
        for target in screens.paths(f"{language}-report-page-{number}"):
            target.write_bytes(png.read_bytes())
    text = subprocess.run(
        ["pdftotext", *first_pages, str(pdf), "-"], check=True, capture_output=True, text=True
    ).stdout
    return text, report_data


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)
    elif isinstance(value, str):
        yield value


# --- the stack ----------------------------------------------------------------------------


@dataclass
class Shot:
    """One screenshot and what its check found."""

    name: str
    language: str
    route: str
    wrong: list[str]


class Screens:
    """Where the screenshots go: the test's directory, and PACTE_SCREENS_DIR when set."""

    def __init__(self, tmp_path: Path) -> None:
        self.directories = [tmp_path / "screens"]
        configured = read_environment().screens_dir
        if configured:
            self.directories.append(Path(configured))
        for directory in self.directories:
            directory.mkdir(parents=True, exist_ok=True)

    def paths(self, name: str) -> list[Path]:
        return [directory / f"{name}.png" for directory in self.directories]

    async def take(self, page: Any, name: str) -> None:
        first, *others = self.paths(name)
        await page.screenshot(path=str(first), full_page=True)
        for other in others:
            other.write_bytes(first.read_bytes())


def _client(base: str, cookie: str | None = None) -> httpx.AsyncClient:
    """A client of the served portal, patient: the shared machine may be busy."""
    cookies = {SESSION_COOKIE: cookie} if cookie else None
    return httpx.AsyncClient(base_url=base, cookies=cookies, timeout=60)


def _cookie(http: httpx.AsyncClient, name: str) -> str:
    value = http.cookies.get(name)
    assert value, f"no {name} cookie"
    return value


async def _office_sessions(base: str, pool: asyncpg.Pool) -> dict[str, str]:
    """A cookie for each office visitor: three roles signed in, two half-way."""
    cookies: dict[str, str] = {}
    for role in ("officer", "auditor", "admin"):
        async with _client(base) as http:
            await signed_in(http, pool, role)
            cookies[role] = _cookie(http, SESSION_COOKIE)
    async with _client(base) as http:
        await sign_in(http, await new_account(pool, "officer", name="Karim Benali"))
        cookies["enrolling"] = _cookie(http, SESSION_COOKIE)
    async with _client(base) as http:
        email = await signed_in(http, pool, "officer")
        page = await http.get("/office/account")
        await http.post("/office/signout", data={"csrf": csrf_of(page)})
    async with _client(base) as http:
        await sign_in(http, email)
        cookies["second_factor"] = _cookie(http, SESSION_COOKIE)
    return cookies


async def _draft(base: str, cookie: str, convention_id: str) -> str:
    """A copy of the seeded convention in the editor: its draft id."""
    async with _client(base, cookie) as http:
        page = await http.get("/office/editor")
        made = await http.post(
            "/office/editor",
            data={"csrf": csrf_of(page), "action": "copy", "convention_id": convention_id},
        )
        assert made.status_code == 303, made.text
        return made.headers["location"].rsplit("/", 1)[1]


async def _proposal(base: str, cookie: str, convention: Convention) -> str:
    """A start refused for a contact the directory does not hold: the proposal's id."""
    contacts = [FUNDER, {"name": "Moussa Traoré", "email": "m.traore@isdb.example"}]
    changed = funding_request_to(None, contacts).model_copy(
        update={"id": f"{convention.id}-p{uuid.uuid4().hex[:4]}"}
    )
    async with _client(base, cookie) as http:
        page = await http.get("/office/start")
        refused = await http.post(
            "/office/start",
            data={
                "csrf": csrf_of(page),
                "document": changed.model_dump_json(exclude_none=True),
                "filename": f"{changed.id}.json",
                "action": "start",
            },
        )
        assert refused.status_code == 409, refused.text[:2000]
        [proposal] = re.findall(r'href="/office/directory/proposals/(dp-[0-9a-f]+)"', refused.text)
        return str(proposal)


SEEDED_NAMES = ["K" * 200, "K" * 300]
"""An organisation's name and a key's, without a space: the only words (with ids) that may
break inside, where nothing else keeps them in the page."""


async def _long_unbroken_entries(pool: asyncpg.Pool) -> str:
    """An organisation whose name is 200 letters without a space, and a key of bid's named
    with 300: what a careless or hostile hand may type, which no list may let widen the page
    (the walk checks every page at 768 px). And an organisation named "t"."""
    suffix = os.urandom(4).hex()
    await pool.execute(
        "INSERT INTO directory_organisations"
        " (id, name_fr, name_ar, name_en, kind, country, created_by)"
        " VALUES ($1, $2, $2, $2, 'company', 'MA', 'test')",
        "long-" + "k" * 50 + suffix,
        SEEDED_NAMES[0],
    )
    # And one named with a single letter, as the suite's API fuzzing leaves: the check must
    # not take that letter out of every word of the page.
    await pool.execute(
        "INSERT INTO directory_organisations"
        " (id, name_fr, name_ar, name_en, kind, country, created_by)"
        " VALUES ($1, 't', 't', 't', 'company', 'MA', 'test')",
        "short-" + suffix,
    )
    await pool.execute(
        "INSERT INTO partner_api_keys (id, party, name, key_hash) VALUES ($1, 'bid', $2, $3)",
        "long-" + suffix,
        SEEDED_NAMES[1],
        os.urandom(32),
    )
    return suffix


async def _forget_long_entries(pool: asyncpg.Pool, suffix: str) -> None:
    """The two entries gone again: later tests read bid's keys and the directory's list."""
    await pool.execute("DELETE FROM partner_api_keys WHERE id = $1", "long-" + suffix)
    await pool.execute(
        "DELETE FROM directory_organisations WHERE id = ANY($1::text[])",
        ["long-" + "k" * 50 + suffix, "short-" + suffix],
    )


async def _directory_names(pool: asyncpg.Pool, convention: Convention) -> set[str]:
    """What people wrote into the directory: the organisations' ids and names, the people's
    names and titles, the keys' names, the conventions' titles. All of it, not only this
    convention's parties': the directory's list shows every organisation, and earlier tests
    of the suite add their own."""
    names: set[str] = {party.id for party in convention.parties}
    for row in await pool.fetch(
        "SELECT id, name_fr, name_ar, name_en FROM directory_organisations"
        " UNION ALL SELECT id, name, title, email FROM directory_people"
        " UNION ALL SELECT id, name, party, NULL FROM partner_api_keys"
        # An organisation's page lists its conventions by title: other tests' conventions.
        " UNION ALL SELECT id, title, NULL, NULL FROM conventions"
    ):
        names |= {value for value in row.values() if value}
    return {name for name in names if name}


async def signature_convention(
    env: WorkflowEnvironment, pool: asyncpg.Pool, task_queue: str = DEV_TASK_QUEUE
) -> Convention:
    """Tanger's framework reduced to one signature, by a minister who reads Arabic: started,
    the signature task open."""
    convention = await registered(pool, signature_by_an_arabic_reading_minister())
    await start_convention(env.client, convention, task_queue)
    await find_task(env.client, convention.id, SIGNATURE_TASK, wait_seconds=30)
    return convention


@pytest_asyncio.fixture
async def walk_stack(
    dev_env: WorkflowEnvironment, postgres_url: str
) -> AsyncIterator[tuple[asyncpg.Pool, str]]:
    """A database of the walk's own on the session's PostgreSQL, and a worker writing to it on
    a task queue of its own: the office's lists then hold only what the walk seeds, whatever
    earlier tests of the suite wrote (the fuzzing's names, other conventions' titles)."""
    url = await private_database(postgres_url, "walk")
    pool = await create_pool(url)
    task_queue = f"pacte-walk-{url.rsplit('/', 1)[1]}"
    async with build_worker(dev_env.client, pool, task_queue):
        yield pool, task_queue
    await pool.close()


@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed")
async def test_every_page_mail_and_report_speaks_arabic_and_french(
    dev_env: WorkflowEnvironment, walk_stack: tuple[asyncpg.Pool, str], tmp_path: Path
) -> None:
    from playwright.async_api import async_playwright

    db_pool, task_queue = walk_stack
    screens = Screens(tmp_path)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    desk = make_desk(dev_env.client, db_pool)
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
    shots: list[Shot] = []
    long_entries = ""
    try:
        convention, signing = await asyncio.gather(
            funding_convention(dev_env.client, db_pool, task_queue=task_queue),
            signature_convention(dev_env, db_pool, task_queue),
        )
        await link_minted(db_pool, convention.id, FUNDER["name"])
        await link_minted(db_pool, signing.id, SIGNER)
        cookies = await _office_sessions(base, db_pool)
        places = {
            "convention_id": convention.id,
            "task": DECISION,
            "link": link_path(convention.id, FUNDER["name"]),
            "signature_link": link_path(signing.id, SIGNER, SIGNATURE_TASK),
            "draft_id": await _draft(base, cookies["officer"], convention.id),
            "proposal_id": await _proposal(base, cookies["officer"], convention),
        }
        long_entries = await _long_unbroken_entries(db_pool)
        data = (
            data_of(convention)
            | data_of(signing)
            | await _directory_names(db_pool, convention)
            | await _directory_names(db_pool, signing)
            | {"Awa Diallo", "Karim Benali", "Moussa Traoré", convention.id}
        )
        # The reports are drawn (WeasyPrint) while Chromium walks the pages.
        reports = {
            language: asyncio.create_task(
                asyncio.to_thread(report_pages, language, tmp_path, screens)
            )
            for language in LANGUAGES
        }
        async with async_playwright() as playwright:
            browser = await launch_chromium(playwright, tmp_path / "chromium-profile")
            # A laptop's half screen, or a tablet held upright: the narrowest window the
            # desks are laid out for.
            page = await browser.new_page()
            await page.set_viewport_size({"width": 768, "height": 1024})
            overflowing: list[tuple[str, str]] = []
            split: dict[tuple[str, str], list[str]] = {}
            apart: dict[tuple[str, str], list[str]] = {}
            unboxed: dict[tuple[str, str], list[str]] = {}
            visits = [(_file_name(route), route, visit) for route, visit in PAGES.items()]
            visits += [(name, route, visit) for name, (route, visit) in MORE_VISITS.items()]
            for who in ("anyone", "contact", "signer", "officer", "auditor", "admin", *_HALF_WAY):
                await browser.clear_cookies()
                if who in cookies:
                    await browser.add_cookies(
                        [{"name": SESSION_COOKIE, "value": cookies[who], "url": base}]
                    )
                routes = [(name, route, visit) for name, route, visit in visits if visit.who == who]
                # The link first: it opens the contact's session.
                routes.sort(key=lambda item: item[1] != "/t/{token}")
                for language in LANGUAGES:
                    for file_name, route, visit in routes:
                        url = base + visit.path.format(**places)
                        if route == "/t/{token}":
                            # The link opens the session and leads to the task's page.
                            await page.goto(url)
                            url = page.url
                        url += ("&" if "?" in url else "?") + f"lang={language}"
                        response = await page.goto(url)
                        assert response is not None
                        assert response.status < 500, (route, response.status)
                        assert await page.get_attribute("html", "lang") == language, route
                        name = f"{language}-{file_name}"
                        await screens.take(page, name)
                        text = await page.evaluate(VISIBLE_TEXT)
                        shots.append(Shot(name, language, route, wrong_words(language, text, data)))
                        # Nothing wider than the window: a long select, id or table scrolls
                        # the whole page sideways (and in Arabic hides its start). No word
                        # split, no label away from its input.
                        layout = await page.evaluate(LAYOUT)
                        if layout["overflow"] > 1:
                            overflowing.append((route, language))
                        if layout["split"]:
                            split[(name, language)] = layout["split"]
                        if layout["apart"]:
                            apart[(name, language)] = layout["apart"]
                        if layout["unboxed"]:
                            unboxed[(name, language)] = layout["unboxed"]

            # The mails' HTML part, and the PDF report's first pages, in both languages.
            for language in LANGUAGES:
                for event, mail in mails(language):
                    await page.set_content(mail)
                    name = f"{language}-mail-{event}"
                    await screens.take(page, name)
                    text = await page.evaluate(VISIBLE_TEXT)
                    mail_data = data | {"Awa Diallo", "Coopération OFPPT – MENEFP", "OFPPT"}
                    shots.append(
                        Shot(name, language, "mail", wrong_words(language, text, mail_data))
                    )
            await browser.close()

        for language in LANGUAGES:
            text, report_data = await reports[language]
            # A comment shortened with "…" may cut a data word: its beginning is data too.
            wrong = [
                w
                for w in wrong_words(language, text, data)
                if not any(known.startswith(w) for known in report_data)
            ]
            shots.append(Shot(f"{language}-report", language, "report", wrong))
    finally:
        server.should_exit = True
        await serving
        if long_entries:
            await _forget_long_entries(db_pool, long_entries)

    assert not overflowing, f"wider than the window: {overflowing}"
    assert not split, f"words split across lines: {split}"
    assert not apart, f"labels away from their inputs: {apart}"
    assert not unboxed, f"tables without a named, focusable box that scrolls: {unboxed}"
    found = {(shot.route, shot.language): shot.wrong for shot in shots if shot.wrong}
    unexpected = {key: wrong for key, wrong in found.items() if key not in EXPECTED_FAILURES}
    fixed = set(EXPECTED_FAILURES) - set(found)
    assert not unexpected, "\n".join(f"{key}: {wrong}" for key, wrong in unexpected.items())
    assert not fixed, f"these pages pass now: remove them from EXPECTED_FAILURES: {fixed}"
    assert len(shots) >= 2 * len(PAGES)


_HALF_WAY = ("enrolling", "second_factor")


def _file_name(route: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", route.lower()).strip("-") or "home"
