"""The portfolio's read model's SQL: one `conventions` row per convention and one
`office_tasks` row per task, kept current from the milestones, in the transaction that writes
them.

`projection` is a pure mapping from one milestone to the change it makes (unit-tested in
milliseconds); `project` applies a list of them in seq order. Each convention row remembers
the last seq it applied, so projecting a milestone again (a retried activity, the batched
writer after the single one) changes nothing. The static facts no milestone carries (title,
countries, sector) come from `convention_files`, written once by `start_convention`; either
may land first, and both fill the row from the other. An answer's words (comments, a
refusal's reason) join its convention's search row (`convention_search`, migration 027), and
so do the record's own (findings, outcomes, the officer's reasons: migration 032).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import asyncpg
import structlog

from schemas.convention import Convention
from schemas.milestone_details import (
    CohortCancelledDetails,
    CohortFinishedDetails,
    CohortStartedDetails,
    ConventionStartedDetails,
    DeadlinePostponedDetails,
    FundingDecidedDetails,
    FundingRequestedDetails,
    FundingRequestRevisedDetails,
    OfficerChangedDetails,
    ProgressReportedDetails,
    TaskAssignedDetails,
    details_as,
)
from schemas.milestones import Milestone, MilestoneKind
from schemas.values import Money

log = structlog.get_logger("pacte.read_model")

_ENDINGS = {
    MilestoneKind.CONVENTION_COMPLETED: "completed",
    MilestoneKind.CONVENTION_FAILED: "failed",
    MilestoneKind.CONVENTION_TERMINATED: "terminated",
}
_TASK_STATES = {
    MilestoneKind.TASK_ANSWERED: "answered",
    MilestoneKind.TASK_CANCELLED: "cancelled",
}
_ESCALATION = re.compile(r"^escalation\.(?P<task>.+?)(?:\.r\d+)?$")


@dataclass(frozen=True)
class ConventionChange:
    """The columns one milestone sets on its convention's row (None: left as it is)."""

    kind: str | None = None
    parent: str | None = None
    stage: str | None = None
    state: str | None = None
    funder: str | None = None
    currency: str | None = None
    requested: Decimal | None = None
    granted: Decimal | None = None
    granted_currency: str | None = None
    decision: str | None = None
    targets: dict[str, Any] | None = None
    actuals: dict[str, Any] | None = None
    spent: Decimal | None = None
    spent_currency: str | None = None
    budget: Decimal | None = None
    budget_currency: str | None = None
    cohort: tuple[str, dict[str, Any]] | None = None
    """One cohort's figures, merged into the row's `cohorts` under its id."""
    officer: tuple[str, str | None] | None = None
    """The responsible officer from now on (name, address): `convention_search`'s."""


@dataclass(frozen=True)
class TaskChange:
    """What one milestone says of one task (None: left as it is)."""

    task_id: str
    kind: str | None = None
    party: str | None = None
    stage: str | None = None
    due_at: datetime | None = None
    state: str | None = None
    overdue: bool | None = None
    escalated: bool | None = None


@dataclass(frozen=True)
class Projection:
    """The change one milestone makes to the read model."""

    convention: ConventionChange = field(default_factory=ConventionChange)
    tasks: tuple[TaskChange, ...] = ()


def _money(money: Money | None) -> tuple[Decimal | None, str | None]:
    if money is None:
        return None, None
    # Plain digits (pydantic may write 4E+7): the tables and CSV show amounts as written.
    return Decimal(format(money.amount, "f")), money.currency.value


def projection(milestone: Milestone) -> Projection:
    """The read model's change for one milestone: a pure mapping of its kind and details.

    Details that do not read as their kind's (milestone_details) change nothing of what they
    would say: the milestone still moves the stage, the state and its task.
    """
    kind, stage = milestone.kind, milestone.stage
    if kind is MilestoneKind.CONVENTION_STARTED:
        started = details_as(milestone, ConventionStartedDetails)
        return Projection(
            ConventionChange(
                kind=started.kind if started else None,
                parent=started.parent if started else None,
                stage=stage,
                state="active",
            )
        )
    if kind is MilestoneKind.STAGE_ENTERED:
        return Projection(ConventionChange(stage=stage))
    if kind in _ENDINGS:
        return Projection(ConventionChange(state=_ENDINGS[kind]))
    if kind in (MilestoneKind.FUNDING_REQUESTED, MilestoneKind.FUNDING_REQUEST_REVISED):
        request = details_as(milestone, FundingRequestedDetails) or details_as(
            milestone, FundingRequestRevisedDetails
        )
        requested, currency = _money(request.requested if request else None)
        return Projection(
            ConventionChange(
                funder=request.funder if isinstance(request, FundingRequestedDetails) else None,
                requested=requested,
                currency=currency,
                # A revised request waits for a new decision.
                decision="pending",
            )
        )
    if kind is MilestoneKind.FUNDING_DECIDED:
        decided = details_as(milestone, FundingDecidedDetails)
        granted, granted_currency = _money(decided.granted if decided else None)
        requested, currency = _money(decided.requested if decided else None)
        return Projection(
            ConventionChange(
                decision=decided.decision if decided else None,
                granted=granted,
                granted_currency=granted_currency,
                requested=requested,
                currency=currency,
            )
        )
    if kind is MilestoneKind.PROGRESS_REPORTED:
        report = details_as(milestone, ProgressReportedDetails)
        spent, spent_currency = _money(report.spent if report else None)
        budget, budget_currency = _money(report.budget if report else None)
        return Projection(
            ConventionChange(
                targets=dict(report.targets) if report and report.targets else None,
                actuals=dict(report.totals) if report and report.totals else None,
                spent=spent,
                spent_currency=spent_currency,
                budget=budget,
                budget_currency=budget_currency,
            )
        )
    if kind in (
        MilestoneKind.COHORT_STARTED,
        MilestoneKind.COHORT_FINISHED,
        MilestoneKind.COHORT_CANCELLED,
    ):
        cohort = _cohort(milestone)
        return Projection(ConventionChange(cohort=cohort) if cohort else ConventionChange())
    if kind is MilestoneKind.OFFICER_CHANGED:
        changed = details_as(milestone, OfficerChangedDetails)
        return Projection(
            ConventionChange(officer=(changed.to.name, changed.to.email) if changed else None)
        )
    task = _task_change(milestone)
    return Projection(tasks=task)


def _cohort(milestone: Milestone) -> tuple[str, dict[str, Any]] | None:
    if started := details_as(milestone, CohortStartedDetails):
        return started.id, {"enrolled": started.trainees, "state": "started"}
    if finished := details_as(milestone, CohortFinishedDetails):
        return finished.id, {
            "completed": finished.trainees,
            "certified": finished.graduates,
            "state": "finished",
        }
    if cancelled := details_as(milestone, CohortCancelledDetails):
        return cancelled.cohort, {"state": "cancelled"}
    return None


def _task_change(milestone: Milestone) -> tuple[TaskChange, ...]:
    kind, task_id = milestone.kind, milestone.task_id
    if task_id is None:
        return ()
    if kind is MilestoneKind.TASK_ASSIGNED:
        details = details_as(milestone, TaskAssignedDetails)
        assigned = TaskChange(
            task_id=task_id,
            kind=details.kind if details else None,
            party=milestone.party,
            stage=milestone.stage,
            due_at=details.due_at if details else None,
            state="open",
            overdue=False,
            escalated=False,
        )
        escalation = _ESCALATION.match(task_id)
        if details is not None and details.escalation and escalation:
            return (assigned, TaskChange(task_id=escalation["task"], escalated=True))
        return (assigned,)
    if kind in _TASK_STATES:
        return (TaskChange(task_id=task_id, state=_TASK_STATES[kind]),)
    if kind is MilestoneKind.TASK_OVERDUE:
        return (TaskChange(task_id=task_id, overdue=True),)
    if kind is MilestoneKind.DEADLINE_POSTPONED:
        postponed = details_as(milestone, DeadlinePostponedDetails)
        return (
            TaskChange(
                task_id=task_id,
                due_at=postponed.to if postponed else None,
                overdue=False,
                escalated=False,
            ),
        )
    return ()


_ENSURE_ROW = "INSERT INTO conventions (id) VALUES ($1) ON CONFLICT (id) DO NOTHING"
# Claims the milestone's seq and applies its change in one statement: one row version per
# milestone (a milestone that changes no column still moves last_seq), and none at all for
# a seq already applied.
_APPLY_CONVENTION = """
UPDATE conventions SET
    last_seq = $20,
    updated_at = greatest(updated_at, $21),
    kind = coalesce($2, kind),
    parent = coalesce($3, parent),
    stage = coalesce($4, stage),
    state = coalesce($5, state),
    funder = coalesce($6, funder),
    currency = coalesce($7, currency),
    requested = coalesce($8, requested),
    granted = CASE WHEN $11::text = 'pending' THEN NULL ELSE coalesce($9, granted) END,
    granted_currency = CASE WHEN $11::text = 'pending' THEN NULL
                            ELSE coalesce($10, granted_currency) END,
    decision = coalesce($11, decision),
    targets = coalesce($12::jsonb, targets),
    actuals = coalesce($13::jsonb, actuals),
    spent = coalesce($14, spent),
    spent_currency = coalesce($15, spent_currency),
    budget = coalesce($16, budget),
    budget_currency = coalesce($17, budget_currency),
    cohorts = CASE WHEN $18::text IS NULL THEN cohorts
                   ELSE cohorts || jsonb_build_object(
                       $18::text, coalesce(cohorts -> $18::text, '{}'::jsonb) || $19::jsonb)
              END
WHERE id = $1 AND last_seq < $20
RETURNING id
"""
_APPLY_TASK = """
INSERT INTO office_tasks (convention_id, task_id, kind, party, stage, due_at, state, overdue,
                          escalated, updated_at)
VALUES ($1, $2, $3, $4, $5, $6, coalesce($7, 'open'), coalesce($8, false), coalesce($9, false), $10)
ON CONFLICT (convention_id, task_id) DO UPDATE SET
    kind = coalesce($3, office_tasks.kind),
    party = coalesce($4, office_tasks.party),
    stage = coalesce($5, office_tasks.stage),
    due_at = coalesce($6, office_tasks.due_at),
    state = coalesce($7, office_tasks.state),
    overdue = coalesce($8, office_tasks.overdue),
    escalated = coalesce($9, office_tasks.escalated),
    updated_at = $10
"""
FILL_FROM_FILE = """
UPDATE conventions AS c SET
    title = f.document ->> 'title',
    sector = f.document ->> 'sector',
    countries = ARRAY(
        SELECT DISTINCT party ->> 'country'
        FROM jsonb_array_elements(f.document -> 'parties') AS party
        WHERE party ->> 'country' IS NOT NULL
        ORDER BY 1
    ),
    kind = coalesce(c.kind, f.document ->> 'kind'),
    parent = coalesce(c.parent, f.document ->> 'parent')
FROM convention_files AS f
WHERE c.id = $1 AND f.convention_id = $1
"""
_KEEP_ANSWER_WORDS = """
INSERT INTO convention_search AS s (convention_id, words, comment_words)
SELECT $1, said.words, said.words
  FROM (SELECT pacte_search_vector(pacte_answer_words($2::jsonb)) AS words) AS said
 WHERE said.words <> ''::tsvector
ON CONFLICT (convention_id) DO UPDATE SET
    comment_words = s.comment_words || excluded.comment_words,
    words = s.words || excluded.comment_words
"""
"""An answer's words (its comments, a refusal's reason…: `pacte_answer_words`, migration
027) added to its convention's search row, which the list's search reads; the row is made
if the convention's file is not recorded yet (its trigger keeps these words)."""
_KEEP_RECORD_WORDS = """
INSERT INTO convention_search AS s (convention_id, words, comment_words, record_words)
SELECT $1, said.words, said.words, said.words
  FROM (SELECT pacte_search_vector(pacte_record_words($2::jsonb)) AS words) AS said
 WHERE said.words <> ''::tsvector
ON CONFLICT (convention_id) DO UPDATE SET
    record_words = s.record_words || excluded.record_words,
    comment_words = s.comment_words || excluded.record_words,
    words = s.words || excluded.record_words
"""
"""The record's own words (a diagnostic's findings and recommendations, the outcomes agreed,
the officer's reasons: `pacte_record_words`, migration 032) added to the search row as an
answer's are, and kept apart in `record_words` for the row to say where they were found."""
_RECORD_WORD_KINDS = frozenset(
    {
        MilestoneKind.FINDINGS_FILED,
        MilestoneKind.OUTCOMES_AGREED,
        MilestoneKind.DEADLINE_POSTPONED,
        MilestoneKind.TASK_REASSIGNED,
        MilestoneKind.CONVENTION_TERMINATED,
    }
)
_ASSIGN_OFFICER = """
INSERT INTO convention_search AS s (convention_id, officer_name, officer_email, officer_seq, words)
VALUES ($1, $2, lower($3::text), $4, ''::tsvector)
ON CONFLICT (convention_id) DO UPDATE SET
    officer_name = excluded.officer_name,
    officer_email = excluded.officer_email,
    officer_seq = excluded.officer_seq
WHERE s.officer_seq IS NULL OR s.officer_seq < excluded.officer_seq
"""
"""The responsible officer an officer_changed milestone names (migration 025): the row is
made if the file is not recorded yet (its trigger then keeps this officer)."""
_RECORD_FILE = """
INSERT INTO convention_files (convention_id, document) VALUES ($1, $2::jsonb)
ON CONFLICT (convention_id) DO NOTHING
"""


async def project(connection: asyncpg.Connection, milestones: list[Milestone]) -> None:
    """Apply milestones to the read model, in seq order; each one once (by its seq).

    The connection speaks jsonb as Python values (infra.database's codec), as every pool
    of Pacte's does."""
    ordered = sorted(milestones, key=lambda m: (m.convention_id, m.seq))
    try:
        # One savepoint for the batch: the common case costs no round trip a milestone.
        async with connection.transaction():
            await _project_in_order(connection, ordered)
        return
    except _UNPROJECTABLE:
        pass  # nothing of the batch applied: again one by one, to keep all but the culprit
    for milestone in ordered:
        try:
            # A savepoint each: a milestone the read model cannot take never fails the write
            # of the audit record it rides with; it is logged, and the next one applies.
            async with connection.transaction():
                await _project_in_order(connection, [milestone])
        except _UNPROJECTABLE as error:
            log.error(
                "read model: milestone not projected",
                convention_id=milestone.convention_id,
                seq=milestone.seq,
                kind=milestone.kind.value,
                error=type(error).__name__,
            )


async def _project_in_order(connection: asyncpg.Connection, ordered: list[Milestone]) -> None:
    """Each convention's row made sure of once, then each milestone's change applied."""
    for convention_id in dict.fromkeys(m.convention_id for m in ordered):
        await connection.execute(_ENSURE_ROW, convention_id)
    for milestone in ordered:
        await _apply_milestone(connection, milestone)


_UNPROJECTABLE = (asyncpg.PostgresError, ValueError, TypeError, InvalidOperation)


async def _apply_milestone(connection: asyncpg.Connection, milestone: Milestone) -> None:
    """The milestone's change, on a convention row that exists."""
    convention_id = milestone.convention_id
    change = projection(milestone)
    if not await _apply(connection, milestone, change.convention):
        return  # this seq was applied before
    for task in change.tasks:
        await connection.execute(
            _APPLY_TASK,
            convention_id,
            task.task_id,
            task.kind,
            task.party,
            task.stage,
            task.due_at,
            task.state,
            task.overdue,
            task.escalated,
            milestone.occurred_at,
        )
    if milestone.kind is MilestoneKind.CONVENTION_STARTED:
        await connection.execute(FILL_FROM_FILE, convention_id)
    if milestone.kind is MilestoneKind.TASK_ANSWERED:
        # Once per seq, as the rest of the change: words added twice would rank twice.
        await connection.execute(_KEEP_ANSWER_WORDS, convention_id, milestone.details)
    if milestone.kind in _RECORD_WORD_KINDS:
        await connection.execute(_KEEP_RECORD_WORDS, convention_id, milestone.details)
    if change.convention.officer is not None:
        name, email = change.convention.officer
        await connection.execute(_ASSIGN_OFFICER, convention_id, name, email, milestone.seq)


async def _apply(connection: asyncpg.Connection, milestone: Milestone, c: ConventionChange) -> bool:
    """Claim the milestone's seq and apply its change to the row; False if already applied."""
    claimed = await connection.fetchval(
        _APPLY_CONVENTION,
        milestone.convention_id,
        c.kind,
        c.parent,
        c.stage,
        c.state,
        c.funder,
        c.currency,
        c.requested,
        c.granted,
        c.granted_currency,
        c.decision,
        c.targets,
        c.actuals,
        c.spent,
        c.spent_currency,
        c.budget,
        c.budget_currency,
        c.cohort[0] if c.cohort else None,
        c.cohort[1] if c.cohort else None,
        milestone.seq,
        milestone.occurred_at,
    )
    return claimed is not None


async def record_convention_file(pool: asyncpg.Pool, convention: Convention) -> None:
    """Keep the validated file once (its title, countries, sector) and fill the row from it."""
    async with pool.acquire() as connection, connection.transaction():
        await connection.execute(
            _RECORD_FILE, convention.id, convention.model_dump(mode="json", exclude_none=True)
        )
        await connection.execute(_ENSURE_ROW, convention.id)
        await connection.execute(FILL_FROM_FILE, convention.id)
