"""What every response and request of the portal goes through: headers, body size, CSRF.

CSRF tokens are signed with itsdangerous (Pallets, maintained) and bound to the server-side
session: a token is the session's hash, signed and timestamped, so a page of one session
cannot post for another, and nothing extra is stored. SameSite=Lax cookies add a second wall.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import re
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qsl

import structlog
from fastapi.routing import iter_route_contexts
from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from infra.settings import IPNetwork

log = structlog.get_logger("pacte.portal")

SECURITY_HEADERS = {
    # No script at all; styles only from our own stylesheet; no framing; forms post here.
    "content-security-policy": (
        "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "referrer-policy": "no-referrer",
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "cross-origin-opener-policy": "same-origin",
}
# Under https: browsers keep to https for two years, and refuse a cookie named __Host-… that
# is not Secure, has a Domain or a Path other than /, so no subdomain or plain-http page can
# plant or shadow a session cookie.
HSTS = "max-age=63072000; includeSubDomains"
HOST_PREFIX = "__Host-"
# Paths that hold a secret (a contact's link, an office reset link): logged without it.
_SECRET_PATH = re.compile(r"^/(t|office/reset)/[^/]+")


def client_address(request: Request) -> str:
    """The caller's address, for rate limits and the access log: the TCP peer, or, when the
    peer is one of the configured trusted proxies (PACTE_TRUSTED_PROXIES), the address its
    `X-Forwarded-For` names (`forwarded_client`)."""
    peer = request.client.host if request.client else "unknown"
    settings = getattr(getattr(request.app.state, "desk", None), "settings", None)
    trusted = tuple(getattr(settings, "trusted_proxies", ()))
    return forwarded_client(peer, request.headers.getlist("x-forwarded-for"), trusted)


def forwarded_client(peer: str, forwarded_for: list[str], trusted: tuple[IPNetwork, ...]) -> str:
    """The client behind a chain of trusted proxies.

    Only a peer within `trusted` is believed at all (none by default: not even loopback, so a
    local proxy that forwards what it got cannot make the address attacker-chosen). Its
    `X-Forwarded-For` is then read from the right, each hop appended by the proxy before it:
    the first address that is not itself a trusted proxy is the client. Anything left of it
    was written by the client and is ignored; a hop that is not an address ends the walk at
    the last proxy that could be believed."""
    client = _ip(peer)
    if client is None or not _within(client, trusted):
        return peer if client is None else str(client)
    hops = [hop.strip() for value in forwarded_for for hop in value.split(",") if hop.strip()]
    for hop in reversed(hops):
        address = _ip(hop)
        if address is None:
            break
        client = address
        if not _within(address, trusted):
            break
    return str(client)


def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    text = text.strip()
    if text.startswith("["):  # [2001:db8::1]:443
        text = text[1:].split("]", 1)[0]
    elif text.count(":") == 1:  # 192.0.2.1:443
        text = text.split(":", 1)[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _within(
    address: ipaddress.IPv4Address | ipaddress.IPv6Address, trusted: tuple[IPNetwork, ...]
) -> bool:
    return any(address.version == net.version and address in net for net in trusted)


def redacted_path(path: str) -> str:
    """The path as a log line may show it: a link's token replaced."""
    return _SECRET_PATH.sub(r"/\1/[token]", path)


UPLOAD_PATHS = re.compile(
    r"^(?:/desk/tasks/[^/]+/[^/]+|/office/conventions/[^/]+/tasks/[^/]+"
    r"|/api/v1/conventions/[^/]+/documents|/api/v1/documents)$"
)
"""Where a form or the API sends a document (application/documents.py)."""


class PortalMiddleware:
    """Security headers on every answer, a body limit (413), and an access log that never
    shows a token, a key, a code or a cookie (only method, redacted path, status, time).

    Every answer also says how long the server took to produce it, in a `Server-Timing`
    header (`app;dur=<ms>`, up to its status line and headers): what a browser's developer
    tools and the benchmarks read, without a proxy's or the network's time."""

    def __init__(
        self, app: ASGIApp, max_body_bytes: int, upload_max_bytes: int | None = None
    ) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.upload_max_bytes = upload_max_bytes or max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.monotonic()
        status_seen: dict[str, int] = {}
        https = _served_over_https(scope)
        if https:
            scope = host_prefixed_request(scope)
        headers = dict(scope.get("headers") or [])
        limit = self._limit(scope, headers)
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await _too_large(send, limit)
            self._log(scope, 413, started)
            return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge
            return message

        async def secured_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                status_seen["status"] = message["status"]
                own = list(message.get("headers", []))
                # A response that sets its own policy (a chart opened on its own needs its
                # inline styles) keeps it: two policies would both apply, the stricter wins.
                present = {bytes(k).lower() for k, _ in own}
                extra = [
                    (k.encode(), v.encode())
                    for k, v in SECURITY_HEADERS.items()
                    if k.encode() not in present
                ]
                extra.append((b"server-timing", _server_timing(started)))
                if https:
                    own = [host_prefixed_cookie(k, v) for k, v in own]
                    extra.append((b"strict-transport-security", HSTS.encode()))
                message["headers"] = [*own, *extra]
            await send(message)

        try:
            await self.app(scope, limited_receive, secured_send)
        except BodyTooLarge:
            if "status" not in status_seen:
                await _too_large(send, limit)
            status_seen.setdefault("status", 413)
        self._log(scope, status_seen.get("status", 500), started)

    def _limit(self, scope: Scope, headers: dict[bytes, bytes]) -> int:
        """A file sent with a form or to the documents API may be as large as a document
        (and its form's few fields); every other body keeps the small bound."""
        if (
            scope.get("method") == "POST"
            and headers.get(b"content-type", b"").startswith(b"multipart/form-data")
            and UPLOAD_PATHS.match(scope.get("path", ""))
        ):
            return self.upload_max_bytes
        return self.max_body_bytes

    @staticmethod
    def _log(scope: Scope, status: int, started: float) -> None:
        log.info(
            "request",
            method=scope.get("method"),
            path=redacted_path(scope.get("path", "")),
            status=status,
            ms=round((time.monotonic() - started) * 1000, 1),
        )


def _served_over_https(scope: Scope) -> bool:
    """Whether the portal's public address is https (its cookies are then Secure)."""
    state = getattr(scope.get("app"), "state", None)
    desk = getattr(state, "desk", None)
    settings = getattr(desk, "settings", None)
    return bool(getattr(settings, "secure_cookies", False))


def host_prefixed_cookie(name: bytes, value: bytes) -> tuple[bytes, bytes]:
    """A Set-Cookie of the app's, renamed `__Host-…` with Path=/ and no Domain (the routes
    keep their own names: the prefix is the edge's business, on every cookie at once)."""
    if name.lower() != b"set-cookie":
        return name, value
    text = value.decode("latin-1")
    if not text.startswith(HOST_PREFIX):
        text = HOST_PREFIX + text
    attributes = [part.strip() for part in text.split(";")]
    kept = [attributes[0]] + [
        part
        for part in attributes[1:]
        if part.split("=", 1)[0].strip().lower() not in {"path", "domain"}
    ]
    if not any(part.lower() == "secure" for part in kept):
        kept.append("Secure")
    kept.append("Path=/")
    return name, "; ".join(kept).encode("latin-1")


def host_prefixed_request(scope: Scope) -> Scope:
    """The request with only `__Host-` cookies, their prefix removed for the routes: a cookie
    without it was not set by this portal over https (a subdomain or plain http planted it)."""
    headers = []
    for name, value in scope.get("headers") or []:
        if name == b"cookie":
            pairs = [pair.strip() for pair in value.decode("latin-1").split(";")]
            kept = [
                pair.removeprefix(HOST_PREFIX) for pair in pairs if pair.startswith(HOST_PREFIX)
            ]
            if not kept:
                continue
            value = "; ".join(kept).encode("latin-1")
        headers.append((name, value))
    return {**scope, "headers": headers}


def _server_timing(started: float) -> bytes:
    return f"app;dur={(time.monotonic() - started) * 1000:.1f}".encode()


class BodyTooLarge(Exception):
    """The request body outgrew the limit while it was read."""


async def _too_large(send: Send, limit: int) -> None:
    body = (
        b'{"type":"about:blank","title":"Payload too large","status":413,'
        b'"detail":"the body is larger than ' + str(limit).encode() + b' bytes"}'
    )
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/problem+json"),
                (b"content-length", str(len(body)).encode()),
                *[(k.encode(), v.encode()) for k, v in SECURITY_HEADERS.items()],
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class Csrf:
    """Signed tokens bound to a session; valid for the session's lifetime."""

    def __init__(self, key: bytes, max_age_seconds: int) -> None:
        self._serializer = URLSafeTimedSerializer(key, salt="pacte-portal-csrf")
        self._max_age = max_age_seconds

    def token(self, session_hash: bytes) -> str:
        """The token a session's forms carry."""
        return str(self._serializer.dumps(session_hash.hex()))

    def valid(self, token: Any, session_hash: bytes) -> bool:
        """Whether a posted token belongs to this session (and is the server's)."""
        if not isinstance(token, str) or not token:
            return False
        try:
            value = self._serializer.loads(token, max_age=self._max_age)
        except BadSignature:
            return False
        return isinstance(value, str) and hmac.compare_digest(value, session_hash.hex())


# What PostgreSQL's text cannot hold: U+0000, and UTF-16 surrogates (only unpaired ones reach
# a Python str: JSON's "\ud83d\ude00" decodes to one character, a lone "\ud800" stays).
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
_JSON_TYPE = re.compile(r"^application/(?:[\w.+-]+\+)?json\b")


def unstorable(text: str) -> str | None:
    """Why PostgreSQL could not store this text, or None when it can."""
    found = _UNSTORABLE.search(text)
    if found is None:
        return None
    if found.group() == "\x00":
        return "contains a NUL character"
    return "contains an unpaired surrogate"


class StorableText:
    """Refuses, before any route runs, text that PostgreSQL cannot store: a NUL character or
    an unpaired surrogate in the path, a query parameter, a header, a form field (urlencoded
    or multipart; uploaded files are bytes and pass), or any key or string of a JSON body.

    One mechanism for every route, so no route can forget it: the answer is 422, an RFC 9457
    problem naming each field (`path.task_id`, `query.q`, `header.x-name`, `body.email`,
    `body.answer.comment`), as FastAPI's own validation errors do. Such text used to reach
    asyncpg and end as a 500 (CharacterNotInRepertoireError); a body that is not UTF-8 where
    text is expected is refused the same way (400)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        errors = [*_path_errors(scope), *_query_errors(scope), *_header_errors(scope)]
        if errors:
            await _refuse(send, 422, errors)
            return
        kind = _body_kind(scope)
        if kind is None:
            await self.app(scope, receive, send)
            return
        messages: list[Message] = []
        body = bytearray()
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                break
            body += message.get("body", b"")
            if not message.get("more_body", False):
                break
        try:
            errors = await _body_errors(kind, bytes(body), scope)
        except UnicodeDecodeError:
            await _refuse(send, 400, [{"field": "body", "reason": "is not UTF-8 text"}])
            return
        if errors:
            await _refuse(send, 422, errors)
            return

        async def replay() -> Message:
            if messages:
                return messages.pop(0)
            return await receive()

        await self.app(scope, replay, send)


def _path_errors(scope: Scope) -> list[dict[str, str]]:
    path = str(scope.get("path", ""))
    reason = unstorable(path)
    if reason is None:
        return []
    routes = getattr(scope.get("app"), "routes", [])
    for context in iter_route_contexts(routes):
        regex = getattr(context, "path_regex", None)
        matched = regex.match(path) if regex is not None else None
        if matched is None:
            continue
        named = [
            {"field": f"path.{name}", "reason": why}
            for name, value in matched.groupdict().items()
            if (why := unstorable(value)) is not None
        ]
        if named:
            return named
    return [{"field": "path", "reason": reason}]


def _query_errors(scope: Scope) -> list[dict[str, str]]:
    query = bytes(scope.get("query_string") or b"").decode("latin-1")
    return _pairs_errors("query", parse_qsl(query, keep_blank_values=True))


def _pairs_errors(where: str, pairs: list[tuple[str, str]]) -> list[dict[str, str]]:
    errors = []
    for name, value in pairs:
        reason = unstorable(name) or unstorable(value)
        if reason is not None:
            shown = name if unstorable(name) is None else repr(name)[1:-1]
            errors.append({"field": f"{where}.{shown}", "reason": reason})
    return errors


def _header_errors(scope: Scope) -> list[dict[str, str]]:
    errors = []
    for name, value in scope.get("headers") or []:
        reason = unstorable(bytes(value).decode("latin-1"))
        if reason is not None:
            errors.append({"field": f"header.{bytes(name).decode('latin-1')}", "reason": reason})
    return errors


def _body_kind(scope: Scope) -> str | None:
    headers = dict(scope.get("headers") or [])
    content_type = bytes(headers.get(b"content-type", b"")).decode("latin-1").lower().strip()
    if _JSON_TYPE.match(content_type):
        return "json"
    if content_type.startswith("application/x-www-form-urlencoded"):
        return "form"
    if content_type.startswith("multipart/form-data"):
        return "multipart"
    return None


async def _body_errors(kind: str, body: bytes, scope: Scope) -> list[dict[str, str]]:
    if kind == "json":
        text = body.decode("utf-8")
        try:
            document = json.loads(text)
        except ValueError:
            return []  # not JSON: the route's own validation says so
        return [
            {"field": ".".join(("body", *where)), "reason": reason}
            for where, reason in _json_errors(document, ())
        ]
    if kind == "form":
        return _pairs_errors("body", parse_qsl(body.decode("latin-1"), keep_blank_values=True))
    sent = False

    async def once() -> Message:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    try:
        form = await Request(scope, once).form()
    except (MultiPartException, HTTPException, ValueError):
        return []  # a malformed multipart body is the route's to refuse
    try:
        fields = []
        for name, value in form.multi_items():
            fields.append((name, value.filename or "" if isinstance(value, UploadFile) else value))
        return _pairs_errors("body", fields)
    finally:
        await form.close()


def _json_errors(value: Any, where: tuple[str, ...]) -> Iterator[tuple[tuple[str, ...], str]]:
    if isinstance(value, str):
        reason = unstorable(value)
        if reason is not None:
            yield where, reason
    elif isinstance(value, dict):
        for key, item in value.items():
            reason = unstorable(key)
            shown = key if reason is None else repr(key)[1:-1]
            if reason is not None:
                yield (*where, shown), f"its name {reason}"
            yield from _json_errors(item, (*where, shown))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _json_errors(item, (*where, str(index)))


async def _refuse(send: Send, status: int, errors: list[dict[str, str]]) -> None:
    title = "Invalid request" if status == 422 else "Bad request"
    body = json.dumps(
        {"type": "about:blank", "title": title, "status": status, "errors": errors},
        ensure_ascii=True,
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/problem+json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
