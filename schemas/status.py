"""What a convention workflow takes, answers to a query, and returns."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import Field

from schemas.convention import Convention, ConventionKind, Officer
from schemas.milestones import Milestone
from schemas.officer_actions import ConventionLink, TerminateConvention
from schemas.reasons import ReasonFacts
from schemas.tasks import Task
from schemas.values import Frozen, Identifier


class ConventionState(StrEnum):
    """Where a convention's life stands."""

    ACTIVE = "active"
    COMPLETED = "completed"
    FAILED = "failed"
    TERMINATED = "terminated"


class ImplementationProgress(Frozen):
    """An implementation's running totals, carried across continue-as-new."""

    report_number: int = 1
    reached: list[str] = Field(default_factory=list)
    actuals: dict[str, float] = Field(default_factory=dict)
    cohorts_started: list[str] = Field(default_factory=list)
    cohorts_finished: list[str] = Field(default_factory=list)
    cancelled: list[str] = Field(default_factory=list, description="Planned milestones cancelled.")
    cohorts_cancelled: list[str] = Field(default_factory=list)


class StandingSignature(Frozen):
    """A signature given on one version of the text: it stands while the text is unchanged."""

    signatory: Identifier
    document: str = Field(description="The text it was given on: drafting run and version.")
    signed_by: str
    signed_at: datetime


class BoardState(Frozen):
    """Exactly what a run of the convention's task board carries to the next (continue-as-new).

    The board is rebuilt from it (`TaskBoard(convention, state=...)`) and hands it back
    (`TaskBoard.carried(stage_index)`); tests/test_board_state.py checks that every field
    survives the trip. What the board holds and does NOT carry is derived or belongs to one
    run: the current stage (entered again from `stage_index`), the next seq (the last
    milestone's plus one), the tasks closed in the run, answers (consumed before the run ends),
    answer checks (functions: the stage that assigns a task gives it its check), who a
    sequential signature waits for (the signature stage never continues as new), the ledger
    and the patches asked.
    """

    stage_index: int = Field(default=0, ge=0, description="The stage the next run resumes.")
    stage_attempts: dict[str, int] = Field(default_factory=dict)
    milestones: list[Milestone] = Field(
        default_factory=list,
        description="The most recent milestones (a bounded window; PostgreSQL has them all).",
    )
    open_tasks: list[Task] = Field(default_factory=list)
    links: list[ConventionLink] = Field(default_factory=list)
    implementation: ImplementationProgress | None = None
    runs: int = Field(default=1, ge=1, description="How many runs came before this one.")
    signatures: list[StandingSignature] = Field(default_factory=list)
    document: str | None = Field(default=None, description="The current text's version key.")
    changes: int = Field(
        default=0,
        ge=0,
        description=(
            "Officers' actions so far: they number the notifications of postponements and "
            "reassignments, which must not repeat an earlier run's."
        ),
    )
    termination: TerminateConvention | None = Field(
        default=None, description="A termination asked for and not yet carried out."
    )


class ConventionInput(Frozen):
    """The workflow's argument: the validated convention file, and where to resume."""

    convention: Convention
    resume: BoardState | None = None
    history_limit: int = Field(
        default=10_000,
        ge=50,
        description="Continue-as-new once the run's history has this many events.",
    )
    started_by: str | None = Field(
        default=None,
        max_length=200,
        description=(
            "Who pressed Start (the signed-in account, the command line's --officer): the "
            "actor of convention_started. None in runs started before it was recorded: the "
            "file's officer stands for them."
        ),
    )
    officer: Officer | None = Field(
        default=None,
        description=(
            "The responsible officer when an officer_changed milestone made it another than "
            "the file's `officer` (carried to the next run); None: the file's."
        ),
    )


class ConventionStatus(Frozen):
    """A convention as the workflow sees it now."""

    convention_id: Identifier
    title: str
    kind: ConventionKind
    parent: str | None
    state: ConventionState
    current_stage: str | None
    stages: list[str]
    open_tasks: list[Task] = Field(default_factory=list)
    milestones: list[Milestone] = Field(
        default_factory=list,
        description=(
            "The most recent milestones, at most MILESTONE_WINDOW of them, each with details "
            "over a few KB left out: the complete record is in PostgreSQL."
        ),
    )
    milestone_count: int = Field(default=0, description="Milestones recorded in all.")
    reason: str | None = None
    reason_facts: ReasonFacts | None = Field(
        default=None,
        description="Why it ended, as a code and its values (since typed-reasons).",
        exclude_if=lambda value: value is None,
    )
    origin: str | None = None
    links: list[ConventionLink] = Field(default_factory=list)
    indicators: dict[str, float] = Field(default_factory=dict)
    runs: int = Field(default=1, description="Runs of the workflow so far (continue-as-new).")
    officer: Officer | None = Field(
        default=None,
        description="The responsible officer now (the file's, or whom it was changed to).",
    )


class TaskLookup(Frozen):
    """One task as the workflow knows it, open or not, and why it cannot be answered."""

    task_id: str
    task: Task | None = Field(default=None, description="None: no such task in this run.")
    waiting_for: str | None = Field(
        default=None,
        description="A task not yet open: what it waits for (an earlier signatory…).",
    )
    open_task_ids: list[str] = Field(default_factory=list)
    convention_state: ConventionState = ConventionState.ACTIVE


class ConventionOutcome(Frozen):
    """The workflow's result."""

    convention_id: Identifier
    state: ConventionState
    reason: str | None = None
    reason_facts: ReasonFacts | None = Field(
        default=None,
        description="Why it ended, as a code and its values (since typed-reasons).",
        exclude_if=lambda value: value is None,
    )
    milestone_count: int
