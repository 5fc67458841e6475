"""What a notification says, per language (fr, ar, en) and event: subject and paragraphs.

One template yields both the plain-text and the HTML body, so the two never drift apart.
Values (titles, names) are escaped for HTML after formatting; Arabic messages are laid out
right to left. Dates are said in the reader's locale and zone, naming the zone
(rendering.zones); the webhook's JSON keeps ISO UTC.

A task's message says how to answer: in a mail, each recipient's personal link to the
partner desk (derived from the server's secret, the notification and the contact, so a
retried mail carries the same link); everywhere, the API path for the party's systems. A
webhook never carries a contact's link: it goes to the party's systems, not to the person.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping
from dataclasses import dataclass

from infra.portal_settings import contact_link_token, link_secret, load_portal_settings
from infra.secrets import SecretError
from infra.settings import SettingsError
from rendering.catalogues import gettext
from rendering.formats import (
    FIRST_STRONG_ISOLATE,
    POP_DIRECTIONAL_ISOLATE,
    data,
    written_in_arabic,
)
from rendering.record import PartyNames, task_title
from rendering.zones import DEFAULT_ZONE, moment
from schemas.notifications import Notification, NotificationEvent
from schemas.values import Language


@dataclass(frozen=True)
class Template:
    """A subject line and body paragraphs with {placeholders}."""

    subject: str
    paragraphs: tuple[str, ...]


@dataclass(frozen=True)
class RenderedMessage:
    """A message ready to send: subject, plain text, HTML, and the language it is in."""

    language: Language
    subject: str
    text: str
    html: str


_TASK_LINES = {
    Language.FRENCH: "Tâche : {title}\nRéférence : {task_id}\nÉchéance : {due}",
    Language.ARABIC: "المهمة: {title}\nالمرجع: {task_id}\nآخر أجل: {due}",
    Language.ENGLISH: "Task: {title}\nReference: {task_id}\nDue: {due}",
}
_HOW_TO_ANSWER = {
    Language.FRENCH: "Pour répondre : {answer_with}",
    Language.ARABIC: "للرد: {answer_with}",
    Language.ENGLISH: "To answer: {answer_with}",
}
_YOUR_LINK = {
    Language.FRENCH: "Votre lien personnel (ne le transférez pas) :",
    Language.ARABIC: "رابطكم الشخصي (لا تحيلوه إلى غيركم):",
    Language.ENGLISH: "Your personal link (do not forward it):",
}
_API_PATH = {
    Language.FRENCH: "Vos systèmes, avec la clé d'API de {assignee} : {api}",
    Language.ARABIC: "أنظمتكم، بمفتاح واجهة البرمجة الخاص بـ {assignee}: {api}",
    Language.ENGLISH: "Your systems, with {assignee}'s API key: {api}",
}
_FOLLOW_UP = {
    Language.FRENCH: "Suivi de la convention : {command}",
    Language.ARABIC: "متابعة الاتفاقية: {command}",
    Language.ENGLISH: "The convention: {command}",
}
_OFFICE = "Office de la Formation Professionnelle et de la Promotion du Travail"
_SIGN_OFF = {
    Language.FRENCH: f"— Pacte, {_OFFICE}",
    Language.ARABIC: "— ميثاق، مكتب التكوين المهني وإنعاش الشغل",
    Language.ENGLISH: f"— Pacte, {_OFFICE}",
}

TEMPLATES: dict[tuple[Language, NotificationEvent], Template] = {
    (Language.FRENCH, NotificationEvent.TASK_ASSIGNED): Template(
        "[{convention_id}] Nouvelle tâche : {title}",
        (
            "Bonjour,",
            "La convention « {convention_title} » attend de {party} la tâche suivante.",
            _TASK_LINES[Language.FRENCH],
            _HOW_TO_ANSWER[Language.FRENCH],
            _SIGN_OFF[Language.FRENCH],
        ),
    ),
    (Language.FRENCH, NotificationEvent.TASK_REMINDER): Template(
        "[{convention_id}] Rappel : {title} — échéance le {due}",
        (
            "Bonjour,",
            "Rappel : la tâche suivante de la convention « {convention_title} » attend "
            "toujours la réponse de {party}.",
            _TASK_LINES[Language.FRENCH],
            _HOW_TO_ANSWER[Language.FRENCH],
            _SIGN_OFF[Language.FRENCH],
        ),
    ),
    (Language.FRENCH, NotificationEvent.TASK_ESCALATED): Template(
        "[{convention_id}] Escalade : {title}",
        (
            "Bonjour,",
            "Une tâche en retard de la convention « {convention_title} » vous est remontée. "
            "Merci de relancer {owing}.",
            _TASK_LINES[Language.FRENCH],
            _FOLLOW_UP[Language.FRENCH],
            _SIGN_OFF[Language.FRENCH],
        ),
    ),
    (Language.FRENCH, NotificationEvent.STAGE_CHANGED): Template(
        "[{convention_id}] La convention passe à l'étape {stage}",
        (
            "Bonjour,",
            "La convention « {convention_title} », à laquelle {party} est partie, est entrée "
            "dans l'étape {stage}.",
            _SIGN_OFF[Language.FRENCH],
        ),
    ),
    (Language.ARABIC, NotificationEvent.TASK_ASSIGNED): Template(
        "[{convention_id}] مهمة جديدة: {title}",
        (
            "السلام عليكم،",
            "تنتظر الاتفاقية «{convention_title}» من {party} إنجاز المهمة التالية.",
            _TASK_LINES[Language.ARABIC],
            _HOW_TO_ANSWER[Language.ARABIC],
            _SIGN_OFF[Language.ARABIC],
        ),
    ),
    (Language.ARABIC, NotificationEvent.TASK_REMINDER): Template(
        "[{convention_id}] تذكير: {title} — آخر أجل {due}",
        (
            "السلام عليكم،",
            "تذكير: المهمة التالية من الاتفاقية «{convention_title}» لا تزال تنتظر رد {party}.",
            _TASK_LINES[Language.ARABIC],
            _HOW_TO_ANSWER[Language.ARABIC],
            _SIGN_OFF[Language.ARABIC],
        ),
    ),
    (Language.ARABIC, NotificationEvent.TASK_ESCALATED): Template(
        "[{convention_id}] تصعيد: {title}",
        (
            "السلام عليكم،",
            "رُفعت إليكم مهمة متأخرة من الاتفاقية «{convention_title}». يرجى مراسلة {owing}.",
            _TASK_LINES[Language.ARABIC],
            _FOLLOW_UP[Language.ARABIC],
            _SIGN_OFF[Language.ARABIC],
        ),
    ),
    (Language.ARABIC, NotificationEvent.STAGE_CHANGED): Template(
        "[{convention_id}] انتقلت الاتفاقية إلى مرحلة {stage}",
        (
            "السلام عليكم،",
            "دخلت الاتفاقية «{convention_title}»، التي {party} طرف فيها، مرحلة {stage}.",
            _SIGN_OFF[Language.ARABIC],
        ),
    ),
    (Language.ENGLISH, NotificationEvent.TASK_ASSIGNED): Template(
        "[{convention_id}] New task: {title}",
        (
            "Hello,",
            "The convention “{convention_title}” awaits the following task from {party}.",
            _TASK_LINES[Language.ENGLISH],
            _HOW_TO_ANSWER[Language.ENGLISH],
            _SIGN_OFF[Language.ENGLISH],
        ),
    ),
    (Language.ENGLISH, NotificationEvent.TASK_REMINDER): Template(
        "[{convention_id}] Reminder: {title}, due {due}",
        (
            "Hello,",
            "A reminder: the following task of the convention “{convention_title}” still "
            "awaits the answer of {party}.",
            _TASK_LINES[Language.ENGLISH],
            _HOW_TO_ANSWER[Language.ENGLISH],
            _SIGN_OFF[Language.ENGLISH],
        ),
    ),
    (Language.ENGLISH, NotificationEvent.TASK_ESCALATED): Template(
        "[{convention_id}] Escalation: {title}",
        (
            "Hello,",
            "A late task of the convention “{convention_title}” is escalated to you. "
            "Please follow up with {owing}.",
            _TASK_LINES[Language.ENGLISH],
            _FOLLOW_UP[Language.ENGLISH],
            _SIGN_OFF[Language.ENGLISH],
        ),
    ),
    (Language.ENGLISH, NotificationEvent.STAGE_CHANGED): Template(
        "[{convention_id}] The convention enters its {stage} stage",
        (
            "Hello,",
            "The convention “{convention_title}”, to which {party} is a party, has entered "
            "its {stage} stage.",
            _SIGN_OFF[Language.ENGLISH],
        ),
    ),
}


def answer_path(notification: Notification) -> str:
    """The API call that answers the task, for the party's systems (with its API key)."""
    task = notification.task
    if task is None:
        return ""
    base = load_portal_settings().public_url
    return f"POST {base}/api/v1/tasks/{task.convention_id}/{task.id}/answer"


def answer_command(notification: Notification) -> str:
    """How the party answers the task: the partner desk's API path (webhooks quote it)."""
    return answer_path(notification)


def is_to_officer(notification: Notification) -> bool:
    """The officer's own notifications (escalations, deliveries to fix) carry no partner link."""
    return notification.id.endswith("/officer")


def contact_links(notification: Notification) -> dict[str, str]:
    """Each recipient's personal link to the task, by contact name; none without a task.

    The same tokens `notify_party` stored the hashes of. An unusable secret gives no links
    (the message still names the API path); notify_party has logged why.
    """
    task = notification.task
    if task is None or is_to_officer(notification):
        return {}
    try:
        secret = link_secret()
        base = load_portal_settings().public_url
    except (SecretError, SettingsError):
        return {}
    return {
        contact.name: f"{base}/t/{contact_link_token(secret, notification.id, contact.name)}"
        for contact in notification.recipients
    }


_LINK = re.compile(r"(https?://[^\s<]+/t/[A-Za-z0-9_-]+)")


def _linked(escaped: str) -> str:
    """A personal link made clickable (the text is already escaped; tokens are URL-safe)."""
    return _LINK.sub(r'<a href="\1">\1</a>', escaped)


def _isolated(value: str, language: str) -> str:
    # An Arabic title or name in a French or English mail (a convention titled only in
    # Arabic, read by a French contact) is isolated too: its direction never reorders the
    # Latin sentence's punctuation around it.
    if written_in_arabic(value):
        return f"{FIRST_STRONG_ISOLATE}{value}{POP_DIRECTIONAL_ISOLATE}"
    return data(value, language).text


def _bdi(escaped: str) -> str:
    """The HTML part isolates with <bdi> what the plain text isolates with U+2068…U+2069."""
    return escaped.replace(FIRST_STRONG_ISOLATE, "<bdi>").replace(POP_DIRECTIONAL_ISOLATE, "</bdi>")


def render(
    notification: Notification,
    *,
    with_links: bool = False,
    party_name: str | None = None,
    names: Mapping[str, str] | None = None,
    zone: str = DEFAULT_ZONE,
) -> RenderedMessage:
    """The notification's subject and bodies in its language.

    `with_links` (the mail) adds each recipient's personal link; a webhook's copy has none.
    `party_name` (the directory's, in the reader's language) names the party instead of its
    id; `names` (the directory's, by party id) names the others a message mentions: the
    party that owes an escalated task, the parties a task's title names. Its due date is
    said in `zone` (the reader's; UTC by default), in the reader's locale.
    """
    said_names = PartyNames.of(
        {**(names or {}), **({notification.party: party_name} if party_name else {})}
    )
    template = TEMPLATES[(notification.language, notification.event)]
    task = notification.task
    lang = notification.language.value
    # Names, ids and titles isolated (U+2068…U+2069 in Arabic; <bdi> in the HTML part), and
    # the task's title said in the reader's language from its facts (rendering.record).
    stage = notification.stage or (task.stage if task else "")
    values = {
        "convention_id": notification.convention_id,
        "convention_title": _isolated(
            notification.convention_title or notification.convention_id, lang
        ),
        # The directory's name of the party where the caller has it (ids stay in URLs).
        "party": _isolated(party_name or notification.party, lang),
        "title": (
            task_title(task, lang, said_names, zone).text
            if task
            else _isolated(notification.subject, lang)
        ),
        "task_id": _isolated(task.id, lang) if task else "",
        "assignee": _isolated(
            task.assignee
            if task and task.assignee != notification.party
            else (party_name or notification.party),
            lang,
        ),
        # The party that owes the task (an escalation goes to the officer about another's).
        "owing": _isolated(said_names(task.assignee), lang) if task else "",
        "due": moment(task.due_at, lang, zone).text if task else "",
        # A stage's id is also its message id: said in the reader's language.
        "stage": gettext(lang, stage) if stage else "",
        "answer_with": "",
        # A command and an address are data: isolated like names.
        "api": _isolated(answer_path(notification), lang),
        "command": _isolated(f"python starter.py status {notification.convention_id}", lang),
    }
    language = notification.language
    paragraphs = []
    for paragraph in template.paragraphs:
        if paragraph == _HOW_TO_ANSWER[language]:
            links = contact_links(notification) if with_links else {}
            if links:
                lines = [
                    f"{name} : {url}" if len(links) > 1 else url for name, url in links.items()
                ]
                paragraphs.append(_YOUR_LINK[language] + "\n" + "\n".join(lines))
            paragraphs.append(_API_PATH[language].format(**values))
            continue
        paragraphs.append(paragraph.format(**values))
    rtl = notification.language is Language.ARABIC
    direction = ' dir="rtl"' if rtl else ""
    body = "".join(
        f"<p>{_bdi(_linked(html.escape(paragraph))).replace(chr(10), '<br>')}</p>"
        for paragraph in paragraphs
    )
    return RenderedMessage(
        language=notification.language,
        subject=template.subject.format(**values),
        text="\n\n".join(paragraphs) + "\n",
        html=(
            f'<!DOCTYPE html><html lang="{notification.language.value}"{direction}>'
            f'<head><meta charset="utf-8"></head><body{direction}>{body}</body></html>'
        ),
    )
