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

from infra.database import Database
from schemas.channels import (
    PERMANENT_FAILURE,
    AttemptStatus,
    Channel,
    DeliveryFailure,
    DeliveryStatus,
)
from schemas.notifications import Notification
from storage import deliveries


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
        await deliveries.plan_channel(
            self._pool, notification_id, channel, party, target=target, status=status, detail=detail
        )

    async def open_attempt(self, notification_id: str, channel: Channel) -> int | None:
        """Number and record a new attempt; None when the channel already delivered it."""
        info = activity.info()
        return await deliveries.open_attempt(
            self._pool,
            notification_id,
            channel,
            activity_attempt=info.attempt,
            workflow_id=info.workflow_id,
        )

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
        await deliveries.close_attempt(
            self._pool,
            notification_id,
            channel,
            attempt,
            status,
            channel_status,
            response_code=response_code,
            detail=detail,
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
        await deliveries.set_status(self._pool, notification_id, channel, status, detail)

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
