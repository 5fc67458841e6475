"""The reader's time zone: every date and time a page, mail or PDF shows is said in the
reader's locale and zone, naming the zone; the record keeps UTC, and exports keep ISO UTC.

A `Reader` carries the two (language and IANA zone). A person's zone is the directory's or
the office account's when they chose one, else the one of their organisation's country
(`ZONE_BY_COUNTRY`), else UTC; `zone_for` says which it used, so a fallback is said, not
silent.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from functools import cache, lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from babel.dates import (
    format_date,
    format_datetime,
    format_time,
    get_datetime_format,
    get_timezone_location,
)
from markupsafe import Markup

from rendering.catalogues import locale_of
from rendering.formats import Said, babel_locale, word

DEFAULT_ZONE = "UTC"
ZONE_BY_COUNTRY = {
    "MA": "Africa/Casablanca",
    "ML": "Africa/Bamako",
    "SN": "Africa/Dakar",
    "SA": "Asia/Riyadh",
    "FR": "Europe/Paris",
}
"""The zone a person of an organisation of this country (ISO 3166 alpha-2) reads in when they
chose none: the countries of Pacte's partners, one zone each. Any other country: UTC."""


_SOME_MOMENT = datetime(2026, 1, 1, tzinfo=UTC)


class UnknownZone(ValueError):
    """A time zone name the IANA database does not hold."""


@cache
def _known_zones() -> frozenset[str]:
    return frozenset(available_timezones()) | {DEFAULT_ZONE}


def valid_zone(name: str) -> str:
    """The IANA zone name as typed (surrounding spaces removed); `UnknownZone` if it is none
    (a path, a legacy abbreviation such as `CET` is accepted only when the database holds it)."""
    name = name.strip()
    if name not in _known_zones():
        raise UnknownZone(name)
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as error:
        raise UnknownZone(name) from error
    return name


def zone_of_country(country: str | None) -> str:
    """The zone of an organisation's country (`ZONE_BY_COUNTRY`), else UTC."""
    return ZONE_BY_COUNTRY.get((country or "").upper(), DEFAULT_ZONE)


def zone_for(chosen: str | None, country: str | None) -> tuple[str, bool]:
    """The zone a person reads in, and whether it is a fallback (they chose none, or the one
    stored is no longer in the zone database): theirs, else their organisation's country's."""
    if chosen:
        try:
            return valid_zone(chosen), False
        except UnknownZone:
            pass
    return zone_of_country(country), True


@dataclass(frozen=True)
class Reader:
    """Who reads: their language (fr, ar, en) and their IANA time zone."""

    language: str
    zone: str = DEFAULT_ZONE

    def moment(self, value: datetime | str | None) -> Said:
        """A date and time in the reader's zone and locale, naming the zone."""
        return moment(value, self.language, self.zone)

    def day(self, value: date | datetime | str | None) -> Said:
        """A date in the locale's long form; a datetime's date in the reader's zone."""
        return day_in(value, self.language, self.zone)


def _as_datetime(value: datetime | str) -> datetime:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    # A naive datetime from the record is UTC (the record stores nothing else).
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def moment(value: datetime | str | None, language: str, zone: str = DEFAULT_ZONE) -> Said:
    """ "26 décembre 2026, 17:00 (heure : Maroc)": the locale's long date and short time in
    `zone`, and the zone's name in the locale (UTC is said "UTC"). Empty for no value."""
    if value is None or value == "":
        return word("")
    when, zone_said = _moment(_as_datetime(value), locale_of(language), zone)
    # On a page the date and the time stay on one line (`.when`: a narrow column wraps
    # before the zone's name, never inside "26 décembre 2026, 17:00").
    return Said(
        f"{when} ({zone_said})",
        lambda: Markup('<span class="when">{}</span> ({})').format(when, zone_said),
    )


@lru_cache(maxsize=8192)
def _moment(value: datetime, locale: str, zone: str) -> tuple[str, str]:
    local = value.astimezone(ZoneInfo(zone))
    # Babel is slow (half a millisecond a moment): its pieces are kept per day, per minute
    # of the day and per locale, so a timeline of 500 moments costs 500 joins, not 500 calls.
    said = _joining(locale).format(
        _short_time(local.hour, local.minute, locale), _long_date(local.date(), locale)
    )
    return said, zone_name(zone, locale)


@lru_cache(maxsize=16)
def _joining(locale: str) -> str:
    # The locale's way of joining a date and a time ("{1}, {0}"; "{1}، {0}" in Arabic).
    return str(get_datetime_format("long", locale=babel_locale(locale)))


@lru_cache(maxsize=8192)
def _short_time(hour: int, minute: int, locale: str) -> str:
    return str(format_time(time(hour, minute), "short", locale=babel_locale(locale)))


@lru_cache(maxsize=256)
def zone_name(zone: str, locale: str) -> str:
    """The zone's name in the locale ("heure : Maroc", "توقيت المغرب"); UTC by the locale's
    own name for it ("UTC", "TU", "التوقيت العالمي")."""
    if zone == DEFAULT_ZONE:
        return str(format_datetime(_SOME_MOMENT, "z", tzinfo=ZoneInfo(zone), locale=locale))
    return str(get_timezone_location(ZoneInfo(zone), locale=locale))


def day_in(value: date | datetime | str | None, language: str, zone: str = DEFAULT_ZONE) -> Said:
    """A date in the locale's long form; a datetime is first moved to `zone` (a moment just
    before midnight UTC is the next day in Riyadh)."""
    if value is None or value == "":
        return word("")
    if isinstance(value, str):
        value = _as_datetime(value) if "T" in value else date.fromisoformat(value)
    if isinstance(value, datetime):
        value = _as_datetime(value).astimezone(ZoneInfo(zone)).date()
    return word(_long_date(value, locale_of(language)))


@lru_cache(maxsize=4096)
def _long_date(value: date, locale: str) -> str:
    return format_date(value, format="long", locale=babel_locale(locale))
