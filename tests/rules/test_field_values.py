"""A contract's field conditions (an appeal field, a classification rule's ``fields``) against the values helpdesks
send: text, a checkbox, and a multi-select's list of values. A list was compared as its Python text
(``"['yes']"``) and never held."""

from datetime import datetime, timedelta
from pathlib import Path

import pytest

from slabridge.config import Settings
from slabridge.directory import load
from slabridge.models import Organization, Person, TicketEvent, TicketRef
from slabridge.plugins import Plugins
from slabridge.rules.matching import field_holds
from slabridge.simulation import Simulation

ROOT = Path(__file__).resolve().parents[2]
T0 = datetime.fromisoformat("2026-03-04T09:00:00-07:00")
ACCEPTED = frozenset({"yes", "true"})


@pytest.mark.parametrize("value, holds", [
    ("Yes", True), (True, True), (["billing", "yes"], True), (("yes",), True), ("no", False), (["no"], False),
    ([], False), ([{"value": "yes"}], False), ("", False), (None, False), ("['yes']", False),
])
def test_a_field_holds_an_accepted_value_as_text_or_among_its_list(value, holds):
    assert field_holds(value, ACCEPTED) is holds


def event(n: int, minutes: int, **kw) -> TicketEvent:
    """Fabrikam's ticket 101 (Interopion's agreement: a P3 describing an inoperable system is reclassified P1)."""
    fields = dict(vendor="zendesk", delivery_id=f"d{n}", ticket=TicketRef(vendor="zendesk", id="101"),
                  kind="updated", requester=Person(email="casey@fabrikam.example"), organization=Organization(id="9100"),
                  priority="normal", subject="Scheduling inoperable",
                  description="The scheduling module is inoperable for all users.",
                  created_at=T0, occurred_at=T0 + timedelta(minutes=minutes))
    return TicketEvent(**{**fields, **kw})


@pytest.mark.parametrize("appeal", [["yes"], ["Escalation", "Yes"], "true"])
def test_an_appeal_set_in_a_multi_select_field_is_an_appeal(appeal):
    directory, problems = load(ROOT / "examples" / "contracts", ROOT / "examples" / "customers.yaml")
    assert not problems
    sim = Simulation(Plugins(Settings(), load_entry_points=False), directory)
    assert sim.feed(event(1, 0, kind="created")).decision.severity == "P1"
    outcome = sim.feed(event(2, 20, custom_fields={"priority_appeal": appeal}))
    assert [r.rule for r in outcome.decision.reasons if r.rule == "classify.appeal"] == ["classify.appeal"]
    assert any(a.type == "add_tags" and "sla_appeal" in a.tags for a in outcome.decision.actions)
