"""The convention's ledger: one ordered writer of its milestones.

Stages, update handlers and deliveries record milestones from several coroutines at once.
They append to this queue, in seq order, and return at once; a single writer sends what is
pending in one activity call, written and chained in one PostgreSQL transaction, one batch
after the other. Milestone n+1 can never reach PostgreSQL before milestone n, and a stage
that records five milestones in a row costs one activity, not five.
"""

from __future__ import annotations

import asyncio

from temporalio import workflow

from workflows.activity_options import PERSISTENCE_RETRY, PERSISTENCE_TIMEOUT

with workflow.unsafe.imports_passed_through():
    from activities.milestones import MilestoneStore
    from schemas.milestones import Milestone, MilestoneBatch

LEDGER_PATCH = "ordered-ledger"
"""Milestones written by the one ledger writer, in batches; conventions recorded before wrote
one activity per milestone (tests/histories/before-ordered-ledger/)."""

MAX_BATCH_MILESTONES = 200
MAX_BATCH_BYTES = 512 * 1024
"""A batch stays a quarter of Temporal's 2 MB payload limit (one milestone may hold a long
answer: a batch then holds fewer)."""


class Ledger:
    """Pending milestones and their one writer."""

    def __init__(self) -> None:
        self._pending: list[Milestone] = []
        self._in_flight_from: int | None = None
        """The first seq of the batch being written, if one is."""
        self._writer: asyncio.Task[None] | None = None
        self._failure: BaseException | None = None

    def start(self) -> None:
        """Start the writer, once, from the workflow's run."""
        if self._writer is None:
            self._writer = asyncio.create_task(self._write_forever())

    def append(self, milestone: Milestone) -> None:
        """Queue a milestone; the writer sends it with whatever else is pending."""
        self._pending.append(milestone)

    @property
    def idle(self) -> bool:
        """Nothing pending and nothing in flight: every milestone is in PostgreSQL."""
        return self._in_flight_from is None and not self._pending

    def written_through(self, seq: int) -> bool:
        """Every milestone recorded up to this seq is in PostgreSQL."""
        if self._in_flight_from is not None:  # the batch in flight precedes what is pending
            return self._in_flight_from > seq
        return not self._pending or self._pending[0].seq > seq

    @property
    def failed(self) -> bool:
        """The writer met an error its activity's retries cannot cure."""
        return self._failure is not None

    async def settled(self) -> None:
        """Wait until every milestone recorded so far is written; raise the writer's failure."""
        await workflow.wait_condition(lambda: self.idle or self.failed)
        if self._failure is not None:
            raise self._failure

    async def _write_forever(self) -> None:
        # The writer wakes only through wait_condition, which the SDK evaluates once every
        # job of an activation is applied and every coroutine has run as far as it can: its
        # ScheduleActivity command comes after theirs whatever order the jobs (an update, an
        # activity's result) were applied in, so a replay issues the commands in the same
        # order as the first run. A writer woken straight from append or from its activity's
        # result would not (that order is what a Temporal restart once broke).
        while True:
            await workflow.wait_condition(lambda: bool(self._pending))
            batch = self._next_batch()
            self._in_flight_from = batch[0].seq
            try:
                await workflow.execute_activity_method(
                    MilestoneStore.persist_milestones,
                    MilestoneBatch(milestones=batch),
                    start_to_close_timeout=PERSISTENCE_TIMEOUT,
                    retry_policy=PERSISTENCE_RETRY,
                    summary=f"milestones #{batch[0].seq}–#{batch[-1].seq}",
                )
            except Exception as failure:  # non-retryable: the run must not wait forever
                self._failure = failure
                return
            finally:
                self._in_flight_from = None

    def _next_batch(self) -> list[Milestone]:
        batch: list[Milestone] = []
        size = 0
        while self._pending and len(batch) < MAX_BATCH_MILESTONES:
            milestone_size = len(self._pending[0].model_dump_json().encode())
            if batch and size + milestone_size > MAX_BATCH_BYTES:
                break
            batch.append(self._pending.pop(0))
            size += milestone_size
        return batch
