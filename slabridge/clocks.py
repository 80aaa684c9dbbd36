"""Per-ticket metric clocks: start, pause, resume, stop, reset, over several cycles.

A clock records only what happened (when each cycle started and stopped, when
it was paused); elapsed time, deadline and breach are derived on demand from a
calendar and a target. So recomputing after a reclassification (new target) or
a change of calendar keeps every pause already recorded.

A next-response metric uses ``reset``: each exchange closes the running cycle
and starts a new one; every closed cycle keeps its own outcome.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from functools import lru_cache

from .calendar import Calendar
from .timeparse import utc
from .values import Value


@lru_cache(maxsize=4096)
def business_add(calendar: Calendar, start: datetime, target: timedelta,
                 pauses: tuple[tuple[datetime, datetime], ...] = ()) -> datetime:
    """``calendar.add``, remembered: a cycle's due and warning instants (and an escalation step's time
    past them) are asked for again on each of its ticket's decisions."""
    return calendar.add(start, target, pauses=pauses)


class ClockError(ValueError):
    """An operation that makes no sense in the clock's state (e.g. resume when not paused)."""


class Cycle(Value):
    started_at: datetime
    stopped_at: datetime | None = None
    pauses: tuple[tuple[datetime, datetime | None], ...] = ()

    @property
    def paused(self) -> bool:
        return bool(self.pauses) and self.pauses[-1][1] is None

    def closed_pauses(self, now: datetime) -> list[tuple[datetime, datetime]]:
        """Pauses with an open one ending at ``now`` (or at the stop)."""
        end = self.stopped_at or now
        return [(a, b if b is not None else end) for a, b in self.pauses]


class CycleOutcome(Value):
    started_at: datetime
    stopped_at: datetime | None
    elapsed: timedelta
    due_at: datetime | None
    breached: bool


class MetricClock(Value):
    """One metric's clock on one ticket."""

    metric: str
    cycles: tuple[Cycle, ...] = ()

    # --- state --------------------------------------------------------------

    @property
    def current(self) -> Cycle | None:
        return self.cycles[-1] if self.cycles else None

    @property
    def state(self) -> str:
        """``idle`` (never started), ``running``, ``paused`` or ``stopped``."""
        cycles = self.cycles  # inlined: this is read on every decision, for every metric
        if not cycles:
            return "idle"
        cycle = cycles[-1]
        if cycle.stopped_at is not None:
            return "stopped"
        pauses = cycle.pauses
        return "paused" if pauses and pauses[-1][1] is None else "running"

    def _replace_current(self, cycle: Cycle) -> "MetricClock":
        return MetricClock(metric=self.metric, cycles=self.cycles[:-1] + (cycle,))

    def _require(self, at: datetime, *states: str, action: str) -> None:
        if self.state not in states:
            raise ClockError(f"cannot {action} the {self.metric} clock: it is {self.state}")
        cycle = self.current
        last = max([cycle.started_at, *(p for pair in cycle.pauses for p in pair if p)], key=utc) if cycle else None
        if last and utc(at) < utc(last):
            raise ClockError(f"cannot {action} the {self.metric} clock at {at.isoformat()}: "
                             f"earlier than its last change ({last.isoformat()})")

    # --- operations (each returns a new clock) --------------------------------

    def start(self, at: datetime) -> "MetricClock":
        self._require(at, "idle", "stopped", action="start")
        return MetricClock(metric=self.metric, cycles=self.cycles + (Cycle(started_at=at),))

    def pause(self, at: datetime) -> "MetricClock":
        self._require(at, "running", action="pause")
        cycle = self.current
        return self._replace_current(cycle.replace(pauses=cycle.pauses + ((at, None),)))

    def resume(self, at: datetime) -> "MetricClock":
        self._require(at, "paused", action="resume")
        pauses = self.current.pauses[:-1] + ((self.current.pauses[-1][0], at),)
        return self._replace_current(self.current.replace(pauses=pauses))

    def stop(self, at: datetime) -> "MetricClock":
        self._require(at, "running", "paused", action="stop")
        cycle = self.current
        pauses = tuple((a, b if b is not None else at) for a, b in cycle.pauses)
        return self._replace_current(cycle.replace(stopped_at=at, pauses=pauses))

    def reset(self, at: datetime) -> "MetricClock":
        """Close the running cycle (if any) and start a new one: a next-response exchange."""
        clock = self.stop(at) if self.state in ("running", "paused") else self
        return MetricClock(metric=self.metric, cycles=clock.cycles + (Cycle(started_at=at),))

    # --- derived, for a calendar and a target -----------------------------------

    def elapsed(self, calendar: Calendar, now: datetime, cycle: Cycle | None = None) -> timedelta:
        """Business time the (current) cycle has run, pauses excluded."""
        cycle = cycle or self.current
        if cycle is None:
            return timedelta(0)
        end = min(cycle.stopped_at or now, now, key=utc)
        return calendar.between(cycle.started_at, end, pauses=cycle.closed_pauses(now))

    def remaining(self, calendar: Calendar, target: timedelta, now: datetime) -> timedelta:
        """Target minus elapsed; negative once breached."""
        return target - self.elapsed(calendar, now)

    def deadline(self, calendar: Calendar, target: timedelta, cycle: Cycle | None = None) -> datetime | None:
        """When the (current) cycle is due; None while idle or paused (the due time is unknown)."""
        cycle = cycle or self.current
        if cycle is None or (cycle.paused and cycle.stopped_at is None):
            return None
        pauses = cycle.pauses  # closed, but for a last one left open by a stop's caller
        if pauses and pauses[-1][1] is None:
            pauses = tuple((a, b) for a, b in pauses if b is not None)
        return business_add(calendar, cycle.started_at, target, pauses)

    def at_fraction(self, calendar: Calendar, target: timedelta, fraction: float) -> datetime | None:
        """When ``fraction`` of the target will have elapsed (e.g. 0.75 for a warning)."""
        return self.deadline(calendar, target * fraction)

    def breached(self, calendar: Calendar, target: timedelta, now: datetime) -> bool:
        """True once the deadline has passed in real time before the cycle stopped.

        While paused, the clock is breached if it had already used up its target.
        """
        cycle = self.current
        if cycle is None:
            return False
        if cycle.paused and cycle.stopped_at is None:
            return self.elapsed(calendar, now) > target
        due = self.deadline(calendar, target)
        return min(utc(cycle.stopped_at or now), utc(now)) > utc(due)

    def outcomes(self, calendar: Calendar, target: timedelta, now: datetime) -> list[CycleOutcome]:
        """Every cycle with its elapsed time, due time and breach, oldest first."""
        out = []
        for cycle in self.cycles:
            due = self.deadline(calendar, target, cycle)
            end = min(utc(cycle.stopped_at or now), utc(now))
            elapsed = self.elapsed(calendar, now, cycle)
            out.append(CycleOutcome(started_at=cycle.started_at, stopped_at=cycle.stopped_at, elapsed=elapsed,
                                    due_at=due, breached=(end > utc(due)) if due else elapsed > target))
        return out
