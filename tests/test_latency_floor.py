"""The answer-latency benchmark's floor writes what a Pacte answer writes.

`benchmarks/answer_latency.py` divides Pacte's answer latency by `BareRecorder`'s to say what
is left to Pacte's own code: that ratio means something only while the recorder's answer
task writes the same commands as Pacte's (beside the update's own events). This test reads
both histories and fails when either side changes what an answer writes.
"""

from __future__ import annotations

import uuid
from collections import Counter

from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import Client
from temporalio.worker import Worker

from benchmarks.bamako import bamako_answers
from benchmarks.bare_workflows import BareRecorder, bare_step
from benchmarks.histories import wait_idle
from tests.conftest import IdleAnsweredConvention

_NOT_COMMANDS = {
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED,
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_COMPLETED,
}
# Events that come from outside a workflow task's completion: they end its commands.
_NEXT_INPUT = {
    EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED,
    EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED,
    EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED,
    EventType.EVENT_TYPE_TIMER_FIRED,
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED,
}


def answer_task_commands(events: list[HistoryEvent]) -> list[tuple[str, ...]]:
    """For each accepted update, what its workflow task's completion wrote beside it."""
    written = []
    for index, event in enumerate(events):
        if event.event_type != EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED:
            continue
        start = max(
            i
            for i in range(index)
            if events[i].event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED
        )
        kinds = []
        for later in events[start + 1 :]:
            if later.event_type in _NEXT_INPUT:
                break
            if later.event_type not in _NOT_COMMANDS:
                kinds.append(EventType.Name(later.event_type).removeprefix("EVENT_TYPE_"))
        written.append(tuple(sorted(kinds)))
    return written


async def test_the_recorder_answer_writes_what_most_pacte_answers_write(
    client: Client, idle_answered_bamako: IdleAnsweredConvention
) -> None:
    pacte = Counter(answer_task_commands(idle_answered_bamako.events))
    assert sum(pacte.values()) == len(bamako_answers())
    usual, count = pacte.most_common(1)[0]
    assert usual == ("ACTIVITY_TASK_SCHEDULED", "TIMER_CANCELED")
    assert count >= len(bamako_answers()) * 3 // 4, pacte
    # The others write more (a new reminder timer), never less.
    assert all(set(usual) <= set(written) for written in pacte), pacte

    queue = f"latency-floor-{uuid.uuid4().hex[:8]}"
    async with Worker(client, task_queue=queue, workflows=[BareRecorder], activities=[bare_step]):
        recorder = await client.start_workflow(
            BareRecorder.run, True, id=f"{queue}-recorder", task_queue=queue
        )
        for number in range(3):
            await wait_idle(recorder)
            await recorder.execute_update(BareRecorder.answer, {"task_id": f"t{number}"})
        await wait_idle(recorder)
        await recorder.signal(BareRecorder.finish)
        assert await recorder.result() == 3
    written = answer_task_commands(list((await recorder.fetch_history()).events))
    assert written == [usual] * 3
