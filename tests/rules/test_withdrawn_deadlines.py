"""A deadline whose obligation ends other than by its clock stopping (the ticket reclassified to a level without
it, turned into a request type without SLA) is withdrawn: it leaves the board, the metrics and the vendor's
field, and the report counts its open cycle only if it was already missed."""

from datetime import datetime, timedelta
from pathlib import Path

from slabridge.board import board
from slabridge.config import Settings, VendorSettings
from slabridge.directory import load
from slabridge.models import Actor, Comment, Organization, Person, SetFields, TicketEvent, TicketRef
from slabridge.plugins import Plugins
from slabridge.report import rows, tally
from slabridge.simulation import Simulation

ROOT = Path(__file__).resolve().parents[2]
T0 = datetime.fromisoformat("2026-03-09T10:00:00-06:00")  # a Monday morning in Interopion's business hours
AGENT = Actor(email="alex@support.example", is_agent=True)
DIRECTORY = load(ROOT / "examples" / "contracts", ROOT / "examples" / "customers.yaml")[0]


def event(n: int, at: datetime, **kw) -> TicketEvent:
    """Fabrikam Health's ticket 1 (Interopion's agreement: P1 has a 4-hour critical notification, P3 has not)."""
    fields = dict(vendor="zendesk", delivery_id=f"d{n}", ticket=TicketRef(vendor="zendesk", id="1"), kind="updated",
                  requester=Person(email="casey@fabrikam.example"), organization=Organization(id="9100"),
                  priority="urgent", subject="System down", description="The service is inoperable.",
                  created_at=T0, occurred_at=at)
    return TicketEvent(**{**fields, **kw})


def simulation(**settings) -> Simulation:
    return Simulation(Plugins(Settings(**settings), load_entry_points=False), DIRECTORY)


def critical_rows(sim: Simulation, now: datetime) -> list[dict]:
    return [r for r in rows(tally(sim.states.values(), DIRECTORY, now)) if r["metric"] == "critical_notification"]


def test_a_deadline_of_a_level_the_ticket_no_longer_has_is_withdrawn_and_its_open_cycle_not_counted():
    sim = simulation()
    assert set(sim.feed(event(1, T0, kind="created")).state.deadlines) == {"first_response", "critical_notification"}
    outcome = sim.feed(event(2, T0 + timedelta(minutes=10), priority="low", actor=AGENT))  # an agent: it is a P3
    assert outcome.decision.severity == "P3" and set(outcome.state.deadlines) == {"first_response"}
    [reason] = [r for r in outcome.decision.reasons if r.rule == "engine.withdrawn"]
    assert reason.inputs["metric"] == "critical_notification" and "not counted" in reason.text
    assert outcome.state.clocks["critical_notification"].state == "idle"
    later = T0 + timedelta(days=3)
    sim.advance(later)
    lines = [(row.ticket_id, [m.metric for m in row.metrics]) for row in board([sim.states["zendesk:1"].dump()],
                                                                               DIRECTORY, later)]
    assert lines == [("1", ["first_response"])]  # not a P1 notification breached for ever
    assert all(r["met"] + r["breached"] + r["open"] == 0 for r in critical_rows(sim, later))


def test_a_deadline_already_missed_when_it_is_withdrawn_stays_a_breach():
    sim = simulation()
    sim.feed(event(1, T0, kind="created"))
    sim.advance(T0 + timedelta(hours=5))  # the 4-hour notification is missed; its timer saw it
    assert sim.states["zendesk:1"].deadlines["critical_notification"]["breached"] is True
    outcome = sim.feed(event(2, T0 + timedelta(hours=5, minutes=10), priority="low", actor=AGENT))
    assert "stays a breach" in next(r.text for r in outcome.decision.reasons if r.rule == "engine.withdrawn")
    assert outcome.state.clocks["critical_notification"].state == "stopped"
    [row] = critical_rows(sim, T0 + timedelta(days=3))
    assert (row["met"], row["breached"], row["open"]) == (0, 1, 0)


def test_a_ticket_that_becomes_a_feature_request_leaves_every_sla_view_and_its_deadline_field_is_emptied():
    sim = simulation(vendors={"zendesk": VendorSettings(enabled=True, fields={"first_response": "360001"})})
    created = sim.feed(event(1, T0, kind="created", priority="normal", subject="Export", description="It is slow."))
    assert any(isinstance(a, SetFields) and a.fields.get("360001") for a in created.decision.actions)
    customer = Actor(email="casey@fabrikam.example")
    asked = Comment(public=True, author=customer, body="Also, we would like the ability to export to PDF.")
    outcome = sim.feed(event(2, T0 + timedelta(minutes=10), kind="comment", priority="normal", subject="Export",
                             description="It is slow.", comment=asked))
    assert outcome.state.memory["request_type"] == "feature_request" and outcome.state.deadlines == {}
    assert SetFields(fields={"360001": None}) in outcome.decision.actions
    later = T0 + timedelta(days=5)
    sim.advance(later)
    state = sim.states["zendesk:1"]
    assert not state.running() and board([state.dump()], DIRECTORY, later) == []


def test_a_ticket_deleted_on_the_helpdesk_leaves_every_sla_view_and_no_timer_of_it_fires():
    sim = simulation()
    sim.feed(event(1, T0, kind="created"))
    outcome = sim.feed(event(2, T0 + timedelta(minutes=10), kind="deleted", actor=AGENT))
    assert [r.rule for r in outcome.decision.reasons] == ["engine.deleted", "engine.withdrawn", "engine.withdrawn"]
    assert outcome.decision.actions == () and outcome.timers == () and outcome.state.deadlines == {}
    later = T0 + timedelta(days=3)
    assert sim.advance(later) == []  # the timer set at its creation was replaced: no escalation of a spam ticket
    state = sim.states["zendesk:1"]
    assert not state.running() and board([state.dump()], DIRECTORY, later) == []
    assert all(r["met"] + r["breached"] + r["open"] == 0 for r in critical_rows(sim, later))


def test_a_ticket_deleted_after_missing_a_deadline_keeps_the_breach():
    """Deleting a ticket does not erase a commitment already missed (as any withdrawal): only what was still open
    goes uncounted."""
    sim = simulation()
    sim.feed(event(1, T0, kind="created"))
    sim.advance(T0 + timedelta(hours=5))
    outcome = sim.feed(event(2, T0 + timedelta(hours=5, minutes=10), kind="deleted", actor=AGENT))
    assert outcome.state.clocks["critical_notification"].state == "stopped"
    [row] = critical_rows(sim, T0 + timedelta(days=3))
    assert (row["met"], row["breached"], row["open"]) == (0, 1, 0)
