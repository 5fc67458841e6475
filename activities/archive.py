"""Archive closed convention runs before Temporal's retention deletes their histories.

Temporal cannot hand a workflow its own final history, so the archiving runs outside the
convention: the ArchiveSweepWorkflow (workflows/archive.py) calls `archive_closed_runs` on a
schedule, and `audit.py archive` runs the same code on demand. Each closed run is fetched
from Temporal and appended to the archive (records/archive_store.py) exactly once. A run that
fails is recorded in `archive_failures` and tried again by every later sweep; officers and
auditors see it until it is archived, so no run is skipped silently.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime

import asyncpg
from temporalio import activity
from temporalio.client import Client, WorkflowHistory
from temporalio.service import RPCError, RPCStatusCode

from records.archive_store import ArchiveStore, ArchiveUnavailable, NotArchivable, prepare_run
from records.history_events import closed_as
from schemas.archive import ArchiveBatchReport, ArchiveBatchRequest, ArchivedRun, ArchiveFailure
from schemas.contract import WORKFLOW_ID_PREFIX, workflow_id_for
from schemas.contract import WORKFLOW_TYPE as CONVENTION_WORKFLOW_TYPE
from storage.archive_failures import record_failure, resolve_failure

CLOSED_CONVENTION_RUNS = (
    f"WorkflowType = '{CONVENTION_WORKFLOW_TYPE}' AND ExecutionStatus != 'Running'"
)
"""Visibility query for every closed run of every convention (within retention)."""

_INFRASTRUCTURE_DOWN = {RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED}


@dataclass(frozen=True)
class ClosedRun:
    """A closed run listed by Temporal's visibility."""

    workflow_id: str
    run_id: str
    close_time: datetime | None

    @property
    def convention_id(self) -> str:
        """The convention the run belongs to (its workflow id less the prefix)."""
        return self.workflow_id.removeprefix(WORKFLOW_ID_PREFIX)


class Archiver:
    """Copies closed runs' histories from Temporal into the archive, each once."""

    def __init__(self, client: Client, pool: asyncpg.Pool, store: ArchiveStore) -> None:
        self._client = client
        self._pool = pool
        self._store = store

    @property
    def store(self) -> ArchiveStore:
        """Where the histories go."""
        return self._store

    @activity.defn
    async def archive_closed_runs(self, request: ArchiveBatchRequest) -> ArchiveBatchReport:
        """Archive the oldest closed runs not archived yet, at most `limit` of them.

        Idempotent: an archived run is never written twice, so a retried or repeated batch
        only finishes what an earlier one left. Raises (and Temporal retries it) when
        Temporal or the archive is down; a failure of one run is recorded and reported.
        """
        pending = await self.pending_runs()
        batch = pending[: request.limit]
        activity.logger.info("archive sweep", extra={"pending": len(pending), "batch": len(batch)})
        report = await self.archive_runs(batch, progress=activity.heartbeat)
        return report.model_copy(update={"more": len(pending) > len(batch)})

    async def pending_runs(self, query: str = CLOSED_CONVENTION_RUNS) -> list[ClosedRun]:
        """Closed convention runs Temporal still has and the archive lacks, oldest first."""
        listed: dict[tuple[str, str], ClosedRun] = {}
        async for execution in self._client.list_workflows(query):
            # A query may widen the search: only closed conventions are archived.
            if execution.workflow_type == CONVENTION_WORKFLOW_TYPE and execution.close_time:
                listed[(execution.id, execution.run_id)] = ClosedRun(
                    execution.id, execution.run_id, execution.close_time
                )
        archived = await self._store.archived(listed)
        return sorted(
            (run for key, run in listed.items() if key not in archived),
            key=lambda run: (run.close_time or datetime.min, run.workflow_id, run.run_id),
        )

    async def archive_runs(
        self, runs: Iterable[ClosedRun], progress: Callable[..., None] | None = None
    ) -> ArchiveBatchReport:
        """Fetch and archive each run; a run that fails is recorded and the others go on."""
        archived: list[ArchivedRun] = []
        failed: list[ArchiveFailure] = []
        for run in runs:
            try:
                history = await self._client.get_workflow_handle(
                    run.workflow_id, run_id=run.run_id
                ).fetch_history()
                archived.append(await self.archive_history(run.convention_id, history))
            except Exception as error:  # one run's failure must not stop the others
                if _infrastructure_down(error):
                    raise
                failed.append(await self._record_failure(run, error))
            if progress is not None:
                progress(len(archived) + len(failed))
        return ArchiveBatchReport(archived=archived, failed=failed)

    async def archive_history(self, convention_id: str, history: WorkflowHistory) -> ArchivedRun:
        """Archive one closed run's history (once); clears its failure record, if any."""
        workflow_id = workflow_id_for(convention_id)
        prepared = prepare_run(convention_id, workflow_id, history)
        entry, written = await self._store.add(prepared)
        await resolve_failure(self._pool, workflow_id, history.run_id)
        if written:
            # activity.logger also works outside an activity (`audit.py archive`).
            activity.logger.info(
                "run archived",
                extra={
                    "convention_id": convention_id,
                    "run_id": entry.run_id,
                    "seq": entry.seq,
                    "events": entry.events,
                    "stored_bytes": len(prepared.blob),
                },
            )
        return ArchivedRun(
            convention_id=convention_id,
            workflow_id=workflow_id,
            run_id=entry.run_id,
            seq=entry.seq,
            closed_as=entry.closed_as,
            events=entry.events,
            size_bytes=entry.size_bytes,
            stored_bytes=len(prepared.blob),
            newly_archived=written,
        )

    async def archive_closed(
        self, convention_id: str, runs: Iterable[WorkflowHistory]
    ) -> ArchiveBatchReport:
        """Archive every closed run among a convention's histories (`audit.py archive ID`)."""
        report = ArchiveBatchReport()
        for history in runs:
            if not history.events or closed_as(history.events[-1]) is None:
                continue  # still running: the sweep takes it once it closes
            run = ClosedRun(workflow_id_for(convention_id), history.run_id, None)
            try:
                archived = await self.archive_history(convention_id, history)
            except Exception as error:  # recorded and reported, as the sweep does
                if _infrastructure_down(error):
                    raise
                failure = await self._record_failure(run, error)
                report = report.model_copy(update={"failed": [*report.failed, failure]})
            else:
                report = report.model_copy(update={"archived": [*report.archived, archived]})
        return report

    async def _record_failure(self, run: ClosedRun, error: Exception) -> ArchiveFailure:
        reason = _one_line(error)
        failure = await record_failure(
            self._pool, run.workflow_id, run.run_id, run.convention_id, reason
        )
        activity.logger.warning(
            "run not archived",
            extra={
                "convention_id": run.convention_id,
                "run_id": run.run_id,
                "attempts": failure.attempts,
                "error": reason,
            },
        )
        return failure


def _infrastructure_down(error: Exception) -> bool:
    """Temporal or PostgreSQL unreachable: the whole batch fails and Temporal retries it."""
    if isinstance(error, RPCError):
        return error.status in _INFRASTRUCTURE_DOWN
    return isinstance(
        error,
        ArchiveUnavailable
        | asyncpg.PostgresConnectionError
        | asyncpg.InterfaceError
        | ConnectionError,
    )


def _one_line(error: Exception) -> str:
    if isinstance(error, RPCError) and error.status is RPCStatusCode.NOT_FOUND:
        return f"the history is gone from Temporal before it was archived: {error.message}"
    if isinstance(error, NotArchivable):
        return str(error)
    text = " ".join(str(error).split()) or type(error).__name__
    return f"{type(error).__name__}: {text}"[:500]
