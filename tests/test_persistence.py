"""Milestones and notifications are written once, however often an activity runs."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest
from temporalio.testing import ActivityEnvironment

from activities.milestones import MilestoneStore
from activities.notify import Notifier
from application.rendering import render_status
from auditing.verify import chain_findings
from infra.database import MIGRATIONS_DIR, apply_migrations
from records.chain import GENESIS_HASH
from schemas.convention import Contact
from schemas.milestones import Milestone, MilestoneBatch, MilestoneKind
from schemas.notifications import Notification, NotificationEvent
from schemas.status import ConventionState, ConventionStatus
from schemas.values import Language
from storage.milestones import PredecessorMissing, RecordedTimeline, recorded_timeline
from tests.conftest import forget_organisations


async def test_migrations_apply_once_and_a_second_run_changes_nothing(
    db_pool: asyncpg.Pool,
) -> None:
    assert await apply_migrations(db_pool) == []
    names = await db_pool.fetch("SELECT name FROM schema_migrations ORDER BY name")
    assert [row["name"] for row in names] == sorted(p.name for p in MIGRATIONS_DIR.glob("*.sql"))


async def test_a_retried_milestone_is_stored_exactly_once(db_pool: asyncpg.Pool) -> None:
    convention_id = f"retry-{uuid.uuid4().hex[:8]}"
    milestone = Milestone(
        convention_id=convention_id,
        seq=1,
        kind=MilestoneKind.SIGNED,
        stage="signature",
        party="ofppt",
        actor="Loubna Tricha",
        occurred_at=datetime(2021, 2, 8, 10, 0, tzinfo=UTC),
        summary="Signé à Kénitra – تم التوقيع",
        details={"place": {"city": "Kénitra", "country": "MA"}},
    )
    store = MilestoneStore(db_pool)
    activity_env = ActivityEnvironment()

    first = await activity_env.run(store.persist_milestone, milestone)
    second = await activity_env.run(store.persist_milestone, milestone)

    assert (first, second) == (True, False)
    rows = await db_pool.fetch("SELECT * FROM milestones WHERE convention_id = $1", convention_id)
    assert len(rows) == 1
    assert rows[0]["summary"] == milestone.summary
    assert rows[0]["details"] == milestone.details


async def test_a_retried_notification_is_recorded_exactly_once(db_pool: asyncpg.Pool) -> None:
    convention_id = f"retry-{uuid.uuid4().hex[:8]}"
    notification = Notification(
        id=f"{convention_id}/signature.sign.dg/task.assigned",
        convention_id=convention_id,
        event=NotificationEvent.TASK_ASSIGNED,
        party="dmk",
        recipients=[Contact(name="Réseau DMK", language=Language.ARABIC)],
        language=Language.ARABIC,
        subject="يرجى التوقيع",
        created_at=datetime(2021, 2, 1, tzinfo=UTC),
    )
    await forget_organisations(db_pool, ["dmk"])  # the notification's own recipients count
    notifier = Notifier(db_pool)
    activity_env = ActivityEnvironment()

    assert await activity_env.run(notifier.notify_party, notification) is True
    assert await activity_env.run(notifier.notify_party, notification) is False

    rows = await db_pool.fetch(
        "SELECT subject, recipients FROM notifications WHERE convention_id = $1", convention_id
    )
    assert [(r["subject"], r["recipients"][0]["name"]) for r in rows] == [
        ("يرجى التوقيع", "Réseau DMK")
    ]


def milestone_of(convention_id: str, seq: int) -> Milestone:
    return Milestone(
        convention_id=convention_id,
        seq=seq,
        kind=MilestoneKind.TASK_REMINDED,
        occurred_at=datetime(2027, 1, seq, 9, 0, tzinfo=UTC),
        summary=f"Rappel {seq} – تذكير",
    )


async def test_a_retried_batch_is_stored_once_and_chained_like_single_writes(
    db_pool: asyncpg.Pool,
) -> None:
    batched, single = f"batch-{uuid.uuid4().hex[:8]}", f"single-{uuid.uuid4().hex[:8]}"
    store = MilestoneStore(db_pool)
    activities = ActivityEnvironment()
    first = MilestoneBatch(milestones=[milestone_of(batched, seq) for seq in (1, 2, 3)])
    second = MilestoneBatch(milestones=[milestone_of(batched, seq) for seq in (4, 5)])
    for batch in (first, first, second, second):  # each batch retried once
        await activities.run(store.persist_milestones, batch)
    for seq in range(1, 6):
        await activities.run(store.persist_milestone, milestone_of(single, seq))

    query = "SELECT * FROM milestones WHERE convention_id = $1 ORDER BY seq"
    for convention_id in (batched, single):
        rows = {row["seq"]: dict(row) for row in await db_pool.fetch(query, convention_id)}
        assert list(rows) == [1, 2, 3, 4, 5], convention_id
        assert rows[1]["prev_hash"] == GENESIS_HASH
        assert chain_findings(convention_id, rows) == [], convention_id


async def test_a_batch_whose_predecessor_is_missing_waits_for_it(db_pool: asyncpg.Pool) -> None:
    convention_id = f"gap-{uuid.uuid4().hex[:8]}"
    store = MilestoneStore(db_pool)
    with pytest.raises(PredecessorMissing, match=r"#1 is not in PostgreSQL"):
        await ActivityEnvironment().run(
            store.persist_milestones, MilestoneBatch(milestones=[milestone_of(convention_id, 2)])
        )
    assert (
        await db_pool.fetchval(
            "SELECT count(*) FROM milestones WHERE convention_id = $1", convention_id
        )
        == 0
    )


def test_a_reader_sees_the_milestones_the_ledger_has_not_written_yet_after_postgresqls() -> None:
    recorded = RecordedTimeline(
        [milestone_of("c", seq) for seq in (1, 2, 3)], total=3, completed_stages=frozenset()
    )
    kept = [milestone_of("c", seq) for seq in (2, 3, 4, 5)]  # the workflow's window
    both = recorded.with_unwritten(kept)
    assert [m.seq for m in both.milestones] == [1, 2, 3, 4, 5] and both.total == 5
    nothing = RecordedTimeline([], total=0, completed_stages=frozenset())
    assert [m.seq for m in nothing.with_unwritten(kept).milestones] == [2, 3, 4, 5]
    assert recorded.with_unwritten([]) == recorded


async def test_a_reader_gets_the_latest_milestones_their_count_and_every_stage_completed(
    db_pool: asyncpg.Pool,
) -> None:
    convention_id = f"long-{uuid.uuid4().hex[:8]}"
    start = datetime(2027, 1, 1, 9, 0, tzinfo=UTC)
    milestones = [
        Milestone(
            convention_id=convention_id,
            seq=seq,
            kind=MilestoneKind.STAGE_COMPLETED if seq == 5 else MilestoneKind.TASK_REMINDED,
            stage="mission" if seq == 5 else "implementation",
            occurred_at=start + timedelta(hours=seq),
            summary=f"milestone {seq}",
        )
        for seq in range(1, 151)
    ]
    await ActivityEnvironment().run(
        MilestoneStore(db_pool).persist_milestones, MilestoneBatch(milestones=milestones)
    )

    latest = await recorded_timeline(db_pool, convention_id, last=100)
    every = await recorded_timeline(db_pool, convention_id, last=None)

    assert [m.seq for m in latest.milestones] == list(range(51, 151))
    assert latest.total == every.total == 150
    # The mission's completion is older than the latest 100, and still counts.
    assert latest.completed_stages == every.completed_stages == {"mission"}
    assert [m.seq for m in every.milestones] == list(range(1, 151))
    status = ConventionStatus(
        convention_id=convention_id,
        title="Long",
        kind="partnership",
        parent=None,
        state=ConventionState.ACTIVE,
        current_stage="implementation",
        stages=["mission", "implementation"],
        milestone_count=150,
    )
    shown = render_status(status, timeline=latest)
    assert "stages: mission ✓ → [implementation]" in shown
    assert "timeline (the last 100 of 150 milestones;" in shown
    assert "milestone 51" in shown and "milestone 50\n" not in shown + "\n"
