"""What no one can use any more, deleted: the partner desk's codes, sessions, links, failure
counters, Idempotency-Keys and CloudEvent ids, and the office's sessions."""

from __future__ import annotations

from datetime import UTC, datetime

import asyncpg

_PURGES = (
    # (what, statement), $1 being now; in this order, as codes refer to sessions and
    # sessions to links.
    (
        "codes",
        "DELETE FROM partner_codes WHERE expires_at < $1::timestamptz - interval '1 day'"
        " OR session_hash IN"
        " (SELECT id_hash FROM partner_sessions WHERE expires_at < $1::timestamptz)",
    ),
    ("sessions", "DELETE FROM partner_sessions WHERE expires_at < $1::timestamptz"),
    (
        "links",
        "DELETE FROM partner_links AS l WHERE l.expires_at < $1::timestamptz - interval '30 days'"
        " AND NOT EXISTS (SELECT 1 FROM partner_sessions AS s WHERE s.link_hash = l.token_hash)",
    ),
    (
        # A contact's remembered language goes with the last link that names them.
        "contact languages",
        "DELETE FROM partner_contact_languages AS c WHERE c.chosen_at < $1::timestamptz"
        " AND NOT EXISTS (SELECT 1 FROM partner_links AS l"
        " WHERE l.party = c.party AND l.contact_name = c.contact_name)",
    ),
    (
        "failure counters",
        "DELETE FROM partner_failures WHERE window_start < $1::timestamptz - interval '1 day'",
    ),
    (
        "failure buckets",
        "DELETE FROM failure_buckets WHERE last_at < $1::timestamptz - interval '1 day'",
    ),
    (
        "idempotency keys",
        "DELETE FROM partner_idempotency WHERE created_at < $1::timestamptz - interval '7 days'",
    ),
    (
        "events",
        "DELETE FROM partner_events WHERE received_at < $1::timestamptz - interval '7 days'",
    ),
    ("office sessions", "DELETE FROM office_sessions WHERE expires_at < $1::timestamptz"),
)


async def purge_expired(pool: asyncpg.Pool, now: datetime | None = None) -> dict[str, int]:
    """Delete what no one can use any more, and say how many rows of each went.

    A link 30 days past its expiry (until then it says "expired", after it "unknown"), a
    session past its end, a code a day past its ten minutes, a failure counter's window a
    day old, an Idempotency-Key or a CloudEvent id after seven days (a retry that late gets
    the workflow's own refusal, naming who answered; a CloudEvent's timestamp must be within
    five minutes anyway). Receipts, keys and the office's access log are kept.
    """
    moment = now or datetime.now(UTC)
    purged: dict[str, int] = {}
    async with pool.acquire() as connection:
        for what, statement in _PURGES:
            status = await connection.execute(statement, moment)
            purged[what] = int(status.split()[-1])
    return purged
