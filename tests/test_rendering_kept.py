"""What the renderings keep per process, or write without Babel, says exactly what Babel and
the uncached code said (issue 24: a cold timeline at most 10% slower than its stored English).

Whole numbers are grouped from the locale's data read once, a line's time is cut from
`isoformat`, Babel's locales are parsed once, counted phrases and party-name parts are kept
per language: each is checked here against what it replaces. `tests/timeline_snapshot.py`
compares every rendering of every recorded history before and after such a change.
"""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, date, datetime, time, timedelta, timezone
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from babel.dates import format_date, format_time
from babel.numbers import format_currency, format_decimal

from auditing.timeline import local_time
from rendering import formats, zones
from rendering.catalogues import LANGUAGES, locale_of
from rendering.formats import joined, number, say_count, word
from tests import timeline_snapshot

WHOLE = [
    *range(0, 2100),
    *(10**power for power in range(16)),
    *(10**power - 1 for power in range(1, 16)),
    *(random.Random(24).randrange(0, 10**15) for _ in range(2000)),
]


@pytest.mark.parametrize("language", LANGUAGES)
def test_whole_numbers_are_written_as_babel_writes_them(language: str) -> None:
    locale = locale_of(language)
    for value in WHOLE:
        assert number(value, language).text == format_decimal(value, locale=locale), value


def test_numbers_babel_writes_still_go_to_babel() -> None:
    # Negative, fractional and beyond the quick way's bound: Babel's answer, as before.
    for value in (-1, -1234567, 1.5, 1234.5678, Decimal("12.50"), 10**15, 10**20):
        assert number(value, "fr").text == format_decimal(value, locale="fr"), value


def test_a_line_time_is_what_strftime_writes() -> None:
    shuffle = random.Random(7)
    moments = [
        datetime(1970, 1, 1, tzinfo=UTC) + timedelta(seconds=shuffle.randrange(0, 4 * 10**9))
        for _ in range(3000)
    ]
    moments += [datetime(999, 5, 5, 1, 2, 3, tzinfo=UTC), datetime(2026, 12, 31, 23, 59, 59)]
    moments += [moment.astimezone(timezone(timedelta(hours=-3))) for moment in moments[:50]]
    for moment in moments:
        for zone in ("UTC", "Asia/Riyadh", "America/St_Johns"):
            aware = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
            expected = f"{aware.astimezone(ZoneInfo(zone)):%Y-%m-%d %H:%M:%S}"
            assert local_time(moment, zone) == expected, (moment, zone)
    assert local_time(datetime(999, 5, 5, 1, 2, 3, tzinfo=UTC)) == "999-05-05 01:02:03"


@pytest.mark.parametrize("language", LANGUAGES)
def test_babel_with_its_locale_parsed_once_says_the_same(language: str) -> None:
    locale = locale_of(language)
    shuffle = random.Random(3)
    for _ in range(300):
        amount = Decimal(shuffle.randrange(-(10**10), 10**10)) / 100
        assert formats._decimal(amount, locale) == format_decimal(amount, locale=locale)
        for currency in ("MAD", "XOF", "EUR", "JPY"):
            expected = format_currency(amount, currency, locale=locale)
            assert formats._money(amount, currency, locale) == expected
        assert formats._money(amount, "IsDB-ID", locale) == (
            f"{format_decimal(amount, locale=locale)}\u00a0IsDB-ID"
        )
        day = date(2000, 1, 1) + timedelta(days=shuffle.randrange(0, 20000))
        assert formats._long_date(day, locale) == format_date(day, "long", locale=locale)
        assert zones._long_date(day, locale) == format_date(day, "long", locale=locale)
        hour, minute = shuffle.randrange(24), shuffle.randrange(60)
        assert zones._short_time(hour, minute, locale) == format_time(
            time(hour, minute), "short", locale=locale
        )


def test_a_counted_phrase_kept_is_the_one_said() -> None:
    for language in LANGUAGES:
        for count in (0, 1, 2, 3, 11, 100, 1000):
            kept = say_count(language, "{count} recipient", "{count} recipients", count)
            again = say_count(language, "{count} recipient", "{count} recipients", count)
            with_value = say_count(
                language, "{count} recipient", "{count} recipients", count, extra="x"
            )
            assert kept is again
            assert kept.text == with_value.text
            assert kept.html == with_value.html


def test_one_piece_joined_is_the_piece() -> None:
    piece = word("<a & b>")
    assert joined([piece], "ar") is piece
    two = joined([piece, piece], "ar")
    assert two.text == "<a & b>، <a & b>"
    assert str(two.html) == "&lt;a &amp; b&gt;، &lt;a &amp; b&gt;"


def test_every_recorded_timeline_reads_the_same_cold_and_kept() -> None:
    # Every form, language, naming and zone, said with nothing kept, then again once every
    # other timeline, language and zone was said: a value kept for one and said for another
    # would show here.
    timelines = asyncio.run(timeline_snapshot.timelines())
    cold = {}
    for name, timeline in timelines:
        timeline_snapshot.forget_everything()
        cold[name] = timeline_snapshot.renderings(timeline)
    for name, timeline in reversed(timelines):
        assert timeline_snapshot.renderings(timeline) == cold[name], name
