"""Dry runs: the full rules on events, in memory, with no database and no write-back.

A :class:`Simulation` keeps each ticket's state, the incident ledger, and a
copy of each ticket as the vendor would show it after our actions (tags,
priority, status), so that later events see what a real helpdesk would send.
``slabridge replay`` and the scenario files both run on it.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import heapq
import multiprocessing
import tempfile
from collections import Counter, OrderedDict, defaultdict
from concurrent.futures import ProcessPoolExecutor, as_completed
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta, timezone
from operator import itemgetter
from typing import Any, NamedTuple

from . import heap, report
from .directory import Directory
from .engine import Outcome, TicketClocks, TicketState, decide, timer_event
from .models import TicketEvent
from .plugins import Plugins
from .rules import incidents as ledger
from .timeparse import utc
from .values import from_json, to_json


class TicketStates:
    """Each ticket's state by ticket key: the ``hot`` most recently used as values, the rest packed.

    A history touches a ticket in bursts (its events, then its timers); in between, its
    state waits as JSON, about a seventh of its size as values, as the worker's waits
    in the database. A state comes back equal to the one put away. (Compressing the JSON
    would halve it again but cost a quarter of the framework's time per decision.)
    """

    def __init__(self, hot: int = 2048):
        self.hot: OrderedDict[str, TicketState] = OrderedDict()
        self.packed: dict[str, bytes] = {}
        self.order: dict[str, None] = {}  # first seen first: what a report iterates in
        self.limit = hot

    def get(self, key: str) -> TicketState | None:
        state = self.hot.get(key)
        if state is not None:
            self.hot.move_to_end(key)
            return state
        packed = self.packed.pop(key, None)
        if packed is None:
            return None
        self[key] = state = _unpack(packed)
        return state

    def __getitem__(self, key: str) -> TicketState:
        state = self.get(key)
        if state is None:
            raise KeyError(key)
        return state

    def __setitem__(self, key: str, state: TicketState) -> None:
        self.order[key] = None
        self.hot[key] = state
        self.hot.move_to_end(key)
        if len(self.hot) > self.limit:
            cold, cold_state = self.hot.popitem(last=False)
            self.packed[cold] = to_json(cold_state)

    def __len__(self) -> int:
        return len(self.order)

    def values(self) -> Iterable[TicketState]:
        """Every state, one at a time, in the order the tickets were first seen (none is promoted)."""
        for key in self.order:
            state = self.hot.get(key)
            yield state if state is not None else _unpack(self.packed[key])

    def clocks(self) -> Iterable[TicketClocks]:
        """What the compliance report reads of every state, in the same order: a packed state is read
        without its last event."""
        for key in self.order:
            state = self.hot.get(key)
            yield state if state is not None else from_json(self.packed[key], TicketClocks)


def _unpack(packed: bytes) -> TicketState:
    return from_json(packed, TicketState)


class Simulation:
    def __init__(self, plugins: Plugins, directory: Directory | None):
        self.plugins = plugins
        self.directory = directory or Directory.empty()
        self.states = TicketStates()
        self.shown: dict[str, dict[str, Any]] = {}
        self.entries: dict[str, list[tuple[float, int, str]]] = defaultdict(list)
        self.directory.ledger = lambda customer: self.entries[customer]
        self.recorded: dict[str, Recorded] = {}  # what each ticket's previous input event showed
        self.timers: list[tuple[datetime, str, int]] = []  # (fire at, ticket, generation)
        self.generation: dict[str, int] = defaultdict(int)

    def advance(self, until: datetime) -> list[Outcome]:
        """Fire every durable timer due up to ``until``, in time order, as the worker would."""
        fired = []
        while self.timers and self.timers[0][0] <= until:
            at, key, generation = heapq.heappop(self.timers)
            if generation == self.generation[key]:  # a later decision replaced older timers
                fired.append(self.timer(key, at))
        return fired

    def feed(self, event: TicketEvent, now: datetime | None = None, recorded: bool = True) -> Outcome:
        """Decide one event as the worker would, then apply its actions to the simulated ticket.

        A recorded event (from the input) is merged with the simulated ticket: what slabridge applied,
        plus what people changed since the previous recorded event (a tag an agent added, a priority
        set by hand). A timer's event shows the ticket as slabridge last left it, as in the worker
        (``engine.decide``).
        """
        now = now or event.occurred_at
        key = event.ticket.key
        shown = self.shown.setdefault(key, {})
        if recorded:
            before, self.recorded[key] = self.recorded.get(key), Recorded(event.tags, event.priority, event.status)
            event = _merged(event, before, shown)
        outcome = decide(event, self.states.get(key), self.plugins, self.directory, now)
        self.states[key] = outcome.state
        if not outcome.decision.ignored:
            self.generation[key] += 1  # a decision replaces the ticket's timers, as the store does
            for timer in outcome.timers:
                heapq.heappush(self.timers, (utc(timer.fire_at), key, self.generation[key]))
        for charge in outcome.charges:
            self.entries[charge.customer].append((now.timestamp(), charge.delta, charge.reason))
        written = outcome.state.last_event  # the ticket once the decision is written (engine.decide)
        shown.update(priority=written.priority, status=written.status, tags=written.tags)
        return outcome

    def timer(self, ticket_key: str, at: datetime) -> Outcome:
        """A durable timer firing at ``at``: the ticket is decided again from its last event."""
        event = timer_event(self.states[ticket_key].last_event, at, f"timer:{at.isoformat()}")
        return self.feed(event, at, recorded=False)


class Recorded(NamedTuple):
    """What a recorded event showed of what people and slabridge both change."""

    tags: tuple[str, ...]
    priority: str | None
    status: str | None


def _merged(event: TicketEvent, before: Recorded | None, shown: dict[str, Any]) -> TicketEvent:
    """A recorded event as the helpdesk would send it now: the simulated ticket's tags, priority and status,
    changed by what people changed between ``before`` and ``event`` (the two recorded events)."""
    if before is None or not shown:
        return event
    update: dict[str, Any] = {}
    if "tags" in shown and "tags" not in event.absent:
        added = [t for t in event.tags if t not in before.tags]
        removed = set(before.tags) - set(event.tags)
        tags = tuple(t for t in dict.fromkeys([*shown["tags"], *added]) if t not in removed)
        if tags != event.tags:
            update["tags"] = tags
    for name in ("priority", "status"):
        ours = shown.get(name)
        if (ours is not None and name not in event.absent and getattr(event, name) == getattr(before, name)
                and getattr(event, name) != ours):
            update[name] = ours  # nobody changed it since: the ticket still shows what slabridge set
    return event.evolve(update) if update else event


def summary_line(outcome: Outcome, incidents: dict[str, Any] | None = None) -> dict[str, Any]:
    """One line per event for ``replay``: ticket, customer, entitlement, severity, deadlines, actions,
    and for a customer with prepaid incidents the decision's charges and the balance after it.

    Actions and reasons stay objects: :func:`slabridge.values.to_json` serializes the line in one call.
    """
    decision, state = outcome.decision, outcome.state
    memory = state.memory
    line = {
        "ticket": decision.ticket.key,
        "delivery_id": decision.delivery_id,
        "customer": decision.customer,
        "entitlement": decision.entitlement,
        "severity": {"designated": memory.get("designated"), "decided": decision.severity},
        "request_type": memory.get("request_type"),
        "deadlines": {m: d.get("due_at") for m, d in state.deadlines.items()},
        "escalation": (memory.get("escalated") or [None])[-1],
        "actions": decision.actions,
        "reasons": decision.reasons,
        "ignored": decision.ignored,
    }
    if incidents is not None:
        line["incidents"] = incidents
    return line


def incident_movements(outcome: Outcome, simulation: "Simulation", directory: Directory) -> dict[str, Any] | None:
    """The charges a decision made and the customer's balance after it; None where no incidents are billed."""
    customer = directory.customers.get(outcome.decision.customer or "")
    if customer is None or customer.incidents is None:
        return None
    contract = directory.contract_for(customer)
    if contract is None or contract.billing is None:
        return None
    at = outcome.state.last_event.occurred_at if outcome.state.last_event else None
    left = ledger.balance_now(customer.incidents.balance, customer.incidents.year_start, contract.billing,
                              simulation.entries[customer.id], at, contract.dates_zone) if at else None
    return {"customer": customer.id, "balance": left,
            "charges": [{"at": at.isoformat() if at else None, "delta": c.delta, "reason": c.reason}
                        for c in outcome.charges]}


def replay(events: Iterable[tuple[int, TicketEvent]], plugins: Plugins, directory: Directory | None,
           jobs: int = 1, emit: Callable[[str], None] = print,
           progress: Callable[[int], None] | None = None, until: datetime | None = None) -> list[dict[str, Any]]:
    """Run numbered events, and the timers they set, through the rules up to the last event.

    Events are taken in time order (input order among equals), so an unsorted export
    replays as it happened. ``emit`` receives one JSON line per decision (see
    :func:`summary_line`), in time order; the compliance report's rows as of the last
    event are returned. With one job, lines stream as they are decided. Customers are
    independent (their incident ledger, their tickets' timers), so with ``jobs > 1``
    events are sharded by customer (:data:`SHARDS_PER_JOB` shards a process, each taken by
    whichever process is free), each shard tallies its own tickets and writes its lines to a
    file, and the files are merged by (instant, timer before event, input order): the same
    output as one process. ``progress`` is told how many more events were decided.

    Given ``until`` (the last event's instant), ``events`` are taken as already in that order and,
    with one job, read one at a time: a history larger than memory streams through.
    """
    directory = directory or Directory.empty()
    with heap.settled():  # before the sort too: its keys would set off a full pass over every event given
        if until is None:
            events = sorted(events, key=lambda item: (utc(item[1].occurred_at), item[0]))
            until = events[-1][1].occurred_at if events else None
        if jobs <= 1:
            return report.rows(_run_shard(events, until, plugins, directory, lambda _, line: emit(line.decode()),
                                          progress))
        return report.rows(report.merge(_run_sharded(events, until, plugins, directory, jobs, emit, progress)))


def _run_sharded(events, until, plugins, directory, jobs, emit, progress) -> list[dict]:
    """Replay in ``jobs`` forked processes (see :func:`replay`): the shards' tallies, their lines emitted."""
    global _SHARED
    shards = _partition(list(events), jobs * SHARDS_PER_JOB, directory)
    gc.freeze()  # the shards' collectors leave inherited objects alone: no copy-on-write of the whole heap
    try:
        with tempfile.TemporaryDirectory(prefix="slabridge-replay-") as folder:
            _SHARED = (shards, until, plugins, directory, folder)  # inherited by the forked shards, not pickled
            with ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context("fork")) as pool:
                futures = {pool.submit(_run_forked_shard, index): index for index in range(len(shards))}
                for done in as_completed(futures):
                    if progress:
                        progress(len(shards[futures[done]]))
                results = [future.result() for future in futures]
            with contextlib.ExitStack() as stack:
                readers = [zip(keys, stack.enter_context(open(path, encoding="utf-8", newline="\n")))
                           for keys, path, _ in results]
                for _, line in heapq.merge(*readers, key=itemgetter(0)):
                    emit(line[:-1])
    finally:
        _SHARED = None
    return [tally for _, _, tally in results]


_SHARED: tuple | None = None
SHARDS_PER_JOB = 16  # shards are taken by whichever job is free: a slow customer does not hold the rest back
EPOCH, MICROSECOND = datetime(1970, 1, 1, tzinfo=timezone.utc), timedelta(microseconds=1)  # merge keys' instants


def _partition(events: list[tuple[int, TicketEvent]], count: int,
               directory: Directory) -> list[list[tuple[int, TicketEvent]]]:
    """Up to ``count`` shards of about equal size (none empty), each in time order, the largest first: the
    largest groups go first, each to the smallest shard.

    Tickets are independent, except those sharing a customer's incident ledger: those
    stay together, a ticket's customer being found by any of its events (an id-only
    event names none).
    """
    tickets = [event.ticket.key for _, event in events]
    ledger_of: dict[str, str] = {}
    billed = functools.cache(directory.billed_customer)  # a ticket's events mostly name the same customer
    for ticket, (_, event) in zip(tickets, events):
        if ticket not in ledger_of and (customer := billed(event.vendor, event.organization.id,
                                                           event.requester.email, event.organization.also)):
            ledger_of[ticket] = customer
    keys = [ledger_of.get(ticket, ticket) for ticket in tickets]
    load, shard_of = [0] * count, {}
    for key, size in sorted(Counter(keys).items(), key=lambda item: (-item[1], item[0])):
        shard_of[key] = load.index(min(load))
        load[shard_of[key]] += size
    shards: list[list[tuple[int, TicketEvent]]] = [[] for _ in range(count)]
    for key, item in zip(keys, events):
        shards[shard_of[key]].append(item)
    return sorted((shard for shard in shards if shard), key=len, reverse=True)


def _run_forked_shard(index: int) -> tuple[list[tuple], str, dict]:
    """Decide shard ``index`` in a forked job: its lines go to a file of their own, one a line, in the
    order of their merge keys (returned with the file's path and the shard's tally)."""
    shards, until, plugins, directory, folder = _SHARED
    path, keys = f"{folder}/shard-{index}.jsonl", []
    with open(path, "wb") as out:
        def sink(key: tuple, line: bytes) -> None:  # the instant as whole microseconds: cheap to send back
            keys.append(((key[0] - EPOCH) // MICROSECOND, key[1], key[2]))
            out.write(line)
            out.write(b"\n")
        tally = _run_shard(shards[index], until, plugins, directory, sink)
    return keys, path, tally


def _run_shard(events, until, plugins, directory, sink, progress=None) -> dict:
    """Decide a shard's events and timers, sink each line (merge key, JSON bytes), and return the compliance
    tally of its tickets."""
    simulation = Simulation(plugins, directory)

    def record(key, outcome):
        sink(key, to_json(summary_line(outcome, incident_movements(outcome, simulation, directory))))

    def fire_timers(until):  # a timer sorts before an event of the same instant
        for outcome in simulation.advance(until):
            record((utc(outcome.state.last_event.occurred_at), 0, outcome.decision.ticket.key), outcome)

    for number, event in events:
        fire_timers(event.occurred_at)
        record((utc(event.occurred_at), 1, number), simulation.feed(event))
        if progress:
            progress(1)
    if until is None:
        return {}
    fire_timers(until)
    return report.tally(simulation.states.clocks(), directory, until)
