"""An officer's desk for the stage tests: build small conventions, drive them, read them.

Every test of a stage rule starts a convention of just the stages it needs on the
time-skipping server, answers as the parties would, moves time on, and reads the result
through the same client functions the CLI uses.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from datetime import datetime, timedelta
from typing import Any

import asyncpg
from temporalio.client import WorkflowFailureError
from temporalio.testing import WorkflowEnvironment

from application.conventions import (
    ConventionNotFound,
    answer_open_task,
    answer_task,
    build_answer,
    convention_status,
    find_task,
    start_convention,
    terminate_convention,
)
from application.errors import Refused
from schemas.actors import Principal
from schemas.convention import Convention
from schemas.milestones import Milestone, MilestoneKind
from schemas.officer_actions import TerminateConvention
from schemas.status import (
    ConventionInput,
    ConventionOutcome,
    ConventionState,
    ConventionStatus,
    TaskLookup,
)
from schemas.tasks import AnswerReceipt, Task
from storage.milestones import recorded_timeline
from workflows.convention import ConventionWorkflow, workflow_id_for
from workflows.visibility import search_attributes_for

PARTIES: list[dict[str, Any]] = [
    {"id": "ofppt", "name": "OFPPT", "kind": "training_office"},
    {
        "id": "psa",
        "name": "PSA Maroc",
        "kind": "company",
        "contacts": [{"name": "Rémi Cabon"}, {"name": "Salma Idrissi", "language": "ar"}],
    },
    {"id": "dmk", "name": "Réseau DMK", "kind": "network", "country": "DE"},
    {"id": "bid", "name": "Banque Islamique de Développement", "kind": "funder", "country": "SA"},
    {"id": "menefp", "name": "MENEFP", "kind": "foreign_administration", "country": "ML"},
]
SIGNATORIES: list[dict[str, Any]] = [
    {
        "id": "ofppt-dg",
        "name": "Loubna Tricha",
        "capacity": "Directrice générale",
        "party": "ofppt",
    },
    {"id": "psa-dg", "name": "Rémi Cabon", "capacity": "Directeur général", "party": "psa"},
    {"id": "dmk-pres", "name": "Présidente DMK", "capacity": "Présidente", "party": "dmk"},
]


def convention_of(*stages: dict[str, Any], **fields: Any) -> Convention:
    """A convention with the standard parties and signatories and just these stages."""
    data: dict[str, Any] = {
        "id": f"rules-{uuid.uuid4().hex[:10]}",
        "title": "Convention d'essai – Kénitra – اتفاقية تجريبية",
        "kind": "specific",
        "officer": {"name": "Nadia Benali"},
        "parties": PARTIES,
        "signatories": SIGNATORIES,
        "stages": list(stages),
    }
    data.update(fields)
    return Convention.model_validate(data)


class Desk:
    """One convention on the time-skipping server, seen from the officer's desk."""

    def __init__(self, env: WorkflowEnvironment, pool: asyncpg.Pool, task_queue: str) -> None:
        self.env = env
        self.pool = pool
        self.task_queue = task_queue
        self.convention_id = ""
        self.started: list[str] = []

    async def start(self, convention: Convention, *, history_limit: int | None = None) -> None:
        """Start the convention's workflow."""
        self.convention_id = convention.id
        self.started.append(convention.id)
        if history_limit is None:
            await start_convention(self.env.client, convention, self.task_queue)
            return
        # Only a test asks for a tiny history limit: start it the way start_convention does.
        await self.env.client.start_workflow(
            ConventionWorkflow.run,
            ConventionInput(convention=convention, history_limit=history_limit),
            id=workflow_id_for(convention.id),
            task_queue=self.task_queue,
            search_attributes=search_attributes_for(convention, None, ConventionState.ACTIVE),
        )

    async def close(self) -> None:
        """End what the test left running, the way an officer would, and wait for the end.

        Killing the workflow from outside instead would cut its activities in flight, and
        the time-skipping server keeps time locked until those time out.
        """
        for convention_id in self.started:
            with contextlib.suppress(Refused, ConventionNotFound):
                await terminate_convention(
                    self.env.client, convention_id, TerminateConvention(reason="test over")
                )
            handle = self.env.client.get_workflow_handle(workflow_id_for(convention_id))
            with contextlib.suppress(WorkflowFailureError):
                await handle.result()

    async def task(self, task_id: str) -> Task:
        """The open task, once the workflow has opened it."""
        return await find_task(self.env.client, self.convention_id, task_id, wait_seconds=20)

    async def answer(
        self, task_id: str, party: str, actor: str | None = None, **fields: Any
    ) -> AnswerReceipt:
        """Answer as the party would, once the task is open."""
        return await answer_open_task(
            self.env.client,
            self.convention_id,
            task_id,
            party,
            fields,
            actor=actor,
            wait_seconds=20,
        )

    async def answer_as(
        self, principal: Principal, task_id: str, *, acting_party: str | None = None, **fields: Any
    ) -> AnswerReceipt:
        """Answer as an authenticated actor would, through the desks' path: with a principal."""
        task = await self.task(task_id)
        request = build_answer(task, acting_party or principal.party, fields, principal.name)
        return await answer_task(
            self.env.client, self.convention_id, request.model_copy(update={"principal": principal})
        )

    async def lookup(self, task_id: str) -> TaskLookup:
        """The workflow's narrow answer about one task."""
        handle = self.env.client.get_workflow_handle_for(
            ConventionWorkflow.run, workflow_id_for(self.convention_id)
        )
        return await handle.query(ConventionWorkflow.task, task_id)

    async def status(self) -> ConventionStatus:
        """The workflow's view now."""
        return await convention_status(self.env.client, self.convention_id)

    async def milestones(self, *kinds: MilestoneKind) -> list[Milestone]:
        """The convention's whole timeline, as `status` reads it from PostgreSQL (the
        workflow keeps only its latest), of these kinds only if kinds are given; once the
        ledger has written every milestone the workflow recorded."""
        for _ in range(400):
            status = await self.status()
            recorded = await recorded_timeline(self.pool, self.convention_id, last=None)
            milestones = recorded.milestones
            if len(milestones) == status.milestone_count:
                return [m for m in milestones if not kinds or m.kind in kinds]
            await asyncio.sleep(0.025)
        raise AssertionError(f"PostgreSQL has {len(milestones)} of {status.milestone_count}")

    async def outcome(self) -> ConventionOutcome:
        """Wait for the end (time skips ahead while waiting)."""
        handle = self.env.client.get_workflow_handle_for(
            ConventionWorkflow.run, workflow_id_for(self.convention_id)
        )
        return await handle.result()

    async def pass_days(self, days: float) -> None:
        """Let time pass on the server."""
        await self.env.sleep(timedelta(days=days))

    async def now(self) -> datetime:
        """The server's clock."""
        return await self.env.get_current_time()

    async def notification_ids(self) -> list[str]:
        """Every notification recorded for the convention, without the convention prefix."""
        rows = await self.pool.fetch(
            "SELECT id FROM notifications WHERE convention_id = $1 ORDER BY created_at, id",
            self.convention_id,
        )
        return [row["id"].removeprefix(f"{self.convention_id}/") for row in rows]

    async def first_event_sizes(self) -> list[int]:
        """The size of each run's first event (its input), first run first."""
        handle = self.env.client.get_workflow_handle(workflow_id_for(self.convention_id))
        sizes: list[int] = []
        run_id: str | None = None
        while True:
            history = await self.env.client.get_workflow_handle(
                handle.id, run_id=run_id
            ).fetch_history()
            first = history.events[0]
            sizes.append(first.ByteSize())
            run_id = first.workflow_execution_started_event_attributes.continued_execution_run_id
            if not run_id:
                return sizes[::-1]

    async def stored_milestones(self) -> list[tuple[int, str]]:
        """(seq, kind) of every milestone row in PostgreSQL."""
        rows = await self.pool.fetch(
            "SELECT seq, kind FROM milestones WHERE convention_id = $1 ORDER BY seq",
            self.convention_id,
        )
        return [(row["seq"], row["kind"]) for row in rows]
