"""SLA clocks per metric: started, paused, stopped and reset by ticket events; deadlines from targets.

What moves a clock depends on the metric's kind:
- acknowledgement, first_response, critical_notification: start at creation, stop at the first
  public reply by support (by a human, unless ``human_only: false``);
- next_response: runs while the customer waits; support's public reply stops it, the
  customer's next public comment starts a new cycle;
- periodic_update: due at the end of each business day (``at: end_of_business_day``); each
  public reply by support starts a new cycle;
- resolution_estimate, milestone, resolution: stop on ``stop_tags`` or ``stop_statuses``;
  a milestone starts on ``start_tags``;
- scheduled_visit: starts at the instant in ``start_field`` if it was booked ``advance`` ahead.
Every clock pauses on ``pause_statuses``.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from functools import lru_cache
from typing import NamedTuple

from slabridge import hookimpl
from slabridge.calendar import Calendar
from slabridge.clocks import MetricClock
from slabridge.contract import Target
from slabridge.models import Reason
from slabridge.timeparse import OUT_OF_RANGE, computable, iso, parse_instant, start_of_day, utc
from slabridge.verdicts import Deadline, Verdict

from .matching import by_support, calendars_for, new_comment
from .remembered import ByIdentity

STOP_ON_SUPPORT_REPLY = {"acknowledgement", "first_response", "critical_notification", "next_response"}
START_AT_CREATION = STOP_ON_SUPPORT_REPLY | {"periodic_update", "resolution_estimate", "resolution"}


class SlaRules:
    name = "sla"

    def __init__(self, settings=None):
        pass

    @hookimpl(trylast=True)
    def slabridge_deadlines(self, event, entitlement, classification, contract, now, state, customer=None):
        if contract is None:
            return None
        calendar_for = calendars_for(contract, customer)
        created = event.created_at or event.occurred_at
        out, replies, at = [], _replies(event), utc(now)
        status = event.status.lower() if event.status else None  # statuses compare in any case
        for name, metric in contract.metrics.items():
            clock = _advance(state.clocks.get(name) or MetricClock(metric=name), metric, event, created, replies,
                             status, contract)
            clock_state = clock.state
            if clock_state == "idle":
                if metric.start_field and (why := _not_started(name, metric, event, created, contract)):
                    out.append(why)
                continue
            held = _due(contract, name, metric, clock, clock_state, classification, entitlement, customer,
                        calendar_for)
            if held is None:
                continue
            target, calendar, within, due, warn, reason, due_utc, seconds = held
            if due_utc is not None:  # running or stopped: breached if the deadline passed before it stopped
                stopped = clock.cycles[-1].stopped_at
                breached = at > due_utc and (stopped is None or utc(stopped) > due_utc)
            else:
                breached = clock.breached(calendar, within, now)
            out.append(Deadline(
                metric=name, severity=classification.severity, due_at=due, warn_at=warn, field=metric.field,
                clock=clock, target_seconds=seconds, calendar=target.calendar, average=target.average,
                window=target.arrival_window,
                breached=breached, reasons=(reason,)))
        return out


class _Due(NamedTuple):
    """What a metric's current cycle is held to and when it falls due, for one reading of the ticket's terms:
    all of a deadline but its breach, which alone depends on the time of the decision."""

    target: Target
    calendar: Calendar
    within: timedelta
    due: datetime | None
    warn: datetime | None
    reason: Reason
    due_utc: datetime | None  # the due instant, in UTC for comparing
    target_seconds: float


_DUES: ByIdentity[_Due | None] = ByIdentity()


def _due(contract, name, metric, clock, clock_state, classification, entitlement, customer, calendar_for):
    """The cycle's :class:`_Due`, or None if no target applies. Worked out once for the clock's cycles as they
    stand and the terms that pick its target: a ticket's later decisions, timers above all, ask again unchanged."""
    region = getattr(customer, "region", None)
    key = (id(contract), name, clock.cycles, classification.severity, entitlement.plan, entitlement.coverage,
           classification.request_type, (region.country, region.subdivision) if region is not None else None)
    return _DUES.get(key, (contract,), _work_out_due, contract, name, metric, clock, clock_state, classification,
                     entitlement, calendar_for)


def _work_out_due(contract, name, metric, clock, clock_state, classification, entitlement, calendar_for):
    cycle_start = clock.current.started_at  # also the window the cycle's request arrived in
    target = _target(contract, name, classification, entitlement, cycle_start, calendar_for)
    if target is None:
        return None
    calendar = calendar_for(target.calendar)
    within = target.within
    if target.at == "end_of_business_day":
        due_instant = calendar.closing_after(cycle_start)
        if len(clock.cycles) > 1 and calendar.is_open(cycle_start):
            due_instant = calendar.closing_after(due_instant)  # today's update given: next is tomorrow's
        within = calendar.between(cycle_start, due_instant)
    due = clock.deadline(calendar, within)
    warn = (clock.at_fraction(calendar, within, contract.escalation.warning_at)
            if clock_state == "running" and within else None)
    reason = Reason(
        rule=f"sla.{name}", clause=target.source or metric.source,
        text=f"{name}: {_human(within)} on calendar {target.calendar} -> {iso(due) if due else clock_state}",
        inputs={"level": classification.severity, "plan": entitlement.plan, "coverage": entitlement.coverage,
                "clock": clock_state})
    return _Due(target, calendar, within, due, warn, reason, utc(due) if due is not None else None,
                within.total_seconds())


def _target(contract, name, classification, entitlement, arrival, calendar_for):
    """The first target for this metric whose conditions all hold."""
    for target in contract.targets_for(name, classification.severity, entitlement.plan, entitlement.coverage,
                                       classification.request_type):
        if target.arrival_window:
            calendar_name, _, window = target.arrival_window.partition(".")
            if calendar_for(calendar_name).window_at(arrival) != window:
                continue
        return target
    return None


def _replies(event) -> tuple[bool, bool, bool]:
    """(support replied in public, by automation, the customer replied in public): what moves reply clocks.
    A bot's or trigger's comment is on support's side."""
    comment = new_comment(event)
    if comment is None or not comment.public:
        return False, False, False
    automated = comment.author.is_automation
    support = automated or by_support(comment.author, event)
    return support, automated, not support


def _advance(clock: MetricClock, metric, event, created, replies: tuple[bool, bool, bool], status: str | None,
             contract) -> MetricClock:
    """Apply one event (its :func:`_replies`, its status lower-cased) to a metric's clock."""
    at, clock_state = event.occurred_at, clock.state
    if clock_state != "idle" and utc(last := clock.last_change) > utc(at):
        at = last  # an event older than the clock's last change (delivered late) moves it from there
    if clock_state == "idle":
        if metric.kind in START_AT_CREATION:
            clock = clock.start(created if utc(created) <= utc(at) else at)
        elif metric.kind == "milestone" and metric.start_tags and any(t in event.tags for t in metric.start_tags):
            clock = clock.start(at)
        elif metric.kind == "scheduled_visit" and metric.start_field:
            visit, _ = _field_instant(event.custom_fields.get(metric.start_field), metric, contract)
            if visit and (metric.advance is None or utc(visit) - utc(created) >= metric.advance):
                clock = clock.start(visit)
        clock_state = clock.state
        if clock_state == "idle":
            return clock
    support, automated, customer_reply = replies
    support_reply = support and (not metric.human_only or not automated)  # a bot's reply, where not human-only
    if clock_state in ("running", "paused"):
        if support_reply and metric.kind in STOP_ON_SUPPORT_REPLY:
            return clock.stop(at)
        if support_reply and metric.kind == "periodic_update":
            return clock.reset(at)
        stop_tags = metric.stop_tags
        if (stop_tags and any(t in event.tags for t in stop_tags)) or status in metric.stopping:
            return clock.stop(at)
        paused = status in metric.pausing
        if paused and clock_state == "running":
            return clock.pause(at)
        if not paused and clock_state == "paused":
            return clock.resume(at)
    elif clock_state == "stopped" and metric.kind == "next_response" and customer_reply:
        return clock.start(at)
    return clock


def _field_instant(value, metric, contract) -> tuple[datetime | None, str | None]:
    """The instant a start field holds, or why it holds none that can be used ((None, None): it is empty).
    A bare day (a date field's value in every helpdesk) is read as the metric's ``date_only`` says."""
    if value is None or value == "":
        return None, None
    if isinstance(value, str) and (day := start_of_day(value.strip(), contract.dates_zone)) is not None:
        return (day, None) if metric.date_only == "start_of_day" else (None, "holds a day without a time of day")
    try:
        when = parse_instant(value)
    except (TypeError, ValueError, OverflowError):
        return None, "holds no date and time"
    if not computable(when):
        return None, f"holds an instant {OUT_OF_RANGE}"
    return when, None


def _not_started(name, metric, event, created, contract) -> Verdict | None:
    """Why a metric started by a field (a scheduled visit) did not start although the field holds something:
    the field cannot be read (an internal note asks for the date and time, once), or the contract's ``advance``
    was not met."""
    field = metric.start_field
    visit, problem = _field_instant(event.custom_fields.get(field), metric, contract)
    inputs = {"field": field, "clock": "idle"}
    if problem:
        return Verdict(
            note=f"The {name} commitment is not tracked for this ticket: its {field} field {problem}. Enter the "
                 f"date and time there, with its UTC offset (YYYY-MM-DDThh:mm±hh:mm), and slabridge starts it.",
            reasons=(Reason(rule=f"sla.{name}", clause=metric.source, text=f"{name} not started: {field} {problem}",
                            inputs=inputs),))
    if visit is None or metric.advance is None:
        return None
    ahead = utc(visit) - utc(created)
    booked = f"booked {_human(ahead)} ahead" if ahead >= timedelta(0) else "set for before the ticket was opened"
    return Verdict(reasons=(Reason(
        rule=f"sla.{name}", clause=metric.source,
        text=f"{name} not started: {booked}, less than the {_human(metric.advance)} the commitment needs",
        inputs={**inputs, "advance": _human(metric.advance)}),))


@lru_cache(maxsize=1024)
def _human(duration: timedelta) -> str:
    minutes = int(duration.total_seconds() // 60)
    return f"{minutes // 60}h{minutes % 60:02d}m" if minutes >= 60 else f"{minutes}m"
