"""The desks' refusals' details in the reader's language (the line under an error page's
heading).

A detail is one of: a workflow's refusal or a validation's reason (said by
rendering.validation), a detail with values (`schemas.errors.DetailCode`: its sentence here,
its values as written), or a detail with nothing to fill, whose English text is a catalogue
message. A detail none of these know (a library's words, a detail added without its
sentence) is shown as recorded and marked so; English readers read every detail as given.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rendering.catalogues import N_, gettext, supported
from rendering.formats import Said, data, day, say, word
from rendering.record import as_recorded
from rendering.validation import reason_text
from rendering.zones import DEFAULT_ZONE
from schemas.errors import DetailCode

DETAILS: Mapping[DetailCode, str] = {
    DetailCode.LINK_WITHDRAWN: N_("this link was withdrawn ({reason})"),
    DetailCode.LINK_REASSIGNED: N_("this link was withdrawn: the task was given to {contact}"),
    DetailCode.LINK_EXPIRED: N_("this link expired on {day}"),
    DetailCode.CONVENTION_UNKNOWN: N_("convention {convention} is not known"),
    DetailCode.NO_TASK_FOR_YOU: N_("no task {task} of convention {convention} for you"),
    DetailCode.NO_DOCUMENT: N_("no document {sha256} in convention {convention}"),
    DetailCode.DOCUMENT_UNREADABLE: N_("document {sha256} cannot be read back: {error}"),
    DetailCode.NO_SEALED_ORIGINAL: N_("convention {convention} has no sealed original for you"),
    DetailCode.NO_TABLE: N_("no table {table}"),
    DetailCode.NO_EXPORT: N_("no export {format}"),
    DetailCode.NO_PERSON_ACTING: N_("no person {person} acts for {organisation}"),
    DetailCode.NO_ORGANISATION: N_("no organisation {organisation}"),
    DetailCode.ROLE_MAY_NOT: N_("the role {role} may not do this"),
    DetailCode.CODE_NOT_SENT: N_("the code could not be sent: {error}"),
    DetailCode.CONVENTION_CLOSED: N_("convention {convention} is closed: it takes no more changes"),
    DetailCode.NOT_IN_FORCE: N_("convention {convention} is not in force yet: nothing to seal"),
    DetailCode.TEXT_NOT_HELD: N_(
        "the signed text ({uri}) is not held by Pacte: upload it as the last version to seal it"
    ),
    DetailCode.CERTIFICATE_CANNOT_SEAL: N_("the office certificate cannot seal: {error}"),
    DetailCode.NOT_CONVERTED: N_("the signed text cannot be converted to PDF: {error}"),
    DetailCode.NOT_SEALABLE_TYPE: N_(
        "the signed text is {media_type}: only a PDF, DOCX or ODT is sealed"
    ),
    DetailCode.NOT_SEALED: N_("the signed original could not be sealed: {error}"),
    # The office's directory and convention pages (an admin's or an officer's stale form).
    DetailCode.NO_ACTIVE_PERSON: N_("no active person {person}"),
    DetailCode.NO_PERSON: N_("no person {person}"),
    DetailCode.NO_SUCH_CAPACITY: N_("{person} holds no such capacity for {organisation}"),
    DetailCode.ORGANISATION_EXISTS: N_("organisation {organisation} exists already"),
    DetailCode.ADDRESS_CONFIRMED: N_("{name}'s address {email} is confirmed already"),
    DetailCode.TASK_NOT_OPEN: N_("task {task} is not open"),
    DetailCode.NO_OPEN_TASK: N_("no open task {task} in convention {convention}"),
    DetailCode.NO_DRAFT: N_("no draft {draft}"),
    DetailCode.NO_KEPT_FILE: N_("no kept file {proposal}"),
    DetailCode.ADDRESS_TAKEN: N_("{email} is the address of {name} already"),
    DetailCode.NO_ADDRESS: N_("{name} has no address"),
    DetailCode.ENDS_BEFORE_START: N_("{valid_until} is before {valid_from}"),
}
"""One sentence per detail code (tests/test_render_details.py checks each in every
catalogue)."""

_DAYS = frozenset({"day", "valid_from", "valid_until"})
"""Values that are dates (ISO text): said in the locale's long form."""

DETAIL_CODES = frozenset(code.value for code in DetailCode)
_CODES = DETAIL_CODES


def error_detail(detail: Any, language: str, zone: str = DEFAULT_ZONE) -> Said | None:
    """An error page's detail in `language`; None when there is none."""
    if not detail:
        return None
    language = supported(language)
    code = getattr(detail, "code", None)
    if language == "en":
        # As given; a validation's reason as its own code says it in English.
        return word(str(detail) if code in _CODES or not code else reason_text(detail, "en", zone))
    if code in _CODES:
        params: Mapping[str, Any] = getattr(detail, "params", None) or {}
        values: dict[str, Said | str] = {
            name: day(str(value), language) if name in _DAYS else data(value, language)
            for name, value in params.items()
        }
        template = DETAILS[DetailCode(code)]
        for name in _placeholders(template):
            values.setdefault(name, data("—", language))
        return say(language, template, **values)
    if code:
        said = reason_text(detail, language, zone)
        return as_recorded(said, language) if said == str(detail) else word(said)
    said = gettext(language, str(detail))
    if said != str(detail):
        return word(said)
    return as_recorded(str(detail), language)


def _placeholders(template: str) -> list[str]:
    return [part.split("}")[0] for part in template.split("{")[1:]]
