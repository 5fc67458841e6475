"""A convention's page on the office desk: the workflow's status, the read model's row, its
linked conventions, its deliveries, its archived runs and its latest milestones."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import asyncpg
from temporalio.client import Client

from application.conventions import ConventionNotFound, ConventionUnreadable, convention_status
from application.errors import NotFound
from schemas.milestones import Milestone
from schemas.status import ConventionState, ConventionStatus
from storage import convention_overview as stored
from storage.milestones import recorded_timeline

TIMELINE_SHOWN = 500
"""Milestones on a convention's page, the latest; the auditors' timeline has them all."""


@dataclass(frozen=True)
class ConventionOverview:
    """What the convention's page shows; `can_terminate` and `can_act` say what the reader
    may do there, so the page decides nothing itself."""

    timeline: list[Milestone]
    timeline_total: int
    row: dict[str, Any] | None
    status: ConventionStatus | None
    children: list[dict[str, Any]]
    deliveries: list[dict[str, Any]]
    archived_runs: int
    can_act: bool

    @property
    def active(self) -> bool:
        """The workflow answers and the convention is still running."""
        return self.status is not None and self.status.state is ConventionState.ACTIVE

    @property
    def can_open_tasks(self) -> bool:
        """The reader may open a task's form to answer it on the party's behalf."""
        return self.can_act

    @property
    def can_postpone(self) -> bool:
        """The reader may postpone a task's deadline: an officer, the convention running."""
        return self.can_act and self.active

    @property
    def can_reassign(self) -> bool:
        """The reader may reassign a task: an officer, the convention running."""
        return self.can_act and self.active

    @property
    def can_answer(self) -> bool:
        """The reader may answer on a party's behalf: an officer, the convention running."""
        return self.can_act and self.active

    @property
    def can_terminate(self) -> bool:
        """The reader may terminate the convention: an officer, the convention running."""
        return self.can_act and self.active

    @property
    def any_action(self) -> bool:
        """Whether the page offers the reader any action."""
        return self.can_postpone or self.can_reassign or self.can_answer or self.can_terminate


async def convention_overview(
    pool: asyncpg.Pool, client: Client, convention_id: str, *, can_act: bool
) -> ConventionOverview:
    """The convention's page; NotFound if neither Temporal nor the read model knows it."""
    row = await stored.convention_row(pool, convention_id)
    try:
        status: ConventionStatus | None = await convention_status(
            client, convention_id, rpc_timeout=timedelta(seconds=10)
        )
    except ConventionNotFound as error:
        if row is None:
            raise NotFound(f"no convention {convention_id!r}") from error
        status = None
    except ConventionUnreadable:
        status = None
    # The timeline is PostgreSQL's (the workflow keeps only its latest milestones).
    recorded = await recorded_timeline(pool, convention_id, last=TIMELINE_SHOWN)
    timeline = recorded.with_unwritten(status.milestones if status is not None else [])
    return ConventionOverview(
        timeline=timeline.milestones[-TIMELINE_SHOWN:],
        timeline_total=timeline.total,
        row=row,
        status=status,
        children=await stored.children(pool, convention_id),
        deliveries=await stored.deliveries(pool, convention_id),
        archived_runs=await stored.archived_runs(pool, convention_id),
        can_act=can_act,
    )
