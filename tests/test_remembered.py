"""What the decision core remembers between decisions gives the answer it would work out afresh: keyed by
everything the answer depends on, and never across a reload of the customers or contracts. Instants read at
offset zero are held in the standard library's UTC (cheapest to compare), written as they were read."""

from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

from slabridge.directory import load
from slabridge.engine import TicketState
from slabridge.models import TicketEvent
from slabridge.rules.entitlement import EntitlementRules
from slabridge.rules.remembered import ByIdentity
from slabridge.timeparse import iso, utc

ROOT = Path(__file__).resolve().parents[1]
NOW = datetime(2026, 6, 2, 15, tzinfo=timezone.utc)


def test_an_instant_is_written_in_its_own_zone_however_often_it_is_asked_for():
    """Equal instants in two zones are equal datetimes (and hash alike): each keeps its own offset."""
    denver = datetime(2026, 3, 7, 12, tzinfo=ZoneInfo("America/Denver"))
    same_in_utc = denver.astimezone(timezone.utc)
    fixed = denver.astimezone(timezone(timedelta(hours=-7)))
    assert denver == same_in_utc == fixed
    for _ in range(2):
        assert iso(denver) == "2026-03-07T12:00:00-07:00"
        assert iso(same_in_utc) == "2026-03-07T19:00:00+00:00"
        assert iso(fixed) == "2026-03-07T12:00:00-07:00"
    assert iso(datetime(2026, 3, 7, 19, 0, 0, 1500, tzinfo=timezone.utc)) == "2026-03-07T19:00:00.001500+00:00"


def test_an_instant_in_utc_is_the_same_instant_whichever_zone_asked_first():
    denver = datetime(2026, 11, 1, 1, 30, tzinfo=ZoneInfo("America/Denver"))  # the hour that repeats
    later = datetime(2026, 11, 1, 1, 30, fold=1, tzinfo=ZoneInfo("America/Denver"))
    fixed = denver.astimezone(timezone(timedelta(hours=-6)))
    for _ in range(2):
        for when in (denver, later, fixed):
            assert utc(when).timestamp() == when.timestamp() and utc(when).tzinfo is timezone.utc
        assert utc(later) - utc(denver) == timedelta(hours=1) and utc(fixed) == utc(denver)
        assert (iso(denver), iso(later)) == ("2026-11-01T01:30:00-06:00", "2026-11-01T01:30:00-07:00")
    assert utc(utc(denver)) is utc(denver)


def _entitlement(directory, customer_id: str, email: str):
    customer = directory.customers[customer_id]
    event = TicketEvent(vendor="zendesk", delivery_id="d1", ticket={"vendor": "zendesk", "id": "1"},
                        kind="created", requester={"email": email}, occurred_at=NOW, created_at=NOW)
    return EntitlementRules().slabridge_entitlement(
        event=event, customer=customer, contract=directory.contract_for(customer), now=NOW,
        state=TicketState(ticket=event.ticket), directory=directory)


def _texts(verdict) -> list[str]:
    return [reason.text for reason in verdict.reasons]


def test_a_requesters_plan_terms_are_their_own_and_follow_a_reload():
    directory, problems = load(ROOT / "examples" / "contracts", ROOT / "examples" / "customers.yaml")
    assert not problems
    designated = _entitlement(directory, "acme-offices", "dana@acme.example")
    again = _entitlement(directory, "acme-offices", "dana@acme.example")
    beyond_tier = _entitlement(directory, "acme-offices", "ivy@acme.example")  # user 12 of a 10-user add-on
    assert designated == again and designated.entitled
    assert designated.coverage != beyond_tier.coverage
    assert designated.tags != beyond_tier.tags and _texts(designated) != _texts(beyond_tier)
    assert beyond_tier.reasons[0].inputs["requester"] == "ivy@acme.example"

    # The customers file edited and reloaded: the add-on now covers everyone listed.
    acme = directory.customers["acme-offices"]
    wider = acme.model_copy(update={"addons": {name: purchase.model_copy(update={"users": 20})
                                               for name, purchase in acme.addons.items()}})
    directory.customers["acme-offices"] = wider
    reloaded = _entitlement(directory, "acme-offices", "ivy@acme.example")
    assert reloaded.coverage == designated.coverage != beyond_tier.coverage
    assert any("(20 users)" in text for text in _texts(reloaded))


def test_an_event_read_at_offset_zero_holds_standard_utc_and_is_written_alike():
    import json

    body = {"vendor": "zendesk", "delivery_id": "d1", "ticket": {"vendor": "zendesk", "id": "1"}, "kind": "created"}
    for text, zone in (("2026-03-07T19:00:00Z", timezone.utc), ("2026-03-07T19:00:00+00:00", timezone.utc),
                       ("2026-03-07T12:00:00-07:00", None)):
        event = TicketEvent.model_validate_json(json.dumps({**body, "occurred_at": text, "created_at": text}))
        for when in (event.occurred_at, event.created_at):
            assert when == datetime(2026, 3, 7, 19, tzinfo=timezone.utc)
            assert (when.tzinfo is timezone.utc) == (zone is timezone.utc)
            assert when.isoformat() == datetime.fromisoformat(text.replace("Z", "+00:00")).isoformat()
        assert TicketEvent.model_validate_json(event.model_dump_json()) == event


def test_answers_by_identity_are_per_object_and_bounded():
    """Two equal objects (a file reloaded unchanged) are asked about apart; the oldest answers go at the bound."""
    remembered: ByIdentity[str] = ByIdentity(kept=3)
    worked: list[str] = []

    def answer(spec: dict, detail: str) -> str:
        return remembered.get((id(spec), detail), (spec,), lambda: worked.append(detail) or f"{spec['name']}/{detail}")

    first, reloaded = {"name": "support-hours"}, {"name": "support-hours"}
    assert answer(first, "US") == answer(first, "US") == "support-hours/US" and worked == ["US"]
    assert answer(reloaded, "US") == "support-hours/US" and worked == ["US", "US"]
    answer(first, "CA")
    answer(first, "DE")  # a fourth entry: the three before are dropped
    assert answer(first, "US") == "support-hours/US" and worked == ["US", "US", "CA", "DE", "US"]


def test_a_deadline_is_remembered_per_clock_and_terms_its_breach_per_decision(tmp_path):
    """The SLA phase works out a cycle's due instant once for its clock and terms: asked again it gives what it
    would work out afresh; another severity, a later clock or a reloaded contract get their own; the breach is
    always the decision's own."""
    import shutil

    from slabridge.rules import sla
    from slabridge.verdicts import Classification, Entitlement

    directory, _ = load(ROOT / "examples" / "contracts", ROOT / "examples" / "customers.yaml")
    customer = directory.customers["acme-offices"]
    event = TicketEvent(vendor="zendesk", delivery_id="d1", ticket={"vendor": "zendesk", "id": "1"},
                        kind="created", requester={"email": "dana@acme.example"}, occurred_at=NOW, created_at=NOW)

    def deadline(contract, severity="sev1", now=NOW + timedelta(minutes=5), state=None):
        return sla.SlaRules().slabridge_deadlines(
            event=event, entitlement=Entitlement(entitled=True, plan=customer.plan),
            classification=Classification(severity=severity), contract=contract, now=now,
            state=state or TicketState(ticket=event.ticket), customer=customer)[0]

    caret = directory.contract_for(customer)
    first = deadline(caret)
    assert deadline(caret) == first and first.due_at == NOW + timedelta(minutes=30) and not first.breached
    sla._DUES._entries.clear()
    assert deadline(caret) == first  # worked out afresh: the same
    late = deadline(caret, now=NOW + timedelta(hours=1))
    assert late.breached and late.due_at == first.due_at
    assert deadline(caret, severity="sev2").due_at == NOW + timedelta(hours=2)
    stopped = TicketState(ticket=event.ticket, clocks={"first_response": first.clock.stop(NOW + timedelta(minutes=9))})
    answered = deadline(caret, state=stopped, now=NOW + timedelta(hours=1))
    assert answered.reasons[0].inputs["clock"] == "stopped" and answered.warn_at is None and not answered.breached
    assert first.reasons[0].inputs["clock"] == "running" and first.warn_at is not None

    folder = tmp_path / "contracts"
    shutil.copytree(ROOT / "examples" / "contracts", folder)
    text = (folder / "caret.yaml").read_text()
    (folder / "caret.yaml").write_text(text.replace("within: 30m\n    calendar: weekdays_24h",
                                                    "within: 45m\n    calendar: weekdays_24h"))
    reloaded, problems = load(folder, ROOT / "examples" / "customers.yaml")
    assert not problems
    assert deadline(reloaded.contract_for(customer)).due_at == NOW + timedelta(minutes=45)
    assert deadline(caret).due_at == NOW + timedelta(minutes=30)


def test_an_escalation_step_is_remembered_per_deadline_customer_and_helpdesk():
    """A ladder step's instant and route are worked out once per deadline, customer and helpdesk: asked again
    they are what they would be afresh, and another helpdesk, customer or deadline gets its own."""
    from slabridge.rules import escalation
    from slabridge.verdicts import Deadline

    directory, _ = load(ROOT / "examples" / "contracts", ROOT / "examples" / "customers.yaml")
    acme = directory.customers["acme-offices"]
    caret = directory.contract_for(acme)
    due = NOW - timedelta(minutes=10)

    def taken(vendor="zendesk", customer=acme, due_at=due):
        event = TicketEvent(vendor=vendor, delivery_id="d1", ticket={"vendor": vendor, "id": "1"}, kind="timer",
                            occurred_at=NOW)
        deadline = Deadline(metric="first_response", severity="sev1", due_at=due_at, breached=True)
        steps = escalation.EscalationRules().slabridge_escalations(
            event=event, deadlines=[deadline], customer=customer, contract=caret, now=NOW,
            state=TicketState(ticket=event.ticket))
        return steps[0]

    first = taken()
    assert (first.level, first.group, first.assignee) == ("tam", "360010", "3900001")
    assert taken() is first  # remembered: the same value
    escalation._STEPS._entries.clear()
    assert taken() == first  # afresh: equal
    assert (taken("jira").group, taken("jira").assignee) == (None, "557058:tam-robin")
    other_tam = acme.model_copy(update={"tam": acme.tam.model_copy(update={"group": {"zendesk": "777"}})})
    assert taken(customer=other_tam).group == "777"
    earlier = taken(due_at=due - timedelta(hours=1))
    assert earlier.reasons[0].text != first.reasons[0].text and "14:50" in first.reasons[0].text
