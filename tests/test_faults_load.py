"""200 conventions at once, their partners answering concurrently, racing for their tasks.

Each convention is small (a drafting stage with two reviewers, then one signature) and every
task is answered twice at the same instant:
- PSA's review by two of PSA's people (Rémi Cabon and Salma Idrissi), both approving;
- DMK's review by the very same request, sent twice (a client retrying);
- the signature by Rémi Cabon signing while Salma Idrissi refuses.
Exactly one answer of each pair is accepted; the other is refused saying the task is already
done and by whom; each task is answered once in PostgreSQL, by the winner, and the convention
ends as the winner's answer says. The partners find their tasks in their inbox (PostgreSQL's
read model) rather than by polling 200 workflows.

Runs on the session's dev server with a `python worker.py` of its own. All 200 conventions
are opened first (their reviews waiting), then all are answered at once. The starts are
paced, 16 conventions opening at a time: started all in the same second, 200 conventions
make the worker run 100 first workflow tasks at once (its default), each building a workflow
sandbox, and on two busy cores they outlast the 10 s workflow task timeout and are retried
over and over (measured on this machine while busy: 630 workflow tasks timed out, and two
milestones per convention in two and a half minutes).
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
from temporalio.client import Client

from application.conventions import answer_task, build_answer, start_convention
from application.errors import Refused
from devkit.stack import WorkerProcess, worker_environment
from schemas.channels import InboxEntry
from schemas.convention import Convention
from schemas.status import ConventionOutcome, ConventionState
from schemas.tasks import AnswerReceipt, AnswerTask, SignAnswer, Task, TaskKind
from storage.inbox import owed_tasks
from tests.stage_desk import PARTIES, SIGNATORIES, convention_of
from workflows.convention import ConventionWorkflow, workflow_id_for

# 200 by default; PACTE_LOAD_CONVENTIONS=N runs another count (e.g. on a busy machine).
CONVENTIONS = int(os.environ.get("PACTE_LOAD_CONVENTIONS", "200"))
# Conventions being started at once: an officer's burst of starts is paced, so that the
# worker's first workflow tasks (each builds a sandbox) do not all time out together.
OPENING = 16
# Races in flight at once: every convention answered concurrently, in bounded batches.
IN_FLIGHT = 64
POLL_SECONDS = 0.2
WHOLE_RUN_SECONDS = 300.0  # estimated 40–60 s on an idle 2-core machine; a bound, not a target

PSA_REVIEW = "drafting.review.v1.psa"
DMK_REVIEW = "drafting.review.v1.dmk"
SIGNATURE = "signature.sign.psa-dg"
APPROVE_V1: dict[str, Any] = {"decision": "approve", "version": 1}


def small_convention() -> Convention:
    """The office, PSA (two people) and DMK: both review, then PSA's director signs."""
    return convention_of(
        {
            "stage": "drafting",
            "document": {"uri": "archive:essais/charge/projet-v1.pdf"},
            "reviewers": ["psa", "dmk"],
        },
        {"stage": "signature", "signatories": ["psa-dg"]},
        parties=[party for party in PARTIES if party["id"] in ("ofppt", "psa", "dmk")],
        signatories=[s for s in SIGNATORIES if s["id"] == "psa-dg"],
    )


@dataclass(frozen=True)
class Race:
    """Two answers to one task sent at the same instant, and what each got back."""

    task_id: str
    requests: tuple[AnswerTask, AnswerTask]
    results: tuple[AnswerReceipt | BaseException, AnswerReceipt | BaseException]

    @property
    def winner(self) -> AnswerTask:
        """The request that was accepted (the test asserts there is exactly one)."""
        accepted = [
            request
            for request, result in zip(self.requests, self.results, strict=True)
            if isinstance(result, AnswerReceipt)
        ]
        assert len(accepted) == 1, (self.task_id, self.results)
        return accepted[0]

    @property
    def refusals(self) -> list[BaseException]:
        """What the losers got."""
        return [result for result in self.results if not isinstance(result, AnswerReceipt)]


@dataclass(frozen=True)
class Played:
    """One convention of the load: its races and how it ended."""

    convention: Convention
    races: list[Race]
    outcome: ConventionOutcome


def task_in(entry: InboxEntry) -> Task:
    """The task as its party's inbox shows it."""
    return Task(
        id=entry.task_id,
        convention_id=entry.convention_id,
        stage=entry.stage,
        kind=TaskKind(entry.kind),
        assignee=entry.assignee,
        title=entry.title,
        assigned_at=entry.assigned_at,
        due_at=entry.due_at,
    )


class Partners:
    """The partners of every convention: they find their tasks in their inbox (PostgreSQL's
    read model, one query per party for all conventions) and answer through Temporal."""

    def __init__(self, client: Client, pool: asyncpg.Pool, task_queue: str) -> None:
        self.client = client
        self.pool = pool
        self.task_queue = task_queue
        self.opening = asyncio.Semaphore(OPENING)
        self.in_flight = asyncio.Semaphore(IN_FLIGHT)
        self.progress = {"open": 0, "reviewed": 0, "signed": 0, "ended": 0}
        self._waiting: dict[tuple[str, str], asyncio.Future[Task]] = {}

    async def task(self, convention_id: str, task_id: str) -> Task:
        """The task, once it shows in its party's inbox."""
        found: asyncio.Future[Task] = asyncio.get_running_loop().create_future()
        self._waiting[(convention_id, task_id)] = found
        return await found

    async def read_inboxes(self) -> None:
        """Until cancelled: the parties' inboxes, a few times a second."""
        try:
            while True:
                for party in ("psa", "dmk"):
                    for entry in await owed_tasks(self.pool, party, datetime.now(UTC)):
                        found = self._waiting.pop((entry.convention_id, entry.task_id), None)
                        if found is not None and not found.done():
                            found.set_result(task_in(entry))
                await asyncio.sleep(POLL_SECONDS)
        except Exception as error:  # every partner waiting on the inbox learns of it
            for found in self._waiting.values():
                found.set_exception(error)
            raise

    async def open(self, convention: Convention) -> tuple[Task, Task]:
        """Start the convention and wait for its two reviews (a few conventions at a time)."""
        async with self.opening:
            await start_convention(self.client, convention, self.task_queue)
            reviews = await asyncio.gather(
                self.task(convention.id, PSA_REVIEW), self.task(convention.id, DMK_REVIEW)
            )
        self.progress["open"] += 1
        return reviews[0], reviews[1]

    async def race(self, convention_id: str, first: AnswerTask, second: AnswerTask) -> Race:
        """Send both answers at the same instant."""
        async with self.in_flight:
            results = await asyncio.gather(
                answer_task(self.client, convention_id, first),
                answer_task(self.client, convention_id, second),
                return_exceptions=True,
            )
        return Race(first.task_id, (first, second), (results[0], results[1]))

    async def play(self, convention: Convention, psa: Task, dmk: Task) -> Played:
        """Race for each task of the open convention, then wait for its end."""
        dmk_approval = build_answer(dmk, "dmk", APPROVE_V1)
        races = list(
            await asyncio.gather(
                self.race(
                    convention.id,
                    build_answer(psa, "psa", APPROVE_V1, actor="Rémi Cabon"),
                    build_answer(psa, "psa", APPROVE_V1, actor="Salma Idrissi"),
                ),
                self.race(convention.id, dmk_approval, dmk_approval),
            )
        )
        self.progress["reviewed"] += 1
        signature = await self.task(convention.id, SIGNATURE)
        races.append(
            await self.race(
                convention.id,
                build_answer(signature, "psa", {"decision": "sign"}, actor="Rémi Cabon"),
                build_answer(
                    signature,
                    "psa",
                    {"decision": "refuse", "reason": "رفض: الصيغة لم تُعتمد بعد"},
                    actor="Salma Idrissi",
                ),
            )
        )
        self.progress["signed"] += 1
        handle = self.client.get_workflow_handle_for(
            ConventionWorkflow.run, workflow_id_for(convention.id)
        )
        outcome = await handle.result()
        self.progress["ended"] += 1
        return Played(convention, races, outcome)


def already_answered(race: Race, convention: Convention, outcome: ConventionOutcome) -> bool:
    """The loser's refusal says the task is already done and by whom — or, for the last
    task, possibly that the convention is over already (the winner's answer ended it)."""
    refusal = race.refusals[0]
    winner = race.winner.actor or race.winner.acting_party
    if not isinstance(refusal, Refused):
        return False
    message = str(refusal)
    if message == f"task_id: task '{race.task_id}' is already done (answered by {winner})":
        return True
    return (
        race.task_id == SIGNATURE
        and message.startswith(f"convention: {convention.id} is ")
        and outcome.state.value in message
    )


async def test_two_hundred_conventions_with_racing_partners_complete_each_task_exactly_once(
    client: Client, db_pool: asyncpg.Pool, postgres_url: str, tmp_path: Path
) -> None:
    task_queue = f"faults-load-{uuid.uuid4().hex[:8]}"
    env = worker_environment(client.service_client.config.target_host, postgres_url, task_queue)
    worker = await WorkerProcess(env, tmp_path / "worker.log").start()
    partners = Partners(client, db_pool, task_queue)
    conventions = [small_convention() for _ in range(CONVENTIONS)]
    inboxes = asyncio.create_task(partners.read_inboxes())
    started = time.monotonic()
    try:
        async with asyncio.timeout(WHOLE_RUN_SECONDS):
            # Every convention open and waiting on its partners, then all of them answered.
            reviews = await asyncio.gather(*(partners.open(c) for c in conventions))
            opened = time.monotonic()
            played = await asyncio.gather(
                *(
                    partners.play(convention, psa, dmk)
                    for convention, (psa, dmk) in zip(conventions, reviews, strict=True)
                )
            )
    except TimeoutError:
        raise AssertionError(
            f"{CONVENTIONS} conventions not done in {WHOLE_RUN_SECONDS} s: {partners.progress}"
        ) from None
    finally:
        inboxes.cancel()
        await worker.stop()
    ended = time.monotonic()
    print(
        f"\n{CONVENTIONS} conventions open in {opened - started:.1f} s; "
        f"{3 * CONVENTIONS} races answered and every convention ended {ended - opened:.1f} s later"
    )

    for run in played:
        for race in run.races:
            assert len(race.refusals) == 1, (run.convention.id, race.task_id, race.results)
            assert already_answered(race, run.convention, run.outcome), (
                run.convention.id,
                race.task_id,
                race.refusals,
            )
        signature = run.races[-1].winner.answer
        assert isinstance(signature, SignAnswer)
        if signature.decision == "sign":
            assert run.outcome.state is ConventionState.COMPLETED, run.outcome
        else:
            assert run.outcome.state is ConventionState.FAILED, run.outcome
            assert "refused to sign" in (run.outcome.reason or ""), run.outcome

    ids = [convention.id for convention in conventions]
    answers = await db_pool.fetch(
        "SELECT convention_id, task_id, count(*) AS n, min(actor) AS actor,"
        " min(party) AS party FROM milestones"
        " WHERE convention_id = ANY($1::text[]) AND kind = 'task_answered'"
        " GROUP BY convention_id, task_id",
        ids,
    )
    answered = {(row["convention_id"], row["task_id"]): row for row in answers}
    assert len(answered) == 3 * CONVENTIONS
    for run in played:
        for race in run.races:
            row = answered[(run.convention.id, race.task_id)]
            assert row["n"] == 1, (run.convention.id, race.task_id)
            assert (row["actor"], row["party"]) == (race.winner.actor, race.winner.acting_party)
    rows = await db_pool.fetch(
        "SELECT convention_id, count(*) AS n, count(DISTINCT seq) AS seqs, max(seq) AS last"
        " FROM milestones WHERE convention_id = ANY($1::text[]) GROUP BY convention_id",
        ids,
    )
    stored = {row["convention_id"]: (row["n"], row["seqs"], row["last"]) for row in rows}
    for run in played:
        count = run.outcome.milestone_count
        assert stored[run.convention.id] == (count, count, count), run.convention.id
