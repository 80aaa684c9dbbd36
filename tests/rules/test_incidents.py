"""Incident charges and the yearly rollover cap."""

from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings, strategies as st

from slabridge.contract import AppointmentCharge, Billing
from slabridge.rules.incidents import appointment_cost, appointment_minutes, balance, balance_now

CHARGE = AppointmentCharge(first_minutes=60, first_incidents=2, then_minutes=30, then_incidents=1)
UTC = timezone.utc  # the zone the contract year begins in, here
BILLING = Billing(per_ticket=1, appointment=CHARGE, rollover_cap=15)


@pytest.mark.parametrize("minutes, incidents", [(15, 2), (60, 2), (61, 3), (90, 3), (91, 4), (120, 4), (121, 5)])
def test_appointment_cost(minutes, incidents):
    assert appointment_cost(minutes, CHARGE) == incidents


@pytest.mark.parametrize("value, minutes", [
    ("91", 91), (91, 91), (91.5, 92), ("2:45", 45), ("appt-2: 45", 45), (" 90 ", 90),
    ("1h30", None), ("ninety", None), ("0", None), ("-30", None), (0, None), ("nan", None), ("inf", None),
    (True, None), (["91"], None), ({"minutes": 91}, None), ("", None),
])
def test_an_appointments_length_is_read_from_what_agents_enter(value, minutes):
    assert appointment_minutes(value) == minutes


def _northwind(billing=None):
    """A simulation over the example contracts (triage-desk's billing replaced by ``billing``'s fields), and a
    maker of ticket 77's events with an appointment field."""
    from pathlib import Path

    from slabridge.config import Settings
    from slabridge.directory import load
    from slabridge.models import Organization, Person, TicketEvent, TicketRef
    from slabridge.plugins import Plugins
    from slabridge.simulation import Simulation

    examples = Path(__file__).resolve().parents[2] / "examples"
    directory = load(examples / "contracts", examples / "customers.yaml")[0]
    if billing:
        contract = directory.contracts["triage-desk"]
        directory.contracts["triage-desk"] = contract.model_copy(
            update={"billing": contract.billing.model_copy(update=billing)})
    sim = Simulation(Plugins(Settings(), load_entry_points=False), directory)
    opened = datetime(2026, 4, 9, 14, 0, tzinfo=timezone.utc)

    def event(n, length):
        return TicketEvent(vendor="zendesk", delivery_id=f"d{n}", ticket=TicketRef(vendor="zendesk", id="77"),
                           kind="updated", requester=Person(email="pat@northwind.example"),
                           organization=Organization(id="501"), subject="Printer", description="Printer offline.",
                           custom_fields={"appointment_minutes": length} if length else {}, created_at=opened,
                           occurred_at=opened + timedelta(minutes=n))
    return sim, event


def test_an_appointment_length_that_cannot_be_read_charges_nothing_and_asks_once():
    """``1h30`` failed every decision of the ticket (``invalid literal for int()``); ``0`` and ``-30`` charged
    two incidents."""
    from slabridge.models import InternalNote

    sim, event = _northwind()
    assert [c.delta for c in sim.feed(event(1, None)).charges] == [-1]  # the ticket, turned over
    unread = sim.feed(event(2, "1h30"))
    assert unread.charges == () and unread.decision.entitlement == "maintenance"
    assert [r.text for r in unread.decision.reasons if r.rule == "entitlement.appointment"] == [
        "appointment_minutes holds no length in minutes: the appointment is not charged"]
    [note] = [a.body for a in unread.decision.actions if isinstance(a, InternalNote)]
    assert "Enter the minutes as a whole number" in note
    again = sim.feed(event(3, "1h30"))
    assert again.charges == () and not [a for a in again.decision.actions if isinstance(a, InternalNote)]
    assert [c.delta for c in sim.feed(event(4, "91")).charges] == [-4]  # mended: 2 + 2 for 31 more minutes
    assert sim.feed(event(5, "91")).charges == ()  # once


def test_an_agent_who_corrects_an_appointments_minutes_is_charged_the_difference():
    """An agent who mended ``91`` to ``61`` charged the customer 4 + 3 incidents for one appointment of an hour
    and a minute: each distinct value was charged as an appointment of its own. And a further appointment
    (``2:45``) was charged again on every later event of the ticket: classification handed back the memory it
    had read, without the charge entitlement had just remembered."""
    sim, event = _northwind()
    sim.feed(event(1, None))
    assert [c.delta for c in sim.feed(event(2, "91")).charges] == [-4]
    [back] = sim.feed(event(3, "61")).charges
    assert back.delta == 1 and back.reason == (
        "appointment on zendesk:77 corrected from 91 to 61 min: 3 incidents in all, 1 given back")
    assert [c.delta for c in sim.feed(event(4, "60")).charges] == [1]  # 3 -> 2
    assert [c.delta for c in sim.feed(event(5, "120")).charges] == [-2]  # 2 -> 4
    assert [c.delta for c in sim.feed(event(6, "2:45")).charges] == [-2]  # a further appointment: its own charge
    assert [c.delta for c in sim.feed(event(7, "2:61")).charges] == [-1]  # that one corrected: 2 -> 3
    assert sim.feed(event(8, "2:61")).charges == ()
    assert sum(delta for _, delta, _ in sim.entries["northwind-clinic"]) == -1 - 4 - 3  # the ticket, 120 min, 61 min


def test_appointment_changes_charge_again_charges_every_distinct_value():
    sim, event = _northwind({"appointment_changes": "charge_again"})
    sim.feed(event(1, None))
    assert [c.delta for c in sim.feed(event(2, "91")).charges] == [-4]
    assert [c.delta for c in sim.feed(event(3, "61")).charges] == [-3]
    assert sim.feed(event(4, "91")).charges == ()


def test_a_state_from_before_corrections_counts_what_it_charged():
    """A ticket state written before corrections lists the values charged (``appointments_charged``): a
    correction gives back what they cost beyond the new value."""
    from slabridge.engine import TicketState

    sim, event = _northwind()
    sim.feed(event(1, None))
    key = "zendesk:77"
    state = sim.states[key]
    sim.states[key] = state.replace(memory={**state.memory, "appointments_charged": ["91", "61", "2:30"]})
    assert [c.delta for c in sim.feed(event(2, "90")).charges] == [4]  # 4 + 3 charged; 90 min costs 3
    assert sim.feed(event(3, "2:30")).charges == ()
    assert isinstance(sim.states[key], TicketState)


def at(*args) -> float:
    return datetime(*args, tzinfo=timezone.utc).timestamp()


def test_balance_follows_the_ledger_and_caps_the_rollover():
    entries = [(at(2026, 5, 1), -1, "ticket 1"), (at(2026, 6, 1), -4, "appointment 91 min"),
               (at(2026, 7, 1), 10, "purchase")]
    now, history = balance(20, date(2026, 4, 1), BILLING, entries, datetime(2026, 12, 1, tzinfo=timezone.utc), UTC)
    assert now == 25
    assert [h["balance"] for h in history] == [19, 15, 25]
    next_year, history = balance(20, date(2026, 4, 1), BILLING, entries, datetime(2027, 4, 2, tzinfo=timezone.utc), UTC)
    assert next_year == 15
    assert history[-1]["delta"] == -10 and "at most 15" in history[-1]["reason"]


def test_a_small_balance_rolls_over_whole():
    assert balance(7, date(2026, 1, 1), BILLING, [], datetime(2028, 6, 1, tzinfo=timezone.utc), UTC)[0] == 7


def test_no_cap_means_everything_rolls_over():
    june = datetime(2027, 6, 1, tzinfo=timezone.utc)
    assert balance(40, date(2026, 1, 1), Billing(rollover_cap=None), [], june, UTC)[0] == 40


def test_charge_on_first_support_reply_charges_when_a_technician_answers(tmp_path):
    import shutil
    from datetime import datetime, timedelta, timezone
    from pathlib import Path

    from slabridge.config import Settings, VendorSettings
    from slabridge.directory import load
    from slabridge.models import Actor, Comment, Organization, Person, TicketEvent, TicketRef
    from slabridge.plugins import Plugins
    from slabridge.simulation import Simulation

    examples = Path(__file__).resolve().parents[2] / "examples"
    shutil.copytree(examples / "contracts", tmp_path / "contracts")
    contract = tmp_path / "contracts" / "triage-desk.yaml"
    contract.write_text(contract.read_text().replace("charge_on: first_decision", "charge_on: first_support_reply"))
    directory, problems = load(tmp_path / "contracts", examples / "customers.yaml")
    assert problems == []
    sim = Simulation(Plugins(Settings(vendors={"freshdesk": VendorSettings(enabled=True)}), load_entry_points=False),
                     directory)
    at = datetime(2026, 4, 7, 13, 0, tzinfo=timezone.utc)

    def event(n, minutes, comment=None, kind=None):
        return TicketEvent(vendor="freshdesk", delivery_id=f"d{n}", ticket=TicketRef(vendor="freshdesk", id="9"),
                           kind=kind or ("comment" if comment else "created"),
                           requester=Person(email="pat@northwind.example"),
                           organization=Organization(id="501"), priority="2", subject="Printer",
                           description="Blank pages.", created_at=at, occurred_at=at + timedelta(minutes=minutes),
                           comment=comment)

    assert sim.feed(event(1, 0)).charges == ()
    customer_words = Comment(author=Actor(email="pat@northwind.example"), body="Any news?")
    assert sim.feed(event(2, 10, customer_words)).charges == ()
    # Freshdesk sends the latest public comment with a technician's priority change, as the technician's: no reply
    carried = Comment(author=Actor(email="tech@desk.example", is_agent=True), body="Any news?")
    assert sim.feed(event(3, 15, carried, kind="priority")).charges == ()
    reply = Comment(author=Actor(email="tech@desk.example", is_agent=True), body="Replace the ribbon.")
    assert [c.delta for c in sim.feed(event(4, 20, reply)).charges] == [-1]
    assert sim.feed(event(5, 30, reply)).charges == ()  # once per ticket


@settings(max_examples=300, deadline=None)
@given(start=st.dates(min_value=date(2023, 1, 1), max_value=date(2026, 12, 31)),
       cap=st.one_of(st.none(), st.integers(min_value=0, max_value=20)),
       steps=st.lists(st.tuples(st.integers(min_value=0, max_value=200 * 86_400), st.integers(-6, 12)), max_size=30),
       tail=st.integers(min_value=0, max_value=900 * 86_400), offset=st.integers(min_value=-12, max_value=14),
       dates_zone=st.sampled_from([UTC, ZoneInfo("America/New_York"), ZoneInfo("Asia/Kolkata"),
                                   ZoneInfo("Pacific/Chatham")]))
def test_the_balance_alone_is_the_balance_with_its_history(start, cap, steps, tail, offset, dates_zone):
    """Each decision asks for the balance alone (no history written out); it must be the same number, across
    anniversaries (29 February, movements at an anniversary's midnight in the contract's zone) and a "now" in any
    zone."""
    moment = datetime(start.year, start.month, start.day, tzinfo=dates_zone).timestamp()
    entries = []
    for gap, delta in steps:
        moment += gap
        entries.append((moment, delta, "movement"))
    now = datetime.fromtimestamp(moment + tail, timezone(timedelta(hours=offset)))
    billing = Billing(per_ticket=1, rollover_cap=cap)
    assert balance_now(7, start, billing, entries, now, dates_zone) == \
        balance(7, start, billing, entries, now, dates_zone)[0]


def test_a_movement_at_an_anniversarys_midnight_is_counted_after_the_cap():
    entries = [(at(2027, 4, 1), 3, "purchase at the anniversary")]
    for ask in (balance_now, lambda *a: balance(*a)[0]):
        assert ask(30, date(2026, 4, 1), BILLING, entries, datetime(2027, 4, 1, 12, tzinfo=timezone.utc), UTC) == 18
