"""On PostgreSQL a claim reads about as many rows with a backlog of 4,000 as with one of 100, and far fewer
than the history of done rows holds, whatever the planner's statistics say and however it plans.

A backlog comes after an outage, when the statistics still say pending rows are rare (analysed while the
queue was drained), or on a database not analysed yet. Either used to cost a claim a read of every pending
row (an anti-join or a sort over them all: 0.15-0.3 s a claim with 50k pending). And a claim psycopg had
prepared could get a plan made without its parameters' values, which walked every done row first.
Measured as the rows each plan node produced or dropped (``EXPLAIN ANALYZE`` of the statements the store
sent, replayed with its settings in a transaction that is rolled back), not as time.
"""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa
from psycopg.sql import Literal

from slabridge.store import Store, inbox, inbox_row, outbox
from slabridge.testing.rig import empty_database

from .test_store import event, outcome_for

pytestmark = pytest.mark.postgres
ACTION = {"type": "add_tags", "tags": ["sla-p1"]}
HISTORY = 2000  # done events and writes


def history(store: Store, size: int) -> None:
    """``size`` done events and writes."""
    with store.engine.begin() as conn:
        conn.execute(inbox.insert(), [dict(vendor="zendesk", ticket_id=f"old{i % 500}", delivery_id=f"e{i}", event={},
                                           received_at=1.0, status="done", attempts=1, not_before=0.0)
                                      for i in range(size)])
        conn.execute(outbox.insert(), [dict(vendor="zendesk", ticket_id=f"old{i % 500}", delivery_id=f"d{i}",
                                            action=ACTION, status="done", attempts=1, not_before=0.0, created_at=1.0)
                                       for i in range(size)])


def analyse(store: Store) -> None:
    with store.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("ANALYZE inbox")
        conn.exec_driver_sql("ANALYZE outbox")


def backlog(store: Store, size: int) -> None:
    """``size`` pending events and writes, two per ticket (a ticket's second waits for its first)."""
    with store.engine.begin() as conn:
        conn.execute(inbox.insert(), [inbox_row(event(f"late{i // 2}", f"b{i}"), 2.0) for i in range(size)])
        conn.execute(outbox.insert(), [dict(vendor="zendesk", ticket_id=f"late{i // 2}", delivery_id=f"p{i}",
                                            action=ACTION, status="pending", attempts=0, not_before=0.0,
                                            created_at=2.0) for i in range(size)])


def rows_read(store: Store, generic: bool) -> int:
    """Rows read by every plan node of the claims one batch of decisions and one claim of writes make
    (``generic``: planned as a prepared statement may be, without the values of its parameters)."""
    sent: list[tuple[str, dict]] = []

    def record(_conn, _cursor, sql, params, *_):
        sent.append((sql, params))
    sa.event.listen(store.engine, "before_cursor_execute", record)
    assert store.process_events(lambda ev, st: outcome_for(ev, st), limit=32, now=10.0)[0] == 32
    assert len(store.claim_outboxes("w", 60.0, now=10.0, limit=32)) >= 32
    sa.event.remove(store.engine, "before_cursor_execute", record)
    total, claims = 0, 0
    with store.engine.connect() as conn:  # a transaction of its own, rolled back: it claims nothing
        for sql, params in sent:
            if sql.startswith("SET LOCAL"):
                conn.exec_driver_sql(sql)
            elif "earlier" in sql:
                total, claims = total + _read(_plan(conn, sql, params, generic)), claims + 1
        conn.rollback()
    assert claims == 3  # the batch's events; pending writes and writes whose lease ran out
    return total


def _plan(conn, sql: str, params: dict, generic: bool) -> dict:
    """``EXPLAIN ANALYZE`` of the statement psycopg sent (its ``%(name)s`` parameters); ``generic``: as
    PostgreSQL plans a prepared statement once for every run (psycopg prepares one run five times)."""
    if not generic:
        return conn.exec_driver_sql(f"EXPLAIN (ANALYZE, FORMAT JSON) {sql}", params).scalar()[0]["Plan"]
    names = list(dict.fromkeys(re.findall(r"%\((\w+)\)[sb]", sql)))
    conn.exec_driver_sql("SET LOCAL plan_cache_mode = force_generic_plan")
    conn.exec_driver_sql("PREPARE claim AS " + re.sub(r"%\((\w+)\)[sb]", lambda m: f"${names.index(m[1]) + 1}", sql))
    values = ", ".join(Literal(params[name]).as_string(conn.connection.dbapi_connection) for name in names)
    plan = conn.exec_driver_sql(f"EXPLAIN (ANALYZE, FORMAT JSON) EXECUTE claim({values})").scalar()[0]["Plan"]
    conn.exec_driver_sql("DEALLOCATE claim")
    return plan


def _read(node: dict) -> int:
    """Rows the plan's nodes produced or read and dropped (a filter's, per loop as EXPLAIN gives them)."""
    dropped = sum(node.get(f"Rows Removed by {what}", 0) for what in ("Filter", "Join Filter", "Index Recheck"))
    return int((node["Actual Rows"] + dropped) * node["Actual Loops"]) + sum(_read(n) for n in node.get("Plans", ()))


@pytest.mark.parametrize("generic", [False, True], ids=["planned-with-values", "generic-plan"])
@pytest.mark.parametrize("analysed", ["before the backlog", "never", "with the backlog"])
def test_a_claim_reads_no_more_with_a_backlog_whatever_the_statistics_say(pg_empty, analysed, generic):
    """Before the backlog: the statistics of a drained queue (pending rows rare), as after an outage. With
    it: a backlog that is most of a young table, its pending rows after the done ones in id order. A
    generic plan (PostgreSQL may keep one for a prepared statement) does not see the parameters' values."""
    read = []
    for size in (100, 4000):
        empty_database(pg_empty)
        store = Store(pg_empty)
        store.upgrade()
        history(store, HISTORY)
        if analysed == "before the backlog":
            analyse(store)
        backlog(store, size)
        if analysed == "with the backlog":
            analyse(store)
        read.append(rows_read(store, generic))
        store.close()
    assert read[1] < 1.5 * read[0] + 100, read
    assert read[1] < HISTORY / 2, read  # a walk through the done rows to the pending ones reads them all


def test_no_statement_is_compiled_to_machine_code_first(pg_empty):
    """A claim over a backlog of 100,000 is estimated dear enough for PostgreSQL's JIT, which then spent
    ~12 ms compiling a statement that runs in under 1 ms. Every connection of the store turns it off, the
    receiver's autocommit ones too, and it stays off after a transaction is rolled back."""
    store = Store(pg_empty)
    store.upgrade()
    for engine in (store.engine, store._intake.engine):
        with engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")
            conn.rollback()
            assert conn.exec_driver_sql("SHOW jit").scalar() == "off"
    store.close()


@pytest.mark.parametrize("generic", [False, True], ids=["planned-with-values", "generic-plan"])
def test_a_batchs_events_are_marked_done_one_look_up_each_whatever_the_statistics_say(pg_empty, generic):
    """The batch marks its events done in one statement over arrays; behind the statistics of a drained queue
    it must still find each by its id, not walk every pending event by the status index (4,000 here)."""
    store = Store(pg_empty)
    store.upgrade()
    history(store, HISTORY)
    analyse(store)
    backlog(store, 4000)
    sent: list[tuple[str, dict]] = []
    sa.event.listen(store.engine, "before_cursor_execute", lambda _c, _k, sql, params, *_: sent.append((sql, params)))
    assert store.process_events(lambda ev, st: outcome_for(ev, st), limit=32, now=10.0)[0] == 32
    [(sql, params)] = [(sql, params) for sql, params in sent if sql.startswith("UPDATE inbox SET status = 'done'")]
    with store.engine.connect() as conn:  # rolled back: the events stay as the batch left them
        read = _read(_plan(conn, sql, params, generic))
        conn.rollback()
    store.close()
    assert read < 200, read
