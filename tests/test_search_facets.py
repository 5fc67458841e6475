"""The search's facets (migration 032): the stage, state, kind, countries and sector kept
beside the words in `convention_search` stay in step with `conventions` whoever writes it
(the read model's projection, the file's fill, an update by hand), a convention whose file
comes after its row is found by words and a filter once the file lands, and the migration's
backfill gives the conventions written before it their facets. The record's own words (a
diagnostic's findings, the outcomes, the officer's reasons) are searched, the row says so,
and the backfill finds those written before it, once.

Read through the list's own query (`conventions_list`), no app or Temporal needed.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import pytest_asyncio

from application.office.conventions_list import conventions_list, read_query
from schemas.milestones import Milestone, MilestoneKind
from storage.milestones import chain_milestones
from storage.read_model import record_convention_file
from tests.stage_desk import PARTIES, convention_of
from tests.test_office_conventions import DRAFTING

MIGRATION = Path(__file__).resolve().parent.parent / "migrations" / "032_search_facets.sql"
NOW = datetime.now(UTC)

_OUT_OF_STEP = """
SELECT c.id FROM conventions AS c JOIN convention_search AS s ON s.convention_id = c.id
 WHERE c.id = ANY($1::text[])
   AND s.facets IS DISTINCT FROM
       pacte_search_facets(c.stage, c.state, c.kind, c.countries, c.sector)"""


def _milestone(
    convention_id: str,
    seq: int,
    kind: MilestoneKind,
    stage: str,
    details: dict[str, Any] | None = None,
) -> Milestone:
    if details is None:
        details = {"kind": "framework"} if kind is MilestoneKind.CONVENTION_STARTED else {}
    return Milestone(
        convention_id=convention_id,
        seq=seq,
        kind=kind,
        stage=stage,
        occurred_at=NOW,
        summary=kind.value,
        details=details,
    )


async def _ids(pool: asyncpg.Pool, **params: str) -> set[str]:
    return set(await _found_in(pool, **params))


async def _found_in(pool: asyncpg.Pool, **params: str) -> dict[str, str | None]:
    """The page's rows: where else than in the title the words were found."""
    listed = await conventions_list(pool, read_query(params))
    return {row["id"]: row["found_in"] for row in listed.rows}


@pytest_asyncio.fixture
async def word() -> str:
    return f"fac{uuid.uuid4().hex[:8]}"


async def test_the_facets_follow_the_projection_and_a_change_by_hand(
    db_pool: asyncpg.Pool, word: str
) -> None:
    convention_id = f"srch-{word}"
    convention = convention_of(
        DRAFTING,
        id=convention_id,
        title=f"Formation des soudeurs {word}",
        kind="specific",
        sector="Métallurgie",
        parties=PARTIES,
    )
    await record_convention_file(db_pool, convention)
    started = _milestone(convention_id, 1, MilestoneKind.CONVENTION_STARTED, "drafting")
    await chain_milestones(db_pool, [started], workflow_id=convention_id, run_id="r")
    assert await _ids(db_pool, q=word, stage="drafting", kind="framework") == {convention_id}
    assert await _ids(db_pool, q=f"soudeurs {word}", sector="metallurgie") == {convention_id}

    # The workflow moves it to signature: the words with the old stage find it no more.
    entered = _milestone(convention_id, 2, MilestoneKind.STAGE_ENTERED, "signature")
    await chain_milestones(db_pool, [entered], workflow_id=convention_id, run_id="r")
    assert await _ids(db_pool, q=word, stage="drafting") == set()
    assert await _ids(db_pool, q=word, stage="signature") == {convention_id}
    ended = _milestone(convention_id, 3, MilestoneKind.CONVENTION_TERMINATED, "signature")
    await chain_milestones(db_pool, [ended], workflow_id=convention_id, run_id="r")
    assert await _ids(db_pool, q=word, state="active") == set()
    assert await _ids(db_pool, q=word, state="terminated", stage="signature") == {convention_id}

    # A repair by hand (any writer of the row) moves them too, countries and sector included.
    await db_pool.execute(
        "UPDATE conventions SET countries = ARRAY['SN'], sector = 'Tourisme' WHERE id = $1",
        convention_id,
    )
    assert await _ids(db_pool, q=word, country="SN", sector="TOURISME") == {convention_id}
    assert await _ids(db_pool, q=word, country="MA") == set()
    assert await db_pool.fetch(_OUT_OF_STEP, [convention_id]) == []


async def test_a_row_before_its_file_and_the_backfill(db_pool: asyncpg.Pool, word: str) -> None:
    early, old = f"srch-{word}-early", f"srch-{word}-old"
    # The projection may make the row before the file is recorded: its facets wait with it.
    started = _milestone(early, 1, MilestoneKind.CONVENTION_STARTED, "mission")
    await chain_milestones(db_pool, [started], workflow_id=early, run_id="r")
    assert await _ids(db_pool, q=early, stage="mission") == {early}  # by its id
    for convention_id in (early, old):
        convention = convention_of(
            DRAFTING, id=convention_id, title=f"Mission à Dakar {word}", parties=PARTIES
        )
        await record_convention_file(db_pool, convention)
    await db_pool.execute("UPDATE conventions SET stage = 'diagnostic' WHERE id = $1", old)
    assert await _ids(db_pool, q=f"dakar {word}", stage="mission") == {early}
    assert await _ids(db_pool, q=f"dakar {word}", stage="diagnostic") == {old}

    # As before migration 032: no facets. Its backfill gives them back.
    await db_pool.execute(
        "UPDATE convention_search SET facets = '{}' WHERE convention_id = ANY($1::text[])",
        [early, old],
    )
    assert await _ids(db_pool, q=f"dakar {word}", stage="diagnostic") == set()
    await db_pool.execute(MIGRATION.read_text(encoding="utf-8"))
    assert await _ids(db_pool, q=f"dakar {word}", stage="diagnostic") == {old}
    assert await db_pool.fetch(_OUT_OF_STEP, [early, old]) == []
    # A file rewritten afterwards (its trigger, migration 027's) keeps them.
    await db_pool.execute(
        "UPDATE convention_files SET document = document WHERE convention_id = $1", old
    )
    assert await _ids(db_pool, q=f"dakar {word}", stage="diagnostic") == {old}


async def test_the_records_own_words_are_searched_and_said(
    db_pool: asyncpg.Pool, word: str
) -> None:
    convention_id = f"srch-{word}-record"
    convention = convention_of(
        DRAFTING, id=convention_id, title=f"Diagnostic à Oujda {word}", parties=PARTIES
    )
    await record_convention_file(db_pool, convention)
    milestones = [
        _milestone(convention_id, 1, MilestoneKind.CONVENTION_STARTED, "diagnostic"),
        _milestone(
            convention_id,
            2,
            MilestoneKind.FINDINGS_FILED,
            "diagnostic",
            {
                "findings": [f"Les ateliers manquent de tours {word}f"],
                "recommendations": [f"Former des tourneurs {word}r"],
            },
        ),
        _milestone(
            convention_id,
            3,
            MilestoneKind.DEADLINE_POSTPONED,
            "diagnostic",
            {"from": NOW.isoformat(), "to": NOW.isoformat(), "reason": f"تأخر وصول البعثة {word}p"},
        ),
        _milestone(
            convention_id,
            4,
            MilestoneKind.CONVENTION_TERMINATED,
            "diagnostic",
            {"reason": f"Financement retiré par le bailleur {word}t"},
        ),
    ]
    await chain_milestones(db_pool, milestones, workflow_id=convention_id, run_id="r")
    # A finding (another form of the word), a recommendation, an Arabic reason (ta marbuta
    # as ha), the termination's reason; the row says where they were found.
    # (Where: the whole search is found there, as for an answer's comment.)
    for words in ("atelier {}f", "tourneurs {}r", "البعثه {}p", "bailleur {}t"):
        searched = words.format(word)
        assert await _found_in(db_pool, q=searched) == {convention_id: "record"}, searched
    # The title's words alone: nothing else to say.
    assert await _found_in(db_pool, q=f"oujda {word}") == {convention_id: None}
    # A file rewritten afterwards (its trigger, migration 027's) keeps them.
    await db_pool.execute(
        "UPDATE convention_files SET document = document WHERE convention_id = $1", convention_id
    )
    assert await _ids(db_pool, q=f"tourneurs {word}r") == {convention_id}

    # As before migration 032: none of the record's words. Its backfill adds them once.
    async with db_pool.acquire() as connection, connection.transaction():
        await connection.execute(
            "UPDATE convention_search SET comment_words = '', record_words = ''"
            " WHERE convention_id = $1",
            convention_id,
        )
        await connection.execute(
            "UPDATE convention_files SET document = document WHERE convention_id = $1",
            convention_id,
        )
    assert await _ids(db_pool, q=f"tourneurs {word}r") == set()
    await db_pool.execute(MIGRATION.read_text(encoding="utf-8"))
    await db_pool.execute(MIGRATION.read_text(encoding="utf-8"))
    assert await _found_in(db_pool, q=f"tourneurs {word}r") == {convention_id: "record"}
    # Once: the second run added nothing (the answers' words hold them a single time).
    once = await db_pool.fetchval(
        "SELECT record_words = pacte_search_vector($2) AND comment_words = record_words"
        "  FROM convention_search WHERE convention_id = $1",
        convention_id,
        f"Les ateliers manquent de tours {word}f Former des tourneurs {word}r"
        f" تأخر وصول البعثة {word}p Financement retiré par le bailleur {word}t",
    )
    assert once
