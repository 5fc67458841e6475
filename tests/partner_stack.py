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
from application.partner import PartnerDesk
from infra.portal_settings import PortalSettings, contact_link_token, link_secret
from infra.settings import DeliverySettings
from schemas.convention import Convention
from tests.conftest import DEV_TASK_QUEUE
from tests.test_delivery_webhook import funding_request_to
from web.app import create_app
from web.i18n import code_mail

TEST_LINK_SECRET = base64.b64encode(b"pacte-portal-test-link-secret-32b!").decode()
os.environ.setdefault("PACTE_LINK_SECRET", TEST_LINK_SECRET)
DECISION = "funding_request.decision.r1"
FUNDER = {"name": "Fatima Zahra EL ALAOUI", "email": "fz.alaoui@isdb.example", "language": "ar"}
COLLEAGUE = {"name": "Jean-Baptiste Koné", "email": "jb.kone@isdb.example", "language": "fr"}


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


async def funding_convention(
    client: Client,
    contacts: list[dict[str, Any]] | None = None,
    task_queue: str = DEV_TASK_QUEUE,
) -> Convention:
    """Bamako's funding request to bid, started, its decision task open."""
    convention = funding_request_to(None, contacts if contacts is not None else [FUNDER])
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
