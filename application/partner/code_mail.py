"""The code mail: what it says (in the contact's language, given by the web's catalogues) and
its sending over SMTP."""

from __future__ import annotations

from dataclasses import dataclass
from email.message import EmailMessage

import aiosmtplib

from application.errors import CodeUnavailable
from infra.secrets import smtp_password
from infra.settings import DeliverySettings
from schemas.errors import DetailCode, coded_detail


@dataclass
class CodeMail:
    """What the code mail says, in the contact's language (the web's catalogues)."""

    subject: str
    text: str


def plain_code_mail(language: str, code: str, title: str) -> CodeMail:
    """The mail without catalogues (English), when no wording is given."""
    return CodeMail(f"Pacte code: {title}", f"Your confirmation code: {code}\n")


def unavailable_reason(delivery: DeliverySettings, address: str | None) -> str | None:
    """Why no code can be mailed to this address, or None when it can."""
    if delivery.smtp is None:
        return "(no SMTP server configured)"
    if not address:
        return "(no address on file)"
    return None


async def send_code_mail(
    delivery: DeliverySettings, address: str, language: str, mail: CodeMail
) -> None:
    """Send the mail; CodeUnavailable when the server does not take it."""
    smtp = delivery.smtp
    assert smtp is not None, "unavailable_reason first"
    message = EmailMessage()
    message["From"] = smtp.sender
    message["To"] = address
    message["Subject"] = mail.subject
    message.set_content(mail.text, charset="utf-8", cte="quoted-printable")
    # After set_content, which replaces the Content-* headers.
    message["Content-Language"] = language
    try:
        await aiosmtplib.send(
            message,
            hostname=smtp.host,
            port=smtp.port,
            username=smtp.user,
            password=smtp_password(delivery.secrets_file),
            start_tls=smtp.starttls,
            use_tls=smtp.tls,
            timeout=15,
        )
    except (aiosmtplib.SMTPException, OSError) as error:
        raise CodeUnavailable(
            coded_detail(
                DetailCode.CODE_NOT_SENT,
                f"the code could not be sent: {type(error).__name__}",
                error=type(error).__name__,
            )
        ) from None
