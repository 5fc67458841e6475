"""ArchiveSweepWorkflow: copy every closed convention run into the archive, batch by batch.

A Temporal Schedule starts one sweep every PACTE_ARCHIVE_EVERY_SECONDS (the worker creates it,
see application/archive_schedule.py); one sweep is a handful of activity calls, so it never needs
continue-as-new and a change to this code never meets an old, long history. A sweep still
running when the next is due makes the schedule skip that one.

A run that could not be archived is recorded by the activity and tried again by the next
sweep; the sweep then fails, so the Web UI and the schedule's recent actions show it too.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.archive import Archiver
    from schemas.archive import ArchiveBatchRequest, ArchiveSweepReport, ArchiveSweepRequest

# Temporal or the archive down: retry for a few minutes; the next sweep comes anyway.
ARCHIVE_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=5),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=1),
    maximum_attempts=5,
)
# A batch fetches and compresses up to batch_size histories; it heartbeats after each one.
ARCHIVE_BATCH_TIMEOUT = timedelta(minutes=10)
ARCHIVE_HEARTBEAT = timedelta(minutes=1)


@workflow.defn
class ArchiveSweepWorkflow:
    """Archive the closed runs not archived yet; fail, listing them, if some could not be."""

    @workflow.run
    async def run(self, request: ArchiveSweepRequest) -> ArchiveSweepReport:
        """Batch after batch until nothing is left or the sweep's batches run out."""
        report = ArchiveSweepReport()
        for _ in range(request.max_batches):
            batch = await workflow.execute_activity_method(
                Archiver.archive_closed_runs,
                ArchiveBatchRequest(limit=request.batch_size),
                start_to_close_timeout=ARCHIVE_BATCH_TIMEOUT,
                heartbeat_timeout=ARCHIVE_HEARTBEAT,
                retry_policy=ARCHIVE_RETRY,
            )
            report = report.plus(batch)
            if not batch.more:
                break
        if report.failed:
            raise ApplicationError(
                f"{len(report.failed)} closed run(s) not archived, retried by the next sweep: "
                + "; ".join(f"{f.workflow_id} run {f.run_id}: {f.error}" for f in report.failed)[
                    :2000
                ],
                report,
                type="RunsNotArchived",
                non_retryable=True,
            )
        return report
