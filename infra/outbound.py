"""Requests Pacte sends to addresses its users chose (partners' webhooks): only to the public
internet, never to the machines behind it (SSRF).

A `webhook_url` comes from a convention file: whoever can start a convention chooses it. Left
alone it reaches `http://169.254.169.254/` (a cloud's metadata service), `127.0.0.1:5432` or
a private network, and the delivery log would tell them what answered. So:

- before anything is sent, the URL must be https (plain http only on a development stack),
  and carry no credentials (`user:pass@`: they would end in logs);
- the check of the address is made where the connection is made, after DNS: the transport
  resolves the name itself, refuses the connection unless every address is a public one
  (loopback only on a development stack), and connects to the address it checked — a name
  that answers a public address to a check and a private one to the connection (DNS
  rebinding) has no second answer to give;
- redirects are never followed (a public endpoint could otherwise bounce the request inward),
  and what is logged is a reason class (`OutboundRefused.reason`), never the peer's headers;
- an organisation may have an allow-list of hosts (the directory's, set by an admin): a URL
  naming another host is refused before anything is resolved or sent.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
import ssl
from collections.abc import Iterable
from dataclasses import dataclass

import httpcore
import httpx

_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_HOST_NAME = re.compile(rf"^{_LABEL}(?:\.{_LABEL})*$")

# Reason classes, as the delivery log stores them.
REFUSED_SCHEME = "refused_scheme"
REFUSED_CREDENTIALS = "refused_credentials"
REFUSED_URL = "refused_url"
REFUSED_ADDRESS = "refused_address"
UNRESOLVABLE = "unresolvable"
REFUSED_HOST = "refused_host"


@dataclass(frozen=True)
class OutboundPolicy:
    """What an outbound request may reach. Production: https, public addresses only."""

    allow_http: bool = False
    allow_loopback: bool = False
    allowed_hosts: tuple[str, ...] | None = None
    """The organisation's allow-list (`host`, or `*.domain` for its subdomains); None: any
    host the rest of the policy allows."""

    @classmethod
    def development(cls) -> OutboundPolicy:
        """The embedded stack's and the tests': plain http and loopback receivers too."""
        return cls(allow_http=True, allow_loopback=True)


class OutboundRefused(Exception):
    """A request Pacte will not send; `reason` is the class the delivery log keeps."""

    def __init__(self, reason: str, explanation: str) -> None:
        super().__init__(f"{reason}: {explanation}")
        self.reason = reason


def check_url(url: str, policy: OutboundPolicy) -> httpx.URL:
    """The URL, parsed, if it may be requested at all (scheme, credentials, a host); the
    address it names is checked when connecting (`guarded_transport`)."""
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError, ValueError):
        raise OutboundRefused(REFUSED_URL, "not a URL") from None
    allowed = ("https", "http") if policy.allow_http else ("https",)
    if parsed.scheme not in allowed:
        raise OutboundRefused(REFUSED_SCHEME, f"only {' or '.join(allowed)} is sent to")
    if parsed.userinfo:
        raise OutboundRefused(REFUSED_CREDENTIALS, "a URL with credentials in it is refused")
    if not parsed.host:
        raise OutboundRefused(REFUSED_URL, "no host")
    ascii_host = parsed.raw_host.decode("ascii")
    if policy.allowed_hosts is not None and not host_allowed(ascii_host, policy.allowed_hosts):
        raise OutboundRefused(REFUSED_HOST, "the host is not on the organisation's allow-list")
    return parsed


def host_allowed(host: str, allowed: Iterable[str]) -> bool:
    """Whether a URL's host is on an allow-list: the same name, or under a `*.domain` entry
    (a subdomain, not the domain itself). Names are compared lower-case, as IDNA A-labels."""
    host = host.lower().rstrip(".")
    for entry in allowed:
        entry = entry.lower().rstrip(".")
        if entry.startswith("*."):
            if host.endswith(entry[1:]) and host != entry[2:]:
                return True
        elif host == entry:
            return True
    return False


def allow_list_entry(text: str) -> str:
    """One allow-list entry as stored: a host name (IDNA A-labels) or an address, lower-case,
    optionally `*.` before a domain; ValueError when it is not one."""
    entry = text.strip().lower().rstrip(".")
    wildcard = entry.startswith("*.")
    name = entry[2:] if wildcard else entry
    try:
        parsed = httpx.URL(f"https://{name}/")
    except (httpx.InvalidURL, ValueError):
        raise ValueError(f"not a host name: {text!r}") from None
    host = parsed.raw_host.decode("ascii")
    if parsed.port is not None or parsed.path != "/" or not (_HOST_NAME.match(host) or _ip(host)):
        raise ValueError(f"not a host name: {text!r}")
    return ("*." if wildcard else "") + host


def redacted_url(url: str) -> str:
    """The URL as a log or a page may show it: no credentials, no query (partners put
    tokens there), no fragment."""
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError, ValueError):
        return "(not a URL)"
    return str(parsed.copy_with(userinfo=b"", query=None, fragment=None))


def _ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def address_allowed(address: str, policy: OutboundPolicy) -> bool:
    """Whether one resolved address is one Pacte may connect to."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])  # an IPv6 scope id is not the IP
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped  # ::ffff:127.0.0.1 is 127.0.0.1
    if ip.is_loopback:
        return policy.allow_loopback
    return ip.is_global and not ip.is_multicast


async def resolve(host: str, port: int) -> list[str]:
    """Every address the name has (an address literal is its own answer)."""
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        raise OutboundRefused(UNRESOLVABLE, "the host name does not resolve") from None
    addresses: list[str] = []
    for _family, _type, _proto, _name, sockaddr in infos:
        if sockaddr[0] not in addresses:
            addresses.append(str(sockaddr[0]))
    return addresses


class _CheckedBackend(httpcore.AsyncNetworkBackend):
    """httpcore's network backend, connecting only to addresses it resolved and checked."""

    def __init__(self, policy: OutboundPolicy) -> None:
        self._policy = policy
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        try:
            async with asyncio.timeout(timeout):
                addresses = await resolve(host, port)
        except TimeoutError:
            raise httpcore.ConnectTimeout("the host name took too long to resolve") from None
        refused = [a for a in addresses if not address_allowed(a, self._policy)]
        if refused or not addresses:
            # One private answer is enough to refuse: a name that mixes them is not a
            # partner's endpoint, and trying the public ones first would still probe.
            raise OutboundRefused(REFUSED_ADDRESS, "the host resolves to a non-public address")
        failure: Exception | None = None
        for address in addresses:
            try:
                return await self._inner.connect_tcp(
                    address, port, timeout, local_address, socket_options
                )
            except httpcore.ConnectError as error:  # the next address, as a resolver would
                failure = error
        assert failure is not None
        raise failure

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise OutboundRefused(REFUSED_ADDRESS, "no unix sockets")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


def guarded_transport(
    policy: OutboundPolicy, ssl_context: ssl.SSLContext | None = None
) -> httpx.AsyncHTTPTransport:
    """An httpx transport that connects only where `policy` allows, checked after DNS; TLS
    still verifies the certificate against the URL's host name (SNI), not the address.

    Passing it to a client also turns off httpx's proxies from the environment, which
    would connect on Pacte's behalf to an address this check never saw."""
    transport = httpx.AsyncHTTPTransport(retries=0)
    # httpx builds its connection pool without a network backend parameter: the pool is
    # rebuilt with the checked backend (tests/test_outbound.py proves the check is in force).
    transport._pool = httpcore.AsyncConnectionPool(
        ssl_context=ssl_context or httpx.create_ssl_context(),
        network_backend=_CheckedBackend(policy),
        retries=0,
    )
    return transport
