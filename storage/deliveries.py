"""The delivery log: a status per notification and channel, a row per attempt.

The channels' activities (activities/webhook.py, mail.py, through activities/delivery_log.py)
open an attempt before they send and close it with what the other side answered. An attempt
opened on a notification already delivered on that channel is refused, and a delivered
channel's status never changes again, so a retry that follows a lost acknowledgement neither
sends twice nor undoes the delivery.
"""

from __future__ import annotations

from infra.database import Database, transaction
from schemas.channels import AttemptStatus, Channel, DeliveryStatus

_PLAN = """
INSERT INTO deliveries (notification_id, channel, party, target, status, last_detail)
VALUES ($1, $2, $3, $4, $5, $6)
ON CONFLICT (notification_id, channel) DO NOTHING
"""

# The counter lives on the channel's row: attempts stay numbered 1, 2, 3… across Temporal
# retries, worker crashes and the officer's retries, which each restart Temporal's own count.
_OPEN_ATTEMPT = """
WITH opened AS (
    UPDATE deliveries
       SET attempts = attempts + 1, status = 'sending', updated_at = now()
     WHERE notification_id = $1 AND channel = $2 AND status <> 'delivered'
 RETURNING notification_id, channel, party, attempts
)
INSERT INTO delivery_attempts (notification_id, channel, attempt, party, status,
                               activity_attempt, workflow_id)
SELECT notification_id, channel, attempts, party, 'sending', $3, $4 FROM opened
RETURNING attempt
"""

_CLOSE_ATTEMPT = """
UPDATE delivery_attempts
   SET status = $4, response_code = $5, detail = $6, finished_at = now()
 WHERE notification_id = $1 AND channel = $2 AND attempt = $3
"""

_SET_STATUS = """
UPDATE deliveries
   SET status = $3, last_response_code = COALESCE($4, last_response_code),
       last_detail = COALESCE($5, last_detail), updated_at = now(),
       delivered_at = CASE WHEN $3 = 'delivered' THEN now() ELSE delivered_at END
 WHERE notification_id = $1 AND channel = $2 AND status <> 'delivered'
"""


async def plan_channel(
    database: Database,
    notification_id: str,
    channel: Channel,
    party: str,
    *,
    target: str | None,
    status: DeliveryStatus,
    detail: str | None = None,
) -> None:
    """Create the channel's row once; a retried plan leaves an existing row alone."""
    await database.execute(
        _PLAN, notification_id, channel.value, party, target, status.value, detail
    )


async def open_attempt(
    database: Database,
    notification_id: str,
    channel: Channel,
    *,
    activity_attempt: int,
    workflow_id: str | None,
) -> int | None:
    """Number and record a new attempt; None when the channel already delivered it.

    `activity_attempt` and `workflow_id` say which Temporal execution made the attempt.
    """
    attempt: int | None = await database.fetchval(
        _OPEN_ATTEMPT, notification_id, channel.value, activity_attempt, workflow_id
    )
    return attempt


async def close_attempt(
    database: Database,
    notification_id: str,
    channel: Channel,
    attempt: int,
    status: AttemptStatus,
    channel_status: DeliveryStatus,
    *,
    response_code: int | None = None,
    detail: str | None = None,
) -> None:
    """Record what an attempt did and the channel's status that follows, in one transaction
    (the log never shows an attempt closed and its channel still sending)."""
    async with transaction(database) as connection:
        await connection.execute(
            _CLOSE_ATTEMPT,
            notification_id,
            channel.value,
            attempt,
            status.value,
            response_code,
            detail,
        )
        await connection.execute(
            _SET_STATUS,
            notification_id,
            channel.value,
            channel_status.value,
            response_code,
            detail,
        )


async def set_status(
    database: Database,
    notification_id: str,
    channel: Channel,
    status: DeliveryStatus,
    detail: str,
) -> None:
    """Set a channel's status outside any attempt (no channel after all, given up); a
    delivered channel keeps its status."""
    await database.execute(_SET_STATUS, notification_id, channel.value, status.value, None, detail)
