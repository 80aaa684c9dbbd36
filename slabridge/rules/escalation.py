"""Warnings, breaches and the escalation ladder.

Timers wake the ticket at each warning and breach instant; when they fire the
ticket is decided again from its current state, so a ticket answered in the
meantime is not escalated. Steps already taken stay in force (their route and
priority) and are listed in the ticket's memory.
"""

from __future__ import annotations

from datetime import datetime

from slabridge import hookimpl
from slabridge.clocks import business_add
from slabridge.engine import BREACH_GRACE
from slabridge.timeparse import iso, utc
from slabridge.models import Reason
from slabridge.verdicts import Escalation

from .matching import calendars_for, vendor_priority
from .remembered import ByIdentity


class EscalationRules:
    name = "escalation"

    def __init__(self, settings=None):
        pass

    @hookimpl(trylast=True)
    def slabridge_escalations(self, event, deadlines, customer, contract, now, state):
        if contract is None:
            return None
        policy = contract.escalation
        out, taken = [], list(state.memory.get("escalated", []))
        at = utc(now)  # compared in one zone: no offsets asked for
        at_risk = [d for d in deadlines if d.warn_at and not d.breached and d.running and at >= utc(d.warn_at)]
        breached = [d for d in deadlines if d.breached]
        tags = ([policy.warning_tag] if at_risk else []) + ([policy.breach_tag] if breached else [])
        reasons = [Reason(rule="escalation.warning", clause=policy.source, text=f"{d.metric} passed "
                          f"{policy.warning_at:.0%} of its target at {iso(d.warn_at)}") for d in at_risk]
        reasons += [Reason(rule="escalation.breach", clause=policy.source,
                           text=f"{d.metric} missed its deadline {iso(d.due_at) if d.due_at else ''}")
                    for d in breached]
        wake, calendar_for = [], calendars_for(contract, customer)
        for step in policy.ladder:
            for deadline in deadlines:
                if step.metrics and deadline.metric not in step.metrics:
                    continue
                if step.levels and deadline.severity not in step.levels:
                    continue
                threshold = deadline.warn_at if step.trigger == "warning" else deadline.due_at
                if threshold is None:
                    continue
                key = (id(step), id(customer), deadline.metric, threshold, event.vendor)  # the step is the contract's
                when, escalation = _STEPS.get(key, (contract, customer), _step, step, threshold, calendar_for,
                                              event.vendor, customer, contract, deadline.metric)
                reached = at >= when and (deadline.breached if step.trigger == "breach" else
                                           deadline.running)
                if step.level in taken or reached:
                    if step.level not in taken:
                        taken.append(step.level)
                    out.append(escalation)
                    break
                if deadline.running:
                    wake.append(when if step.trigger == "warning" else when + BREACH_GRACE)
        # Not a ladder step: the warning/breach tags, the instants the next steps fall due (durable
        # timers) and the steps taken so far. It routes nowhere, so the engine's routing ignores it.
        status = Escalation(level="status", tags=tuple(tags), reasons=tuple(reasons), wake_at=tuple(wake),
                            memory={"escalated": taken})
        return out + [status]


NO_TAM = "No Technical Account Manager is on record for this customer: the ticket was not reassigned"
_STEPS: ByIdentity[tuple[datetime, Escalation]] = ByIdentity()


def _step(step, threshold, calendar_for, vendor, customer, contract, metric) -> tuple[datetime, Escalation]:
    """When ``step`` falls due past ``threshold`` (a deadline's warning or due instant) and where it sends the
    ticket: the same on each decision until the deadline moves, so remembered (the time of the decision only
    says whether it is reached)."""
    if step.calendar is None or not step.after:
        when = utc(threshold) + step.after  # elapsed time, not wall-clock time
    else:  # the step's calendar's open time
        when = utc(business_add(calendar_for(step.calendar), utc(threshold), step.after))
    group = assignee = None
    if step.to_tam and customer is not None and customer.tam is not None:
        group, assignee = customer.tam.for_vendor(vendor)
    elif step.route:
        group, assignee = step.route.for_vendor(vendor)
    text, note = f"{step.trigger} of {metric} at {iso(when)}: escalated to {step.level}", step.note
    if step.to_tam and group is None and assignee is None:  # said, not claimed: nobody was assigned
        text += f", but {NO_TAM[0].lower()}{NO_TAM[1:]}"
        note = f"{note}\n\n{NO_TAM}."
    return when, Escalation(
        level=step.level, group=group, assignee=assignee, note=note,
        vendor_priority=vendor_priority(contract, vendor, step.priority) if step.priority else None,
        reasons=(Reason(rule=f"escalation.{step.level}", clause=step.source or contract.escalation.source,
                        text=text, inputs={"group": group, "assignee": assignee}),))
