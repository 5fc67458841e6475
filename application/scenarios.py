"""The scenario player: a convention started and its scripted answers given, to the end.

One player for the demo, the tests and the benchmarks. What varies is said by its caller:

- how a partner's answer is sent: through the officers' update, as `starter.py act` does
  (the default), or another way, e.g. `PartnerDeskApi.answer` (the desk's REST API, each
  party with its own key, as the demo does); the office's own tasks always take the
  officers' path;
- how long to wait for a task to open, and how (find_task's doubling pauses, or a fixed
  pause: an experiment's), and where from: the workflow's `task` query (the CLI's way), or
  the partners' inbox in PostgreSQL (`InboxWatch`: what a partner's system reads through
  `GET /api/v1/tasks`), the answer then built from the task's row and sent as the update,
  the workflow asked nothing (as the desk's API answers; its validator still decides);
- whether to resume: a convention started by an earlier run is carried on, the answers it
  already took skipped (the demo run again, a test played again after a dropped call) —
  or, for a benchmark's fresh convention, started and answered without that look-up;
- how many attempts: a busy dev server sometimes drops a call, and a killed worker leaves
  queries unanswered a moment; the partners then call again (the play resumes, so nothing
  is started or answered twice).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import asyncpg
import httpx
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from application.conventions import (
    FIRST_POLL_PAUSE_SECONDS,
    LAST_POLL_PAUSE_SECONDS,
    ConventionAlreadyStarted,
    ConventionNotFound,
    ConventionUnreadable,
    answer_open_task,
    answer_task,
    build_answer,
    convention_status,
    find_task,
    start_convention,
)
from schemas.convention import Convention, DiagnosticStage
from schemas.convention_file import AnswerScript, ScriptedAnswer
from schemas.milestones import MilestoneKind
from schemas.status import ConventionStatus
from schemas.tasks import Task, TaskStatus
from storage.inbox import inbox_task
from workflows.convention import ConventionWorkflow, workflow_id_for

T = TypeVar("T")

TASK_WAIT_SECONDS = 60.0
# A partner's answer, given some other way than the officers' update (the desk's API).
PartnerAnswer = Callable[[str, ScriptedAnswer], Awaitable[None]]
# A busy dev server sometimes drops a call ("context canceled"): the partners call again.
TRANSIENT = {RPCStatusCode.CANCELLED, RPCStatusCode.DEADLINE_EXCEEDED, RPCStatusCode.UNAVAILABLE}
RETRY_PAUSE_SECONDS = 1.0


# Until a task is open (convention id, task id, seconds to wait at most), the open task, or
# None when it did not open (the workflow's query then says why): see InboxWatch.
TaskOpened = Callable[[str, str, float], Awaitable[Task | None]]


@dataclass(frozen=True)
class InboxWatch:
    """Learn that a task is open from the partners' inbox (PostgreSQL), with find_task's
    doubling pauses: a read of one indexed row, where the workflow's query is a task its
    worker runs. None at the deadline, or for a closed row: the answer's own look-up then
    says why not."""

    pool: asyncpg.Pool

    async def __call__(self, convention_id: str, task_id: str, wait_seconds: float) -> Task | None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait_seconds
        pause = FIRST_POLL_PAUSE_SECONDS
        while loop.time() < deadline:
            task = await inbox_task(self.pool, convention_id, task_id)
            if task is not None:  # closed already: the answer's own look-up says why not
                return task if task.status is TaskStatus.OPEN else None
            await asyncio.sleep(min(pause, max(deadline - loop.time(), 0.0)))
            pause = min(pause * 2, LAST_POLL_PAUSE_SECONDS)
        return None


@dataclass(frozen=True)
class _Playing:
    """How a scenario is played (see the module's docstring)."""

    partner_answer: PartnerAnswer | None
    wait_seconds: float
    poll_every: float | None
    resume: bool
    task_opened: TaskOpened | None = None


def scenario_files(directory: Path) -> list[tuple[Path, Path]]:
    """Each convention file with its answers file."""
    pairs = []
    for convention_file in sorted(directory.glob("*.yaml")):
        if convention_file.name.endswith(".answers.yaml"):
            continue
        pairs.append((convention_file, convention_file.with_suffix(".answers.yaml")))
    return pairs


def follow_ups_of(convention: Convention) -> list[Convention]:
    """The conventions its diagnostics start, in the order of the file."""
    return [
        follow_up
        for spec in convention.stages
        if isinstance(spec, DiagnosticStage)
        for follow_up in spec.follow_ups
    ]


async def play_scenario(
    client: Client,
    task_queue: str,
    convention: Convention,
    script: AnswerScript,
    partner_answer: PartnerAnswer | None = None,
    *,
    wait_seconds: float = TASK_WAIT_SECONDS,
    poll_every: float | None = None,
    resume: bool = True,
    attempts: int = 1,
) -> ConventionStatus:
    """Play the convention (and its follow-ups) to the end; return its status."""
    playing = _Playing(partner_answer, wait_seconds, poll_every, resume)

    async def once() -> ConventionStatus:
        await _play_once(client, task_queue, convention, script, playing)
        return await convention_status(client, convention.id)

    return await _again_after_dropped_calls(once, attempts)


async def play(
    client: Client,
    task_queue: str,
    convention: Convention,
    script: AnswerScript,
    partner_answer: PartnerAnswer | None = None,
    *,
    wait_seconds: float = TASK_WAIT_SECONDS,
    poll_every: float | None = None,
    resume: bool = True,
    attempts: int = 1,
    task_opened: TaskOpened | None = None,
) -> None:
    """`play_scenario` without the status at the end (a benchmark asks nothing more);
    `task_opened`: where it learns that a task is open (e.g. InboxWatch)."""
    playing = _Playing(partner_answer, wait_seconds, poll_every, resume, task_opened)
    await _again_after_dropped_calls(
        lambda: _play_once(client, task_queue, convention, script, playing), attempts
    )


async def _again_after_dropped_calls(job: Callable[[], Awaitable[T]], attempts: int) -> T:
    for attempt in range(1, attempts + 1):
        try:
            return await job()
        except ConventionUnreadable:  # no worker answered in time (one was killed)
            if attempt == attempts:
                raise
        except RPCError as error:
            if error.status not in TRANSIENT or attempt == attempts:
                raise
        await asyncio.sleep(RETRY_PAUSE_SECONDS)
    raise ValueError(f"attempts must be at least 1, not {attempts}")


async def _play_once(
    client: Client,
    task_queue: str,
    convention: Convention,
    script: AnswerScript,
    playing: _Playing,
) -> None:
    try:
        await start_convention(client, convention, task_queue)
    except ConventionAlreadyStarted:
        if not playing.resume:
            raise
        print(f"{convention.id}: started by an earlier run, resuming it", flush=True)
    follow_ups = [follow_up.id for follow_up in follow_ups_of(convention)]
    answered: dict[str, set[str | None]] = {}
    for step in script.answers:
        target = convention.id if step.follow_up is None else follow_ups[step.follow_up]
        if playing.resume:
            if target not in answered:
                answered[target] = await _answered_tasks(
                    client, target, wait=playing.wait_seconds if target != convention.id else 0
                )
            if step.task in answered[target]:
                continue
        opened = (
            await playing.task_opened(target, step.task, playing.wait_seconds)
            if playing.task_opened is not None
            else None
        )
        if playing.partner_answer is not None and step.acting_party != convention.office.id:
            if opened is None:
                await find_task(
                    client,
                    target,
                    step.task,
                    wait_seconds=playing.wait_seconds,
                    poll_every=playing.poll_every,
                )
            await playing.partner_answer(target, step)
            continue
        if opened is not None:
            request = build_answer(opened, step.acting_party, step.answer, step.actor)
            await answer_task(client, target, request)
            continue
        await answer_open_task(
            client,
            target,
            step.task,
            step.acting_party,
            step.answer,
            actor=step.actor,
            wait_seconds=playing.wait_seconds,
            poll_every=playing.poll_every,
        )
    for convention_id in [convention.id, *follow_ups]:
        handle = client.get_workflow_handle_for(
            ConventionWorkflow.run, workflow_id_for(convention_id)
        )
        await handle.result()


async def _answered_tasks(client: Client, convention_id: str, *, wait: float) -> set[str | None]:
    """Tasks already closed (a resumed play skips them); waits for a follow-up to start.

    A task is closed once assigned and no longer open: its answer may have been accepted a
    moment before the stage records its `task_answered` milestone.
    """
    deadline = asyncio.get_running_loop().time() + wait
    while True:
        try:
            status = await convention_status(client, convention_id)
        except ConventionNotFound:
            if asyncio.get_running_loop().time() > deadline:
                raise
            await asyncio.sleep(0.1)
            continue
        still_open = {task.id for task in status.open_tasks}
        return {
            m.task_id
            for m in status.milestones
            if m.kind in (MilestoneKind.TASK_ASSIGNED, MilestoneKind.TASK_ANSWERED)
            and m.task_id not in still_open
        }


class PartnerDeskApi:
    """The partners' systems: each party answers through the desk's API with its own key."""

    def __init__(self, base_url: str, keys: dict[str, str]) -> None:
        self._http = httpx.AsyncClient(base_url=base_url, timeout=60)
        self._keys = keys

    async def answer(self, convention_id: str, step: ScriptedAnswer) -> None:
        """POST the scripted answer, idempotently (a resumed demo sends the same key)."""
        response = await self._http.post(
            f"/api/v1/tasks/{convention_id}/{step.task}/answer",
            json={"answer": step.answer, "actor": step.actor},
            headers={
                "authorization": f"Bearer {self._keys[step.acting_party]}",
                "idempotency-key": f"demo/{convention_id}/{step.task}",
            },
        )
        if response.status_code != 200:
            raise RuntimeError(
                f"the desk refused {step.acting_party}'s answer to {convention_id} {step.task}: "
                f"{response.status_code} {response.text}"
            )

    async def close(self) -> None:
        """Close the connections."""
        await self._http.aclose()
