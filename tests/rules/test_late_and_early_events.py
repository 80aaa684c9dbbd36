"""Events dated out of step with a ticket's clocks: delivered after a later change (webhooks are not ordered,
and a delivery without the vendor's ``updated_at`` cannot be told stale), or dated a little ahead of this host's
clock (the sender's clock runs fast; the receiver allows ``clock_skew_seconds``). Each used to fail its
decision: ``cannot resume the eta clock at 11:00: earlier than its last change (12:00)``, and ``pause ends
(11:00:00) before it starts (11:00:02)`` for a pause two seconds ahead of the decision."""

from datetime import datetime, timedelta
from pathlib import Path

import pytest

from slabridge.clocks import Cycle, MetricClock
from slabridge.config import Settings
from slabridge.directory import load
from slabridge.models import Actor, Organization, Person, TicketEvent, TicketRef
from slabridge.plugins import Plugins
from slabridge.simulation import Simulation

ROOT = Path(__file__).resolve().parents[2]
T0 = datetime.fromisoformat("2026-03-10T10:00:00-04:00")
AGENT = Actor(email="agent@poologics.example", is_agent=True)


def event(n: int, minutes: float, **kw) -> TicketEvent:
    """Tailspin's Jira issue POOL-1 (Poologics' agreement: its 24-hour ETA pauses while the issue is pending)."""
    fields = dict(vendor="jira", delivery_id=f"d{n}", ticket=TicketRef(vendor="jira", id="POOL-1"), kind="status",
                  requester=Person(email="ray@tailspin.example"), organization=Organization(id="12"),
                  priority="Medium", subject="Report totals", description="Monthly totals differ.", status="Open",
                  actor=AGENT, created_at=T0, occurred_at=T0 + timedelta(minutes=minutes))
    return TicketEvent(**{**fields, **kw})


def simulation() -> Simulation:
    directory, problems = load(ROOT / "examples" / "contracts", ROOT / "examples" / "customers.yaml")
    assert not problems
    return Simulation(Plugins(Settings(), load_entry_points=False), directory)


def test_a_change_delivered_after_a_later_one_moves_the_clock_from_its_last_change():
    sim = simulation()
    sim.feed(event(1, 0, kind="created"))
    assert sim.feed(event(2, 120, status="pending")).state.clocks["eta"].state == "paused"  # at 12:00
    late = sim.feed(event(3, 60, status="Open"))  # sent at 11:00, delivered after the 12:00 change
    eta = late.state.clocks["eta"]
    assert eta.state == "running" and eta.last_change == T0 + timedelta(minutes=120)  # resumed at 12:00, not 11:00
    assert late.state.deadlines["eta"]["due_at"] == "2026-03-11T10:00:00-04:00"  # paused for no time at all
    again = sim.feed(event(4, 30, status="pending"))
    assert again.state.clocks["eta"].state == "paused" and again.state.deadlines["eta"]["due_at"] is None
    resumed = sim.feed(event(5, 200, status="Open"))  # 13:20: paused from 12:00, 80 minutes
    assert resumed.state.deadlines["eta"]["due_at"] == "2026-03-11T11:20:00-04:00"


@pytest.mark.parametrize("ahead", [timedelta(seconds=2), timedelta(minutes=50)])
def test_a_pause_dated_ahead_of_the_decision_is_decided(ahead):
    sim = simulation()
    sim.feed(event(1, 0, kind="created"))
    decided_at = T0 + timedelta(hours=1)
    outcome = sim.feed(event(2, 60 + ahead.total_seconds() / 60, status="pending"), now=decided_at)
    assert outcome.state.clocks["eta"].state == "paused"
    assert outcome.state.deadlines["eta"]["breached"] is False and outcome.state.deadlines["eta"]["due_at"] is None
    later = sim.feed(event(3, 90, status="Open"), now=decided_at + timedelta(minutes=90))
    assert later.state.clocks["eta"].state == "running"


def test_an_open_pause_begun_after_now_has_lasted_nothing():
    start, pause = T0, T0 + timedelta(hours=2)
    cycle = Cycle(started_at=start, pauses=((pause, None),))
    assert cycle.closed_pauses(T0 + timedelta(hours=1)) == [(pause, pause)]
    assert cycle.closed_pauses(T0 + timedelta(hours=3)) == [(pause, T0 + timedelta(hours=3))]
    clock = MetricClock(metric="eta", cycles=(cycle,))
    assert clock.last_change == pause
    assert MetricClock(metric="eta").last_change is None
    stopped = clock.stop(T0 + timedelta(hours=4))
    assert stopped.last_change == T0 + timedelta(hours=4)


@pytest.mark.parametrize("status", ["Waiting for customer", "Waiting For Customer", "WAITING FOR CUSTOMER"])
def test_a_status_pauses_a_clock_in_any_case(status):
    """Jira keeps a workflow's own capitals (``Waiting For Customer``); the contract says ``Waiting for customer``.
    A classification rule's statuses compared in any case already; a clock's pause and stop statuses did not, and
    the 24-hour ETA ran on while the issue waited for the customer."""
    sim = simulation()
    sim.feed(event(1, 0, kind="created"))
    assert sim.feed(event(2, 60, status=status)).state.clocks["eta"].state == "paused"
