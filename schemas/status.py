"""What a convention workflow takes, answers to a query, and returns."""

from __future__ import annotations

from enum import StrEnum

from pydantic import Field

from schemas.convention import Convention
from schemas.milestones import Milestone
from schemas.officer_actions import ConventionLink
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


class ResumeState(Frozen):
    """Everything a new run needs to carry on where the previous one continued-as-new."""

    stage_index: int
    stage_attempts: dict[str, int]
    milestones: list[Milestone]
    open_tasks: list[Task]
    links: list[ConventionLink] = Field(default_factory=list)
    implementation: ImplementationProgress | None = None
    runs: int = Field(default=1, ge=1, description="How many runs came before this one.")


class ConventionInput(Frozen):
    """The workflow's argument: the validated convention file, and where to resume."""

    convention: Convention
    resume: ResumeState | None = None
    history_limit: int = Field(
        default=10_000,
        ge=50,
        description="Continue-as-new once the run's history has this many events.",
    )


class ConventionStatus(Frozen):
    """A convention as the workflow sees it now."""

    convention_id: Identifier
    title: str
    kind: str
    parent: str | None
    state: ConventionState
    current_stage: str | None
    stages: list[str]
    open_tasks: list[Task] = Field(default_factory=list)
    milestones: list[Milestone] = Field(default_factory=list)
    reason: str | None = None
    origin: str | None = None
    links: list[ConventionLink] = Field(default_factory=list)
    indicators: dict[str, float] = Field(default_factory=dict)
    runs: int = Field(default=1, description="Runs of the workflow so far (continue-as-new).")


class ConventionOutcome(Frozen):
    """The workflow's result."""

    convention_id: Identifier
    state: ConventionState
    reason: str | None = None
    milestone_count: int
