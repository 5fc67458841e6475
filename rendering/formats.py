"""Numbers, dates and money in the reader's locale (Babel), and the pieces a sentence is
made of: data (names, ids, what people wrote), isolated so that right-to-left reading never
swaps its punctuation, and words (translated fragments, formatted figures), which are not.

A `Said` carries both forms: `text` (plain: names between U+2068 FSI and U+2069 PDI when the
language is read right to left) and `html` (names in `<bdi>`, everything escaped). Jinja
calls `__html__`, so a template shows `{{ said }}` as its HTML; `str(said)` is the text.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date, datetime
from decimal import Decimal
from functools import lru_cache
from typing import Any

from babel.core import Locale
from babel.dates import format_date
from babel.numbers import format_currency, format_decimal, is_currency
from markupsafe import Markup, escape

from rendering.catalogues import gettext, is_right_to_left, locale_of, ngettext

FIRST_STRONG_ISOLATE = "\u2068"
POP_DIRECTIONAL_ISOLATE = "\u2069"


class Said:
    """A piece of text in one language: plain and HTML, and whether it is the stored English
    text shown for want of the facts to render it (`as_recorded`).

    The HTML may be given as a function: it is then built when first asked for, so the text
    forms (the CLI, the text and CSV timelines, the mails' plain part) never build HTML they
    do not show. Immutable; equal when text, HTML and `as_recorded` are."""

    __slots__ = ("_html", "_make_html", "as_recorded", "text")

    text: str
    as_recorded: bool

    def __init__(
        self, text: str, html: Markup | Callable[[], Markup], as_recorded: bool = False
    ) -> None:
        self.text = text
        self.as_recorded = as_recorded
        self._html: Markup | None
        self._make_html: Callable[[], Markup] | None
        if isinstance(html, str):
            self._html, self._make_html = html, None
        else:
            self._html, self._make_html = None, html

    @property
    def html(self) -> Markup:
        """The HTML form (names in `<bdi>`, everything escaped), built once when asked for."""
        if self._html is None:
            assert self._make_html is not None
            self._html = self._make_html()
            self._make_html = None
        return self._html

    def marked_as_recorded(self) -> Said:
        """The same text, flagged as the stored English text (its HTML still lazy)."""
        return Said(self.text, lambda: self.html, as_recorded=True)

    def __str__(self) -> str:
        return self.text

    def __html__(self) -> Markup:
        return self.html

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Said):
            return NotImplemented
        mine = (self.text, self.as_recorded, self.html)
        return mine == (other.text, other.as_recorded, other.html)

    def __hash__(self) -> int:
        return hash((self.text, self.as_recorded))

    def __repr__(self) -> str:
        return f"Said(text={self.text!r}, as_recorded={self.as_recorded!r})"


def data(value: object, language: str) -> Said:
    """A value shown as written (a name, an id, a comment): isolated from the sentence."""
    return _data(str(value), language)


@lru_cache(maxsize=8192)
def _data(text: str, language: str) -> Said:
    # Kept per (text, language): the same names and ids come back on every line.
    plain = (
        f"{FIRST_STRONG_ISOLATE}{text}{POP_DIRECTIONAL_ISOLATE}"
        if is_right_to_left(language)
        else text
    )
    return Said(plain, lambda: Markup(f"<bdi>{escape(text)}</bdi>"))


def word(text: str) -> Said:
    """Text of the reader's language (a translated fragment, a formatted date): not isolated."""
    return Said(text, lambda: escape(text))


def say(language: str, message: str, **values: Said | str) -> Said:
    """A catalogue message in `language`, its `{placeholders}` filled: a str value is data."""
    if not values:
        return _said_alone(language, message)
    return _fill(gettext(language, message), language, values)


@lru_cache(maxsize=4096)
def _said_alone(language: str, message: str) -> Said:
    # A message with nothing to fill (an event's or a channel's name), said once per
    # (language, message).
    return _fill(gettext(language, message), language, {})


def say_count(language: str, singular: str, plural: str, count: int, **values: Said | str) -> Said:
    """A counted message (`{count}` in it) in the form the language uses for `count`."""
    if not values:
        return _said_counted(language, singular, plural, count)
    values = {"count": number(count, language), **values}
    return _fill(_counted_form(language, singular, plural, count), language, values)


@lru_cache(maxsize=4096, typed=True)
def _said_counted(language: str, singular: str, plural: str, count: int) -> Said:
    # "3 recipients", "1 finding": said once per (language, message, count), as a fixed
    # phrase is (the same few counts come back on every other line of a timeline).
    values: dict[str, Said | str] = {"count": number(count, language)}
    return _fill(_counted_form(language, singular, plural, count), language, values)


@lru_cache(maxsize=4096, typed=True)
def _counted_form(language: str, singular: str, plural: str, count: int) -> str:
    return ngettext(language, singular, plural, count)


def _fill(template: str, language: str, values: dict[str, Said | str]) -> Said:
    # One pass over the values (this runs several times a line): a str value is data.
    parts: dict[str, Said] = {}
    texts: dict[str, str] = {}
    recorded = False
    for name, value in values.items():
        if type(value) is str:
            part = _data(value, language)
        elif isinstance(value, Said):
            part = value
        else:
            part = data(value, language)
        parts[name] = part
        texts[name] = part.text
        if part.as_recorded:
            recorded = True
    # Every part's HTML is escaped already, and so is the template: a plain str.format
    # (markupsafe's own format escapes again what needs not, at several times the cost).
    # The HTML is built only when a page or a mail's HTML part asks for it.
    return Said(
        template.format_map(texts),
        lambda: Markup(
            _escaped(template).format(**{name: part.html for name, part in parts.items()})
        ),
        as_recorded=recorded,
    )


@lru_cache(maxsize=4096)
def _escaped(template: str) -> str:
    # A catalogue's message, escaped once: the same few hundred are said again and again.
    return str(escape(template))


def joined(parts: list[Said], language: str) -> Said:
    """Several pieces in a list, with the language's comma."""
    if len(parts) == 1:  # one piece is itself (a notification's one recipient)
        return parts[0]
    separator = "، " if is_right_to_left(language) else ", "
    return Said(
        separator.join(part.text for part in parts),
        lambda: Markup(separator).join(part.html for part in parts),
        as_recorded=any(part.as_recorded for part in parts),
    )


@lru_cache(maxsize=16)
def babel_locale(locale: str) -> Locale:
    """Babel's locale, parsed once: Babel parses a locale's name again on every call it is
    given as a name (a few µs of every number, amount and date said)."""
    return Locale.parse(locale)


def number(value: int | float | Decimal, language: str) -> Said:
    """A number with the locale's digits and separators (Babel's, kept per value)."""
    return word(_decimal(value, locale_of(language)))


@lru_cache(maxsize=4096)
def _decimal(value: int | float | Decimal, locale: str) -> str:
    return format_decimal(value, locale=babel_locale(locale))


def money(amount: Decimal | float | str, currency: str, language: str) -> Said:
    """An amount in its currency: Babel's form for an ISO 4217 code, else the number and the
    code as written ("40 000 000 IsDB-ID" in French). The stored value stays exact."""
    return data(_money(Decimal(str(amount)), currency, locale_of(language)), language)


@lru_cache(maxsize=4096)
def _money(value: Decimal, currency: str, locale: str) -> str:
    # Kept per (amount, currency, locale): a convention's amounts come back on many lines.
    if is_currency(currency):
        return str(format_currency(value, currency, locale=babel_locale(locale)))
    return f"{format_decimal(value, locale=babel_locale(locale))}\u00a0{currency}"


def day(value: date | datetime | str, language: str) -> Said:
    """A date in the locale's long form; a datetime gives its date (UTC, as recorded)."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value) if "T" in value else date.fromisoformat(value)
    if isinstance(value, datetime):
        value = value.date()
    return word(_long_date(value, locale_of(language)))


@lru_cache(maxsize=4096)
def _long_date(value: date, locale: str) -> str:
    return format_date(value, format="long", locale=babel_locale(locale))


def plural_words(language: str, singular: str, plural: str, count: int) -> Said:
    """A count and its noun ("3 findings"), as `say_count` without other values."""
    return say_count(language, singular, plural, count)


BILINGUAL_SEPARATOR = " – "
"""How the convention files write a name in two scripts: « Cité des métiers … – مدينة المهن … »."""


def _arabic_letter(char: str) -> bool:
    return (
        "\u0600" <= char <= "\u06ff"
        or "\u0750" <= char <= "\u077f"
        or "\u08a0" <= char <= "\u08ff"
        or "\ufb50" <= char <= "\ufdff"
        or "\ufe70" <= char <= "\ufeff"
    )


def written_in_arabic(text: str) -> bool:
    """Whether the text is mostly Arabic letters (a Latin acronym inside stays Arabic)."""
    arabic = sum(1 for char in text if char.isalpha() and _arabic_letter(char))
    other = sum(1 for char in text if char.isalpha() and not _arabic_letter(char))
    return arabic > other


@lru_cache(maxsize=1024)
def part_in(text: str, language: str) -> str:
    """The part of a name written in two scripts (« French – Arabic ») a reader of
    `language` reads: the Arabic part in Arabic, the other part else; a name in one script
    is whole. Kept per (name, language): a timeline reads its parties' names each time."""
    parts = text.split(BILINGUAL_SEPARATOR)
    if len(parts) != 2 or not all(part.strip() for part in parts):
        return text
    scripts = [written_in_arabic(part) for part in parts]
    if scripts.count(True) != 1:
        return text
    wanted = language == "ar"
    return next(
        part.strip() for part, arabic in zip(parts, scripts, strict=True) if arabic is wanted
    )


def document_title(document: Any, language: str) -> str | None:
    """A document's title in the reader's language, else its original (None: none given):
    of a version (TextVersion) or of a recorded reference read as a mapping."""
    if isinstance(document, Mapping):
        titles, title = document.get("titles") or {}, document.get("title")
    else:
        titles, title = getattr(document, "titles", {}), getattr(document, "title", None)
    return (titles.get(language) if isinstance(titles, Mapping) else None) or title
