"""`slabridge replay` predicts the worker: the same events, decided by the worker on the real store (its states,
timers and ledger round-tripped through the database) and by the in-memory replay, give the same decisions.

A timer's event is the ticket's last event, which predates what slabridge wrote since (helpdesks are set not
to send webhooks for slabridge's own changes). Replay used to show the timer the ticket as its simulated
helpdesk had it, the worker the last event as sent: comparing the two found the worker re-sending a priority
it had set and never putting back a tag it had removed. Both now see the ticket as slabridge left it
(``engine._as_written``, tested on its own below).
"""

import random
from collections import defaultdict
from datetime import datetime, timedelta, timezone
from pathlib import Path

from slabridge import engine, hookimpl
from slabridge.config import Settings, VendorSettings
from slabridge.directory import load
from slabridge.models import (
    Actor, AddTags, EventKind, Person, RemoveTags, SetFields, SetPriority, TicketEvent, TicketRef,
)
from slabridge.plugins import Plugins
from slabridge.simulation import replay
from slabridge.testing.history import PRIORITIES, generate
from slabridge.values import to_builtins
from slabridge.verdicts import Classification, Deadline
from slabridge.worker import Worker

ROOT = Path(__file__).resolve().parents[1]
EVENTS = 1500


class Clock:
    now = 0.0

    def __call__(self) -> float:
        return self.now


def decisions_by_ticket(decided: list[tuple]) -> dict[str, list[tuple]]:
    """Each ticket's decisions in order: (the instant decided at, the decision without its delivery id)."""
    out = defaultdict(list)
    for event, now, outcome in decided:
        decision = to_builtins(outcome.decision)
        decision.pop("delivery_id")  # a timer's is its instant in a replay, its row id in the store
        out[event.ticket.key].append((now, decision))
    return out


def recording(decided: list[tuple]):
    real = engine.decide

    def decide(event, state, plugins, directory, now, lookups=None):
        outcome = real(event, state, plugins, directory, now, lookups)
        decided.append((event, now, outcome))
        return outcome
    return decide


def test_the_worker_decides_as_replay_does(store, monkeypatch):
    settings = Settings(vendors={vendor: VendorSettings(enabled=True) for vendor in PRIORITIES})
    events = list(enumerate(generate(EVENTS, random.Random(7)), start=1))

    replayed: list[tuple] = []
    monkeypatch.setattr("slabridge.simulation.decide", recording(replayed))
    directory, problems = load(ROOT / "examples" / "contracts", ROOT / "examples" / "customers.yaml")
    assert not problems
    replay(events, Plugins(settings), directory, 1, emit=lambda line: None)

    # The worker, its clock at each instant the replay decided at: events enqueued as the replay saw them
    # (merged with what people changed), timers fired from the store when due.
    worked: list[tuple] = []
    monkeypatch.setattr("slabridge.worker.engine.decide", recording(worked))
    clock = Clock()
    directory, _ = load(ROOT / "examples" / "contracts", ROOT / "examples" / "customers.yaml")
    worker = Worker(store, Plugins(settings), directory, clock=clock, prunes=False)
    for event, now, _ in replayed:
        clock.now = now.timestamp()
        if event.kind == EventKind.timer:
            store.fire_due_timers(now=clock.now)
        else:
            store.enqueue(event, now=clock.now)
        worker.process_events(limit=1)
    while worker.process_events(limit=1):
        pass

    timers = sum(1 for event, _, _ in replayed if event.kind == EventKind.timer)
    assert len(worked) == len(replayed) and timers > 200
    expected, got = decisions_by_ticket(replayed), decisions_by_ticket(worked)
    assert got.keys() == expected.keys()
    for ticket, decisions in expected.items():
        for index, (want, have) in enumerate(zip(decisions, got[ticket], strict=True)):
            assert have == want, f"{ticket}, decision {index + 1} of {len(decisions)}"


T0 = datetime(2026, 3, 2, 15, 0, tzinfo=timezone.utc)


class Sees:
    """Records the event each decision's rules saw; classifies as the test says, tags as the test says."""

    def __init__(self):
        self.events: list[TicketEvent] = []
        self.priority: str | None = None
        self.tags: tuple[str, ...] = ()

    @hookimpl(tryfirst=True)
    def slabridge_classify(self, event):
        self.events.append(event)
        return Classification(severity="high", vendor_priority=self.priority, tags=self.tags)


def test_a_timer_sees_the_ticket_as_slabridge_left_it():
    """No webhook follows slabridge's own writes: the timer's event must show the priority set and the tags
    added and removed since the last event, or the timer re-sends the priority and never re-adds a tag."""
    sees, settings = Sees(), Settings()
    plugins = Plugins(settings, extra=(sees,))
    unknown = settings.unknown_customer_tag  # the default rules' tag for a requester of no customer
    ticket = TicketRef(vendor="zendesk", id="7")
    event = TicketEvent(vendor="zendesk", delivery_id="d1", ticket=ticket, kind=EventKind.created,
                        priority="normal", tags=("vip", "sla_old"), requester=Person(email="a@example.com"),
                        actor=Actor(id="u1"), occurred_at=T0, created_at=T0)
    sees.priority, sees.tags = "urgent", ("vip", "sla_new")
    first = engine.decide(event, None, plugins, None, T0)
    assert SetPriority(priority="urgent") in first.decision.actions
    assert AddTags(tags=(unknown, "sla_new")) in first.decision.actions

    later = T0 + timedelta(hours=1)
    timer = engine.timer_event(first.state.last_event, later, "timer:1")
    assert timer.priority == "urgent" and "sla_new" in timer.tags  # the last event, as slabridge left the ticket
    assert first.state.last_event.tags == ("vip", "sla_old", unknown, "sla_new")
    second = engine.decide(timer, first.state, plugins, None, later)
    seen = sees.events[-1]
    assert seen.priority == "urgent" and seen.tags == ("vip", "sla_old", unknown, "sla_new")
    assert second.decision.actions == ()  # nothing to write again

    sees.tags = ("vip",)  # sla_new no longer wanted: removed
    third = engine.decide(engine.timer_event(second.state.last_event, later, "timer:2"), second.state, plugins,
                          None, later)
    assert RemoveTags(tags=("sla_new",)) in third.decision.actions
    sees.tags = ("vip", "sla_new")  # wanted again: the ticket no longer has it, so it is added again
    fourth = engine.decide(engine.timer_event(third.state.last_event, later, "timer:3"), third.state, plugins,
                           None, later)
    assert sees.events[-1].tags == ("vip", "sla_old", unknown)
    assert AddTags(tags=("sla_new",)) in fourth.decision.actions


def test_a_partial_event_carries_forward_what_slabridge_wrote():
    """A Jira comment event has no labels, a Zendesk envelope may have no tags or priority: what it leaves out
    is as slabridge left the ticket, not as the last webhook showed it before slabridge's writes."""
    sees, settings = Sees(), Settings()
    plugins = Plugins(settings, extra=(sees,))
    unknown = settings.unknown_customer_tag
    ticket = TicketRef(vendor="jira", id="SUP-1")
    full = TicketEvent(vendor="jira", delivery_id="d1", ticket=ticket, kind=EventKind.created, priority="Medium",
                       tags=("vip",), actor=Actor(id="u1"), occurred_at=T0, created_at=T0)
    sees.priority, sees.tags = "Highest", ("vip", "sla_new")
    first = engine.decide(full, None, plugins, None, T0)

    def comment(n: int, state):
        at = T0 + timedelta(minutes=n)
        partial = TicketEvent(vendor="jira", delivery_id=f"c{n}", ticket=ticket, kind=EventKind.comment,
                              actor=Actor(id="u1"), occurred_at=at, absent=("priority", "tags", "status"))
        return engine.decide(partial, state, plugins, None, at)

    second = comment(1, first.state)
    assert sees.events[-1].priority == "Highest" and sees.events[-1].tags == ("vip", unknown, "sla_new")
    assert second.decision.actions == ()
    sees.tags = ("vip",)
    third = comment(2, second.state)
    assert RemoveTags(tags=("sla_new",)) in third.decision.actions
    sees.tags = ("vip", "sla_new")
    fourth = comment(3, third.state)
    assert sees.events[-1].tags == ("vip", unknown)
    assert AddTags(tags=("sla_new",)) in fourth.decision.actions


class Due:
    """One deadline, written to the ticket's mapped field."""

    due_at = T0 + timedelta(hours=4)

    @hookimpl(tryfirst=True)
    def slabridge_deadlines(self):
        return [Deadline(metric="response", due_at=self.due_at, field="response_due")]


def test_a_deadline_written_is_not_written_again_by_each_timer():
    """A webhook shows the ticket's custom fields as they were before slabridge wrote the deadline, and none
    follows the write: timers and events without custom fields must see the deadline as written."""
    settings = Settings(vendors={"zendesk": VendorSettings(enabled=True, fields={"response_due": "360001"})})
    due = Due()
    plugins = Plugins(settings, extra=(due,))
    ticket = TicketRef(vendor="zendesk", id="8")
    event = TicketEvent(vendor="zendesk", delivery_id="d1", ticket=ticket, kind=EventKind.created,
                        custom_fields={"360001": None, "360002": "blue"}, actor=Actor(id="u1"), occurred_at=T0,
                        created_at=T0)
    first = engine.decide(event, None, plugins, None, T0)
    assert SetFields(fields={"360001": due.due_at.isoformat()}) in first.decision.actions

    later = T0 + timedelta(hours=1)
    second = engine.decide(engine.timer_event(first.state.last_event, later, "timer:1"), first.state, plugins, None,
                           later)
    assert not [a for a in second.decision.actions if isinstance(a, SetFields)]
    assert second.state.last_event.custom_fields == {"360001": due.due_at.isoformat(), "360002": "blue"}
    envelope = TicketEvent(vendor="zendesk", delivery_id="c1", ticket=ticket, kind=EventKind.comment,
                           actor=Actor(id="u1"), occurred_at=later, absent=("custom_fields",))
    third = engine.decide(envelope, second.state, plugins, None, later)
    assert not [a for a in third.decision.actions if isinstance(a, SetFields)]

    due.due_at = T0 + timedelta(hours=2)  # a new deadline (reclassified): written once
    fourth = engine.decide(engine.timer_event(third.state.last_event, later, "timer:2"), third.state, plugins, None,
                           later)
    assert SetFields(fields={"360001": due.due_at.isoformat()}) in fourth.decision.actions
    person = TicketEvent(vendor="zendesk", delivery_id="u2", ticket=ticket, kind=EventKind.updated,
                         custom_fields={"360001": "2026-03-09", "360002": "blue"}, actor=Actor(id="agent"),
                         occurred_at=later + timedelta(minutes=1))
    fifth = engine.decide(person, fourth.state, plugins, None, later + timedelta(minutes=1))
    assert SetFields(fields={"360001": due.due_at.isoformat()}) in fifth.decision.actions  # a person's edit: put back
