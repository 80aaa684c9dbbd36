"""Who wrote a comment, where the helpdesk does not flag agents (Zendesk): the requester by id, or by e-mail in
any case. A requester's own reply under another case of their e-mail counted as support's first response."""

from datetime import datetime, timedelta
from pathlib import Path

import pytest

from slabridge.config import Settings
from slabridge.directory import load
from slabridge.models import Actor, Comment, Organization, Person, TicketEvent, TicketRef
from slabridge.plugins import Plugins
from slabridge.simulation import Simulation

ROOT = Path(__file__).resolve().parents[2]
T0 = datetime.fromisoformat("2026-03-09T10:00:00-06:00")


def event(n: int, minutes: int, **kw) -> TicketEvent:
    fields = dict(vendor="zendesk", delivery_id=f"d{n}", ticket=TicketRef(vendor="zendesk", id="1"), kind="created",
                  requester=Person(email="casey@fabrikam.example"), organization=Organization(id="9100"),
                  priority="normal", subject="Report", description="A report is slow.", created_at=T0,
                  occurred_at=T0 + timedelta(minutes=minutes))
    return TicketEvent(**{**fields, **kw})


@pytest.mark.parametrize("author, stops", [
    (Actor(email="Casey@Fabrikam.EXAMPLE"), False), (Actor(email="casey@fabrikam.example"), False),
    (Actor(email="alex@support.example"), True), (Actor(email="alex@support.example", is_agent=False), False),
])
def test_a_public_reply_stops_the_first_response_only_if_support_wrote_it(author, stops):
    sim = Simulation(Plugins(Settings(), load_entry_points=False),
                     load(ROOT / "examples" / "contracts", ROOT / "examples" / "customers.yaml")[0])
    sim.feed(event(1, 0))
    outcome = sim.feed(event(2, 10, kind="comment", comment=Comment(author=author, body="Any news on this?")))
    assert (outcome.state.clocks["first_response"].state == "stopped") is stops


@pytest.mark.parametrize("author, severity", [
    (Actor(email="alex@support.example"), "P3"),  # support asking: not the customer describing
    (Actor(email="alex@support.example", is_agent=True), "P3"),
    (Actor(email="Casey@fabrikam.example"), "P1"),  # the requester's own words
])
def test_classification_reads_the_customers_words_not_supports(author, severity):
    """Where the helpdesk flags no agent (Zendesk), an agent's public "Is your whole system down and nobody can use
    it?" reclassified the ticket P1: support's words were read as the customer's description."""
    sim = Simulation(Plugins(Settings(), load_entry_points=False),
                     load(ROOT / "examples" / "contracts", ROOT / "examples" / "customers.yaml")[0])
    assert sim.feed(event(1, 0)).decision.severity == "P3"
    words = Comment(author=author, body="Is your whole system down and nobody can use it?")
    assert sim.feed(event(2, 10, kind="comment", comment=words)).decision.severity == severity


def test_a_requester_with_an_agents_account_writes_as_the_customer():
    """A colleague with an agent's account (Jira's atlassian account) who raised the ticket: their own comment is
    the customer's, and does not answer it."""
    sim = Simulation(Plugins(Settings(), load_entry_points=False),
                     load(ROOT / "examples" / "contracts", ROOT / "examples" / "customers.yaml")[0])
    sim.feed(event(1, 0))
    colleague = Actor(id="557058:casey", email="casey@fabrikam.example", is_agent=True)
    outcome = sim.feed(event(2, 10, kind="comment", comment=Comment(author=colleague, body="Any news on this?")))
    assert outcome.state.clocks["first_response"].state == "running"


def test_a_customers_reply_quoting_support_is_read_without_the_quote():
    """The customer's "No, only the reports are slow" under support's question quoted back (``>`` lines, as mail
    clients quote) reclassified the ticket P1 from the question's words."""
    sim = Simulation(Plugins(Settings(), load_entry_points=False),
                     load(ROOT / "examples" / "contracts", ROOT / "examples" / "customers.yaml")[0])
    sim.feed(event(1, 0))
    quoted = ("No, only the reports are slow.\n\nOn Tue, Alex wrote:\n"
              "> Is your whole system down and nobody can use it?\n  > > Earlier: all fine")
    customer = Actor(email="casey@fabrikam.example")
    assert sim.feed(event(2, 10, kind="comment", comment=Comment(author=customer, body=quoted))).decision.severity \
        == "P3"
    said = "Is your whole system down and nobody can use it? Yes.\n> earlier message"
    assert sim.feed(event(3, 20, kind="comment", comment=Comment(author=customer, body=said))).decision.severity \
        == "P1"


def test_the_latest_comment_sent_with_another_change_is_not_the_actors():
    """Helpdesks send the ticket's latest comment with every change (Freshdesk's ``latest_public_comment``), beside
    whoever made the change. An agent's priority change carrying the customer's last words stopped the first
    response as the agent's reply; the customer's status change carrying support's question reclassified the
    ticket from the question's words."""
    sim = Simulation(Plugins(Settings(), load_entry_points=False),
                     load(ROOT / "examples" / "contracts", ROOT / "examples" / "customers.yaml")[0])
    sim.feed(event(1, 0))
    agent = Actor(email="alex@support.example")
    carried = Comment(author=agent, body="Any news on this?")  # the customer's words, as the actor's
    changed = sim.feed(event(2, 10, kind="priority", actor=agent, comment=carried))
    assert changed.state.clocks["first_response"].state == "running"
    customer = Actor(email="casey@fabrikam.example")
    question = Comment(author=customer, body="Is your whole system down and nobody can use it?")  # support's
    assert sim.feed(event(3, 20, kind="status", status="open", actor=customer, comment=question)
                    ).decision.severity == "P3"
