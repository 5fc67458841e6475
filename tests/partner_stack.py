"""The partner desk over the suite's real servers: the desk, its app, HTTP clients, keys.

Shared by tests/test_partner_*.py. The worker of `dev_env` mints links with the same
PACTE_LINK_SECRET as the desk here, as a deployment's worker and portal share one.
"""

from __future__ import annotations

import base64
import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import httpx
from temporalio.client import Client

from application.conventions import find_task, start_convention
from application.directory.editors import Editor, EditorRole
from application.directory.import_proposal import parties_imported
from application.directory.people import EVERY_CAPACITY, NewPerson, add_person
from application.partner import PartnerDesk
from infra.portal_settings import PortalSettings, contact_link_token, link_secret
from infra.settings import DeliverySettings
from schemas.convention import Convention
from storage import directory as directory_store
from tests.conftest import DEV_TASK_QUEUE
from tests.test_delivery_webhook import funding_request_to
from web.app import create_app
from web.i18n import code_mail

TEST_LINK_SECRET = base64.b64encode(b"pacte-portal-test-link-secret-32b!").decode()
os.environ.setdefault("PACTE_LINK_SECRET", TEST_LINK_SECRET)
DECISION = "funding_request.decision.r1"
FUNDER = {"name": "Fatima Zahra EL ALAOUI", "email": "fz.alaoui@isdb.example", "language": "ar"}
COLLEAGUE = {"name": "Jean-Baptiste Koné", "email": "jb.kone@isdb.example", "language": "fr"}
TEST_ADMIN = Editor("tests/partner_stack.py", EditorRole.ADMIN)
"""The admin who registers a test's contacts in the directory."""


def make_desk(
    client: Client,
    pool: asyncpg.Pool,
    delivery: DeliverySettings | None = None,
    settings: PortalSettings | None = None,
) -> PartnerDesk:
    """A desk over the test servers, with the test's link secret."""
    return PartnerDesk(
        pool=pool,
        client=client,
        settings=settings or PortalSettings(),
        delivery=delivery or DeliverySettings(),
        secret=link_secret(),
        code_mail=code_mail,
    )


@asynccontextmanager
async def portal_client(
    desk: PartnerDesk, *, address: str | None = None, max_body_bytes: int = 1_000_000
) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client of the portal app, in process; each test its own client address (the
    rate limits count per address)."""
    app = create_app(desk, max_body_bytes=max_body_bytes)
    transport = httpx.ASGITransport(
        app=app, client=(address or f"10.{_octet()}.{_octet()}.{_octet()}", 40000)
    )
    async with httpx.AsyncClient(transport=transport, base_url="http://portal.test") as http:
        yield http


def _octet() -> int:
    return uuid.uuid4().int % 250 + 1


async def registered(pool: asyncpg.Pool, convention: Convention) -> Convention:
    """The file's parties and contacts made the directory's before the file is started, as
    an admin's accepted changes (what `starter.py start --accept-directory-changes` does):
    the directory decides alone for an organisation it holds, and the suite shares one
    database, so `bid` or `psa` may be there already with the people of another test's file.
    A contact without an address (which no import adds to an existing organisation) is
    added by name."""
    async with parties_imported(pool, TEST_ADMIN, convention, accept=True):
        pass
    for party in convention.parties:
        if await directory_store.organisation(pool, party.id) is None:
            continue  # an id the directory cannot hold: its files still decide
        people = await directory_store.people_of(pool, party.id)
        for contact in party.contacts:
            named = any(p.name == contact.name and p.removed_at is None for p, _ in people)
            if contact.email is None and not named:
                new = NewPerson(contact.name, None, contact.language.value, contact.title or None)
                await add_person(pool, TEST_ADMIN, party.id, new, list(EVERY_CAPACITY))
    return convention


async def funding_convention(
    client: Client,
    pool: asyncpg.Pool,
    contacts: list[dict[str, Any]] | None = None,
    task_queue: str = DEV_TASK_QUEUE,
) -> Convention:
    """Bamako's funding request to bid, its contacts registered in the directory, started,
    its decision task open."""
    convention = funding_request_to(None, contacts if contacts is not None else [FUNDER])
    await registered(pool, convention)
    await start_convention(client, convention, task_queue)
    await find_task(client, convention.id, DECISION, wait_seconds=30)
    return convention


def link_path(convention_id: str, contact_name: str, task_id: str = DECISION) -> str:
    """The path of the link the task's first notification carries for this contact."""
    notification_id = f"{convention_id}/{task_id}/task.assigned"
    return f"/t/{contact_link_token(link_secret(), notification_id, contact_name)}"


def bearer(key: str) -> dict[str, str]:
    """The Authorization header of an API key."""
    return {"authorization": f"Bearer {key}"}
