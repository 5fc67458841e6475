"""Reassigning a task picks a person from the directory (issue 26 item 7, issue 23): the
office's form offers the people of the task's party who may act on its kind, the file's
contacts or not; the desk checks the one picked against the directory at that moment and the
workflow records the person (reassign-directory). The new assignee is mailed the task's link
and answers it; a person of another party, a removed one, one without the capacity, an
unknown id and an archived organisation are refused, the field named in the page's language,
what was typed kept. The postpone, reassign and terminate forms are held across a timed-out
session like the answer form. Over the real app, PostgreSQL, the Temporal dev server and an
SMTP server."""

from __future__ import annotations

import asyncio
import html
import json
import re
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest
from temporalio.testing import WorkflowEnvironment

from application.conventions import start_convention
from application.directory.organisations import archive_organisation
from application.directory.people import NewPerson, add_person, remove_person
from application.errors import InvalidInput
from application.office.reassignees import ARCHIVED, UNKNOWN, checked_assignee
from devkit.polling import eventually
from infra.portal_settings import contact_link_token, link_secret
from schemas.milestones import MilestoneKind
from schemas.tasks import Task, TaskKind
from storage import directory as directory_store
from tests.conftest import SmtpServer
from tests.directory_stack import ADMIN, fresh_id, funding_file
from tests.partner_stack import (
    COLLEAGUE,
    DECISION,
    FUNDER,
    funding_convention,
    make_desk,
    portal_client,
    registered,
)
from tests.test_delivery_email import text_of
from tests.test_delivery_webhook import fast_delivery, running_worker, stop
from tests.test_office_desk import csrf_of, enrol, new_account, office_client, signed_in
from tests.test_office_held_forms import BROWSER, expire, held_token, sign_in_again
from tests.test_partner_links import APPROVE_FORM, CODE_ID, code_in, open_task_page

KEPT = "Aminata TRAORÉ"
NEW = "Youssef EL AMRANI"
READER = "Answers Only"
GONE = "Left Already"
OTHER = "Of Another Party"
REASON = "congé de maternité, « intérim » & suivi"
ESCAPED = html.escape(REASON, quote=True)


def _errors(page: str) -> str:
    found = re.search(r'<ul class="refusal" role="alert">(.*?)</ul>', page, re.S)
    assert found, page
    return html.unescape(found.group(1))


async def test_a_directory_person_not_in_the_file_is_picked_mailed_and_answers(
    dev_env: WorkflowEnvironment, db_pool: asyncpg.Pool, smtp_server: SmtpServer
) -> None:
    party, other_party = fresh_id("isdb"), fresh_id("isdb")
    address = {name: f"{fresh_id('p')}@isdb.example" for name in (KEPT, NEW, READER, GONE)}
    convention = await registered(
        db_pool, funding_file(party, [{"name": KEPT, "email": address[KEPT], "language": "fr"}])
    )
    await registered(
        db_pool,
        funding_file(other_party, [{"name": OTHER, "email": f"{fresh_id('o')}@x.example"}]),
    )
    [other] = [p for p, _ in await directory_store.people_of(db_pool, other_party)]
    delivery = fast_delivery(smtp_host=smtp_server.host, smtp_port=smtp_server.port)
    desk = make_desk(dev_env.client, db_pool, delivery)
    path = f"/office/conventions/{convention.id}"
    async with running_worker(dev_env, db_pool, delivery) as task_queue:
        await start_convention(dev_env.client, convention, task_queue, milestones=db_pool)
        await eventually(
            lambda: db_pool.fetchval(
                "SELECT status FROM deliveries WHERE notification_id = $1 AND channel = 'email'",
                f"{convention.id}/{DECISION}/task.assigned",
            ),
            lambda status: status == "delivered",
        )
        # Added after the task was assigned (so told nothing yet), none of them in the file.
        new = await add_person(
            db_pool, ADMIN, party, NewPerson(NEW, address[NEW], "fr"), ["decide_funding"]
        )
        reader = await add_person(
            db_pool, ADMIN, party, NewPerson(READER, address[READER], "fr"), ["answer"]
        )
        gone = await add_person(
            db_pool, ADMIN, party, NewPerson(GONE, address[GONE], "fr"), ["decide_funding"]
        )
        await remove_person(db_pool, ADMIN, gone.id)
        async with office_client(desk) as http:
            await signed_in(http, db_pool, "officer")
            page = await eventually(
                lambda: http.get(path), lambda shown: 'id="reassign-contact"' in shown.text
            )
            form = page.text.split('id="reassign-contact"', 1)[1].split("</select>", 1)[0]
            # Offered: the directory's people of the party who may decide funding, by id;
            # not one who may only answer, nor a removed one, nor another party's.
            assert f'<option value="{new.id}">' in form
            for absent in (reader.id, gone.id, other.id, READER, GONE, OTHER):
                assert f'value="{absent}"' not in form
            csrf = csrf_of(page)
            typed = {"csrf": csrf, "task_id": DECISION, "reason": REASON}
            for picked, said in (
                (reader.id, f"{READER} ne peut pas agir sur cette tâche pour {party}"),
                (gone.id, f"{GONE} a été retiré(e) de l’annuaire"),
                (other.id, f"{OTHER} n’agit pas pour {party}"),
                ("p-nobody", "l’annuaire ne connaît pas cette personne"),
            ):
                refused = await http.post(f"{path}/reassign", data={**typed, "contact": picked})
                assert refused.status_code == 422, refused.text
                errors = _errors(refused.text)
                assert "la personne à qui la confier" in errors and said in errors, errors
                # What was typed is back in the form.
                assert f'value="{ESCAPED}"' in refused.text
            english = await http.post(
                f"{path}/reassign?lang=en", data={**typed, "contact": reader.id}
            )
            assert "the person to give it to" in _errors(english.text)
            arabic = await http.post(f"{path}/reassign?lang=ar", data={**typed, "contact": gone.id})
            assert "الشخص الذي تُسند إليه" in _errors(arabic.text)
            done = await http.post(f"{path}/reassign", data={**typed, "contact": new.id})
            assert done.status_code == 200, done.text
            assert f"a été confiée à {NEW}" in html.unescape(done.text)
            refused_log = await db_pool.fetchval(
                "SELECT count(*) FROM office_access_log WHERE action = 'reassign'"
                " AND outcome = 'refused' AND target = $1",
                f"{convention.id}/{DECISION}",
            )
            assert refused_log == 6
        # The workflow records the person, the capacity and the directory's version.
        recorded = await eventually(
            lambda: db_pool.fetchval(
                "SELECT details FROM milestones WHERE convention_id = $1 AND kind = $2",
                convention.id,
                MilestoneKind.TASK_REASSIGNED.value,
            ),
            lambda details: details is not None,
        )
        details = recorded if isinstance(recorded, dict) else json.loads(recorded)
        assert details["person"] == new.id and details["capacity"] == "decide_funding"
        assert details["to"] == NEW and details["reason"] == REASON
        # Mailed the task's link, through the directory's recipients like anyone.
        notification_id = f"{convention.id}/{DECISION}/task.assigned/reassigned-1"
        link = f"/t/{contact_link_token(link_secret(), notification_id, NEW)}"

        def task_mails() -> list[str]:
            texts = [text_of(m.message, "plain") for m in smtp_server.catcher.to(address[NEW])]
            return [text for text in texts if "/t/" in text]

        [mailed] = await eventually(
            lambda: asyncio.sleep(0, task_mails()), lambda mails: len(mails) == 1
        )
        assert link in mailed
        # She opens it and decides, with the mailed code.
        async with portal_client(desk) as http:
            opened = await open_task_page(http, link)
            sent_before = len(smtp_server.catcher.to(address[NEW]))
            asked = await http.post(
                f"/desk/tasks/{convention.id}/{DECISION}",
                data={"csrf": csrf_of(opened), **APPROVE_FORM},
            )
            assert asked.status_code == 200, asked.text
            await eventually(
                lambda: asyncio.sleep(0, len(smtp_server.catcher.to(address[NEW]))),
                lambda count: count > sent_before,
            )
            code_id = CODE_ID.search(asked.text)
            assert code_id is not None
            answered = await http.post(
                f"/desk/codes/{code_id.group(1)}",
                data={
                    "csrf": csrf_of(asked),
                    "convention_id": convention.id,
                    "task_id": DECISION,
                    "code": code_in(smtp_server, address[NEW], sent_before),
                },
            )
            assert answered.status_code == 200 and 'id="receipt"' in answered.text
        answer = await eventually(
            lambda: db_pool.fetchval(
                "SELECT details FROM milestones WHERE convention_id = $1 AND kind = $2",
                convention.id,
                MilestoneKind.TASK_ANSWERED.value,
            ),
            lambda found: found is not None,
        )
        principal = (answer if isinstance(answer, dict) else json.loads(answer))["principal"]
        assert principal["directory"]["person"] == new.id
    await stop(dev_env.client, convention.id)


async def test_an_archived_organisation_and_an_unknown_id_are_refused_by_the_desk(
    db_pool: asyncpg.Pool,
) -> None:
    party = fresh_id("isdb")
    await registered(db_pool, funding_file(party, [{"name": KEPT, "email": None}]))
    [person] = [p for p, _ in await directory_store.people_of(db_pool, party)]
    now = datetime.now(UTC)
    task = Task(
        id=DECISION,
        convention_id="c-archived",
        stage="funding_request",
        kind=TaskKind.DECIDE_FUNDING,
        assignee=party,
        title="Decide",
        assigned_at=now,
        due_at=now + timedelta(days=3),
    )
    with pytest.raises(InvalidInput) as unknown:
        await checked_assignee(db_pool, task, "p-nobody")
    assert unknown.value.errors[0].field == "contact" and unknown.value.errors[0].code == UNKNOWN
    await archive_organisation(db_pool, ADMIN, party)
    with pytest.raises(InvalidInput) as archived:
        await checked_assignee(db_pool, task, person.id)
    assert archived.value.errors[0].code == ARCHIVED
    # A party the directory does not hold keeps the file's contacts (the workflow checks).
    elsewhere = task.model_copy(update={"assignee": fresh_id("nowhere")})
    assert await checked_assignee(db_pool, elsewhere, KEPT) is None


async def test_the_postpone_reassign_and_terminate_forms_are_held_across_a_timed_out_session(
    dev_env: WorkflowEnvironment, db_pool: asyncpg.Pool
) -> None:
    desk = make_desk(dev_env.client, db_pool)
    convention = await funding_convention(dev_env.client, db_pool, [FUNDER, COLLEAGUE])
    colleague = await directory_store.person_by_email(db_pool, COLLEAGUE["email"])
    assert colleague is not None
    path = f"/office/conventions/{convention.id}"
    async with office_client(desk) as http:
        email = await new_account(db_pool, "officer")
        _secret, codes = await enrol(http, email)
        page = await eventually(
            lambda: http.get(path), lambda shown: 'id="reassign-contact"' in shown.text
        )
        # A refusal shows the postponement typed again.
        typed = {"csrf": csrf_of(page), "task_id": DECISION, "reason": REASON}
        refused = await http.post(f"{path}/postpone", data={**typed, "to": "2027-02-31"})
        assert refused.status_code == 422
        assert 'value="2027-02-31"' in refused.text
        assert f'value="{ESCAPED}"' in refused.text
        # A task that is not open: refused (409) and logged, the reason kept.
        closed = await http.post(
            f"{path}/reassign", data={**typed, "task_id": "no.such.task", "contact": colleague.id}
        )
        assert closed.status_code == 409 and "no.such.task" in closed.text
        assert f'value="{ESCAPED}"' in closed.text
        logged = await db_pool.fetchval(
            "SELECT outcome FROM office_access_log WHERE action = 'reassign' AND target = $1",
            f"{convention.id}/no.such.task",
        )
        assert logged == "refused"
        forms: tuple[tuple[str, dict[str, str], str], ...] = (
            ("reassign", {"contact": colleague.id}, f'<option value="{colleague.id}" selected>'),
            ("postpone", {"to": "2031-01-15"}, 'value="2031-01-15"'),
            (
                "terminate",
                {},
                f'id="terminate-reason" name="reason" required value="{ESCAPED}"',
            ),
        )
        for code, (action, fields, shown_again) in zip(codes, forms, strict=False):
            await expire(db_pool, email)
            sent = await http.post(f"{path}/{action}", data={**typed, **fields}, headers=BROWSER)
            assert sent.status_code == 303, sent.text
            held_token(sent.headers["location"])  # held, named in the way back
            back = await sign_in_again(http, email, code, sent.headers["location"])
            shown = await http.get(back)
            assert "Votre session avait pris fin" in shown.text, action
            assert shown_again in shown.text, (action, shown.text)
            assert f'value="{ESCAPED}"' in shown.text, action
            # Nothing was done: the task is still open, with its file's contacts.
            assert "a été confiée" not in shown.text and "a été résiliée" not in shown.text
            typed["csrf"] = csrf_of(shown)  # the new session's
    await stop(dev_env.client, convention.id)
