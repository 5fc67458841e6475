"""Every milestone of every recorded history reads as its kind's typed details.

The histories under tests/histories/ (current and every before-<patch>/) are what the
workflows wrote, version after version: the ledger's persist_milestone(s) inputs, read the
way the timeline and verify read them (auditing.decode.read_run, one item per milestone).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from auditing.decode import PERSIST_MILESTONE, ScheduledActivity, read_run
from auditing.histories import FileHistories
from infra.settings import PROJECT_ROOT
from records.chain import canonical_fields, milestone_fields
from schemas.milestone_details import (
    DETAILS_BY_KIND,
    LEFT_OUT,
    DeadlinePostponedDetails,
    FundingDecidedDetails,
    NoDetails,
    TaskAssignedDetails,
    UnreadableDetails,
    details_as,
    details_of,
)
from schemas.milestones import Milestone, MilestoneKind

HISTORIES = PROJECT_ROOT / "tests" / "histories"


def recorded_groups() -> list[Path]:
    return sorted(
        path for path in HISTORIES.iterdir() if path.is_dir() and any(path.rglob("*.json"))
    )


async def recorded_milestones(group: Path) -> list[dict[str, Any]]:
    source = await FileHistories.load([group])
    found: list[dict[str, Any]] = []
    for chain in source.chains:
        for history in chain.runs:
            for item in (await read_run(history)).items:
                if isinstance(item, ScheduledActivity) and item.activity_type == PERSIST_MILESTONE:
                    found.append(item.input[0])
    return found


@pytest.mark.parametrize("group", recorded_groups(), ids=lambda path: path.name)
async def test_every_recorded_milestone_reads_as_its_kinds_details(group: Path) -> None:
    milestones = await recorded_milestones(group)
    assert milestones, f"{group.name}: no milestone found"
    problems: list[str] = []
    for milestone in milestones:
        try:
            details = details_of(milestone)
        except UnreadableDetails as error:
            problems.append(f"{milestone['convention_id']}#{milestone['seq']}: {error}")
            continue
        assert type(details) is DETAILS_BY_KIND[MilestoneKind(milestone["kind"])]
        # A Milestone model reads the same as its dict.
        assert details_of(Milestone.model_validate(milestone)) == details
    assert problems == []


async def test_reading_details_changes_neither_the_dict_nor_its_hash() -> None:
    [group] = [path for path in recorded_groups() if path.name == "current"]
    for recorded in await recorded_milestones(group):
        milestone = Milestone.model_validate(recorded)
        before = canonical_fields(milestone_fields(milestone))
        details_of(milestone)
        assert canonical_fields(milestone_fields(milestone)) == before
        assert milestone.details == recorded["details"]


def test_every_kind_has_its_model_or_says_it_has_no_details() -> None:
    assert set(DETAILS_BY_KIND) == set(MilestoneKind)
    assert {kind for kind, model in DETAILS_BY_KIND.items() if model is NoDetails} == {
        MilestoneKind.STAGE_ENTERED,
        MilestoneKind.STAGE_COMPLETED,
        MilestoneKind.CONVENTION_COMPLETED,
    }


def _milestone(kind: MilestoneKind, details: dict[str, Any]) -> Milestone:
    return Milestone(
        convention_id="c",
        seq=1,
        kind=kind,
        occurred_at=datetime(2026, 1, 1, tzinfo=UTC),
        summary=kind.value,
        details=details,
    )


def test_fields_are_typed_and_a_row_reads_like_a_milestone() -> None:
    row = {
        "kind": "funding_decided",
        "details": {
            "decision": "approve",
            "granted": {"amount": "36000000", "currency": "IsDB-ID"},
            "requested": {"amount": "40000000", "currency": "IsDB-ID"},
            "comments": None,
        },
    }
    decided = details_as(row, FundingDecidedDetails)
    assert decided is not None and decided.granted is not None
    assert decided.granted.amount == Decimal("36000000")
    postponed = details_as(
        _milestone(
            MilestoneKind.DEADLINE_POSTPONED,
            {"from": "2027-01-31T23:59:00+00:00", "to": "2027-02-28T23:59:00Z", "reason": "r"},
        ),
        DeadlinePostponedDetails,
    )
    assert postponed is not None and postponed.to.date() == date(2027, 2, 28)
    assert postponed.from_ < postponed.to


def test_another_kind_or_unreadable_details_read_as_none_or_an_error() -> None:
    assigned = _milestone(
        MilestoneKind.TASK_ASSIGNED, {"kind": "sign", "due_at": "2027-01-31T23:59:00+00:00"}
    )
    assert details_as(assigned, FundingDecidedDetails) is None
    assert details_as(assigned, TaskAssignedDetails) is not None
    left_out = _milestone(MilestoneKind.TASK_ASSIGNED, {LEFT_OUT: "70000 bytes"})
    assert details_as(left_out, TaskAssignedDetails) is None
    with pytest.raises(UnreadableDetails, match="left out"):
        details_of(left_out)
    with pytest.raises(UnreadableDetails, match="not a milestone kind"):
        details_of({"kind": "forged", "details": {}})
    with pytest.raises(UnreadableDetails, match="due_at"):
        details_of(_milestone(MilestoneKind.TASK_ASSIGNED, {"kind": "sign"}))
    # Fields no model names (written by an older version) are kept, not refused.
    extra = details_of(_milestone(MilestoneKind.HISTORY_CONTINUED, {"run": 2, "old": True}))
    assert extra.model_extra == {"old": True}
