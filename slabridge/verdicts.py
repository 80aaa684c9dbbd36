"""What each rule phase returns to the engine.

Every verdict may ask for tags, an internal note and a public reply, and says
why through its reasons. The engine merges the verdicts of all phases into the
desired ticket state and writes back only the difference.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec

from .clocks import MetricClock
from .models import Reason
from .values import Value


class Charge(Value):
    """One movement of a customer's prepaid incident balance."""

    customer: str
    delta: int
    reason: str


class Verdict(Value, kw_only=True):
    """What every phase may ask for.

    ``memory`` updates what the rules remember about the ticket between events (phases in order; a key
    handed back with the value it had before the decision changes nothing, so a phase that returns the
    whole memory never undoes an earlier phase's change; ``None`` forgets);
    ``wake_at`` are instants at which the ticket must be decided again even if
    no webhook arrives (durable timers); ``status`` closes or reopens it.
    """

    tags: tuple[str, ...] = ()
    repr_hidden = frozenset({"note", "reply"})

    note: str | None = None
    reply: str | None = None
    status: str | None = None
    reasons: tuple[Reason, ...] = ()
    memory: dict[str, Any] = msgspec.field(default_factory=dict)
    wake_at: tuple[datetime, ...] = ()
    charges: tuple[Charge, ...] = ()


class Entitlement(Verdict, kw_only=True):
    """Who is served, on which plan and coverage; ``entitled=False`` stops the clocks."""

    entitled: bool
    plan: str | None = None
    coverage: str | None = None
    customer: str | None = None
    planned_events: tuple[str, ...] = ()  # kinds of the customer's planned events active when the ticket arrived


class Classification(Verdict, kw_only=True):
    """The severity the ticket really has, and the vendor priority that expresses it."""

    severity: str | None = None
    designated: str | None = None
    request_type: str | None = None
    vendor_priority: str | None = None
    sla: bool = True
    group: str | None = None


class Deadline(Verdict, kw_only=True):
    """One metric's due instant, and the vendor field it is written to (if any)."""

    metric: str
    severity: str | None = None
    due_at: datetime | None = None
    warn_at: datetime | None = None
    field: str | None = None
    clock: MetricClock | None = None
    target_seconds: float | None = None
    calendar: str | None = None
    average: bool = False
    window: str | None = None  # the arrival window the target is for (``calendar.window``), if any
    breached: bool = False

    @property
    def running(self) -> bool:
        """The clock is running (a deadline without a clock, from a plugin, counts as running)."""
        return self.clock is None or self.clock.state == "running"


class Escalation(Verdict, kw_only=True):
    """A step of an escalation ladder: where the ticket goes now."""

    level: str
    group: str | None = None
    assignee: str | None = None
    vendor_priority: str | None = None
