"""RFC 3161 timestamps: asking the configured authority for a token over a digest, checking a
token offline, and the local authority the embedded stack and the tests run on 127.0.0.1.

A token is the authority's signed statement that a digest existed at its `gen_time`. Checking
one needs nothing but the token, the digest and the authority's trust root: years later,
without Pacte, `openssl ts -verify` does the same.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import sys
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from aiohttp import web

from documents.sealing import load_trust_roots

TSA_TIMEOUT_SECONDS = 30
TIMESTAMP_QUERY = "application/timestamp-query"
TIMESTAMP_REPLY = "application/timestamp-reply"


class TimestampFailed(RuntimeError):
    """The authority did not give a token; the message says why."""


@dataclass(frozen=True)
class TokenCheck:
    """A token checked against a digest: `problems` empty means it holds."""

    problems: list[str]
    gen_time: datetime | None

    @property
    def ok(self) -> bool:
        """The token covers the digest, its signature verifies, its signer is trusted."""
        return not self.problems


async def request_token(tsa_url: str, digest: bytes) -> bytes:
    """A timestamp token (DER CMS ContentInfo) over a SHA-256 digest, from the authority."""
    from pyhanko.sign.timestamps import HTTPTimeStamper, TimestampRequestError

    try:
        token = await HTTPTimeStamper(tsa_url, timeout=TSA_TIMEOUT_SECONDS).async_timestamp(
            digest, "sha256"
        )
    except (OSError, TimestampRequestError) as error:
        raise TimestampFailed(f"the timestamp authority {tsa_url}: {error}") from None
    der: bytes = token.dump()
    return der


async def check_token(token: bytes, digest: bytes, trust_roots: list[Path]) -> TokenCheck:
    """Whether the token is over this SHA-256 digest, signed by an authority under the roots."""
    from asn1crypto import cms
    from asn1crypto import x509 as asn1_x509
    from cryptography.hazmat.primitives.serialization import Encoding
    from pyhanko.sign.validation.generic_cms import validate_tst_signed_data
    from pyhanko_certvalidator import ValidationContext

    roots = [
        asn1_x509.Certificate.load(root.public_bytes(Encoding.DER))
        for root in load_trust_roots(trust_roots)
    ]
    try:
        content = cms.ContentInfo.load(token)
        signed_data = content["content"]
        tst_info = signed_data["encap_content_info"]["content"].parsed
        gen_time: datetime = tst_info["gen_time"].native
    except Exception as error:  # asn1crypto parses lazily and fails in many ways
        return TokenCheck([f"the token cannot be read: {type(error).__name__}"], None)
    imprint_algorithm = tst_info["message_imprint"]["hash_algorithm"]["algorithm"].native
    if imprint_algorithm != "sha256":
        return TokenCheck([f"the token's imprint is {imprint_algorithm}, not sha256"], gen_time)
    try:
        status = await validate_tst_signed_data(
            signed_data,
            ValidationContext(trust_roots=roots, allow_fetching=False),
            lambda _algorithm: digest,
        )
    except Exception as error:  # pyHanko raises its own kinds on a malformed token
        return TokenCheck([f"the token does not validate: {error}"], gen_time)
    problems = []
    if not status["intact"]:
        problems.append("the token is over another digest, or its content was altered")
    if not status["valid"]:
        problems.append("the token's signature does not verify")
    if status["trust_problem_indic"] is not None:
        problems.append(
            "the timestamp authority does not chain to a given trust root "
            f"({status['trust_problem_indic']})"
        )
    return TokenCheck(problems, gen_time)


def sha256_digest(data: bytes) -> bytes:
    """The SHA-256 digest a token is asked over."""
    return hashlib.sha256(data).digest()


class LocalTimestampAuthority:
    """An RFC 3161 authority over HTTP on 127.0.0.1, signing with pyHanko's DummyTimeStamper
    under a development certificate: for the embedded stack and the tests only."""

    def __init__(self, certificate: Path, key: Path) -> None:
        from asn1crypto import keys as asn1_keys
        from asn1crypto import x509 as asn1_x509
        from cryptography import x509
        from cryptography.hazmat.primitives import serialization
        from pyhanko.sign.timestamps.dummy_client import DummyTimeStamper

        # The token carries the authority's certificate; its root is the validator's to give.
        tsa_certificate = x509.load_pem_x509_certificate(certificate.read_bytes())
        tsa_key = serialization.load_pem_private_key(key.read_bytes(), password=None)
        self._stamper = DummyTimeStamper(
            tsa_cert=asn1_x509.Certificate.load(
                tsa_certificate.public_bytes(serialization.Encoding.DER)
            ),
            tsa_key=asn1_keys.PrivateKeyInfo.load(
                tsa_key.private_bytes(
                    serialization.Encoding.DER,
                    serialization.PrivateFormat.PKCS8,
                    serialization.NoEncryption(),
                )
            ),
        )
        self._runner: web.AppRunner | None = None
        self.url = ""
        self.requests = 0

    async def _answer(self, request: web.Request) -> web.Response:
        from asn1crypto import tsp

        if request.content_type != TIMESTAMP_QUERY:
            return web.Response(status=415, text=f"expected {TIMESTAMP_QUERY}")
        body = await request.read()
        try:
            query = tsp.TimeStampReq.load(body)
            query.native  # noqa: B018 - parses the whole request now, not lazily later
        except Exception:  # asn1crypto fails in many ways on bytes that are not DER
            return web.Response(status=400, text="not an RFC 3161 TimeStampReq")
        self.requests += 1
        reply = await self._stamper.async_request_tsa_response(query)
        return web.Response(body=reply.dump(), content_type=TIMESTAMP_REPLY)

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Listen; the URL to give clients."""
        app = web.Application(client_max_size=64 * 1024)
        app.router.add_post("/", self._answer)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        bound = self._runner.addresses[0][1]
        self.url = f"http://{host}:{bound}/"
        return self.url

    async def stop(self) -> None:
        """Stop listening."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None


async def _serve(port: int) -> None:
    from documents.certificates import development_pki
    from infra.settings import load_settings

    pki = development_pki(load_settings().state_dir)
    authority = LocalTimestampAuthority(pki.tsa_certificate, pki.tsa_key)
    url = await authority.start(port=port)
    print(f"PACTE_TSA_URL={url}  (trust root: {pki.ca_certificate})", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await authority.stop()


def main(argv: list[str] | None = None) -> int:
    """`python -m documents.timestamps [--port P]`: the local authority of the embedded stack,
    under the development PKI of the state directory, until interrupted."""
    parser = argparse.ArgumentParser(
        prog="python -m documents.timestamps", description=(main.__doc__ or "").split("\n")[0]
    )
    parser.add_argument("--port", type=int, default=8318, help="port on 127.0.0.1 (8318)")
    args = parser.parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(args.port))
    return 0


if __name__ == "__main__":
    sys.exit(main())
