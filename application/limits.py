"""The one failure limiter of both desks, over sliding 15-minute windows in PostgreSQL
(`storage/attempts.py`): each attempt is decided and counted in one locked transaction, so a
burst of N parallel tries is counted N and at most the budget is evaluated.

Two calls, because credentials come in two kinds:

- `reserve(pool, buckets)` BEFORE evaluating a guessable secret (a password, a TOTP code, a
  code sent per task): it takes a slot in every bucket or raises TooManyAttempts. The caller
  then evaluates and, on success, `forgive`s the reservation so a success costs nothing. A
  reservation (not "check, then record the failure") is what makes bursts count: the slot is
  taken before the evaluation starts, so the 201st parallel guess finds the bucket full.
- `count_failure(pool, buckets)` AFTER a credential turned out wrong, for buckets that must
  never refuse a valid credential: an address shared by a whole office (one NAT). The key,
  link or code is looked up first; a valid one passes whatever others did from the address;
  only a wrong one is counted, and refused (TooManyAttempts rather than Unauthenticated) once
  the address is full. These credentials are bounded by their own bucket (a code's tries, a
  link's token) or are 256-bit tokens that no number of lookups guesses.

A `Budget(growing=True)` bucket (an account's password) never becomes a door an attacker can
hold shut for the window: past its budget, each further attempt waits a delay that doubles
with every failure (30 s, 1 min, 2 min … capped at `GROWING_DELAY_CAP`), after which one
attempt is evaluated again; refusals during the delay are not counted. The holder gets a try
at least every five minutes (an attacker racing for that very slot can still take it). When an
account's delay starts, its holder and the admins are mailed a notice (`application/office/
signin.py`).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

import asyncpg

from application.errors import TooManyAttempts
from storage import attempts
from storage.attempts import FAILURE_WINDOW

FAILURES_PER_ADDRESS = 20
"""Failures counted per bucket and window before a refusal: an address tries many tokens, a
token is tried from many addresses; either way a guesser is slowed to a crawl."""
FAILURES_PER_SECRET = 10
GROWING_DELAY_FIRST = timedelta(seconds=30)
GROWING_DELAY_CAP = timedelta(minutes=5)
"""The longest wait past a growing bucket's budget: the account holder gets a try at least
this often, however long an attacker keeps guessing."""

__all__ = [
    "FAILURES_PER_ADDRESS",
    "FAILURES_PER_SECRET",
    "FAILURE_WINDOW",
    "GROWING_DELAY_CAP",
    "GROWING_DELAY_FIRST",
    "Budget",
    "Reservation",
    "address_bucket",
    "count_failure",
    "failures",
    "forgive",
    "reserve",
]


IPV6_CLIENT_PREFIX = 64
"""An IPv6 client is keyed by its /64: one subscriber line or site gets a /64 (or more) and
picks any of its 2^64 addresses at will, so a bucket per address would be endless."""


def address_bucket(kind: str, address: str) -> str:
    """The bucket of a client address for one kind of attempt: an IPv4 address itself, an
    IPv6 one by its /64 (an IPv4-mapped one as IPv4); text that is no address, as given."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return f"{kind}:{address}"
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return f"{kind}:{ip.ipv4_mapped}"
        return f"{kind}:{ipaddress.IPv6Network((ip, IPV6_CLIENT_PREFIX), strict=False)}"
    return f"{kind}:{ip}"


@dataclass(frozen=True)
class Budget:
    """Attempts a bucket allows per sliding window; `growing`: past them, a doubling delay
    rather than a refusal until the window slides."""

    attempts: int
    growing: bool = False


Buckets = Mapping[str, int | Budget]


@dataclass(frozen=True)
class Reservation:
    """A slot taken in each bucket at `at` (given back by `forgive`)."""

    buckets: tuple[str, ...]
    at: datetime


def _budget(value: int | Budget) -> Budget:
    return value if isinstance(value, Budget) else Budget(value)


def _wait(buckets: Buckets, now: datetime, recent: dict[str, list[datetime]]) -> int | None:
    waits: list[float] = []
    for name, value in buckets.items():
        budget, times = _budget(value), recent.get(name, [])
        if len(times) < budget.attempts:
            continue
        if budget.growing:
            over = len(times) - budget.attempts
            delay = min(GROWING_DELAY_FIRST * 2**over, GROWING_DELAY_CAP)
            left = times[-1] + delay - now
        else:
            left = times[len(times) - budget.attempts] + FAILURE_WINDOW - now
        if left > timedelta(0):
            waits.append(left.total_seconds())
    return int(max(waits)) + 1 if waits else None


async def _take(pool: asyncpg.Pool, buckets: Buckets, now: datetime | None) -> datetime:
    wait, moment = await attempts.take(
        pool, list(buckets), now, lambda at, recent: _wait(buckets, at, recent)
    )
    if wait is not None:
        raise TooManyAttempts("too many failed attempts; try again later", retry_after=wait)
    return moment


async def reserve(pool: asyncpg.Pool, buckets: Buckets, now: datetime | None = None) -> Reservation:
    """Take one attempt in every bucket before evaluating (TooManyAttempts when one is full:
    nothing is then counted); `forgive` it when the attempt succeeds."""
    return Reservation(tuple(buckets), await _take(pool, buckets, now))


async def forgive(pool: asyncpg.Pool, reservation: Reservation) -> None:
    """The reserved attempt succeeded: it no longer counts."""
    await attempts.give_back(pool, list(reservation.buckets), reservation.at)


async def count_failure(pool: asyncpg.Pool, buckets: Buckets, now: datetime | None = None) -> None:
    """A credential was wrong: count it in each bucket, or raise TooManyAttempts when one is
    already full (the failure past the budget is answered 429, not counted)."""
    await _take(pool, buckets, now)


async def failures(pool: asyncpg.Pool, bucket: str) -> int:
    """The attempts a bucket holds within the sliding window now."""
    return await attempts.recent(pool, bucket)
