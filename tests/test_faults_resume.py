"""The demo stopped and run again between an accepted answer and its milestone: resuming must
not wait for the answered task to open again.

A workflow accepts an answer at once (the update closes the task), but records its
`task_answered` milestone only when the stage gets to it — later if the stage is busy
persisting an earlier milestone, or if PostgreSQL is slow. A resumed
`application.scenarios.play_scenario` must count such a task as answered. The test holds
PostgreSQL's row of milestone #2 (FOR UPDATE), so that the stage's next milestone waits to
chain to it, answers in that window, and lets the stage go on only once the resumed demo
has looked at the convention.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import asyncpg
import pytest
from temporalio.client import Client
from temporalio.service import RPCError

from application import scenarios
from application.conventions import answer_open_task, find_task, start_convention
from devkit.polling import eventually
from schemas.convention import Convention
from schemas.convention_file import AnswerScript
from schemas.status import ConventionState
from tests.conftest import DEV_TASK_QUEUE
from tests.stage_desk import PARTIES, SIGNATORIES, convention_of
from workflows.convention import workflow_id_for

SIGN: dict[str, Any] = {"kind": "sign", "decision": "sign"}


def two_signatures() -> Convention:
    """PSA's and the office's directors sign, in parallel."""
    return convention_of(
        {"stage": "signature", "signatories": ["psa-dg", "ofppt-dg"]},
        parties=[party for party in PARTIES if party["id"] in ("ofppt", "psa")],
        signatories=[s for s in SIGNATORIES if s["id"] in ("psa-dg", "ofppt-dg")],
    )


async def test_a_demo_resumed_while_an_answer_awaits_its_milestone_does_not_wait_for_the_task_again(
    client: Client, db_pool: asyncpg.Pool, monkeypatch: pytest.MonkeyPatch
) -> None:
    looked = asyncio.Event()
    answered_tasks = scenarios._answered_tasks

    async def answered_tasks_seen(*args: Any, **kwargs: Any) -> set[str | None]:
        """The demo's own look at what was answered, and a sign that it has looked."""
        answered = await answered_tasks(*args, **kwargs)
        looked.set()
        return answered

    monkeypatch.setattr(scenarios, "_answered_tasks", answered_tasks_seen)
    convention = two_signatures()
    script = AnswerScript.model_validate(
        {
            "convention": convention.id,
            "answers": [
                {"task": "signature.sign.psa-dg", "as": "psa", "answer": SIGN},
                {"task": "signature.sign.ofppt-dg", "as": "ofppt", "answer": SIGN},
            ],
        }
    )
    await start_convention(client, convention, DEV_TASK_QUEUE)
    player: asyncio.Task[object] | None = None
    try:
        async with db_pool.acquire() as holder, holder.transaction():
            # Milestone #2 (stage entered) is held from the moment it is written, polled in
            # this transaction every 5 ms: #3, PSA's task assigned, comes a few activities
            # later (the stage announced to each party) and must wait for the row.
            held = await eventually(
                lambda: holder.fetch(
                    "SELECT seq FROM milestones WHERE convention_id = $1 AND seq >= 2"
                    " ORDER BY seq FOR UPDATE",
                    convention.id,
                ),
                bool,
                within=30,
                interval=0.005,
                what="convention started, stage entered",
            )
            assert [row["seq"] for row in held] == [2], "milestone #3 came before #2 was held"
            # PSA's task is open; its own milestone (#3) waits for the row we hold.
            await find_task(client, convention.id, "signature.sign.psa-dg", wait_seconds=30)
            await answer_open_task(client, convention.id, "signature.sign.psa-dg", "psa", SIGN)
            assert (
                await db_pool.fetchval(
                    "SELECT count(*) FROM milestones WHERE convention_id = $1", convention.id
                )
                == 2
            )
            # The demo is run again now.
            player = asyncio.create_task(
                # 5 s for a task to open (the demo waits a minute by default).
                scenarios.play_scenario(client, DEV_TASK_QUEUE, convention, script, wait_seconds=5)
            )
            await asyncio.wait_for(looked.wait(), 30)
        status = await asyncio.wait_for(player, 30)

        assert status.state is ConventionState.COMPLETED, status.reason
    finally:
        if player is not None:
            player.cancel()
        with contextlib.suppress(RPCError):  # already over
            await client.get_workflow_handle(workflow_id_for(convention.id)).terminate("over")
