"""The office desk's Start reads a file's parties as a proposal to the directory: an officer
creates a new organisation with its people; a file changing an existing one is refused with
the differences listed, and nothing starts."""

from __future__ import annotations

import asyncpg
import yaml
from temporalio.testing import WorkflowEnvironment

from application.conventions import convention_status, find_task, start_convention
from application.directory.organisations import archive_organisation
from devkit.polling import eventually
from schemas.convention import Convention
from schemas.milestones import MilestoneKind
from storage import directory as store
from tests.cli_runner import workflow_exists
from tests.conftest import DEV_TASK_QUEUE
from tests.directory_stack import ADMIN, fresh_id, funding_file
from tests.partner_stack import DECISION, make_desk, registered
from tests.test_delivery_webhook import stop
from tests.test_office_desk import csrf_of, office_client, signed_in


def as_yaml(convention: Convention) -> str:
    return yaml.safe_dump(convention.model_dump(mode="json", exclude_none=True), allow_unicode=True)


async def test_the_office_desks_start_refuses_a_file_adding_a_person_to_an_existing_organisation(
    dev_env: WorkflowEnvironment, db_pool: asyncpg.Pool
) -> None:
    desk = make_desk(dev_env.client, db_pool)
    party = fresh_id()
    funder = {"name": "Fatima Zahra EL ALAOUI", "email": f"{party}@isdb.example"}
    intruder = {"name": "Mallory Intrus", "email": f"mallory-{party}@evil.example"}
    first, second = funding_file(party, [funder]), funding_file(party, [funder, intruder])
    async with office_client(desk) as http:
        officer = await signed_in(http, db_pool, "officer")
        csrf = csrf_of(await http.get("/office/start"))
        started = await http.post(
            "/office/start",
            data={
                "csrf": csrf,
                "document": as_yaml(first),
                "filename": "a.yaml",
                "action": "start",
            },
        )
        refused = await http.post(
            "/office/start",
            data={
                "csrf": csrf,
                "document": as_yaml(second),
                "filename": "b.yaml",
                "action": "start",
            },
        )
    assert started.status_code == 303, started.text
    # The new organisation is the signed-in officer's directory change.
    changes = await store.changes(db_pool, party)
    assert changes and {change.actor for change in changes} == {f"officer:{officer}"}
    assert refused.status_code == 409, refused.text
    # Said in the page's language (the account's remembered one, which another test may have
    # set): either way the intruder is named, with the field that adds them.
    adds = "ajoute" if '<html lang="fr"' in refused.text else "adds"
    differences = refused.text.split('id="differences"')[1].split("</ul>")[0]
    assert "parties.2.contacts.1" in differences, differences
    assert adds in differences and "Mallory Intrus" in differences, differences
    assert not await workflow_exists(dev_env.client, second.id)
    assert [p.name for p, _ in await store.people_of(db_pool, party)] == [funder["name"]]
    await stop(dev_env.client, first.id)


async def test_the_record_names_the_account_that_pressed_start_not_the_files_officer(
    dev_env: WorkflowEnvironment, db_pool: asyncpg.Pool
) -> None:
    desk = make_desk(dev_env.client, db_pool)
    party = fresh_id()
    file = funding_file(party, [{"name": "Fatima Zahra EL ALAOUI", "email": f"{party}@x.example"}])
    responsible = file.officer.name  # officer A, named by the file
    async with office_client(desk) as http:
        pressed = await signed_in(http, db_pool, "officer")  # account B, signed in
        csrf = csrf_of(await http.get("/office/start"))
        started = await http.post(
            "/office/start",
            data={"csrf": csrf, "document": as_yaml(file), "filename": "a.yaml", "action": "start"},
        )
    assert started.status_code == 303, started.text
    status = await convention_status(dev_env.client, file.id)
    first = status.milestones[0]
    assert first.kind is MilestoneKind.CONVENTION_STARTED
    assert first.actor is not None and pressed in first.actor and responsible not in first.actor
    assert pressed in first.details["started_by"]
    assert first.details["responsible_officer"] == responsible
    await stop(dev_env.client, file.id)


async def test_an_officer_answering_for_an_archived_organisation_is_refused_and_logged(
    dev_env: WorkflowEnvironment, db_pool: asyncpg.Pool
) -> None:
    desk = make_desk(dev_env.client, db_pool)
    party = fresh_id()
    file = await registered(
        db_pool, funding_file(party, [{"name": "Awa Touré", "email": f"{party}@x.example"}])
    )
    await start_convention(dev_env.client, file, DEV_TASK_QUEUE)
    await find_task(dev_env.client, file.id, DECISION, wait_seconds=30)
    await archive_organisation(db_pool, ADMIN, party)
    answer = {"task_id": DECISION, "decision": "reject", "comments": "out of scope"}
    async with office_client(desk) as http:
        email = await signed_in(http, db_pool, "officer")
        page = await http.get(f"/office/conventions/{file.id}")
        refused = await http.post(
            f"/office/conventions/{file.id}/answer", data={"csrf": csrf_of(page), **answer}
        )
        assert refused.status_code == 409, refused.text
        assert f"{party} is archived in the directory" in refused.text
        await archive_organisation(db_pool, ADMIN, party, archived=False)
        done = await http.post(
            f"/office/conventions/{file.id}/answer", data={"csrf": csrf_of(page), **answer}
        )
        assert done.status_code == 200, done.text
    logged = await db_pool.fetch(
        "SELECT outcome FROM office_access_log WHERE email = $1 AND action = 'answer_on_behalf'"
        " ORDER BY at",
        email,
    )
    assert [row["outcome"] for row in logged] == ["refused", "ok"]
    answered = await eventually(
        lambda: db_pool.fetchrow(
            "SELECT actor, party, details FROM milestones WHERE convention_id = $1"
            " AND kind = 'task_answered'",
            file.id,
        ),
        lambda row: row is not None,
    )
    principal = answered["details"]["principal"]
    assert principal["id"] == email and principal["party"] == party == answered["party"]
    assert principal["directory"]["organisation"] == party
    assert principal["directory"]["version"] == await store.version(db_pool)
