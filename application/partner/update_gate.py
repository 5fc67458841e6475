"""A few answers at a time to one convention's workflow from this process.

Temporal admits at most 10 updates in flight per workflow (`history.maxInFlightUpdates`);
more are refused (RESOURCE_EXHAUSTED, after the client's own retries) and the storm makes the
workflow's tasks thrash ("workflow update was aborted"). The task page and the form's check
no longer ask the workflow first (they read the inbox), so nothing spaces out the answers of
dozens of contacts reviewing one convention at once any more: they wait here, in the portal,
for a turn, instead of at Temporal's door.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

UPDATES_IN_FLIGHT = 3
"""Per convention and portal process: three replicas stay under Temporal's 10."""


class UpdateGates:
    """One turnstile per convention with answers waiting or in flight (none kept after)."""

    def __init__(self, limit: int = UPDATES_IN_FLIGHT) -> None:
        self._limit = limit
        self._gates: dict[str, tuple[asyncio.Semaphore, int]] = {}

    def __len__(self) -> int:
        return len(self._gates)

    @asynccontextmanager
    async def turn(self, convention_id: str, wait: float | None = None) -> AsyncIterator[None]:
        """Inside: this answer's turn to go to the convention's workflow. TimeoutError when
        no turn came within `wait` seconds (nothing was sent)."""
        gate, users = self._gates.get(convention_id, (asyncio.Semaphore(self._limit), 0))
        self._gates[convention_id] = (gate, users + 1)
        try:
            async with asyncio.timeout(wait):
                await gate.acquire()
            try:
                yield
            finally:
                gate.release()
        finally:
            _, users = self._gates[convention_id]
            if users <= 1:
                del self._gates[convention_id]
            else:
                self._gates[convention_id] = (gate, users - 1)
