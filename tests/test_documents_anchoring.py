"""Anchoring a convention's record: the head of its milestone chain timestamped by a real
RFC 3161 authority on 127.0.0.1, the token kept in PostgreSQL; a record rewritten afterwards,
chain recomputed end to end, no longer verifies."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import pytest
import pytest_asyncio

pytest.importorskip(
    "pyhanko", reason="pyHanko is not installed in this interpreter (see docs/guides/documents.md)"
)

from temporalio.testing import WorkflowEnvironment

from application.anchoring import ANCHOR_EVERY_HOURS, ENDING_KINDS, anchor_due
from documents.anchoring import anchor_convention, anchored_text, verify_anchors
from documents.certificates import (
    DevelopmentPki,
    certificate_pem,
    development_pki,
    new_certificate_authority,
)
from documents.store import DocumentStore
from documents.timestamps import LocalTimestampAuthority, check_token, sha256_digest
from records.chain import GENESIS_HASH, chain_hash
from storage import documents as sql
from tests.test_audit_replay import run_cli, stack_env

_INSERT = """
INSERT INTO milestones (convention_id, seq, kind, stage, task_id, party, actor, occurred_at,
                        summary, details, workflow_id, run_id, prev_hash, hash)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
"""
_REWRITE = """
UPDATE milestones SET summary = $3, prev_hash = $4, hash = $5 WHERE convention_id = $1 AND seq = $2
"""


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> DevelopmentPki:
    return development_pki(tmp_path_factory.mktemp("anchor-state"))


@pytest_asyncio.fixture(scope="session")
async def tsa(pki: DevelopmentPki) -> AsyncIterator[LocalTimestampAuthority]:
    authority = LocalTimestampAuthority(pki.tsa_certificate, pki.tsa_key)
    await authority.start()
    yield authority
    await authority.stop()


def _fields(convention_id: str, seq: int, summary: str) -> dict[str, object]:
    return {
        "convention_id": convention_id,
        "seq": seq,
        "kind": "stage_started" if seq == 1 else "task_answered",
        "stage": "drafting",
        "task_id": None if seq == 1 else f"review-{seq}",
        "party": "ofppt",
        "actor": "officer@ofppt.ma",
        "occurred_at": datetime(2026, 12, 1, tzinfo=UTC) + timedelta(hours=seq),
        "summary": summary,
        "details": {"round": seq},
    }


async def write_chain(pool: asyncpg.Pool, convention_id: str, summaries: list[str]) -> None:
    """Milestones chained by records/chain.py's rules, as the ledger writes them."""
    prev = GENESIS_HASH
    for seq, summary in enumerate(summaries, start=1):
        fields = _fields(convention_id, seq, summary)
        own = chain_hash(prev, fields)
        await pool.execute(
            _INSERT, *fields.values(), f"convention-{convention_id}", "run-1", prev, own
        )
        prev = own


async def rewrite_chain(pool: asyncpg.Pool, convention_id: str, summaries: list[str]) -> None:
    """What someone with write access does: edit a row and recompute every hash after it."""
    prev = GENESIS_HASH
    for seq, summary in enumerate(summaries, start=1):
        own = chain_hash(prev, _fields(convention_id, seq, summary))
        await pool.execute(_REWRITE, convention_id, seq, summary, prev, own)
        prev = own


def convention() -> str:
    return f"CONV-ANCHOR-{uuid.uuid4().hex[:8]}"


async def test_an_anchored_record_verifies_and_a_head_is_anchored_once(
    db_pool: asyncpg.Pool, pki: DevelopmentPki, tsa: LocalTimestampAuthority
) -> None:
    conv = convention()
    await write_chain(db_pool, conv, ["started", "reviewed", "version 2 submitted"])
    anchor = await anchor_convention(db_pool, conv, tsa.url)
    head = await sql.chain_head(db_pool, conv)
    assert head is not None and (anchor.head_seq, anchor.head_hash) == head
    assert abs(anchor.gen_time - datetime.now(UTC)) < timedelta(minutes=5)
    requests = tsa.requests
    assert await anchor_convention(db_pool, conv, tsa.url) == anchor
    assert tsa.requests == requests  # the same head: the first token stands, no new request
    checked, problems = await verify_anchors(db_pool, conv, [pki.ca_certificate])
    assert (checked, problems) == (1, [])


async def test_a_record_rewritten_with_its_chain_recomputed_no_longer_verifies(
    db_pool: asyncpg.Pool, pki: DevelopmentPki, tsa: LocalTimestampAuthority
) -> None:
    conv = convention()
    summaries = ["started", "reviewed: 120 trainees", "signed"]
    await write_chain(db_pool, conv, summaries)
    await anchor_convention(db_pool, conv, tsa.url)
    await rewrite_chain(db_pool, conv, ["started", "reviewed: 150 trainees", "signed"])
    checked, problems = await verify_anchors(db_pool, conv, [pki.ca_certificate])
    assert checked == 1 and len(problems) == 1
    assert problems[0].head_seq == 3
    assert "milestone 3 now hashes to" in problems[0].reason
    assert "the record was rewritten after it was anchored" in problems[0].reason


async def test_a_changed_token_or_an_untrusted_authority_is_named(
    db_pool: asyncpg.Pool, pki: DevelopmentPki, tsa: LocalTimestampAuthority, tmp_path: Path
) -> None:
    conv = convention()
    await write_chain(db_pool, conv, ["started"])
    anchor = await anchor_convention(db_pool, conv, tsa.url)
    digest = sha256_digest(anchored_text(conv, anchor.head_seq, anchor.head_hash))
    assert (await check_token(anchor.token, digest, [pki.ca_certificate])).ok
    other = await check_token(anchor.token, sha256_digest(b"another head"), [pki.ca_certificate])
    assert other.problems == ["the token is over another digest, or its content was altered"]
    stranger = tmp_path / "other-ca.pem"
    stranger.write_bytes(certificate_pem(new_certificate_authority("Other CA").certificate))
    untrusted = await check_token(anchor.token, digest, [stranger])
    assert any("does not chain to a given trust root" in p for p in untrusted.problems)
    flipped = bytearray(anchor.token)
    flipped[-40] ^= 0x01  # inside the authority's signature value
    await db_pool.execute(
        "UPDATE chain_anchors SET token = $3 WHERE convention_id = $1 AND head_seq = $2",
        conv,
        anchor.head_seq,
        bytes(flipped),
    )
    _, problems = await verify_anchors(db_pool, conv, [pki.ca_certificate])
    assert problems and all(p.reason.startswith("token: ") for p in problems)


async def test_a_convention_without_milestones_has_nothing_to_anchor(
    db_pool: asyncpg.Pool, tsa: LocalTimestampAuthority
) -> None:
    with pytest.raises(LookupError, match="has no milestone to anchor"):
        await anchor_convention(db_pool, convention(), tsa.url)


async def test_audit_verify_names_the_anchor_a_recomputed_chain_breaks(
    db_pool: asyncpg.Pool,
    dev_env: WorkflowEnvironment,
    postgres_url: str,
    pki: DevelopmentPki,
    tsa: LocalTimestampAuthority,
) -> None:
    """The chain alone cannot tell a database rewritten end to end: the anchor can."""
    conv = convention()
    await write_chain(db_pool, conv, ["started", "reviewed: 120 trainees", "signed"])
    await anchor_convention(db_pool, conv, tsa.url)
    env = {**stack_env(dev_env, postgres_url), "PACTE_TRUST_ROOTS": str(pki.ca_certificate)}
    code, before, _ = await run_cli("verify", conv, env=env)
    # No history in Temporal for these hand-written rows: said, and nothing else is wrong.
    assert "anchor" not in before and "no history" in before, before
    await rewrite_chain(db_pool, conv, ["started", "reviewed: 150 trainees", "signed"])
    code, after, _ = await run_cli("verify", conv, env=env)
    assert code == 1
    failures = [line for line in after.splitlines() if "no history" not in line]
    # The chain was recomputed: no row is named for its hash, only the anchor over #3.
    assert len(failures) == 1, after
    assert failures[0].startswith(f"FAIL  {conv} #3 anchor: milestone 3 now hashes to")
    assert "the record was rewritten after it was anchored" in failures[0]
    # Without the authority's root, the token itself cannot be trusted: said, not skipped.
    other = {**env, "PACTE_TRUST_ROOTS": str(pki.tsa_certificate.parent / "nowhere.pem")}
    code, _, stderr = await run_cli("verify", conv, env=other)
    assert code == 2 and "PACTE_TRUST_ROOTS: no such file" in stderr


async def test_heads_are_due_daily_and_at_once_when_the_convention_ends(
    db_pool: asyncpg.Pool, tsa: LocalTimestampAuthority
) -> None:
    async def due() -> list[str]:
        return await sql.heads_due_for_anchoring(
            db_pool, ending=ENDING_KINDS, every_hours=ANCHOR_EVERY_HOURS, limit=1_000_000
        )

    moving, ended = convention(), convention()
    await write_chain(db_pool, moving, ["started", "reviewed"])
    await write_chain(db_pool, ended, ["started"])
    assert {moving, ended} <= set(await due())  # never anchored: due
    await anchor_convention(db_pool, moving, tsa.url)
    await anchor_convention(db_pool, ended, tsa.url)
    assert not {moving, ended} & set(await due())
    # The record moves on: the daily anchor waits for its day.
    await append(db_pool, moving, "version 2 submitted", "task_answered")
    assert moving not in await due()
    await db_pool.execute(
        "UPDATE chain_anchors SET anchored_at = now() - interval '25 hours' "
        "WHERE convention_id = $1",
        moving,
    )
    assert moving in await due()
    # An ending is anchored at the next sweep, whatever the day; and listed first.
    await append(db_pool, ended, "completed", "convention_completed")
    listed = await due()
    assert ended in listed
    assert listed.index(ended) < listed.index(moving)
    anchor = await anchor_convention(db_pool, ended, tsa.url)
    assert anchor.head_seq == 2 and ended not in await due()


async def append(pool: asyncpg.Pool, convention_id: str, summary: str, kind: str) -> None:
    """One more milestone, chained after the head."""
    head = await sql.chain_head(pool, convention_id)
    assert head is not None
    seq, prev = head[0] + 1, head[1]
    fields = {**_fields(convention_id, seq, summary), "kind": kind}
    await pool.execute(
        _INSERT,
        *fields.values(),
        f"convention-{convention_id}",
        "run-1",
        prev,
        chain_hash(prev, fields),
    )


async def test_without_a_trust_root_the_hash_is_still_compared_and_the_token_said_unchecked(
    db_pool: asyncpg.Pool, tsa: LocalTimestampAuthority
) -> None:
    conv = convention()
    await write_chain(db_pool, conv, ["started", "signed"])
    await anchor_convention(db_pool, conv, tsa.url)
    _, problems = await verify_anchors(db_pool, conv, [])
    assert [p.reason for p in problems] == [
        "token not checked: no trust root for the timestamp authority (set PACTE_TRUST_ROOTS)"
    ]
    await rewrite_chain(db_pool, conv, ["started", "signed, rewritten"])
    _, problems = await verify_anchors(db_pool, conv, [])
    assert "the record was rewritten after it was anchored" in problems[0].reason


@dataclass
class _Holder:
    pool: asyncpg.Pool
    documents: DocumentStore | None = None


async def test_an_authority_that_does_not_answer_stops_the_sweeps_round_and_keeps_nothing(
    db_pool: asyncpg.Pool,
) -> None:
    conv = convention()
    await write_chain(db_pool, conv, ["started"])
    outcome = await anchor_due(_Holder(db_pool), "http://127.0.0.1:9/")
    assert outcome.anchored == {}
    # The first due head failed and the round stopped there (the next sweep tries again).
    [(_, reason)] = outcome.failed.items()
    assert "127.0.0.1:9" in reason
    assert await sql.anchors_of_convention(db_pool, conv) == []
