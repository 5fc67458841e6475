"""What a convention workflow takes, answers to a query, and returns."""

from __future__ import annotations

from enum import StrEnum

from pydantic import Field

from schemas.convention import Convention
from schemas.milestones import Milestone
from schemas.tasks import Task
from schemas.values import Frozen, Identifier


class ConventionState(StrEnum):
    """Where a convention's life stands."""

    ACTIVE = "active"
    COMPLETED = "completed"
    FAILED = "failed"


class ConventionInput(Frozen):
    """The workflow's argument: the validated convention file."""

    convention: Convention


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


class ConventionOutcome(Frozen):
    """The workflow's result."""

    convention_id: Identifier
    state: ConventionState
    reason: str | None = None
    milestone_count: int
