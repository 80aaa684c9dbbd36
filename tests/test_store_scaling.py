"""A batch of decisions and a claim of writes cost the same with a short history and backlog or a long one.

Measured as SQLite's own count of virtual-machine steps (a progress handler), not as time: deterministic,
and it grows with every row a statement reads. Before the fix a claim read and sorted every ready write,
and a batch read every stored ticket state (SQLite answers a row-value ``IN (VALUES ...)`` by a scan).
"""

from __future__ import annotations

import json
from contextlib import contextmanager
from datetime import datetime, timezone

import sqlalchemy as sa

from slabridge.engine import TicketState, Timer
from slabridge.store import Store, inbox, outbox, tickets, timers

from .test_store import event, outcome_for

ACTION = {"type": "add_tags", "tags": ["sla-p1"]}
WARN = Timer(kind="warn", fire_at=datetime(2026, 3, 2, 12, tzinfo=timezone.utc))


def stored(tmp_path, size: int) -> Store:
    """A store holding ``size`` done writes and events, ``size`` ticket states with a pending timer each, and
    a backlog of ``size`` pending writes (two per ticket) on other tickets."""
    store = Store(f"sqlite:///{tmp_path}/history-{size}.db")
    store.upgrade()
    done = [dict(vendor="zendesk", ticket_id=f"old{i % (size // 4 + 1)}", delivery_id=f"d{i}", action=ACTION,
                 status="done", attempts=1, not_before=0.0, created_at=1.0) for i in range(size)]
    backlog = [dict(vendor="zendesk", ticket_id=f"late{i // 2}", delivery_id=f"p{i}", action=ACTION,
                    status="pending", attempts=0, not_before=0.0, created_at=2.0) for i in range(size)]
    states = [dict(vendor="zendesk", ticket_id=f"s{i}", updated_at=1.0, version=0,
                   state=TicketState(ticket=event(f"s{i}", "x").ticket).dump()) for i in range(size)]
    events = [dict(vendor="zendesk", ticket_id=f"old{i}", delivery_id=f"e{i}", event={}, received_at=1.0,
                   status="done", attempts=1, not_before=0.0) for i in range(size)]
    timed = [dict(vendor="zendesk", ticket_id=f"s{i}", kind="warn", fire_at=1e10, status="pending")
             for i in range(size)]
    with store.engine.begin() as conn:
        for table, rows in ((outbox, done + backlog), (tickets, states), (inbox, events), (timers, timed)):
            conn.execute(table.insert(), rows)
    for i in range(32):  # this batch's events: half on tickets with a stored state
        store.enqueue(event(f"s{i}" if i % 2 else f"new{i}", f"batch{i}"))
    return store


@contextmanager
def steps(store: Store):
    """Count SQLite's virtual-machine steps (in hundreds) of what runs inside: ``with steps(s) as n: ...; n[0]``."""
    count = [0]

    def on_execute(conn, *_):
        conn.connection.dbapi_connection.set_progress_handler(lambda: count.__setitem__(0, count[0] + 1) or 0, 100)

    sa.event.listen(store.engine, "before_cursor_execute", on_execute)
    try:
        yield count
    finally:
        sa.event.remove(store.engine, "before_cursor_execute", on_execute)


def work(store: Store) -> tuple[int, int]:
    """Steps of one batch of 32 decisions and of one claim of 32 tickets' writes."""
    with steps(store) as batch:  # each decision drops its ticket's pending timers and sets new ones
        decided, failed = store.process_events(lambda ev, st: outcome_for(ev, st, timers=(WARN,)), limit=32, now=10.0)
    with steps(store) as claim:
        claimed = store.claim_outboxes("w", 60.0, now=10.0, limit=32)
    assert (decided, failed, len({r.ticket.key for r in claimed})) == (32, [], 32)
    return batch[0], claim[0]


def test_a_batch_and_a_claim_read_no_more_with_a_long_history_and_backlog(tmp_path):
    short_batch, short_claim = work(stored(tmp_path, 100))
    long_batch, long_claim = work(stored(tmp_path, 5000))
    assert long_batch < 1.5 * short_batch, (short_batch, long_batch)
    assert long_claim < 1.5 * short_claim, (short_claim, long_claim)


def test_events_waiting_for_a_retry_are_passed_over_once_a_batch_not_once_a_ticket(tmp_path):
    """Events whose retry is not due yet stay pending ahead of the rest (a vendor's look-ups failing for an
    hour): the claim walks past them, but asks "an earlier pending event of this ticket?" by the ticket's
    index, not by reading every older pending event again for each of the 32 it takes (before: 58 times the
    work with 5,000 waiting as with 50; now a single pass, ~5 times)."""
    work = []
    for waiting in (50, 5000):
        store = Store(f"sqlite:///{tmp_path}/waiting-{waiting}.db")
        store.upgrade()
        with store.engine.begin() as conn:
            conn.execute(inbox.insert(), [dict(vendor="zendesk", ticket_id=f"w{i}", delivery_id=f"w{i}", event={},
                                               received_at=1.0, status="pending", attempts=1, not_before=1e12)
                                          for i in range(waiting)])
        for i in range(32):
            store.enqueue(event(f"r{i}", f"r{i}"))
        with steps(store) as batch:
            assert store.process_events(lambda ev, st: outcome_for(ev, st), limit=32, now=10.0) == (32, [])
        work.append(batch[0])
    assert work[1] < 8 * work[0], work


def test_a_claim_still_takes_the_oldest_heads_first_with_expired_leases_among_them(tmp_path):
    """The claim walks pending writes and writes whose lease ran out separately; together, oldest first."""
    store = Store(f"sqlite:///{tmp_path}/s.db")
    store.upgrade()
    rows = [dict(vendor="zendesk", ticket_id=f"t{i}", delivery_id=f"d{i}", action=ACTION, created_at=1.0,
                 status="sending" if i % 3 == 0 else "pending", lease_until=5.0, lease_owner="gone",
                 attempts=1, not_before=0.0) for i in range(12)]
    with store.engine.begin() as conn:
        conn.execute(outbox.insert(), rows)
    claimed = store.claim_outboxes("w", 60.0, now=10.0, limit=5)
    assert [r.ticket.id for r in claimed] == ["t0", "t1", "t2", "t3", "t4"]
    assert [r.ticket.id for r in store.claim_outboxes("w", 60.0, now=10.0, limit=12)] == [
        f"t{i}" for i in range(5, 12)]


def closed_and_open(tmp_path, closed: int) -> Store:
    """A store whose tickets were decided by the worker's path: one open (a running deadline) and ``closed``
    whose clocks are stopped."""
    from slabridge.clocks import Cycle, MetricClock
    from slabridge.engine import Outcome
    from slabridge.models import Decision

    store = Store(f"sqlite:///{tmp_path}/tickets-{closed}.db")
    store.upgrade()
    start = datetime(2026, 3, 2, 9, tzinfo=timezone.utc)
    deadline = {"due_at": "2026-03-02T13:00:00+00:00", "warn_at": "2026-03-02T12:00:00+00:00", "breached": False}

    def decide(ev, _state):
        stopped = ev.ticket.id != "open"
        clock = MetricClock(metric="resolution", cycles=(Cycle(started_at=start, stopped_at=start if stopped else None),))
        state = TicketState(ticket=ev.ticket, customer="acme", memory={"level": "P1"},
                            clocks={"resolution": clock}, deadlines={"resolution": deadline})
        return Outcome(decision=Decision(ticket=ev.ticket, delivery_id=ev.delivery_id), state=state)
    for i in range(closed):
        store.enqueue(event(f"closed{i}", f"c{i}"))
    store.enqueue(event("open", "o"))
    while store.process_events(decide, limit=32, now=10.0)[0]:
        pass
    return store


def test_the_views_of_open_tickets_read_only_running_ones(tmp_path):
    """Metrics and the board's full read take the tickets whose deadlines still run, not every ticket ever
    decided (closed ones stay out), and read no more with 400 closed tickets stored than with 4."""
    from slabridge.metrics import deadline_states, exposition

    few, many = closed_and_open(tmp_path, 4), closed_and_open(tmp_path, 400)
    for store in (few, many):
        assert [s.ticket.id for s in store.ticket_clocks(running=True)] == ["open"]
        assert [(s["ticket"]["id"], running) for _, s, running in store.ticket_state_documents(running=True)] == [
            ("open", True)]
        assert {s.ticket.id: s.running() for s in store.ticket_clocks()}["closed0"] is False
    now = datetime(2026, 3, 2, 12, 30, tzinfo=timezone.utc)
    with steps(few) as reads_few:
        assert deadline_states(few, now) == {("acme", "P1", "resolution", "at_risk"): 1}
    with steps(many) as reads_many:
        assert deadline_states(many, now) == {("acme", "P1", "resolution", "at_risk"): 1}
    assert reads_many[0] <= reads_few[0] + 1, (reads_few[0], reads_many[0])
    assert exposition(many).count(b"slabridge_deadlines{") == 1


def test_the_boards_cache_drops_a_ticket_that_closes_and_its_full_read_skips_closed_ones(tmp_path):
    from slabridge.board import StateCache

    store = closed_and_open(tmp_path, 3)
    cache = StateCache(store, skew=0.0, full_every=3600.0)
    assert [s["ticket"]["id"] for s in cache.states()] == ["open"]
    with store.engine.begin() as conn:  # the open ticket's clock stops at its next decision
        conn.execute(tickets.update().values(running=False, updated_at=20.0))
    assert cache.states() == []


def test_upgrading_marks_which_stored_tickets_still_run(db_url):
    """Migration 0007 computes the new column from each stored state (not "running" for all, which would
    keep every old closed ticket in the views until it is decided again)."""
    from slabridge.migrate import alembic_config
    from alembic import command as alembic_command

    store = Store(db_url)
    stopped = {"cycles": [{"started_at": "2026-03-02T09:00:00+00:00", "stopped_at": "2026-03-02T10:00:00+00:00"}]}
    running = {"cycles": [{"started_at": "2026-03-02T09:00:00+00:00"}]}
    states = {"closed": {"clocks": {"resolution": stopped}, "deadlines": {"resolution": {}}},
              "open": {"clocks": {"resolution": running}, "deadlines": {"resolution": {}}},
              "no-clock": {"clocks": {}, "deadlines": {"resolution": {}}},
              "no-deadline": {"clocks": {"resolution": stopped}, "deadlines": {}},
              "unreadable": {"clocks": {"resolution": "garbled"}, "deadlines": {"resolution": {}}},
              "not-an-object": ["what", "is", "this"]}
    states.update({f"closed-{n}": states["closed"] for n in range(2500)})  # read in several parts
    with store.engine.begin() as conn:
        alembic_command.upgrade(alembic_config(conn), "0006")
        conn.execute(sa.text("INSERT INTO tickets (vendor, ticket_id, state, version, updated_at) "
                             "VALUES ('zendesk', :t, :s, 1, 1.0)"),
                     [{"t": ticket_id, "s": json.dumps(state)} for ticket_id, state in states.items()])
    store.upgrade()
    with store.engine.connect() as conn:
        running = dict(conn.execute(sa.select(tickets.c.ticket_id, tickets.c.running)).all())
    assert {t: running[t] for t in ("closed", "open", "no-clock", "no-deadline")} == {
        "closed": False, "open": True, "no-clock": True, "no-deadline": False}
    assert sorted(t for t, on in running.items() if on) == ["no-clock", "not-an-object", "open", "unreadable"]
    store.close()


def test_a_batch_or_claim_asked_for_more_tickets_than_one_statement_may_name_takes_the_most_it_may(tmp_path):
    """SQLite refuses an OR of ~1,000 tickets ("Expression tree is too large"): asked for 1,200, a batch and
    a claim take MAX_TICKETS and leave the rest for the next."""
    from slabridge.store import MAX_TICKETS, inbox_row

    store = Store(f"sqlite:///{tmp_path}/wide.db")
    store.upgrade()
    with store.engine.begin() as conn:
        conn.execute(inbox.insert(), [inbox_row(event(f"t{i}", f"d{i}"), 1.0) for i in range(1200)])
    decide = lambda ev, st: outcome_for(ev, st)  # noqa: E731
    assert store.process_events(decide, limit=1200, now=10.0) == (MAX_TICKETS, [])
    assert len(store.claim_outboxes("w", 60.0, now=10.0, limit=1200)) == MAX_TICKETS
    while store.process_events(decide, limit=1200, now=10.0)[0]:
        pass
    assert store.counts()["inbox"] == {"done": 1200}


def test_recheck_sets_a_timer_due_now_for_each_ticket_whose_deadlines_run_and_no_other(tmp_path, db_url):
    store = Store(db_url)
    store.upgrade()
    with store.engine.begin() as conn:
        conn.execute(tickets.insert(), [
            {"vendor": "zendesk", "ticket_id": ticket, "state": {"ticket": {"vendor": "zendesk", "id": ticket}},
             "version": 1, "updated_at": 1.0, "running": running} for ticket, running in (("a", True), ("b", False))])
    assert store.recheck(now=50.0) == 1
    assert [(t.ticket.id, t.kind) for t in store.fire_due_timers(now=60.0)] == [("a", "recheck")]
    store.close()
