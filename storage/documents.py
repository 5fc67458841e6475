"""The document store's SQL: contents written once by SHA-256, a row per upload, chain anchors.

The tables are migration 010's. Nothing here decides what may be stored (documents/intake.py
does) or where the bytes live (documents/store.py): these are the statements, typed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from infra.database import Database


@dataclass(frozen=True)
class DocumentRow:
    """One stored document as the record knows it: the bytes' hash and where they came from."""

    sha256: str
    size_bytes: int
    media_type: str
    file_name: str
    uploaded_by: str
    uploaded_at: datetime
    convention_id: str
    task_id: str | None


@dataclass(frozen=True)
class AnchorRow:
    """A timestamp token over the head of a convention's milestone chain."""

    convention_id: str
    head_seq: int
    head_hash: str
    tsa_url: str
    token: bytes
    gen_time: datetime
    anchored_at: datetime


_INSERT_CONTENT = """
INSERT INTO document_contents (sha256, size_bytes, content) VALUES ($1, $2, $3)
ON CONFLICT (sha256) DO NOTHING
"""
_CONTENT_EXISTS = "SELECT EXISTS (SELECT 1 FROM document_contents WHERE sha256 = $1)"
_READ_CONTENT = "SELECT content FROM document_contents WHERE sha256 = $1"
_COUNT_CONTENTS = "SELECT count(*) FROM document_contents WHERE sha256 = $1"
_INSERT_ROW = """
INSERT INTO documents (sha256, size_bytes, media_type, file_name, uploaded_by, convention_id,
                       task_id)
VALUES ($1, $2, $3, $4, $5, $6, $7)
ON CONFLICT (sha256, convention_id, task_id) DO NOTHING
"""
_ROW_COLUMNS = """
SELECT sha256, size_bytes, media_type, file_name, uploaded_by, uploaded_at, convention_id,
       task_id
FROM documents
"""
_ROW_FOR_TASK = _ROW_COLUMNS + "WHERE sha256 = $1 AND convention_id = $2 AND task_id = $3"
_ROW_OF_CONVENTION = (
    _ROW_COLUMNS + "WHERE sha256 = $1 AND convention_id = $2 ORDER BY uploaded_at, id LIMIT 1"
)
_FIRST_ROW = _ROW_COLUMNS + "WHERE sha256 = $1 ORDER BY uploaded_at, id LIMIT 1"
_ROWS_OF_CONVENTION = _ROW_COLUMNS + "WHERE convention_id = $1 ORDER BY uploaded_at, id"


def _row(record: Any) -> DocumentRow:
    return DocumentRow(
        sha256=record["sha256"],
        size_bytes=record["size_bytes"],
        media_type=record["media_type"],
        file_name=record["file_name"],
        uploaded_by=record["uploaded_by"],
        uploaded_at=record["uploaded_at"],
        convention_id=record["convention_id"],
        task_id=record["task_id"] or None,
    )


async def insert_content(
    database: Database, sha256: str, size_bytes: int, content: bytes | None
) -> bool:
    """Keep the bytes under their hash unless they are kept already; whether this wrote them.

    `content` None: the bytes live elsewhere (an S3 bucket); the row still says they exist.
    """
    status: str = await database.execute(_INSERT_CONTENT, sha256, size_bytes, content)
    return status.endswith(" 1")


async def content_exists(database: Database, sha256: str) -> bool:
    """Whether bytes of this hash were ever stored."""
    found: bool = await database.fetchval(_CONTENT_EXISTS, sha256)
    return found


async def read_content(database: Database, sha256: str) -> bytes | None:
    """The bytes kept in PostgreSQL under this hash, or None."""
    content: bytes | None = await database.fetchval(_READ_CONTENT, sha256)
    return content


async def count_contents(database: Database, sha256: str) -> int:
    """How many copies of these bytes the table holds (0 or 1: the key is the hash)."""
    count: int = await database.fetchval(_COUNT_CONTENTS, sha256)
    return count


async def insert_document(
    database: Database,
    *,
    sha256: str,
    size_bytes: int,
    media_type: str,
    file_name: str,
    uploaded_by: str,
    convention_id: str,
    task_id: str | None,
) -> DocumentRow:
    """The upload's row; the same bytes for the same convention and task: the first row."""
    await database.execute(
        _INSERT_ROW,
        sha256,
        size_bytes,
        media_type,
        file_name,
        uploaded_by,
        convention_id,
        task_id or "",
    )
    record = await database.fetchrow(_ROW_FOR_TASK, sha256, convention_id, task_id or "")
    return _row(record)


async def document_of_convention(
    database: Database, sha256: str, convention_id: str
) -> DocumentRow | None:
    """The document's first row for this convention; None when the convention never had it
    (a hash from another convention is not found, not forbidden)."""
    record = await database.fetchrow(_ROW_OF_CONVENTION, sha256, convention_id)
    return _row(record) if record is not None else None


async def first_document(database: Database, sha256: str) -> DocumentRow | None:
    """The first row ever written for these bytes, or None."""
    record = await database.fetchrow(_FIRST_ROW, sha256)
    return _row(record) if record is not None else None


async def documents_of_convention(database: Database, convention_id: str) -> list[DocumentRow]:
    """Every document uploaded for a convention, oldest first."""
    return [_row(record) for record in await database.fetch(_ROWS_OF_CONVENTION, convention_id)]


_CHAIN_HEAD = """
SELECT seq, hash FROM milestones WHERE convention_id = $1 ORDER BY seq DESC LIMIT 1
"""
_MILESTONE_HASH = "SELECT hash FROM milestones WHERE convention_id = $1 AND seq = $2"
_INSERT_ANCHOR = """
INSERT INTO chain_anchors (convention_id, head_seq, head_hash, tsa_url, token, gen_time)
VALUES ($1, $2, $3, $4, $5, $6)
ON CONFLICT (convention_id, head_seq) DO NOTHING
"""
_ANCHOR_COLUMNS = """
SELECT convention_id, head_seq, head_hash, tsa_url, token, gen_time, anchored_at
FROM chain_anchors
"""
_ANCHOR = _ANCHOR_COLUMNS + "WHERE convention_id = $1 AND head_seq = $2"
_ANCHORS = _ANCHOR_COLUMNS + "WHERE convention_id = $1 ORDER BY head_seq"


def _anchor(record: Any) -> AnchorRow:
    return AnchorRow(
        convention_id=record["convention_id"],
        head_seq=record["head_seq"],
        head_hash=record["head_hash"],
        tsa_url=record["tsa_url"],
        token=bytes(record["token"]),
        gen_time=record["gen_time"],
        anchored_at=record["anchored_at"],
    )


async def chain_head(database: Database, convention_id: str) -> tuple[int, str] | None:
    """The convention's last milestone: (seq, hash), or None before its first."""
    record = await database.fetchrow(_CHAIN_HEAD, convention_id)
    return (record["seq"], record["hash"]) if record is not None else None


async def milestone_hash(database: Database, convention_id: str, seq: int) -> str | None:
    """The stored hash of one milestone, or None when there is no such row."""
    found: str | None = await database.fetchval(_MILESTONE_HASH, convention_id, seq)
    return found


async def insert_anchor(
    database: Database,
    *,
    convention_id: str,
    head_seq: int,
    head_hash: str,
    tsa_url: str,
    token: bytes,
    gen_time: datetime,
) -> AnchorRow:
    """Keep a token over a chain head; a head anchored already keeps its first token."""
    await database.execute(
        _INSERT_ANCHOR, convention_id, head_seq, head_hash, tsa_url, token, gen_time
    )
    return _anchor(await database.fetchrow(_ANCHOR, convention_id, head_seq))


async def anchors_of_convention(database: Database, convention_id: str) -> list[AnchorRow]:
    """Every token over this convention's chain, by head."""
    return [_anchor(record) for record in await database.fetch(_ANCHORS, convention_id)]


# A head is due when it is not anchored and either the convention has just ended (its last
# milestone is one of `ending`: anchored at the next sweep) or its last anchor is older than
# `every_hours` (the daily anchor). Heads without a hash (before migration 003) cannot be.
_HEADS_DUE = """
WITH heads AS (
    SELECT DISTINCT ON (convention_id) convention_id, seq, hash, kind
    FROM milestones ORDER BY convention_id, seq DESC
)
SELECT h.convention_id FROM heads h
WHERE h.hash IS NOT NULL
  AND NOT EXISTS (SELECT 1 FROM chain_anchors a
                  WHERE a.convention_id = h.convention_id AND a.head_seq = h.seq)
  AND (h.kind = ANY($1::text[])
       OR NOT EXISTS (SELECT 1 FROM chain_anchors a
                      WHERE a.convention_id = h.convention_id
                        AND a.anchored_at > now() - make_interval(hours => $2)))
ORDER BY h.kind = ANY($1::text[]) DESC, h.convention_id
LIMIT $3
"""


async def heads_due_for_anchoring(
    database: Database, *, ending: list[str], every_hours: int, limit: int
) -> list[str]:
    """Conventions whose chain head should be timestamped now: those that just ended first,
    then those not anchored for `every_hours`."""
    return [
        record["convention_id"]
        for record in await database.fetch(_HEADS_DUE, ending, every_hours, limit)
    ]


@dataclass(frozen=True)
class DraftingFact:
    """A milestone of the drafting rounds, as the review page lists them: a version submitted,
    a review given, the office's revision, an approval."""

    seq: int
    kind: str
    task_id: str | None
    party: str | None
    actor: str | None
    occurred_at: datetime
    details: dict[str, Any]


_DRAFTING_FACTS = """
SELECT seq, kind, task_id, party, actor, occurred_at, details FROM milestones
WHERE convention_id = $1
  AND (kind IN ('draft_version', 'draft_approved')
       OR (kind = 'task_answered'
           AND details -> 'answer' ->> 'kind' IN ('review_draft', 'revise_draft')))
ORDER BY seq
"""


async def drafting_facts(database: Database, convention_id: str) -> list[DraftingFact]:
    """The recorded drafting rounds of a convention, in order (versions, reviews, revisions)."""
    return [
        DraftingFact(
            seq=record["seq"],
            kind=record["kind"],
            task_id=record["task_id"],
            party=record["party"],
            actor=record["actor"],
            occurred_at=record["occurred_at"],
            details=dict(record["details"] or {}),
        )
        for record in await database.fetch(_DRAFTING_FACTS, convention_id)
    ]


# The convention's latest version of the text (a drafting stage run again starts again at
# version 1: the latest milestone is the current text, as the workflow's status says it).
_LATEST_DRAFT_VERSION = """
SELECT details FROM milestones
 WHERE convention_id = $1 AND kind = 'draft_version'
 ORDER BY seq DESC
 LIMIT 1
"""


async def latest_draft_version(database: Database, convention_id: str) -> dict[str, Any] | None:
    """The details of the convention's latest `draft_version` milestone (its version and
    document), or None before any is recorded."""
    details = await database.fetchval(_LATEST_DRAFT_VERSION, convention_id)
    return None if details is None else dict(details)


_ENTERED = """
SELECT 1 FROM milestones WHERE convention_id = $1 AND kind = 'entered_into_force' LIMIT 1
"""
_SIGNATURES = """
SELECT s.task_id, s.actor, s.party, s.details, a.details -> 'principal' ->> 'method' AS method
FROM milestones s
LEFT JOIN LATERAL (
    SELECT details FROM milestones a
    WHERE a.convention_id = s.convention_id AND a.task_id = s.task_id
      AND a.kind = 'task_answered' AND a.seq < s.seq
    ORDER BY a.seq DESC LIMIT 1
) a ON true
WHERE s.convention_id = $1 AND s.kind = 'signed'
ORDER BY s.seq
"""


async def entered_into_force(database: Database, convention_id: str) -> bool:
    """Whether the convention's entry into force is recorded."""
    found: bool = await database.fetchval(_ENTERED, convention_id) is not None
    return found


async def signatures(database: Database, convention_id: str) -> list[Any]:
    """Every recorded signature (actor, party, details) with how its answer was proven (the
    method of the principal of the task's last answer before it)."""
    return list(await database.fetch(_SIGNATURES, convention_id))


_UNSEALED = """
SELECT m.convention_id FROM milestones m
WHERE m.kind = 'entered_into_force' AND m.occurred_at > now() - make_interval(days => $1)
  AND NOT EXISTS (SELECT 1 FROM documents d
                  WHERE d.convention_id = m.convention_id AND d.task_id = 'sealed-original')
ORDER BY m.occurred_at DESC
LIMIT $2
"""


async def unsealed_in_force(database: Database, *, within_days: int, limit: int) -> list[str]:
    """Conventions that entered into force in the last `within_days` days and have no sealed
    original yet, the most recent first."""
    return [
        record["convention_id"] for record in await database.fetch(_UNSEALED, within_days, limit)
    ]


_RECORD_SEALING_FAILURE = """
INSERT INTO sealing_failures (convention_id, reason) VALUES ($1, $2)
ON CONFLICT (convention_id) DO UPDATE
SET reason = excluded.reason, attempts = sealing_failures.attempts + 1, last_failed_at = now()
"""
_CLEAR_SEALING_FAILURE = "DELETE FROM sealing_failures WHERE convention_id = $1"
_SEALING_FAILURE = """
SELECT convention_id, reason, attempts, first_failed_at, last_failed_at
FROM sealing_failures WHERE convention_id = $1
"""
# The office's task list: every failure, or those of the conventions an officer started or is
# the officer of (as storage/convention_search.py's office_tasks reads "mine").
_SEALING_FAILURES = """
SELECT f.convention_id, f.reason, f.attempts, f.first_failed_at, f.last_failed_at,
       c.title, s.officer_name
FROM sealing_failures AS f
LEFT JOIN conventions AS c ON c.id = f.convention_id
LEFT JOIN convention_search AS s ON s.convention_id = f.convention_id
ORDER BY f.first_failed_at, f.convention_id
"""
_SEALING_FAILURES_MINE = """
SELECT f.convention_id, f.reason, f.attempts, f.first_failed_at, f.last_failed_at,
       c.title, s.officer_name
FROM sealing_failures AS f
LEFT JOIN conventions AS c ON c.id = f.convention_id
LEFT JOIN convention_search AS s ON s.convention_id = f.convention_id
WHERE lower(s.officer_email) = $1
   OR EXISTS (SELECT 1 FROM office_access_log AS a
              WHERE a.action = 'start' AND a.outcome = 'ok' AND lower(a.email) = $1
                AND a.target = f.convention_id)
ORDER BY f.first_failed_at, f.convention_id
"""


@dataclass(frozen=True)
class SealingFailure:
    """A signed original the sweep could not seal: the office's task until it is sealed."""

    convention_id: str
    reason: str
    attempts: int
    first_failed_at: datetime
    last_failed_at: datetime
    title: str | None = None
    officer_name: str | None = None


def _failure(record: Any) -> SealingFailure:
    return SealingFailure(
        **{
            name: record[name]
            for name in record.keys()  # noqa: SIM118 - asyncpg's Record is not a dict
        }
    )


async def record_sealing_failure(database: Database, convention_id: str, reason: str) -> None:
    """Keep (or renew) why the convention's signed original could not be sealed."""
    await database.execute(_RECORD_SEALING_FAILURE, convention_id, reason)


async def clear_sealing_failure(database: Database, convention_id: str) -> None:
    """The signed original is sealed: the office's task is done."""
    await database.execute(_CLEAR_SEALING_FAILURE, convention_id)


async def sealing_failure(database: Database, convention_id: str) -> SealingFailure | None:
    """Why the convention's signed original is not sealed yet, if the sweep was refused."""
    record = await database.fetchrow(_SEALING_FAILURE, convention_id)
    return _failure(record) if record is not None else None


async def sealing_failures(database: Database, officer_email: str | None) -> list[SealingFailure]:
    """Every signed original not sealed after a refusal (of this officer's conventions)."""
    records = (
        await database.fetch(_SEALING_FAILURES)
        if officer_email is None
        else await database.fetch(_SEALING_FAILURES_MINE, officer_email.lower())
    )
    return [_failure(record) for record in records]
