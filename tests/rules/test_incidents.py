"""Incident charges and the yearly rollover cap."""

from datetime import date, datetime, timezone

import pytest

from slabridge.contract import AppointmentCharge, Billing
from slabridge.rules.incidents import appointment_cost, balance

CHARGE = AppointmentCharge(first_minutes=60, first_incidents=2, then_minutes=30, then_incidents=1)
BILLING = Billing(per_ticket=1, appointment=CHARGE, rollover_cap=15)


@pytest.mark.parametrize("minutes, incidents", [(15, 2), (60, 2), (61, 3), (90, 3), (91, 4), (120, 4), (121, 5)])
def test_appointment_cost(minutes, incidents):
    assert appointment_cost(minutes, CHARGE) == incidents


def at(*args) -> float:
    return datetime(*args, tzinfo=timezone.utc).timestamp()


def test_balance_follows_the_ledger_and_caps_the_rollover():
    entries = [(at(2026, 5, 1), -1, "ticket 1"), (at(2026, 6, 1), -4, "appointment 91 min"),
               (at(2026, 7, 1), 10, "purchase")]
    now, history = balance(20, date(2026, 4, 1), BILLING, entries, datetime(2026, 12, 1, tzinfo=timezone.utc))
    assert now == 25
    assert [h["balance"] for h in history] == [19, 15, 25]
    next_year, history = balance(20, date(2026, 4, 1), BILLING, entries, datetime(2027, 4, 2, tzinfo=timezone.utc))
    assert next_year == 15
    assert history[-1]["delta"] == -10 and "at most 15" in history[-1]["reason"]


def test_a_small_balance_rolls_over_whole():
    assert balance(7, date(2026, 1, 1), BILLING, [], datetime(2028, 6, 1, tzinfo=timezone.utc))[0] == 7


def test_no_cap_means_everything_rolls_over():
    assert balance(40, date(2026, 1, 1), Billing(rollover_cap=None), [], datetime(2027, 6, 1, tzinfo=timezone.utc))[0] == 40
