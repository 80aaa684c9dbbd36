"""The SLA board: open tickets with each running metric's time left on its own calendar, worst first.

Pure: built from the ticket states the store keeps and the contracts; the console and the benchmark
call :func:`board`. A ticket is open while any of its clocks is not stopped (contracts say which
statuses and tags stop a clock, so nothing here names a vendor's statuses).
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from .rules.matching import calendars_for

log = logging.getLogger(__name__)

RANK = {"breached": 0, "at_risk": 1, "running": 2, "paused": 3}


@dataclass(frozen=True, slots=True)
class MetricLine:
    metric: str
    state: str  # breached | at_risk | running | paused
    due_at: datetime | None
    left: timedelta | None  # business time to the deadline (negative: overdue), on the metric's calendar
    calendar: str


@dataclass(frozen=True, slots=True)
class BoardRow:
    vendor: str
    ticket_id: str
    customer: str
    designated: str
    decided: str
    metrics: tuple[MetricLine, ...]

    @property
    def state(self) -> str:
        return min((m.state for m in self.metrics), key=RANK.__getitem__, default="running")

    @property
    def sort_key(self) -> tuple:
        lefts = [m.left.total_seconds() for m in self.metrics if m.left is not None and m.state != "paused"]
        return RANK[self.state], min(lefts, default=float("inf")), self.vendor, self.ticket_id


def board(states: list[dict], directory, now: datetime, vendor: str | None = None,
          customer: str | None = None, severity: str | None = None) -> list[BoardRow]:
    """Open tickets matching the filters, breached first, then at risk, then by time left.

    ``states`` are ticket states as the store keeps them (JSON), read without building models."""
    rows = []
    for state in states:
        try:
            row = _row(state, directory, now, vendor, customer, severity)
        except (AttributeError, KeyError, TypeError, ValueError) as exc:  # a row edited by hand: not a 500
            log.warning("a ticket is left off the board: its stored state is not as slabridge writes it (%s at %s)",
                        exc.__class__.__name__, _ticket_named(state))
            continue
        if row is not None:
            rows.append(row)
    return sorted(rows, key=lambda r: r.sort_key)


def _row(state: dict, directory, now: datetime, vendor: str | None, customer: str | None,
         severity: str | None) -> BoardRow | None:
    """The board's row of one stored state; None if the filters leave it out or nothing of it runs."""
    ticket, memory = state["ticket"], state.get("memory") or {}
    if (vendor and ticket["vendor"] != vendor) or (customer and state.get("customer") != customer):
        return None
    decided = str(memory.get("level") or "")
    if severity and decided != severity:
        return None
    metrics = _metric_lines(state, directory, now)
    return BoardRow(ticket["vendor"], ticket["id"], state.get("customer") or "unknown",
                    str(memory.get("designated") or decided), decided, metrics) if metrics else None


def _ticket_named(state: object) -> str:
    """``vendor:id`` of a stored state, as far as it says (never any other value of it)."""
    ticket = state.get("ticket") if isinstance(state, dict) else None
    return ":".join(str(ticket.get(k))[:128] for k in ("vendor", "id")) if isinstance(ticket, dict) else "?"


def clock_state(clock: dict) -> str:
    """``idle``, ``running``, ``paused`` or ``stopped``, from a stored clock (as ``MetricClock.state``)."""
    cycles = clock.get("cycles") or ()
    if not cycles:
        return "idle"
    if cycles[-1].get("stopped_at") is not None:
        return "stopped"
    pauses = cycles[-1].get("pauses") or ()
    return "paused" if pauses and pauses[-1][1] is None else "running"


def _metric_lines(state: dict, directory, now: datetime) -> tuple[MetricLine, ...]:
    customer = state.get("customer")
    record = directory.customers.get(customer) if customer else None
    contract = directory.contract_for(record)
    calendar_for = calendars_for(contract, record) if contract else None
    clocks, lines = state.get("clocks") or {}, []
    for metric, summary in sorted((state.get("deadlines") or {}).items()):
        clock = clocks.get(metric)
        running = clock_state(clock) if clock else "idle"
        if running in ("stopped", "idle") or not summary.get("due_at"):
            continue
        due = datetime.fromisoformat(summary["due_at"])
        left = None
        if calendar_for and summary.get("calendar") in contract.calendars:
            calendar = calendar_for(summary["calendar"])
            left = calendar.between(now, due) if due >= now else -calendar.between(due, now)
        warn = summary.get("warn_at")
        if summary.get("breached") or due <= now:
            kind = "breached"
        elif running == "paused":
            kind = "paused"
        elif warn and datetime.fromisoformat(warn) <= now:
            kind = "at_risk"
        else:
            kind = "running"
        lines.append(MetricLine(metric, kind, due, left, summary.get("calendar") or ""))
    return tuple(lines)


def humanize(left: timedelta | None) -> str:
    """'2h 05m left', '35m overdue', '—'."""
    if left is None:
        return "—"
    seconds = int(abs(left.total_seconds()))
    days, rest = divmod(seconds, 86_400)
    hours, rest = divmod(rest, 3_600)
    text = f"{days}d {hours}h" if days else f"{hours}h {rest // 60:02d}m" if hours else f"{rest // 60}m"
    return f"{text} {'overdue' if left.total_seconds() < 0 else 'left'}"


class StateCache:
    """Open tickets' states for the board, re-read incrementally: each read fetches only the tickets updated
    since the last one (less ``skew`` seconds, for workers whose clocks differ), and all open ones every
    ``full_every`` seconds. A console refreshing every 30 s over 10,000 open tickets then reads what changed,
    not everything, and never the closed tickets of past years."""

    def __init__(self, store, skew: float = 300.0, full_every: float = 60.0):
        self.store, self.skew, self.full_every = store, skew, full_every
        self._states: dict[str, dict] = {}  # by vendor:id
        self._newest = 0.0
        self._next_full = 0.0
        self._lock = threading.Lock()

    def states(self) -> list[dict]:
        with self._lock:
            full = time.monotonic() >= self._next_full
            rows = self.store.ticket_state_documents(None if full else self._newest - self.skew, running=full)
            if full:
                self._states.clear()
                self._next_full = time.monotonic() + self.full_every
            for updated_at, state, running in rows:
                key = _ticket_named(state)
                if running:
                    self._states[key] = state
                else:  # closed since the last read
                    self._states.pop(key, None)
                self._newest = max(self._newest, updated_at)
            return list(self._states.values())
