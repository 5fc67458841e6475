"""Interface text in gettext catalogues (Babel): French, Arabic, English.

The catalogues are the `.po` files under web/locales/; they are compiled in memory when the
portal starts (Babel's own compiler), so no build step and no committed `.mo` can drift from
them. English is the source language: its catalogue may leave an entry untranslated.
"""

from __future__ import annotations

from pathlib import Path

from babel.support import Translations

from application.partner import CodeMail
from rendering import catalogues
from rendering.formats import data

LOCALES_DIR = Path(__file__).resolve().parent / "locales"
LANGUAGES = ("fr", "ar", "en")
DEFAULT_LANGUAGE = "fr"
RIGHT_TO_LEFT = frozenset({"ar"})


def N_(message: str) -> str:
    """Marks a message for the catalogues where it is defined; translated where it is shown."""
    return message


def language_or_default(language: str | None) -> str:
    """A supported language, else the default (French)."""
    return language if language in LANGUAGES else DEFAULT_LANGUAGE


def translations(language: str) -> Translations:
    """The compiled catalogue of one language (compiled once, shared with `rendering`)."""
    return catalogues.translations(language_or_default(language))


def gettext(language: str, message: str) -> str:
    """One message in one language (the message itself when it has no translation)."""
    return str(translations(language).gettext(message))


def ngettext(language: str, singular: str, plural: str, count: int) -> str:
    """A counted message in the form the language uses for `count`."""
    return catalogues.ngettext(language_or_default(language), singular, plural, count)


def direction(language: str) -> str:
    """`rtl` for Arabic, `ltr` otherwise."""
    return "rtl" if language in RIGHT_TO_LEFT else "ltr"


# Words the pages show from data (how an actor was proven, a decision) and the commonest
# reasons of the answer's validation: translated where they are shown.
SHOWN_FROM_DATA = (
    N_("link"),
    N_("link_and_code"),
    N_("api_key"),
    N_("signed_event"),
    N_("officer_on_behalf"),
    N_("sign"),
    N_("refuse"),
    N_("withdraw"),
    N_("approve"),
    N_("request_changes"),
    N_("reject"),
    N_("more_information"),
    N_("agree"),
    N_("disagree"),
    N_("Field required"),
    N_("required when approving"),
    N_("only an approval grants an amount"),
    N_("required when asking for changes"),
    N_("required to refuse"),
    N_("required to withdraw"),
    N_("only a signature has a place"),
    N_("required when disagreeing"),
    N_("Input should be greater than or equal to 0"),
    N_("Input should be a valid decimal"),
    N_("Input should be a valid number, unable to parse string as a number"),
    N_("Input should be 'sign', 'refuse' or 'withdraw'"),
    N_("Input should be 'approve', 'reject' or 'more_information'"),
    N_("Input should be 'approve' or 'request_changes'"),
    N_("wrong code"),
    N_("this code has expired: send the answer again for a new one"),
    N_("too many wrong codes: send the answer again for a new code"),
)


def code_mail(language: str, code: str, title: str) -> CodeMail:
    """The mail that carries a one-time code, in the contact's language."""
    lang = language_or_default(language)
    subject = gettext(lang, "Your Pacte confirmation code")
    # The code and the title isolated, so that Arabic text reads right to left around them.
    lines = [
        gettext(lang, "Your confirmation code:") + f" {data(code, lang).text}",
        gettext(lang, "It confirms your answer to:") + f" {data(title, lang).text}",
        gettext(lang, "It is valid for ten minutes. If you did not ask for it, ignore this mail."),
    ]
    if language not in LANGUAGES:
        # The fallback is said, not silent.
        lines.append(
            gettext(
                lang,
                "Your language is not one of Pacte's (French, Arabic, English): "
                "this mail is in French.",
            )
        )
    return CodeMail(subject, "\n\n".join(lines) + "\n")
