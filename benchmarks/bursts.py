"""Bursts against the limits and the desks (issue 28, "Figures").

Real servers: the harness's Temporal dev server and embedded PostgreSQL, an SMTP catcher on
the loopback, and (part 2) the portal as it is deployed, `portal.py` on uvicorn in its own
process. No worker is needed: nothing here starts a convention.

1. Evaluated under a burst. `--burst` (200) attempts at once, each from its own address (so
   only the credential's own budget can hold them), through the use cases the routes call:
   wrong passwords for one account, wrong TOTP codes for one officer's sign-in, wrong partner
   codes from fresh sessions of one link. Counted from PostgreSQL: the refusals the access
   log holds (passwords, TOTP codes: each evaluated one is logged `refused`), the tries the
   codes' rows hold (partner codes). Target: at most the budget (5 per account; 5 codes of
   5 tries per link and task).
2. A page during a sign-in burst. `--burst` accounts sign in at once over HTTP (the form,
   then the password: argon2id each, on the portal's argon2 threads; the second factor,
   which every role owes, is not part of the burst), all from one address
   (an office behind one NAT); meanwhile a signed-in auditor opens a desk page
   (`/office/account`) one request at a time. Its median time as the client saw it, during
   the burst against idle (`--pages` requests each). Target: at most 2×.

    .venv/bin/python -m benchmarks.bursts [--burst 200] [--pages 40] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import re
import secrets
import sys
import threading
import time
import uuid
from collections.abc import Awaitable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # also as a file

import asyncpg
import httpx
import pyotp

from application.office.accounts import create_user
from application.office.signin import PASSWORD_FAILURES_PER_ACCOUNT, SignIn
from application.partner import PartnerDesk
from application.partner.codes import CODES_PER_TASK, confirm_code, send_code
from application.partner.links import start_session
from benchmarks.report import (
    add_common_arguments,
    finish,
    percentile,
    print_header,
    print_load,
    print_ratio,
    print_table,
)
from devkit.mail_catcher import MailCatcher
from devkit.stack import PortalProcess, Servers, free_port
from infra.database import create_pool
from infra.portal_settings import LINK_SECRET_VARIABLE, PortalSettings, token_hash
from infra.settings import DeliverySettings, SmtpSettings
from schemas.tasks import AnswerTask, ReviewAnswer, Task, TaskKind
from storage.partner_links import find_link

PASSWORD = "correct horse battery staple"
PAGE_TARGET = 2.0
_CSRF = re.compile(r'name="csrf" value="([^"]+)"')
_TIMING = re.compile(r"app;dur=([0-9.]+)")
_SECRET = re.compile(r'<dd class="ref" dir="ltr">([A-Z2-7]{16,})</dd>')


def parse_arguments(argv: list[str] | None = None) -> argparse.Namespace:
    """The burst's size and the page requests per phase; --quick: small ones."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.bursts",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_common_arguments(parser)
    parser.add_argument("--burst", type=int, help="attempts or sign-ins at once (200)")
    parser.add_argument("--pages", type=int, help="page requests, idle and during (40)")
    args = parser.parse_args(argv)
    args.burst = args.burst or (40 if args.quick else 200)
    args.pages = args.pages or (10 if args.quick else 40)
    return args


def _address(n: int) -> str:
    return f"198.18.{n // 250}.{n % 250 + 1}"


async def _burst(attempts: Sequence[Awaitable[object]]) -> tuple[list[object], float]:
    started = time.monotonic()
    outcomes = list(await asyncio.gather(*attempts, return_exceptions=True))
    return outcomes, time.monotonic() - started


async def _refused(pool: asyncpg.Pool, email: str, action: str) -> int:
    count = await pool.fetchval(
        "SELECT count(*) FROM office_access_log"
        " WHERE email = $1 AND action = $2 AND outcome = 'refused'",
        email,
        action,
    )
    return int(count)


def _kinds(outcomes: list[object]) -> str:
    names: dict[str, int] = {}
    for outcome in outcomes:
        name = type(outcome).__name__
        names[name] = names.get(name, 0) + 1
    return ", ".join(f"{name} {count}" for name, count in sorted(names.items()))


# --- 1. evaluated under a burst ---------------------------------------------------------


async def passwords(signin: SignIn, pool: asyncpg.Pool, burst: int) -> list[object]:
    """Wrong passwords for one account, each from its own address."""
    email = f"auditor-{uuid.uuid4().hex[:8]}@ofppt.example"
    await create_user(pool, email, "Awa Diallo", "auditor", PASSWORD)
    outcomes, seconds = await _burst(
        [signin.sign_in(email, f"guess {n}", _address(n)) for n in range(burst)]
    )
    evaluated = await _refused(pool, email, "sign_in")
    return [
        "wrong passwords",
        burst,
        evaluated,
        PASSWORD_FAILURES_PER_ACCOUNT,
        seconds,
        _kinds(outcomes),
    ]


async def totp_codes(signin: SignIn, pool: asyncpg.Pool, burst: int) -> list[object]:
    """Wrong TOTP codes for one officer's sign-in, each from its own address."""
    email = f"officer-{uuid.uuid4().hex[:8]}@ofppt.example"
    await create_user(pool, email, "Awa Diallo", "officer", PASSWORD)
    _, enrolling = await signin.sign_in(email, PASSWORD, _address(0))
    secret, _ = await signin.enrolment(enrolling)
    await signin.confirm_enrolment(enrolling, pyotp.TOTP(secret).now(), _address(0))
    _, session = await signin.sign_in(email, PASSWORD, _address(1))
    totp, step = pyotp.TOTP(secret), int(time.time()) // 30
    near = {totp.at((step + d) * 30) for d in range(-2, 3)}
    wrong = next(c for c in (f"{n:06d}" for n in range(1_000_000)) if c not in near)
    outcomes, seconds = await _burst(
        [signin.second_factor(session, wrong, _address(n)) for n in range(burst)]
    )
    evaluated = await _refused(pool, email, "second_factor")
    return [
        "wrong TOTP codes",
        burst,
        evaluated,
        PASSWORD_FAILURES_PER_ACCOUNT,
        seconds,
        _kinds(outcomes),
    ]


async def partner_codes(desk: PartnerDesk, pool: asyncpg.Pool, burst: int) -> list[object]:
    """Wrong partner codes, each from a fresh session of one link and its own address."""
    convention_id, now = f"bursts-{uuid.uuid4().hex[:8]}", datetime.now(UTC)
    task = Task(
        id="review.r1",
        convention_id=convention_id,
        stage="review",
        kind=TaskKind.REVIEW_DRAFT,
        assignee="bid",
        title="Review the draft",
        assigned_at=now,
        due_at=now + timedelta(days=7),
    )
    request = AnswerTask(
        task_id=task.id, acting_party="bid", answer=ReviewAnswer(decision="approve", version=1)
    )
    token = secrets.token_urlsafe(32)
    await pool.execute(
        "INSERT INTO partner_links (token_hash, notification_id, contact_name, contact_email,"
        " language, party, convention_id, task_id, expires_at)"
        " VALUES ($1, $2, 'Fatima Zahra EL ALAOUI', 'fz.alaoui@isdb.example', 'fr', 'bid',"
        " $3, $4, now() + interval '7 days')",
        token_hash(token),
        uuid.uuid4().hex,
        convention_id,
        task.id,
    )
    link = await find_link(pool, token_hash(token))
    assert link is not None

    async def guess(n: int) -> object:
        _, session = await start_session(desk, link)
        pending = await send_code(desk, session, task, request)
        return await confirm_code(desk, session, pending.id, "000000", _address(n))

    outcomes, seconds = await _burst([guess(n) for n in range(burst)])
    tries = await pool.fetchval(
        "SELECT coalesce(sum(tries), 0) FROM partner_codes WHERE convention_id = $1",
        convention_id,
    )
    budget = CODES_PER_TASK * desk.settings.code_tries
    return ["wrong partner codes", burst, int(tries), budget, seconds, _kinds(outcomes)]


# --- 2. a page during a sign-in burst -----------------------------------------------------


async def password_client(base_url: str, email: str) -> httpx.AsyncClient:
    """A client of the portal past the password of `email` (its second factor owed)."""
    http = httpx.AsyncClient(base_url=base_url, timeout=120)
    form = await http.get("/office/signin")
    match = _CSRF.search(form.text)
    assert match, form.text[:300]
    signed = await http.post(
        "/office/signin", data={"email": email, "password": PASSWORD, "csrf": match.group(1)}
    )
    if signed.status_code != 303:
        await http.aclose()
        raise RuntimeError(f"sign-in of {email}: {signed.status_code}")
    return http


async def signed_in_client(base_url: str, email: str) -> httpx.AsyncClient:
    """A client of the portal signed in as `email`, its TOTP second factor set up."""
    http = await password_client(base_url, email)
    enrolment = await http.get("/office/enrol")
    secret, csrf = _SECRET.search(enrolment.text), _CSRF.search(enrolment.text)
    assert secret and csrf, enrolment.text[:300]
    code = pyotp.TOTP(secret.group(1)).now()
    confirmed = await http.post("/office/enrol", data={"csrf": csrf.group(1), "code": code})
    assert confirmed.status_code == 200, confirmed.status_code
    return http


async def page_times(http: httpx.AsyncClient, count: int) -> tuple[list[float], list[float]]:
    """`count` requests of the desk page, one at a time: client and server milliseconds."""
    client, server = [], []
    for _ in range(count):
        started = time.perf_counter()
        answer = await http.get("/office/account")
        client.append((time.perf_counter() - started) * 1000)
        assert answer.status_code == 200, answer.status_code
        timing = _TIMING.search(answer.headers.get("server-timing", ""))
        server.append(float(timing.group(1)) if timing else float("nan"))
    return client, server


def sign_in_burst(base_url: str, emails: list[str], result: dict[str, object]) -> None:
    """Every account signs in at once (in its own thread and event loop, so the burst's
    clients do not slow the measuring client's loop)."""

    async def run() -> None:
        async def one(email: str) -> object:
            try:
                http = await password_client(base_url, email)
            except Exception as error:  # counted, not raised: the burst goes on
                return error
            await http.aclose()
            return "ok"

        started = time.monotonic()
        outcomes = await asyncio.gather(*(one(email) for email in emails))
        result["seconds"] = time.monotonic() - started
        result["ok"] = sum(outcome == "ok" for outcome in outcomes)
        result["failed"] = [repr(o)[:120] for o in outcomes if o != "ok"][:3]

    asyncio.run(run())


async def page_during_burst(
    servers: Servers, pool: asyncpg.Pool, secret: str, burst: int, pages: int
) -> bool:
    """Part 2; whether the target was met."""
    emails = [f"burst-{n}-{uuid.uuid4().hex[:6]}@ofppt.example" for n in range(burst)]
    reader = f"reader-{uuid.uuid4().hex[:6]}@ofppt.example"
    for chunk in range(0, burst, 20):
        batch = emails[chunk : chunk + 20]
        await asyncio.gather(
            *(create_user(pool, e, "Awa Diallo", "auditor", PASSWORD) for e in batch)
        )
    await create_user(pool, reader, "Salma Idrissi", "auditor", PASSWORD)
    environment = servers.environment("pacte-bursts", **{LINK_SECRET_VARIABLE: secret})
    async with PortalProcess(environment, servers.directory / "portal.log") as portal:
        http = await signed_in_client(portal.base_url, reader)
        try:
            await page_times(http, 5)  # warm-up, untimed
            idle_client, idle_server = await page_times(http, pages)
            result: dict[str, object] = {}
            thread = threading.Thread(
                target=sign_in_burst, args=(portal.base_url, emails, result), daemon=True
            )
            thread.start()
            await asyncio.sleep(0.2)  # the burst's first requests are in
            busy_client: list[float] = []
            busy_server: list[float] = []
            while thread.is_alive() or len(busy_client) < pages:
                client, server = await page_times(http, 1)
                busy_client += client
                busy_server += server
                if not thread.is_alive() and len(busy_client) >= pages:
                    break
            thread.join()
        finally:
            await http.aclose()
    print_load("after the sign-in burst")
    print_table(
        [
            "desk page /office/account",
            "requests",
            "client p50 ms",
            "client p95 ms",
            "server p50 ms",
            "server p95 ms",
        ],
        [
            [
                "idle",
                len(idle_client),
                percentile(idle_client, 0.5),
                percentile(idle_client, 0.95),
                percentile(idle_server, 0.5),
                percentile(idle_server, 0.95),
            ],
            [
                f"during {burst} sign-ins",
                len(busy_client),
                percentile(busy_client, 0.5),
                percentile(busy_client, 0.95),
                percentile(busy_server, 0.5),
                percentile(busy_server, 0.95),
            ],
        ],
    )
    print(
        f"   the burst: {result.get('ok')} of {burst} signed in, in "
        f"{float(str(result.get('seconds', 'nan'))):.1f} s, all from one address"
        + (f"; failures: {result['failed']}" if result.get("failed") else ""),
        flush=True,
    )
    ratio = percentile(busy_client, 0.5) / percentile(idle_client, 0.5)
    return print_ratio(
        "median page time during the burst / idle", ratio, target=PAGE_TARGET, at_least=False
    )


async def _run(args: argparse.Namespace, servers: Servers, secret: str) -> int:
    catcher = MailCatcher(servers.directory / "mail", smtp_port=free_port(), web_port=free_port())
    catcher.start()
    pool = await create_pool(servers.database_url, max_size=20)
    client = await servers.client()
    try:
        delivery = DeliverySettings(
            smtp=SmtpSettings(
                host="127.0.0.1",
                port=catcher.smtp_port,
                sender="pacte@localhost",
                user=None,
                starttls=False,
                tls=False,
            )
        )
        desk = PartnerDesk(
            pool=pool,
            client=client,
            settings=PortalSettings(),
            delivery=delivery,
            secret=base64.b64decode(secret),
        )
        signin = SignIn(desk)
        rows = [
            await passwords(signin, pool, args.burst),
            await totp_codes(signin, pool, args.burst),
            await partner_codes(desk, pool, args.burst),
        ]
        print_table(
            ["burst at once", "attempts", "evaluated", "budget", "seconds", "outcomes"], rows
        )
        held = all(int(str(row[2])) <= int(str(row[3])) for row in rows)
        print(f"   every burst held to its budget: {'yes' if held else 'NO'}", flush=True)
        met = await page_during_burst(servers, pool, secret, args.burst, args.pages)
        return 0 if held and met else 1
    finally:
        await pool.close()
        catcher.stop()


def main(argv: list[str] | None = None) -> int:
    """Parse, start the servers, measure, print."""
    args = parse_arguments(argv)
    print_header("bursts", {"burst": args.burst, "pages": args.pages})
    secret = base64.b64encode(os.urandom(32)).decode()
    os.environ[LINK_SECRET_VARIABLE] = secret
    with Servers(keep=args.keep) as servers:
        return asyncio.run(_run(args, servers, secret))


if __name__ == "__main__":
    finish(main)
