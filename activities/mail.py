"""Deliver a notification by e-mail: UTF-8, plain text and HTML, through SMTP (aiosmtplib).

The Message-ID is derived from the notification's stable id, so a mail resent after a lost
acknowledgement is recognisably the same message to the reader's mail system.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime

import aiosmtplib
import asyncpg
from temporalio import activity

from activities.delivery_log import DeliveryLog
from activities.message_templates import render
from activities.recipients import directory_recipients
from infra.secrets import SecretError, smtp_password
from infra.settings import DeliverySettings
from rendering.deliveries import ALREADY_DELIVERED, written
from rendering.zones import DEFAULT_ZONE, zone_for
from schemas.channels import (
    AttemptStatus,
    Channel,
    DeliveryDetail,
    DeliveryDetailCode,
    DeliveryOutcome,
    DeliveryStatus,
)
from schemas.notifications import Notification
from storage import directory
from storage.convention_overview import file_languages


@dataclass(frozen=True)
class FileWords:
    """What the convention's file gave in several languages, read by the mailer beside the
    notification (the workflow wrote the original title into it; no workflow change): the
    title's languages, and each party's name as the file wrote it, by id and language ("":
    the original)."""

    titles: Mapping[str, str] = field(default_factory=dict)
    parties: Mapping[str, Mapping[str, str]] = field(default_factory=dict)

    def title(self, language: str) -> str | None:
        """The title in `language` when the file gave it in it (else the notification's)."""
        return self.titles.get(language)

    def party(self, party_id: str, language: str) -> str | None:
        """The party's name as the file gave it in `language`, else its original."""
        written = self.parties.get(party_id) or {}
        return written.get(language) or written.get("") or None

    @classmethod
    def of(cls, titles: Mapping[str, str], parties: list[dict[str, object]]) -> FileWords:
        """From the stored file's `titles` and `parties` (storage.convention_overview)."""
        names: dict[str, dict[str, str]] = {}
        for party in parties:
            given = party.get("names")
            each = {str(k): str(v) for k, v in given.items()} if isinstance(given, dict) else {}
            names[str(party["id"])] = {**each, "": str(party.get("name") or "")}
        return cls(dict(titles), names)


def _named(
    held: directory.Organisation | None, party_id: str, language: str, words: FileWords
) -> str | None:
    """A party's name for one reader: the directory's where it holds one, else the file's
    in the reader's language, else None (the id is said)."""
    if held is not None and (held.name_fr or held.name_ar or held.name_en):
        return held.name(language)
    return words.party(party_id, language)


def message_id(notification: Notification, sender: str, recipient: str | None = None) -> str:
    """A Message-ID that is the same on every attempt for the same notification and reader."""
    key = notification.id if recipient is None else f"{notification.id}\n{recipient}"
    digest = hashlib.sha256(key.encode("utf-8")).hexdigest()[:32]
    domain = sender.rpartition("@")[2] or "pacte.invalid"
    return f"<{digest}@{domain}>"


def build_messages(
    notification: Notification,
    sender: str,
    organisation: directory.Organisation | None = None,
    others: Mapping[str, directory.Organisation] | None = None,
    zones: Mapping[str, str] | None = None,
    words: FileWords | None = None,
) -> list[EmailMessage]:
    """One mail per recipient: each carries only its reader's personal link.

    A single mail to every contact would show each of them the others' links, and a link is
    who acts: a colleague's answer would be recorded in the wrong name. The party is named
    by the directory's `organisation` name in each reader's language, when it holds one;
    the other organisations the mail mentions (an escalated task's party) by `others`.
    Dates are said in each reader's zone (`zones`, by contact name; UTC for a contact not
    in it). What the file gave in several languages (`words`) names the convention and the
    parties the directory does not hold in each reader's language, else the original.
    """
    words = words or FileWords()
    messages = []
    for contact in notification.recipients:
        if not contact.email:
            continue
        lang = contact.language.value
        # Each reader in their own language (the file's contact language).
        update: dict[str, object] = {"recipients": [contact], "language": contact.language}
        if words.title(lang):
            update["convention_title"] = words.title(lang)
        named_others = {
            party: _named((others or {}).get(party), party, lang, words)
            for party in {*(others or {}), *words.parties}
        }
        messages.append(
            build_message(
                notification.model_copy(update=update),
                sender,
                _named(organisation, notification.party, lang, words),
                {party: name for party, name in named_others.items() if name},
                (zones or {}).get(contact.name, DEFAULT_ZONE),
            )
        )
    return messages


def build_message(
    notification: Notification,
    sender: str,
    party_name: str | None = None,
    names: Mapping[str, str] | None = None,
    zone: str = DEFAULT_ZONE,
) -> EmailMessage:
    """The mail: subject and bodies from the templates, in the notification's language,
    its dates in `zone`."""
    rendered = render(notification, with_links=True, party_name=party_name, names=names, zone=zone)
    message = EmailMessage()
    message["From"] = sender
    message["To"] = [
        Address(display_name=contact.name, addr_spec=str(contact.email))
        for contact in notification.recipients
        if contact.email
    ]
    message["Subject"] = rendered.subject
    message["Date"] = format_datetime(notification.created_at)
    only = [contact.name for contact in notification.recipients if contact.email]
    message["Message-ID"] = message_id(notification, sender, only[0] if len(only) == 1 else None)
    # Quoted-printable keeps the mail 7-bit clean for any relay; the text stays UTF-8.
    message.set_content(rendered.text, charset="utf-8", cte="quoted-printable")
    message.add_alternative(rendered.html, subtype="html", charset="utf-8", cte="quoted-printable")
    # After add_alternative, which moves every Content-* header into the first part.
    message["Content-Language"] = rendered.language.value
    return message


async def reading_zones(pool: asyncpg.Pool, notification: Notification) -> dict[str, str]:
    """Each recipient's zone, by name: the directory's person's, else their organisation's
    country's, else UTC (rendering.zones)."""
    zones = {}
    for contact in notification.recipients:
        chosen, country = await directory.reading_zone(
            pool, notification.party, contact.name, str(contact.email or "")
        )
        zones[contact.name] = zone_for(chosen, country)[0]
    return zones


class Mailer:
    """The e-mail channel's activity."""

    def __init__(self, pool: asyncpg.Pool, settings: DeliverySettings) -> None:
        self._log = DeliveryLog(pool)
        self._pool = pool
        self._settings = settings

    @activity.defn
    async def deliver_email(self, notification: Notification) -> DeliveryOutcome:
        """Send the mail once to every recipient; 4xx and lost connections retry, 5xx stop."""
        channel = Channel.EMAIL
        smtp = self._settings.smtp
        if smtp is None:
            # This worker has no SMTP server, although the planning one had: say so, no error.
            facts = DeliveryDetail(code=DeliveryDetailCode.NO_SMTP_ON_WORKER)
            detail = written(facts)
            await self._log.set_status(notification.id, channel, DeliveryStatus.NO_CHANNEL, detail)
            return DeliveryOutcome(
                notification_id=notification.id,
                channel=channel,
                status=DeliveryStatus.NO_CHANNEL,
                attempt=0,
                detail=detail,
                detail_facts=facts,
            )
        attempt = await self._log.open_attempt(notification.id, channel)
        if attempt is None:
            return DeliveryOutcome(
                notification_id=notification.id,
                channel=channel,
                status=DeliveryStatus.DELIVERED,
                attempt=0,
                detail=written(ALREADY_DELIVERED),
                detail_facts=ALREADY_DELIVERED,
            )
        try:
            password = smtp_password(self._settings.secrets_file)
        except SecretError as error:
            await self._log.fail_attempt(
                notification, Channel.EMAIL, attempt, None, str(error), permanent=True
            )
        # To the directory's people who may act on the task now, as the links were minted.
        notification = await directory_recipients(self._pool, notification)
        organisation = await directory.organisation(self._pool, notification.party)
        # An escalation, to the officer, is about a task another party owes: named too.
        others = (
            await directory.organisations_by_id(self._pool, [notification.task.assignee])
            if notification.task is not None
            else {}
        )
        zones = await reading_zones(self._pool, notification)
        words = FileWords.of(*await file_languages(self._pool, notification.convention_id))
        messages = build_messages(notification, smtp.sender, organisation, others, zones, words)
        refused: dict[str, aiosmtplib.SMTPResponse] = {}
        response = ""
        try:
            # Sent in order; a retry after a failure part-way resends the earlier ones with
            # the same Message-ID, which mail clients show once.
            for message in messages:
                refused_here, response = await aiosmtplib.send(
                    message,
                    hostname=smtp.host,
                    port=smtp.port,
                    username=smtp.user,
                    password=password,
                    start_tls=smtp.starttls,
                    use_tls=smtp.tls,
                    timeout=max(1.0, self._settings.attempt_timeout_seconds * 0.8),
                )
                refused.update(refused_here)
        except aiosmtplib.SMTPRecipientsRefused as error:
            codes = [refusal.code for refusal in error.recipients]
            reason = "; ".join(f"{r.recipient}: {r.code} {r.message}" for r in error.recipients)
            await self._log.fail_attempt(
                notification,
                Channel.EMAIL,
                attempt,
                max(codes, default=None),
                reason,
                permanent=min(codes) >= 500,
            )
        except aiosmtplib.SMTPResponseException as error:
            # 5xx: the server will answer the same tomorrow (bad sender, auth refused, size).
            await self._log.fail_attempt(
                notification,
                Channel.EMAIL,
                attempt,
                error.code,
                f"{error.code} {error.message}",
                permanent=error.code >= 500,
            )
        except (aiosmtplib.SMTPException, OSError) as error:
            await self._log.fail_attempt(
                notification,
                Channel.EMAIL,
                attempt,
                None,
                f"{type(error).__name__}: {error}",
                permanent=False,
            )
        # Some recipients refused, others accepted: the mail went out; the log says to whom not.
        facts = (
            DeliveryDetail(
                code=DeliveryDetailCode.MAIL_PARTLY_REFUSED,
                params={
                    "refusals": "; ".join(
                        f"{to}: {r.code} {r.message}" for to, r in refused.items()
                    )
                },
            )
            if refused
            else DeliveryDetail(code=DeliveryDetailCode.MAIL_ACCEPTED, params={"answer": response})
        )
        detail = written(facts)
        await self._log.close_attempt(
            notification.id,
            channel,
            attempt,
            AttemptStatus.DELIVERED,
            response_code=250,
            detail=detail,
        )
        activity.logger.info(
            "mail delivered",
            extra={
                "notification": notification.id,
                "party": notification.party,
                "attempt": attempt,
            },
        )
        return DeliveryOutcome(
            notification_id=notification.id,
            channel=channel,
            status=DeliveryStatus.DELIVERED,
            attempt=attempt,
            response_code=250,
            detail=detail,
            detail_facts=facts,
        )
