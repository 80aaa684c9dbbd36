"""A contract revised while its tickets are open: what they remember of the old one never fails a decision."""

import re
from datetime import datetime, timedelta
from pathlib import Path

from slabridge.config import Settings
from slabridge.directory import load
from slabridge.models import Actor, Comment, Organization, Person, TicketEvent, TicketRef
from slabridge.plugins import Plugins
from slabridge.report import rows, tally
from slabridge.simulation import Simulation

ROOT = Path(__file__).resolve().parents[2]
T0 = datetime.fromisoformat("2026-03-07T10:00:00-07:00")


def event(n: int, at: datetime, **kw) -> TicketEvent:
    """Fabrikam Health (Interopion's agreement): its system is down."""
    return TicketEvent(vendor="zendesk", delivery_id=f"d{n}", ticket=TicketRef(vendor="zendesk", id="1"),
                       requester=Person(email="casey@fabrikam.example"), organization=Organization(id="9100"),
                       subject="System down", description="The service is inoperable.",
                       created_at=T0, occurred_at=at, **{"kind": "created", "priority": "urgent", **kw})


def revised(tmp_path: Path) -> Path:
    """The example contracts with Interopion's levels renamed P1..P4 -> Sev1..Sev4 and its business calendar
    renamed office, everywhere in its file."""
    for source in (ROOT / "examples" / "contracts").glob("*.yaml"):
        text = source.read_text()
        if source.name == "interopion.yaml":
            text = re.sub(r"\bP([1-4])\b", r"Sev\1", text)
            text = re.sub(r"\bbusiness\b(?=:\n|\.maintenance|\s*[,}]|$)", "office", text, flags=re.M)
        (tmp_path / source.name).write_text(text)
    return tmp_path


def test_a_ticket_decided_under_old_level_names_is_decided_afresh_under_the_new_ones_saying_why(tmp_path, caplog):
    customers = ROOT / "examples" / "customers.yaml"
    before, _ = load(ROOT / "examples" / "contracts", customers)
    after, problems = load(revised(tmp_path), customers)
    assert not problems and "Sev1" in after.contracts["interopion"].levels
    assert "office" in after.contracts["interopion"].calendars
    simulation = Simulation(Plugins(Settings(), load_entry_points=False), before)
    assert simulation.feed(event(1, T0)).decision.severity == "P1"
    simulation.directory = after  # the revised contract is loaded while the ticket is open
    agent = Actor(email="alex@support.example", is_agent=True)
    outcome = simulation.feed(event(2, T0 + timedelta(minutes=30), kind="comment",
                                    comment=Comment(public=True, author=agent, body="On it.")))
    assert outcome.decision.severity == "Sev1"
    [changed] = [r for r in outcome.decision.reasons if r.rule == "classify.contract_changed"]
    assert changed.inputs == {"designated": "P1", "level": "P1"} and "no longer defines P1" in changed.text
    assert simulation.feed(event(3, T0 + timedelta(hours=1), kind="updated")).decision.severity == "Sev1"
    simulation.advance(T0 + timedelta(days=3))  # its timers fire under the revised contract too
    report = rows(tally(simulation.states.values(), after, T0 + timedelta(days=3)))
    assert report  # cycles under a calendar it no longer has are left out, the rest counted


def test_a_request_type_the_contract_no_longer_has_is_forgotten_and_what_it_still_has_kept():
    from slabridge.rules.severity import _still_defined

    contract = load(ROOT / "examples" / "contracts", ROOT / "examples" / "customers.yaml")[0].contracts["interopion"]
    reasons: list = []
    memory = _still_defined({"request_type": "retired", "level": "P2", "designated": "P3", "basis": "b"}, contract,
                            reasons)
    assert memory == {"request_type": None, "level": "P2", "designated": "P3", "basis": None}  # None: forgotten
    assert [(r.rule, r.inputs) for r in reasons] == [("classify.contract_changed", {"request_type": "retired"})]
    assert _still_defined({"request_type": "incident", "level": "P2", "basis": "b"}, contract, reasons) == {
        "request_type": "incident", "level": "P2", "basis": "b"} and len(reasons) == 1


def test_an_agents_level_the_contract_no_longer_has_is_forgotten_once(tmp_path):
    """The agent's level was taken out of the memory classification returned, but the engine only adds what a
    phase returns: the state kept it, and every later decision said again that the contract no longer has it."""
    customers = ROOT / "examples" / "customers.yaml"
    before, after = load(ROOT / "examples" / "contracts", customers)[0], load(revised(tmp_path), customers)[0]
    simulation = Simulation(Plugins(Settings(), load_entry_points=False), before)
    simulation.feed(event(1, T0))
    agent = Actor(id="a1", email="alex@support.example", is_agent=True)
    lowered = simulation.feed(event(2, T0 + timedelta(minutes=5), kind="priority", priority="high", actor=agent))
    assert lowered.state.memory["agent_level"] == "P2"
    simulation.directory = after
    changed = simulation.feed(event(3, T0 + timedelta(minutes=10), kind="updated", priority="high"))
    assert [r.inputs for r in changed.decision.reasons if r.rule == "classify.contract_changed"] == [
        {"designated": "P1", "level": "P2", "agent_level": "P2"}]
    assert changed.state.memory["agent_level"] is None
    later = simulation.feed(event(4, T0 + timedelta(minutes=20), kind="updated", priority="high"))
    assert not [r for r in later.decision.reasons if r.rule == "classify.contract_changed"]
