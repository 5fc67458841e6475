"""The delivery log's details in the reader's language.

The notification activities write a detail into the delivery log (`deliveries.last_detail`):
Pacte's own words (a channel a party lacks, an attempt refused before anything was sent, the
class of a failure) or a frame around what a server answered. Each is a code and its values
(`schemas.channels.DeliveryDetail`): the activities write the English wording of the code
(`written`) and return the facts beside it (`DeliveryOutcome.detail_facts`). The log has no
column for the code, so the office's page reads the code back from the wording, which is
written from this table only (`read_back`); a detail no wording matches (a row written by an
older worker, a give-up Temporal worded) is shown as recorded, marked so.

What a server or a library answered is a value, quoted as it answered (isolated).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from rendering.catalogues import N_, supported
from rendering.formats import Said, data, say
from rendering.record import NO_NAMES, PartyNames, as_recorded
from schemas.channels import Channel, DeliveryDetail, DeliveryDetailCode, DeliveryStatus

Code = DeliveryDetailCode

WORDING: Mapping[DeliveryDetailCode, str] = {
    Code.NO_WEBHOOK: (
        "party '{party}' has no webhook endpoint in the directory "
        "and its convention file declares no webhook_url"
    ),
    Code.NO_EMAIL_ADDRESS: "no contact of '{party}' has an e-mail address",
    Code.NO_SMTP_SERVER: "no SMTP server configured (PACTE_SMTP_HOST)",
    Code.NO_SMTP_ON_WORKER: "no SMTP server configured (PACTE_SMTP_HOST) on this worker",
    Code.ALREADY_DELIVERED: "already delivered",
    Code.MAIL_PARTLY_REFUSED: "refused: {refusals}",
    Code.HTTP_STATUS: "http_{status}",
    **{
        code: code.value
        for code in (
            Code.HTTP_GONE,
            Code.REDIRECT_NOT_FOLLOWED,
            Code.TIMEOUT,
            Code.CONNECT_ERROR,
            Code.PROTOCOL_ERROR,
            Code.TRANSPORT_ERROR,
            Code.REFUSED_SCHEME,
            Code.REFUSED_CREDENTIALS,
            Code.REFUSED_URL,
            Code.REFUSED_ADDRESS,
            Code.UNRESOLVABLE,
            Code.REFUSED_HOST,
        )
    },
    # What a mail server or the mail library said, as it said it.
    Code.MAIL_ACCEPTED: "{answer}",
    Code.MAIL_REFUSED: "{answer}",
    Code.MAIL_UNREACHABLE: "{error}",
}
"""The English the delivery log keeps for each code (the wording the activities always
wrote, so rows written before the codes read back the same)."""

SENTENCES: Mapping[DeliveryDetailCode, str] = {
    Code.NO_WEBHOOK: N_("{party} has no webhook address, in the directory or its convention file"),
    Code.NO_EMAIL_ADDRESS: N_("no contact of {party} has an e-mail address"),
    Code.NO_SMTP_SERVER: N_("no mail server configured here: e-mails are not sent"),
    Code.NO_SMTP_ON_WORKER: N_("no mail server is configured on the worker that was to send it"),
    Code.ALREADY_DELIVERED: N_("already delivered by an earlier attempt: not sent again"),
    Code.MAIL_ACCEPTED: N_("the mail server accepted it: {answer}"),
    Code.MAIL_PARTLY_REFUSED: N_("sent, but the mail server refused some recipients: {refusals}"),
    Code.MAIL_REFUSED: N_("the mail server answered: {answer}"),
    Code.MAIL_UNREACHABLE: N_("the mail server could not be reached: {error}"),
    Code.HTTP_STATUS: N_("the party's server answered with HTTP status {status}"),
    Code.HTTP_GONE: N_("the party's server says this address is gone (HTTP 410)"),
    Code.REDIRECT_NOT_FOLLOWED: N_("the party's server redirected elsewhere: not followed"),
    Code.TIMEOUT: N_("the party's server did not answer in time"),
    Code.CONNECT_ERROR: N_("the party's server could not be reached"),
    Code.PROTOCOL_ERROR: N_("the party's server broke off the exchange"),
    Code.TRANSPORT_ERROR: N_("the connection to the party's server failed"),
    Code.REFUSED_SCHEME: N_("not sent: the webhook address's scheme is not allowed"),
    Code.REFUSED_CREDENTIALS: N_("not sent: the webhook address holds credentials"),
    Code.REFUSED_URL: N_("not sent: the webhook address is not a valid address"),
    Code.REFUSED_ADDRESS: N_("not sent: the webhook address leads to a non-public address"),
    Code.UNRESOLVABLE: N_("not sent: the webhook address's host name does not resolve"),
    Code.REFUSED_HOST: N_("not sent: the webhook address's host is not on the allow-list"),
}
"""One sentence per code, said from its values (tests/test_render_details.py checks each
has its sentence in every catalogue)."""

_PARTY_PARAMS = frozenset({"party"})
_SERVER_WORDS = frozenset({Code.MAIL_ACCEPTED, Code.MAIL_REFUSED, Code.MAIL_UNREACHABLE})
"""Codes whose wording is only what a server or library said: read back by channel and
status, never by their (empty) frame."""


ALREADY_DELIVERED = DeliveryDetail(code=Code.ALREADY_DELIVERED)
"""What a channel's activity returns for a notification an earlier attempt delivered."""


def written(detail: DeliveryDetail) -> str:
    """The English the delivery log keeps for `detail`."""
    return WORDING[detail.code].format(**detail.params)


def _pattern(wording: str) -> re.Pattern[str]:
    parts = re.split(r"\{(\w+)\}", wording)
    regex = "".join(
        f"(?P<{part}>.+?)" if index % 2 else re.escape(part) for index, part in enumerate(parts)
    )
    return re.compile(regex, re.DOTALL)


_FRAMED = [
    (code, _pattern(wording)) for code, wording in WORDING.items() if code not in _SERVER_WORDS
]
_STATUS = re.compile(r"http_(?P<status>\d{3}|\dxx)")
_SMTP_ANSWER = re.compile(r"([^\s:;]+@[^\s:;]+: )?[2-5]\d\d\b.*", re.DOTALL)
"""A server's answer as the mail activity logs it: `550 …`, or `to@host: 550 …; …`."""
_LIBRARY_ERROR = re.compile(r"[A-Z]\w*(Error|Exception|Timeout)\w*: .*", re.DOTALL)


def read_back(text: str, channel: str, status: str) -> DeliveryDetail | None:
    """The code and values of a detail the log keeps, from its wording; None for a wording
    Pacte does not write."""
    if channel == Channel.WEBHOOK:
        found = _STATUS.fullmatch(text)
        if found is not None and text not in WORDING.values():
            return DeliveryDetail(code=Code.HTTP_STATUS, params=found.groupdict())
    for code, pattern in _FRAMED:
        if code is Code.HTTP_STATUS:
            continue
        found = pattern.fullmatch(text)
        if found is not None:
            return DeliveryDetail(code=code, params=found.groupdict())
    if channel == Channel.EMAIL:
        if status == DeliveryStatus.DELIVERED:
            return DeliveryDetail(code=Code.MAIL_ACCEPTED, params={"answer": text})
        if _SMTP_ANSWER.fullmatch(text):
            return DeliveryDetail(code=Code.MAIL_REFUSED, params={"answer": text})
        if _LIBRARY_ERROR.fullmatch(text):
            return DeliveryDetail(code=Code.MAIL_UNREACHABLE, params={"error": text})
    return None


def detail_said(detail: DeliveryDetail, language: str, names: PartyNames = NO_NAMES) -> Said:
    """A delivery detail's sentence in `language`: a party by its name, what a server said
    as it said it."""
    language = supported(language)
    values: dict[str, Said | str] = {
        name: names(value) if name in _PARTY_PARAMS else data(value, language)
        for name, value in detail.params.items()
    }
    return say(language, SENTENCES[detail.code], **values)


def delivery_detail(
    text: str, channel: str, status: str, language: str, names: PartyNames = NO_NAMES
) -> Said:
    """The log's detail of one delivery in `language`: its code's sentence when its wording
    is one Pacte writes, else the text as recorded (marked so)."""
    detail = read_back(text, channel, status)
    if detail is None:
        return as_recorded(text, language)
    return detail_said(detail, language, names)
