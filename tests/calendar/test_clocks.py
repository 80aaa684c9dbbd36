"""Metric clocks: cycles, pauses, resets, and recomputation that keeps pauses."""

import json
from datetime import datetime, timedelta

import pytest

from slabridge.calendar import compile_calendar
from slabridge.clocks import ClockError, MetricClock
from slabridge.values import from_builtins, to_builtins, to_json

# Mon-Fri 10:00-18:00 UTC; 2026-03-02 is a Monday.
CAL = compile_calendar({"timezone": "UTC", "weekly": {"mon-fri": ["10:00-18:00"]}})
H = timedelta(hours=1)


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime.fromisoformat(f"2026-03-{day:02d}T{hour:02d}:{minute:02d}:00+00:00")


def test_running_clock_deadline_remaining_breach():
    clock = MetricClock(metric="response").start(at(2, 12))
    assert clock.state == "running"
    assert clock.deadline(CAL, 4 * H) == at(2, 16)
    assert clock.remaining(CAL, 4 * H, at(2, 13)) == 3 * H
    assert not clock.breached(CAL, 4 * H, at(2, 16))
    assert clock.breached(CAL, 4 * H, at(2, 16, 1))


def test_pause_moves_the_deadline_and_freezes_elapsed():
    clock = MetricClock(metric="resolution").start(at(2, 12)).pause(at(2, 12, 30))
    assert clock.state == "paused" and clock.deadline(CAL, 4 * H) is None
    assert clock.elapsed(CAL, at(3, 17)) == timedelta(minutes=30)
    clock = clock.resume(at(2, 13))
    assert clock.deadline(CAL, 4 * H) == at(2, 16, 30)  # the acceptance "pause inside the day"


def test_stop_records_met_or_breached():
    clock = MetricClock(metric="response").start(at(2, 12)).stop(at(2, 13))
    assert clock.state == "stopped"
    assert not clock.breached(CAL, H, at(5, 12))
    late = MetricClock(metric="response").start(at(2, 12)).stop(at(2, 13, 1))
    assert late.breached(CAL, H, at(5, 12))


def test_reset_starts_a_new_cycle_and_keeps_the_old_outcome():
    clock = MetricClock(metric="next_response").start(at(2, 10))
    clock = clock.reset(at(2, 12, 30))  # support answered late (2h30 > 2h)
    clock = clock.reset(at(2, 13))      # customer replied; answered in 30 min
    outcomes = clock.outcomes(CAL, 2 * H, at(2, 14))
    assert [o.breached for o in outcomes] == [True, False, False]
    assert [o.elapsed for o in outcomes] == [150 * timedelta(minutes=1), 30 * timedelta(minutes=1), H]
    assert clock.deadline(CAL, 2 * H) == at(2, 15)


def test_recompute_with_new_target_or_calendar_keeps_pauses():
    clock = MetricClock(metric="resolution").start(at(2, 12)).pause(at(2, 12, 30)).resume(at(2, 13))
    assert clock.deadline(CAL, 2 * H) == at(2, 14, 30)   # reclassified to a shorter target
    around_the_clock = compile_calendar({"timezone": "UTC", "weekly": {"daily": ["00:00-24:00"]}})
    assert clock.deadline(around_the_clock, 8 * H) == at(2, 20, 30)


def test_warning_threshold():
    clock = MetricClock(metric="response").start(at(2, 17))
    assert clock.at_fraction(CAL, 4 * H, 0.75) == at(3, 12)


def test_paused_clock_is_breached_only_if_it_used_its_target():
    clock = MetricClock(metric="response").start(at(2, 10)).pause(at(2, 11))
    assert not clock.breached(CAL, 2 * H, at(9, 10))
    assert clock.breached(CAL, 30 * timedelta(minutes=1), at(9, 10))


@pytest.mark.parametrize("steps, message", [
    (lambda c: c.pause(at(2, 10)), "cannot pause the response clock: it is idle"),
    (lambda c: c.start(at(2, 10)).start(at(2, 11)), "cannot start the response clock: it is running"),
    (lambda c: c.start(at(2, 10)).resume(at(2, 11)), "cannot resume the response clock: it is running"),
    (lambda c: c.start(at(2, 10)).pause(at(2, 9)), "earlier than its last change"),
])
def test_misuse_is_a_clear_error(steps, message):
    with pytest.raises(ClockError, match=message):
        steps(MetricClock(metric="response"))


def test_clock_round_trips_through_json():
    clock = MetricClock(metric="response").start(at(2, 10)).pause(at(2, 11)).resume(at(2, 12)).stop(at(2, 13)).start(at(3, 9))
    stored = json.loads(to_json(clock))
    assert stored["cycles"][0]["pauses"] == [["2026-03-02T11:00:00Z", "2026-03-02T12:00:00Z"]]  # as pydantic wrote it
    assert from_builtins(stored, MetricClock) == clock


def test_each_cycle_keeps_the_terms_it_ran_under_and_a_state_without_them_stores_back_the_same():
    """The SLA rule holds the running cycle to the terms in force; a reset leaves the closed cycle with its
    own, the next one gets the new ones, and holding a cycle to the terms it has changes nothing."""
    clock = MetricClock(metric="next_response").start(at(2, 10)).held_to(7200.0, "day", True, "standard")
    assert clock.held_to(7200.0, "day", True, "standard") is clock
    clock = clock.reset(at(2, 11)).held_to(28800.0, "night", True, "P2")
    assert [(t.target_seconds, t.calendar, t.level) for t in clock.terms] == [
        (7200.0, "day", "standard"), (28800.0, "night", "P2")]
    older = MetricClock(metric="next_response", cycles=clock.cycles)  # a state stored before terms were kept
    assert older.terms_of(0) is None and "terms" not in to_builtins(older)
    held = older.reset(at(2, 12)).held_to(60.0, "day", False, None)
    assert held.terms[:2] == (None, None) and (held.terms[2].target_seconds, held.terms[2].level) == (60.0, None)
