"""Benchmark: the worker's claims and the metrics scrape against the size of what is stored.

    python bench/store.py [--sizes 100 100000] [--database sqlite|postgresql://...]

For each size N, a fresh database holds N pending writes (a backlog after an outage, three per ticket),
N closed tickets' states with a done event each, N pending timers, and 100 open tickets; then it times
(fastest of five): a claim of 32 tickets' writes, a batch's read of 32 ticket states (locked), a batch of
32 decisions (trivial ones: the store's part) and a metrics scrape. With
every statement reading through an index, the rows do not change with N. PostgreSQL is analyzed after
loading (autovacuum's job in a store in use). Then the CPU per fired timer: 640 tickets with a state
and a due timer each, fired 32 at a time. Last, retention: with the largest size's history kept (inside
the window), as many finished rows of each kind (events, writes, fired timers, decisions) past it are
deleted a batch per call, as the worker does: rows per second, and the longest call (what a webhook
waiting for SQLite's writer waits at most).
"""

from __future__ import annotations

import sys
from pathlib import Path

# bench/calendar.py (a required name) would hide the standard library's `calendar`.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import argparse  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from types import SimpleNamespace  # noqa: E402

from slabridge import retention  # noqa: E402
from slabridge.config import Settings  # noqa: E402
from slabridge.metrics import exposition  # noqa: E402
from slabridge.store import Store, audit, inbox, outbox, tickets, timers  # noqa: E402
from slabridge.testing.rig import DatabaseUnreachable, database_argument, empty_database  # noqa: E402


def _store_history():
    """bench/pipeline.py's filler (loaded from its file: putting bench/ on the path would hide `calendar`)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("bench_pipeline", Path(__file__).with_name("pipeline.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.store_history


store_history = _store_history()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 100_000])
    parser.add_argument("--database", default="sqlite", type=database_argument,
                        help="sqlite, or a PostgreSQL URL (its tables are reset)")
    args = parser.parse_args()
    if min(args.sizes) < 32:
        parser.error("each of --sizes must be at least 32 (a batch reads 32 stored tickets)")
    try:
        empty_database(args.database)  # a server that cannot be reached is said at once, in one line
    except DatabaseUnreachable as exc:
        parser.error(str(exc))
    kind = "PostgreSQL" if args.database.startswith("postgresql") else "SQLite"
    print(f"{kind}: ms, fastest of 5")
    print("| stored (pending writes, closed tickets, pending timers) | claim of 32 tickets' writes "
          "| 32 states read and locked | a batch of 32 decisions | metrics scrape |")
    print("| ---: | ---: | ---: | ---: | ---: |")
    for size in args.sizes:
        url = args.database if kind == "PostgreSQL" else f"sqlite:///{tempfile.mkdtemp()}/store.db"
        empty_database(url)
        store = Store(url)
        store.upgrade()
        fill(store, size)
        claim = fastest(lambda: store.claim_outboxes("bench", 60.0, limit=32), then=lambda claimed: release(store, claimed))
        rows = [SimpleNamespace(vendor="zendesk", ticket_id=f"closed-{n * size // 32}") for n in range(32)]
        states = fastest(lambda: read_states(store, rows))
        enqueue_batch(store, 0)
        rounds = iter(range(1, 100))
        batch = fastest(lambda: store.process_events(decide_trivially, limit=32),
                        then=lambda _: enqueue_batch(store, next(rounds)))
        scrape = fastest(lambda: exposition(store))
        print(f"| {size:,} | {claim:.1f} | {states:.2f} | {batch:.1f} | {scrape:.1f} |")
        store.close()
    url = args.database if kind == "PostgreSQL" else f"sqlite:///{tempfile.mkdtemp()}/timers.db"
    empty_database(url)
    store = Store(url)
    store.upgrade()
    print(f"\nfiring timers: {fire_timers(store, 640):.0f} µs of CPU per timer")
    store.close()
    size = max(args.sizes)
    url = args.database if kind == "PostgreSQL" else f"sqlite:///{tempfile.mkdtemp()}/retention.db"
    empty_database(url)
    store = Store(url)
    store.upgrade()
    add_expired(store, size)  # first: ids follow arrival, so what is past the window comes before what is kept
    fill(store, size)
    rows, seconds, cpu, longest = prune_all(store, size)
    print(f"pruning {rows:,} finished rows past retention ({size:,} of each kind) beside {size:,} kept: "
          f"{rows / seconds:,.0f} rows/s ({cpu / rows * 1e6:.0f} µs of CPU a row), "
          f"longest call {longest * 1000:.1f} ms (one batch of {retention.BATCH})")
    store.close()
    return 0


def add_expired(store: Store, size: int) -> None:
    """``size`` finished rows of each kind past their retention."""
    now = time.time()
    old, older = now - 31 * 86_400, now - 401 * 86_400
    with store.engine.begin() as conn:
        for first in range(0, size, 5000):
            ids = range(first, min(size, first + 5000))
            conn.execute(inbox.insert(), [dict(vendor="zendesk", ticket_id=f"gone-{n}", delivery_id=f"gone-{n}",
                                               event={"comment": "x" * 400}, received_at=old, processed_at=old,
                                               status="done", attempts=1, not_before=0.0) for n in ids])
            conn.execute(outbox.insert(), [dict(vendor="zendesk", ticket_id=f"gone-{n}", delivery_id=f"gone-{n}",
                                                action={"type": "add_tags", "tags": ["sla-p3"]}, created_at=old,
                                                done_at=old, status="done", attempts=1, not_before=0.0) for n in ids])
            conn.execute(timers.insert(), [dict(vendor="zendesk", ticket_id=f"gone-{n}", kind="warn", fire_at=old,
                                                status="fired") for n in ids])
            conn.execute(audit.insert(), [dict(vendor="zendesk", ticket_id=f"gone-{n}", delivery_id=f"gone-{n}",
                                               at=older, kind="decision", body={"reasons": ["x" * 200]}) for n in ids])


def prune_all(store: Store, size: int) -> tuple[int, float, float, float]:
    """Prune one batch a call, as the worker does, until none is left; (rows deleted, seconds, CPU seconds
    of this process, longest call in seconds)."""
    now = time.time()
    settings, deleted, longest = Settings(), 0, 0.0
    started, cpu = time.perf_counter(), time.process_time()
    while True:
        began = time.perf_counter()
        pruned = retention.prune(store, settings, now, max_batches=1)
        longest = max(longest, time.perf_counter() - began)
        deleted += sum(pruned.gone.values())
        if pruned.complete:
            break
    assert deleted == 4 * size, deleted
    return deleted, time.perf_counter() - started, time.process_time() - cpu, longest


def fire_timers(store: Store, count: int) -> float:
    """CPU microseconds per timer to fire ``count`` due timers, each of a ticket with a stored last event."""
    from datetime import datetime, timezone

    from slabridge.engine import TicketState
    from slabridge.models import Actor, EventKind, TicketEvent, TicketRef

    at = datetime(2026, 3, 2, 9, tzinfo=timezone.utc)
    with store.engine.begin() as conn:
        for n in range(count):
            ticket = TicketRef(vendor="zendesk", id=f"timed-{n}")
            last = TicketEvent(vendor="zendesk", delivery_id=f"d{n}", ticket=ticket, kind=EventKind.created,
                               actor=Actor(email="dana@acme.example"), occurred_at=at)
            conn.execute(tickets.insert().values(vendor="zendesk", ticket_id=ticket.id, version=1, updated_at=0.0,
                                                 state=TicketState(ticket=ticket, last_event=last).dump()))
            conn.execute(timers.insert().values(vendor="zendesk", ticket_id=ticket.id, kind="warn",
                                                fire_at=at.timestamp(), status="pending"))
    started, fired = time.thread_time(), 0
    while batch := store.fire_due_timers(now=at.timestamp() + 1, limit=32):
        fired += len(batch)
    assert fired == count
    return (time.thread_time() - started) / count * 1e6


def fill(store: Store, size: int) -> None:
    store_history(store, size)
    store_history(store, 100, prefix="open", running=True)
    with store.engine.begin() as conn:
        for first in range(0, size, 5000):
            conn.execute(outbox.insert(), [dict(
                vendor="zendesk", ticket_id=f"late-{n // 3}", delivery_id=f"late-{n}", created_at=1.0,
                action={"type": "add_tags", "tags": ["sla-p1"]}, status="pending", attempts=0, not_before=0.0)
                for n in range(first, min(size, first + 5000))])
            conn.execute(timers.insert(), [dict(vendor="zendesk", ticket_id=f"closed-{n}", kind="warn", fire_at=4e9,
                                                status="pending") for n in range(first, min(size, first + 5000))])
    if store.is_postgres:
        with store.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("ANALYZE")


def enqueue_batch(store: Store, round_: int) -> None:
    """An event for each of 32 open tickets."""
    from datetime import datetime, timezone

    from slabridge.models import EventKind, TicketEvent, TicketRef

    for n in range(32):
        ticket = TicketRef(vendor="zendesk", id=f"open-{n}")
        store.enqueue(TicketEvent(vendor="zendesk", delivery_id=f"r{round_}-{n}", ticket=ticket, kind=EventKind.updated,
                                  occurred_at=datetime(2026, 3, 2, 9, tzinfo=timezone.utc)))


def decide_trivially(event, state):
    """A decision with one write and one timer, as cheap as can be: what is timed is the store's part."""
    from slabridge.engine import Outcome, TicketState, Timer
    from slabridge.models import AddTags, Decision

    decision = Decision(ticket=event.ticket, delivery_id=event.delivery_id, actions=(AddTags(tags=("sla-p2",)),))
    return Outcome(decision=decision, state=TicketState(ticket=event.ticket, last_event=event),
                   timers=(Timer(kind="warn", fire_at=event.occurred_at),))


def release(store: Store, claimed) -> None:
    """Put the claimed writes back, so that every round claims the same."""
    with store.engine.begin() as conn:
        conn.execute(outbox.update().where(outbox.c.id.in_([r.id for r in claimed]))
                     .values(status="pending", lease_owner=None, lease_until=None))


def read_states(store: Store, rows) -> None:
    with store.engine.begin() as conn:
        assert len(store._lock_states(conn, rows)) == len(rows)


def fastest(work, rounds: int = 5, then=lambda _: None) -> float:
    """Milliseconds of the fastest of ``rounds`` runs of ``work`` (``then`` gets each result, untimed)."""
    best = float("inf")
    for _ in range(rounds):
        started = time.perf_counter()
        done = work()
        best = min(best, time.perf_counter() - started)
        then(done)
    return best * 1000


if __name__ == "__main__":
    sys.exit(main())
