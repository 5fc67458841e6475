"""Authority is the directory's, at the moment of acting, on every path of the partner desk.

Real dev server, worker, PostgreSQL and SMTP test server. THE ATTACK of issue 23: a contact
declared only in another convention's file for an organisation the directory holds can
neither list, open nor answer that organisation's tasks elsewhere, by link or by code; keys
and signed events act only for the organisation the directory bound them to.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import asyncpg
from standardwebhooks import Webhook
from temporalio.testing import WorkflowEnvironment

from application.conventions import convention_status, find_task, start_convention
from application.directory.channels import channel_key, rotate_secret
from application.directory.import_proposal import parties_imported
from application.directory.organisations import archive_organisation
from application.directory.people import remove_person
from schemas.convention import Convention
from storage import directory as store
from tests.conftest import DEV_TASK_QUEUE, SmtpServer
from tests.directory_stack import ADMIN, OFFICER, fresh_id, funding_file
from tests.partner_stack import DECISION, bearer, link_path, make_desk, portal_client
from tests.test_delivery_webhook import fast_delivery, stop
from tests.test_partner_api import APPROVAL, answers_in_history
from tests.test_partner_links import (
    APPROVE_FORM,
    CODE_ID,
    code_in,
    csrf_of,
    link_minted,
    open_task_page,
)


def person(name: str) -> dict[str, str]:
    return {"name": name, "email": f"{fresh_id('p')}@partner.example", "language": "fr"}


async def started_through_the_directory(
    env: WorkflowEnvironment, pool: asyncpg.Pool, convention: Convention
) -> None:
    """Started as `starter.py start` does: the file's parties imported first."""
    async with parties_imported(pool, OFFICER, convention):
        await start_convention(env.client, convention, DEV_TASK_QUEUE, milestones=pool)
    await find_task(env.client, convention.id, DECISION, wait_seconds=30)


async def started_before_the_directory(env: WorkflowEnvironment, convention: Convention) -> None:
    """Started with no directory import, as conventions running before it were."""
    await start_convention(env.client, convention, DEV_TASK_QUEUE)
    await find_task(env.client, convention.id, DECISION, wait_seconds=30)


async def test_a_contact_declared_only_in_another_conventions_file_can_neither_list_open_nor_answer(
    dev_env: WorkflowEnvironment, db_pool: asyncpg.Pool, smtp_server: SmtpServer
) -> None:
    party = fresh_id()
    funder, intruder = person("Fatima Zahra EL ALAOUI"), person("Mallory Intrus")
    desk = make_desk(
        dev_env.client,
        db_pool,
        fast_delivery(smtp_host=smtp_server.host, smtp_port=smtp_server.port),
    )
    # B names the intruder as a contact of the party; it ran before the directory held it.
    other = funding_file(party, [intruder])
    await started_before_the_directory(dev_env, other)
    await link_minted(db_pool, other.id, intruder["name"])
    async with portal_client(desk) as http:
        page = await open_task_page(http, link_path(other.id, intruder["name"]))
        # A commitment: its code is mailed and waits.
        sent_before = len(smtp_server.catcher.to(intruder["email"]))
        asked = await http.post(
            f"/desk/tasks/{other.id}/{DECISION}", data={"csrf": csrf_of(page), **APPROVE_FORM}
        )
        code = code_in(smtp_server, intruder["email"], sent_before)
        code_id = CODE_ID.search(asked.text).group(1)  # type: ignore[union-attr]
        # Now the office starts A, and the directory holds the party, with its funder alone.
        mine = funding_file(party, [funder])
        await started_through_the_directory(dev_env, db_pool, mine)
        assert [p.name for p, _ in await store.people_of(db_pool, party)] == [funder["name"]]
        # The intruder's session ends at once: no list, no task page, no answer, no code.
        listed = await http.get("/desk")
        opened = await http.get(f"/desk/tasks/{mine.id}/{DECISION}")
        answered = await http.post(
            f"/desk/tasks/{mine.id}/{DECISION}", data={"csrf": csrf_of(page), **APPROVE_FORM}
        )
        confirmed = await http.post(
            f"/desk/codes/{code_id}",
            data={
                "csrf": csrf_of(asked),
                "code": code,
                "convention_id": other.id,
                "task_id": DECISION,
            },
        )
    assert [r.status_code for r in (listed, opened, answered, confirmed)] == [401] * 4
    assert mine.id not in listed.text
    async with portal_client(desk) as fresh:
        # Their link opens nothing either, for any convention (it is the directory's word).
        reopened = await fresh.get(link_path(other.id, intruder["name"]))
    assert reopened.status_code == 410
    # The real funder's link opens A and confirms her address.
    await link_minted(db_pool, mine.id, funder["name"])
    async with portal_client(desk) as http:
        page = await open_task_page(http, link_path(mine.id, funder["name"]))
        listed = await http.get("/desk")
    assert f"/desk/tasks/{mine.id}/{DECISION}" in listed.text
    assert f"/desk/tasks/{other.id}/{DECISION}" in listed.text  # the party's, for its person
    assert await store.never_answered(db_pool, party) == []
    # Nothing the intruder did reached either workflow: both decisions are still open.
    for convention in (mine, other):
        status = await convention_status(dev_env.client, convention.id)
        assert DECISION in {t.id for t in status.open_tasks}
        await stop(dev_env.client, convention.id)


async def test_a_key_or_a_signed_event_acts_only_for_its_own_organisation_and_records_the_check(
    dev_env: WorkflowEnvironment, db_pool: asyncpg.Pool
) -> None:
    party, elsewhere = fresh_id(), fresh_id("evil")
    mine = funding_file(party, [person("Fatima Zahra EL ALAOUI")])
    theirs = funding_file(elsewhere, [person("Mallory Intrus")])
    await started_through_the_directory(dev_env, db_pool, mine)
    await started_through_the_directory(dev_env, db_pool, theirs)
    desk = make_desk(dev_env.client, db_pool)
    their_key, _ = await desk.create_key(elsewhere, "intruder's system")
    my_key, record = await desk.create_key(party, "IsDB grants system")
    key = channel_key(desk.secret)
    their_secret = (await rotate_secret(db_pool, ADMIN, key, elsewhere)).secret
    async with portal_client(desk) as http:
        # Key path: the other organisation's key neither reads nor answers this one's task.
        peeked = await http.get(f"/api/v1/tasks/{mine.id}/{DECISION}", headers=bearer(their_key))
        forged = await http.post(
            f"/api/v1/tasks/{mine.id}/{DECISION}/answer", json=APPROVAL, headers=bearer(their_key)
        )
        # Event path: an event for this party signed with the other organisation's secret.
        body = json.dumps(
            {
                "specversion": "1.0",
                "id": "evt-intruder",
                "source": "https://intruder.example",
                "type": "pacte.task.answer",
                "data": {"convention_id": mine.id, "task_id": DECISION, **APPROVAL},
            }
        ).encode()
        now = datetime.now(UTC)
        headers = {
            "content-type": "application/cloudevents+json",
            "webhook-id": "evt-intruder",
            "webhook-timestamp": str(int(now.timestamp())),
            "webhook-signature": Webhook(their_secret).sign("evt-intruder", now, body.decode()),
        }
        event = await http.post(f"/api/v1/events/{party}", content=body, headers=headers)
        # The organisation's own key answers, and the record carries the directory's check.
        answered = await http.post(
            f"/api/v1/tasks/{mine.id}/{DECISION}/answer", json=APPROVAL, headers=bearer(my_key)
        )
    assert peeked.status_code == 404 and forged.status_code == 404
    assert event.status_code == 401
    assert answered.status_code == 200, answered.text
    [sent] = await answers_in_history(dev_env, mine.id)
    assert sent.principal is not None and sent.principal.id == record.id
    check = sent.principal.directory
    assert check is not None and check.organisation == party
    assert check.capacity == "decide_funding" and check.person is None
    assert 0 < check.version <= await store.version(db_pool)
    # Archived, the organisation's key no longer authenticates.
    await archive_organisation(db_pool, ADMIN, elsewhere)
    async with portal_client(desk) as http:
        refused = await http.get("/api/v1/tasks", headers=bearer(their_key))
    assert refused.status_code == 401
    await stop(dev_env.client, theirs.id)


async def test_a_person_removed_while_holding_a_session_and_a_pending_code_loses_both(
    dev_env: WorkflowEnvironment, db_pool: asyncpg.Pool, smtp_server: SmtpServer
) -> None:
    party, funder = fresh_id(), person("Koffi Mensah")
    convention = funding_file(party, [funder])
    await started_through_the_directory(dev_env, db_pool, convention)
    await link_minted(db_pool, convention.id, funder["name"])
    desk = make_desk(
        dev_env.client,
        db_pool,
        fast_delivery(smtp_host=smtp_server.host, smtp_port=smtp_server.port),
    )
    async with portal_client(desk) as http:
        page = await open_task_page(http, link_path(convention.id, funder["name"]))
        sent_before = len(smtp_server.catcher.to(funder["email"]))
        asked = await http.post(
            f"/desk/tasks/{convention.id}/{DECISION}", data={"csrf": csrf_of(page), **APPROVE_FORM}
        )
        code = code_in(smtp_server, funder["email"], sent_before)
        code_id = CODE_ID.search(asked.text).group(1)  # type: ignore[union-attr]
        [(removed, _)] = await store.people_of(db_pool, party)
        await remove_person(db_pool, ADMIN, removed.id, "left the bank")
        confirmed = await http.post(
            f"/desk/codes/{code_id}",
            data={
                "csrf": csrf_of(asked),
                "code": code,
                "convention_id": convention.id,
                "task_id": DECISION,
            },
        )
        listed = await http.get("/desk")
    assert confirmed.status_code == 401 and listed.status_code == 401
    code_row = await db_pool.fetchrow("SELECT used_at FROM partner_codes WHERE id = $1", code_id)
    assert code_row is not None and code_row["used_at"] is not None
    status = await convention_status(dev_env.client, convention.id)
    assert DECISION in {t.id for t in status.open_tasks}
    await stop(dev_env.client, convention.id)


async def test_an_organisation_whose_directory_people_have_no_address_is_still_the_directorys_alone(
    dev_env: WorkflowEnvironment, db_pool: asyncpg.Pool, smtp_server: SmtpServer
) -> None:
    """Today's gap closed: the seed files' organisations are imported with people who have
    no address. The directory holding the organisation is enough for it to decide alone."""
    party = fresh_id()
    clerk = {"name": "Aïcha DIALLO", "language": "fr"}  # no address, as in the seed files
    intruder, nameless = person("Mallory Intrus"), {"name": "Eve Sans Adresse", "language": "fr"}
    desk = make_desk(
        dev_env.client,
        db_pool,
        fast_delivery(smtp_host=smtp_server.host, smtp_port=smtp_server.port),
    )
    # B names two intruders for the party (one with an address, one by name alone); it ran
    # before the directory held the party.
    other = funding_file(party, [intruder, nameless])
    await started_before_the_directory(dev_env, other)
    await link_minted(db_pool, other.id, intruder["name"])
    await link_minted(db_pool, other.id, nameless["name"])
    async with portal_client(desk) as http:
        page = await open_task_page(http, link_path(other.id, intruder["name"]))
        sent_before = len(smtp_server.catcher.to(intruder["email"]))
        asked = await http.post(
            f"/desk/tasks/{other.id}/{DECISION}", data={"csrf": csrf_of(page), **APPROVE_FORM}
        )
        code = code_in(smtp_server, intruder["email"], sent_before)
        code_id = CODE_ID.search(asked.text).group(1)  # type: ignore[union-attr]
        # The office starts A: the directory holds the party, its one person without address.
        mine = funding_file(party, [clerk])
        await started_through_the_directory(dev_env, db_pool, mine)
        [(only, _)] = await store.people_of(db_pool, party)
        assert only.name == clerk["name"] and only.email is None
        listed = await http.get("/desk")
        opened = await http.get(f"/desk/tasks/{mine.id}/{DECISION}")
        answered = await http.post(
            f"/desk/tasks/{mine.id}/{DECISION}", data={"csrf": csrf_of(page), **APPROVE_FORM}
        )
        confirmed = await http.post(
            f"/desk/codes/{code_id}",
            data={
                "csrf": csrf_of(asked),
                "code": code,
                "convention_id": other.id,
                "task_id": DECISION,
            },
        )
    assert [r.status_code for r in (listed, opened, answered, confirmed)] == [401] * 4
    assert mine.id not in listed.text
    async with portal_client(desk) as fresh:
        # Neither intruder's link opens: by address, or by name, the directory names neither.
        by_address = await fresh.get(link_path(other.id, intruder["name"]))
        by_name = await fresh.get(link_path(other.id, nameless["name"]))
    assert [by_address.status_code, by_name.status_code] == [410, 410]
    assert "names no" in by_address.text and "names no" in by_name.text
    # Key and event paths: another organisation's key or secret reaches none of its tasks.
    elsewhere = fresh_id("evil")
    await started_through_the_directory(dev_env, db_pool, funding_file(elsewhere, [intruder]))
    their_key, _ = await desk.create_key(elsewhere, "intruder's system")
    their_secret = (await rotate_secret(db_pool, ADMIN, channel_key(desk.secret), elsewhere)).secret
    body = json.dumps(
        {
            "specversion": "1.0",
            "id": "evt-nameless",
            "source": "https://intruder.example",
            "type": "pacte.task.answer",
            "data": {"convention_id": mine.id, "task_id": DECISION, **APPROVAL},
        }
    ).encode()
    now = datetime.now(UTC)
    headers = {
        "content-type": "application/cloudevents+json",
        "webhook-id": "evt-nameless",
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": Webhook(their_secret).sign("evt-nameless", now, body.decode()),
    }
    async with portal_client(desk) as http:
        listed_by_key = await http.get("/api/v1/tasks", headers=bearer(their_key))
        forged = await http.post(
            f"/api/v1/tasks/{mine.id}/{DECISION}/answer", json=APPROVAL, headers=bearer(their_key)
        )
        event = await http.post(f"/api/v1/events/{party}", content=body, headers=headers)
    assert listed_by_key.status_code == 200 and mine.id not in listed_by_key.text
    assert forged.status_code == 404 and event.status_code == 401
    # The directory's own person (no address: found by name) still opens A, and confirms.
    await link_minted(db_pool, mine.id, clerk["name"])
    async with portal_client(desk) as http:
        await open_task_page(http, link_path(mine.id, clerk["name"]))
        listed = await http.get("/desk")
    assert f"/desk/tasks/{mine.id}/{DECISION}" in listed.text
    assert await store.never_answered(db_pool, party) == []
    # Nothing the intruders did reached either workflow: both decisions are still open.
    for convention in (mine, other):
        status = await convention_status(dev_env.client, convention.id)
        assert DECISION in {t.id for t in status.open_tasks}
        await stop(dev_env.client, convention.id)
