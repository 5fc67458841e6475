"""Webhooks reach only the public internet (issue 28, item 3: SSRF): https in production, no
credentials in the URL, every resolved address public (loopback only on a development stack),
checked where the connection is made, after DNS; redirects never followed; the delivery log
keeps a reason class, never the peer's headers, its `Location` or the URL's credentials.

No traffic ever leaves the loopback here: every connection the transport opens goes through
`loopback_only`, which fails the test on any other address before a packet is sent."""

from __future__ import annotations

import contextlib
import socket
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import asyncpg
import httpcore
import httpx
import pytest
from pydantic import ValidationError
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.delivery_log import DeliveryLog
from activities.notify import Notifier
from activities.webhook import WebhookSender
from application.directory.channels import set_webhook_hosts
from application.directory.organisations import NewOrganisation, add_organisation
from application.errors import InvalidInput
from infra.outbound import (
    REFUSED_ADDRESS,
    REFUSED_CREDENTIALS,
    REFUSED_HOST,
    REFUSED_SCHEME,
    OutboundPolicy,
    OutboundRefused,
    allow_list_entry,
    check_url,
    guarded_transport,
    host_allowed,
    redacted_url,
)
from infra.secrets import webhook_secret_variable
from infra.settings import DeliverySettings
from schemas.channels import Channel, DeliveryStatus
from schemas.convention import Party
from schemas.notifications import Notification, NotificationEvent
from schemas.values import Language
from tests.conftest import WEBHOOK_SECRET
from tests.directory_stack import ADMIN, fresh_id

HTTP_ONLY = OutboundPolicy(allow_http=True, allow_loopback=False)  # addresses, not schemes
PRODUCTION = OutboundPolicy()
DEVELOPMENT = OutboundPolicy.development()
PRIVATE_TARGETS = (
    "http://169.254.169.254/latest/meta-data/",
    "http://10.0.0.1/",
    "http://192.168.1.1:8080/",
    "http://100.64.0.1/",
    "http://[::1]/",
    "http://[::ffff:127.0.0.1]/",
    "http://[fd00::1]/",
    "http://0.0.0.0/",
)


class Trap:
    """A server on 127.0.0.1 that counts what reaches it; some paths answer a redirect."""

    def __init__(self) -> None:
        self.hits: list[str] = []
        trap = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                trap.hits.append(self.path)
                self.rfile.read(int(self.headers.get("content-length") or 0))
                if self.path.startswith("/redirect"):
                    self.send_response(302)
                    self.send_header("location", "http://10.0.0.1/admin?token=s3cr3t")
                    self.send_header("x-internal-banner", "metadata-service-v2")
                else:
                    self.send_response(200)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def trap() -> Iterator[Trap]:
    server = Trap()
    yield server
    server.close()


@pytest.fixture
def connects(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every address the transport connects to; any but the loopback fails the test first."""
    seen: list[str] = []
    real = httpcore.AnyIOBackend.connect_tcp

    async def loopback_only(self: Any, host: str, port: int, *args: Any, **kw: Any) -> Any:
        seen.append(host)
        assert host in {"127.0.0.1", "::1"}, f"a connection to {host} was about to be made"
        return await real(self, host, port, *args, **kw)

    monkeypatch.setattr(httpcore.AnyIOBackend, "connect_tcp", loopback_only)
    return seen


async def post(url: str, policy: OutboundPolicy) -> httpx.Response:
    check_url(url, policy)
    async with httpx.AsyncClient(transport=guarded_transport(policy), timeout=5) as client:
        return await client.post(url, content=b"{}")


@pytest.mark.parametrize("url", PRIVATE_TARGETS)
async def test_private_and_link_local_addresses_are_refused_before_connecting(
    url: str, connects: list[str]
) -> None:
    with pytest.raises(OutboundRefused) as refused:
        await post(url, HTTP_ONLY)
    assert refused.value.reason == REFUSED_ADDRESS
    assert connects == []


async def test_loopback_is_refused_unless_the_stack_is_a_development_one(
    trap: Trap, connects: list[str]
) -> None:
    for url in (f"http://127.0.0.1:{trap.port}/", f"http://localhost:{trap.port}/"):
        with pytest.raises(OutboundRefused) as refused:
            await post(url, HTTP_ONLY)  # a name is checked by what it resolves to
        assert refused.value.reason == REFUSED_ADDRESS
    assert trap.hits == [] and connects == []
    answered = await post(f"http://127.0.0.1:{trap.port}/ok", DEVELOPMENT)
    assert answered.status_code == 200 and trap.hits == ["/ok"]


async def test_production_sends_https_only_and_never_credentials(connects: list[str]) -> None:
    with pytest.raises(OutboundRefused) as plain:
        check_url("http://partner.example/hook", PRODUCTION)
    assert plain.value.reason == REFUSED_SCHEME
    for url in ("https://user:pass@partner.example/hook", "http://user:pass@127.0.0.1/"):
        with pytest.raises(OutboundRefused) as credentials:
            check_url(url, DEVELOPMENT)
        assert credentials.value.reason == REFUSED_CREDENTIALS
        assert "pass" not in str(credentials.value)
    for url in ("file:///etc/passwd", "gopher://127.0.0.1:6379/", "ftp://partner.example/"):
        with pytest.raises(OutboundRefused):
            check_url(url, DEVELOPMENT)
    assert redacted_url("https://u:p@h.example/x?token=1") == "https://h.example/x"
    assert connects == []


async def test_the_address_checked_is_the_address_connected_to_dns_is_asked_once(
    monkeypatch: pytest.MonkeyPatch, connects: list[str], trap: Trap
) -> None:
    # A rebinding name: public to the first question, loopback to any later one. The check
    # and the connection share one answer, so the second never matters.
    answers = iter(["127.0.0.1", "10.0.0.1", "10.0.0.1"])
    asked: list[str] = []

    async def rebinding(self: Any, host: str, port: int, **kw: Any) -> list[Any]:
        asked.append(host)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (next(answers), port))]

    monkeypatch.setattr(type(__import__("asyncio").get_running_loop()), "getaddrinfo", rebinding)
    answered = await post(f"http://rebinding.example:{trap.port}/once", DEVELOPMENT)
    assert answered.status_code == 200
    assert asked == ["rebinding.example"] and connects == ["127.0.0.1"]


def test_a_convention_refuses_a_webhook_url_with_credentials() -> None:
    party = {"id": "bid", "name": "IsDB", "kind": "funder"}
    Party.model_validate(party | {"webhook_url": "https://hooks.isdb.example/pacte"})
    with pytest.raises(ValidationError, match="credentials"):
        Party.model_validate(party | {"webhook_url": "https://u:p@hooks.isdb.example/pacte"})


def notification_to(url: str, party: str = "bid") -> Notification:
    return Notification(
        id=f"ssrf-{uuid.uuid4().hex[:8]}/stage/convention.stage_changed",
        convention_id=f"ssrf-{uuid.uuid4().hex[:8]}",
        event=NotificationEvent.STAGE_CHANGED,
        party=party,
        language=Language.FRENCH,
        subject="stage",
        stage="signature",
        created_at=datetime.now(UTC),
        webhook_url=url,
    )


async def delivered_log(
    pool: asyncpg.Pool, url: str, policy: OutboundPolicy, party: str = "bid"
) -> tuple[str | None, str]:
    """Deliver once; the attempt's reason, and every text the delivery log holds of it."""
    sent = notification_to(url, party)
    await ActivityEnvironment().run(Notifier(pool, DeliverySettings()).notify_party, sent)
    log = DeliveryLog(pool)
    await log.plan(
        sent.id, Channel.WEBHOOK, party, target=redacted_url(url), status=DeliveryStatus.PENDING
    )
    sender = WebhookSender(pool, DeliverySettings(attempt_timeout_seconds=5, outbound=policy))
    with contextlib.suppress(ApplicationError):  # a failed attempt raises, as it should
        await ActivityEnvironment().run(sender.deliver_webhook, sent)
    attempt = await pool.fetchrow(
        "SELECT * FROM delivery_attempts WHERE notification_id = $1", sent.id
    )
    delivery = await pool.fetchrow("SELECT * FROM deliveries WHERE notification_id = $1", sent.id)
    stored = " ".join(str(v) for row in (attempt, delivery) for v in dict(row).values())
    return attempt["detail"], stored


async def test_the_delivery_log_keeps_a_reason_class_never_the_peers_answer(
    db_pool: asyncpg.Pool, trap: Trap, connects: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PACTE_WEBHOOK_SECRET_BID", WEBHOOK_SECRET)
    cases = {
        "http://169.254.169.254/latest/meta-data/": (HTTP_ONLY, REFUSED_ADDRESS),
        "http://10.0.0.1/": (HTTP_ONLY, REFUSED_ADDRESS),
        "http://[::1]/": (HTTP_ONLY, REFUSED_ADDRESS),
        f"http://127.0.0.1:{trap.port}/loop": (PRODUCTION, REFUSED_SCHEME),
        f"http://user:pass@127.0.0.1:{trap.port}/creds": (DEVELOPMENT, REFUSED_CREDENTIALS),
        # Answered by a redirect inward: not followed, its Location never kept.
        f"http://127.0.0.1:{trap.port}/redirect": (DEVELOPMENT, "http_3xx_redirect_not_followed"),
    }
    for url, (policy, reason) in cases.items():
        detail, stored = await delivered_log(db_pool, url, policy)
        assert detail == reason, (url, detail)
        for secret in ("user:pass", "pass@", "10.0.0.1/admin", "s3cr3t", "metadata-service"):
            assert secret not in stored, (url, secret)
    assert trap.hits == ["/redirect"]  # the one request the policies allowed
    assert set(connects) == {"127.0.0.1"}


def test_an_allow_list_names_hosts_or_the_subdomains_of_a_domain() -> None:
    allowed = ("hooks.isdb.example", "*.menefp.example")
    assert host_allowed("hooks.isdb.example", allowed)
    assert host_allowed("HOOKS.isdb.example.", allowed)
    assert host_allowed("api.menefp.example", allowed)
    assert not host_allowed("menefp.example", allowed)  # the domain itself is not a subdomain
    assert not host_allowed("evil-menefp.example", allowed)
    assert not host_allowed("hooks.isdb.example.evil.example", allowed)
    assert not host_allowed("isdb.example", allowed)
    policy = OutboundPolicy(allowed_hosts=allowed)
    assert check_url("https://hooks.isdb.example/pacte", policy)
    with pytest.raises(OutboundRefused) as refused:
        check_url("https://169.254.169.254/latest/meta-data/", policy)
    assert refused.value.reason == REFUSED_HOST
    assert allow_list_entry(" Hooks.ISDB.example. ") == "hooks.isdb.example"
    assert allow_list_entry("*.Ministère.example") == "*.xn--ministre-60a.example"
    for bad in ("hooks.isdb.example:8443", "a b", "*", "x.*.example", "https://x/", ""):
        with pytest.raises(ValueError):
            allow_list_entry(bad)


async def test_a_delivery_to_a_host_off_the_organisations_allow_list_is_refused_before_connecting(
    db_pool: asyncpg.Pool, trap: Trap, connects: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    party = fresh_id("isdb")
    monkeypatch.setenv(webhook_secret_variable(party), WEBHOOK_SECRET)
    await add_organisation(
        db_pool, ADMIN, NewOrganisation(id=party, kind="agency", country="SA", name_en="IsDB")
    )
    with pytest.raises(InvalidInput):
        await set_webhook_hosts(db_pool, ADMIN, party, ["hooks.isdb.example:8443"])
    # The trap on loopback is reachable on a development stack: with the allow-list it is not.
    stored = await set_webhook_hosts(db_pool, ADMIN, party, ["hooks.isdb.example"])
    assert stored == ("hooks.isdb.example",)
    detail, _ = await delivered_log(
        db_pool, f"http://127.0.0.1:{trap.port}/off-list", DEVELOPMENT, party
    )
    assert detail == REFUSED_HOST
    assert trap.hits == [] and connects == []
    # Its own host on the list: delivered.
    await set_webhook_hosts(db_pool, ADMIN, party, ["127.0.0.1"])
    detail, _ = await delivered_log(
        db_pool, f"http://127.0.0.1:{trap.port}/on-list", DEVELOPMENT, party
    )
    assert trap.hits == ["/on-list"]
    # No list any more: any host the policy allows.
    assert await set_webhook_hosts(db_pool, ADMIN, party, None) is None
    await delivered_log(db_pool, f"http://127.0.0.1:{trap.port}/no-list", DEVELOPMENT, party)
    assert trap.hits == ["/on-list", "/no-list"]
