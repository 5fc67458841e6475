"""Nothing a user writes can outgrow Temporal's limits.

Every text and list of a convention file and of an answer is bounded in the schema; the
workflow keeps a bounded window of its record. These tests read the bounds from the JSON
Schema officers see, refuse a value over each kind of bound by field, and drive one
convention with the largest answers allowed through many reports and continue-as-new.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest
import pytest_asyncio
from pydantic import TypeAdapter
from temporalio.testing import WorkflowEnvironment

from devkit.polling import eventually
from schemas.convention import MAX_CONVENTION_BYTES, MAX_PARTIES, Convention
from schemas.convention_file import parse_model
from schemas.errors import InputError
from schemas.milestones import MilestoneKind
from schemas.status import ConventionState
from schemas.tasks import MAX_LIST_ITEMS, AnswerTask
from schemas.values import NAME_MAX_CHARS, TEXT_MAX_CHARS
from tests.stage_desk import PARTIES, SIGNATORIES, Desk, convention_of
from worker import build_worker
from workflows.task_board import MILESTONE_WINDOW

PAYLOAD_LIMIT = 2 * 1024 * 1024
WIDE = "𝔸"  # four bytes in UTF-8: the worst case for every character bound


def schema_of(model: Any) -> dict[str, Any]:
    return TypeAdapter(model).json_schema()


def test_the_json_schema_states_every_bound() -> None:
    convention = schema_of(Convention)  # recursive (follow-ups): the root is a $ref
    properties = convention["$defs"]["Convention"]["properties"]
    assert properties["parties"]["maxItems"] == MAX_PARTIES
    assert properties["title"]["maxLength"] == 500
    party = convention["$defs"]["Party"]["properties"]
    assert party["name"]["maxLength"] == NAME_MAX_CHARS
    answer = json.dumps(schema_of(AnswerTask))
    assert f'"maxLength": {TEXT_MAX_CHARS}' in answer
    assert f'"maxItems": {MAX_LIST_ITEMS}' in answer


def test_a_value_over_its_bound_is_refused_by_field_naming_the_bound() -> None:
    signature = {"stage": "signature", "signatories": ["psa-dg"]}
    data = convention_of(signature).model_dump(mode="json", exclude_none=True)
    too_many = [{"id": f"p{n}", "name": f"P{n}", "kind": "company"} for n in range(MAX_PARTIES)]
    with pytest.raises(InputError) as refused:
        parse_model(Convention, data | {"parties": [*PARTIES, *too_many]}, "file")
    assert [(e.field, e.reason) for e in refused.value.errors] == [
        ("parties", f"List should have at most {MAX_PARTIES} items after validation, not 55")
    ]
    with pytest.raises(InputError) as refused:
        parse_model(Convention, data | {"title": "x" * 501}, "file")
    assert [(e.field, e.reason) for e in refused.value.errors] == [
        ("title", "String should have at most 500 characters")
    ]
    answer = {
        "task_id": "t",
        "acting_party": "psa",
        "answer": {"kind": "sign", "decision": "refuse", "reason": "r" * (TEXT_MAX_CHARS + 1)},
    }
    with pytest.raises(InputError) as refused:
        parse_model(AnswerTask, answer, "answer")
    assert [(e.field, e.reason) for e in refused.value.errors] == [
        ("answer.reason", f"String should have at most {TEXT_MAX_CHARS} characters")
    ]


def test_a_file_within_every_field_bound_but_too_large_as_a_whole_is_refused() -> None:
    parties = [
        {
            "id": f"{n:02d}" + "p" * 78,
            "name": WIDE * NAME_MAX_CHARS,
            "kind": "training_office" if n == 0 else "company",
            "contacts": [{"name": WIDE * NAME_MAX_CHARS, "title": WIDE * NAME_MAX_CHARS}] * 10,
        }
        for n in range(MAX_PARTIES)
    ]
    data = {
        "id": "largest",
        "title": WIDE * 500,
        "kind": "framework",
        "officer": {"name": "Nadia Benali"},
        "parties": parties,
        "stages": [
            {"stage": "drafting", "document": {"uri": "archive:b"}, "reviewers": [parties[1]["id"]]}
        ],
    }
    with pytest.raises(InputError) as refused:
        parse_model(Convention, data, "file")
    (error,) = refused.value.errors
    assert error.field == ""
    assert f"more than the {MAX_CONVENTION_BYTES:,} a convention may take" in error.reason


# --- one convention at the bounds, on the real engine -----------------------------------------


@pytest_asyncio.fixture
async def desk(dev_env: WorkflowEnvironment, db_pool: asyncpg.Pool) -> AsyncIterator[Desk]:
    # The real dev server: no time needs to pass, and the time-skipping server can leave a
    # query unanswered when it lands just as the run continues as new.
    task_queue = f"bounds-{uuid.uuid4().hex[:8]}"
    async with build_worker(dev_env.client, db_pool, task_queue):
        officer_desk = Desk(dev_env, db_pool, task_queue)
        yield officer_desk
        await officer_desk.close()


def largest_report(number: int) -> dict[str, Any]:
    """A progress report at every bound of its answer: long comments, every list full."""
    return {
        "actuals": {f"indicator-{i}": float(number * i) for i in range(40)},
        "cohorts": [
            {"id": f"r{number:02d}-c{i:02d}-" + "x" * 70, "event": "started", "trainees": 30}
            for i in range(MAX_LIST_ITEMS)
        ],
        "spent": {"amount": "1000000.00", "currency": "MAD"},
        "comments": WIDE * TEXT_MAX_CHARS,
    }


async def test_a_convention_driven_to_the_bounds_still_answers_continues_and_terminates(
    desk: Desk,
) -> None:
    implementation = {
        "stage": "implementation",
        "implementer": "ofppt",
        "indicators": [
            {"id": f"indicator-{i}", "label": WIDE * NAME_MAX_CHARS, "unit": "u"} for i in range(40)
        ],
        "milestones": [{"id": f"m{i}", "label": WIDE * NAME_MAX_CHARS} for i in range(60)],
        "report_every_days": 30,
    }
    convention = convention_of(implementation, title=WIDE * 500, signatories=SIGNATORIES)
    await desk.start(convention, history_limit=60)
    reports = 12
    for number in range(1, reports + 1):
        await desk.answer(f"implementation.report.{number}", "ofppt", **largest_report(number))
        status = await desk.status()  # the query answers, whatever the record's size
        assert len(status.model_dump_json().encode()) < PAYLOAD_LIMIT // 2

    await desk.task(f"implementation.report.{reports + 1}")
    status = await desk.status()
    assert status.runs > 1, "the run continued as new between two reports"
    assert len(status.milestones) <= MILESTONE_WINDOW
    assert status.milestone_count > MILESTONE_WINDOW
    assert status.milestones[-1].seq == status.milestone_count
    # The new run's window holds what it recorded since, from the carried seq on.
    seqs = [m.seq for m in status.milestones]
    assert seqs == list(range(seqs[0], status.milestone_count + 1))
    started = await desk.milestones(MilestoneKind.COHORT_STARTED)
    assert len(started) >= reports, "the timeline, from PostgreSQL, holds every cohort"
    # The written record keeps every milestone and every answer whole (the ledger writes
    # in the background: wait for it).
    stored = await eventually(
        desk.stored_milestones, lambda rows: len(rows) >= status.milestone_count
    )
    assert [seq for seq, _ in stored][: status.milestone_count] == list(
        range(1, status.milestone_count + 1)
    )
    comments = await desk.pool.fetchval(
        "SELECT details->'answer'->>'comments' FROM milestones "
        "WHERE convention_id = $1 AND kind = 'task_answered' ORDER BY seq DESC LIMIT 1",
        desk.convention_id,
    )
    assert comments == WIDE * TEXT_MAX_CHARS

    await desk.close()
    outcome = await desk.outcome()
    assert outcome.state is ConventionState.TERMINATED
    assert outcome.milestone_count > status.milestone_count
