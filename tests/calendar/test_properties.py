"""Property tests: the calendar against a brute-force minute-stepping oracle.

The oracle (slabridge.testing.calendar_oracle) shares no compilation code with the
engine: it asks, minute by minute, whether the local schedule (resolved with the
same documented DST rule: wall time plus offset, first occurrence, gaps move
forward) says "open", and counts.
"""

import os
from datetime import datetime, timedelta, timezone

from hypothesis import HealthCheck, given, settings, strategies as st

from slabridge.calendar import DAYS, compile_calendar
from slabridge.testing.calendar_oracle import Oracle

ZONES = ["America/Denver", "America/New_York", "Europe/London", "Australia/Lord_Howe", "Asia/Kolkata", "UTC"]
# Instants near the 2026 DST changes of those zones, where engines usually go wrong.
HOTSPOTS = [datetime(2026, 3, 8, tzinfo=timezone.utc), datetime(2026, 3, 29, tzinfo=timezone.utc),
            datetime(2026, 4, 5, tzinfo=timezone.utc), datetime(2026, 10, 4, tzinfo=timezone.utc),
            datetime(2026, 10, 25, tzinfo=timezone.utc), datetime(2026, 11, 1, tzinfo=timezone.utc),
            datetime(2026, 6, 15, tzinfo=timezone.utc)]
# Boundaries on a 30-minute grid, biased towards the small hours where DST changes happen.
clock = st.one_of(st.integers(0, 47).map(lambda h: h * 30), st.sampled_from([60, 90, 120, 150, 180]))


@st.composite
def interval(draw):
    start = draw(clock)
    kind = draw(st.sampled_from(["day", "overnight", "whole"]))
    if kind == "whole":
        return "00:00-24:00"
    if kind == "overnight":
        if start == 0:
            return "00:00-24:00"
        end = draw(st.integers(0, start // 30 - 1)) * 30
        return f"{_hm(start)}-{_hm(end)}"
    end = draw(st.integers(start // 30 + 1, 48).map(lambda k: k * 30))
    return f"{_hm(start)}-{_hm(end)}"


def _hm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


@st.composite
def calendars(draw):
    weekly = {}
    for day in DAYS:
        intervals = draw(st.lists(interval(), max_size=2))
        if intervals:
            weekly[day] = intervals
    if sum(len(v) for v in weekly.values()) < 3:
        weekly["daily"] = ["09:00-12:00"]
    spec = {"timezone": draw(st.sampled_from(ZONES)), "weekly": weekly}
    base = draw(st.sampled_from(HOTSPOTS)).date()
    holidays = draw(st.lists(st.integers(-3, 6).map(lambda d: (base + timedelta(days=d)).isoformat()), max_size=2))
    if holidays:
        spec["holidays"] = holidays
    return spec


@st.composite
def instants(draw):
    base = draw(st.sampled_from(HOTSPOTS))
    return base + timedelta(minutes=draw(st.integers(-4 * 1440, 4 * 1440)))


# SLABRIDGE_PROPERTY_EXAMPLES=5000 for a long sweep; the default keeps the suite quick.
EXAMPLES = int(os.environ.get("SLABRIDGE_PROPERTY_EXAMPLES", "150"))
FAST = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(spec=calendars(), start=instants(), minutes=st.integers(0, 600))
def test_add_agrees_with_the_oracle(spec, start, minutes):
    calendar, oracle = compile_calendar(spec), Oracle(spec)
    expected = oracle.add(start, minutes)
    assert calendar.add(start, timedelta(minutes=minutes)).timestamp() == expected.timestamp()


@FAST
@given(spec=calendars(), a=instants(), hours=st.integers(0, 96))
def test_between_agrees_with_the_oracle(spec, a, hours):
    calendar, oracle = compile_calendar(spec), Oracle(spec)
    b = a + timedelta(hours=hours, minutes=a.minute % 7)
    assert calendar.between(a, b) == timedelta(minutes=oracle.between(a, b))


@FAST
@given(spec=calendars(), start=instants(), minutes=st.integers(0, 400),
       pauses=st.lists(st.tuples(st.integers(-600, 3000), st.integers(0, 900)), max_size=3))
def test_pauses_agree_with_the_oracle(spec, start, minutes, pauses):
    calendar, oracle = compile_calendar(spec), Oracle(spec)
    paused = [(start + timedelta(minutes=a), start + timedelta(minutes=a + n)) for a, n in pauses]
    expected = oracle.add(start, minutes, paused)
    assert calendar.add(start, timedelta(minutes=minutes), pauses=paused).timestamp() == expected.timestamp()
    end = start + timedelta(hours=30)
    assert calendar.between(start, end, pauses=paused) == timedelta(minutes=oracle.between(start, end, paused))


@settings(max_examples=2 * EXAMPLES, deadline=None)
@given(spec=calendars(), start=instants(), seconds=st.integers(1, 3_000_000))
def test_between_inverts_add(spec, start, seconds):
    calendar = compile_calendar(spec)
    due = calendar.add(start, timedelta(seconds=seconds))
    assert calendar.between(start, due) == timedelta(seconds=seconds)
    assert calendar.add(start, calendar.between(start, due)) == due


@settings(max_examples=EXAMPLES, deadline=None)
@given(spec=calendars(), a=instants(), b=instants())
def test_between_is_never_negative_and_additive(spec, a, b):
    calendar = compile_calendar(spec)
    lo, hi = min(a, b), max(a, b)
    mid = lo + (hi - lo) / 2
    assert calendar.between(hi, lo) == timedelta(0) or hi == lo
    assert calendar.between(lo, mid) + calendar.between(mid, hi) == calendar.between(lo, hi)


def test_oracle_steps_real_minutes_across_a_spring_forward_night():
    """Guards the oracle itself: local-zone inputs must not count the skipped hour."""
    from zoneinfo import ZoneInfo

    spec = {"timezone": "America/Denver", "weekly": {"daily": ["22:00-06:00"]}}
    start = datetime(2026, 3, 7, 22, tzinfo=ZoneInfo("America/Denver"))
    assert Oracle(spec).add(start, 8 * 60).isoformat() == "2026-03-09T05:00:00+00:00"  # Sun 23:00 MDT
