"""The desk's receipts: every answer it got accepted, as a link or the API shows it again."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from schemas.actors import Principal

INSERT_RECEIPT = (
    "INSERT INTO partner_receipts (convention_id, task_id, party, principal, answer,"
    " accepted_at) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING"
)


@dataclass(frozen=True)
class Receipt:
    """An accepted answer, as the desk shows it again."""

    convention_id: str
    task_id: str
    accepted_at: datetime
    principal: Principal
    answer: dict[str, Any]


def receipt_values(receipt: Receipt, party: str) -> list[Any]:
    """INSERT_RECEIPT's values ($1 … $6)."""
    return [
        receipt.convention_id,
        receipt.task_id,
        party,
        receipt.principal.model_dump(mode="json"),
        receipt.answer,
        receipt.accepted_at,
    ]


async def keep_receipt(pool: asyncpg.Pool, receipt: Receipt, party: str) -> None:
    """Keep the receipt (the first one of a task stays)."""
    await pool.execute(INSERT_RECEIPT, *receipt_values(receipt, party))


# The task's answer as the workflow recorded it: its first `task_answered` milestone (a task is
# answered once; a later run's copy of it would say the same).
_RECORDED_ANSWER = (
    "SELECT party, details, occurred_at FROM milestones"
    " WHERE convention_id = $1 AND task_id = $2 AND kind = 'task_answered'"
    " ORDER BY seq LIMIT 1"
)


@dataclass(frozen=True)
class RecordedAnswer:
    """A task's answer as its `task_answered` milestone holds it: what a lost receipt is
    rebuilt from."""

    party: str | None
    principal: Principal | None
    answer: dict[str, Any]
    occurred_at: datetime


async def recorded_answer(
    pool: asyncpg.Pool, convention_id: str, task_id: str
) -> RecordedAnswer | None:
    """The task's `task_answered` milestone, if the workflow's record has landed."""
    row = await pool.fetchrow(_RECORDED_ANSWER, convention_id, task_id)
    if row is None:
        return None
    details = row["details"] or {}
    principal = details.get("principal")
    return RecordedAnswer(
        party=row["party"],
        principal=None if principal is None else Principal.model_validate(principal),
        answer=details.get("answer") or {},
        occurred_at=row["occurred_at"],
    )


async def find_receipt(pool: asyncpg.Pool, convention_id: str, task_id: str) -> Receipt | None:
    """The desk's receipt of an answer to this task, if the desk carried it."""
    row = await pool.fetchrow(
        "SELECT * FROM partner_receipts WHERE convention_id = $1 AND task_id = $2",
        convention_id,
        task_id,
    )
    if row is None:
        return None
    return Receipt(
        convention_id=row["convention_id"],
        task_id=row["task_id"],
        accepted_at=row["accepted_at"],
        principal=Principal.model_validate(row["principal"]),
        answer=row["answer"],
    )
