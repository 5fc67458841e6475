"""Two portal replicas sweep at once (issue 25): one seals, the other skips its round, so a
convention newly in force is sealed (and its signatories mailed) once. Two pools on the
test's PostgreSQL are the two replicas; the sealing and anchoring themselves are counted
stand-ins that take a while, so the two sweeps overlap."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import asyncpg
import pytest

import portal
from application.anchoring import AnchoringOutcome
from infra.database import create_pool
from storage.sweep_lock import SWEEP_LOCK_KEY, sweep_alone


@dataclass
class Replica:
    """What sweep_once reads of a desk: its pool."""

    pool: asyncpg.Pool


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    calls = {"seal": 0, "anchor": 0}

    async def seal_pending(desk: Any) -> dict[str, str]:
        calls["seal"] += 1
        await asyncio.sleep(0.3)  # long enough for the other replica's sweep to try
        return {"c-1": "0" * 64}

    async def anchor_due(desk: Any, tsa_url: str) -> AnchoringOutcome:
        calls["anchor"] += 1
        return AnchoringOutcome(anchored={}, failed={})

    monkeypatch.setattr(portal, "seal_pending", seal_pending)
    monkeypatch.setattr(portal, "anchor_due", anchor_due)
    return calls


async def test_two_replicas_sweeping_at_once_seal_once(
    db_pool: asyncpg.Pool, postgres_url: str, counted: dict[str, int]
) -> None:
    other = await create_pool(postgres_url, max_size=2)
    try:
        first, second = Replica(db_pool), Replica(other)
        swept = await asyncio.gather(
            portal.sweep_once(first, "http://tsa.invalid"),  # type: ignore[arg-type]
            portal.sweep_once(second, "http://tsa.invalid"),  # type: ignore[arg-type]
        )
        assert sorted(swept) == [False, True]
        assert counted == {"seal": 1, "anchor": 1}
        # The lock was given back: the next round (on either replica) sweeps again.
        assert await portal.sweep_once(second, "http://tsa.invalid")  # type: ignore[arg-type]
        assert counted == {"seal": 2, "anchor": 2}
        held = await db_pool.fetchval(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid = $1",
            SWEEP_LOCK_KEY & 0xFFFFFFFF,
        )
        assert held == 0
    finally:
        await other.close()


async def test_a_sweep_that_fails_gives_the_lock_back(db_pool: asyncpg.Pool) -> None:
    with pytest.raises(RuntimeError):
        async with sweep_alone(db_pool) as alone:
            assert alone
            raise RuntimeError("the sweep broke")
    async with sweep_alone(db_pool) as alone:
        assert alone


async def test_a_sweep_folds_the_portfolios_deltas(
    db_pool: asyncpg.Pool, counted: dict[str, int]
) -> None:
    # A delta left by a write (here one that moves no figure: zero rows) is folded by the
    # sweep even though no one opened the portfolio: the deltas do not pile up for weeks.
    await db_pool.execute("INSERT INTO portfolio_row_deltas (name, n) VALUES ('indicators', 0)")
    assert await db_pool.fetchval("SELECT count(*) FROM portfolio_row_deltas") >= 1
    assert await portal.sweep_once(Replica(db_pool), "http://tsa.invalid")  # type: ignore[arg-type]
    assert await db_pool.fetchval("SELECT count(*) FROM portfolio_row_deltas") == 0
