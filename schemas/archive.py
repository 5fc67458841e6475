"""The archive of closed runs' histories: what the sweep is asked, what it reports, what
`verify` finds wrong with an archived entry.

Temporal deletes a closed run's history once the namespace's retention has passed; the
archive keeps it for as long as auditors may ask. These models are the sweep's activity
payloads and the auditors' output, so each field says what it means.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import Field

from schemas.values import Frozen


class RunClose(StrEnum):
    """How a workflow run closed: its history's last event."""

    COMPLETED = "completed"
    FAILED = "failed"
    TIMED_OUT = "timed_out"
    CANCELED = "canceled"
    TERMINATED = "terminated"
    CONTINUED_AS_NEW = "continued_as_new"


class ArchiveBatchRequest(Frozen):
    """One activity's worth of archiving: the oldest closed runs not archived yet."""

    limit: int = Field(default=100, ge=1, le=10_000, description="Runs archived at most.")


class ArchiveSweepRequest(Frozen):
    """One sweep: batches until every closed run is archived, or the batches run out."""

    batch_size: int = Field(default=100, ge=1, le=10_000, description="Runs per activity.")
    max_batches: int = Field(
        default=50,
        ge=1,
        le=1_000,
        description="Batches per sweep at most; the next sweep carries on with the rest.",
    )


class ArchivedRun(Frozen):
    """One workflow run whose history is in the archive."""

    convention_id: str
    workflow_id: str
    run_id: str
    seq: int = Field(description="The entry's place in the convention's archive chain.")
    closed_as: RunClose = Field(description="How the run closed.")
    events: int = Field(description="Events in the run's history.")
    size_bytes: int = Field(description="The history's JSON, uncompressed.")
    stored_bytes: int = Field(description="The history as stored, compressed.")
    newly_archived: bool = Field(description="False when the run was archived already.")


class ArchiveFailure(Frozen):
    """A closed run that could not be archived yet; every sweep tries it again."""

    convention_id: str
    workflow_id: str
    run_id: str
    attempts: int = Field(description="Sweeps (or on-demand runs) that tried and failed.")
    first_failed_at: datetime
    last_failed_at: datetime
    error: str = Field(description="The last attempt's error, one line.")


class ArchiveBatchReport(Frozen):
    """What one archiving activity did."""

    archived: list[ArchivedRun] = Field(default_factory=list)
    failed: list[ArchiveFailure] = Field(default_factory=list)
    more: bool = Field(default=False, description="Closed runs remain beyond this batch.")


class ArchiveSweepReport(Frozen):
    """What one sweep did, summed over its batches (a workflow's result: kept small)."""

    archived: int = Field(default=0, description="Runs newly archived.")
    stored_bytes: int = Field(default=0, description="Compressed bytes written.")
    size_bytes: int = Field(default=0, description="Uncompressed JSON bytes archived.")
    failed: list[ArchiveFailure] = Field(
        default_factory=list, description="Runs that could not be archived in this sweep."
    )
    more: bool = Field(default=False, description="Closed runs left for the next sweep.")

    def plus(self, batch: ArchiveBatchReport) -> ArchiveSweepReport:
        """This report with one more batch added."""
        new = [run for run in batch.archived if run.newly_archived]
        return ArchiveSweepReport(
            archived=self.archived + len(new),
            stored_bytes=self.stored_bytes + sum(run.stored_bytes for run in new),
            size_bytes=self.size_bytes + sum(run.size_bytes for run in new),
            failed=[*self.failed, *batch.failed],
            more=batch.more,
        )


class ArchiveProblem(StrEnum):
    """How an archived entry disagrees with its hash, its chain, its content or Temporal."""

    ENTRY_MISSING = "entry_missing"
    ENTRY_UNREADABLE = "entry_unreadable"
    HASH_MISMATCH = "hash_mismatch"
    CHAIN_BROKEN = "chain_broken"
    CONTENT_ALTERED = "content_altered"
    CONTENT_MISSING = "content_missing"
    ENTRY_DISAGREES = "entry_disagrees"
    DIFFERS_FROM_TEMPORAL = "differs_from_temporal"
    DUPLICATE_RUN = "duplicate_run"
    RUN_LOST = "run_lost"
    NOT_ARCHIVED = "not_archived"


class ArchiveFinding(Frozen):
    """One problem with one archive entry (or one run the archive should hold)."""

    convention_id: str
    seq: int | None = Field(description="The archive entry's seq (None when there is none).")
    run_id: str | None = Field(default=None, description="The run concerned, when known.")
    problem: ArchiveProblem
    message: str = Field(description="One readable line.")


class ArchiveCheck(Frozen):
    """A convention's archive entries checked: their hashes, their chain, their content."""

    source: str = Field(description="The archive checked.")
    entries: int = Field(description="Entries of this convention in the archive.")
    pending_runs: list[str] = Field(
        default_factory=list,
        description="Closed runs still in Temporal, not archived yet, with no failure so far.",
    )
    findings: list[ArchiveFinding] = Field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Every entry intact and chained; nothing lost, nothing failing to archive."""
        return not self.findings
