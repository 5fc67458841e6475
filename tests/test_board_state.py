"""The task board's state survives a continue-as-new whole: every field of BoardState.

A field added to BoardState that the board forgets to take up or to hand back fails here
(the first test insists that every field of the sample differs from its default, so a new
field must be given a value, and then must come back). The real continue-as-new runs on
the time-skipping server in tests/test_stages.py (five years of cohorts, several runs).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from temporalio.contrib.pydantic import pydantic_data_converter

from schemas.milestones import Milestone, MilestoneKind
from schemas.officer_actions import ConventionLink, LinkKind, TerminateConvention
from schemas.status import BoardState, ConventionInput, ImplementationProgress, StandingSignature
from schemas.tasks import Task, TaskKind
from tests.stage_desk import convention_of
from workflows.task_board import TaskBoard

IMPLEMENTATION = {
    "stage": "implementation",
    "implementer": "ofppt",
    "indicators": [{"id": "trainees", "label": "Bénéficiaires", "unit": "trainees"}],
    "milestones": [{"id": "target-reached", "label": "3 000 bénéficiaires formés"}],
    "report_every_days": 91,
}
WHEN = datetime(2027, 3, 1, 9, 30, tzinfo=UTC)


def every_field_set(convention_id: str) -> BoardState:
    """A state in which no field has its default value."""
    return BoardState(
        stage_index=3,
        stage_attempts={"drafting": 2, "signature": 1, "implementation": 1},
        milestones=[
            Milestone(
                convention_id=convention_id,
                seq=412,
                kind=MilestoneKind.HISTORY_CONTINUED,
                stage="implementation",
                occurred_at=WHEN,
                summary="History continued in run 3 after 10004 events",
            )
        ],
        open_tasks=[
            Task(
                id="implementation.report.9.escalation",
                convention_id=convention_id,
                stage="implementation",
                kind=TaskKind.RESOLVE_ESCALATION,
                assignee="ofppt",
                contact="Salma Idrissi",
                title="Late: report 9",
                assigned_at=WHEN,
                due_at=WHEN + timedelta(days=7),
                escalates="implementation.report.9",
                late_reminders=1,
            )
        ],
        links=[ConventionLink(convention_id="child-1", title="Child", kind=LinkKind.SPECIFIC)],
        implementation=ImplementationProgress(
            report_number=10,
            reached=["target-reached"],
            actuals={"trainees": 1500.0},
            cohorts_started=["c1", "c2"],
            cohorts_finished=["c1"],
            cancelled=["m2"],
            cohorts_cancelled=["c3"],
        ),
        runs=2,
        signatures=[
            StandingSignature(
                signatory="psa-dg", document="drafting-2.v3", signed_by="Rémi Cabon", signed_at=WHEN
            )
        ],
        document="drafting-2.v3",
        changes=4,
        termination=TerminateConvention(reason="the programme ended", officer="Nadia Benali"),
    )


def test_the_sample_state_sets_every_field_so_a_new_field_must_be_carried() -> None:
    state = every_field_set("cam-1")
    defaults = BoardState()
    left_default = [
        name for name in BoardState.model_fields if getattr(state, name) == getattr(defaults, name)
    ]
    assert left_default == []


def test_every_field_of_the_board_state_survives_a_continue_as_new() -> None:
    convention = convention_of(IMPLEMENTATION)
    state = every_field_set(convention.id)
    # The trip the state takes: the next run's input, through the workflow's converter.
    (payload,) = pydantic_data_converter.payload_converter.to_payloads(
        [ConventionInput(convention=convention, resume=state)]
    )
    (received,) = pydantic_data_converter.payload_converter.from_payloads(
        [payload], [ConventionInput]
    )
    assert isinstance(received, ConventionInput) and received.resume is not None

    board = TaskBoard(convention, state=received.resume)
    carried = board.carried(state.stage_index)

    # The one field that moves on purpose: the run that carries it counts itself.
    assert carried == state.model_copy(update={"runs": state.runs + 1})
    # Derived state is rebuilt from it, not carried beside it.
    assert board.next_seq == 413
    assert list(board.tasks) == ["implementation.report.9.escalation"]
    assert board.current_stage is None


def test_a_state_recorded_before_the_fields_it_lacks_reads_with_their_defaults() -> None:
    """The shape runs recorded earlier carried (tests/histories/*/continued-as-new)."""
    convention = convention_of(IMPLEMENTATION)
    recorded = {
        "stage_index": 0,
        "stage_attempts": {"implementation": 1},
        "milestones": [],
        "open_tasks": [],
        "links": [],
        "implementation": None,
        "runs": 1,
        "signatures": [],
        "document": None,
    }

    state = BoardState.model_validate(recorded)
    board = TaskBoard(convention, state=state)

    assert (state.changes, state.termination) == (0, None)
    assert board.carried(0) == state.model_copy(update={"runs": 2})
