"""The reader's time zone (issue 24): dates said in the reader's locale and zone, naming the
zone; a directory person's zone chosen on the form (an unknown one refused, naming the field)
or their organisation's country's; a task mail's due date in the contact's zone and language;
the office's pages in the account's zone."""

from __future__ import annotations

from datetime import UTC, datetime

import asyncpg
import pytest
from temporalio.testing import WorkflowEnvironment

from activities.mail import build_messages, reading_zones
from application.directory.people import NewPerson, add_person, checked_person
from application.errors import InvalidInput
from rendering.zones import Reader, UnknownZone, valid_zone, zone_for, zone_of_country
from schemas.convention import Contact
from schemas.notifications import Notification, NotificationEvent
from schemas.tasks import Task, TaskKind
from schemas.values import Language
from storage import directory as store
from tests.cli_runner import cli_env, run_cli
from tests.directory_stack import ADMIN, fresh_id
from tests.partner_stack import make_desk
from tests.test_office_desk import csrf_of, office_client, signed_in
from tests.test_office_directory import an_organisation

NEAR_MIDNIGHT = datetime(2026, 12, 26, 22, 30, tzinfo=UTC)
"""22:30 UTC on 26 December: still the 26th in Casablanca (UTC+1), the 27th in Riyadh (UTC+3)."""


@pytest.mark.parametrize(
    ("language", "zone", "expected"),
    [
        ("fr", "Africa/Casablanca", "26 décembre 2026, 23:30 (heure : Maroc)"),
        ("fr", "Asia/Riyadh", "27 décembre 2026, 01:30 (heure : Arabie saoudite)"),
        ("ar", "Africa/Casablanca", "26 دجنبر 2026، 23:30 (توقيت المغرب)"),
        ("ar", "Asia/Riyadh", "27 دجنبر 2026، 01:30 (توقيت المملكة العربية السعودية)"),
        ("en", "Africa/Casablanca", "December 26, 2026, 11:30\u202fPM (Morocco Time)"),
        ("en", "Asia/Riyadh", "December 27, 2026, 1:30\u202fAM (Saudi Arabia Time)"),
    ],
)
def test_a_moment_is_said_in_the_readers_locale_and_zone_naming_the_zone(
    language: str, zone: str, expected: str
) -> None:
    reader = Reader(language, zone)
    said = reader.moment(NEAR_MIDNIGHT)
    # Babel may put a narrow no-break space before AM/PM: compare with spaces unified.
    assert said.text.replace("\u202f", " ") == expected.replace("\u202f", " ")
    day = reader.day(NEAR_MIDNIGHT).text
    assert ("27" in day) is (zone == "Asia/Riyadh"), day
    # A naive datetime or an ISO string from the record is UTC: the same moment.
    assert reader.moment(NEAR_MIDNIGHT.replace(tzinfo=None)) == said
    assert reader.moment(NEAR_MIDNIGHT.isoformat()) == said


def test_utc_is_named_in_each_language_and_an_unknown_zone_is_refused() -> None:
    assert Reader("fr").moment(NEAR_MIDNIGHT).text == "26 décembre 2026, 22:30 (TU)"
    assert "التوقيت العالمي" in Reader("ar").moment(NEAR_MIDNIGHT).text
    assert valid_zone(" Africa/Bamako ") == "Africa/Bamako"
    for wrong in ("Africa/Tombouctou", "Europe/../etc/passwd", "", "casablanca"):
        with pytest.raises(UnknownZone):
            valid_zone(wrong)
    # No zone chosen: the organisation's country's, and the fallback is said.
    assert zone_for(None, "ML") == ("Africa/Bamako", True)
    assert zone_for("Asia/Riyadh", "MA") == ("Asia/Riyadh", False)
    assert zone_for("Nowhere/Else", "SN") == ("Africa/Dakar", True)
    assert [zone_of_country(c) for c in ("MA", "FR", "SA", "DE", None)] == [
        "Africa/Casablanca",
        "Europe/Paris",
        "Asia/Riyadh",
        "UTC",
        "UTC",
    ]


def test_a_person_with_an_unknown_zone_is_refused_naming_the_field() -> None:
    with pytest.raises(InvalidInput) as refused:
        checked_person(NewPerson(name="Awa", time_zone="Mars/Olympus"))
    assert [error.field for error in refused.value.errors] == ["time_zone"]
    assert checked_person(NewPerson(name="Awa", time_zone=""))["time_zone"] is None


def _reminder(language: Language) -> Notification:
    task = Task(
        id="f.d",
        convention_id="bamako-2026",
        stage="funding_request",
        kind=TaskKind.DECIDE_FUNDING,
        assignee="bid",
        title="Decide on the funding request",
        assigned_at=NEAR_MIDNIGHT,
        due_at=NEAR_MIDNIGHT,
    )
    return Notification(
        id="bamako-2026/x/reminder",
        convention_id="bamako-2026",
        event=NotificationEvent.TASK_REMINDER,
        party="bid",
        recipients=[
            Contact(name="Awa", email="awa@example.org", language=Language.FRENCH),
            Contact(name="Fatima", email="fatima@example.org", language=Language.ARABIC),
        ],
        language=language,
        subject="[bamako-2026] x",
        task=task,
        created_at=NEAR_MIDNIGHT,
        convention_title="Coopération OFPPT – MENEFP",
    )


def test_a_task_mails_due_date_is_in_each_contacts_zone_and_language() -> None:
    zones = {"Awa": "Africa/Casablanca", "Fatima": "Asia/Riyadh"}
    french, arabic = build_messages(_reminder(Language.FRENCH), "pacte@x.example", zones=zones)
    french_text = french.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    arabic_text = arabic.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "26 décembre 2026, 23:30 (heure : Maroc)" in french_text
    assert "2026-12-26" not in french_text
    assert "27 دجنبر 2026، 01:30 (توقيت المملكة العربية السعودية)" in arabic_text
    assert "2026-12-2" not in arabic_text


async def test_the_directory_form_refuses_an_unknown_zone_and_mails_use_the_chosen_one(
    dev_env: WorkflowEnvironment, db_pool: asyncpg.Pool
) -> None:
    desk = make_desk(dev_env.client, db_pool)
    organisation_id = await an_organisation(db_pool)  # a funder in Saudi Arabia
    [(person, _)] = await store.people_of(db_pool, organisation_id)
    edit = {"person_id": person.id, "name": person.name, "language": "fr", "title": "DG"}
    async with office_client(desk) as http:
        await signed_in(http, db_pool, "admin")
        page = await http.get(f"/office/directory/{organisation_id}")
        assert 'name="time_zone"' in page.text
        refused = await http.post(
            f"/office/directory/{organisation_id}/edit",
            data={"csrf": csrf_of(page), **edit, "time_zone": "Mars/Olympus"},
        )
        assert refused.status_code == 422, refused.text
        assert 'id="error-edit-time_zone"' in refused.text
        assert 'value="Mars/Olympus"' in refused.text  # what was typed is kept
        assert (await store.person(db_pool, person.id)).time_zone is None  # type: ignore[union-attr]
        # No zone chosen: the mail reads in Saudi Arabia's, the country's.
        contact = Contact(name=person.name, email=person.email, language=Language.FRENCH)
        notification = _reminder(Language.FRENCH).model_copy(
            update={"party": organisation_id, "recipients": [contact]}
        )
        assert await reading_zones(db_pool, notification) == {person.name: "Asia/Riyadh"}
        done = await http.post(
            f"/office/directory/{organisation_id}/edit",
            data={"csrf": csrf_of(page), **edit, "time_zone": "Africa/Casablanca"},
        )
        assert done.status_code == 200, done.text
    assert await reading_zones(db_pool, notification) == {person.name: "Africa/Casablanca"}


async def test_the_office_pages_are_in_the_accounts_zone(
    dev_env: WorkflowEnvironment, db_pool: asyncpg.Pool
) -> None:
    desk = make_desk(dev_env.client, db_pool)
    organisation_id = await an_organisation(db_pool)
    await add_person(
        db_pool, ADMIN, organisation_id, NewPerson(name="Awa", time_zone="Asia/Riyadh"), []
    )
    async with office_client(desk) as http:
        email = await signed_in(http, db_pool, "admin")
        before = await http.get("/office/access-log")
        assert "(TU)" in before.text  # no zone chosen: UTC, said
        # Chosen on the account's own page: an unknown name refused beside its field, kept.
        account = await http.get("/office/account")
        refused = await http.post(
            "/office/account/time-zone",
            data={"csrf": csrf_of(account), "time_zone": "Mars/Olympus"},
        )
        assert refused.status_code == 422
        assert 'id="error-time_zone"' in refused.text and 'value="Mars/Olympus"' in refused.text
        assert "n’est pas un fuseau horaire de la base IANA" in refused.text
        stored = "SELECT time_zone FROM office_users WHERE email = $1"
        assert await db_pool.fetchval(stored, email) is None  # nothing kept
        chosen = await http.post(
            "/office/account/time-zone",
            data={"csrf": csrf_of(account), "time_zone": " Asia/Riyadh "},
        )
        assert chosen.status_code == 303
        assert await db_pool.fetchval(stored, email) == "Asia/Riyadh"
        after = await http.get("/office/access-log")
        assert "(heure : Arabie saoudite)" in after.text, after.text
        assert "(TU)" not in after.text
        # Emptied: the record's own zone again.
        emptied = await http.post(
            "/office/account/time-zone", data={"csrf": csrf_of(account), "time_zone": ""}
        )
        assert emptied.status_code == 303
        assert await db_pool.fetchval(stored, email) is None
        assert "(TU)" in (await http.get("/office/access-log")).text


async def test_parties_contacts_add_takes_a_zone_and_refuses_an_unknown_one(
    dev_env: WorkflowEnvironment, postgres_url: str
) -> None:
    env = cli_env(dev_env, postgres_url)
    party = fresh_id("menefp")
    added = await run_cli(
        "parties", "add", party, "--kind", "ministry", "--country", "ML", "--name-fr", "MENEFP",
        env=env,
    )  # fmt: skip
    assert added.code == 0, added
    refused = await run_cli(
        "parties", "contacts", "add", party, "--name", "Awa Diallo",
        "--capacity", "answer", "--time-zone", "Mars/Olympus",
        env=env,
    )  # fmt: skip
    assert refused.code == 1, refused
    assert "time_zone" in refused.stderr and "Traceback" not in refused.stderr
    for name, zone in (("Awa Diallo", []), ("Fatima Sy", ["--time-zone", "Africa/Dakar"])):
        person = await run_cli(
            "parties", "contacts", "add", party, "--name", name, "--capacity", "answer", *zone,
            env=env,
        )  # fmt: skip
        assert person.code == 0, person
    shown = await run_cli("parties", "show", party, env=env)
    assert "Awa Diallo" in shown.stdout and "Africa/Bamako (the country's)" in shown.stdout
    assert "Fatima Sy" in shown.stdout and "Africa/Dakar" in shown.stdout
