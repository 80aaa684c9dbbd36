"""Per-ticket metric clocks: start, pause, resume, stop, reset, over several cycles.

A clock records only what happened (when each cycle started and stopped, when
it was paused); elapsed time, deadline and breach are derived on demand from a
calendar and a target. So recomputing after a reclassification (new target) or
a change of calendar keeps every pause already recorded.

A next-response metric uses ``reset``: each exchange closes the running cycle
and starts a new one; every closed cycle keeps its own outcome, judged under the
terms it ran under (:class:`Terms`: its target, calendar and severity, which
differ from cycle to cycle when arrivals by day and by night promise different
times, or when the ticket is reclassified between exchanges).
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
        """Pauses with an open one ending at ``now`` (or at the stop); one that began after ``now`` (an event
        dated a little ahead of this host's clock) has lasted nothing yet."""
        end = self.stopped_at or now
        return [(a, b if b is not None else max(a, end, key=utc)) for a, b in self.pauses]


class CycleOutcome(Value):
    started_at: datetime
    stopped_at: datetime | None
    elapsed: timedelta
    due_at: datetime | None
    breached: bool


class Terms(Value, omit_defaults=True):
    """What a cycle was held to while it ran (its deadline's target, calendar and severity, recorded by the
    engine with each decision): reports judge it by these."""

    target_seconds: float
    calendar: str
    average: bool  # the target is an average commitment, reported per commitment and arrival window
    level: str | None  # the ticket's severity
    window: str | None = None  # the arrival window the target is for (``calendar.window``)


class MetricClock(Value, omit_defaults=True):
    """One metric's clock on one ticket. ``terms`` runs beside ``cycles``: what each was held to, for the
    cycles recorded since terms are kept (a state stored before has none, and stores back the same)."""

    metric: str
    cycles: tuple[Cycle, ...] = ()
    terms: tuple[Terms | None, ...] = ()

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

    @property
    def last_change(self) -> datetime | None:
        """The latest instant the current cycle records (its start, a pause's start or end, its stop); None while
        idle. Each operation refuses an earlier one, so it is the last recorded."""
        cycles = self.cycles
        if not cycles:
            return None
        cycle = cycles[-1]
        if cycle.stopped_at is not None:
            return cycle.stopped_at
        pauses = cycle.pauses
        return (pauses[-1][1] or pauses[-1][0]) if pauses else cycle.started_at

    def _replace_current(self, cycle: Cycle) -> "MetricClock":
        return self.replace(cycles=self.cycles[:-1] + (cycle,))

    def terms_of(self, index: int) -> Terms | None:
        """What cycle ``index`` was held to, if recorded."""
        return self.terms[index] if index < len(self.terms) else None

    def held_to(self, target_seconds: float, calendar: str, average: bool, level: str | None,
                window: str | None = None) -> "MetricClock":
        """The clock with its current cycle held to these terms (the same clock if it already is)."""
        last = len(self.cycles) - 1
        if last < 0:
            return self
        held = self.terms_of(last)
        if held is not None and (held.target_seconds, held.calendar, held.average, held.level, held.window) == (
                target_seconds, calendar, average, level, window):
            return self
        terms = Terms(target_seconds=target_seconds, calendar=calendar, average=average, level=level, window=window)
        earlier = self.terms[:last] + (None,) * (last - len(self.terms))
        return self.replace(terms=earlier + (terms,))

    def _require(self, at: datetime, *states: str, action: str) -> None:
        if self.state not in states:
            raise ClockError(f"cannot {action} the {self.metric} clock: it is {self.state}")
        last = self.last_change
        if last and utc(at) < utc(last):
            raise ClockError(f"cannot {action} the {self.metric} clock at {at.isoformat()}: "
                             f"earlier than its last change ({last.isoformat()})")

    # --- operations (each returns a new clock) --------------------------------

    def start(self, at: datetime) -> "MetricClock":
        self._require(at, "idle", "stopped", action="start")
        return self.replace(cycles=self.cycles + (Cycle(started_at=at),))

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
        return clock.replace(cycles=clock.cycles + (Cycle(started_at=at),))

    def withdrawn(self, at: datetime, breached: bool) -> "MetricClock":
        """The clock once its metric stops applying to the ticket while a cycle is open (reclassified to a level
        without it, a request type without SLA, no longer entitled, a contract revised): a cycle already
        ``breached`` stops at ``at`` and stays a breach; one that is not is dropped, neither met nor breached.
        Closed cycles stay as they are."""
        if self.state not in ("running", "paused"):
            return self
        if breached:  # at its last change, if that came later (an event older than the clock's last)
            return self.stop(max(at, self.last_change, key=utc))
        last = len(self.cycles) - 1
        return self.replace(cycles=self.cycles[:last], terms=self.terms[:last])

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
        """Every cycle with its elapsed time, due time and breach, oldest first, all held to one target."""
        return [self.outcome(cycle, calendar, target, now) for cycle in self.cycles]

    def outcome(self, cycle: Cycle, calendar: Calendar, target: timedelta, now: datetime) -> CycleOutcome:
        """One cycle's elapsed time, due time and breach under ``target`` on ``calendar``."""
        due = self.deadline(calendar, target, cycle)
        end = min(utc(cycle.stopped_at or now), utc(now))
        elapsed = self.elapsed(calendar, now, cycle)
        return CycleOutcome(started_at=cycle.started_at, stopped_at=cycle.stopped_at, elapsed=elapsed,
                            due_at=due, breached=(end > utc(due)) if due else elapsed > target)
