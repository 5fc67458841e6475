"""Waiting for something that happens elsewhere (a workflow, a worker, PostgreSQL)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


async def eventually(
    probe: Callable[[], Awaitable[T]],
    done: Callable[[T], bool],
    *,
    within: float = 30.0,
    what: str = "condition",
    interval: float = 0.05,
) -> T:
    """Poll probe() until done(value) and return that value; fail naming `what` and the
    last value seen after `within` seconds (generous: the suite runs on two busy cores)."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        value = await probe()
        if done(value):
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"{what}: not reached in {within} s; last value: {value!r}")
        await asyncio.sleep(interval)
