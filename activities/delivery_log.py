"""The delivery log in PostgreSQL: a status per notification and channel, a row per attempt.

Channels (webhook.py, mail.py) open an attempt before they send and close it with what the
other side answered. An attempt opened on a notification already delivered on that channel
is refused, so a retry that follows a lost acknowledgement does not send twice.
"""

from __future__ import annotations

from datetime import timedelta
from typing import NoReturn

from temporalio import activity
from temporalio.exceptions import ApplicationError

from infra.database import Database, transaction
from schemas.channels import (
    PERMANENT_FAILURE,
    AttemptStatus,
    Channel,
    DeliveryFailure,
    DeliveryStatus,
)
from schemas.notifications import Notification

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


class DeliveryLog:
    """Writes of the delivery log; one instance per worker, over its pool."""

    def __init__(self, pool: Database) -> None:
        self._pool = pool

    async def plan(
        self,
        notification_id: str,
        channel: Channel,
        party: str,
        *,
        target: str | None,
        status: DeliveryStatus,
        detail: str | None = None,
    ) -> None:
        """Create the channel's row once; a retried plan leaves an existing row alone."""
        await self._pool.execute(
            _PLAN, notification_id, channel.value, party, target, status.value, detail
        )

    async def open_attempt(self, notification_id: str, channel: Channel) -> int | None:
        """Number and record a new attempt; None when the channel already delivered it."""
        info = activity.info()
        attempt: int | None = await self._pool.fetchval(
            _OPEN_ATTEMPT, notification_id, channel.value, info.attempt, info.workflow_id
        )
        return attempt

    async def close_attempt(
        self,
        notification_id: str,
        channel: Channel,
        attempt: int,
        status: AttemptStatus,
        *,
        response_code: int | None = None,
        detail: str | None = None,
    ) -> None:
        """Record what an attempt did, and the channel's status that follows from it."""
        channel_status = {
            AttemptStatus.DELIVERED: DeliveryStatus.DELIVERED,
            AttemptStatus.TRANSIENT_FAILURE: DeliveryStatus.RETRYING,
            AttemptStatus.PERMANENT_FAILURE: DeliveryStatus.FAILED,
            AttemptStatus.SENDING: DeliveryStatus.SENDING,
        }[status]
        async with transaction(self._pool) as connection:
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

    async def fail_attempt(
        self,
        notification: Notification,
        channel: Channel,
        attempt: int,
        code: int | None,
        reason: str,
        *,
        permanent: bool,
        delay: timedelta | None = None,
    ) -> NoReturn:
        """Close a failed attempt, log it, and raise what tells Temporal whether to retry."""
        status = AttemptStatus.PERMANENT_FAILURE if permanent else AttemptStatus.TRANSIENT_FAILURE
        await self.close_attempt(
            notification.id, channel, attempt, status, response_code=code, detail=reason
        )
        activity.logger.warning(
            f"{channel.value} attempt failed",
            extra={
                "notification": notification.id,
                "party": notification.party,
                "attempt": attempt,
                "status": code,
                "reason": reason,
                "permanent": permanent,
            },
        )
        raise ApplicationError(
            reason,
            {"response_code": code, "attempt": attempt},
            type=PERMANENT_FAILURE if permanent else "TransientDeliveryFailure",
            non_retryable=permanent,
            next_retry_delay=delay,
        )

    async def set_status(
        self, notification_id: str, channel: Channel, status: DeliveryStatus, detail: str
    ) -> None:
        """Set a channel's status outside any attempt (no channel after all, given up)."""
        await self._pool.execute(
            _SET_STATUS, notification_id, channel.value, status.value, None, detail
        )

    @activity.defn
    async def give_up_delivery(self, failure: DeliveryFailure) -> None:
        """Mark a channel failed once Temporal stops retrying (permanent or out of attempts)."""
        await self.set_status(
            failure.notification_id, failure.channel, DeliveryStatus.FAILED, failure.reason
        )
        activity.logger.warning(
            "delivery given up",
            extra={
                "notification": failure.notification_id,
                "channel": failure.channel.value,
                "party": failure.party,
                "reason": failure.reason,
            },
        )
