"""One event in, one decision out. Pure: no I/O, no clock of its own.

The engine asks the rule phases for their verdicts, merges them into the state
the ticket should have, and emits only the difference from what the ticket
shows and what slabridge applied before, so a write-back echoed back to us as a
webhook changes nothing and cannot loop.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any, NamedTuple

import msgspec
from pydantic import ValidationError

from .clocks import MetricClock
from .models import (
    Action, AddTags, Assign, Decision, EventKind, InternalNote, PublicReply, Reason, RemoveTags, SetFields,
    SetPriority, SetStatus, TicketEvent, TicketRef, problems,
)
from .timeparse import iso, parse_instant, utc
from .values import Value, from_builtins, to_builtins
from .verdicts import Charge, Deadline, Verdict


BREACH_GRACE = timedelta(seconds=1)


class Applied(Value):
    """What slabridge has written to the ticket so far."""

    tags: tuple[str, ...] = ()
    priority: str | None = None
    fields: dict[str, str | None] = msgspec.field(default_factory=dict)
    messages: tuple[str, ...] = ()
    group: str | None = None
    assignee: str | None = None
    status: str | None = None


class TicketState(Value):
    """Everything slabridge keeps about one ticket between events."""

    ticket: TicketRef
    customer: str | None = None
    applied: Applied = msgspec.field(default_factory=Applied)
    last_event: TicketEvent | None = None  # as slabridge's writes since left the ticket (see _as_written)
    memory: dict[str, Any] = msgspec.field(default_factory=dict)
    clocks: dict[str, MetricClock] = msgspec.field(default_factory=dict)
    deadlines: dict[str, Any] = msgspec.field(default_factory=dict)

    def running(self) -> bool:
        """Whether any deadline's clock is not stopped (the ticket is open for the SLA views)."""
        clocks = self.clocks
        return any(metric not in clocks or clocks[metric].state != "stopped" for metric in self.deadlines)

    def dump(self) -> dict[str, Any]:
        """The state as stored in a JSON column."""
        return to_builtins(self)

    @classmethod
    def load(cls, raw: dict[str, Any]) -> "TicketState":
        """The state :meth:`dump` stored; :class:`StateUnreadable` if it does not load."""
        return _loaded(raw, cls)


class TicketClocks(Value):
    """What reports and metrics read of a :class:`TicketState` (the fields of the same names): its customer,
    memory, clocks and deadline summaries. A state read as this skips the rest, its last event above all (a
    model, validated field by field): about a fifth of the cost, for a report over every ticket."""

    ticket: TicketRef
    customer: str | None = None
    memory: dict[str, Any] = msgspec.field(default_factory=dict)
    clocks: dict[str, MetricClock] = msgspec.field(default_factory=dict)
    deadlines: dict[str, Any] = msgspec.field(default_factory=dict)

    running = TicketState.running

    @classmethod
    def load(cls, raw: dict[str, Any]) -> "TicketClocks":
        """What a stored state (:meth:`TicketState.dump`) holds of these fields; :class:`StateUnreadable` if
        they do not load."""
        return _loaded(raw, cls)


class StateUnreadable(ValueError):
    """A stored ticket state that does not load (edited by hand, or left so by a bug). The message says where
    in the state and what kind of problem, never a value: a state holds ticket text."""

    @classmethod
    def of(cls, exc: Exception, at: str = "$") -> "StateUnreadable":
        """From msgspec's error (its path), or a model's (``at``: where the model sits in the state)."""
        text = str(exc)
        model = exc if isinstance(exc, ValidationError) else exc.__context__
        if " - at `" in text and not isinstance(exc, ValidationError):
            text, _, at = text.rpartition(" - at `")
            at = at.rstrip("`")
        if isinstance(model, ValidationError):
            what = problems(model, whole="the value", limit=3)
        else:  # msgspec's own words only where they cannot hold a value (a type mismatch)
            what = text if text.startswith("Expected `") else "a value of the wrong kind"
        return cls(f"its stored state does not load: at {at}: {what}")


def _loaded(raw: Any, kind: type) -> Any:
    try:
        return from_builtins(raw, kind)
    except (msgspec.ValidationError, TypeError) as exc:
        raise StateUnreadable.of(exc) from None


class Timer(Value):
    """A moment at which the ticket must be looked at again, webhook or not."""

    kind: str
    fire_at: datetime


class Outcome(Value):
    decision: Decision
    state: TicketState
    timers: tuple[Timer, ...] = ()
    charges: tuple[Charge, ...] = ()


def decide(event: TicketEvent, state: TicketState | None, plugins: Any, directory: Any, now: datetime,
           lookups: Any = None) -> Outcome:
    """Run every rule phase for ``event`` and return the decision and the new state.

    With ``lookups`` (the worker's cache), the connector first fills what the webhook
    left out; a miss raises ``LookupNeeded`` before anything is decided.
    """
    state = state or TicketState(ticket=event.ticket)
    last = state.last_event
    if event.updated_at and last is not None and last.updated_at and event.updated_at < last.updated_at:
        reason = Reason(rule="engine.stale_event", text="the vendor changed this ticket after this event was sent; "
                        "a late, older event never overwrites a newer one",
                        inputs={"updated_at": event.updated_at.isoformat(), "newest": last.updated_at.isoformat()})
        return Outcome(decision=Decision(ticket=event.ticket, delivery_id=event.delivery_id, customer=state.customer,
                                         reasons=(reason,), ignored=True), state=state)
    event = _carry_forward(event, last)
    if event.kind == EventKind.deleted:
        return _deleted(event, state, now)
    if lookups is not None and not event.actor.is_self:
        event = plugins.enrich(event, lookups)
    if event.actor.is_self:
        reason = Reason(rule="engine.loop_guard", text="event caused by slabridge's own API user; nothing to do",
                        inputs={"actor": event.actor.id})
        decision = Decision(ticket=event.ticket, delivery_id=event.delivery_id, customer=state.customer,
                            reasons=(reason,), ignored=True)
        return Outcome(decision=decision, state=state.replace(last_event=event))

    customer = plugins.resolve_customer(event, directory)
    contract = directory.contract_for(customer) if customer is not None and directory is not None else None
    entitlement = plugins.entitlement(event, customer, contract, now, state, directory)
    classification = plugins.classify(event, entitlement, contract, now, state)
    clocked = entitlement.entitled and classification.sla
    timed = plugins.deadlines(event, entitlement, classification, contract, now, state, customer) if clocked else []
    deadlines = timed
    for verdict in timed:  # a plain verdict among them says why a metric has none: the rest are the deadlines
        if not isinstance(verdict, Deadline):
            deadlines = [d for d in timed if isinstance(d, Deadline)]
            break
    escalations = plugins.escalations(event, deadlines, customer, contract, now, state) if clocked else []
    verdicts: list[Verdict] = [entitlement, classification, *timed, *escalations]
    given = {d.metric: _deadline_summary(d) for d in deadlines}
    withdrawn = {} if state.deadlines.keys() <= given.keys() else _withdrawn(state, given, now)

    priority, group, assignee = classification.vendor_priority, classification.group, None
    for escalation in escalations:  # the last step that says wins
        priority = escalation.vendor_priority or priority
        if escalation.group or escalation.assignee:
            group, assignee = escalation.group, escalation.assignee
    fields = _vendor_fields(plugins, event.vendor, deadlines, withdrawn)
    status, reasons, wake, memory, charges, tags, messages = None, [], [], {**state.memory}, [], [], []
    for verdict in verdicts:  # one pass: what every verdict adds up to
        status = verdict.status or status
        reasons += verdict.reasons
        if verdict.tags:
            tags += verdict.tags
        if verdict.note:
            messages.append(("note", verdict.note))
        if verdict.reply:
            messages.append(("reply", verdict.reply))
        if verdict.wake_at:
            wake += [utc(t) for t in verdict.wake_at if t > now]
        if verdict.memory:  # a key handed back as it was is no change: it never undoes another phase's
            remembered = state.memory
            for key, value in verdict.memory.items():
                if key not in remembered or remembered[key] != value:
                    memory[key] = value
        if verdict.charges:
            charges += verdict.charges
    if withdrawn:
        reasons += [w.reason for w in withdrawn.values()]
    actions, applied = _diff(event, state.applied, tags, messages, priority, fields, group, assignee, status)

    customer_name = entitlement.customer or getattr(customer, "id", None) or (
        str(customer) if customer is not None else None)
    decision = Decision(
        ticket=event.ticket, delivery_id=event.delivery_id, customer=customer_name,
        entitlement=entitlement.plan if entitlement.entitled else "not entitled",
        severity=classification.severity, actions=tuple(actions),
        reasons=tuple(reasons),
    )
    decision = plugins.actions(decision)
    # A deadline is missed the moment after it: wake one second past it to see the breach.
    for d in deadlines:
        if d.running:
            wake += [t for t in (d.warn_at and utc(d.warn_at), d.due_at and utc(d.due_at) + BREACH_GRACE)
                     if t and t > now]
    # Only the earliest: each decision replaces the ticket's timers, and the one it fires recomputes the rest.
    timers = (Timer(kind="check", fire_at=min(wake)),) if wake else ()
    written = _as_written(event, decision.actions)
    memory["priority_after"] = written.priority  # a later event showing another priority: a person set it
    clocks = {**state.clocks, **{d.metric: _held(d) for d in deadlines if d.clock}}
    summaries = {**state.deadlines, **given}
    for metric, withdrawal in withdrawn.items():
        clocks[metric] = withdrawal.clock
        del summaries[metric]
    new_state = TicketState(ticket=event.ticket, customer=customer_name, applied=applied, last_event=written,
                            memory=memory, clocks=clocks, deadlines=summaries)
    return Outcome(decision=decision, state=new_state, timers=timers, charges=tuple(charges))


def _deleted(event: TicketEvent, state: TicketState, now: datetime) -> Outcome:
    """The ticket was deleted or marked spam on the helpdesk: no rule phase runs, as nothing can be written to it,
    and no timer is set. Its running clocks are withdrawn as when a metric stops applying
    (:meth:`MetricClock.withdrawn`: a cycle already missed stays a breach, an open one is not counted)."""
    withdrawn = _withdrawn(state, {}, now)
    reason = Reason(rule="engine.deleted", text="the ticket was deleted or marked spam on the helpdesk: its clocks "
                    "are withdrawn and nothing is written to it", inputs={"actor": event.actor.id})
    decision = Decision(ticket=event.ticket, delivery_id=event.delivery_id, customer=state.customer,
                        reasons=(reason, *(w.reason for w in withdrawn.values())))
    clocks = {**state.clocks, **{metric: w.clock for metric, w in withdrawn.items()}}
    summaries = {metric: s for metric, s in state.deadlines.items() if metric not in withdrawn}
    return Outcome(decision=decision, state=state.replace(last_event=event, clocks=clocks, deadlines=summaries))


def _carry_forward(event: TicketEvent, last: TicketEvent | None) -> TicketEvent:
    """Fill what an event leaves out from the ticket's last event: absent means unchanged.

    Fields the connector marks ``absent`` are copied whole; an id-only requester or
    organization (the same id as before) keeps the e-mail and name seen before.
    """
    if last is None:
        return event
    update: dict[str, Any] = {}
    if event.absent:
        update = {name: getattr(last, name) for name in event.absent}
        update["absent"] = ()
    requester, before = update.get("requester", event.requester), last.requester
    if requester is not before and requester.id in (None, before.id):  # the same object has nothing to fill
        filled = {}
        if requester.id is None and before.id is not None:
            filled["id"] = before.id
        if requester.email is None and before.email is not None:
            filled["email"] = before.email
        if requester.name is None and before.name is not None:
            filled["name"] = before.name
        if filled:
            update["requester"] = requester.model_copy(update=filled)
    organization, known = update.get("organization", event.organization), last.organization
    if (organization is not known and organization.id in (None, known.id) and organization.name in (None, known.name)
            and (organization.id, organization.name) != (known.id, known.name)):
        update["organization"] = known
    if event.created_at is None and last.created_at is not None:
        update["created_at"] = last.created_at
    return event.evolve(update) if update else event


def _as_written(event: TicketEvent, actions: tuple[Action, ...]) -> TicketEvent:
    """The ticket as ``event`` showed it, once ``actions`` are written: what the ticket state keeps as its last
    event. No webhook follows slabridge's own writes (helpdesks are set not to send one), so a timer's event,
    and what a later event leaves out, come from this: a timer then neither re-sends a priority or a deadline
    nor misses a tag slabridge removed and wants back."""
    update: dict[str, Any] = {}
    for action in actions:
        if isinstance(action, AddTags):
            tags = update.get("tags", event.tags)
            update["tags"] = (*tags, *(t for t in action.tags if t not in tags))
        elif isinstance(action, RemoveTags):
            update["tags"] = tuple(t for t in update.get("tags", event.tags) if t not in action.tags)
        elif isinstance(action, SetPriority):
            update["priority"] = action.priority
        elif isinstance(action, SetStatus):
            update["status"] = action.status
        elif isinstance(action, SetFields):
            update["custom_fields"] = {**update.get("custom_fields", event.custom_fields), **action.fields}
    return event.evolve(update) if update else event


def timer_event(last: TicketEvent, fire_at: datetime, delivery_id: str) -> TicketEvent:
    """The event a durable timer feeds back: the ticket as last seen, re-decided at ``fire_at``."""
    actor = last.actor
    if actor.is_self or not actor.is_automation:  # a timer's own event (timers in a row) has this actor already
        actor = actor.evolve({"is_self": False, "is_automation": True})
    return last.evolve({
        "delivery_id": delivery_id, "kind": EventKind.timer, "occurred_at": fire_at, "comment": None, "actor": actor})


def _vendor_fields(plugins: Any, vendor: str, deadlines: list[Deadline],
                   withdrawn: dict[str, "Withdrawal"]) -> dict[str, str | None]:
    """Deadlines keyed by the vendor's own field ids (``vendors.<name>.fields``); unmapped ones are not written.
    A withdrawn deadline's field is emptied."""
    settings = getattr(plugins, "settings", None)
    mapping = settings.vendor(vendor).fields if settings is not None else None
    if not mapping:
        return {}
    fields = {mapping[d.field]: iso(d.due_at) if d.due_at else None
              for d in deadlines if d.field and d.field in mapping and (d.clock is None or d.clock.state != "stopped")}
    for withdrawal in withdrawn.values():
        if withdrawal.field in mapping:
            fields[mapping[withdrawal.field]] = None
    return fields


class Withdrawal(NamedTuple):
    """A deadline no longer given: its clock as withdrawn, why, and the vendor field it was written to."""

    clock: MetricClock
    reason: Reason
    field: str | None


def _withdrawn(state: TicketState, given: dict[str, Any], now: datetime) -> dict[str, Withdrawal]:
    """The deadlines of the last decision that this one no longer gives (``given``: by metric) while their clocks
    run (the ticket was reclassified to a level without them, became a request type without SLA, is no longer
    entitled, or the contract was revised): each metric's clock withdrawn (:meth:`MetricClock.withdrawn`) and
    why."""
    out = {}
    for metric, summary in state.deadlines.items():
        clock = state.clocks.get(metric)
        if metric in given or clock is None or clock.state not in ("running", "paused"):
            continue
        due = summary.get("due_at")
        breached = bool(summary.get("breached") or (due and parse_instant(due) < now))
        field = summary.get("field")
        inputs = {"metric": metric, "due_at": due, **({"field": field} if field else {})}
        text = (f"{metric}: no deadline applies any more; "
                + ("it was already missed: it stays a breach" if breached else "its open cycle is not counted"))
        out[metric] = Withdrawal(clock.withdrawn(now, breached), Reason(rule="engine.withdrawn", text=text,
                                                                          inputs=inputs), field)
    return out


def _held(deadline: Deadline) -> MetricClock:
    """The deadline's clock, its current cycle held to the deadline's terms (target, calendar, severity) for
    the reports; a stopped cycle keeps the terms it ran under."""
    clock = deadline.clock
    if deadline.target_seconds is None or deadline.calendar is None or (
            clock.state == "stopped" and clock.terms_of(len(clock.cycles) - 1) is not None):
        return clock
    return clock.held_to(deadline.target_seconds, deadline.calendar, deadline.average, deadline.severity,
                         deadline.window)


def _deadline_summary(deadline: Deadline) -> dict[str, Any]:
    """What reports need of a deadline, kept in the ticket state."""
    summary = {"due_at": iso(deadline.due_at) if deadline.due_at else None, "breached": deadline.breached,
               "warn_at": iso(deadline.warn_at) if deadline.warn_at else None,
               "target_seconds": deadline.target_seconds, "calendar": deadline.calendar, "average": deadline.average}
    if deadline.field:
        summary["field"] = deadline.field  # emptied on the vendor if the deadline is withdrawn
    if deadline.window:
        summary["window"] = deadline.window
    return summary


def _diff(event: TicketEvent, applied: Applied, tags: list[str], messages: list[tuple[str, str]],
          priority: str | None, fields: dict[str, str | None], group: str | None, assignee: str | None,
          status: str | None) -> tuple[list[Action], Applied]:
    """The actions that bring the ticket from what it shows to what it should be: ``tags`` the verdicts want
    and the notes and replies (``messages``, as ``("note" | "reply", body)``) they ask for, in their order."""
    actions: list[Action] = []
    wanted = list(dict.fromkeys(tags))
    shown = set(event.tags)
    # Tags slabridge added are slabridge's: added once (a person who removes one is not overruled on every
    # event), removed when no longer wanted whatever a stale event (a timer's, a partial one's) shows.
    if add := [t for t in wanted if t not in shown and t not in applied.tags]:
        actions.append(AddTags(tags=tuple(add)))
    if remove := [t for t in applied.tags if t not in wanted]:
        actions.append(RemoveTags(tags=tuple(remove)))

    current_priority = event.priority if event.priority is not None else applied.priority
    if priority and priority != current_priority:
        actions.append(SetPriority(priority=priority))

    changed = {k: v for k, v in fields.items()
               if not _same_value(v, event.custom_fields.get(k, applied.fields.get(k)))} if fields else None
    if changed:
        actions.append(SetFields(fields=changed))

    group, assignee = group or applied.group, assignee or applied.assignee
    if (group, assignee) != (applied.group, applied.assignee):
        actions.append(Assign(group=group if group != applied.group else None,
                              assignee=assignee if assignee != applied.assignee else None))

    posted = applied.messages
    for kind, body in messages:
        key = _message_key(kind, body)
        if key not in posted:
            posted += (key,)
            actions.append(InternalNote(body=body) if kind == "note" else PublicReply(body=body))

    if status and status != event.status and status != applied.status:
        actions.append(SetStatus(status=status))

    after = Applied(tags=tuple(wanted), priority=priority or applied.priority,
                    fields={**applied.fields, **fields} if fields else applied.fields,
                    messages=posted, group=group, assignee=assignee, status=status or applied.status)
    return actions, applied if after == applied else after


def _same_value(wanted: str | None, shown: Any) -> bool:
    """True if the field already holds ``wanted``: the same text, or the same instant however rendered
    (Jira shows ``2026-03-07T12:00:00.000-0700`` for our ``2026-03-07T12:00:00-07:00``)."""
    if wanted == shown:
        return True
    if wanted is None or shown is None:
        return False
    try:
        return parse_instant(wanted) == parse_instant(shown)
    except (TypeError, ValueError, OverflowError):
        return False


@lru_cache(maxsize=4096)
def _message_key(kind: str, body: str) -> str:
    """What ``Applied.messages`` remembers of a note or reply already posted: a digest, not the text."""
    return f"{kind}:{hashlib.sha256(body.encode()).hexdigest()[:16]}"
