"""A batch of decisions and a claim of writes cost the same with a short history and backlog or a long one.

Measured as SQLite's own count of virtual-machine steps (a progress handler), not as time: deterministic,
and it grows with every row a statement reads. Before the fix a claim read and sorted every ready write,
and a batch read every stored ticket state (SQLite answers a row-value ``IN (VALUES ...)`` by a scan).
"""

from __future__ import annotations

from contextlib import contextmanager

import sqlalchemy as sa

from slabridge.engine import TicketState
from slabridge.store import Store, inbox, outbox, tickets

from .test_store import event, outcome_for

ACTION = {"type": "add_tags", "tags": ["sla-p1"]}


def stored(tmp_path, size: int) -> Store:
    """A store holding ``size`` done writes and events, ``size`` ticket states, and a backlog of ``size``
    pending writes (two per ticket) on other tickets."""
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
    with store.engine.begin() as conn:
        for table, rows in ((outbox, done + backlog), (tickets, states), (inbox, events)):
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
    with steps(store) as batch:
        decided, failed = store.process_events(lambda ev, st: outcome_for(ev, st), limit=32, now=10.0)
    with steps(store) as claim:
        claimed = store.claim_outboxes("w", 60.0, now=10.0, limit=32)
    assert (decided, failed, len({r.ticket.key for r in claimed})) == (32, [], 32)
    return batch[0], claim[0]


def test_a_batch_and_a_claim_read_no_more_with_a_long_history_and_backlog(tmp_path):
    short_batch, short_claim = work(stored(tmp_path, 100))
    long_batch, long_claim = work(stored(tmp_path, 5000))
    assert long_batch < 1.5 * short_batch, (short_batch, long_batch)
    assert long_claim < 1.5 * short_claim, (short_claim, long_claim)


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
