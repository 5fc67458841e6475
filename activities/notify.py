"""Notify parties of the tasks they owe: the outbox record, then the plan of its delivery.

`notify_party` records the notification in PostgreSQL under its stable id (the outbox);
`plan_delivery` decides which of the party's channels to attempt and records the others as
"no channel", so every notification has one delivery row per channel. The channels
themselves deliver in webhook.py and mail.py.
"""

from __future__ import annotations

from datetime import timedelta

import asyncpg
from temporalio import activity

from activities.delivery_log import DeliveryLog
from infra.settings import DeliverySettings, load_delivery_settings
from schemas.channels import Channel, DeliveryPlan, DeliveryStatus, RetrySettings
from schemas.notifications import Notification

_INSERT_NOTIFICATION = """
INSERT INTO notifications (id, convention_id, event, party, language, subject,
                           recipients, task, created_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
ON CONFLICT (id) DO NOTHING
"""


class Notifier:
    """Activities that tell parties what they owe."""

    def __init__(self, pool: asyncpg.Pool, settings: DeliverySettings | None = None) -> None:
        self._pool = pool
        self._log = DeliveryLog(pool)
        self._settings = settings or load_delivery_settings()

    @activity.defn
    async def notify_party(self, notification: Notification) -> bool:
        """Record the notification once; False when a retry finds it already recorded."""
        status: str = await self._pool.execute(
            _INSERT_NOTIFICATION,
            notification.id,
            notification.convention_id,
            notification.event.value,
            notification.party,
            notification.language.value,
            notification.subject,
            [contact.model_dump(mode="json") for contact in notification.recipients],
            notification.task.model_dump(mode="json") if notification.task else None,
            notification.created_at,
        )
        inserted = status.endswith(" 1")
        activity.logger.info(
            "notification recorded" if inserted else "notification already recorded",
            extra={"convention_id": notification.convention_id, "notification": notification.id},
        )
        return inserted

    @activity.defn
    async def plan_delivery(self, notification: Notification) -> DeliveryPlan:
        """The channels to attempt, and the retry policy to attempt them with.

        A channel the party did not declare, or that this deployment cannot use (no SMTP
        server), is recorded as "no channel": not an error, nothing to retry.
        """
        settings = self._settings
        channels: list[Channel] = []
        webhook_url = notification.webhook_url
        if webhook_url:
            channels.append(Channel.WEBHOOK)
            await self._log.plan(
                notification.id,
                Channel.WEBHOOK,
                notification.party,
                target=webhook_url,
                status=DeliveryStatus.PENDING,
            )
        else:
            await self._log.plan(
                notification.id,
                Channel.WEBHOOK,
                notification.party,
                target=None,
                status=DeliveryStatus.NO_CHANNEL,
                detail=f"party {notification.party!r} declares no webhook_url",
            )
        emails = notification.emails
        if emails and settings.smtp is not None:
            channels.append(Channel.EMAIL)
            status, detail = DeliveryStatus.PENDING, None
        elif emails:
            status, detail = (
                DeliveryStatus.NO_CHANNEL,
                "no SMTP server configured (PACTE_SMTP_HOST)",
            )
        else:
            status, detail = (
                DeliveryStatus.NO_CHANNEL,
                f"no contact of {notification.party!r} has an e-mail address",
            )
        await self._log.plan(
            notification.id,
            Channel.EMAIL,
            notification.party,
            target=", ".join(emails) or None,
            status=status,
            detail=detail,
        )
        return DeliveryPlan(
            notification_id=notification.id,
            channels=channels,
            retry=RetrySettings(
                initial_interval=timedelta(seconds=settings.initial_retry_seconds),
                maximum_interval=timedelta(seconds=settings.maximum_retry_seconds),
                maximum_attempts=settings.maximum_attempts,
                attempt_timeout=timedelta(seconds=settings.attempt_timeout_seconds),
            ),
        )
