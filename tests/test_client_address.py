"""Whose address the limits count (issue 28, item 2): the TCP peer, unless it is one of the
configured trusted proxies (PACTE_TRUSTED_PROXIES, none by default, not even loopback); then
the right-most `X-Forwarded-For` hop that is not itself a trusted proxy. IPv6 clients are
counted by their /64.

The HTTP tests go through the partners' API with bogus keys: an address's budget
(`limits.FAILURES_PER_ADDRESS` wrong keys) then answers 429, so which bucket a request
landed in is visible from outside.
"""

from __future__ import annotations

import ipaddress
import secrets
import uuid

import asyncpg
import httpx
import pytest
import uvicorn
from temporalio.testing import WorkflowEnvironment

import portal
from application import limits
from application.errors import TooManyAttempts, Unauthenticated
from application.partner.keys import authenticate_key
from infra.portal_settings import PortalSettings, load_portal_settings
from infra.settings import Environment, SettingsError
from tests.partner_stack import make_desk
from web.app import create_app
from web.security import forwarded_client

PROXIES = (ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("2001:db8:ff::/48"))


def _bogus() -> dict[str, str]:
    return {"authorization": f"Bearer pk_{secrets.token_hex(6)}_bogus"}


def test_no_proxy_is_trusted_by_default_not_even_loopback() -> None:
    assert load_portal_settings(Environment()).trusted_proxies == ()
    assert forwarded_client("127.0.0.1", ["203.0.113.9"], ()) == "127.0.0.1"
    assert forwarded_client("::1", ["203.0.113.9"], ()) == "::1"


def test_the_setting_lists_networks_and_refuses_what_is_not_one() -> None:
    env = Environment(PACTE_TRUSTED_PROXIES="10.0.0.0/8, 2001:db8:ff::/48 192.0.2.7")
    assert load_portal_settings(env).trusted_proxies == (
        *PROXIES,
        ipaddress.ip_network("192.0.2.7/32"),
    )
    with pytest.raises(SettingsError, match="PACTE_TRUSTED_PROXIES: not an IP network: 'lb-1'"):
        load_portal_settings(Environment(PACTE_TRUSTED_PROXIES="10.0.0.0/8,lb-1"))


def test_forwarded_for_from_an_untrusted_peer_is_ignored() -> None:
    assert forwarded_client("198.51.100.4", ["203.0.113.9"], PROXIES) == "198.51.100.4"


def test_a_chain_through_two_trusted_proxies_names_the_client_not_what_it_wrote() -> None:
    # The client wrote "1.2.3.4" itself; the outer proxy 10.0.0.2 appended the client's real
    # address, the inner proxy 10.0.0.1 (the peer) appended 10.0.0.2.
    chain = ["1.2.3.4, 203.0.113.9", "10.0.0.2"]
    assert forwarded_client("10.0.0.1", chain, PROXIES) == "203.0.113.9"
    # Ports, brackets and IPv4-mapped forms name the same clients.
    assert forwarded_client("10.0.0.1", ["[2001:db8:1::5]:443, 10.0.0.2"], PROXIES) == (
        "2001:db8:1::5"
    )
    assert forwarded_client("::ffff:10.0.0.1", ["203.0.113.9:5050"], PROXIES) == "203.0.113.9"
    # A hop that is no address stops the walk at the last proxy that could be believed.
    assert forwarded_client("10.0.0.1", ["203.0.113.9, unknown, 10.0.0.2"], PROXIES) == "10.0.0.2"
    # Only proxies all the way: the left-most of them.
    assert forwarded_client("10.0.0.1", ["10.0.0.3, 10.0.0.2"], PROXIES) == "10.0.0.3"


def test_ipv6_clients_are_counted_by_their_64_ipv4_by_their_address() -> None:
    assert limits.address_bucket("address", "2001:db8:1:2::a") == "address:2001:db8:1:2::/64"
    assert limits.address_bucket("address", "2001:db8:1:2:ffff:ffff:ffff:ffff") == (
        "address:2001:db8:1:2::/64"
    )
    assert limits.address_bucket("address", "::ffff:192.0.2.1") == "address:192.0.2.1"
    assert limits.address_bucket("address", "192.0.2.1") == "address:192.0.2.1"


async def test_ipv6_addresses_in_one_64_share_a_bucket(
    dev_env: WorkflowEnvironment, db_pool: asyncpg.Pool
) -> None:
    desk = make_desk(dev_env.client, db_pool)
    site = f"2001:db8:{uuid.uuid4().int % 65000:x}:7"
    for n in range(limits.FAILURES_PER_ADDRESS):
        with pytest.raises(Unauthenticated):
            await authenticate_key(desk, _bogus()["authorization"], f"{site}::{n + 1:x}")
    # Another address of the same /64: the same, full bucket.
    with pytest.raises(TooManyAttempts):
        await authenticate_key(desk, _bogus()["authorization"], f"{site}:ffff:ffff:ffff:1")
    # The next /64 is another client.
    with pytest.raises(Unauthenticated):
        await authenticate_key(desk, _bogus()["authorization"], f"{site}1::1")


async def _fill_through(http: httpx.AsyncClient, forwarded: list[str]) -> list[int]:
    """One bogus key per `X-Forwarded-For` value: the statuses."""
    statuses = []
    for value in forwarded:
        answer = await http.get("/api/v1/tasks", headers={**_bogus(), "x-forwarded-for": value})
        statuses.append(answer.status_code)
    return statuses


async def test_a_spoofed_forwarded_for_from_an_untrusted_peer_brings_no_fresh_bucket(
    dev_env: WorkflowEnvironment, db_pool: asyncpg.Pool
) -> None:
    # The peer is loopback (a local proxy that forwards whatever it got), trusted by nothing.
    desk = make_desk(dev_env.client, db_pool)
    peer = f"127.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}.1"
    transport = httpx.ASGITransport(app=create_app(desk), client=(peer, 4000))
    async with httpx.AsyncClient(transport=transport, base_url="http://portal.test") as http:
        spoofed = [f"203.0.113.{n}" for n in range(limits.FAILURES_PER_ADDRESS + 1)]
        statuses = await _fill_through(http, spoofed)
    assert statuses == [401] * limits.FAILURES_PER_ADDRESS + [429]


async def test_behind_two_trusted_proxies_each_client_has_its_own_bucket(
    dev_env: WorkflowEnvironment, db_pool: asyncpg.Pool
) -> None:
    settings = PortalSettings(trusted_proxies=PROXIES)
    desk = make_desk(dev_env.client, db_pool, settings=settings)
    transport = httpx.ASGITransport(app=create_app(desk), client=("10.0.0.1", 4000))
    client, other = (f"198.18.{uuid.uuid4().int % 250}.{n}" for n in (1, 2))
    async with httpx.AsyncClient(transport=transport, base_url="http://portal.test") as http:
        # Whatever the client writes on the left, the outer proxy's hop names it.
        statuses = await _fill_through(
            http,
            [f"192.0.2.{n}, {client}, 10.0.0.2" for n in range(limits.FAILURES_PER_ADDRESS + 1)],
        )
        assert statuses == [401] * limits.FAILURES_PER_ADDRESS + [429]
        # Another client behind the same two proxies is not held by the first one's failures.
        [status] = await _fill_through(http, [f"{other}, 10.0.0.2"])
        assert status == 401


def test_the_server_believes_no_proxy_header_itself(monkeypatch: pytest.MonkeyPatch) -> None:
    # uvicorn's own proxy_headers would rewrite the peer from X-Forwarded-For whenever it is
    # in FORWARDED_ALLOW_IPS (loopback by default), before the portal sees it.
    seen: dict[str, object] = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **options: seen.update(options))
    portal.serve(PortalSettings(), "127.0.0.1", 8399)
    assert seen["proxy_headers"] is False
