"""Every case in tests/acceptance/calendar-cases.yaml (the external cases, copied in), read from that file."""

import re
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import yaml

from slabridge.calendar import compile_calendar, parse_duration

ROOT = Path(__file__).resolve().parents[2]
CASES_FILE = ROOT / "tests" / "acceptance" / "calendar-cases.yaml"
DATA = yaml.safe_load(CASES_FILE.read_text())


def local(text: str) -> datetime:
    return datetime.fromisoformat(text)


def calendar_for(case):
    spec = dict(DATA["calendar"])
    if case.get("holidays"):
        spec["holidays"] = case["holidays"]
    return compile_calendar(spec)


def naive(dt: datetime) -> datetime:
    return dt.replace(tzinfo=None)


@pytest.mark.parametrize("case", DATA["cases"], ids=[c["name"] for c in DATA["cases"]])
def test_acceptance_case(case):
    calendar = calendar_for(case)
    created = local(case["created"])
    targets = DATA["targets"][case["priority"]]
    pauses = [(local(a), local(b)) for a, b in case.get("paused", [])]
    hold = timedelta(seconds=case.get("hold_seconds", 0))
    expect = case["expect"]
    for metric in ("response", "resolution"):
        key = f"{metric}_by"
        if key in expect:
            due = calendar.add(created, parse_duration(targets[metric]) + hold, pauses=pauses)
            assert naive(due) == local(expect[key]), key
    if "hold_business_seconds" in expect:
        (start, end), = pauses
        assert calendar.between(start, end).total_seconds() == expect["hold_business_seconds"]
    if "resolution_business_seconds" in expect:
        resolved = local(case["resolved"])
        assert calendar.between(created, resolved, pauses=pauses).total_seconds() == expect["resolution_business_seconds"]


NINE_TO_FIVE = {"timezone": "UTC", "weekly": {"mon-fri": ["09:00-17:00"]}}
FACTS = DATA["more_facts"]


def fact(fragment: str) -> str:
    """The more_facts line containing ``fragment``: the test fails if the file stops saying it."""
    found = [f for f in FACTS if fragment in f]
    assert found, f"no fact containing {fragment!r} in {CASES_FILE}"
    return found[0]


def test_fact_saturday_plus_2h_and_12h():
    text = fact("Sat 2016-01-23 13:14")
    cal = compile_calendar(NINE_TO_FIVE)
    start = datetime(2016, 1, 23, 13, 14)
    assert "-> Mon 2016-01-25 11:00" in text and naive(cal.add(start, timedelta(hours=2))) == datetime(2016, 1, 25, 11)
    assert "-> Tue 2016-01-26 13:00" in text and naive(cal.add(start, timedelta(hours=12))) == datetime(2016, 1, 26, 13)


def test_fact_closing_time_stays():
    fact("Fri 09:00 + 8h -> Fri 17:00")
    cal = compile_calendar(NINE_TO_FIVE)
    assert naive(cal.add(datetime(2016, 1, 22, 9), timedelta(hours=8))) == datetime(2016, 1, 22, 17)


def test_fact_lunch_break():
    fact("09:00-12:00 + 13:00-18:00 (lunch break)")
    cal = compile_calendar({"timezone": "UTC", "weekly": {"mon-fri": ["09:00-12:00", "13:00-18:00"]}})
    assert cal.between(datetime(2016, 1, 18, 9), datetime(2016, 1, 25, 9)) == timedelta(hours=40)
    assert naive(cal.add(datetime(2016, 1, 18, 9), timedelta(hours=40))) == datetime(2016, 1, 22, 18)


def test_fact_night_shift_23_to_01():
    fact("Night shift 23:00-01:00")
    cal = compile_calendar({"timezone": "UTC", "weekly": {"daily": ["23:00-01:00"]}})
    thu, fri = datetime(2016, 1, 21, 10), datetime(2016, 1, 22, 10)
    assert cal.between(thu, fri) == timedelta(hours=2)
    inside = datetime(2016, 1, 21, 23, 30)
    assert cal.between(inside, fri) == timedelta(minutes=90)  # the rest of that shift counts


def test_fact_start_after_end_is_zero():
    fact("Start after end")
    cal = compile_calendar(NINE_TO_FIVE)
    assert cal.between(datetime(2016, 1, 22, 12), datetime(2016, 1, 21, 12)) == timedelta(0)


def test_fact_zero_added_to_closed_instant():
    fact("Zero business time added")
    cal = compile_calendar(NINE_TO_FIVE)
    assert naive(cal.add(datetime(2016, 1, 23, 13), timedelta(0))) == datetime(2016, 1, 25, 9)
    assert naive(cal.add(datetime(2016, 1, 25, 13), timedelta(0))) == datetime(2016, 1, 25, 13)


def test_fact_dst_gap_and_ambiguous_boundaries():
    fact("02:30) moves to 03:30")
    cal = compile_calendar({"timezone": "America/Denver", "weekly": {"daily": ["02:30-05:00"]}})
    spring = cal.next_open(datetime(2026, 3, 8, 0, 0))
    assert (spring.hour, spring.minute, spring.utcoffset()) == (3, 30, timedelta(hours=-6))
    cal = compile_calendar({"timezone": "America/Denver", "weekly": {"daily": ["01:30-05:00"]}})
    fall = cal.next_open(datetime(2026, 11, 1, 0, 0))
    assert (fall.hour, fall.minute, fall.utcoffset()) == (1, 30, timedelta(hours=-6))  # first (MDT) occurrence


def test_fact_24x7_counts_elapsed_time():
    text = fact("24x7 calendars count elapsed real time")
    assert "05:00 MDT" in text
    cal = compile_calendar({"timezone": "America/Denver", "weekly": {"daily": ["00:00-24:00"]}})
    due = cal.add(datetime(2026, 3, 7, 23), timedelta(hours=5))
    assert due.isoformat() == "2026-03-08T05:00:00-06:00"


def test_fact_overnight_shift_lengths_on_dst_nights():
    text = fact("Overnight 22:00-06:00 daily, America/Denver")
    cal = compile_calendar({"timezone": "America/Denver", "weekly": {"daily": ["22:00-06:00"]}})
    spring = cal.add(datetime(2026, 3, 7, 22), timedelta(hours=8))
    fall = cal.add(datetime(2026, 10, 31, 22), timedelta(hours=8))
    assert "Sun 2026-03-08 23:00 MDT" in text and spring.isoformat() == "2026-03-08T23:00:00-06:00"
    assert "Sun 2026-11-01 05:00 MST" in text and fall.isoformat() == "2026-11-01T05:00:00-07:00"
    assert cal.between(datetime(2026, 3, 7, 21), datetime(2026, 3, 8, 7)) == timedelta(hours=7)
    assert cal.between(datetime(2026, 10, 31, 21), datetime(2026, 11, 1, 7)) == timedelta(hours=9)


def test_fact_inside_overnight_shift():
    fact("Wed 03:30 + 1h -> Wed 04:30")
    cal = compile_calendar({"timezone": "UTC", "weekly": {"daily": ["22:00-06:00"]}})
    assert naive(cal.add(datetime(2026, 3, 4, 3, 30), timedelta(hours=1))) == datetime(2026, 3, 4, 4, 30)


def test_every_fact_has_a_test():
    """A new line in more_facts must get a test here: each test above claims one by a fragment."""
    source = Path(__file__).read_text()
    claimed = re.findall(r'fact\("([^"]+)"\)', source)
    for line in FACTS:
        assert any(fragment in line for fragment in claimed), f"untested fact: {line}"
