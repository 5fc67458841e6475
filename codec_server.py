"""The codec endpoint: lets the Temporal Web UI (and `temporal --codec-endpoint`) show
decrypted payloads to whoever holds the payload key and, if set, the codec token.

    python codec_server.py [--host 127.0.0.1] [--port 8081] [--ui-origin URL …]

Temporal's remote codec protocol: POST /encode and POST /decode (also under
/{namespace}/…), a JSON body `{"payloads": [...]}` in protobuf JSON (bytes as base64), the
same shape back. Keys come from the same configuration as the worker's (PACTE_PAYLOAD_KEYS
or the secrets file); PACTE_CODEC_TOKEN, when set, is required as `Authorization: Bearer …`.
CORS answers only the Web UI's origins (default http://localhost:8233, http://127.0.0.1:8233).
It listens on 127.0.0.1 by default: it decrypts, so it is exposed only on purpose.
"""

from __future__ import annotations

import argparse
import asyncio
import hmac
import socket
import sys
from collections.abc import Awaitable, Callable, Collection, Sequence

import structlog
from aiohttp import web
from google.protobuf import json_format
from temporalio.api.common.v1 import Payload, Payloads

from infra.log_config import configure_logging
from infra.payload_codec import EncryptionCodec, PayloadDecryptionError
from infra.secrets import SecretError, payload_keys
from infra.settings import load_settings

DEFAULT_PORT = 8081
DEFAULT_UI_ORIGINS = ("http://localhost:8233", "http://127.0.0.1:8233")
TOKEN_VARIABLE = "PACTE_CODEC_TOKEN"
MAX_BODY_BYTES = 8 * 1024 * 1024  # a history's biggest payloads, several at once

log = structlog.get_logger("pacte.codec_server")

Transform = Callable[[Sequence[Payload]], Awaitable[list[Payload]]]


def build_app(
    codec: EncryptionCodec, *, token: str | None, ui_origins: Collection[str]
) -> web.Application:
    """The two codec routes, their CORS preflight, and the bearer-token check."""
    expected = f"Bearer {token}".encode() if token else None

    def cors(request: web.Request, response: web.StreamResponse) -> web.StreamResponse:
        origin = request.headers.get("Origin")
        if origin is not None and origin in ui_origins:
            response.headers["Access-Control-Allow-Origin"] = origin
            response.headers["Access-Control-Allow-Methods"] = "POST, OPTIONS"
            response.headers["Access-Control-Allow-Headers"] = (
                "content-type, x-namespace, authorization"
            )
            response.headers["Access-Control-Allow-Credentials"] = "true"
        response.headers["Vary"] = "Origin"
        return response

    async def preflight(request: web.Request) -> web.StreamResponse:
        # Browsers send no credentials on a preflight: it is answered without the token.
        return cors(request, web.Response(status=204))

    def refused(request: web.Request, status: int, reason: str) -> web.StreamResponse:
        return cors(request, web.json_response({"error": reason}, status=status))

    async def apply(transform: Transform, request: web.Request) -> web.StreamResponse:
        presented = request.headers.get("Authorization", "").encode()
        if expected is not None and not hmac.compare_digest(presented, expected):
            response = refused(request, 401, f"a valid bearer token ({TOKEN_VARIABLE}) is required")
            response.headers["WWW-Authenticate"] = "Bearer"
            return response
        try:
            payloads = json_format.Parse(await request.read(), Payloads())
        except json_format.ParseError:
            return refused(request, 400, 'the body must be {"payloads": [...]} in protobuf JSON')
        try:
            result = Payloads(payloads=await transform(payloads.payloads))
        except PayloadDecryptionError as error:  # names the key id, never a key
            log.warning("payload refused", path=request.path, reason=str(error))
            return refused(request, 400, str(error))
        response = web.Response(
            text=json_format.MessageToJson(result, indent=None), content_type="application/json"
        )
        return cors(request, response)

    async def encode(request: web.Request) -> web.StreamResponse:
        return await apply(codec.encode, request)

    async def decode(request: web.Request) -> web.StreamResponse:
        return await apply(codec.decode, request)

    app = web.Application(client_max_size=MAX_BODY_BYTES)
    for prefix in ("", "/{namespace}"):
        app.router.add_post(f"{prefix}/encode", encode)
        app.router.add_post(f"{prefix}/decode", decode)
        app.router.add_route("OPTIONS", f"{prefix}/encode", preflight)
        app.router.add_route("OPTIONS", f"{prefix}/decode", preflight)
    return app


async def serve(host: str, port: int, app: web.Application, key_ids: list[str]) -> None:
    """Listen until cancelled; print the bound address first (port 0 picks a free one)."""
    listening = socket.create_server((host, port))
    bound = listening.getsockname()[1]
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.SockSite(runner, listening).start()
    print(f"codec server listening on http://{host}:{bound}", flush=True)
    log.info("codec server started", host=host, port=bound, key_ids=key_ids)
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()


def main(argv: list[str] | None = None) -> int:
    """Entry point: `python codec_server.py`."""
    parser = argparse.ArgumentParser(prog="codec_server.py", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1", help="default: 127.0.0.1")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"default: {DEFAULT_PORT}")
    parser.add_argument(
        "--ui-origin",
        action="append",
        metavar="URL",
        help="a Web UI origin allowed by CORS (repeatable; default: the dev server's UI)",
    )
    args = parser.parse_args(argv)
    configure_logging()
    try:
        settings = load_settings()
        keys = payload_keys(settings.delivery.secrets_file, settings.environment)
    except SecretError as error:
        print(f"configuration: {error}", file=sys.stderr)
        return 2
    if not keys:
        print(
            "configuration: no payload key (PACTE_PAYLOAD_KEYS or [payload_keys] in the secrets "
            "file): payloads are not encrypted, there is nothing to decode",
            file=sys.stderr,
        )
        return 2
    codec = EncryptionCodec(keys)
    app = build_app(
        codec,
        token=settings.environment.codec_token,
        ui_origins=frozenset(args.ui_origin or DEFAULT_UI_ORIGINS),
    )
    try:
        asyncio.run(serve(args.host, args.port, app, codec.key_ids))
    except KeyboardInterrupt:
        pass
    except OSError as error:
        print(f"cannot listen on {args.host}:{args.port}: {error.strerror}", file=sys.stderr)
        return 3
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
