"""The office's storage modules against the real PostgreSQL: accounts, sessions, the
access log, the portfolio's queries and the backfill's work list."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from storage import access_log, convention_files, office_accounts, office_sessions, portfolio


def _email() -> str:
    return f"storage-{uuid.uuid4().hex[:8]}@ofppt.example"


async def test_an_account_is_stored_once_and_disabling_it_ends_its_sessions(
    db_pool: asyncpg.Pool,
) -> None:
    email = _email()
    stored = await office_accounts.insert_account(db_pool, email, "Awa", "officer", "$argon2id$x")
    assert (stored.email, stored.role, stored.totp_enrolled_at) == (email, "officer", None)
    with pytest.raises(office_accounts.AccountExists):
        await office_accounts.insert_account(db_pool, email, "Awa", "officer", "$argon2id$y")
    assert await office_accounts.account(db_pool, email) == stored
    assert stored in await office_accounts.all_accounts(db_pool)
    assert await office_accounts.account(db_pool, _email()) is None

    now = datetime.now(UTC)
    await office_sessions.open_session(
        db_pool, b"s1" + uuid.uuid4().bytes, email, "signed_in", now, now + timedelta(hours=1)
    )
    disabled = await office_accounts.disable_account(db_pool, email)
    assert disabled is not None and disabled.disabled_at is not None
    again = await office_accounts.disable_account(db_pool, email)
    assert again is not None and again.disabled_at == disabled.disabled_at  # the first date
    live = await db_pool.fetchval(
        "SELECT count(*) FROM office_sessions WHERE email = $1 AND ended_at IS NULL", email
    )
    assert live == 0
    assert await office_accounts.disable_account(db_pool, _email()) is None


async def test_a_session_lives_until_idle_expired_or_ended_and_is_promoted_under_a_new_id(
    db_pool: asyncpg.Pool,
) -> None:
    email = _email()
    await office_accounts.insert_account(db_pool, email, "Awa", "officer", "$argon2id$x")
    now = datetime.now(UTC)
    first, second = uuid.uuid4().bytes, uuid.uuid4().bytes
    await office_sessions.open_session(
        db_pool, first, email, "second_factor", now, now + timedelta(hours=8)
    )
    seen = await office_sessions.touch_session(db_pool, first, now, now - timedelta(minutes=30))
    assert seen is not None and (seen.step, seen.language, seen.account.email) == (
        "second_factor",
        "fr",
        email,
    )
    # Idle: last seen before the idle bound.
    later = now + timedelta(hours=1)
    assert await office_sessions.touch_session(db_pool, first, later, now + timedelta(1)) is None
    # Past its lifetime.
    assert (
        await office_sessions.touch_session(db_pool, first, now + timedelta(hours=9), now) is None
    )
    await office_sessions.promote_session(db_pool, first, second)
    assert await office_sessions.touch_session(db_pool, first, now, now - timedelta(1)) is None
    promoted = await office_sessions.touch_session(db_pool, second, now, now - timedelta(1))
    assert promoted is not None and promoted.step == "signed_in"
    await office_sessions.set_language(db_pool, second, "ar")
    promoted = await office_sessions.touch_session(db_pool, second, now, now - timedelta(1))
    assert promoted is not None and promoted.language == "ar"
    await office_sessions.end_session(db_pool, second)
    assert await office_sessions.touch_session(db_pool, second, now, now - timedelta(1)) is None


async def test_a_totp_step_and_a_recovery_code_are_each_claimed_once_even_when_raced(
    db_pool: asyncpg.Pool,
) -> None:
    email = _email()
    await office_accounts.insert_account(db_pool, email, "Awa", "officer", "$argon2id$x")
    claims = await asyncio.gather(
        *(office_accounts.claim_totp_step(db_pool, email, 1000) for _ in range(10))
    )
    assert claims.count(True) == 1
    assert not await office_accounts.claim_totp_step(db_pool, email, 999)  # an older step
    assert await office_accounts.claim_totp_step(db_pool, email, 1001)

    async with db_pool.acquire() as connection, connection.transaction():
        await office_accounts.mark_enrolled(connection, email, [b"a" * 32, b"b" * 32])
    account = await office_accounts.account(db_pool, email)
    assert account is not None and account.totp_enrolled_at is not None
    used = await asyncio.gather(
        *(office_accounts.use_recovery_code(db_pool, email, b"a" * 32) for _ in range(10))
    )
    assert used.count(True) == 1
    assert not await office_accounts.use_recovery_code(db_pool, email, b"c" * 32)

    # The first sealed secret stays until enrolment; none is kept once enrolled.
    assert await office_accounts.keep_first_sealed_secret(db_pool, email, b"sealed") is None
    forgotten = await office_accounts.forget_second_factor(db_pool, email)
    assert forgotten is not None and forgotten.totp_enrolled_at is None
    assert await office_accounts.use_recovery_code(db_pool, email, b"b" * 32) is False
    assert await office_accounts.keep_first_sealed_secret(db_pool, email, b"one") == b"one"
    assert await office_accounts.keep_first_sealed_secret(db_pool, email, b"two") == b"one"
    assert await office_accounts.totp_columns(db_pool, email) == office_accounts.TotpColumns(
        b"one", None
    )


async def test_a_legacy_clear_secret_is_replaced_once(db_pool: asyncpg.Pool) -> None:
    email = _email()
    await office_accounts.insert_account(db_pool, email, "Awa", "officer", "$argon2id$x")
    await db_pool.execute(
        "UPDATE office_users SET totp_secret_legacy = 'JBSWY3DPEHPK3PXP' WHERE email = $1", email
    )
    assert (email, "JBSWY3DPEHPK3PXP") in await office_accounts.legacy_secrets(db_pool)
    await office_accounts.replace_legacy_secret(db_pool, email, "JBSWY3DPEHPK3PXP", b"sealed")
    await office_accounts.replace_legacy_secret(db_pool, email, "JBSWY3DPEHPK3PXP", b"other")
    assert await office_accounts.totp_columns(db_pool, email) == office_accounts.TotpColumns(
        b"sealed", None
    )
    assert all(e != email for e, _ in await office_accounts.legacy_secrets(db_pool))


async def test_the_access_log_keeps_its_lines_newest_first(db_pool: asyncpg.Pool) -> None:
    email = _email()
    await access_log.append(db_pool, email, "sign_in", "refused", "10.0.0.1")
    await access_log.append(db_pool, email, "postpone", "ok", "10.0.0.1", "c-1/t-1")
    lines = [line for line in await access_log.latest(db_pool, 1000) if line["email"] == email]
    assert [(x["action"], x["outcome"], x["target"]) for x in lines] == [
        ("postpone", "ok", "c-1/t-1"),
        ("sign_in", "refused", None),
    ]
    assert len(await access_log.latest(db_pool, 1)) == 1


async def test_the_portfolio_queries_count_every_row_and_the_backfill_lists_files_missing(
    db_pool: asyncpg.Pool,
) -> None:
    convention_id = f"storage-{uuid.uuid4().hex[:8]}"
    await db_pool.execute(
        "INSERT INTO conventions (id, title, stage, kind, targets, actuals, updated_at)"
        " VALUES ($1, 'T', 'funding', 'project', '{\"a\": 1, \"b\": 2, \"c\": 3}', '{}', now())",
        convention_id,
    )
    every = await portfolio.table_rows(db_pool, "indicators")
    first, total = await portfolio.first_rows(db_pool, "indicators", 2)
    assert total == len(every) >= 3
    assert first == every[:2]
    assert "pacte_total_rows" not in first[0]
    assert convention_id in await convention_files.without_file(db_pool, 10_000)
    await db_pool.execute(
        "INSERT INTO convention_files (convention_id, document) VALUES ($1, '{}')", convention_id
    )
    assert convention_id not in await convention_files.without_file(db_pool, 10_000)
    for table in portfolio.PORTFOLIO_TABLES:
        rows, count = await portfolio.first_rows(db_pool, table, 5)
        assert len(rows) == min(count, 5)
    # Leave the shared read model as it was for the tests that read the whole portfolio.
    await db_pool.execute("DELETE FROM convention_files WHERE convention_id = $1", convention_id)
    await db_pool.execute("DELETE FROM conventions WHERE id = $1", convention_id)
