"""The agreement's calendar dates (a customer's term, the contract year of prepaid incidents) are days in the
contract's time zone, and a ticket is judged by the day it was opened, not by when slabridge got to it."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from slabridge.contract import Billing, Contract
from slabridge.directory import load
from slabridge.engine import TicketState
from slabridge.models import TicketEvent
from slabridge.rules import incidents
from slabridge.rules.entitlement import EntitlementRules

ROOT = Path(__file__).resolve().parents[2]
NEW_YORK = ZoneInfo("America/New_York")  # caret's calendars' zone; Acme's term is 2026-01-01 to 2026-12-31


def _entitled(asked: datetime, decided: datetime | None = None, opened: datetime | None = None,
              kind: str = "created") -> tuple[bool, list[str]]:
    directory, problems = load(ROOT / "examples" / "contracts", ROOT / "examples" / "customers.yaml")
    assert not problems
    customer = directory.customers["acme-offices"]
    asked = asked.astimezone(timezone.utc)  # as helpdesks send it
    event = TicketEvent(vendor="zendesk", delivery_id="d1", ticket={"vendor": "zendesk", "id": "1"},
                        kind=kind, requester={"email": "dana@acme.example"}, occurred_at=asked,
                        created_at=(opened or asked).astimezone(timezone.utc))
    verdict = EntitlementRules().slabridge_entitlement(
        event=event, customer=customer, contract=directory.contract_for(customer),
        now=(decided or asked).astimezone(timezone.utc),  # the worker's clock is in UTC
        state=TicketState(ticket=event.ticket), directory=directory)
    return verdict.entitled, [reason.text for reason in verdict.reasons]


def test_the_last_evening_of_the_term_in_the_contracts_zone_is_within_it():
    """22:00 in New York on the term's last day is already the next day in UTC: still within the term."""
    entitled, reasons = _entitled(datetime(2026, 12, 31, 22, tzinfo=NEW_YORK))
    assert entitled, reasons


def test_the_term_ends_at_midnight_in_the_contracts_zone():
    entitled, reasons = _entitled(datetime(2027, 1, 1, 0, 30, tzinfo=NEW_YORK))
    assert not entitled
    assert any("ticket opened on 2027-01-01 (America/New_York)" in text for text in reasons), reasons


def test_the_evening_before_the_term_starts_is_not_within_it():
    """19:30 in New York the day before the term starts is already the first day in UTC."""
    entitled, _ = _entitled(datetime(2025, 12, 31, 19, 30, tzinfo=NEW_YORK))
    assert not entitled


def test_a_request_made_within_the_term_and_decided_after_it_ended_is_within_it():
    """A webhook held back (an outage, a backlog) is judged by the day the customer asked."""
    asked = datetime(2026, 12, 31, 23, 50, tzinfo=NEW_YORK)
    entitled, reasons = _entitled(asked, decided=asked + timedelta(hours=9))
    assert entitled, reasons


@pytest.mark.parametrize("kind", ["comment", "timer"])
def test_a_ticket_opened_within_the_term_keeps_it_after_the_term_ends(kind):
    """A comment, or a deadline's timer, after the term ended, on a ticket opened within it: the ticket is worked
    under the agreement it was opened under (no reply telling the customer their support lapsed mid-ticket)."""
    opened = datetime(2026, 12, 30, 15, tzinfo=NEW_YORK)
    later = datetime(2027, 1, 4, 10, tzinfo=NEW_YORK)
    entitled, reasons = _entitled(later, opened=opened, kind=kind)
    assert entitled, reasons
    entitled, _ = _entitled(later, opened=later, kind=kind)
    assert not entitled


def test_an_agreement_whose_calendars_disagree_on_the_zone_names_the_one_its_dates_are_read_in():
    calendars = {"east": {"timezone": "America/New_York", "weekly": {"mon-fri": ["09:00-17:00"]}},
                 "west": {"timezone": "America/Los_Angeles", "weekly": {"mon-fri": ["09:00-17:00"]}}}
    base = dict(id="c", name="C", calendars=calendars, levels={"p1": {"definition": "down"}}, default_level="p1")
    with pytest.raises(ValueError, match="several time zones .*America/Los_Angeles.*America/New_York.*timezone"):
        Contract.model_validate(base)
    assert Contract.model_validate({**base, "timezone": "America/Denver"}).dates_zone == ZoneInfo("America/Denver")
    assert Contract.model_validate({**base, "calendars": {"east": calendars["east"]}}).dates_zone == NEW_YORK
    with pytest.raises(ValueError, match="unknown IANA time zone 'Mars/Base'"):
        Contract.model_validate({**base, "timezone": "Mars/Base"})


def test_the_incident_year_rolls_over_at_midnight_in_the_contracts_zone():
    """Year start 1 April, at most 2 unused incidents carry over. 5 are left when a ticket is charged at 21:00
    New York time on 31 March: the charge is the old year's (5 - 1 = 4, then 2 kept), not the new one's."""
    billing = Billing(rollover_cap=2)
    charged = datetime(2027, 3, 31, 21, tzinfo=NEW_YORK).timestamp()
    entries = [(charged, -1, "ticket charged")]
    after = datetime(2027, 4, 2, 12, tzinfo=timezone.utc)
    assert incidents.balance_now(5, date(2026, 4, 1), billing, entries, after, NEW_YORK) == 2
    assert incidents.balance_now(5, date(2026, 4, 1), billing, entries, after, timezone.utc) == 1
    before = datetime(2027, 3, 31, 23, tzinfo=NEW_YORK)  # 04:00 UTC on 1 April: not yet rolled over in New York
    assert incidents.balance_now(5, date(2026, 4, 1), billing, entries, before, NEW_YORK) == 4
    left, history = incidents.balance(5, date(2026, 4, 1), billing, entries, after, NEW_YORK)
    assert left == 2 and [h["at"][:10] for h in history] == ["2027-03-31", "2027-04-01"]


def test_a_contract_may_judge_the_term_by_each_events_day_instead():
    """``term_day: event``: a comment after the term ended is outside it, though the ticket was opened within."""
    directory, _ = load(ROOT / "examples" / "contracts", ROOT / "examples" / "customers.yaml")
    customer = directory.customers["acme-offices"]
    contract = directory.contract_for(customer)
    checks = [check.model_copy(update={"term_day": "event"}) for check in contract.entitlement.checks]
    contract = contract.model_copy(update={"entitlement": contract.entitlement.model_copy(update={"checks": checks})})
    opened = datetime(2026, 12, 30, 15, tzinfo=NEW_YORK).astimezone(timezone.utc)
    later = datetime(2027, 1, 4, 10, tzinfo=NEW_YORK).astimezone(timezone.utc)
    event = TicketEvent(vendor="zendesk", delivery_id="d1", ticket={"vendor": "zendesk", "id": "1"}, kind="comment",
                        requester={"email": "dana@acme.example"}, occurred_at=later, created_at=opened)
    verdict = EntitlementRules().slabridge_entitlement(
        event=event, customer=customer, contract=contract, now=later, state=TicketState(ticket=event.ticket),
        directory=directory)
    assert not verdict.entitled
    assert any("event on 2027-01-04 (America/New_York)" in reason.text for reason in verdict.reasons)


def test_term_day_belongs_to_the_term_check():
    from slabridge.contract import Check

    assert Check(check="within_term", term_day="event").term_day == "event"
    with pytest.raises(ValueError, match="term_day is for the within_term check, not contact_email"):
        Check(check="contact_email", term_day="event")
