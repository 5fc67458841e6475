"""Notify parties of the tasks they owe: the outbox record, then the plan of its delivery.

`notify_party` records the notification in PostgreSQL under its stable id (the outbox), and
mints each recipient's link to the partner desk (its hash, keyed on notification + contact:
a retried activity finds the link it made);
`plan_delivery` decides which of the party's channels to attempt and records the others as
"no channel", so every notification has one delivery row per channel. The channels
themselves deliver in webhook.py and mail.py.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import activity

from activities.delivery_log import DeliveryLog
from activities.message_templates import is_to_officer
from activities.recipients import directory_recipients
from activities.webhook import webhook_endpoint
from infra.database import Database, transaction
from infra.outbound import redacted_url
from infra.portal_settings import (
    PortalSettings,
    contact_link_token,
    link_secret,
    load_portal_settings,
    token_hash,
)
from infra.secrets import SecretError
from infra.settings import DeliverySettings, SettingsError, load_delivery_settings
from rendering.deliveries import written
from schemas.channels import (
    Channel,
    DeliveryDetail,
    DeliveryDetailCode,
    DeliveryPlan,
    DeliveryStatus,
    RetrySettings,
)
from schemas.notifications import Notification, OwedNotification
from storage.inbox import upsert_tasks
from storage.notifications import NewLink, TaskLinks, record_notification, store_links


class Notifier:
    """Activities that tell parties what they owe."""

    def __init__(self, pool: Database, settings: DeliverySettings | None = None) -> None:
        self._pool = pool
        self._log = DeliveryLog(pool)
        self._settings = settings or load_delivery_settings()

    @activity.defn
    async def record_notification(self, owed: OwedNotification) -> DeliveryPlan:
        """`notify_party`, `sync_tasks` and `plan_delivery` in one call: the notification
        recorded and its links minted, the inbox brought up to date (a partner who opens it
        on receipt finds the task), the channels planned. One round trip for the workflow
        instead of three, one transaction; each step is idempotent, so a retried call
        changes nothing."""
        # One transaction, one commit: the same steps on one connection.
        async with transaction(self._pool) as connection:
            within = Notifier(connection, self._settings)
            await within.notify_party(owed.notification)
            if owed.tasks:
                await upsert_tasks(connection, owed.tasks)
            return await within.plan_delivery(owed.notification)

    @activity.defn
    async def notify_party(self, notification: Notification) -> bool:
        """Record the notification once; False when a retry finds it already recorded.
        Its task's recipients are the directory's people who may act on it, where the
        directory holds the organisation (`activities.recipients`)."""
        notification = await directory_recipients(self._pool, notification)
        inserted = await record_notification(self._pool, notification)
        activity.logger.info(
            "notification recorded" if inserted else "notification already recorded",
            extra={"convention_id": notification.convention_id, "notification": notification.id},
        )
        await self._mint_links(notification)
        return inserted

    async def _mint_links(self, notification: Notification) -> None:
        """Store the hash of each recipient's link; the mail derives the same token again."""
        task = notification.task
        if task is None or is_to_officer(notification):
            return
        try:
            secret = link_secret(self._settings.secrets_file)
            portal: PortalSettings = load_portal_settings()
        except (SecretError, SettingsError) as error:
            # The message names the variable, never the value; the mail then has no link.
            activity.logger.warning(
                "no contact links: the link secret is unusable",
                extra={"notification": notification.id, "reason": str(error)},
            )
            return
        expires_at = task.due_at + timedelta(days=portal.link_days_after_due)
        links = [
            NewLink(
                token_hash=token_hash(contact_link_token(secret, notification.id, contact.name)),
                contact_name=contact.name,
                contact_email=str(contact.email) if contact.email else None,
                language=contact.language.value,
            )
            for contact in notification.recipients
        ]
        await store_links(
            self._pool,
            TaskLinks(
                notification_id=notification.id,
                convention_id=task.convention_id,
                task_id=task.id,
                party=task.assignee,
                contact=task.contact,
                expires_at=expires_at,
                links=links,
            ),
        )

    @activity.defn
    async def plan_delivery(self, notification: Notification) -> DeliveryPlan:
        """The channels to attempt, and the retry policy to attempt them with.

        A channel the party did not declare, or that this deployment cannot use (no SMTP
        server), is recorded as "no channel": not an error, nothing to retry.
        """
        settings = self._settings
        notification = await directory_recipients(self._pool, notification)
        channels: list[Channel] = []
        webhook_url = await webhook_endpoint(self._pool, notification)
        if webhook_url:
            channels.append(Channel.WEBHOOK)
            await self._log.plan(
                notification.id,
                Channel.WEBHOOK,
                notification.party,
                target=redacted_url(webhook_url),
                status=DeliveryStatus.PENDING,
            )
        else:
            await self._log.plan(
                notification.id,
                Channel.WEBHOOK,
                notification.party,
                target=None,
                status=DeliveryStatus.NO_CHANNEL,
                detail=written(
                    DeliveryDetail(
                        code=DeliveryDetailCode.NO_WEBHOOK, params={"party": notification.party}
                    )
                ),
            )
        emails = notification.emails
        if emails and settings.smtp is not None:
            channels.append(Channel.EMAIL)
            status, detail = DeliveryStatus.PENDING, None
        elif emails:
            status = DeliveryStatus.NO_CHANNEL
            detail = written(DeliveryDetail(code=DeliveryDetailCode.NO_SMTP_SERVER))
        else:
            # Written as its code's English wording: the office's page says it per language.
            status = DeliveryStatus.NO_CHANNEL
            detail = written(
                DeliveryDetail(
                    code=DeliveryDetailCode.NO_EMAIL_ADDRESS, params={"party": notification.party}
                )
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
