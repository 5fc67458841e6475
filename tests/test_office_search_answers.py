"""The conventions list searches what people wrote in their answers (a comment in French, a
refusal's reason in Arabic), says when the words were found there, orders a search by
relevance with pages that neither repeat nor skip a row, and sorts a few matches of words
and a filter the same as the walk of the order's index would.

The answers are written as the workflow's ledger writes them (`chain_milestones`: the
milestone and the read model in one transaction); the migration's backfill is run again
over them after their words are wiped.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
import pytest_asyncio
from temporalio.testing import WorkflowEnvironment

from application.errors import InvalidInput
from application.office import conventions_list
from application.office.conventions_list import cursor_text, read_query
from schemas.milestones import Milestone, MilestoneKind
from storage import convention_search
from storage.milestones import chain_milestones
from tests.partner_stack import make_desk
from tests.test_office_conventions import _seed, every_page, found, listed
from tests.test_office_desk import office_client, signed_in

MIGRATION = Path(__file__).resolve().parent.parent / "migrations" / "027_comment_words.sql"
NOW = datetime.now(UTC)
IN_A_COMMENT = "Les mots figurent dans le commentaire d&#39;une réponse."


@dataclass(frozen=True)
class Seeded:
    word: str
    answered: str
    """The convention whose answers hold a French comment and an Arabic reason."""
    silent: str
    """A convention of the same word with no answer."""
    ranked: list[str]
    """Conventions of `word`rank, from the most relevant (the word most often) down."""


def _answered(convention_id: str, seq: int, task_id: str, answer: dict[str, Any]) -> Milestone:
    return Milestone(
        convention_id=convention_id,
        seq=seq,
        kind=MilestoneKind.TASK_ANSWERED,
        stage="drafting",
        task_id=task_id,
        party="psa",
        occurred_at=NOW,
        summary="answered",
        details={"answer": answer},
    )


@pytest_asyncio.fixture(scope="module")
async def seeded(db_pool: asyncpg.Pool) -> Seeded:
    word = f"ans{uuid.uuid4().hex[:8]}"
    answered, silent = f"srch-{word}-answered", f"srch-{word}-silent"
    await _seed(db_pool, answered, f"Convention commentée {word}", stage="signature")
    await _seed(db_pool, silent, f"Convention muette {word}", stage="signature")
    started = Milestone(
        convention_id=answered,
        seq=1,
        kind=MilestoneKind.CONVENTION_STARTED,
        stage="drafting",
        occurred_at=NOW,
        summary="started",
        details={"kind": "specific"},
    )
    french = _answered(
        answered,
        2,
        "drafting.review.psa",
        {
            "kind": "review_draft",
            "decision": "request_changes",
            "version": 1,
            "comments": f"Les révisions du calendrier des soudeurs {word}fr sont attendues.",
        },
    )
    arabic = _answered(
        answered,
        3,
        "signature.sign.psa-dg",
        {"kind": "sign", "decision": "refuse", "reason": "الميزانية غير كافية للتكوين"},
    )
    await chain_milestones(db_pool, [started, french, arabic], workflow_id=answered, run_id="r")
    # The stage the row was seeded at (the start milestone set it back to drafting).
    await db_pool.execute("UPDATE conventions SET stage = 'signature' WHERE id = $1", answered)
    ranked: list[str] = []
    for times in (4, 3, 2, 2, 2, 1):
        convention_id = f"srch-{word}-rank-{len(ranked)}"
        title = " ".join([f"{word}rank"] * times + ["formation"] * (5 - times))
        await _seed(db_pool, convention_id, title, updated=NOW - timedelta(days=len(ranked)))
        ranked.append(convention_id)
    return Seeded(word, answered, silent, ranked)


@pytest_asyncio.fixture(scope="module")
async def officer(
    dev_env: WorkflowEnvironment, db_pool: asyncpg.Pool
) -> AsyncIterator[httpx.AsyncClient]:
    async with office_client(make_desk(dev_env.client, db_pool)) as http:
        await signed_in(http, db_pool, "officer")
        yield http


async def test_a_french_comment_and_an_arabic_reason_are_searched(
    seeded: Seeded, officer: httpx.AsyncClient
) -> None:
    word, answered = seeded.word, seeded.answered
    # French: without the accent, another form of the word (révisions → revision).
    assert await found(officer, q=f"{word} revision") == [answered]
    # Arabic: ta marbuta written as ha, and a word of the reason with a filter.
    assert await found(officer, q=f"{word} الميزانيه") == [answered]
    assert await found(officer, q=f"{word} التكوين", stage="signature") == [answered]
    assert await found(officer, q=f"{word} revision", stage="drafting") == []
    # Both conventions hold the title's word; the comment's only one.
    assert set(await found(officer, q=word)) == {answered, seeded.silent}
    # The row says where the words were found.
    page = await officer.get("/office/conventions", params={"q": f"{word}fr"})
    assert IN_A_COMMENT in page.text
    title_only = await officer.get("/office/conventions", params={"q": f"muette {word}"})
    assert IN_A_COMMENT not in title_only.text


async def test_the_backfill_finds_the_answers_written_before_it(
    seeded: Seeded, officer: httpx.AsyncClient, db_pool: asyncpg.Pool
) -> None:
    answered = seeded.answered
    async with db_pool.acquire() as connection, connection.transaction():
        # As before migration 027: no answer's words (the file's trigger rewrites the rest).
        await connection.execute(
            "UPDATE convention_search SET comment_words = '' WHERE convention_id = $1", answered
        )
        await connection.execute(
            "UPDATE convention_files SET document = document WHERE convention_id = $1", answered
        )
    assert await found(officer, q=f"{seeded.word} revision") == []
    await db_pool.execute(MIGRATION.read_text(encoding="utf-8"))
    assert await found(officer, q=f"{seeded.word} revision") == [answered]
    assert await found(officer, q=f"{seeded.word} الميزانيه") == [answered]
    # A file rewritten afterwards keeps the answers' words.
    await db_pool.execute(
        "UPDATE convention_files SET document = document WHERE convention_id = $1", answered
    )
    assert await found(officer, q=f"{seeded.word} revision") == [answered]


async def test_relevance_orders_a_search_and_pages_neither_repeat_nor_skip(
    seeded: Seeded, officer: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    ranked = seeded.ranked
    words = f"{seeded.word}rank"
    whole = await found(officer, q=words, sort="relevance")
    # The word four times, then three, then the three ties by id, then once.
    assert whole == ranked
    page = await officer.get("/office/conventions", params={"q": words, "sort": "relevance"})
    assert '<option value="relevance" selected>' in page.text
    download = await officer.get(
        "/office/conventions.csv", params={"q": words, "sort": "relevance"}
    )
    assert [line.split(";")[0].strip('"') for line in download.text.splitlines()[1:]] == ranked
    monkeypatch.setattr(conventions_list, "PAGE_SIZE", 4)
    pages = await every_page(officer, q=words, sort="relevance")
    assert pages == [ranked[:4], ranked[4:]]
    # Past the cap (the walk ranks every match) the same pages, ties split across them.
    monkeypatch.setattr(conventions_list, "PAGE_SIZE", 3)
    monkeypatch.setattr(convention_search, "COUNT_CAP", 2)
    assert await every_page(officer, q=words, sort="relevance") == [ranked[:3], ranked[3:]]
    # Without words, relevance is latest changed first, and the page says so.
    monkeypatch.undo()
    empty = await officer.get("/office/conventions", params={"sort": "relevance"})
    assert empty.status_code == 200
    assert "La pertinence classe une recherche" in empty.text


BOUNDED = "La pertinence n&#39;a classé que les {count} conventions modifiées le plus récemment"


async def test_relevance_ranks_the_latest_changed_matches_when_too_many_match(
    db_pool: asyncpg.Pool, officer: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past RANKED_AT_MOST matches a page ranks only the latest changed: a very relevant
    match among them still comes first, an older one is left out, and the page says so
    (only then); the download still ranks every match."""
    word = f"bnd{uuid.uuid4().hex[:8]}"
    often = " ".join([word] * 4 + ["formation"])
    once = " ".join([word] + ["formation"] * 4)
    old_hot, hot = f"srch-{word}-old-hot", f"srch-{word}-hot"
    recent = [f"srch-{word}-recent-{n}" for n in range(5)]
    await _seed(db_pool, old_hot, often, updated=NOW - timedelta(days=40))
    await _seed(db_pool, hot, often, updated=NOW - timedelta(days=6))
    for days, convention_id in enumerate(recent, start=1):
        await _seed(db_pool, convention_id, once, updated=NOW - timedelta(days=days))
    # Every match ranked (seven, under the cap): the two most relevant first.
    whole = await officer.get("/office/conventions", params={"q": word, "sort": "relevance"})
    assert listed(whole) == [hot, old_hot, *recent]
    assert BOUNDED.format(count=6)[:40] not in whole.text
    # Past the count's cap only (the bound is more than the matches): all ranked, no notice.
    monkeypatch.setattr(convention_search, "COUNT_CAP", 6)
    capped = await officer.get("/office/conventions", params={"q": word, "sort": "relevance"})
    assert listed(capped) == [hot, old_hot, *recent]
    assert BOUNDED.format(count=6)[:40] not in capped.text
    # Seven match, six are ranked: the six latest changed, the relevant one first.
    monkeypatch.setattr(convention_search, "RANKED_AT_MOST", 6)
    bounded = await officer.get("/office/conventions", params={"q": word, "sort": "relevance"})
    assert listed(bounded) == [hot, *recent]
    assert BOUNDED.format(count=6) in bounded.text
    assert f'href="/office/conventions?q={word}&amp;sort=updated"' in bounded.text
    monkeypatch.setattr(conventions_list, "PAGE_SIZE", 4)
    assert await every_page(officer, q=word, sort="relevance") == [[hot, *recent[:3]], recent[3:]]
    # Other orders are not bounded: every match, the latest changed first.
    latest = await officer.get("/office/conventions", params={"q": word, "sort": "updated"})
    assert BOUNDED.format(count=6)[:40] not in latest.text
    download = await officer.get("/office/conventions.csv", params={"q": word, "sort": "relevance"})
    assert [line.split(";")[0].strip('"') for line in download.text.splitlines()[1:]] == [
        hot,
        old_hot,
        *recent,
    ]
    arabic = await officer.get(
        "/office/conventions", params={"q": word, "sort": "relevance", "lang": "ar"}
    )
    assert "رُتّبت النتائج حسب الصلة بين أحدث 6 اتفاقية" in arabic.text


@pytest.mark.parametrize("bound", [None, 1])
async def test_bad_words_by_relevance_give_a_clear_page(
    bound: int | None,
    seeded: Seeded,
    officer: httpx.AsyncClient,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Empty words, stop words only, 500 characters, Arabic with diacritics: a page, whether
    the ranking is bounded or not."""
    if bound is not None:
        monkeypatch.setattr(convention_search, "COUNT_CAP", bound)
        monkeypatch.setattr(convention_search, "RANKED_AT_MOST", bound)
    for words in ("", "   ", "le la les des", "في من على", "é" * 500, "مَدْرَسَةِ الكَهْرَبائِيِّينَ"):
        page = await officer.get("/office/conventions", params={"q": words, "sort": "relevance"})
        assert page.status_code == 200, (words, page.text[:500])
        if not words.strip():
            assert "La pertinence classe une recherche" in page.text
        if len(words) == 500:
            assert "La recherche a été coupée à ses 200 premiers caractères." in page.text
    ranked = await officer.get(
        "/office/conventions", params={"q": f"{seeded.word}rank", "sort": "relevance"}
    )
    assert ranked.status_code == 200
    assert (BOUNDED.format(count=1) in ranked.text) == (bound is not None)


@pytest.mark.parametrize("sort", ["updated", "due", "title", "relevance"])
async def test_a_few_matches_sorted_read_as_the_walk_reads_them(
    sort: str, seeded: Seeded, officer: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Words and a filter: under the cap the page sorts the matches; past it, it walks the
    order's index. Both give the same pages, in pages of two."""
    words = f"{seeded.word}rank formation"
    monkeypatch.setattr(conventions_list, "PAGE_SIZE", 2)
    sorted_pages = await every_page(officer, q=words, stage="drafting", sort=sort)
    monkeypatch.setattr(convention_search, "COUNT_CAP", 1)
    walked_pages = await every_page(officer, q=words, stage="drafting", sort=sort)
    assert sorted_pages == walked_pages
    assert sorted(row for page in sorted_pages for row in page) == sorted(seeded.ranked)


def _forged(sort: str, key: object) -> str:
    packed = json.dumps([sort, key, "c-1"]).encode()
    return base64.urlsafe_b64encode(packed).decode().rstrip("=")


def test_a_relevance_cursor_is_a_number() -> None:
    cursor = cursor_text("relevance", {"rank": 0.0607927, "id": "c-1"})
    query = read_query({"q": "x", "sort": "relevance", "after": cursor})
    assert query.after is not None and query.after.key == pytest.approx(0.0607927)
    another_order = cursor_text("title", {"title_key": "x", "id": "c-1"})
    for forged in (*(_forged("relevance", bad) for bad in ("0.5", True, None)), another_order):
        with pytest.raises(InvalidInput) as refused:
            read_query({"q": "x", "sort": "relevance", "after": forged})
        assert refused.value.errors[0].field == "after"


async def test_hostile_words_by_relevance_and_with_a_filter_neither_fail_nor_inject(
    seeded: Seeded, officer: httpx.AsyncClient
) -> None:
    for words in ("ً", "%", "kenitra:* <-> ! & |", "'); DROP TABLE conventions; --", "x" * 300):
        for params in ({"sort": "relevance"}, {"stage": "drafting"}, {"sort": "due"}):
            page = await officer.get("/office/conventions", params={"q": words, **params})
            assert page.status_code == 200, (words, params, page.text[:500])
    assert await found(officer, q="ً", sort="relevance") == []
