"""Once only: an API answer under an Idempotency-Key, a CloudEvent under its source and id
(each within the party that sent it: migration 016).

`reserve_once` claims the key before the answer goes to the workflow; `complete` keeps the
receipt and marks the key done in one statement (one round trip, one commit); `release` frees
the key of an answer that was not accepted, for a corrected request. A second call with a key
already done gets the stored receipt; another request under the same key is told so.
"""

from __future__ import annotations

import enum
import hashlib
from dataclasses import dataclass
from typing import Any

import asyncpg

from storage.receipts import INSERT_RECEIPT, Receipt, find_receipt, receipt_values


@dataclass(frozen=True)
class IdempotencyKey:
    """A party's `Idempotency-Key`, for one request: its task and its body's hash."""

    party: str
    key: str
    body_hash: bytes
    convention_id: str
    task_id: str

    @property
    def request_id(self) -> str:
        """The answer's request id (`Principal.request_id`), the same for every retry of this
        request: the workflow records it in the answer's milestone, which is how a receipt
        lost after the answer is recognised as this request's (`receipt_repair`)."""
        digest = hashlib.sha256(f"{self.party}\0{self.key}\0".encode() + self.body_hash)
        return "idem-" + digest.hexdigest()[:32]


@dataclass(frozen=True)
class EventKey:
    """A CloudEvent's identity (source + id) within the party whose system signed it."""

    source: str
    id: str
    party: str


OnceKey = IdempotencyKey | EventKey


class OnceState(enum.Enum):
    """What `reserve_once` found."""

    RESERVED = "reserved"
    """The key is this caller's: answer, then `complete` (or `release` on failure)."""
    DONE = "done"
    """Answered before: the stored receipt (None when it is not there)."""
    IN_FLIGHT = "in_flight"
    """Another request under this key has not finished."""
    OTHER_REQUEST = "other_request"
    """The key was used for another request (another body, another party)."""


@dataclass(frozen=True)
class Once:
    """The outcome of a reservation."""

    state: OnceState
    receipt: Receipt | None = None


async def reserve_once(pool: asyncpg.Pool, once: OnceKey) -> Once:
    """Claim the key, or say what an earlier request under it became."""
    if isinstance(once, IdempotencyKey):
        reserved = await pool.fetchrow(
            "INSERT INTO partner_idempotency (party, key, body_hash, convention_id, task_id)"
            " VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING RETURNING key",
            once.party,
            once.key,
            once.body_hash,
            once.convention_id,
            once.task_id,
        )
        if reserved is not None:
            return Once(OnceState.RESERVED)
        row = await pool.fetchrow(
            "SELECT * FROM partner_idempotency WHERE party = $1 AND key = $2",
            once.party,
            once.key,
        )
        if row is None or row["body_hash"] != once.body_hash:
            return Once(OnceState.OTHER_REQUEST)
        if row["receipt"] is None:
            return Once(OnceState.IN_FLIGHT)
        stored = await find_receipt(pool, row["convention_id"], row["task_id"])
        return Once(OnceState.DONE, stored)
    reserved = await pool.fetchrow(
        "INSERT INTO partner_events (source, id, party) VALUES ($1, $2, $3)"
        " ON CONFLICT DO NOTHING RETURNING id",
        once.source,
        once.id,
        once.party,
    )
    if reserved is not None:
        return Once(OnceState.RESERVED)
    row = await pool.fetchrow(
        "SELECT * FROM partner_events WHERE party = $1 AND source = $2 AND id = $3",
        once.party,
        once.source,
        once.id,
    )
    if row is None:
        return Once(OnceState.OTHER_REQUEST)
    if row["receipt"] is None:
        return Once(OnceState.IN_FLIGHT)
    done = row["receipt"]
    return Once(OnceState.DONE, await find_receipt(pool, done["convention_id"], done["task_id"]))


# One round trip, one commit: the receipt kept, and its key (an API's Idempotency-Key, or an
# event's source and id) marked done with it.
#
# An API answer's commit does not wait for the disk (`synchronous_commit` off for this
# transaction only, set by the statement itself): a crash of PostgreSQL can lose the last
# fraction of a second of these commits, receipt and mark together, while the workflow keeps
# the answers. A retry under the same key then finds its key reserved (or free, the
# reservation lost too) or done without a receipt, and `receipt_repair` rebuilds the same
# receipt from the answer's `task_answered` milestone, whose principal carries this request's
# id: the same receipt, the answer still recorded once. An event's receipt keeps waiting for
# the disk (nothing rebuilds it yet).
_KEEP_RECEIPT_MARK_KEY = (
    f"WITH kept AS ({INSERT_RECEIPT})"
    " UPDATE partner_idempotency SET receipt = $7"
    " FROM (SELECT set_config('synchronous_commit', 'off', true)) AS receipt_commit"
    " WHERE party = $8 AND key = $9"
)
_KEEP_RECEIPT_MARK_EVENT = (
    f"WITH kept AS ({INSERT_RECEIPT})"
    " UPDATE partner_events SET receipt = $7 WHERE party = $8 AND source = $9 AND id = $10"
)


async def complete(pool: asyncpg.Pool, once: OnceKey, receipt: Receipt, party: str) -> None:
    """Keep the receipt and mark the key done, in one statement."""
    marker: dict[str, Any]
    if isinstance(once, IdempotencyKey):
        statement = _KEEP_RECEIPT_MARK_KEY
        marker = {"task_id": receipt.task_id, "accepted_at": receipt.accepted_at.isoformat()}
        keys: tuple[str, ...] = (once.party, once.key)
    else:
        statement = _KEEP_RECEIPT_MARK_EVENT
        marker = {"convention_id": receipt.convention_id, "task_id": receipt.task_id}
        keys = (once.party, once.source, once.id)
    await pool.execute(statement, *receipt_values(receipt, party), marker, *keys)


async def release(pool: asyncpg.Pool, once: OnceKey) -> None:
    """Free the key: its request was not answered."""
    if isinstance(once, IdempotencyKey):
        await pool.execute(
            "DELETE FROM partner_idempotency WHERE party = $1 AND key = $2", once.party, once.key
        )
    else:
        await pool.execute(
            "DELETE FROM partner_events WHERE party = $1 AND source = $2 AND id = $3",
            once.party,
            once.source,
            once.id,
        )


IN_FLIGHT_LEASE_SECONDS = 30.0
"""How long a reservation without a receipt belongs to its request. An answer takes about a
second; one reserved longer ago was cut (its replica killed, its connection lost) before it
could keep its receipt or free the key, and a retry under the same key takes it over rather
than hear "still in progress" until the key expires. A request that was only slow cannot
double the answer: the workflow refuses a second answer to a task and names the first."""

_TAKE_OVER_ABANDONED = (
    "UPDATE partner_idempotency SET created_at = now()"
    " WHERE party = $1 AND key = $2 AND body_hash = $3 AND receipt IS NULL"
    " AND created_at < now() - make_interval(secs => $4)"
    " RETURNING key"
)


async def take_over_abandoned(
    pool: asyncpg.Pool, once: OnceKey, lease_seconds: float = IN_FLIGHT_LEASE_SECONDS
) -> bool:
    """Take the same request's reservation when it is older than the lease (its request was
    cut); False when it is still young (the request may be running) or not an API key's."""
    if not isinstance(once, IdempotencyKey):
        return False
    taken = await pool.fetchval(
        _TAKE_OVER_ABANDONED, once.party, once.key, once.body_hash, lease_seconds
    )
    return taken is not None
