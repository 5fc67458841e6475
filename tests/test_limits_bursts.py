"""The failure limiter under bursts (issue 28, item 2): 200 parallel wrong passwords, TOTP
codes and partner codes get at most the budget evaluated (counted from the database), a valid
credential is never refused for other clients' failures on a shared address, and the window
slides (a failure 14 minutes ago still counts, one 16 minutes ago does not).

Real PostgreSQL and SMTP test server; the use cases are called directly (no HTTP), in parallel.
"""

from __future__ import annotations

import asyncio
import secrets
import time
import uuid
from collections.abc import Awaitable, Sequence
from datetime import UTC, datetime, timedelta

import asyncpg
import pyotp
import pytest
from temporalio.testing import WorkflowEnvironment

from application import limits
from application.errors import InvalidInput, TooManyAttempts, Unauthenticated
from application.office.accounts import create_user
from application.office.signin import PASSWORD_FAILURES_PER_ACCOUNT, SignIn
from application.partner.codes import CODES_PER_TASK, confirm_code, send_code
from application.partner.keys import authenticate_key, create_key
from application.partner.links import start_session
from infra.portal_settings import PortalSettings, token_hash
from schemas.tasks import AnswerTask, ReviewAnswer, Task, TaskKind
from storage.partner_links import find_link
from tests.conftest import SmtpServer
from tests.partner_stack import make_desk
from tests.test_delivery_webhook import fast_delivery

BURST = 200
PASSWORD = "correct horse battery staple"


def _address() -> str:
    return f"192.0.2.{secrets.randbelow(250) + 1}-{uuid.uuid4().hex[:6]}"


async def _burst(attempts: Sequence[Awaitable[object]]) -> list[object]:
    """All at once; each outcome or the exception it raised."""
    return list(await asyncio.gather(*attempts, return_exceptions=True))


async def _refused_in_log(pool: asyncpg.Pool, email: str, action: str) -> int:
    """Attempts that were evaluated and failed, as the access log holds them."""
    count = await pool.fetchval(
        "SELECT count(*) FROM office_access_log"
        " WHERE email = $1 AND action = $2 AND outcome = 'refused'",
        email,
        action,
    )
    return int(count)


async def test_200_parallel_wrong_passwords_get_at_most_the_budget_evaluated(
    dev_env: WorkflowEnvironment, db_pool: asyncpg.Pool
) -> None:
    signin = SignIn(make_desk(dev_env.client, db_pool))
    email = f"auditor-{uuid.uuid4().hex[:8]}@ofppt.example"
    await create_user(db_pool, email, "Awa Diallo", "auditor", PASSWORD)
    # Each guess from its own address: only the account's budget can hold them.
    outcomes = await _burst([signin.sign_in(email, f"guess {n}", _address()) for n in range(BURST)])
    evaluated = await _refused_in_log(db_pool, email, "sign_in")
    assert {type(o) for o in outcomes} <= {Unauthenticated, TooManyAttempts}, outcomes[:3]
    assert evaluated <= PASSWORD_FAILURES_PER_ACCOUNT, evaluated
    assert sum(isinstance(o, Unauthenticated) for o in outcomes) == evaluated
    assert sum(isinstance(o, TooManyAttempts) for o in outcomes) == BURST - evaluated
    # Even the right password now waits (the growing delay), and says for how long.
    with pytest.raises(TooManyAttempts) as waiting:
        await signin.sign_in(email, PASSWORD, _address())
    assert waiting.value.retry_after is not None and waiting.value.retry_after > 0


async def _enrolled_officer(signin: SignIn, pool: asyncpg.Pool) -> tuple[str, str]:
    """An officer with TOTP set up; returns the e-mail and the TOTP secret."""
    email = f"officer-{uuid.uuid4().hex[:8]}@ofppt.example"
    await create_user(pool, email, "Awa Diallo", "officer", PASSWORD)
    _, enrolling = await signin.sign_in(email, PASSWORD, _address())
    secret, _ = await signin.enrolment(enrolling)
    await signin.confirm_enrolment(enrolling, pyotp.TOTP(secret).now(), _address())
    return email, secret


def _wrong_totp(secret: str) -> str:
    totp, step = pyotp.TOTP(secret), int(time.time()) // 30
    near = {totp.at((step + d) * 30) for d in (-2, -1, 0, 1, 2)}
    return next(c for c in (f"{n:06d}" for n in range(1_000_000)) if c not in near)


async def test_200_parallel_wrong_totp_codes_get_at_most_the_budget_evaluated(
    dev_env: WorkflowEnvironment, db_pool: asyncpg.Pool
) -> None:
    signin = SignIn(make_desk(dev_env.client, db_pool))
    email, secret = await _enrolled_officer(signin, db_pool)
    _, session = await signin.sign_in(email, PASSWORD, _address())
    assert session.step == "second_factor"
    wrong = _wrong_totp(secret)
    outcomes = await _burst(
        [signin.second_factor(session, wrong, _address()) for _ in range(BURST)]
    )
    evaluated = await _refused_in_log(db_pool, email, "second_factor")
    assert evaluated <= PASSWORD_FAILURES_PER_ACCOUNT, evaluated
    assert sum(isinstance(o, InvalidInput) for o in outcomes) == evaluated
    assert sum(isinstance(o, TooManyAttempts) for o in outcomes) == BURST - evaluated


async def _link(pool: asyncpg.Pool, convention_id: str, task_id: str) -> str:
    """A live link for bid's contact; returns its token."""
    token = secrets.token_urlsafe(32)
    await pool.execute(
        "INSERT INTO partner_links (token_hash, notification_id, contact_name, contact_email,"
        " language, party, convention_id, task_id, expires_at)"
        " VALUES ($1, $2, 'Fatima Zahra EL ALAOUI', 'fz.alaoui@isdb.example', 'fr', 'bid',"
        " $3, $4, now() + interval '7 days')",
        token_hash(token),
        uuid.uuid4().hex,
        convention_id,
        task_id,
    )
    return token


async def test_200_parallel_wrong_partner_codes_from_fresh_sessions_get_at_most_the_budget(
    dev_env: WorkflowEnvironment, db_pool: asyncpg.Pool, smtp_server: SmtpServer
) -> None:
    delivery = fast_delivery(smtp_host=smtp_server.host, smtp_port=smtp_server.port)
    desk = make_desk(dev_env.client, db_pool, delivery)
    convention_id, now = f"limits-{uuid.uuid4().hex[:8]}", datetime.now(UTC)
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
    link = await find_link(db_pool, token_hash(await _link(db_pool, convention_id, task.id)))
    assert link is not None

    async def guess(n: int) -> object:
        # Each guess from a fresh session of the same link and its own address: neither a
        # session nor an address may be the budget, or new ones would bring new codes.
        _, session = await start_session(desk, link)
        pending = await send_code(desk, session, task, request)
        return await confirm_code(desk, session, pending.id, "000000", f"198.51.100.{n}")

    outcomes = await _burst([guess(n) for n in range(BURST)])
    tries = await db_pool.fetchval(
        "SELECT coalesce(sum(tries), 0) FROM partner_codes WHERE convention_id = $1",
        convention_id,
    )
    budget = CODES_PER_TASK * PortalSettings().code_tries
    assert tries <= budget, tries
    assert sum(isinstance(o, TooManyAttempts) for o in outcomes) >= BURST - budget


async def test_a_valid_key_passes_after_other_clients_failures_from_the_same_address(
    dev_env: WorkflowEnvironment, db_pool: asyncpg.Pool
) -> None:
    desk = make_desk(dev_env.client, db_pool)
    secret, record = await create_key(db_pool, "bid", "IsDB limits test")
    office = _address()  # one NAT in front of a whole office
    outcomes = await _burst(
        [
            authenticate_key(desk, f"Bearer pk_{secrets.token_hex(6)}_bogus", office)
            for _ in range(limits.FAILURES_PER_ADDRESS + 5)
        ]
    )
    assert any(isinstance(o, TooManyAttempts) for o in outcomes)  # the address is full
    principal = await authenticate_key(desk, f"Bearer {secret}", office)
    assert principal.id == record.id and principal.party == "bid"
    # Unknown keys from the full address are still refused as too many.
    with pytest.raises(TooManyAttempts):
        await authenticate_key(desk, f"Bearer pk_{secrets.token_hex(6)}_bogus", office)


async def test_a_right_totp_code_passes_after_wrong_codes_from_the_same_address(
    dev_env: WorkflowEnvironment, db_pool: asyncpg.Pool
) -> None:
    signin = SignIn(make_desk(dev_env.client, db_pool))
    office = _address()
    # Colleagues behind the same address fill its bucket with wrong codes on their accounts.
    for _ in range(limits.FAILURES_PER_ADDRESS // PASSWORD_FAILURES_PER_ACCOUNT + 1):
        email, secret = await _enrolled_officer(signin, db_pool)
        _, session = await signin.sign_in(email, PASSWORD, office)
        for _ in range(PASSWORD_FAILURES_PER_ACCOUNT):
            with pytest.raises((InvalidInput, TooManyAttempts)):
                await signin.second_factor(session, _wrong_totp(secret), office)
    email, secret = await _enrolled_officer(signin, db_pool)
    _, session = await signin.sign_in(email, PASSWORD, office)
    # The enrolment claimed the current time-step: the next one's code is still accepted.
    code = pyotp.TOTP(secret).at(int(time.time()) + 30)
    assert await signin.second_factor(session, code, office)


async def _fill(pool: asyncpg.Pool, bucket: str, count: int, at: datetime) -> None:
    await pool.execute(
        "INSERT INTO failure_buckets (bucket, attempts, last_at)"
        " VALUES ($1, array_fill($2::timestamptz, ARRAY[$3::int]), $2)",
        bucket,
        at,
        count,
    )


async def test_the_window_slides_14_minutes_still_count_16_do_not(db_pool: asyncpg.Pool) -> None:
    now = datetime.now(UTC)
    recent, old = f"address:test-{uuid.uuid4().hex}", f"address:test-{uuid.uuid4().hex}"
    await _fill(db_pool, recent, 5, now - timedelta(minutes=14))
    await _fill(db_pool, old, 5, now - timedelta(minutes=16))
    with pytest.raises(TooManyAttempts) as refused:
        await limits.reserve(db_pool, {recent: 5}, now)
    # Refused until the oldest failure leaves the window: about a minute, not a clock slot.
    assert refused.value.retry_after is not None and 50 <= refused.value.retry_after <= 61
    assert await limits.reserve(db_pool, {old: 5}, now)
    # Ten failures spread across a 15-minute clock boundary are one window, not two.
    spread = f"account:test-{uuid.uuid4().hex}"
    for minutes in range(10):
        moment = now + timedelta(minutes=minutes)
        if minutes < 5:
            await limits.count_failure(db_pool, {spread: 5}, moment)
        else:
            with pytest.raises(TooManyAttempts):
                await limits.count_failure(db_pool, {spread: 5}, moment)


async def test_an_accounts_lockout_is_a_growing_delay_not_a_door_held_shut(
    dev_env: WorkflowEnvironment, db_pool: asyncpg.Pool
) -> None:
    signin = SignIn(make_desk(dev_env.client, db_pool))
    email = f"auditor-{uuid.uuid4().hex[:8]}@ofppt.example"
    await create_user(db_pool, email, "Awa Diallo", "auditor", PASSWORD)
    account = f"office-account:{token_hash(email).hex()[:32]}"
    now = datetime.now(UTC)
    # Five wrong passwords 40 seconds ago (an attacker elsewhere): past the first delay, the
    # holder's right password signs in, well within the 15-minute window.
    await _fill(db_pool, account, PASSWORD_FAILURES_PER_ACCOUNT, now - timedelta(seconds=40))
    _, session = await signin.sign_in(email, PASSWORD, _address())
    assert session.step == "enrol"  # the password passed (the second factor follows)
    # Each failure past the budget doubles the wait: with two more, 30 s × 2² = 2 minutes.
    await db_pool.execute(
        "UPDATE failure_buckets SET attempts = attempts || array_fill($2::timestamptz, ARRAY[2])"
        " WHERE bucket = $1",
        account,
        now - timedelta(seconds=40),
    )
    with pytest.raises(TooManyAttempts) as waiting:
        await signin.sign_in(email, PASSWORD, _address())
    assert waiting.value.retry_after is not None and 70 <= waiting.value.retry_after <= 81
    # The wait is capped: the holder always gets a try within limits.GROWING_DELAY_CAP.
    await db_pool.execute(
        "UPDATE failure_buckets SET attempts = array_fill($2::timestamptz, ARRAY[40])"
        " WHERE bucket = $1",
        account,
        now - limits.GROWING_DELAY_CAP - timedelta(seconds=5),
    )
    _, session = await signin.sign_in(email, PASSWORD, _address())
    assert session.step == "enrol"  # the password passed (the second factor follows)


async def test_a_colleagues_right_password_passes_after_wrong_ones_fill_the_office_address(
    dev_env: WorkflowEnvironment, db_pool: asyncpg.Pool
) -> None:
    signin = SignIn(make_desk(dev_env.client, db_pool))
    office = _address()  # one NAT in front of a whole office
    colleague = f"officer-{uuid.uuid4().hex[:8]}@ofppt.example"
    await create_user(db_pool, colleague, "Awa Diallo", "auditor", PASSWORD)
    # Twenty-five wrong passwords from the office's address, on e-mails without an account
    # and on a real account of someone else's: the address is full.
    victim = f"auditor-{uuid.uuid4().hex[:8]}@ofppt.example"
    await create_user(db_pool, victim, "Karim Benali", "auditor", PASSWORD)
    guesses = [
        signin.sign_in(f"nobody-{n}-{uuid.uuid4().hex[:6]}@ofppt.example", "guess", office)
        for n in range(limits.FAILURES_PER_ADDRESS)
    ]
    guesses += [signin.sign_in(victim, f"guess {n}", office) for n in range(5)]
    outcomes = await _burst(guesses)
    assert {type(o) for o in outcomes} <= {Unauthenticated, TooManyAttempts}
    assert any(isinstance(o, TooManyAttempts) for o in outcomes)
    # Unknown accounts are bounded per address: at most its budget of them were evaluated.
    refused = await db_pool.fetchval(
        "SELECT count(*) FROM office_access_log WHERE address = $1 AND outcome = 'refused'"
        " AND email LIKE 'nobody-%'",
        office,
    )
    assert refused <= limits.FAILURES_PER_ADDRESS
    with pytest.raises(TooManyAttempts):
        await signin.sign_in(f"nobody-{uuid.uuid4().hex[:6]}@ofppt.example", "guess", office)
    # The colleague's right password is not refused for what others did from the address.
    _, session = await signin.sign_in(colleague, PASSWORD, office)
    assert session.step == "enrol"  # the password passed (the second factor follows)
    # A wrong one from the full address is answered as too many, like an unknown account's.
    with pytest.raises(TooManyAttempts):
        await signin.sign_in(colleague, "mistyped", office)


async def test_ten_wrong_passwords_in_28_seconds_get_five_evaluated(
    dev_env: WorkflowEnvironment, db_pool: asyncpg.Pool
) -> None:
    # The slot-boundary case: five failures 28 seconds ago (before a quarter-hour, say) and
    # five now are one sliding window, so the second five wait the account's delay.
    signin = SignIn(make_desk(dev_env.client, db_pool))
    email = f"auditor-{uuid.uuid4().hex[:8]}@ofppt.example"
    await create_user(db_pool, email, "Awa Diallo", "auditor", PASSWORD)
    account = f"office-account:{token_hash(email).hex()[:32]}"
    await _fill(
        db_pool, account, PASSWORD_FAILURES_PER_ACCOUNT, datetime.now(UTC) - timedelta(seconds=28)
    )
    for n in range(PASSWORD_FAILURES_PER_ACCOUNT):
        with pytest.raises(TooManyAttempts):
            await signin.sign_in(email, f"guess {n}", _address())
    assert await _refused_in_log(db_pool, email, "sign_in") == 0
