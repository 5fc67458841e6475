"""The portfolio's read model, as a pure mapping of milestones (no server: milliseconds)."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import asyncpg

from schemas.milestones import Milestone, MilestoneKind
from storage.read_model import ConventionChange, TaskChange, projection
from web.charts import bar_chart

AT = datetime(2027, 1, 5, 10, 0, tzinfo=UTC)


def milestone(kind: MilestoneKind, stage: str | None = None, **fields: Any) -> Milestone:
    return Milestone(
        convention_id="bamako",
        seq=1,
        kind=kind,
        stage=stage,
        occurred_at=AT,
        summary=kind.value,
        **fields,
    )


def test_convention_started_sets_kind_parent_and_first_stage() -> None:
    change = projection(
        milestone(
            MilestoneKind.CONVENTION_STARTED,
            "signature",
            details={"kind": "specific", "parent": "framework-ma", "origin": None},
        )
    )
    assert change.convention == ConventionChange(
        kind="specific", parent="framework-ma", stage="signature", state="active"
    )


def test_stage_entered_sets_the_stage_and_endings_set_the_state() -> None:
    assert projection(milestone(MilestoneKind.STAGE_ENTERED, "mission")).convention.stage == (
        "mission"
    )
    for kind, state in [
        (MilestoneKind.CONVENTION_COMPLETED, "completed"),
        (MilestoneKind.CONVENTION_FAILED, "failed"),
        (MilestoneKind.CONVENTION_TERMINATED, "terminated"),
    ]:
        assert projection(milestone(kind)).convention.state == state


def test_funding_requested_then_decided_keeps_each_currency() -> None:
    requested = projection(
        milestone(
            MilestoneKind.FUNDING_REQUESTED,
            details={"funder": "bid", "requested": {"amount": "36000000.00", "currency": "XOF"}},
        )
    ).convention
    assert (requested.funder, requested.requested, requested.currency, requested.decision) == (
        "bid",
        Decimal("36000000.00"),
        "XOF",
        "pending",
    )
    decided = projection(
        milestone(
            MilestoneKind.FUNDING_DECIDED,
            details={
                "decision": "approve",
                "granted": {"amount": "60000", "currency": "IsDB-ID"},
                "requested": {"amount": "36000000", "currency": "XOF"},
            },
        )
    ).convention
    assert (decided.decision, decided.granted, decided.granted_currency, decided.currency) == (
        "approve",
        Decimal("60000"),
        "IsDB-ID",
        "XOF",
    )


def test_more_information_leaves_nothing_granted() -> None:
    change = projection(
        milestone(
            MilestoneKind.FUNDING_DECIDED,
            details={"decision": "more_information", "comments": "budget lines?"},
        )
    ).convention
    assert change.decision == "more_information" and change.granted is None


def test_progress_report_sets_totals_targets_spend_and_budget() -> None:
    change = projection(
        milestone(
            MilestoneKind.PROGRESS_REPORTED,
            details={
                "report": 2,
                "actuals": {"trainees": 40},
                "totals": {"trainees": 120},
                "targets": {"trainees": 300},
                "spent": {"amount": "1200000", "currency": "XOF"},
                "budget": {"amount": "36000000", "currency": "XOF"},
            },
        )
    ).convention
    assert change.actuals == {"trainees": 120}
    assert change.targets == {"trainees": 300}
    assert (change.spent, change.budget, change.budget_currency) == (
        Decimal("1200000"),
        Decimal("36000000"),
        "XOF",
    )


def test_cohorts_started_and_finished_give_enrolled_and_certified() -> None:
    started = projection(
        milestone(
            MilestoneKind.COHORT_STARTED, details={"id": "c1", "event": "started", "trainees": 25}
        )
    )
    finished = projection(
        milestone(
            MilestoneKind.COHORT_FINISHED,
            details={"id": "c1", "event": "finished", "trainees": 24, "graduates": 20},
        )
    )
    assert started.convention.cohort == ("c1", {"enrolled": 25, "state": "started"})
    assert finished.convention.cohort == (
        "c1",
        {"completed": 24, "certified": 20, "state": "finished"},
    )


def test_tasks_assigned_overdue_escalated_postponed_and_answered() -> None:
    due = "2027-01-31T23:59:00+00:00"
    assigned = projection(
        milestone(
            MilestoneKind.TASK_ASSIGNED,
            "funding_request",
            task_id="funding_request.decision.r1",
            party="bid",
            details={"kind": "decide_funding", "due_at": due},
        )
    )
    assert assigned.tasks == (
        TaskChange(
            task_id="funding_request.decision.r1",
            kind="decide_funding",
            party="bid",
            stage="funding_request",
            due_at=datetime.fromisoformat(due),
            state="open",
            overdue=False,
            escalated=False,
        ),
    )
    overdue = projection(
        milestone(MilestoneKind.TASK_OVERDUE, task_id="funding_request.decision.r1")
    )
    assert overdue.tasks == (TaskChange("funding_request.decision.r1", overdue=True),)
    escalation = projection(
        milestone(
            MilestoneKind.TASK_ASSIGNED,
            task_id="escalation.funding_request.decision.r1.r2",
            party="ofppt",
            details={"kind": "resolve_escalation", "due_at": due},
        )
    )
    assert escalation.tasks[1] == TaskChange("funding_request.decision.r1", escalated=True)
    postponed = projection(
        milestone(
            MilestoneKind.DEADLINE_POSTPONED,
            task_id="funding_request.decision.r1",
            details={"from": due, "to": "2027-02-28T23:59:00+00:00", "reason": "r"},
        )
    )
    assert postponed.tasks[0].due_at == datetime(2027, 2, 28, 23, 59, tzinfo=UTC)
    assert postponed.tasks[0].overdue is False
    answered = projection(
        milestone(MilestoneKind.TASK_ANSWERED, task_id="funding_request.decision.r1")
    )
    assert answered.tasks == (TaskChange("funding_request.decision.r1", state="answered"),)


def test_other_milestones_change_nothing() -> None:
    change = projection(milestone(MilestoneKind.SIGNED, task_id="signature.psa"))
    assert change.convention == ConventionChange() and change.tasks == ()


async def test_projecting_again_changes_nothing_and_the_file_fills_either_way(
    db_pool: asyncpg.Pool,
) -> None:
    from storage.read_model import project, record_convention_file
    from tests.conftest import example

    convention = example("bamako-cooperation")
    milestones = [
        Milestone(
            convention_id=convention.id,
            seq=seq,
            kind=kind,
            stage="funding_request",
            occurred_at=AT,
            summary=kind.value,
            details=details,
        )
        for seq, (kind, details) in enumerate(
            [
                (MilestoneKind.CONVENTION_STARTED, {"kind": "partnership", "parent": None}),
                (
                    MilestoneKind.FUNDING_REQUESTED,
                    {"funder": "bid", "requested": {"amount": "4E+7", "currency": "IsDB-ID"}},
                ),
                (
                    MilestoneKind.FUNDING_DECIDED,
                    {"decision": "reject", "granted": None, "comments": "no"},
                ),
            ],
            start=1,
        )
    ]
    async with db_pool.acquire() as connection:
        await project(connection, milestones[:2])
    await record_convention_file(db_pool, convention)  # after the start: fills the row
    async with db_pool.acquire() as connection:
        await project(connection, milestones)
        first = dict(
            await connection.fetchrow("SELECT * FROM conventions WHERE id = $1", convention.id)
        )
        await project(connection, list(reversed(milestones)))
        again = dict(
            await connection.fetchrow("SELECT * FROM conventions WHERE id = $1", convention.id)
        )
    assert first == again
    assert (first["title"], first["funder"], first["decision"], first["last_seq"]) == (
        convention.title,
        "bid",
        "reject",
        3,
    )
    assert format(first["requested"], "f") == "40000000"
    assert set(first["countries"]) == {p.country for p in convention.parties}


def _milestones(
    convention_id: str, *steps: tuple[MilestoneKind, dict[str, Any]]
) -> list[Milestone]:
    return [
        Milestone(
            convention_id=convention_id,
            seq=seq,
            kind=kind,
            stage=details.pop("stage", "implementation"),
            task_id=details.pop("task_id", None),
            party=details.pop("party", None),
            occurred_at=AT,
            summary=kind.value,
            details=details,
        )
        for seq, (kind, details) in enumerate(steps, start=1)
    ]


def requested(funder: str, amount: str, currency: str) -> tuple[MilestoneKind, dict[str, Any]]:
    return (
        MilestoneKind.FUNDING_REQUESTED,
        {"funder": funder, "requested": {"amount": amount, "currency": currency}},
    )


async def test_the_portfolio_keeps_currencies_apart_counts_late_tasks_and_pass_rates(
    db_pool: asyncpg.Pool,
) -> None:
    from application.office.portfolio import portfolio
    from storage.read_model import project, record_convention_file
    from tests.conftest import example

    funder = f"funder-{uuid.uuid4().hex[:6]}"
    a, b = example("bamako-cooperation"), example("bamako-cooperation")
    started = (MilestoneKind.CONVENTION_STARTED, {"kind": "partnership"})
    late = datetime.now(UTC) - timedelta(days=3)
    async with db_pool.acquire() as connection:
        await project(
            connection,
            _milestones(
                a.id,
                started,
                requested(funder, "1000", "XOF"),
                (
                    MilestoneKind.FUNDING_DECIDED,
                    {"decision": "approve", "granted": {"amount": "5", "currency": "IsDB-ID"}},
                ),
                (
                    MilestoneKind.TASK_ASSIGNED,
                    {
                        "task_id": "implementation.report.1",
                        "party": "menefp",
                        "kind": "report_progress",
                        "due_at": late.isoformat(),
                    },
                ),
                (MilestoneKind.TASK_OVERDUE, {"task_id": "implementation.report.1"}),
                (
                    MilestoneKind.TASK_ASSIGNED,
                    {
                        "task_id": "escalation.implementation.report.1",
                        "party": "ofppt",
                        "kind": "resolve_escalation",
                        "due_at": datetime.now(UTC).isoformat(),
                    },
                ),
                (MilestoneKind.COHORT_STARTED, {"id": "c1", "trainees": 30}),
                (MilestoneKind.COHORT_FINISHED, {"id": "c1", "trainees": 25, "graduates": 20}),
            ),
        )
        await project(
            connection,
            _milestones(
                b.id,
                started,
                requested(funder, "2000", "XOF"),
                (MilestoneKind.FUNDING_DECIDED, {"decision": "reject"}),
            ),
        )
    await record_convention_file(db_pool, a)
    tables = await portfolio(db_pool)
    funding = {
        r["currency"]: (r["requested"], r["granted"], r["pending"], r["rejected"])
        for r in tables["funding"]
        if r["funder"] == funder
    }
    assert funding == {
        "XOF": (Decimal("3000"), Decimal("0"), Decimal("0"), Decimal("2000")),
        "IsDB-ID": (Decimal("0"), Decimal("5"), Decimal("0"), Decimal("0")),
    }
    [overdue] = [
        r
        for r in tables["overdue"]
        if r["convention_id"] == a.id and r["task_id"] == "implementation.report.1"
    ]
    assert (overdue["party"], overdue["days_late"], overdue["escalated"]) == ("menefp", 3, True)
    menefp = next(p for p in a.parties if p.id == "menefp")
    assert overdue["contact"] == (menefp.contacts[0].name if menefp.contacts else None)
    [cohorts] = [r for r in tables["cohorts"] if r["convention_id"] == a.id]
    assert (cohorts["enrolled"], cohorts["certified"], cohorts["pass_rate"]) == (30, 20, 0.8)


def test_a_csv_cell_a_spreadsheet_would_run_as_a_formula_is_quoted() -> None:
    from application.office.portfolio import table_csv

    text = table_csv([{"party": '=HYPERLINK("http://x")', "days_late": -1, "contact": "Awa"}])
    # Every text cell quoted (records/csv_writer.py), the number bare.
    assert text.splitlines()[1] == '"\'=HYPERLINK(""http://x"")",-1,"Awa"'


def test_a_chart_of_indicators_some_without_a_target_draws_the_others() -> None:
    svg = bar_chart(
        "Indicateurs — المؤشرات",
        ["cycle-maalam · trainees", "tamansourt · seats"],
        {"target": [3000.0, None], "actual": [1500.0, 200.0]},
        rtl=True,
    )
    assert svg.startswith("<?xml") and "<svg" in svg
    assert "المؤشرات" in svg  # kept as text, for the browser to shape


def test_a_chart_of_counts_has_whole_ticks_each_once() -> None:
    svg = bar_chart("Conventions", ["MA", "ML", "SA"], {"conventions": [1, 1, 1]})
    ticks = re.findall(r">(\d[\d,.]*)\n?</text>", svg) or re.findall(
        r'text-anchor: middle" x="[^"]+" y="[^"]+" transform="[^"]+">(\d[\d,]*)', svg
    )
    assert ticks and len(ticks) == len(set(ticks)), ticks  # not 0, 0, 0, 1, 1, 1


async def test_the_page_shows_the_first_rows_of_a_per_convention_table_and_counts_them_all(
    db_pool: asyncpg.Pool,
) -> None:
    from application.office.portfolio import portfolio, portfolio_page
    from storage.read_model import project

    prefix = f"page-{uuid.uuid4().hex[:6]}"
    async with db_pool.acquire() as connection:
        for number in range(5):
            await project(
                connection,
                _milestones(
                    f"{prefix}-{number}",
                    (MilestoneKind.CONVENTION_STARTED, {"kind": "specific"}),
                    (
                        MilestoneKind.PROGRESS_REPORTED,
                        {
                            "report": 1,
                            "actuals": {"trainees": 10 * number},
                            "targets": {"trainees": 100},
                            "totals": {"trainees": 10 * number},
                            "spent": {"amount": "10", "currency": "MAD"},
                            "budget": {"amount": "90", "currency": "MAD"},
                        },
                    ),
                ),
            )
    whole = await portfolio(db_pool, ("stages", "spend", "indicators"))
    page = await portfolio_page(db_pool, ("stages", "spend", "indicators"), rows=3)
    for table in ("spend", "indicators"):
        assert page.tables[table] == whole[table][:3]
        assert page.totals[table] == len(whole[table]) >= 5
    # A table per stage, country or funder is shown whole.
    assert page.tables["stages"] == whole["stages"]
    assert page.totals["stages"] == len(whole["stages"])


async def test_a_milestone_the_read_model_cannot_take_is_skipped_and_the_rest_of_its_batch_applies(
    db_pool: asyncpg.Pool,
) -> None:
    from storage.read_model import project

    convention_id = f"culprit-{uuid.uuid4().hex[:6]}"
    batch = _milestones(
        convention_id,
        (MilestoneKind.CONVENTION_STARTED, {"kind": "specific"}),
        (MilestoneKind.TASK_ASSIGNED, {"task_id": "report-1", "party": "ministry"}),
        (MilestoneKind.TASK_ASSIGNED, {"task_id": "report-2", "party": "ministry"}),
    )
    # PostgreSQL's text takes no NUL character (the schema refuses one; model_copy does not
    # validate): this task's row cannot be written.
    batch[1] = batch[1].model_copy(update={"party": "ministry\x00"})
    async with db_pool.acquire() as connection, connection.transaction():
        # The audit record's own transaction, as chain_milestones holds it: it survives.
        await project(connection, batch)
        row = await connection.fetchrow(
            "SELECT last_seq, state FROM conventions WHERE id = $1", convention_id
        )
        tasks = await connection.fetch(
            "SELECT task_id, party FROM office_tasks WHERE convention_id = $1", convention_id
        )
    assert (row["last_seq"], row["state"]) == (3, "active")
    assert [(t["task_id"], t["party"]) for t in tasks] == [("report-2", "ministry")]
