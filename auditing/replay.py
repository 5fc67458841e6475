"""Replaying conventions' histories against the workflows of this code, with the SDK's Replayer.

The Replayer says *that* a history no longer replays and, in Temporal's words, *what* differs,
but not at which event. The first event the code no longer reproduces is found by replaying
ever shorter prefixes of the history (a bisection): only failures pay for it.
"""

from __future__ import annotations

import dataclasses
import re
from collections import deque
from collections.abc import AsyncIterable, AsyncIterator, Sequence

from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DataConverter, DefaultFailureConverter
from temporalio.runtime import Runtime
from temporalio.worker import Replayer, WorkflowRunner
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from auditing.decode import event_type_name
from auditing.histories import ConventionHistory
from schemas.audit import ReplayFailure, ReplayResult, RunReplay
from workflows.convention import ConventionWorkflow

WORKFLOWS: tuple[type, ...] = (ConventionWorkflow,)
"""Every workflow a Pacte worker runs: a history replays against the same definitions."""

# Core's failure text is a Rust debug dump; the message inside is the readable part.
_CORE_MESSAGE = re.compile(r'message: "((?:[^"\\]|\\.)*)"')
_CORE_CODE = re.compile(r"^\[(TMPRL\d+)\]\s*")


def build_replayer(
    workflows: Sequence[type] = WORKFLOWS,
    *,
    runtime: Runtime | None = None,
    workflow_runner: WorkflowRunner | None = None,
    data_converter: DataConverter = pydantic_data_converter,
) -> Replayer:
    """A Replayer with the worker's workflows and a data converter: the configured one
    (infra.temporal_client.data_converter) replays encrypted histories."""
    return Replayer(
        workflows=list(workflows),
        # A Replayer sends nothing to a server: the reason a history no longer replays needs
        # no encryption (the codec's encoded failure would only say "Encoded failure").
        data_converter=dataclasses.replace(
            data_converter, failure_converter_class=DefaultFailureConverter
        ),
        runtime=runtime,
        workflow_runner=workflow_runner or SandboxedWorkflowRunner(restrictions=REPLAY_SANDBOX),
    )


REPLAY_SANDBOX = SandboxRestrictions.default.with_passthrough_modules("email_validator", "idna")
"""The worker's sandbox (worker.STRICT_SANDBOX): the e-mail validator shared, as a history
with an officer's address (an officer change) validates one, without a warning each time."""


def describe_failure(error: Exception) -> tuple[str | None, str]:
    """Temporal's error code (if any) and the readable message of a replay failure."""
    text = str(error)
    found = _CORE_MESSAGE.search(text)
    message = found.group(1) if found else text.splitlines()[0] if text else type(error).__name__
    message = message.replace('\\"', '"').replace("\\n", " ").replace("\\\\", "\\")
    code_match = _CORE_CODE.match(message)
    code = code_match.group(1) if code_match else None
    if code_match:
        message = message[code_match.end() :]
    message = message.removeprefix("Nondeterminism error: ")
    if found is None or "Nondeterminism" in type(error).__name__:
        return code, message
    return code, f"workflow task failed: {message}"


async def first_failing_event(replayer: Replayer, history: WorkflowHistory) -> int | None:
    """The index of the first event whose prefix no longer replays (None if the whole does)."""
    events = list(history.events)
    low, high = 1, len(events)
    if not await _fails(replayer, history.workflow_id, events):
        return None
    # Invariant: the prefix of `high` events fails; every prefix shorter than `low` replays.
    while low < high:
        middle = (low + high) // 2
        if await _fails(replayer, history.workflow_id, events[:middle]):
            high = middle
        else:
            low = middle + 1
    return high - 1


async def _fails(replayer: Replayer, workflow_id: str, events: Sequence[HistoryEvent]) -> bool:
    result = await replayer.replay_workflow(
        WorkflowHistory(workflow_id, events),
        raise_on_replay_failure=False,
    )
    return result.replay_failure is not None


async def locate_failure(
    replayer: Replayer, history: WorkflowHistory, error: Exception
) -> ReplayFailure:
    """The failure of one run, with the first event the code no longer reproduces."""
    code, detail = describe_failure(error)
    index = await first_failing_event(replayer, history)
    event = history.events[index] if index is not None else None
    return ReplayFailure(
        run_id=history.run_id,
        event_id=event.event_id if event is not None else None,
        event_type=event_type_name(event) if event is not None else None,
        code=code,
        detail=detail,
    )


async def replay_conventions(
    conventions: AsyncIterable[ConventionHistory],
    workflows: Sequence[type] = WORKFLOWS,
    *,
    runtime: Runtime | None = None,
    workflow_runner: WorkflowRunner | None = None,
    data_converter: DataConverter = pydantic_data_converter,
) -> AsyncIterator[ReplayResult]:
    """Replay each convention whole (every run), yielding its result as soon as it is known.

    One Replayer session replays every run in turn; a failing run is then bisected, by a
    second Replayer, to name its first non-deterministic event.
    """
    replayer = build_replayer(
        workflows, runtime=runtime, workflow_runner=workflow_runner, data_converter=data_converter
    )
    bisector = build_replayer(
        workflows, runtime=runtime, workflow_runner=workflow_runner, data_converter=data_converter
    )
    pending: deque[ConventionHistory] = deque()

    async def every_run() -> AsyncIterator[WorkflowHistory]:
        async for convention in conventions:
            pending.append(convention)
            for run in convention.runs:
                yield run

    runs: list[RunReplay] = []
    async with replayer.workflow_replay_iterator(every_run()) as results:
        async for result in results:
            # The Replayer replays one history at a time, in the order it was given them.
            convention, history = pending[0], result.history
            failure = None
            if result.replay_failure is not None:
                failure = await locate_failure(bisector, history, result.replay_failure)
            runs.append(
                RunReplay(run_id=history.run_id, events=len(history.events), failure=failure)
            )
            if len(runs) == len(convention.runs):
                pending.popleft()
                yield ReplayResult(
                    convention_id=convention.convention_id,
                    workflow_id=convention.workflow_id,
                    source=convention.source,
                    runs=runs,
                )
                runs = []
