"""Rendering for both desks: one Jinja2 environment, one `render` that gives a template the
reader's language (right to left in Arabic), its translations and the form's CSRF token, and
never lets the page be cached."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader

from rendering.details import DETAIL_CODES, error_detail
from rendering.formats import data, document_title, money
from rendering.record import NO_NAMES, PartyNames, milestone_text, task_instructions, task_title
from rendering.validation import reason_text
from rendering.zones import DEFAULT_ZONE, Reader
from schemas.errors import Reason
from web.i18n import LANGUAGES, N_, direction, gettext, language_or_default, ngettext
from web.security import Csrf

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"
LANGUAGE_NAMES = {"fr": "Français", "ar": "العربية", "en": "English"}
IN_LANGUAGE = {"fr": N_("In French"), "ar": N_("In Arabic"), "en": N_("In English")}
"""A language said in the reader's own (a name's or a contact's language: never its code)."""

# Every value is escaped: autoescape is on for every template, whatever its name; the
# i18n extension gives {% trans %}, its callables are the reader's language's (see render).
templates = Jinja2Templates(
    env=Environment(
        loader=FileSystemLoader(TEMPLATES_DIR),
        autoescape=True,
        extensions=["jinja2.ext.i18n"],
    )
)


class HasIdHash(Protocol):
    """A server-side session, as its CSRF token is bound to it."""

    @property
    def id_hash(self) -> bytes:
        """The session id's SHA-256."""


def render(
    request: Request,
    template: str,
    language: str | None,
    status_code: int = 200,
    session: HasIdHash | None = None,
    headers: dict[str, str] | None = None,
    *,
    csrf: str | None = None,
    record_names: PartyNames = NO_NAMES,
    **context: Any,
) -> HTMLResponse:
    """A page in the reader's language (`?lang=` first, then the session's), right to left in
    Arabic, never cached. Its forms carry `csrf`: given, or the partner desk's token of
    `session`."""
    lang = language_or_default(request.query_params.get("lang") or language)
    # Dates and times in the reader's zone, kept by the session's dependency (UTC without).
    reader = Reader(lang, getattr(request.state, "reader_zone", DEFAULT_ZONE))

    def _(message: str) -> str:
        # A validation's reason (schemas.errors.Reason) is said by its code; text by the
        # catalogue.
        if isinstance(message, Reason):
            if message.code in DETAIL_CODES:
                said = error_detail(message, lang, reader.zone)
                return said.text if said is not None else ""
            return reason_text(message, lang, reader.zone)
        return gettext(lang, message)

    if csrf is None and session is not None:
        signer: Csrf = request.app.state.csrf
        csrf = signer.token(session.id_hash)
    return templates.TemplateResponse(
        request,
        template,
        {
            "lang": lang,
            "dir": direction(lang),
            "_": _,
            "gettext": _,
            "ngettext": lambda s, p, n: ngettext(lang, s, p, n),
            # The record's facts in the reader's language (names in <bdi>).
            # `record_names`: the parties' names the page knows, for the ids the record holds.
            # A moment a title states (a late task's due day) in the reader's zone.
            "task_title": lambda task: task_title(task, lang, record_names, reader.zone),
            "task_instructions": lambda task: task_instructions(task, lang),
            # An amount in its currency, with the language's digits and separators.
            "money": lambda amount, currency: money(amount, currency, lang),
            # A name inside plain text (an <option> holds no <bdi>): U+2068…U+2069 in Arabic.
            "isolated": lambda value: data(value, lang).text,
            # A document's title as its sender gave it, in the reader's language if given.
            "document_title": lambda document: document_title(document, lang),
            # A moment a milestone names (a due date) is the day it is in the reader's zone.
            "milestone_text": lambda milestone: milestone_text(
                milestone, lang, record_names, reader.zone
            ),
            # A moment (a due date, a milestone's time) in the reader's locale and zone,
            # naming the zone; a date in the locale's long form.
            "moment": reader.moment,
            # An error page's detail: by its code, else the catalogue, else as recorded.
            "error_detail": lambda detail: error_detail(detail, lang, reader.zone),
            "day": reader.day,
            "reader": reader,
            "languages": [(code, LANGUAGE_NAMES[code]) for code in LANGUAGES],
            "in_language": IN_LANGUAGE,
            "session": session,
            "csrf": csrf,
            "path": request.url.path,
            **context,
        },
        status_code=status_code,
        headers={"cache-control": "no-store", **(headers or {})},
    )
