"""Names, not ids (issue 23, item 6): the office's convention page, the partner's task list
and task page, and the task's mail name an organisation by the directory's name in the
reader's language; its id stays in URLs only.

One convention, started once for the module through the directory, on a worker of its own
whose mails go to the test SMTP server.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass

import asyncpg
import pytest_asyncio
from temporalio.testing import WorkflowEnvironment

from application.conventions import find_task, start_convention
from application.directory.organisations import NewOrganisation, add_organisation
from devkit.polling import eventually
from schemas.convention import Convention
from tests.conftest import SmtpServer
from tests.directory_stack import ADMIN, fresh_id, funding_file
from tests.partner_stack import DECISION, link_path, make_desk, portal_client, registered
from tests.test_delivery_email import text_of
from tests.test_delivery_webhook import fast_delivery, running_worker, stop
from tests.test_office_desk import office_client, signed_in
from tests.test_partner_links import APPROVE_FORM, csrf_of, link_minted, open_task_page

NAME_FR = "Banque islamique de développement"
NAME_AR = "البنك الإسلامي للتنمية"
NAME_EN = "Islamic Development Bank"
FUNDER = "فاطمة الزهراء العلوي"


@dataclass(frozen=True)
class Named:
    party: str
    convention: Convention
    email: str


def outside_urls(html: str) -> str:
    """The page's text and attributes but its URLs: where an id may still stand."""
    return re.sub(r'(href|action)="[^"]*"', "", html)


@pytest_asyncio.fixture(scope="module")
async def named(
    dev_env: WorkflowEnvironment, db_pool: asyncpg.Pool, smtp_server: SmtpServer
) -> AsyncIterator[Named]:
    party = fresh_id("isdb")
    await add_organisation(
        db_pool,
        ADMIN,
        NewOrganisation(party, "funder", "SA", name_fr=NAME_FR, name_ar=NAME_AR, name_en=NAME_EN),
    )
    email = f"fz-{fresh_id('p')}@isdb.example"
    convention = await registered(
        db_pool, funding_file(party, [{"name": FUNDER, "email": email, "language": "ar"}])
    )
    delivery = fast_delivery(smtp_host=smtp_server.host, smtp_port=smtp_server.port)
    async with running_worker(dev_env, db_pool, delivery) as task_queue:
        await start_convention(dev_env.client, convention, task_queue, milestones=db_pool)
        await find_task(dev_env.client, convention.id, DECISION, wait_seconds=30)
        await eventually(
            lambda: db_pool.fetchval(
                "SELECT status FROM deliveries WHERE notification_id = $1 AND channel = 'email'",
                f"{convention.id}/{DECISION}/task.assigned",
            ),
            lambda status: status == "delivered",
        )
        yield Named(party, convention, email)
        await stop(dev_env.client, convention.id)


async def test_the_task_mail_names_the_party_by_its_arabic_name_for_an_arabic_reader(
    named: Named, smtp_server: SmtpServer
) -> None:
    # The funding decision's task mail to this fresh address (its subject said in Arabic,
    # the contact's language; the amount's code is data).
    [mail] = [m for m in smtp_server.catcher.to(named.email) if "IsDB-ID" in m.message["Subject"]]
    for body in (text_of(mail.message, "plain"), text_of(mail.message, "html")):
        assert NAME_AR in body
        assert named.party not in body, body


async def test_the_office_convention_page_names_parties_and_people_in_the_readers_language(
    dev_env: WorkflowEnvironment, db_pool: asyncpg.Pool, named: Named
) -> None:
    desk = make_desk(dev_env.client, db_pool)
    async with office_client(desk) as http:
        await signed_in(http, db_pool, "officer")
        french = await http.get(f"/office/conventions/{named.convention.id}?lang=fr")
        arabic = await http.get(f"/office/conventions/{named.convention.id}?lang=ar")
    assert french.status_code == arabic.status_code == 200
    assert NAME_FR in french.text and NAME_AR in arabic.text and FUNDER in french.text
    # The id is in the directory page's URL, not in the parties, the tasks' "owed by", the
    # deliveries' party nor the timeline.
    assert f'href="/office/directory/{named.party}"' in french.text
    for page, name in ((french, NAME_FR), (arabic, NAME_AR)):
        parties_and_tasks = page.text.split('<ul class="parties">')[1].split("</table>")[0]
        assert name in parties_and_tasks
        assert named.party not in outside_urls(parties_and_tasks), parties_and_tasks
        # The channel is said in the page's language too (courriel, البريد الإلكتروني).
        delivered_to = re.findall(
            r"<td>(?:courriel|البريد الإلكتروني)</td><td><bdi>(.*?)</bdi>", page.text
        )
        assert name in delivered_to and named.party not in delivered_to, delivered_to
        # The timeline's prose says the parties by the same names ("… asked of <name>").
        timeline = page.text.rsplit('<table class="tasks">', 1)[1].split("</table>")[0]
        assert name in timeline and named.party not in outside_urls(timeline), timeline


async def test_the_partners_task_list_and_page_head_with_the_partys_name_not_its_id(
    dev_env: WorkflowEnvironment, db_pool: asyncpg.Pool, named: Named, smtp_server: SmtpServer
) -> None:
    await link_minted(db_pool, named.convention.id, FUNDER)
    delivery = fast_delivery(smtp_host=smtp_server.host, smtp_port=smtp_server.port)
    async with portal_client(make_desk(dev_env.client, db_pool, delivery)) as http:
        task = await open_task_page(http, link_path(named.convention.id, FUNDER))
        listed = await http.get("/desk?lang=en")
        # A funding decision asks for the mailed code: that page heads with the name too.
        code = await http.post(
            f"/desk/tasks/{named.convention.id}/{DECISION}",
            data={"csrf": csrf_of(task), **APPROVE_FORM},
        )
    assert NAME_AR in task.text  # the contact reads Arabic
    assert listed.status_code == 200 and NAME_EN in listed.text
    assert code.status_code == 200 and NAME_AR in code.text, code.text
    for page in (task, listed, code):
        assert named.party not in outside_urls(page.text), page.text
