"""The store, on SQLite and on the real PostgreSQL."""

import threading
from datetime import datetime, timezone

import pytest
import sqlalchemy as sa
from alembic import command as alembic_command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from slabridge.engine import Outcome, TicketState, Timer
from slabridge.models import AddTags, Decision, EventKind, TicketEvent, TicketRef
from slabridge.migrate import alembic_config, migrations
from slabridge.store import LATEST, Store, inbox_row, metadata, tickets, timers


def event(ticket: str, delivery: str, vendor: str = "zendesk") -> TicketEvent:
    return TicketEvent(vendor=vendor, delivery_id=delivery, ticket=TicketRef(vendor=vendor, id=ticket),
                       kind=EventKind.updated, occurred_at=datetime(2026, 3, 2, tzinfo=timezone.utc))


def outcome_for(ev: TicketEvent, state, tag="t", timers=()) -> Outcome:
    decision = Decision(ticket=ev.ticket, delivery_id=ev.delivery_id, actions=(AddTags(tags=(tag,)),))
    return Outcome(decision=decision, state=TicketState(ticket=ev.ticket, last_event=ev), timers=timers)


def test_upgrade_is_versioned_and_idempotent(db_url):
    store = Store(db_url)
    assert store.version() == 0
    assert [m.version for m in store.upgrade()] == list(range(1, LATEST + 1))
    assert store.upgrade() == []
    assert store.version() == LATEST


def test_the_migrated_schema_is_the_schema_the_code_uses(store):
    """Alembic's migrations build exactly the tables, columns and indexes ``store.metadata`` describes."""
    with store.engine.connect() as conn:
        differences = compare_metadata(MigrationContext.configure(conn), metadata)
    assert differences == []


def test_a_database_from_before_alembic_is_stamped_and_only_what_it_lacks_applied(db_url):
    """A database the old runner left at version 3 (a ``schema_migrations`` table) keeps its rows."""
    store = Store(db_url)
    with store.engine.begin() as conn:
        alembic_command.upgrade(alembic_config(conn), "0003")
        conn.exec_driver_sql("DROP TABLE alembic_version")
        conn.exec_driver_sql("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, description TEXT, "
                             "applied_at FLOAT)")
        conn.exec_driver_sql("INSERT INTO schema_migrations VALUES (1, 'a', 0), (2, 'b', 0), (3, 'c', 0)")
        conn.exec_driver_sql("INSERT INTO ledger (customer, at, delta, reason) VALUES ('acme', 0, 20, 'opening')")
    assert store.version() == 3
    assert [m.version for m in store.upgrade()] == list(range(4, LATEST + 1))
    assert store.version() == LATEST
    with store.engine.connect() as conn:
        assert not sa.inspect(conn).has_table("schema_migrations")
        assert conn.exec_driver_sql("SELECT delta FROM ledger").scalar() == 20
        assert compare_metadata(MigrationContext.configure(conn), metadata) == []
    store.close()


def test_the_latest_version_is_alembics_head_and_an_up_to_date_database_needs_no_alembic(tmp_path):
    import subprocess
    import sys

    assert LATEST == migrations()[-1].version == len(migrations())
    url = f"sqlite:///{tmp_path}/db.sqlite"
    Store(url).upgrade()
    probe = ("import sys; from slabridge.store import Store; applied = Store(sys.argv[1]).upgrade(); "
             "print(applied, 'alembic' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", probe, url], capture_output=True, text=True,
                          check=True).stdout.split() == ["[]", "False"]


def test_enqueue_dedupes_on_vendor_and_delivery(store):
    assert store.enqueue(event("1", "d1"))
    assert not store.enqueue(event("1", "d1"))
    assert store.enqueue(event("1", "d1", vendor="jira"))  # same id, other vendor
    assert len(store.rows("inbox")) == 2


def test_an_enqueued_event_reads_back_as_it_was_received_and_a_replayed_body_is_a_duplicate(store):
    received = event("1", "d1").model_copy(update={"tags": ("vip",), "subject": "Ünïcode \"quoted\""})
    assert store.enqueue(received, now=12.5, by_content=True)
    assert not store.enqueue(received.model_copy(update={"delivery_id": "d2"}), by_content=True)  # same change
    [row] = store.rows("inbox")
    assert TicketEvent.model_validate(row["event"]) == received
    assert (row["status"], row["attempts"], row["received_at"], row["ticket_id"]) == ("pending", 0, 12.5, "1")


def test_every_value_of_an_enqueued_row_reads_back_exactly(store):
    """The receiver's insert sends its values as text (PostgreSQL: through libpq): a time keeps every digit,
    an absent content key stays NULL, and text the JSON escapes (NUL, emoji, quotes) comes back as sent."""
    said = event("7", "d-exact").model_copy(update={"description": 'a\x00b "q" \U0001f3ab \\ \u202e', "tags": ()})
    assert store.enqueue(said, now=1764892800.1234567)
    [row] = store.rows("inbox")
    assert row["received_at"] == 1764892800.1234567
    assert row["content_key"] is None and row["not_before"] == 0.0 and row["attempts"] == 0
    assert TicketEvent.model_validate(row["event"]) == said


@pytest.mark.postgres
def test_text_holding_nul_is_refused_not_cut_short(pg_empty):
    """libpq takes text up to its first NUL: a ticket id ``1\x00…`` must fail as psycopg fails it, not be
    stored as ticket ``1``."""
    import psycopg

    store = Store(pg_empty)
    store.upgrade()
    try:
        with pytest.raises(psycopg.DataError, match="NUL"):
            store.enqueue(event("1\x00evil", "d-nul"))
        assert store.rows("inbox") == []
        assert store.enqueue(event("1", "d-after"))  # the connection is still good
    finally:
        store.close()


@pytest.mark.postgres
def test_text_longer_than_its_column_is_refused_not_cut_short(pg_empty):
    """An explicit cast to ``VARCHAR(128)`` would cut a longer ticket id to 128 characters (two tickets sharing
    those would become one); the column's own check refuses it instead."""
    import psycopg

    store = Store(pg_empty)
    store.upgrade()
    try:
        with pytest.raises(psycopg.DataError, match="too long"):
            store.enqueue(event("9" * 129, "d-long"))
        assert store.rows("inbox") == []
        assert store.enqueue(event("9" * 128, "d-fits"))
    finally:
        store.close()


@pytest.mark.postgres
def test_a_webhook_after_the_database_dropped_its_connection_is_still_stored(pg_empty):
    """Receivers keep pooled connections without pinging them first: one the server closed (a restart)
    is found dead on use, discarded, and the insert made on a fresh one."""
    store = Store(pg_empty)
    store.upgrade()
    try:
        assert store.enqueue(event("1", "before"))
        with store.engine.begin() as conn:  # the server ends every other session, as a restart would
            conn.exec_driver_sql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                 "WHERE datname = current_database() AND pid <> pg_backend_pid()")
        assert store.enqueue(event("1", "after"))
        assert [r["delivery_id"] for r in store.rows("inbox")] == ["before", "after"]
    finally:
        store.close()


def test_events_of_one_ticket_are_processed_in_arrival_order(store):
    for i in range(5):
        store.enqueue(event("A", f"a{i}"))
        store.enqueue(event("B", f"b{i}"))
    seen = []
    while store.process_next_event(lambda ev, st: (seen.append(ev.delivery_id), outcome_for(ev, st))[1]):
        pass
    assert [d for d in seen if d.startswith("a")] == [f"a{i}" for i in range(5)]
    assert [d for d in seen if d.startswith("b")] == [f"b{i}" for i in range(5)]


def test_one_tickets_inbox_inserts_take_turns_so_ids_follow_commit_order(store):
    """Two receivers enqueue one ticket's events at once: the second waits for the first to commit, so the
    worker never sees the later id committed while the earlier one is not (it would decide them out of order)."""
    second_done = threading.Event()
    with store.engine.begin() as conn:
        store._insert_inbox(conn, [inbox_row(event("9", "first"), 1.0)])
        waiter = threading.Thread(target=lambda: (store.enqueue(event("9", "second")), second_done.set()))
        waiter.start()
        assert not second_done.wait(0.5)  # held while the first insert is uncommitted
        if store.is_postgres:  # another ticket does not wait (SQLite's single writer always does)
            assert store.enqueue(event("10", "other"))
    waiter.join(timeout=30)
    assert second_done.is_set()
    ids = {row["delivery_id"]: row["id"] for row in store.rows("inbox")}
    assert ids["first"] < ids["second"]


def test_state_outbox_timers_and_audit_commit_together(store):
    store.enqueue(event("A", "a1"))
    fire = datetime(2026, 3, 2, 12, tzinfo=timezone.utc)
    store.process_next_event(lambda ev, st: outcome_for(ev, st, timers=(Timer(kind="due:x", fire_at=fire),)))
    assert store.ticket_state(TicketRef(vendor="zendesk", id="A")).last_event.delivery_id == "a1"
    assert [r["action"] for r in store.rows("outbox")] == [{"type": "add_tags", "tags": ["t"]}]
    assert [(t.kind, t.fire_at) for t in store.pending_timers(TicketRef(vendor="zendesk", id="A"))] == [
        ("due:x", fire.timestamp())]
    assert len(store.rows("audit")) == 1


def test_a_failing_decision_changes_nothing_and_keeps_the_event(store):
    from slabridge.store import EventFailed

    store.enqueue(event("A", "a1"))

    def explode(ev, st):
        raise RuntimeError("rule bug")

    with pytest.raises(EventFailed):
        store.process_next_event(explode)
    assert store.rows("outbox") == [] and store.rows("tickets") == [] and store.rows("audit") == []
    assert store.rows("inbox")[0]["status"] == "pending"
    assert store.fail_event(store.rows("inbox")[0]["id"], "rule bug", max_attempts=1, retry_in=0) == "dead"


def test_a_failure_recorded_after_another_worker_decided_the_event_does_not_queue_it_again(store):
    """Worker 1's attempt fails and commits (the event stays pending); worker 2 decides the event before
    worker 1 records the failure. The late record must not put a decided event back: it would be decided
    twice (two decisions, two sets of writes to the vendor)."""
    from slabridge.store import EventFailed

    store.enqueue(event("A", "a1"))
    with pytest.raises(EventFailed) as failed:
        store.process_next_event(lambda ev, st: (_ for _ in ()).throw(RuntimeError("lost connection")))
    assert store.process_next_event(outcome_for)  # worker 2
    assert store.fail_event(failed.value.inbox_id, "lost connection", max_attempts=5, retry_in=0) == "done"
    assert [(r["status"], r["attempts"]) for r in store.rows("inbox")] == [("done", 1)]
    assert not store.process_next_event(outcome_for)
    assert len(store.rows("audit", kind="decision")) == 1 and len(store.rows("outbox")) == 1


def test_a_decision_whose_event_stopped_being_pending_under_it_is_discarded(store):
    """The fence behind the claim's locks: if the event a decision was made for is no longer pending when
    its writes are made (here changed through the decision's own connection, which no other worker can
    do while the claim holds the row), nothing of the decision is written and the event stays as it is."""
    from slabridge.store import EventFailed, StaleClaim

    store.enqueue(event("A", "a1"))

    def decide_after_someone_finished_it(ev, st):
        store._decision.conn.execute(sa.text("UPDATE inbox SET status = 'done'"))
        return outcome_for(ev, st)

    with pytest.raises(EventFailed) as failed:
        store.process_next_event(decide_after_someone_finished_it)
    assert isinstance(failed.value.cause, StaleClaim)
    assert store.rows("audit") == [] and store.rows("outbox") == [] and store.rows("tickets") == []
    assert store.fail_event(failed.value.inbox_id, "stale", max_attempts=5, retry_in=0) == "done"


def test_a_batch_is_written_together_and_a_decision_whose_writes_fail_stays_pending_alone(store):
    """The batch's writes go in one statement per kind; when one decision's rows are refused by the
    database (here a timer without a kind), the others are written one by one and only it fails."""
    from slabridge.engine import Charge

    for ticket in ("A", "B", "C", "D"):
        store.enqueue(event(ticket, f"{ticket}1"))

    def decide(ev, st):
        if ev.ticket.id == "B":
            return outcome_for(ev, st, timers=(Timer(kind=None, fire_at=datetime(2026, 3, 3, tzinfo=timezone.utc)),))
        if ev.ticket.id == "D":  # a charge is written at once, with what was decided before it
            return outcome_for(ev, st).replace(charges=(Charge(customer="acme", delta=-1, reason="incident"),))
        return outcome_for(ev, st, timers=(Timer(kind="check", fire_at=datetime(2026, 3, 3, tzinfo=timezone.utc)),))

    decided, failures = store.process_events(decide, limit=10)
    assert decided == 3 and [f.inbox_id for f in failures] == [2]
    assert "IntegrityError" in str(failures[0])
    assert {r["delivery_id"]: r["status"] for r in store.rows("inbox")} == {
        "A1": "done", "B1": "pending", "C1": "done", "D1": "done"}
    assert sorted(r["ticket_id"] for r in store.rows("tickets")) == ["A", "C", "D"]
    assert sorted(r["ticket_id"] for r in store.rows("outbox")) == ["A", "C", "D"]
    assert sorted(r["ticket_id"] for r in store.rows("timers")) == ["A", "C"]
    assert [(r["customer"], r["delta"]) for r in store.rows("ledger")] == [("acme", -1)]
    assert sorted(r["ticket_id"] for r in store.rows("audit")) == ["A", "C", "D"]
    # the next batch reads the states this one wrote (and B's none) and updates them
    store.enqueue(event("A", "A2"))
    seen = {}
    store.process_events(lambda ev, st: (seen.update({ev.delivery_id: st and st.last_event.delivery_id}),
                                         outcome_for(ev, st))[1], limit=10)
    assert seen == {"B1": None, "A2": "A1"}
    assert {r["ticket_id"]: r["version"] for r in store.rows("tickets")} == {"A": 2, "C": 1, "D": 1, "B": 1}


def test_concurrent_workers_process_each_event_once_and_in_ticket_order(store):
    tickets = [f"T{i}" for i in range(6)]
    for n in range(8):
        for t in tickets:
            store.enqueue(event(t, f"{t}-{n}"))
    seen, lock = [], threading.Lock()

    def decide(ev, st):
        with lock:
            seen.append(ev.delivery_id)
        return outcome_for(ev, st)

    def work():
        while store.process_next_event(decide):
            pass

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(seen) == sorted(f"{t}-{n}" for t in tickets for n in range(8))
    for t in tickets:
        assert [d for d in seen if d.startswith(f"{t}-")] == [f"{t}-{n}" for n in range(8)]
    assert {r["status"] for r in store.rows("inbox")} == {"done"}


def test_outbox_claims_in_ticket_order_and_leases(store):
    store.enqueue(event("A", "a1"))
    store.process_next_event(lambda ev, st: Outcome(
        decision=Decision(ticket=ev.ticket, delivery_id="a1", actions=(AddTags(tags=("x",)), AddTags(tags=("y",)))),
        state=TicketState(ticket=ev.ticket)))
    first = store.claim_outbox(lease_seconds=30, now=1000.0)
    assert first.action.tags == ("x",)
    assert store.claim_outbox(now=1001.0) is None  # the second waits for the first
    assert store.claim_outbox(now=1031.0).id == first.id  # lease expired: claimed again
    store.finish_outbox(first.id, "done", now=1032.0)
    assert store.claim_outbox(now=1033.0).action.tags == ("y",)


def test_outbox_retry_waits_until_not_before(store):
    store.enqueue(event("A", "a1"))
    store.process_next_event(lambda ev, st: outcome_for(ev, st))
    row = store.claim_outbox(now=1000.0)
    store.finish_outbox(row.id, "pending", error="429", retry_at=1060.0)
    assert store.claim_outbox(now=1059.0) is None
    assert store.claim_outbox(now=1060.0).attempts == 2


def test_a_due_timer_fires_once_and_enqueues_its_ticket_atomically(store):
    store.enqueue(event("A", "a1"))
    fire = datetime(2026, 3, 2, 12, tzinfo=timezone.utc)
    store.process_next_event(lambda ev, st: outcome_for(ev, st, timers=(Timer(kind="due:x", fire_at=fire),)))
    assert store.fire_due_timer(now=fire.timestamp() - 1) is None
    timer = store.fire_due_timer(now=fire.timestamp())
    assert timer.kind == "due:x" and timer.ticket.id == "A"
    assert store.fire_due_timer(now=fire.timestamp() + 10) is None
    queued = store.rows("inbox")[-1]
    assert queued["delivery_id"] == f"timer:{timer.id}" and queued["event"]["kind"] == "timer"
    assert queued["status"] == "pending"


def test_a_dead_event_does_not_hold_back_its_tickets_later_events(store):
    store.enqueue(event("A", "a1"))
    store.enqueue(event("A", "a2"))
    first = store.rows("inbox")[0]["id"]
    assert store.fail_event(first, "rule bug", max_attempts=1, retry_in=0) == "dead"
    seen = []
    while store.process_next_event(lambda ev, st: (seen.append(ev.delivery_id), outcome_for(ev, st))[1]):
        pass
    assert seen == ["a2"]


def test_sqlite_decision_reads_use_the_decisions_own_connection(tmp_path):
    """A rule reading the ledger inside a decision needs no second connection: with a pool of one, a
    second checkout would wait (and, with SQLite's write lock held, stall every receiver)."""
    store = Store(f"sqlite:///{tmp_path}/one.db")
    store.upgrade()
    store.engine.pool = store.engine.pool.recreate()
    store.engine.pool._pool.maxsize = 1  # noqa: SLF001 - exactly one connection
    store.engine.pool._max_overflow = 0  # noqa: SLF001
    store.engine.pool._timeout = 1  # noqa: SLF001
    store.add_ledger_entry("acme", 5, "prepaid")
    store.enqueue(event("A", "a1"))
    read = []
    assert store.process_next_event(lambda ev, st: (read.append(store.ledger_entries("acme")), outcome_for(ev, st))[1])
    assert read[0][0][1] == 5
    assert store.rows("inbox")[0]["status"] == "done"


def test_sixteen_concurrent_senders_never_see_database_is_locked(tmp_path, make_settings, signed, live_server):
    import httpx

    from slabridge.plugins import Plugins
    from webhooks.app import create_app

    url = f"sqlite:///{tmp_path}/busy.db"
    settings = make_settings(url)
    store = Store(url)
    store.upgrade()
    store.add_ledger_entry("acme", 5, "prepaid")
    stop = threading.Event()

    def decide_with_reads():
        while not stop.is_set():
            store.process_next_event(lambda ev, st: (store.ledger_entries("acme"),
                                                     outcome_for(ev, st))[1])

    deciding = threading.Thread(target=decide_with_reads, daemon=True)
    statuses: list[int] = []
    with live_server(create_app(settings, Plugins(settings), store)) as receiver:
        deciding.start()

        def send(n: int):
            with httpx.Client(timeout=60) as http:
                for i in range(10):
                    headers, body = signed("zendesk", str(1000 + n * 100 + i))
                    statuses.append(http.post(f"{receiver.url}/webhooks/zendesk", content=body,
                                              headers=headers).status_code)

        senders = [threading.Thread(target=send, args=(n,)) for n in range(16)]
        for t in senders:
            t.start()
        for t in senders:
            t.join()
        stop.set()
        deciding.join()
    assert statuses.count(202) == 160, sorted(set(statuses))
    assert len(store.rows("inbox")) == 160


def test_a_batch_takes_one_event_per_ticket_in_order_and_commits_the_good_ones_when_one_fails(store):
    """One transaction decides several tickets' next events; a decision that fails is rolled back alone."""
    for n in range(3):
        for ticket in ("A", "B", "C"):
            store.enqueue(event(ticket, f"{ticket}{n}"))
    seen = []

    def decide(ev, st):
        seen.append(ev.delivery_id)
        if ev.delivery_id == "B0":
            raise RuntimeError("rule bug")
        return outcome_for(ev, st)

    decided, failed = store.process_events(decide, limit=10)
    assert seen == ["A0", "B0", "C0"]  # one per ticket: a ticket's later events wait for its earlier one
    assert decided == 2 and [f.inbox_id for f in failed] == [r["id"] for r in store.rows("inbox", delivery_id="B0")]
    assert {r["delivery_id"] for r in store.rows("audit")} == {"A0", "C0"}
    assert {r["ticket_id"] for r in store.rows("outbox")} == {"A", "C"}
    assert store.rows("inbox", delivery_id="B0")[0]["status"] == "pending"
    assert store.ticket_state(TicketRef(vendor="zendesk", id="B")) is None
    decided, failed = store.process_events(decide, limit=10)  # B1 still waits behind B0
    assert seen[3:] == ["B0", "A1", "C1"] and decided == 2  # oldest first


def test_due_timers_fire_in_one_batch_earliest_first(store):
    fire = datetime(2026, 3, 2, 12, tzinfo=timezone.utc)
    for n, ticket in enumerate(("A", "B", "C")):
        store.enqueue(event(ticket, f"{ticket}0"))
        store.process_next_event(lambda ev, st, n=n: outcome_for(
            ev, st, timers=(Timer(kind="check", fire_at=fire.replace(minute=10 - n)),)))
    fired = store.fire_due_timers(now=fire.timestamp() + 3600, limit=2)
    assert [t.ticket.id for t in fired] == ["C", "B"]
    assert {r["delivery_id"] for r in store.rows("inbox", status="pending")} == {f"timer:{t.id}" for t in fired}
    assert [t.ticket.id for t in store.fire_due_timers(now=fire.timestamp() + 3600)] == ["A"]


def test_a_batch_of_timers_feeds_each_its_tickets_last_event_and_fires_one_without_a_state_too(store):
    """Two timers of one ticket are two re-decisions of the ticket as last seen; a timer whose ticket has no
    stored state (removed since) is marked fired and enqueues nothing."""
    fire = datetime(2026, 3, 2, 12, tzinfo=timezone.utc)
    store.enqueue(event("A", "A0"))
    store.process_next_event(lambda ev, st: outcome_for(ev, st, timers=(
        Timer(kind="warn", fire_at=fire), Timer(kind="breach", fire_at=fire.replace(minute=30)))))
    with store.engine.begin() as conn:
        conn.execute(timers.insert().values(vendor="zendesk", ticket_id="gone", kind="breach",
                                            fire_at=fire.timestamp(), status="pending"))
    fired = store.fire_due_timers(now=fire.timestamp() + 3600)
    assert sorted((t.ticket.id, t.kind) for t in fired) == [("A", "breach"), ("A", "warn"), ("gone", "breach")]
    assert {row["status"] for row in store.rows("timers")} == {"fired"}
    queued = [TicketEvent.model_validate(row["event"]) for row in store.rows("inbox", status="pending")]
    assert sorted((ev.ticket.id, ev.kind, ev.occurred_at.minute) for ev in queued) == [
        ("A", EventKind.timer, 0), ("A", EventKind.timer, 30)]
    assert {ev.delivery_id for ev in queued} == {f"timer:{t.id}" for t in fired if t.ticket.id == "A"}


@pytest.mark.postgres
def test_firing_timers_does_not_wait_for_a_ticket_a_decision_holds(pg_empty):
    """A worker deciding a ticket holds its state and then drops the ticket's pending timers; a worker
    firing one of those timers meanwhile must not wait for that state (each would wait on the other)."""
    store = Store(pg_empty)
    store.upgrade()
    fire = datetime(2026, 3, 2, 12, tzinfo=timezone.utc)
    try:
        store.enqueue(event("A", "A0"))
        store.process_next_event(lambda ev, st: outcome_for(ev, st, timers=(Timer(kind="warn", fire_at=fire),)))
        with store.engine.connect() as decider:
            decider.begin()
            decider.execute(sa.select(tickets.c.state).where(tickets.c.ticket_id == "A").with_for_update())
            fired: list = []
            firing = threading.Thread(target=lambda: fired.extend(store.fire_due_timers(now=fire.timestamp() + 60)))
            firing.start()
            firing.join(timeout=10)
            waited = firing.is_alive()
            decider.rollback()
        firing.join()
        assert not waited and [t.kind for t in fired] == ["warn"]
    finally:
        store.close()


def test_work_left_is_a_pending_event_or_a_write_not_yet_sent(store):
    from slabridge.store import Finished

    assert not store.work_left()
    store.enqueue(event("T-9", "w1"))
    assert store.work_left()  # the event
    later = Timer(kind="warn", fire_at=datetime(2099, 1, 1, tzinfo=timezone.utc))
    store.process_events(lambda ev, st: outcome_for(ev, st, timers=(later,)), now=10.0)
    assert store.work_left()  # its write, pending
    claimed = store.claim_outboxes("w", 60.0, now=10.0)
    assert store.work_left()  # being sent
    store.finish_outboxes([Finished(claimed[0].id, "done")], now=11.0, owner="w")
    assert not store.work_left()  # a timer in the future is not work left


def test_a_batchs_rows_keep_every_character_they_were_given(store):
    """Text a JSON value escapes (quotes, backslashes, line breaks, tabs, non-ASCII) reaches every column of a
    batch's rows as it was: PostgreSQL's arrays carry it in binary, nothing escaped twice or cut."""
    from slabridge.models import InternalNote

    awkward = 'a "quoted" \\ back\\slash, a\nline\tbreak, \u00e9t\u00e9, \u2603, \U0001F600 and {"json": [1]}'
    short = awkward[:40]  # a timer's kind is at most 64 characters
    tickets_ = [f'T{n} "{awkward}"' for n in range(3)]
    for n, ticket in enumerate(tickets_):
        store.enqueue(event(ticket, f"d{n} {awkward}"))

    def decide(ev, st):
        decision = Decision(ticket=ev.ticket, delivery_id=ev.delivery_id,
                            actions=(AddTags(tags=(awkward,)), InternalNote(body=awkward)))
        return Outcome(decision=decision, state=TicketState(ticket=ev.ticket, last_event=ev),
                       timers=(Timer(kind=short, fire_at=datetime(2026, 3, 3, tzinfo=timezone.utc)),))
    decided, failed = store.process_events(decide, limit=10)
    assert (decided, [repr(f.cause)[:300] for f in failed]) == (3, [])
    writes = store.rows("outbox")
    assert sorted(w["ticket_id"] for w in writes) == sorted(tickets_ * 2)
    assert {w["action"].get("body") or w["action"]["tags"][0] for w in writes} == {awkward}
    assert {t["kind"] for t in store.rows("timers")} == {short}
    assert all(awkward in a["delivery_id"] and a["body"]["actions"][1]["body"] == awkward
               for a in store.rows("audit"))
    states = [store.ticket_state(TicketRef(vendor="zendesk", id=ticket)) for ticket in tickets_]
    assert [s.last_event.delivery_id.endswith(awkward) for s in states] == [True] * 3
