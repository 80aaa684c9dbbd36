"""What each rule phase returns to the engine.

Every verdict may ask for tags, an internal note and a public reply, and says
why through its reasons. The engine merges the verdicts of all phases into the
desired ticket state and writes back only the difference.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from .models import Frozen, Reason


class Verdict(Frozen):
    tags: tuple[str, ...] = ()
    note: str | None = Field(default=None, repr=False)
    reply: str | None = Field(default=None, repr=False)
    reasons: tuple[Reason, ...] = ()


class Entitlement(Verdict):
    """Who is served, on which plan and coverage; ``entitled=False`` stops the clocks."""

    entitled: bool
    plan: str | None = None
    coverage: str | None = None


class Classification(Verdict):
    """The severity the ticket really has, and the vendor priority that expresses it."""

    severity: str | None = None
    request_type: str | None = None
    vendor_priority: str | None = None


class Deadline(Verdict):
    """One metric's due instant, and the vendor field it is written to (if any)."""

    metric: str
    due_at: datetime | None = None
    field: str | None = None


class Escalation(Verdict):
    """A step of an escalation ladder: where the ticket goes now."""

    level: str
    group: str | None = None
    assignee: str | None = None
    vendor_priority: str | None = None
