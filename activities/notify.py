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
from schemas.channels import Channel, DeliveryPlan, DeliveryStatus, RetrySettings
from schemas.notifications import Notification, OwedNotification
from storage.inbox import upsert_tasks

_INSERT_NOTIFICATION = """
INSERT INTO notifications (id, convention_id, event, party, language, subject,
                           recipients, task, created_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
ON CONFLICT (id) DO NOTHING
"""

_INSERT_LINK = """
INSERT INTO partner_links (token_hash, notification_id, contact_name, contact_email, language,
                           party, convention_id, task_id, expires_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
ON CONFLICT DO NOTHING
"""

# A task's new due date (postponed) reaches the links sent for it before: they expire with
# the new ones, never sooner than they did.
_EXTEND_EARLIER_LINKS = """
UPDATE partner_links SET expires_at = $3
 WHERE convention_id = $1 AND task_id = $2 AND revoked_at IS NULL AND expires_at < $3
"""

# A task given to one named contact: the links of its other contacts stop working.
_REVOKE_OTHER_CONTACTS = """
UPDATE partner_links
   SET revoked_at = now(), revoked_reason = 'reassigned to ' || $3
 WHERE convention_id = $1 AND task_id = $2 AND contact_name <> $3 AND revoked_at IS NULL
"""


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
        async with transaction(self._pool) as connection:
            if task.contact is not None:
                await connection.execute(
                    _REVOKE_OTHER_CONTACTS, task.convention_id, task.id, task.contact
                )
            await connection.execute(_EXTEND_EARLIER_LINKS, task.convention_id, task.id, expires_at)
            for contact in notification.recipients:
                token = contact_link_token(secret, notification.id, contact.name)
                await connection.execute(
                    _INSERT_LINK,
                    token_hash(token),
                    notification.id,
                    contact.name,
                    str(contact.email) if contact.email else None,
                    contact.language.value,
                    task.assignee,
                    task.convention_id,
                    task.id,
                    expires_at,
                )

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
