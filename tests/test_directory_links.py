"""The directory decides who is told and where, and the record says who acted in which
capacity (issue 23): an answer's milestone says "signed by <person> (<capacity>, for
<organisation>)" by the directory's names in the reader's language; a task's mail and links
go to the directory's people of the organisation who may act on it, not to the contacts a
convention file lists; a delivery goes to the directory's webhook endpoint.
"""

from __future__ import annotations

import asyncio
import html
import json
from datetime import UTC, datetime
from typing import Any

import asyncpg
from temporalio.testing import WorkflowEnvironment

from application.conventions import start_convention
from application.directory.channels import set_webhook, set_webhook_hosts
from application.directory.officers import officer_person
from application.directory.people import NewPerson, add_person, change_person, remove_person
from devkit.polling import eventually
from infra.secrets import webhook_secret_variable
from rendering.record import PartyNames, directory_people, milestone_text
from schemas.milestones import Milestone, MilestoneKind
from starter import recorded_officer
from storage import directory as directory_store
from tests.conftest import WEBHOOK_SECRET, SmtpServer, WebhookReceiver
from tests.directory_stack import ADMIN, fresh_id, funding_file
from tests.partner_stack import DECISION, link_path, make_desk, portal_client, registered
from tests.test_delivery_email import text_of
from tests.test_delivery_webhook import fast_delivery, log_of, running_worker, stop
from tests.test_office_desk import office_client, signed_in
from tests.test_partner_links import APPROVE_FORM, CODE_ID, code_in, csrf_of, open_task_page

PERSON_ID = "p-awa"
PERSON = "Awa NDIAYE"
ORGANISATION = "Banque islamique de développement"


def answered(seq: int, answer: dict[str, Any], capacity: str, name: str = "awa") -> Milestone:
    """A task_answered milestone whose principal the directory checked."""
    return Milestone(
        convention_id="c-links",
        seq=seq,
        kind=MilestoneKind.TASK_ANSWERED,
        task_id="t",
        party="isdb",
        actor=name,
        occurred_at=datetime(2026, 12, 7, tzinfo=UTC),
        summary="answered",
        details={
            "answer": answer,
            "principal": {
                "kind": "contact",
                "id": name,
                "name": name,
                "party": "isdb",
                "method": "link_and_code",
                "directory": {
                    "organisation": "isdb",
                    "person": PERSON_ID,
                    "capacity": capacity,
                    "version": 4,
                },
            },
        },
    )


DECISION_ANSWER = {
    "kind": "decide_funding",
    "decision": "approve",
    "granted": {"amount": "36000000", "currency": "IsDB-ID"},
}
SIGNATURE_ANSWER = {"kind": "sign", "decision": "sign"}


def test_an_answer_names_the_person_the_capacity_and_the_organisation_in_each_language() -> None:
    names = PartyNames.of({"isdb": ORGANISATION}, {PERSON_ID: PERSON})
    decision = answered(1, DECISION_ANSWER, "decide_funding")
    said = {lang: milestone_text(decision, lang, names).text for lang in ("fr", "ar", "en")}
    assert "décidé par" in said["fr"] and "pouvoir de décider d'un financement" in said["fr"]
    assert "صلاحية البت في التمويل" in said["ar"] and "قرّرها" in said["ar"]
    assert "decided by" in said["en"] and "authority to decide on funding" in said["en"]
    for text in said.values():
        # Names, not ids: the directory's person and organisation.
        assert PERSON in text and ORGANISATION in text, text
        assert PERSON_ID not in text and "isdb" not in text, text
    assert directory_people([decision.details]) == [PERSON_ID]


def test_a_signature_says_signed_by_and_without_the_directory_the_recorded_name() -> None:
    signature = answered(2, SIGNATURE_ANSWER, "sign", name="Awa N.")
    # No directory at hand (a file read offline): the principal's recorded name.
    offline = milestone_text(signature, "en", PartyNames.of({"isdb": ORGANISATION})).text
    assert "signed by Awa N. (signing authority, for " + ORGANISATION in offline, offline
    arabic = milestone_text(signature, "ar", PartyNames.of({}, {PERSON_ID: PERSON})).text
    assert "وقّعها" in arabic and "صلاحية التوقيع" in arabic and PERSON in arabic, arabic


# --- the webhook endpoint: the directory's ---------------------------------------------------


async def settled(pool: asyncpg.Pool, convention_id: str) -> tuple[Any, list[Any]]:
    """The task's webhook delivery once delivered or given up, and its attempts."""
    return await eventually(
        lambda: log_of(pool, f"{convention_id}/{DECISION}/task.assigned"),
        lambda log: log[0] is not None and log[0]["status"] in {"delivered", "failed"},
    )


async def test_a_delivery_goes_to_the_directorys_endpoint_not_the_files_and_the_allow_list_holds(
    dev_env: WorkflowEnvironment, db_pool: asyncpg.Pool, monkeypatch: Any
) -> None:
    receiver = WebhookReceiver(WEBHOOK_SECRET)
    moved, kept, fenced = fresh_id(), fresh_id(), fresh_id()
    files: dict[str, str] = {}
    try:
        conventions = []
        for party in (moved, kept, fenced):
            monkeypatch.setenv(webhook_secret_variable(party), WEBHOOK_SECRET)
            files[party] = receiver.endpoint()
            conventions.append(
                await registered(db_pool, funding_file(party, [], webhook_url=files[party]))
            )
        # The import took the files' endpoints; the directory then moves one, forgets one
        # (the file's stands), and fences the third's to a host its endpoint is not on.
        directory_url = receiver.endpoint()
        await set_webhook(db_pool, ADMIN, moved, directory_url)
        await set_webhook(db_pool, ADMIN, kept, None)
        await set_webhook(db_pool, ADMIN, fenced, receiver.endpoint())
        await set_webhook_hosts(db_pool, ADMIN, fenced, ["hooks.partner.example"])
        async with running_worker(dev_env, db_pool, fast_delivery()) as task_queue:
            for convention in conventions:
                await start_convention(dev_env.client, convention, task_queue)
            logs = [await settled(db_pool, c.id) for c in conventions]
        for convention in conventions:
            await stop(dev_env.client, convention.id)
    finally:
        receiver.close()
    (moved_log, _), (kept_log, _), (fenced_log, fenced_attempts) = logs
    assert moved_log["status"] == "delivered" and kept_log["status"] == "delivered"
    [delivered] = receiver.requests_to(directory_url)
    assert delivered.verified and delivered.webhook_id.startswith(conventions[0].id)
    assert receiver.requests_to(files[moved]) == []  # the file's endpoint: nothing
    assert len(receiver.requests_to(files[kept])) == 1  # no endpoint in the directory: the file's
    # The allow-list still applies to the directory's endpoint: refused before connecting.
    assert fenced_log["status"] == "failed", fenced_log
    assert fenced_attempts[-1]["detail"] == "refused_host", dict(fenced_attempts[-1])
    assert receiver.requests_to(files[fenced]) == []


# --- the task's mail and links: the directory's people -----------------------------------------

KEPT = "Jean-Baptiste KONÉ"
GONE = "Former Contact"
NEW = "مريم بنعلي"
READER = "Only Answers"


async def test_a_person_added_in_the_directory_is_mailed_the_task_and_answers_a_removed_one_not(
    dev_env: WorkflowEnvironment, db_pool: asyncpg.Pool, smtp_server: SmtpServer
) -> None:
    party = fresh_id("isdb")
    address = {name: f"{fresh_id('p')}@isdb.example" for name in (KEPT, GONE, NEW, READER)}
    convention = await registered(
        db_pool,
        funding_file(
            party,
            [
                {"name": KEPT, "email": address[KEPT], "language": "fr"},
                {"name": GONE, "email": address[GONE], "language": "en"},
            ],
        ),
    )
    # The directory, after the import: the file's second contact removed; a person the file
    # does not list, who may decide funding; one who may only answer other tasks.
    [gone] = [p for p, _ in await directory_store.people_of(db_pool, party) if p.name == GONE]
    await remove_person(db_pool, ADMIN, gone.id)
    new = await add_person(
        db_pool, ADMIN, party, NewPerson(NEW, address[NEW], "ar"), ["decide_funding"]
    )
    await add_person(db_pool, ADMIN, party, NewPerson(READER, address[READER], "fr"), ["answer"])
    delivery = fast_delivery(smtp_host=smtp_server.host, smtp_port=smtp_server.port)
    notification_id = f"{convention.id}/{DECISION}/task.assigned"
    desk = make_desk(dev_env.client, db_pool, delivery)
    async with running_worker(dev_env, db_pool, delivery) as task_queue:
        await start_convention(dev_env.client, convention, task_queue, milestones=db_pool)
        await eventually(
            lambda: db_pool.fetchval(
                "SELECT status FROM deliveries WHERE notification_id = $1 AND channel = 'email'",
                notification_id,
            ),
            lambda status: status == "delivered",
        )
        links = await db_pool.fetch(
            "SELECT contact_name FROM partner_links WHERE notification_id = $1", notification_id
        )
        assert sorted(row["contact_name"] for row in links) == sorted([KEPT, NEW])

        def task_mails(name: str) -> list[str]:
            """The plain texts of the mails to this person that carry a task's link."""
            texts = [text_of(m.message, "plain") for m in smtp_server.catcher.to(address[name])]
            return [text for text in texts if "/t/" in text]

        # Removed: told nothing (neither the task nor the stage). May only answer: told of
        # the stage, not of a funding decision.
        assert smtp_server.catcher.to(address[GONE]) == []
        assert smtp_server.catcher.to(address[READER]) and task_mails(READER) == []
        path = link_path(convention.id, NEW)
        [mailed] = task_mails(NEW)
        assert path in mailed
        assert len(task_mails(KEPT)) == 1
        # The new person opens her link (which confirms her address) and decides, with the
        # mailed code.
        async with portal_client(desk) as http:
            page = await open_task_page(http, path)
            sent_before = len(smtp_server.catcher.to(address[NEW]))
            asked = await http.post(
                f"/desk/tasks/{convention.id}/{DECISION}",
                data={"csrf": csrf_of(page), **APPROVE_FORM},
            )
            assert asked.status_code == 200, asked.text
            code = await eventually(
                lambda: asyncio.sleep(0, len(smtp_server.catcher.to(address[NEW]))),
                lambda count: count > sent_before,
            )
            assert code
            fields = {"csrf": csrf_of(asked), "convention_id": convention.id, "task_id": DECISION}
            code_id = CODE_ID.search(asked.text)
            assert code_id is not None
            done = await http.post(
                f"/desk/codes/{code_id.group(1)}",
                data={**fields, "code": code_in(smtp_server, address[NEW], sent_before)},
            )
            assert done.status_code == 200 and 'id="receipt"' in done.text, done.text
        recorded = await eventually(
            lambda: db_pool.fetchval(
                "SELECT details FROM milestones WHERE convention_id = $1 AND kind = $2",
                convention.id,
                MilestoneKind.TASK_ANSWERED.value,
            ),
            lambda details: details is not None,
        )
        details = recorded if isinstance(recorded, dict) else json.loads(recorded)
        assert directory_people([details]) == [new.id]
        # The record names her and the capacity, on the office's page, in each language.
        organisation = await directory_store.organisation(db_pool, party)
        assert organisation is not None
        async with office_client(desk) as http:
            await signed_in(http, db_pool, "officer")
            pages = {
                lang: (await http.get(f"/office/conventions/{convention.id}?lang={lang}")).text
                for lang in ("fr", "ar", "en")
            }
    await stop(dev_env.client, convention.id)
    capacity = {
        "fr": "pouvoir de décider d'un financement",
        "ar": "صلاحية البت في التمويل",
        "en": "authority to decide on funding",
    }
    for lang, said in pages.items():
        timeline = html.unescape(said.rsplit('<table class="tasks">', 1)[1].split("</table>")[0])
        assert capacity[lang] in timeline and NEW in timeline, timeline
        assert organisation.name(lang) in timeline and new.id not in timeline, timeline


# --- the command line's officer, as the directory names them -----------------------------------


async def test_the_command_lines_officer_is_recorded_by_the_directorys_name(
    db_pool: asyncpg.Pool,
) -> None:
    address = f"{fresh_id('officer')}@ofppt.example"
    first = await officer_person(db_pool, address)
    assert recorded_officer(first) == address  # nobody named them yet: what was typed
    await change_person(db_pool, ADMIN, first.id, NewPerson("Loubna EL IDRISSI", address, "fr"))
    again = await officer_person(db_pool, address.upper())  # the same person, by address
    assert again.id == first.id
    assert recorded_officer(again) == f"Loubna EL IDRISSI <{address}>"
