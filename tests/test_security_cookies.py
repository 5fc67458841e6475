"""Both desks' session cookies carry `Secure` when the portal is served over https.

The web scanner (security/wapiti_scan.py) runs over plain http on the loopback and reports the
flag missing there: this is the other half of that explanation (docs/security.md).
"""

from __future__ import annotations

import asyncpg
import httpx
from temporalio.testing import WorkflowEnvironment

from application.partner import PartnerDesk
from infra.portal_settings import PortalSettings
from tests.conftest import DEV_TASK_QUEUE
from tests.partner_stack import FUNDER, funding_convention, link_path, make_desk
from tests.test_office_desk import new_account, sign_in
from tests.test_partner_links import link_minted
from web.app import create_app
from web.security import HOST_PREFIX

HTTPS = PortalSettings(public_url="https://pacte.ofppt.example")
HTTP = PortalSettings(public_url="http://127.0.0.1:8300")


def _client(desk: PartnerDesk, settings: PortalSettings) -> httpx.AsyncClient:
    """A browser of the portal at its public address: over https it keeps Secure cookies
    (the sign-in form's included) and the portal names them `__Host-…`."""
    app = create_app(desk, task_queue=DEV_TASK_QUEUE)
    transport = httpx.ASGITransport(app=app, client=(f"10.77.{id(settings) % 250}.1", 40000))
    return httpx.AsyncClient(transport=transport, base_url=settings.public_url)


def _cookie(name: str, settings: PortalSettings) -> str:
    return HOST_PREFIX + name if settings.public_url.startswith("https:") else name


def _attributes(response: httpx.Response, name: str) -> set[str]:
    """The attributes of the Set-Cookie that sets `name`, lower-cased, without values."""
    for header in response.headers.get_list("set-cookie"):
        if header.startswith(f"{name}="):
            return {part.strip().split("=")[0].lower() for part in header.split(";")[1:]}
    raise AssertionError(f"no {name} cookie set: {response.headers}")


async def test_the_office_cookie_is_secure_under_https_and_httponly_strict_always(
    dev_env: WorkflowEnvironment, db_pool: asyncpg.Pool
) -> None:
    for settings, secure in ((HTTPS, True), (HTTP, False)):
        desk = make_desk(dev_env.client, db_pool, settings=settings)
        email = await new_account(db_pool, "auditor")
        async with _client(desk, settings) as http:
            signed = await sign_in(http, email)
        assert signed.status_code == 303, signed.text
        attributes = _attributes(signed, _cookie("pacte_office", settings))
        assert ("secure" in attributes) is secure, (settings.public_url, attributes)
        assert {"httponly", "samesite", "path"} <= attributes
        assert "samesite=strict" in signed.headers["set-cookie"].lower()


async def test_the_partner_cookie_is_secure_under_https_and_httponly_always(
    dev_env: WorkflowEnvironment, db_pool: asyncpg.Pool
) -> None:
    convention = await funding_convention(dev_env.client, db_pool)
    await link_minted(db_pool, convention.id, FUNDER["name"])
    for settings, secure in ((HTTPS, True), (HTTP, False)):
        desk = make_desk(dev_env.client, db_pool, settings=settings)
        async with _client(desk, settings) as http:
            opened = await http.get(link_path(convention.id, FUNDER["name"]))
        assert opened.status_code == 303, opened.text
        attributes = _attributes(opened, _cookie("pacte_session", settings))
        assert ("secure" in attributes) is secure, (settings.public_url, attributes)
        assert {"httponly", "samesite", "path"} <= attributes
