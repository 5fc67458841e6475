"""The one XLSX writer: every table the office desk exports as CSV is offered as an Excel
workbook too (openpyxl), which opens in columns whatever the reader's locale.

Text comes from convention files and partners: a cell is written as text (never as a
formula, whatever it starts with), numbers as numbers, dates and times as Excel dates (time
zone dropped: UTC, as the CSV writes them), nothing as an empty cell.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from decimal import Decimal

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.worksheet._write_only import WriteOnlyWorksheet

from records.csv_writer import Cell

XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
MAX_ROWS = 1_048_575
"""Excel's last row, less the header."""
_SHEET_NAME_MAX = 31


def _cell(sheet: WriteOnlyWorksheet, value: Cell) -> WriteOnlyCell:
    if isinstance(value, datetime):
        value = value.replace(tzinfo=None)
    if value is None or isinstance(value, bool | int | float | Decimal | date):
        return WriteOnlyCell(sheet, value=value)
    written = WriteOnlyCell(sheet, value=str(value))
    # openpyxl reads a text starting with '=' as a formula: say it is text.
    written.data_type = "s"
    return written


def write_xlsx(
    header: Sequence[str], rows: Iterable[Sequence[Cell]], sheet: str = "Pacte"
) -> bytes:
    """A workbook of one sheet: the header row, then each row (at most MAX_ROWS)."""
    book = Workbook(write_only=True)
    table: WriteOnlyWorksheet = book.create_sheet(sheet[:_SHEET_NAME_MAX])
    table.append([_cell(table, name) for name in header])
    for written, row in enumerate(rows):
        if written >= MAX_ROWS:
            raise ValueError(f"more than {MAX_ROWS:,} rows: an XLSX sheet holds no more")
        if len(row) != len(header):
            raise ValueError(f"a row of {len(row)} cells under a header of {len(header)}")
        table.append([_cell(table, value) for value in row])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def write_dict_xlsx(rows: Sequence[dict[str, Cell]], sheet: str = "Pacte") -> bytes:
    """Rows of the same keys as a workbook, the first row's keys as the header."""
    header = list(rows[0]) if rows else []
    return write_xlsx(header, ([row.get(name) for name in header] for row in rows), sheet)
