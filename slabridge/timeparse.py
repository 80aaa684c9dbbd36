"""Lenient parsing of the timestamps vendors put in webhooks, and the instants slabridge computes with."""

from __future__ import annotations

from datetime import date, datetime, timezone
from functools import lru_cache
from zoneinfo import ZoneInfo

# The instants slabridge computes with. A ticket's calendars are compiled over every year between its events,
# and a deadline may fall years after its start: an instant outside these (a typo, a clock far off, a forgery)
# would cost a worker seconds and megabytes a year of distance, or fail deep in the calendar arithmetic.
EARLIEST = datetime(1970, 1, 1, tzinfo=timezone.utc)
LATEST = datetime(2200, 1, 1, tzinfo=timezone.utc)
OUT_OF_RANGE = f"outside the instants slabridge computes with ({EARLIEST.year} to {LATEST.year - 1})"


def computable(when: datetime) -> bool:
    """Whether slabridge computes with ``when`` (see :data:`EARLIEST`)."""
    return EARLIEST <= when < LATEST


def supported(when: datetime) -> datetime:
    """``when`` if slabridge computes with it; ValueError naming the range if not."""
    if not computable(when):
        raise ValueError(OUT_OF_RANGE)
    return when


def start_of_day(text: str, zone: ZoneInfo) -> datetime | None:
    """The first instant of the day ``YYYY-MM-DD`` names, in ``zone``; None if ``text`` is not a bare day
    (the value of a date field in every helpdesk)."""
    if len(text) != 10 or text[4] != "-" or text[7] != "-":
        return None
    try:
        day = date.fromisoformat(text)
    except ValueError:
        return None
    return datetime(day.year, day.month, day.day, tzinfo=zone)


def parse_instant(value: object) -> datetime | None:
    """An aware UTC datetime from ISO-8601 text or epoch milliseconds; None if absent.

    Raises ValueError for text that is present but not a timestamp.
    """
    if value in (None, ""):
        return None
    if isinstance(value, (int, float)):
        return datetime.fromtimestamp(value / 1000, timezone.utc)
    text = str(value).strip().replace(" UTC", "Z")
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    if len(text) > 5 and text[-5] in "+-" and text[-3] != ":" and "T" in text:
        text = text[:-2] + ":" + text[-2:]  # Jira's +0000
    when = datetime.fromisoformat(text)
    return (when if when.tzinfo else when.replace(tzinfo=timezone.utc)).astimezone(timezone.utc)


def utc(when: datetime) -> datetime:
    """The same instant in UTC. Do arithmetic and ordering on these: Python adds and compares
    datetimes that share a zone in wall-clock time, which is wrong across a DST change."""
    return when if when.tzinfo is timezone.utc else _in_utc(when, when.fold)


@lru_cache(maxsize=8192)
def _in_utc(when: datetime, _fold: int) -> datetime:
    """Remembered: a deadline in its calendar's zone is compared on each of its ticket's decisions, and each
    conversion asks the zone for its offset. Equal datetimes are one instant, but for the hour a zone repeats:
    there the two are equal (the fold is not compared), so the fold is part of the key."""
    return when.astimezone(timezone.utc)


def iso(when: datetime) -> str:
    """``when.isoformat()``, remembered: a ticket's deadlines are written out on each of its decisions. Keyed by
    the zone and the fold too: the same instant in another zone is equal to it, and so is the other of a repeated
    hour's two, but each is written otherwise."""
    return _iso(when, when.tzinfo, when.fold)


@lru_cache(maxsize=8192)
def _iso(when: datetime, _zone, _fold: int) -> str:
    return when.isoformat()
