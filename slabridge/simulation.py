"""Dry runs: the full rules on events, in memory, with no database and no write-back.

A :class:`Simulation` keeps each ticket's state, the incident ledger, and a
copy of each ticket as the vendor would show it after our actions (tags,
priority, status), so that later events see what a real helpdesk would send.
``slabridge replay`` and the scenario files both run on it.
"""

from __future__ import annotations

import heapq
from collections import defaultdict
from datetime import datetime
from typing import Any

from .directory import Directory
from .engine import Outcome, TicketState, decide
from .models import AddTags, RemoveTags, SetPriority, SetStatus, TicketEvent
from .plugins import Plugins


class Simulation:
    def __init__(self, plugins: Plugins, directory: Directory | None):
        self.plugins = plugins
        self.directory = directory or Directory.empty()
        self.states: dict[str, TicketState] = {}
        self.shown: dict[str, dict[str, Any]] = {}
        self.entries: dict[str, list[tuple[float, int, str]]] = defaultdict(list)
        self.directory.ledger = lambda customer: self.entries[customer]
        self.timers: list[tuple[datetime, str]] = []

    def advance(self, until: datetime) -> list[Outcome]:
        """Fire every durable timer due up to ``until``, in time order, as the worker would."""
        fired = []
        while self.timers and self.timers[0][0] <= until:
            at, key = heapq.heappop(self.timers)
            fired.append(self.timer(key, at))
        return fired

    def feed(self, event: TicketEvent, now: datetime | None = None) -> Outcome:
        """Decide one event as the worker would, then apply its actions to the simulated ticket."""
        now = now or event.occurred_at
        key = event.ticket.key
        shown = self.shown.setdefault(key, {})
        if shown:
            event = event.model_copy(update={k: v for k, v in shown.items() if v is not None})
        outcome = decide(event, self.states.get(key), self.plugins, self.directory, now)
        self.states[key] = outcome.state
        if not outcome.decision.ignored:
            self.timers = [(at, k) for at, k in self.timers if k != key]  # a decision replaces its timers
            heapq.heapify(self.timers)
            for timer in outcome.timers:
                heapq.heappush(self.timers, (timer.fire_at, key))
        for charge in outcome.charges:
            self.entries[charge.customer].append((now.timestamp(), charge.delta, charge.reason))
        tags = list(event.tags)
        for action in outcome.decision.actions:
            if isinstance(action, AddTags):
                tags += [t for t in action.tags if t not in tags]
            elif isinstance(action, RemoveTags):
                tags = [t for t in tags if t not in action.tags]
            elif isinstance(action, SetPriority):
                shown["priority"] = action.priority
            elif isinstance(action, SetStatus):
                shown["status"] = action.status
        shown["tags"] = tuple(tags)
        return outcome

    def human_change(self, ticket_key: str, **change: Any) -> None:
        """A person changed the ticket in the helpdesk (tags added, priority or status set)."""
        shown = self.shown.setdefault(ticket_key, {})
        if "tags" in change:
            shown["tags"] = tuple(dict.fromkeys([*shown.get("tags", ()), *change.pop("tags")]))
        shown.update(change)

    def timer(self, ticket_key: str, at: datetime) -> Outcome:
        """A durable timer firing at ``at``: the ticket is decided again from its last event."""
        last = self.states[ticket_key].last_event
        event = last.model_copy(update={"delivery_id": f"timer:{at.isoformat()}", "kind": "timer", "comment": None,
                                        "occurred_at": at})
        return self.feed(event, at)


def summary_line(outcome: Outcome) -> dict[str, Any]:
    """One JSON-able line per event for ``replay``: ticket, customer, entitlement, severity, deadlines, actions."""
    decision, state = outcome.decision, outcome.state
    memory = state.memory
    return {
        "ticket": decision.ticket.key,
        "delivery_id": decision.delivery_id,
        "customer": decision.customer,
        "entitlement": decision.entitlement,
        "severity": {"designated": memory.get("designated"), "decided": decision.severity},
        "request_type": memory.get("request_type"),
        "deadlines": {m: d.get("due_at") for m, d in state.deadlines.items()},
        "escalation": (memory.get("escalated") or [None])[-1],
        "actions": [a.model_dump(mode="json") for a in decision.actions],
        "reasons": [r.model_dump(mode="json", exclude_none=True) for r in decision.reasons],
        "ignored": decision.ignored,
    }
