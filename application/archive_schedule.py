"""The Temporal Schedule that starts an archive sweep every few minutes.

Every worker makes sure it exists when it starts (several replicas may race: the loser finds
it created). A Schedule rather than a workflow sleeping in a loop: each sweep is a short
workflow of its own, so changing the sweep's code never has to replay a long history, and
operators get Temporal's own controls — `temporal schedule trigger` (sweep now), `pause`,
`describe` (the recent sweeps and their outcome) — and its Web UI page.
"""

from __future__ import annotations

from datetime import timedelta

import structlog
from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
    ScheduleState,
    ScheduleUpdate,
    ScheduleUpdateInput,
)

from schemas.archive import ArchiveSweepRequest
from workflows.archive import ArchiveSweepWorkflow

ARCHIVE_SCHEDULE_ID = "pacte-archive-sweep"
ARCHIVE_SWEEP_WORKFLOW_ID = "pacte-archive-sweep"  # Temporal appends each start's time

log = structlog.get_logger(__name__)


def archive_schedule(task_queue: str, every: timedelta, workflow_id: str) -> Schedule:
    """A sweep every `every`, never two at once, no catching up on missed ones but the last."""
    return Schedule(
        action=ScheduleActionStartWorkflow(
            ArchiveSweepWorkflow.run,
            ArchiveSweepRequest(),
            id=workflow_id,
            task_queue=task_queue,
        ),
        spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=every)]),
        # One sweep covers everything not archived: missed ones need no replay.
        policy=SchedulePolicy(
            overlap=ScheduleOverlapPolicy.SKIP, catchup_window=max(every, timedelta(minutes=1))
        ),
        state=ScheduleState(
            note="Pacte: archive closed conventions' histories before retention deletes them"
        ),
    )


async def ensure_archive_schedule(
    client: Client,
    task_queue: str,
    every: timedelta,
    *,
    schedule_id: str = ARCHIVE_SCHEDULE_ID,
    workflow_id: str = ARCHIVE_SWEEP_WORKFLOW_ID,
) -> None:
    """Create the schedule (sweeping at once), or bring an existing one to these settings."""
    wanted = archive_schedule(task_queue, every, workflow_id)
    try:
        await client.create_schedule(schedule_id, wanted, trigger_immediately=True)
        log.info("archive schedule created", schedule_id=schedule_id, every=str(every))
        return
    except ScheduleAlreadyRunningError:
        pass
    handle = client.get_schedule_handle(schedule_id)

    def to_wanted(current: ScheduleUpdateInput) -> ScheduleUpdate | None:
        schedule = current.description.schedule
        action = schedule.action
        if (
            schedule.spec.intervals == wanted.spec.intervals
            and isinstance(action, ScheduleActionStartWorkflow)
            and action.task_queue == task_queue
            and action.workflow == "ArchiveSweepWorkflow"
            and action.id == workflow_id
        ):
            return None  # as wanted: leave it (and its paused state, if an operator paused it)
        return ScheduleUpdate(
            schedule=Schedule(
                action=wanted.action, spec=wanted.spec, policy=wanted.policy, state=schedule.state
            )
        )

    await handle.update(to_wanted)
    log.info("archive schedule checked", schedule_id=schedule_id, every=str(every))
