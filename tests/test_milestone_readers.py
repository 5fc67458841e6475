"""The auditors' readers of the record's meaning read milestones as models, not dicts."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from auditing.bundle import as_milestone
from auditing.iati import CANCELLED, IMPLEMENTATION, PIPELINE, activity_status
from schemas.milestones import Milestone, MilestoneKind

WHEN = datetime(2026, 5, 4, 10, 0, tzinfo=UTC)


def stored_row(seq: int, kind: str, **fields: Any) -> dict[str, Any]:
    """A milestones row as PostgreSQL returns it: the milestone and its chain's columns."""
    return {
        "convention_id": "cam-1",
        "seq": seq,
        "kind": kind,
        "stage": fields.get("stage"),
        "task_id": None,
        "party": "ofppt",
        "actor": None,
        "occurred_at": WHEN,
        "summary": f"{kind} #{seq}",
        "details": fields.get("details", {}),
        "workflow_id": "convention-cam-1",
        "run_id": "run-1",
        "prev_hash": "0" * 64,
        "hash": "1" * 64,
    }


def test_a_stored_row_reads_as_the_milestone_it_records() -> None:
    milestone = as_milestone(stored_row(3, "stage_entered", stage="mission"))

    assert isinstance(milestone, Milestone)
    assert (milestone.seq, milestone.kind, milestone.stage) == (
        3,
        MilestoneKind.STAGE_ENTERED,
        "mission",
    )
    assert milestone.occurred_at == WHEN


def test_a_row_altered_past_what_a_milestone_can_be_is_refused_naming_the_field() -> None:
    with pytest.raises(ValidationError) as raised:
        as_milestone(stored_row(4, "teleported"))

    assert raised.value.errors()[0]["loc"] == ("kind",)


def test_the_activity_status_reads_the_kinds_and_stages_of_models() -> None:
    started = as_milestone(stored_row(1, "convention_started"))
    entered = as_milestone(stored_row(2, "stage_entered", stage="implementation"))
    ended = as_milestone(stored_row(3, "convention_terminated"))

    assert activity_status([started]) == PIPELINE
    assert activity_status([started, entered]) == IMPLEMENTATION
    assert activity_status([started, entered, ended]) == CANCELLED
