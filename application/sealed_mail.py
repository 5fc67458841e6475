"""The sealed original, mailed to every signatory once it is made: one mail per address, in
the person's language (the catalogues), the PDF attached, its SHA-256 in the text so that the
file can be checked against the record.

Who is mailed: for each signatory of the file, the contact of the signatory's party who bears
the signatory's name; when that contact has no address, every contact of that party that has
one. Sending is best-effort and beside the record: a mail server that refuses is logged and
named in the result, never retried (the original stays on the convention's page, the
partners' receipt and the API).
"""

from __future__ import annotations

from dataclasses import dataclass
from email.message import EmailMessage

import aiosmtplib
import structlog

from infra.secrets import smtp_password
from infra.settings import DeliverySettings
from rendering.catalogues import gettext, supported
from schemas.convention import Convention
from storage.documents import DocumentRow

log = structlog.get_logger("pacte.sealing")


@dataclass(frozen=True)
class Recipient:
    """One address the sealed original goes to, and the language it is written in."""

    name: str
    email: str
    language: str


def recipients(convention: Convention) -> list[Recipient]:
    """The signatories' addresses, each once, in the file's order of signatories."""
    found: dict[str, Recipient] = {}
    parties = {party.id: party for party in convention.parties}
    for signatory in convention.signatories:
        party = parties.get(signatory.party)
        if party is None:
            continue
        named = [c for c in party.contacts if c.name == signatory.name and c.email]
        chosen = named or [c for c in party.contacts if c.email]
        for contact in chosen:
            address = str(contact.email)
            found.setdefault(
                address.lower(), Recipient(contact.name, address, contact.language.value)
            )
    return list(found.values())


def _message(
    sender: str, recipient: Recipient, convention: Convention, row: DocumentRow, pdf: bytes
) -> EmailMessage:
    lang = supported(recipient.language)
    message = EmailMessage()
    message["From"] = sender
    message["To"] = recipient.email
    message["Subject"] = (
        gettext(lang, "The signed original of the convention") + f" {convention.id}"
    )
    lines = [
        gettext(lang, "The last signature is in: the convention is in force.")
        + f"\n{convention.title} ({convention.id})",
        gettext(
            lang,
            "The signed original is attached: the approved text and its signature page, "
            "sealed with the office's certificate and timestamped.",
        ),
        gettext(lang, "Its SHA-256:") + f" {row.sha256}",
        gettext(
            lang,
            "Any PDF reader shows its signature panel; pyHanko checks it offline "
            "(pyhanko sign validate).",
        ),
    ]
    message.set_content("\n\n".join(lines) + "\n", charset="utf-8", cte="quoted-printable")
    message.add_attachment(pdf, maintype="application", subtype="pdf", filename=row.file_name)
    # After the attachment: making the mail multipart moves the Content-* headers inward.
    message["Content-Language"] = lang
    return message


async def mail_sealed_original(
    delivery: DeliverySettings, convention: Convention, row: DocumentRow, pdf: bytes
) -> dict[str, str]:
    """Mail the sealed PDF to every signatory: per address, "sent" or why it was not."""
    smtp = delivery.smtp
    outcome: dict[str, str] = {}
    for recipient in recipients(convention):
        if smtp is None:
            outcome[recipient.email] = "no SMTP server configured"
            continue
        try:
            await aiosmtplib.send(
                _message(smtp.sender, recipient, convention, row, pdf),
                hostname=smtp.host,
                port=smtp.port,
                username=smtp.user,
                password=smtp_password(delivery.secrets_file),
                start_tls=smtp.starttls,
                use_tls=smtp.tls,
                timeout=30,
            )
        except (aiosmtplib.SMTPException, OSError) as error:
            outcome[recipient.email] = f"not sent: {type(error).__name__}"
        else:
            outcome[recipient.email] = "sent"
    for address, result in outcome.items():
        if result != "sent":
            log.warning(
                "signed original not mailed",
                convention_id=convention.id,
                address=address,
                reason=result,
            )
    return outcome
