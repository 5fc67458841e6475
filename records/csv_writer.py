"""The one CSV writer: every CSV the product produces (the portfolio's tables, the auditors'
timeline, the officers' report) is written here, so that none can hand a spreadsheet a formula.

Names, summaries and answers in those files come from convention files, partners' API calls
and contacts' forms: text an attacker chooses. A spreadsheet runs a cell as a formula when it
starts with `=`, `+`, `-` or `@` (and some read a leading tab or carriage return the same
way), and a French-locale spreadsheet splits on `;`, so `a;=1+1` written as one cell becomes
two, the second a formula. The writer therefore (OWASP's "CSV injection" advice):

- puts a `'` before a trigger character at the start of a text cell, and after each `;`, `,`,
  tab or line break inside it, so no split of the text, by whatever separator a reader
  chooses, starts with one;
- quotes every text cell (doubling its quotes), so a reader that honours quotes never splits
  it at all; numbers are written bare, as numbers; nothing (None) is an empty cell;
- writes the separator the reader's locale expects (`;` for French spreadsheets) and, when
  asked, a byte order mark so that Excel reads UTF-8 (Arabic and accented names) as UTF-8.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal

Cell = object
"""A cell's value: None, a number (int, float, Decimal: bare), anything else is text (str())."""

FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
"""What makes a spreadsheet read a cell as a formula (or strip into one) when it comes first."""
SEPARATORS = (",", ";")
"""The separators a reader may choose: `,` (most locales) and `;` (French and others)."""
_AT_A_CELL_START = re.compile(r"(^|[,;\t\r\n])(?=[=+\-@\t\r])")
_HEADER_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
LINE_END = "\r\n"  # RFC 4180
BOM = "\ufeff"


def inert_text(text: str) -> str:
    """The text with a `'` before every formula trigger a reader could see at a cell's start."""
    return _AT_A_CELL_START.sub(lambda match: match.group(1) + "'", text)


def cell(value: Cell) -> str:
    """One cell as written: a number bare, nothing empty, any text neutralised and quoted."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return '"true"' if value else '"false"'
    if isinstance(value, int | float | Decimal):
        return str(value)
    return '"' + inert_text(str(value)).replace('"', '""') + '"'


@dataclass(frozen=True)
class Dialect:
    """How a reader's spreadsheet opens a CSV: its separator, and whether a byte order
    mark tells it the text is UTF-8."""

    separator: str = ","
    bom: bool = False

    def __post_init__(self) -> None:
        if self.separator not in SEPARATORS:
            raise ValueError(f"a CSV separator is one of {SEPARATORS}, not {self.separator!r}")


PLAIN = Dialect()
"""RFC 4180 as programs read it: `,`, no BOM (the auditors' files, `starter.py report`)."""
_LIST_SEPARATORS = {"fr": ";", "ar": ";"}
"""French (and Moroccan Arabic) spreadsheets use `,` for decimals and `;` between cells."""


def dialect_for(language: str) -> Dialect:
    """The dialect a reader of this language opens in columns: `;` in French and Arabic,
    `,` in English; a BOM always (Excel reads UTF-8 as UTF-8 only with one)."""
    return Dialect(_LIST_SEPARATORS.get(language, ","), bom=True)


def header_line(header: Sequence[str], dialect: Dialect = PLAIN) -> str:
    """The header line (the product's own column names, bare; any other quoted), BOM first
    when the dialect has one, line end included."""
    names = [name if _HEADER_NAME.fullmatch(name) else cell(name) for name in header]
    return (BOM if dialect.bom else "") + dialect.separator.join(names) + LINE_END


def row_line(row: Sequence[Cell], dialect: Dialect = PLAIN) -> str:
    """One row, every cell neutralised (see `cell`), line end included: streamed downloads
    write a header_line then these, one at a time."""
    return dialect.separator.join(cell(value) for value in row) + LINE_END


def write_csv(
    header: Sequence[str],
    rows: Iterable[Sequence[Cell]],
    *,
    separator: str = ",",
    bom: bool = False,
) -> str:
    """A whole CSV document: the header line (the product's own column names), then each row.

    `separator` is `,` or `;` (the reader's locale); `bom` starts the text with U+FEFF."""
    dialect = Dialect(separator, bom)
    lines = [header_line(header, dialect)]
    for row in rows:
        if len(row) != len(header):
            raise ValueError(f"a row of {len(row)} cells under a header of {len(header)}")
        lines.append(row_line(row, dialect))
    return "".join(lines)


def write_dict_csv(
    rows: Sequence[dict[str, Cell]], *, separator: str = ",", bom: bool = False
) -> str:
    """Rows of the same keys as a CSV document, the first row's keys as the header; no rows
    give an empty document."""
    if not rows:
        return BOM if bom else ""
    header = list(rows[0])
    return write_csv(
        header,
        ([row.get(name) for name in header] for row in rows),
        separator=separator,
        bom=bom,
    )
