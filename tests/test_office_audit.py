"""Auditors, read-only: replay and verify a convention with audit.py's own functions, read
the verdict, download the timeline (HTML, CSV, JSON) and the export; each download logged."""

from __future__ import annotations

import io

import asyncpg
import openpyxl
from temporalio.testing import WorkflowEnvironment

from tests.partner_stack import funding_convention, make_desk
from tests.test_office_desk import csrf_of, office_client, signed_in


async def test_an_auditor_replays_verifies_and_downloads_and_each_is_logged(
    dev_env: WorkflowEnvironment, db_pool: asyncpg.Pool
) -> None:
    desk = make_desk(dev_env.client, db_pool)
    convention = await funding_convention(dev_env.client, db_pool)
    async with office_client(desk) as http:
        email = await signed_in(http, db_pool, "auditor")
        page = await http.get(f"/office/audit/{convention.id}?lang=en")
        assert page.status_code == 200
        checked = await http.post(
            f"/office/audit/{convention.id}/check?lang=en", data={"csrf": csrf_of(page)}
        )
        assert checked.status_code == 200, checked.text
        assert "Every run replays on this code." in checked.text
        assert "The milestones agree with the history and their chain holds." in checked.text
        html = await http.get(f"/office/audit/{convention.id}/timeline.html")
        assert html.status_code == 200 and "<svg" in html.text
        csv = await http.get(f"/office/audit/{convention.id}/timeline.csv")
        assert csv.status_code == 200 and "convention_started" in csv.text
        as_json = await http.get(f"/office/audit/{convention.id}/timeline.json")
        assert as_json.status_code == 200 and as_json.json()
        export = await http.get(f"/office/audit/{convention.id}/export.json")
        assert export.status_code == 200
        assert export.json()["runs"][0]["events"][0]["eventType"]
        missing = await http.get("/office/audit/no-such-convention/timeline.csv")
        assert missing.status_code == 404
        # An audit page is a convention's: a made-up id is no page (wapiti read 200s for
        # `<id>~`, `<id>.bak` as backup files left behind).
        for made_up in (f"{convention.id}~", f"{convention.id}.bak", "backup.zip"):
            assert (await http.get(f"/office/audit/{made_up}")).status_code == 404
    actions = await db_pool.fetch(
        "SELECT action, outcome, target FROM office_access_log WHERE email = $1 ORDER BY id",
        email,
    )
    # After the sign-in and the second factor's set-up (every role owes one: issue 28).
    assert [(a["action"], a["outcome"]) for a in actions][2:] == [
        ("audit_check", "ok"),
        ("download_timeline_html", "ok"),
        ("download_timeline_csv", "ok"),
        ("download_timeline_json", "ok"),
        ("download_export", "ok"),
    ]
    assert all(a["target"] == convention.id for a in actions[2:])
    # In the zone the auditor's account reads in: the page's times, and its header says it;
    # the XLSX says each line beside the stored columns.
    async with office_client(desk) as http:
        await signed_in(http, db_pool, "auditor")
        account = await http.get("/office/account")
        chosen = await http.post(
            "/office/account/time-zone",
            data={"csrf": csrf_of(account), "time_zone": "Asia/Riyadh"},
        )
        assert chosen.status_code == 303
        zoned = await http.get(f"/office/audit/{convention.id}/timeline.html?lang=en")
        assert "times in <bdi>Asia/Riyadh</bdi>" in zoned.text
        assert "<th>time (Asia/Riyadh)</th>" in zoned.text
        workbook = await http.get(f"/office/audit/{convention.id}/timeline.xlsx?lang=en")
        sheet = openpyxl.load_workbook(io.BytesIO(workbook.content)).active
        assert sheet is not None
        header, first = list(sheet.iter_rows(values_only=True))[:2]
        assert header[-2:] == ("language", "text") and first[-2] == "en"
        assert str(first[-1]).startswith("Convention started")
