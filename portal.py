"""Run the partner desk: contacts' pages and partners' API (FastAPI on uvicorn).

    python portal.py [--host H] [--port P]

It keeps no state of its own (sessions, links, codes, keys live in PostgreSQL), so any
number of replicas can serve behind one address. Settings: PACTE_PUBLIC_URL,
PACTE_PORTAL_HOST, PACTE_PORTAL_PORT, PACTE_LINK_SECRET, and the worker's own (Temporal,
DATABASE_URL, PACTE_SMTP_* for the codes).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Awaitable, Callable

import asyncpg
import structlog
import uvicorn

from application.anchoring import anchor_due
from application.office.portfolio import fold_aggregates
from application.office.totp import seal_legacy_totp_secrets, totp_key
from application.partner import PURGE_EVERY_SECONDS, PartnerDesk, purge_expired
from application.sealing import seal_pending
from documents.settings import load_document_settings
from infra.database import apply_migrations, create_pool
from infra.embedded import embedded_postgres_url
from infra.log_config import configure_logging
from infra.portal_settings import PortalSettings, link_secret, load_portal_settings
from infra.secrets import SecretError
from infra.settings import SettingsError, load_delivery_settings, load_settings
from infra.temporal_client import TemporalUnavailable, connect
from storage.sweep_lock import sweep_alone
from web.app import create_app
from web.i18n import code_mail

log = structlog.get_logger("pacte.portal")


async def build_desk() -> tuple[PartnerDesk, Callable[[], Awaitable[None]]]:
    """The desk over the environment's Temporal and PostgreSQL; migrations applied."""
    settings = load_settings()
    delivery = load_delivery_settings()
    portal = load_portal_settings()
    secret = link_secret(delivery.secrets_file, settings.state_dir)  # a bad one: before all
    database_url = settings.database_url or embedded_postgres_url(settings.state_dir)
    pool = await create_pool(database_url)
    await apply_migrations(pool)
    sealed = await seal_legacy_totp_secrets(pool, totp_key(secret))  # migration 007
    if sealed:
        log.info("office: TOTP secrets from before migration 007 sealed", accounts=sealed)
    client = await connect(settings)
    purging = asyncio.create_task(_purge_forever(pool))
    desk = PartnerDesk(
        pool=pool,
        client=client,
        settings=portal,
        delivery=delivery,
        secret=secret,
        code_mail=code_mail,
    )

    # With a timestamp authority configured, conventions that entered into force are sealed
    # without waiting for an officer (application/sealing.py; a refusal is the office's task
    # until it is sealed), and the chains' heads are anchored (application/anchoring.py).
    tsa_url = load_document_settings().tsa_url
    sealing = asyncio.create_task(_seal_forever(desk, tsa_url)) if tsa_url else None

    async def close() -> None:
        purging.cancel()
        if sealing is not None:
            sealing.cancel()
        await pool.close()

    return desk, close


SEAL_EVERY_SECONDS = 600


async def _purge_forever(pool: asyncpg.Pool) -> None:
    """Expired links, sessions, codes, counters, old idempotency keys: gone every hour (every
    replica does it; the DELETEs are idempotent)."""
    while True:
        try:
            purged = await purge_expired(pool)
            if any(purged.values()):
                log.info("expired rows purged", **purged)
        except (OSError, asyncpg.PostgresError) as error:
            log.warning("purge skipped", error=str(error))
        await asyncio.sleep(PURGE_EVERY_SECONDS)


async def _seal_forever(desk: PartnerDesk, tsa_url: str) -> None:
    """Every SEAL_EVERY_SECONDS: the signed originals of conventions newly in force, then the
    chains' heads that are due for a timestamp (ended conventions, and once a day)."""
    while True:
        await sweep_once(desk, tsa_url)
        await asyncio.sleep(SEAL_EVERY_SECONDS)


async def sweep_once(desk: PartnerDesk, tsa_url: str) -> bool:
    """One round of the sweep, on one replica at a time (storage/sweep_lock.py): seal, then
    anchor, then fold the portfolio's deltas; a failure of one never stops the others. False
    when another replica's sweep was running (this one skipped its round: sealing twice would
    mail the signatories twice)."""
    try:
        async with sweep_alone(desk.pool) as alone:
            if not alone:
                log.info("sweep skipped: another replica is sweeping")
                return False
            await _sweep(desk, tsa_url)
    except (OSError, asyncpg.PostgresError) as error:
        log.warning("sweep skipped", error=str(error))
        return False
    return True


async def _sweep(desk: PartnerDesk, tsa_url: str) -> None:
    try:
        for convention_id, result in (await seal_pending(desk)).items():
            if result.startswith("refused: "):
                log.warning(
                    "signed original not sealed",
                    convention_id=convention_id,
                    reason=result.removeprefix("refused: "),
                )
            else:
                log.info("signed original sealed", convention_id=convention_id, sha256=result)
    except (OSError, asyncpg.PostgresError) as error:
        log.warning("sealing sweep skipped", error=str(error))
    try:
        anchoring = await anchor_due(desk, tsa_url)
        for convention_id, seq in anchoring.anchored.items():
            log.info("chain head anchored", convention_id=convention_id, seq=seq)
        for convention_id, reason in anchoring.failed.items():
            log.warning("chain head not anchored", convention_id=convention_id, reason=reason)
    except (OSError, asyncpg.PostgresError) as error:
        log.warning("anchoring sweep skipped", error=str(error))
    try:
        # The portfolio's deltas (migration 035) folded into its counters even when no one
        # opens the office's home page for weeks: the deltas the read model's writes leave
        # stay a few minutes' worth.
        folded = await fold_aggregates(desk.pool)
        if folded:
            log.info("portfolio deltas folded", counter_rows=folded)
    except (OSError, asyncpg.PostgresError) as error:
        log.warning("portfolio fold skipped", error=str(error))


def serve(portal: PortalSettings, host: str, port: int) -> None:
    """Serve until SIGINT/SIGTERM (uvicorn's own handling); no access log of uvicorn's: it
    would print link tokens, the portal logs requests itself with the tokens removed."""
    app = create_app(factory=build_desk, max_body_bytes=portal.max_body_bytes)
    log.info("portal listening", host=host, port=port, public_url=portal.public_url)
    # No proxy headers of uvicorn's: it would believe X-Forwarded-For from any loopback peer
    # (FORWARDED_ALLOW_IPS). The portal reads it itself, from PACTE_TRUSTED_PROXIES only.
    uvicorn.run(app, host=host, port=port, access_log=False, log_config=None, proxy_headers=False)


async def preflight() -> None:
    """Reach Temporal and PostgreSQL once before serving: an unreachable one is one line."""
    _desk, close = await build_desk()
    await close()


def main(argv: list[str] | None = None) -> int:
    """Entry point: exit 2 on a setting that cannot be used, 3 when Temporal or PostgreSQL
    does not answer (one line each, never a traceback)."""
    parser = argparse.ArgumentParser(prog="portal.py", description=__doc__.splitlines()[0])
    parser.add_argument("--host", help="listen address (PACTE_PORTAL_HOST, 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port (PACTE_PORTAL_PORT, 8300)")
    args = parser.parse_args(argv)
    configure_logging()
    try:
        portal = load_portal_settings()
        # A missing or published link secret is refused before anything is reached.
        link_secret(load_delivery_settings().secrets_file, load_settings().state_dir)
    except (SettingsError, SecretError) as error:
        print(f"configuration: {error}", file=sys.stderr)
        return 2
    try:
        asyncio.run(preflight())
    except (SettingsError, SecretError) as error:
        print(f"configuration: {error}", file=sys.stderr)
        return 2
    except (TemporalUnavailable, OSError, asyncpg.PostgresError) as error:
        print(f"unavailable: {error}", file=sys.stderr)
        return 3
    serve(portal, args.host or portal.host, args.port or portal.port)
    return 0


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    os._exit(code)
