"""Why an input was refused, in the reader's language.

A refusal's reason is a `schemas.errors.Reason` when it came from a validation: pydantic's
error type and its parameters, or one of Pacte's own codes. It is said again here, by type,
with the field's own label; a reason without a code (a workflow validator's text) is looked up
in the catalogues as it is, and shown as written when they do not have it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from babel.lists import format_list

from rendering.catalogues import N_, gettext, locale_of, ngettext, supported
from rendering.formats import number
from rendering.refusals import is_refusal, refusal_text
from rendering.zones import DEFAULT_ZONE
from schemas.errors import WRONG_CODE

FIELD_LABELS: Mapping[str, str] = {
    "amount": N_("the amount"),
    "currency": N_("the currency"),
    "city": N_("the city"),
    "country": N_("the country"),
    "site": N_("the site"),
    "uri": N_("the document's address"),
    "sha256": N_("the document's fingerprint"),
    "held_on": N_("the date held"),
    "starts_on": N_("the start date"),
    "ends_on": N_("the end date"),
    "signed_on": N_("the date signed"),
    "due_at": N_("the due date"),
    "to": N_("the new due date"),
    "trainees": N_("the number of trainees"),
    "graduates": N_("the number of graduates"),
    "cities": N_("the number of cities"),
    "comments": N_("the comments"),
    "reason": N_("the reason"),
    "decision": N_("the decision"),
    "version": N_("the version"),
    "title": N_("the title"),
    "id": N_("the identifier"),
    "email": N_("the e-mail address"),
    "name": N_("the name"),
    "code": N_("the code"),
    "summary": N_("the summary"),
    "note": N_("the note"),
    "place": N_("the place"),
    "granted": N_("the amount granted"),
    "requested": N_("the amount requested"),
    "capacity": N_("the capacity"),
    "contact": N_("the person to give it to"),
}
"""The fields of Pacte's models a person fills in, named as a sentence names them."""

BY_TYPE: Mapping[str, str] = {
    "missing": N_("{field}: required"),
    "string_type": N_("{field}: text expected"),
    "string_too_short": N_("{field}: too short (at least {min_length} characters)"),
    "string_too_long": N_("{field}: too long (at most {max_length} characters)"),
    "string_pattern_mismatch": N_("{field}: not in the expected form"),
    "int_parsing": N_("{field}: a whole number is expected"),
    "int_type": N_("{field}: a whole number is expected"),
    "int_from_float": N_("{field}: a whole number is expected"),
    "float_parsing": N_("{field}: a number is expected"),
    "float_type": N_("{field}: a number is expected"),
    "decimal_parsing": N_("{field}: a number is expected"),
    "decimal_type": N_("{field}: a number is expected"),
    "decimal_max_digits": N_("{field}: at most {max_digits} digits"),
    "decimal_max_places": N_("{field}: at most {decimal_places} decimals"),
    "greater_than_equal": N_("{field}: must be {ge} or more"),
    "greater_than": N_("{field}: must be more than {gt}"),
    "less_than_equal": N_("{field}: must be {le} or less"),
    "less_than": N_("{field}: must be less than {lt}"),
    "date_parsing": N_("{field}: a valid date is expected (year-month-day)"),
    "date_type": N_("{field}: a valid date is expected (year-month-day)"),
    "date_from_datetime_parsing": N_("{field}: a valid date is expected (year-month-day)"),
    "date_from_datetime_inexact": N_("{field}: a date without a time is expected"),
    "datetime_parsing": N_("{field}: a valid date and time are expected"),
    "datetime_type": N_("{field}: a valid date and time are expected"),
    "datetime_from_date_parsing": N_("{field}: a valid date and time are expected"),
    "timezone_aware": N_("{field}: the time zone is missing"),
    "literal_error": N_("{field}: choose one of {expected}"),
    "enum": N_("{field}: choose one of {expected}"),
    "too_short": N_("{field}: at least {min_length} expected"),
    "too_long": N_("{field}: at most {max_length} allowed"),
    "list_type": N_("{field}: a list is expected"),
    "dict_type": N_("{field}: a table of values is expected"),
    "model_type": N_("{field}: a group of fields is expected"),
    "model_attributes_type": N_("{field}: a group of fields is expected"),
    "extra_forbidden": N_("{field}: not a field of this form"),
    "union_tag_invalid": N_("{field}: not a kind this form knows"),
    "union_tag_not_found": N_("{field}: the kind is missing"),
    "bool_parsing": N_("{field}: yes or no is expected"),
    "bool_type": N_("{field}: yes or no is expected"),
    "url_parsing": N_("{field}: a valid web address is expected"),
    "url_scheme": N_("{field}: a valid web address is expected"),
    "json_invalid": N_("{field}: not valid JSON"),
    "value_error": N_("{field}: not a valid value"),
    # A text given in several languages (`name: {fr: …, ar: …}`) with a bad mapping.
    "language_unknown": N_("{field}: {language} is not a language Pacte reads (fr, ar or en)"),
    "languages_empty": N_("{field}: give it in at least one language (fr, ar or en)"),
    # Pacte's own: an address the directory refuses (application.directory.people).
    "email_invalid": N_("{field}: not an e-mail address"),
    # The directory's refusals of a person picked to reassign a task to
    # (application.office.reassignees).
    "assignee_unknown": N_("{field}: the directory has no such person"),
    "assignee_other_party": N_("{field}: {person} does not act for {party}"),
    "assignee_removed": N_("{field}: {person} was removed from the directory"),
    "assignee_archived": N_("{field}: {party} is archived in the directory"),
    "assignee_without_capacity": N_(
        "{field}: {person} may not act on this task for {party}: the directory does not "
        "give them the capacity it needs"
    ),
}
"""pydantic's error types Pacte's models raise, each said with the field's label."""


def field_label(field: str, language: str) -> str:
    """The field as a sentence names it ("the city"); "this field" for one without a label
    (the page shows its path beside the reason)."""
    return gettext(language, FIELD_LABELS.get(field) or N_("this field"))


def reason_text(reason: str, language: str, zone: str = DEFAULT_ZONE) -> str:
    """A refusal's reason in `language`: by its code when it has one, else by the catalogue
    (the text itself when the catalogue lacks it: a reason someone wrote)."""
    language = supported(language)
    if is_refusal(reason):
        return refusal_text(reason, language, zone)
    code = getattr(reason, "code", None)
    params: dict[str, str] = dict(getattr(reason, "params", None) or {})
    if code == WRONG_CODE:
        left = int(params.get("left", 0))
        message = ngettext(
            language, "wrong code ({count} try left)", "wrong code ({count} tries left)", left
        )
        return message.format(count=number(left, language).text)
    template = BY_TYPE.get(str(code)) if code else None
    if template is not None:
        values = {
            **{key: number_or_text(value, language) for key, value in params.items()},
            **({"expected": choices(params["expected"], language)} if "expected" in params else {}),
            "field": field_label(str(getattr(reason, "field", "")), language) or "—",
        }
        try:
            return gettext(language, template).format_map(_Missing(values))
        except (ValueError, IndexError):
            return str(reason)
    return gettext(language, str(reason))


def choices(expected: str, language: str) -> str:
    """pydantic's "'a', 'b' or 'c'" as the language lists alternatives ("a, b ou c")."""
    values = re.findall(r"'([^']*)'", expected)
    if not values:
        return expected
    return format_list(values, style="or", locale=locale_of(language))


def number_or_text(value: str, language: str) -> str:
    """A parameter as the reader writes it: a number in the locale's digits."""
    try:
        return number(float(value) if "." in value else int(value), language).text
    except ValueError:
        return value


class _Missing(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return ""
