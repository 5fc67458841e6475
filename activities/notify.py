"""Notify parties of the tasks they owe.

For now a notification is recorded in PostgreSQL, keyed by its stable id; the delivery
channels (signed webhooks, e-mail) read from that record.
"""

from __future__ import annotations

import asyncpg
from temporalio import activity

from schemas.notifications import Notification

_INSERT_NOTIFICATION = """
INSERT INTO notifications (id, convention_id, event, party, language, subject,
                           recipients, task, created_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
ON CONFLICT (id) DO NOTHING
"""


class Notifier:
    """Activities that tell parties what they owe."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

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
