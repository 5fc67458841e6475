"""The catalogues checked as a lint step: `python -m rendering.catalogue_check`.

Babel's own checkers (`Catalog.check`: plural forms counted, %-formats of flagged messages)
and the placeholders of every translation: a translation that drops a `{name}` loses a fact,
one that adds an unknown `{name}` or `%(name)s` fails when the message is formatted. A plural
form may leave out `{count}` only (Arabic says "two" in the noun itself). Exits 1 with one
line per problem.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator

from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po

from rendering.catalogues import LANGUAGES, LOCALES_DIR

_BRACES = re.compile(r"(?<!\{)\{(\w+)\}(?!\})")
_PERCENT = re.compile(r"%\(([A-Za-z_][A-Za-z0-9_]*)\)[sdifr]")


def placeholders(text: str) -> set[str]:
    """The `{name}` and `%(name)s` a message is formatted with."""
    return set(_BRACES.findall(text)) | {f"%{name}" for name in _PERCENT.findall(text)}


def load(language: str) -> Catalog:
    """One language's catalogue as Babel reads it."""
    with (LOCALES_DIR / language / "LC_MESSAGES" / "messages.po").open("rb") as po:
        return read_po(po, locale=language)


def problems(language: str, catalog: Catalog | None = None) -> Iterator[str]:
    """What is wrong with one language's catalogue (the one on disk unless given), one line
    each."""
    catalog = load(language) if catalog is None else catalog
    for message, errors in catalog.check():
        for error in errors:
            yield f"{language}: {message.id!r}: {error}"
    for message in catalog:
        if not message.id or not message.string:
            continue
        if isinstance(message.id, tuple):
            wanted = placeholders(message.id[0]) | placeholders(message.id[1])
            string = message.string
            forms = [string] if isinstance(string, str) else list(string)
            for index, form in enumerate(forms):
                have = placeholders(str(form))
                if have - wanted:
                    yield f"{language}: {message.id[0]!r} form {index}: unknown {have - wanted}"
                if wanted - have - {"count"}:
                    yield f"{language}: {message.id[0]!r} form {index}: drops {wanted - have}"
            continue
        wanted, have = placeholders(str(message.id)), placeholders(str(message.string))
        if have != wanted:
            yield f"{language}: {message.id!r}: placeholders {sorted(have)} ≠ {sorted(wanted)}"


def main() -> int:
    """Check every catalogue; 0 when all are right."""
    found = [problem for language in LANGUAGES for problem in problems(language)]
    for problem in found:
        print(problem, file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
