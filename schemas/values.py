"""Small value types shared by conventions, tasks and milestones."""

from __future__ import annotations

import re
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

Identifier = Annotated[
    str,
    StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,79}$"),
    Field(
        description=(
            "A stable identifier: letters, digits, '.', '_' or '-', starting with a letter "
            "or digit, at most 80 characters. It appears in workflow ids and task ids."
        )
    ),
]
IDENTIFIER_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,79}$")

# --- Bounds -----------------------------------------------------------------------------
# Every size a user controls is bounded here, so that no convention file and no answer can
# outgrow Temporal's limits: a payload of 2 MB (the convention travels whole in the
# workflow's input and again at each continue-as-new), a gRPC message of 4 MB, 2 KB per
# search attribute value. Characters are counted, and UTF-8 takes up to 4 bytes each;
# tests/test_bounds.py builds the largest file and answers allowed and checks the margin.
NAME_MAX_CHARS = 200
"""A person's or body's name, a capacity, a city, a label, a unit."""
TITLE_MAX_CHARS = 500
"""A convention's or agenda item's title."""
TEXT_MAX_CHARS = 4_000
"""A comment, a reason, a summary, a note: a few paragraphs (a document goes by reference)."""
ITEM_MAX_CHARS = 1_000
"""One finding, recommendation or outcome."""
URI_MAX_CHARS = 2_000

NonEmptyText = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=TEXT_MAX_CHARS)
]
"""A required text of at most TEXT_MAX_CHARS characters."""
Text = Annotated[str, StringConstraints(max_length=TEXT_MAX_CHARS)]
"""An optional comment or reason: at most TEXT_MAX_CHARS characters."""
ShortText = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=NAME_MAX_CHARS)
]
"""A name, capacity, city, label or unit: at most NAME_MAX_CHARS characters."""
OptionalShortText = Annotated[str, StringConstraints(max_length=NAME_MAX_CHARS)]
Title = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=TITLE_MAX_CHARS)
]
ItemText = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=ITEM_MAX_CHARS)
]


class Frozen(BaseModel):
    """Base of every payload: unknown fields are errors, values never change after validation.

    Numbers are finite (JSON has no NaN or infinity: they would not survive the trip through
    Temporal) and text holds no NUL character (PostgreSQL cannot store one): both are refused
    here, at the edge, rather than fail a persisting activity for ever.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    @field_validator("*", mode="after")
    @classmethod
    def _no_nul_character(cls, value: Any) -> Any:
        if _holds_nul(value):
            raise ValueError("contains a NUL character (U+0000), which cannot be stored")
        return value


def _holds_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_holds_nul(key) or _holds_nul(item) for key, item in value.items())
    if isinstance(value, list | tuple | set | frozenset):
        return any(_holds_nul(item) for item in value)
    return False  # nested models checked themselves


class Language(StrEnum):
    """A language a partner reads."""

    FRENCH = "fr"
    ARABIC = "ar"
    ENGLISH = "en"


LANGUAGE_UNKNOWN = "language_unknown"
"""The code of a text given in a language Pacte does not read (`name: {xx: …}`); its
parameter `language` is the key as written."""
LANGUAGES_EMPTY = "languages_empty"
"""The code of a text given as an empty mapping of languages (`name: {}`)."""


def _well_formed(given: dict[Any, Any]) -> bool:
    return bool(given) and all(str(key) in _LANGUAGE_CODES for key in given)


_LANGUAGE_CODES = frozenset(language.value for language in Language)


def refuse_bad_languages(value: Any) -> Any:
    """A text given as a mapping of languages that is not one (`{}`, `{xx: …}`): refused by
    its own reason, so the field's page says which key and why in the reader's language. A
    well-formed mapping never reaches here (`split_languages` made it the original)."""
    if isinstance(value, dict):
        if not value:
            raise PydanticCustomError(
                LANGUAGES_EMPTY, "give it in at least one language (fr, ar or en)"
            )
        unknown = next(str(key) for key in value if str(key) not in _LANGUAGE_CODES)
        raise PydanticCustomError(
            LANGUAGE_UNKNOWN,
            "{language} is not a language Pacte reads (fr, ar or en)",
            {"language": unknown},
        )
    return value


def split_languages(data: Any, field: str, each: str) -> Any:
    """`field: {fr: …, ar: …}` becomes `field` = the original (the first given) and `each`
    = every language's; a plain string, or a bad mapping (refused by the field's own
    validator, `refuse_bad_languages`), is left as it is."""
    if isinstance(data, dict) and isinstance(data.get(field), dict) and _well_formed(data[field]):
        given = data[field]
        return {**data, field: next(iter(given.values())), each: given}
    return data


def in_language(original: str, each: dict[Language, str], language: str) -> str:
    """The text in the reader's language when it was given in it, else the original."""
    return next((text for lang, text in each.items() if lang == language), original)


class Currency(StrEnum):
    """Currencies seen in the conventions: dirham, CFA franc, dollar, euro, IsDB units."""

    MAD = "MAD"
    XOF = "XOF"
    USD = "USD"
    EUR = "EUR"
    ISDB_UNIT = "IsDB-ID"


class Money(Frozen):
    """An amount always carries its currency."""

    amount: Decimal = Field(ge=0, max_digits=18, decimal_places=2, description="Non-negative.")
    currency: Currency


URI_SCHEMES = ("https", "http", "archive")
"""What a document's uri may start with: a web address, or Pacte's archive id (`archive:…`)."""
_URI_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*):")
_URI_SPACE = re.compile(r"[\s\x00-\x1f\x7f]")


class DocumentRef(Frozen):
    """A reference to a document kept elsewhere: the text itself never travels in a workflow."""

    uri: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=URI_MAX_CHARS)
    ] = Field(description="Where the document lives (URL, path or archive id).")
    sha256: Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")] | None = Field(
        default=None, description="SHA-256 of the document, lowercase hex."
    )
    # Filled from the stored file by the desks (never typed); left out of a dump when unknown,
    # so references recorded before they existed read and serialise as they always did.
    size_bytes: int | None = Field(
        default=None,
        ge=0,
        description="The stored file's size in bytes (set by Pacte from the upload).",
        exclude_if=lambda value: value is None,
    )
    media_type: Annotated[str, StringConstraints(max_length=120)] | None = Field(
        default=None,
        description="The stored file's type, sniffed from its content (set by Pacte).",
        exclude_if=lambda value: value is None,
    )

    # A title to show instead of the address, in one language or several (`title: {fr: …,
    # ar: …}`, the first given the original); left out of a dump when not given, so the
    # references recorded before it existed serialise as they always did.
    title: Title | None = Field(
        default=None,
        description="The document's title as written (the first given, when several).",
        exclude_if=lambda value: value is None,
    )
    titles: dict[Language, Title] = Field(
        default_factory=dict,
        description="The title in each language it was given in (empty: only `title`).",
        exclude_if=lambda value: not value,
    )

    @model_validator(mode="before")
    @classmethod
    def _title_in_several_languages(cls, data: Any) -> Any:
        return split_languages(data, "title", "titles")

    @field_validator("title", mode="before")
    @classmethod
    def _title_languages_known(cls, value: Any) -> Any:
        return refuse_bad_languages(value)

    def title_in(self, language: str) -> str | None:
        """The title in the reader's language, else the original (None: no title given)."""
        return None if self.title is None else in_language(self.title, self.titles, language)

    @field_validator("uri")
    @classmethod
    def _linkable(cls, uri: str) -> str:
        """Pages show the uri as a link: only a web address or an archive id may be one.

        `javascript:` or `data:` would be a script or a phishing page shown as the
        convention's text; browsers drop tabs and line breaks inside a URL, so
        `java<TAB>script:` is refused too, as is `//host` (another site without a scheme).
        """
        if _URI_SPACE.search(uri):
            raise ValueError("a document's uri holds no spaces or control characters")
        scheme = _URI_SCHEME.match(uri)
        if scheme is not None and scheme.group(1).lower() not in URI_SCHEMES:
            raise ValueError(
                f"a document's uri is an {', '.join(URI_SCHEMES)} address, not {scheme.group(1)!r}"
            )
        if scheme is None and uri.startswith(("//", "\\\\")):
            raise ValueError("a document's uri names its scheme (https://…)")
        return uri


class Place(Frozen):
    """A city in a country."""

    city: ShortText
    country: Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")] = Field(
        description="ISO 3166-1 alpha-2 country code, e.g. MA, ML."
    )
    site: OptionalShortText | None = Field(
        default=None, description="A named site: a centre, a ministry."
    )
