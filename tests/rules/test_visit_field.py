"""A clock started by a custom field (InfraWare's 15-minute visit guarantee, from ``visit_at``) reads what agents
type there: a day without a time, text that is no date, an instant far off. None of these may fail the ticket's
decisions (they did: every later event of the ticket was dead-lettered) or start the clock at a time nobody meant
(a bare day was read as midnight UTC: a breach the evening before the visit)."""

import shutil
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from slabridge.config import Settings
from slabridge.directory import load
from slabridge.models import InternalNote, Organization, Person, TicketEvent, TicketRef
from slabridge.plugins import Plugins
from slabridge.simulation import Simulation

ROOT = Path(__file__).resolve().parents[2]
OPENED = datetime.fromisoformat("2026-03-10T10:00:00-04:00")  # a Tuesday; the visit is on Friday the 13th


def visit(n: int, value, at: datetime = OPENED, kind: str = "created") -> TicketEvent:
    """Contoso's ticket 1 (InfraWare's agreement), a customer visit with ``visit_at`` holding ``value``."""
    return TicketEvent(vendor="freshdesk", delivery_id=f"d{n}", ticket=TicketRef(vendor="freshdesk", id="1"),
                       kind=kind, requester=Person(email="morgan@contoso.example"), organization=Organization(id="812"),
                       priority="2", subject="Customer visit", description="Customer visit at Riverside Clinic.",
                       custom_fields={"visit_at": value}, created_at=OPENED, occurred_at=at)


def simulation(contracts: Path = ROOT / "examples" / "contracts") -> Simulation:
    directory, problems = load(contracts, ROOT / "examples" / "customers.yaml")
    assert not problems
    return Simulation(Plugins(Settings(), load_entry_points=False), directory)


def not_started(outcome) -> list[str]:
    return [r.text for r in outcome.decision.reasons if r.rule == "sla.visit_connection"]


def notes(outcome) -> list[str]:
    return [a.body for a in outcome.decision.actions if isinstance(a, InternalNote)]


def test_a_visit_time_starts_the_guarantee():
    outcome = simulation().feed(visit(1, "2026-03-13T14:00:00-05:00"))
    assert outcome.state.deadlines["visit_connection"]["due_at"] == "2026-03-13T15:15:00-04:00"


@pytest.mark.parametrize("value, problem", [
    ("2026-03-13", "holds a day without a time of day"),
    ("next Friday", "holds no date and time"),
    ({"date": "2026-03-13"}, "holds no date and time"),
    ("9999-01-01T00:00:00Z", "holds an instant outside the instants slabridge computes with (1970 to 2199)"),
    ("0001-01-01T00:00:00Z", "holds an instant outside the instants slabridge computes with (1970 to 2199)"),
])
def test_a_visit_field_that_cannot_be_read_starts_nothing_and_asks_for_the_time_once(value, problem):
    sim = simulation()
    first = sim.feed(visit(1, value))
    assert "visit_connection" not in first.state.deadlines
    assert first.state.deadlines["response"]["due_at"] == "2026-03-10T12:00:00-04:00"  # the rest is decided
    assert not_started(first) == [f"visit_connection not started: visit_at {problem}"]
    [note] = notes(first)
    assert f"its visit_at field {problem}" in note and "Enter the date and time" in note
    if isinstance(value, str) and value[:4].isdigit():
        assert value not in note  # the field's text is never repeated back
    later = sim.feed(visit(2, value, OPENED + timedelta(hours=1), kind="updated"))
    assert notes(later) == [] and not_started(later)  # the note once; the reason on every decision


def test_a_field_mended_later_starts_the_guarantee():
    sim = simulation()
    sim.feed(visit(1, "2026-03-13"))
    mended = sim.feed(visit(2, "2026-03-13T14:00:00-05:00", OPENED + timedelta(minutes=5), kind="updated"))
    assert mended.state.deadlines["visit_connection"]["due_at"] == "2026-03-13T15:15:00-04:00"
    assert not_started(mended) == ["visit_connection: 15m on calendar eastern -> 2026-03-13T15:15:00-04:00"]


@pytest.mark.parametrize("value, booked", [
    ("2026-03-11T10:00:00-04:00", "booked 24h00m ahead"),
    ("2026-03-09T10:00:00-04:00", "set for before the ticket was opened"),
])
def test_a_visit_booked_too_late_says_so_without_a_note(value, booked):
    outcome = simulation().feed(visit(1, value))
    assert "visit_connection" not in outcome.state.deadlines
    assert not_started(outcome) == [f"visit_connection not started: {booked}, less than the 48h00m the "
                                    "commitment needs"]
    assert notes(outcome) == []


def test_a_bare_day_can_be_read_as_its_first_minute_where_the_contract_says_so(tmp_path):
    contracts = tmp_path / "contracts"
    shutil.copytree(ROOT / "examples" / "contracts", contracts)
    path = contracts / "infraware.yaml"
    text = path.read_text()
    assert "    date_only: not_started\n" in text
    path.write_text(text.replace("    date_only: not_started\n", "    date_only: start_of_day\n"))
    outcome = simulation(contracts).feed(visit(1, "2026-03-13"))
    # the first minute of the 13th in New York, not midnight UTC (20:00 on the 12th there)
    assert outcome.state.deadlines["visit_connection"]["due_at"] == "2026-03-13T00:15:00-04:00"
    assert notes(outcome) == []
