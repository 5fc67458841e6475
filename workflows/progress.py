"""The convention's stage and state told to visibility after the ledger has written them.

An upsert of search attributes is a command the dev server writes at once; made where the
stage moves, it lands in the workflow task that took the answer moving it, and the
partner waits for it. Shown here instead, it goes out in the workflow task where the
ledger's write of the milestones recorded up to the move comes back: visibility never
lists a convention in a stage whose entry is not in PostgreSQL yet, moves seen together
(a stage completed and the next entered at once) cost one upsert, and a value visibility
already holds (the first stage, set at start) none.
"""

from __future__ import annotations

import asyncio

from temporalio import workflow

from workflows.ledger import Ledger
from workflows.visibility import NO_STAGE, STAGE, STATE, upsert_progress

with workflow.unsafe.imports_passed_through():
    from schemas.status import ConventionState

PROGRESS_AFTER_LEDGER_PATCH = "visibility-after-ledger"
"""Stage and state upserted once the ledger has written up to them; runs recorded before
upserted them where the stage moved (tests/histories/before-visibility-after-ledger/)."""


class Progress:
    """The latest stage and state to show, and the one coroutine that shows them."""

    def __init__(self, ledger: Ledger) -> None:
        self._ledger = ledger
        self._wanted: tuple[str | None, ConventionState] | None = None
        self._after_seq = 0
        self._publisher: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start the publisher, once, from the workflow's run."""
        if self._publisher is None:
            self._publisher = asyncio.create_task(self._publish_forever())

    def show(self, stage: str | None, state: ConventionState, *, after_seq: int) -> None:
        """Show this stage and state once milestones up to `after_seq` are written; a later
        call before then replaces it."""
        self._wanted = (stage, state)
        self._after_seq = after_seq

    @property
    def shown(self) -> bool:
        """Nothing is waiting to be shown."""
        return self._wanted is None

    async def settled(self) -> None:
        """Until the latest stage and state are shown (the ledger being settled first)."""
        await workflow.wait_condition(lambda: self.shown)

    def _due(self) -> bool:
        return self._wanted is not None and self._ledger.written_through(self._after_seq)

    async def _publish_forever(self) -> None:
        # Woken through wait_condition like the ledger's writer, so its command comes after
        # those of the coroutines the activation ran, in the same order on replay.
        while True:
            await workflow.wait_condition(self._due)
            assert self._wanted is not None
            stage, state = self._wanted
            self._wanted = None
            known = workflow.info().typed_search_attributes
            if known.get(STAGE) != (stage or NO_STAGE) or known.get(STATE) != state.value:
                upsert_progress(stage, state)
