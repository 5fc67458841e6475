"""The office's own tasks (/office/tasks): every open task the office's party owes across
active conventions, overdue first, with its kind and a link to where it is answered; "mine"
(conventions I started or am the officer of) and the whole office's; CSV and XLSX.

The read model is seeded as the projection writes it (see test_office_conventions.py);
pages over the real app, PostgreSQL and Temporal dev server.
"""

from __future__ import annotations

import csv
import io
import re
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import asyncpg
import httpx
import openpyxl
import pytest_asyncio
from temporalio.testing import WorkflowEnvironment

from tests.partner_stack import make_desk
from tests.test_office_conventions import _seed
from tests.test_office_desk import office_client, signed_in

NOW = datetime.now(UTC)
TASK_ROW = re.compile(
    r'<td><bdi>([^<]+)</bdi></td>\s*<td>[^<]*</td>\s*<td><a href="/office/conventions/([^"]+)">'
)


@dataclass(frozen=True)
class Office:
    """A signed-in officer, the conventions seeded for them, and an auditor's client."""

    officer: httpx.AsyncClient
    auditor: httpx.AsyncClient
    ids: dict[str, str]


@pytest_asyncio.fixture(scope="module")
async def office(dev_env: WorkflowEnvironment, db_pool: asyncpg.Pool) -> AsyncIterator[Office]:
    desk = make_desk(dev_env.client, db_pool)
    async with office_client(desk) as officer, office_client(desk) as auditor:
        email = await signed_in(officer, db_pool, "officer")
        await signed_in(auditor, db_pool, "auditor")
        word = uuid.uuid4().hex[:8]
        ids = {name: f"tasks-{word}-{name}" for name in ("mine", "started", "theirs", "ended")}
        await _seed(
            db_pool,
            ids["mine"],
            f"Officer's own {word}",
            officer={"name": "Awa Diallo", "email": email.upper()},
            tasks=[
                (
                    "escalation.signature.sign.psa-dg",
                    "resolve_escalation",
                    "ofppt",
                    NOW - timedelta(days=3),
                ),
                ("drafting.revise", "revise_draft", "ofppt", NOW + timedelta(days=20)),
                ("signature.sign.psa-dg", "sign", "psa", NOW - timedelta(days=10)),
            ],
        )
        await _seed(
            db_pool,
            ids["started"],
            f"Started by the officer {word}",
            tasks=[
                ("funding.information", "provide_information", "ofppt", NOW + timedelta(days=5))
            ],
        )
        await db_pool.execute(
            "INSERT INTO office_access_log (email, action, target, outcome)"
            " VALUES ($1, 'start', $2, 'ok')",
            email,
            ids["started"],
        )
        await _seed(
            db_pool,
            ids["theirs"],
            f"A colleague's {word}",
            officer={"name": "Karim Alaoui", "email": "karim@ofppt.example"},
            tasks=[("delivery.fix.n1", "fix_delivery", "ofppt", NOW + timedelta(days=1))],
        )
        await _seed(
            db_pool,
            ids["ended"],
            f"Ended {word}",
            state="completed",
            officer={"name": "Awa Diallo", "email": email},
            tasks=[("drafting.revise", "revise_draft", "ofppt", NOW - timedelta(days=1))],
        )
        yield Office(officer, auditor, ids)


def owed(page: httpx.Response, ids: dict[str, str]) -> list[tuple[str, str]]:
    """(convention, task) of the page's rows, of this module's conventions only."""
    assert page.status_code == 200, page.text[:2000]
    rows = [(c, t) for t, c in TASK_ROW.findall(page.text)]
    return [row for row in rows if row[0] in ids.values()]


async def test_mine_lists_the_offices_tasks_of_my_conventions_overdue_first(office: Office) -> None:
    ids = office.ids
    mine = await office.officer.get("/office/tasks")
    assert owed(mine, ids) == [
        (ids["mine"], "escalation.signature.sign.psa-dg"),  # overdue first
        (ids["started"], "funding.information"),  # then by due date
        (ids["mine"], "drafting.revise"),
    ]
    # What each needs, in the reader's language, and where it is answered.
    assert "traiter une relance hiérarchique" in mine.text
    assert f'href="/office/conventions/{ids["mine"]}/tasks/escalation.signature.sign.psa-dg"' in (
        mine.text
    )
    assert "en retard" in mine.text
    # Not the partner's task, not a colleague's, not an ended convention's.
    assert "signature.sign.psa-dg</bdi>" not in mine.text.replace(
        "escalation.signature.sign.psa-dg</bdi>", ""
    )
    everything = await office.officer.get("/office/tasks?scope=all")
    assert set(owed(everything, ids)) == {
        (ids["mine"], "escalation.signature.sign.psa-dg"),
        (ids["started"], "funding.information"),
        (ids["mine"], "drafting.revise"),
        (ids["theirs"], "delivery.fix.n1"),
    }
    # The conventions list's "mine" is the same: started by me, or mine as officer.
    word = ids["mine"].split("-")[1]
    listed = await office.officer.get("/office/conventions", params={"q": word, "scope": "mine"})
    assert set(re.findall(r'<a href="/office/conventions/(tasks-[^"]+)">', listed.text)) == {
        ids["mine"],
        ids["started"],
        ids["ended"],
    }
    refused = await office.officer.get("/office/tasks?scope=everyone")
    assert refused.status_code == 422 and "scope" in refused.text


async def test_an_auditor_reads_the_tasks_without_an_answer_link(office: Office) -> None:
    ids = office.ids
    page = await office.auditor.get("/office/tasks?scope=all")
    assert (ids["theirs"], "delivery.fix.n1") in owed(page, ids)
    assert "/tasks/delivery.fix.n1" not in page.text
    assert f'<a href="/office/conventions/{ids["theirs"]}">' in page.text


async def test_the_tasks_download_as_csv_and_xlsx(office: Office) -> None:
    ids = office.ids
    french = await office.officer.get("/office/tasks.csv")
    text = french.content.decode("utf-8")
    assert text.startswith("\ufeffconvention_id;title;task_id;kind;")
    rows = list(csv.reader(io.StringIO(text.removeprefix("\ufeff")), delimiter=";"))
    ours = [row for row in rows[1:] if row[0] in ids.values()]
    assert [row[2] for row in ours] == [
        "escalation.signature.sign.psa-dg",
        "funding.information",
        "drafting.revise",
    ]
    assert ours[0][6] == "true"  # overdue
    workbook = await office.officer.get("/office/tasks.xlsx?scope=all")
    sheet = openpyxl.load_workbook(io.BytesIO(workbook.content)).active
    assert sheet is not None
    tasks = {(row[0], row[2]) for row in sheet.iter_rows(values_only=True)}
    assert (ids["theirs"], "delivery.fix.n1") in tasks
    assert (ids["ended"], "drafting.revise") not in tasks
