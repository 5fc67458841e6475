"""What every response and request of the portal goes through: headers, body size, CSRF.

CSRF tokens are signed with itsdangerous (Pallets, maintained) and bound to the server-side
session: a token is the session's hash, signed and timestamped, so a page of one session
cannot post for another, and nothing extra is stored. SameSite=Lax cookies add a second wall.
"""

from __future__ import annotations

import hmac
import re
import time
from typing import Any

import structlog
from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

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
# Paths that hold a secret: logged without it.
_SECRET_PATH = re.compile(r"^/t/[^/]+")


def client_address(request: Request) -> str:
    """The caller's address, for rate limits and the access log."""
    return request.client.host if request.client else "unknown"


def redacted_path(path: str) -> str:
    """The path as a log line may show it: a link's token replaced."""
    return _SECRET_PATH.sub("/t/[token]", path)


class PortalMiddleware:
    """Security headers on every answer, a body limit (413), and an access log that never
    shows a token, a key, a code or a cookie (only method, redacted path, status, time).

    Every answer also says how long the server took to produce it, in a `Server-Timing`
    header (`app;dur=<ms>`, up to its status line and headers): what a browser's developer
    tools and the benchmarks read, without a proxy's or the network's time."""

    def __init__(self, app: ASGIApp, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.monotonic()
        status_seen: dict[str, int] = {}
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_body_bytes:
            await _too_large(send, self.max_body_bytes)
            self._log(scope, 413, started)
            return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_bytes:
                    raise BodyTooLarge
            return message

        async def secured_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                status_seen["status"] = message["status"]
                extra = [(k.encode(), v.encode()) for k, v in SECURITY_HEADERS.items()]
                extra.append((b"server-timing", _server_timing(started)))
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        try:
            await self.app(scope, limited_receive, secured_send)
        except BodyTooLarge:
            if "status" not in status_seen:
                await _too_large(send, self.max_body_bytes)
            status_seen.setdefault("status", 413)
        self._log(scope, status_seen.get("status", 500), started)

    @staticmethod
    def _log(scope: Scope, status: int, started: float) -> None:
        log.info(
            "request",
            method=scope.get("method"),
            path=redacted_path(scope.get("path", "")),
            status=status,
            ms=round((time.monotonic() - started) * 1000, 1),
        )


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
