"""The Bamako shape every benchmark plays: `examples/bamako-cooperation.yaml` without its
follow-up convention, its mission moved ahead, played with its scripted answers by the one
scenario player (`application.scenarios`), as partners answer through the CLI's path."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Sequence
from datetime import date, timedelta
from typing import Any

from temporalio.client import Client

from application.scenarios import TaskOpened, play
from benchmarks.worker import PACTE_QUEUE
from infra.settings import PROJECT_ROOT
from schemas.convention import Convention, DiagnosticStage, MissionStage
from schemas.convention_file import (
    AnswerScript,
    ScriptedAnswer,
    load_answer_script,
    load_convention,
)

BAMAKO_FILE = PROJECT_ROOT / "examples" / "bamako-cooperation.yaml"
BAMAKO_ANSWERS = PROJECT_ROOT / "examples" / "bamako-cooperation.answers.yaml"
MISSION_STARTS_IN_DAYS = 60


@functools.cache
def _bamako() -> Convention:
    return load_convention(BAMAKO_FILE)


def bamako_convention(convention_id: str, *, keep_dates: bool = False) -> Convention:
    """Bamako (mission, diagnostic, funding request) under a new id, without its follow-up.

    Unless keep_dates, the mission moves 60 days ahead (same length): with the file's 2023
    dates every task would be overdue at once, and escalations are not the nominal path.
    """
    stages = []
    for spec in _bamako().stages:
        if isinstance(spec, DiagnosticStage):
            spec = spec.model_copy(update={"follow_ups": []})
        elif isinstance(spec, MissionStage) and not keep_dates:
            starts = date.today() + timedelta(days=MISSION_STARTS_IN_DAYS)
            spec = spec.model_copy(
                update={"starts_on": starts, "ends_on": starts + (spec.ends_on - spec.starts_on)}
            )
        stages.append(spec)
    return _bamako().model_copy(update={"id": convention_id, "stages": stages})


@functools.cache
def bamako_answers() -> tuple[ScriptedAnswer, ...]:
    """The scripted answers of the convention itself (not of its follow-up)."""
    script = load_answer_script(BAMAKO_ANSWERS)
    return tuple(step for step in script.answers if step.follow_up is None)


async def play_convention(
    client: Client,
    convention: Convention,
    answers: Sequence[ScriptedAnswer],
    *,
    wait_seconds: float = 300.0,
    poll_seconds: float | None = None,
    task_opened: TaskOpened | None = None,
) -> None:
    """Start, answer every task as a partner would (the CLI's path), wait for the end.

    A fresh convention: no look for answers an earlier run gave. poll_seconds: an
    experiment, not the CLI's path: look for the open task every so many seconds instead of
    `find_task`'s doubling pauses (same task query, answer and update).
    """
    script = AnswerScript(convention=convention.id, answers=list(answers))
    await play(
        client,
        PACTE_QUEUE,
        convention,
        script,
        wait_seconds=wait_seconds,
        poll_every=poll_seconds,
        resume=False,
        task_opened=task_opened,
    )


async def run_bounded(
    jobs: Sequence[Callable[[], Any]],
    concurrency: int,
    *,
    progress: Callable[[int], None] | None = None,
) -> None:
    """Run the coroutine factories with at most `concurrency` at once."""
    gate = asyncio.Semaphore(concurrency)
    done = 0

    async def one(job: Callable[[], Any]) -> None:
        nonlocal done
        async with gate:
            await job()
        done += 1
        if progress is not None:
            progress(done)

    await asyncio.gather(*(one(job) for job in jobs))
