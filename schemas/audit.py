"""What the auditors' commands report: replays, timelines, verifications, exports.

Every model here is output: it is printed as JSON (or rendered) for a person or a program
that checks a convention's record, so each field says what it means.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import Field

from schemas.archive import ArchiveCheck, RunClose
from schemas.values import Frozen


class EventOutcome(StrEnum):
    """How an activity, or an update, the workflow started ended in its history."""

    COMPLETED = "completed"
    FAILED = "failed"
    TIMED_OUT = "timed_out"
    CANCELED = "canceled"


class StageOutcome(StrEnum):
    """How the convention left a stage, or that it is still in it."""

    COMPLETED = "completed"
    FAILED = "failed"
    TERMINATED = "terminated"
    RUNNING = "running"


class ReplayFailure(Frozen):
    """Where a history stops agreeing with today's code, and how."""

    run_id: str = Field(description="The run whose history did not replay.")
    event_id: int | None = Field(
        description="The first history event the code no longer reproduces (None if unknown)."
    )
    event_type: str | None = Field(description="That event's type, e.g. ActivityTaskScheduled.")
    code: str | None = Field(
        default=None, description="Temporal's error code when it gives one, e.g. TMPRL1100."
    )
    detail: str = Field(description="What differs, in Temporal's words.")


class RunReplay(Frozen):
    """One run of a convention's workflow, replayed."""

    run_id: str
    events: int = Field(description="Number of events in the run's history.")
    failure: ReplayFailure | None = None


class ReplayResult(Frozen):
    """A convention replayed whole: every run of its workflow, continue-as-new included."""

    convention_id: str
    workflow_id: str
    source: str = Field(description="Where the histories came from: a server or files.")
    runs: list[RunReplay]

    @property
    def ok(self) -> bool:
        """Every run replayed without a failure."""
        return all(run.failure is None for run in self.runs)

    @property
    def first_failure(self) -> ReplayFailure | None:
        """The earliest failing run's failure, if any."""
        return next((run.failure for run in self.runs if run.failure is not None), None)


class TimelineEvent(StrEnum):
    """What a person reads on a line of the timeline."""

    CONVENTION_STARTED = "convention_started"
    STAGE_ENTERED = "stage_entered"
    STAGE_LEFT = "stage_left"
    TASK_ASSIGNED = "task_assigned"
    TASK_ANSWERED = "task_answered"
    ANSWER_FAILED = "answer_failed"
    TASK_REMINDED = "task_reminded"
    TASK_OVERDUE = "task_overdue"
    TASK_ESCALATED = "task_escalated"
    TASK_CANCELLED = "task_cancelled"
    OFFICER_ACTION = "officer_action"
    NOTIFIED = "notified"
    NOTIFICATION_DELIVERED = "notification_delivered"
    DELIVERY_FAILED = "delivery_failed"
    MILESTONE = "milestone"
    CONVENTION_COMPLETED = "convention_completed"
    CONVENTION_FAILED = "convention_failed"
    CONVENTION_TERMINATED = "convention_terminated"
    RUN_CONTINUED = "run_continued"
    RUN_CLOSED = "run_closed"


class TimelineEntry(Frozen):
    """One event that matters to a person, read from the workflow's history."""

    at: datetime = Field(description="When it happened, on the workflow's clock.")
    event: TimelineEvent
    stage: str | None = None
    task_id: str | None = None
    party: str | None = Field(default=None, description="The party that acted, owes or is told.")
    actor: str | None = Field(default=None, description="The person who acted, when named.")
    summary: str = Field(
        default="",
        description=(
            "The line in English, as the history reader writes it for logs and older readers; "
            "what a person reads is rendered from the event, the fields and the details "
            "(rendering.timeline), and the JSON form leaves it out."
        ),
    )
    milestone_seq: int | None = Field(
        default=None, description="The milestone's seq when the line records a milestone."
    )
    milestone_kind: str | None = Field(default=None, description="The milestone's kind, if any.")
    run_id: str = Field(description="The run whose history holds the event.")
    event_id: int = Field(description="The history event the line comes from.")
    details: dict[str, Any] = Field(
        default_factory=dict, description="The decoded payload: an answer, a milestone's details."
    )


class StageSpan(Frozen):
    """One stay of the convention in a stage, from entered to left (None while it runs).

    A stage entered again (a failure path leading back to it) has one span per stay.
    """

    stage: str
    entered_at: datetime
    left_at: datetime | None
    outcome: StageOutcome


class Timeline(Frozen):
    """A convention's timeline, with the stays in each of its stages."""

    convention_id: str
    workflow_id: str
    title: str | None
    titles: dict[str, str] = Field(
        default_factory=dict,
        description="The title in each language the file gave it in (empty: only `title`).",
    )
    party_names: dict[str, str] = Field(
        default_factory=dict,
        description="Each party's name as the convention file wrote it, by id (the directory's "
        "names, in the reader's language, come first where it holds them).",
    )
    party_names_in: dict[str, dict[str, str]] = Field(
        default_factory=dict,
        description="Each party's name in each language the file gave it in (`name: {fr: …, "
        "ar: …}`), by id; a party named in one language is not in it.",
    )
    source: str
    stages: list[str] = Field(description="The declared stages in order, then any other seen.")
    spans: list[StageSpan]
    entries: list[TimelineEntry]


class VerifyProblem(StrEnum):
    """How PostgreSQL's record of a milestone disagrees with the history or with its chain."""

    MISSING = "missing"
    EXTRA = "extra"
    DIFFERENT = "different"
    HASH_MISMATCH = "hash_mismatch"
    CHAIN_BROKEN = "chain_broken"
    UNCHAINED = "unchained"
    NO_HISTORY = "no_history"
    ANCHOR_BROKEN = "anchor_broken"


class VerifyFinding(Frozen):
    """One problem with one milestone row, named by convention, seq and field."""

    convention_id: str
    seq: int | None = Field(description="The milestone's seq (None for the whole convention).")
    problem: VerifyProblem
    field: str | None = Field(default=None, description="The column that differs, if one does.")
    expected: Any = Field(default=None, description="What the history (or the chain) says.")
    found: Any = Field(default=None, description="What PostgreSQL holds.")
    message: str = Field(description="One readable line.")


class VerifyReport(Frozen):
    """A convention's milestones in PostgreSQL checked against its history and its hash chain."""

    convention_id: str
    source: str
    history_milestones: int = Field(description="Milestones the history says were persisted.")
    pending_milestones: int = Field(
        default=0, description="Milestones scheduled in the history but not yet persisted."
    )
    rows: int = Field(description="Rows of this convention in PostgreSQL.")
    findings: list[VerifyFinding] = Field(default_factory=list)
    archive: ArchiveCheck | None = Field(
        default=None,
        description="The convention's archived histories checked (None: the archive not read).",
    )
    anchors: int = Field(
        default=0,
        description="Timestamp tokens over the chain's heads, checked (any problem "
        "is an anchor_broken finding).",
    )

    @property
    def ok(self) -> bool:
        """Nothing missing, extra or different, the chain intact, and so is the archive."""
        return not self.findings and (self.archive is None or self.archive.ok)


class ExportedRun(Frozen):
    """One run's history file, written by `export`."""

    run_id: str
    file: str = Field(description="The file name, relative to the manifest.")
    sha256: str = Field(description="SHA-256 of the file, lowercase hex.")
    events: int
    started_at: datetime | None
    closed_as: RunClose | None = Field(description="How the run closed, None while it runs.")


class ExportManifest(Frozen):
    """What `export` wrote for one convention: every run, in order, with its hash."""

    convention_id: str
    workflow_id: str
    source: str
    exported_at: datetime
    runs: list[ExportedRun]
