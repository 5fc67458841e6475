"""The notification outbox and the contact links minted with each notification.

A notification is recorded once under its stable id (a retried activity finds it there);
each recipient's link to the partner desk is stored by the hash of its token, keyed on
notification + contact, so a retry finds the link it made. Both take a `Database`: the
worker records a notification, its links and its inbox rows in one transaction of its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from infra.database import Database, transaction
from schemas.notifications import Notification

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


async def record_notification(database: Database, notification: Notification) -> bool:
    """Record the notification once; False when a retry finds it already recorded."""
    status: str = await database.execute(
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
    return status.endswith(" 1")


@dataclass(frozen=True)
class NewLink:
    """One recipient's link, as minted: only the hash of its token is stored (the mail
    derives the same token again from the secret)."""

    token_hash: bytes
    contact_name: str
    contact_email: str | None
    language: str


@dataclass(frozen=True)
class TaskLinks:
    """The links minted for one notification of one task, and what they replace."""

    notification_id: str
    convention_id: str
    task_id: str
    party: str
    contact: str | None
    """The one contact the task is given to, if named: the others' links are revoked."""
    expires_at: datetime
    links: list[NewLink]


async def store_links(database: Database, minted: TaskLinks) -> None:
    """Store a notification's links in one transaction (a savepoint inside a caller's):
    the other contacts' links revoked when the task names one, the earlier links extended
    to the new expiry, then each new link once (a retry leaves the stored ones alone)."""
    async with transaction(database) as connection:
        if minted.contact is not None:
            await connection.execute(
                _REVOKE_OTHER_CONTACTS, minted.convention_id, minted.task_id, minted.contact
            )
        await connection.execute(
            _EXTEND_EARLIER_LINKS, minted.convention_id, minted.task_id, minted.expires_at
        )
        for link in minted.links:
            await connection.execute(
                _INSERT_LINK,
                link.token_hash,
                minted.notification_id,
                link.contact_name,
                link.contact_email,
                link.language,
                minted.party,
                minted.convention_id,
                minted.task_id,
                minted.expires_at,
            )
