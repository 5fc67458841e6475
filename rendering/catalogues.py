"""The gettext catalogues (fr, ar, en), compiled in memory from web/locales/*/messages.po.

Babel's own compiler reads the `.po` files when a language is first asked for, so no build
step and no committed `.mo` can drift from them. English is the source language: its
catalogue may leave an entry untranslated (the message id is then the text).
"""

from __future__ import annotations

import io
import os
from collections.abc import Mapping
from functools import cache, lru_cache
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations

LOCALES_DIR = Path(__file__).resolve().parent.parent / "web" / "locales"
LANGUAGES = ("fr", "ar", "en")
FALLBACK_LANGUAGE = "en"
"""What the record is read in when the reader's language is none of the three."""
RIGHT_TO_LEFT = frozenset({"ar"})
LOCALES = {"fr": "fr", "ar": "ar_MA", "en": "en"}
"""Babel's locale per language, for numbers, dates and money. Arabic reads as in Morocco
(`ar_MA`): Western digits (Morocco and Mali write them in official Arabic texts; plain `ar`
has them too in Babel, but its separators are the Gulf's), `.` between thousands and `,`
before decimals, as the office's own documents do."""


def N_(message: str) -> str:
    """Marks a message for the catalogues where it is defined; translated where it is shown."""
    return message


def supported(language: str | None) -> str:
    """The language if the catalogues have it, else English (the record's source language)."""
    return language if language in LANGUAGES else FALLBACK_LANGUAGE


@cache
def translations(language: str) -> Translations:
    """The compiled catalogue of one supported language."""
    language = supported(language)
    path = LOCALES_DIR / language / "LC_MESSAGES" / "messages.po"
    with path.open("rb") as po:
        catalog = read_po(po, locale=language)
    compiled = io.BytesIO()
    write_mo(compiled, catalog)
    compiled.seek(0)
    return Translations(fp=compiled)


@lru_cache(maxsize=8192)
def gettext(language: str, message: str) -> str:
    """One message in one language (the message itself when it has no translation). Kept per
    (language, message): a timeline says the same few hundred again and again."""
    return str(translations(language).gettext(message))


def ngettext(language: str, singular: str, plural: str, count: int) -> str:
    """The form of a counted message the language uses for `count` (Arabic has six)."""
    return str(translations(language).ngettext(singular, plural, count))


def locale_of(language: str) -> str:
    """Babel's locale for a language's numbers, dates and money."""
    return LOCALES[supported(language)]


def is_right_to_left(language: str) -> bool:
    """Arabic is read right to left."""
    return language in RIGHT_TO_LEFT


def language_from_environment(environ: Mapping[str, str] | None = None) -> str:
    """The reader's language as the shell says it (the first set of PACTE_LANG, LANGUAGE,
    LC_ALL, LC_MESSAGES, LANG: `fr_FR.UTF-8` is French); English when none is set or it is
    none of the three (`C.UTF-8`)."""
    environ = os.environ if environ is None else environ
    for name in ("PACTE_LANG", "LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG"):
        value = environ.get(name, "")
        if value:
            return supported(value.split(":")[0].split("_")[0].split(".")[0].lower())
    return FALLBACK_LANGUAGE
