"""Concurrent inserts share one transaction and one durable commit on SQLite (slabridge.groupcommit), and
each caller still gets its own answer: new, duplicate, or its own error."""

import sqlite3
import threading
import time

import pytest
import sqlalchemy as sa

from slabridge.groupcommit import GroupCommit
from slabridge.intake import StoreUnavailable
from slabridge.store import Store

from .test_store import event
from .test_writer_turns import connect


def start(target, count: int) -> tuple[list[threading.Thread], dict[int, object]]:
    """``count`` threads each calling ``target(n)``; what each returned or raised, by n."""
    answers: dict[int, object] = {}

    def run(n: int) -> None:
        try:
            answers[n] = target(n)
        except Exception as exc:  # noqa: BLE001 - the answer under test
            answers[n] = exc

    threads = [threading.Thread(target=run, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    return threads, answers


def wait_until(condition, seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


def test_callers_that_arrive_during_a_write_go_together_in_the_next_and_each_gets_its_own_outcome():
    batches, first_may_finish = [], threading.Event()

    def write(items):
        batches.append(list(items))
        if len(batches) == 1:
            first_may_finish.wait(5)
        return [ValueError(f"refused {i}") if i == "bad" else f"ok {i}" for i in items]

    together = GroupCommit(write)
    first, answers = start(lambda n: together.submit("first"), 1)
    wait_until(lambda: batches)
    items = ["a", "bad", "b", "c"]
    rest, more = start(lambda n: together.submit(items[n]), len(items))
    wait_until(lambda: len(together._waiting) == len(items))  # noqa: SLF001 - all queued behind the first
    first_may_finish.set()
    for thread in first + rest:
        thread.join(5)
    assert batches[0] == ["first"] and sorted(batches[1]) == sorted(items) and len(batches) == 2
    assert answers == {0: "ok first"}
    assert {n: str(a) for n, a in more.items()} == {0: "ok a", 1: "refused bad", 2: "ok b", 3: "ok c"}
    assert isinstance(more[1], ValueError)


def test_a_write_that_fails_as_a_whole_fails_every_caller_of_its_batch_and_the_next_batch_still_runs():
    calls = []

    def write(items):
        calls.append(items)
        if len(calls) == 1:
            raise OSError("disk gone")
        return [True] * len(items)

    together = GroupCommit(write)
    with pytest.raises(OSError, match="disk gone"):
        together.submit("x")
    assert together.submit("y") is True


@pytest.fixture
def sqlite_store(tmp_path):
    store = Store(f"sqlite:///{tmp_path}/s.db")
    store.upgrade()
    yield store
    store.close()


def held_writes(store, tmp_path):
    """Hold the database's writer turn from outside, so the intake's first write waits and the inserts
    that follow queue behind it; record each transaction the intake runs (its rows)."""
    outsider = connect(tmp_path / "s.db")
    outsider.take_turn()
    transactions = []
    intake = store._intake  # noqa: SLF001 - observed, not replaced
    run = intake._insert_sqlite  # noqa: SLF001

    def recorded(connection, items):
        transactions.append([params["delivery_id"] for _sql, params in items])
        return run(connection, items)
    intake._insert_sqlite = recorded  # noqa: SLF001
    return outsider, transactions


def stored_deliveries(store) -> list[str]:
    with store.engine.connect() as conn:
        return [r[0] for r in conn.execute(sa.text("SELECT delivery_id FROM inbox ORDER BY id"))]


def test_webhooks_in_flight_share_one_sqlite_transaction_and_duplicates_are_still_told_apart(sqlite_store, tmp_path):
    outsider, transactions = held_writes(sqlite_store, tmp_path)
    first, answers = start(lambda n: sqlite_store.enqueue(event("T0", "d0")), 1)
    wait_until(lambda: transactions)
    deliveries = ["d1", "d2", "d0", "d3", "d2"]  # d0 is stored by then, d2 comes twice in one batch
    rest, more = start(lambda n: sqlite_store.enqueue(event(f"T{n}", deliveries[n])), len(deliveries))
    wait_until(lambda: len(sqlite_store._intake._together._waiting) == len(deliveries))  # noqa: SLF001
    outsider.rollback()  # the turn is given back: the first commits, then the rest together
    for thread in first + rest:
        thread.join(10)
    assert answers == {0: True}
    assert len(transactions) == 2 and transactions[0] == ["d0"] and sorted(transactions[1]) == sorted(deliveries)
    assert sorted(more.values()) == [False, False, True, True, True]
    assert more[2] is False  # d0, stored before
    assert sorted(stored_deliveries(sqlite_store)) == ["d0", "d1", "d2", "d3"]


def test_a_row_the_database_refuses_fails_alone_and_the_rest_of_its_batch_is_stored(sqlite_store, tmp_path):
    with sqlite_store.engine.begin() as conn:  # a bad row: the database refuses it (not a duplicate)
        conn.execute(sa.text("CREATE TRIGGER refuse BEFORE INSERT ON inbox WHEN NEW.delivery_id = 'bad' "
                             "BEGIN SELECT RAISE(ABORT, 'refused by a trigger'); END"))
    outsider, transactions = held_writes(sqlite_store, tmp_path)
    first, _ = start(lambda n: sqlite_store.enqueue(event("T0", "d0")), 1)
    wait_until(lambda: transactions)
    deliveries = ["d1", "bad", "d2"]
    rest, more = start(lambda n: sqlite_store.enqueue(event(f"T{n}", deliveries[n])), len(deliveries))
    wait_until(lambda: len(sqlite_store._intake._together._waiting) == len(deliveries))  # noqa: SLF001
    outsider.rollback()
    for thread in first + rest:
        thread.join(10)
    assert more[0] is True and more[2] is True
    assert isinstance(more[1], sqlite3.IntegrityError) and "refused by a trigger" in str(more[1])
    assert sorted(transactions[1]) == sorted(deliveries) and len(transactions) == 2 + len(deliveries)  # then alone
    assert sorted(stored_deliveries(sqlite_store)) == ["d0", "d1", "d2"]


def test_a_database_locked_past_its_timeout_fails_every_waiting_webhook_as_unavailable(sqlite_store, tmp_path):
    pooled = sqlite_store.engine.raw_connection()  # the pool's one connection: its turn times out sooner
    pooled.dbapi_connection._timeout = 0.3  # noqa: SLF001 - 30 s in production
    pooled.close()
    outsider = connect(tmp_path / "s.db")
    outsider.take_turn()
    threads, answers = start(lambda n: sqlite_store.enqueue(event(f"T{n}", f"d{n}")), 3)
    for thread in threads:
        thread.join(10)
    outsider.rollback()
    assert len(answers) == 3 and all(isinstance(a, StoreUnavailable) for a in answers.values()), answers
    assert sqlite_store.enqueue(event("T9", "d9")) is True and stored_deliveries(sqlite_store) == ["d9"]
