"""The office desk's tables as files: CSV in the reader's dialect (`;` and a BOM for French
and Arabic spreadsheets, records/csv_writer.py, its formula guard included), streamed a row
at a time for the long ones, and XLSX (records/xlsx_writer.py) beside every CSV."""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Sequence
from typing import Any

from records.csv_writer import Cell, dialect_for, header_line, row_line
from records.xlsx_writer import XLSX_MEDIA_TYPE, write_dict_xlsx, write_xlsx

__all__ = [
    "CSV_MEDIA_TYPE",
    "XLSX_MEDIA_TYPE",
    "csv_document",
    "csv_of_dicts",
    "csv_stream",
    "xlsx_document",
    "xlsx_of_dicts",
    "xlsx_of_rows",
]

CSV_MEDIA_TYPE = "text/csv; charset=utf-8"


async def csv_stream(
    header: Sequence[str], rows: AsyncIterable[Sequence[Cell]], language: str
) -> AsyncIterator[bytes]:
    """A CSV in the reader's dialect, its header then one row at a time, as UTF-8."""
    dialect = dialect_for(language)
    yield header_line(header, dialect).encode("utf-8")
    async for row in rows:
        yield row_line(row, dialect).encode("utf-8")


def csv_document(header: Sequence[str], rows: Sequence[Sequence[Cell]], language: str) -> str:
    """A header and rows as one CSV in the reader's dialect."""
    dialect = dialect_for(language)
    return header_line(header, dialect) + "".join(row_line(row, dialect) for row in rows)


def csv_of_dicts(rows: Sequence[dict[str, Cell]], language: str) -> str:
    """Rows of the same keys as one CSV in the reader's dialect (the first row's keys as the
    header; no rows, no header)."""
    if not rows:
        return "\ufeff"
    header = list(rows[0])
    return csv_document(header, [[row.get(name) for name in header] for row in rows], language)


async def xlsx_of_rows(
    header: Sequence[str], rows: AsyncIterable[Sequence[Cell]], sheet: str
) -> bytes:
    """A workbook of every row (read whole: a workbook is written at once)."""
    return write_xlsx(header, [list(row) async for row in rows], sheet)


def xlsx_document(header: Sequence[str], rows: Sequence[Sequence[Cell]], sheet: str) -> bytes:
    """A workbook of these rows."""
    return write_xlsx(header, rows, sheet)


def xlsx_of_dicts(rows: Sequence[dict[str, Any]], sheet: str) -> bytes:
    """Rows of the same keys as a workbook, the first row's keys as the header."""
    return write_dict_xlsx(rows, sheet)
