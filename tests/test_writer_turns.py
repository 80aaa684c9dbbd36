"""SQLite writers take turns on a file lock (slabridge.writerturns): held from BEGIN to the end of the
transaction, by every write path, handed over without SQLite's millisecond sleeps."""

import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time

import pytest
import sqlalchemy as sa

from slabridge.store import Store
from slabridge.writerturns import TurnTakingConnection, lock_path

from .test_store import event


def connect(path, timeout=5.0) -> TurnTakingConnection:
    return sqlite3.connect(str(path), timeout=timeout, factory=TurnTakingConnection, isolation_level=None,
                           check_same_thread=False)


def test_a_second_writer_waits_for_the_first_to_end_its_transaction(tmp_path):
    first, second = connect(tmp_path / "t.db"), connect(tmp_path / "t.db")
    first.take_turn()
    first.execute("BEGIN IMMEDIATE")
    first.execute("CREATE TABLE t (x)")
    got = threading.Event()

    def write():
        second.take_turn()
        got.set()
        second.execute("BEGIN IMMEDIATE")
        second.execute("INSERT INTO t VALUES (2)")
        second.commit()

    waiting = threading.Thread(target=write)
    waiting.start()
    assert not got.wait(0.2), "the second writer got its turn while the first's transaction was open"
    first.execute("INSERT INTO t VALUES (1)")
    first.commit()
    assert got.wait(5)
    waiting.join()
    assert [r[0] for r in first.execute("SELECT x FROM t ORDER BY x")] == [1, 2]


@pytest.mark.parametrize("end", ["commit", "rollback", "close"])
def test_every_end_of_a_transaction_gives_the_turn_back(tmp_path, end):
    first, second = connect(tmp_path / "t.db"), connect(tmp_path / "t.db", timeout=0.3)
    first.take_turn()
    first.execute("BEGIN IMMEDIATE")
    getattr(first, end)()
    second.take_turn()  # at once: no wait, no error


def test_a_turn_kept_past_the_busy_timeout_is_sqlites_database_is_locked(tmp_path):
    first, second = connect(tmp_path / "t.db"), connect(tmp_path / "t.db", timeout=0.2)
    first.take_turn()
    started = time.monotonic()
    with pytest.raises(sqlite3.OperationalError, match="database is locked"):
        second.take_turn()
    assert time.monotonic() - started >= 0.2


def test_a_writer_that_dies_mid_transaction_gives_its_turn_back(tmp_path):
    path = tmp_path / "t.db"
    holder = subprocess.Popen([sys.executable, "-c", (
        "import sqlite3, sys, time\n"
        "from slabridge.writerturns import TurnTakingConnection\n"
        f"c = sqlite3.connect({str(path)!r}, factory=TurnTakingConnection, isolation_level=None)\n"
        "c.take_turn(); c.execute('BEGIN IMMEDIATE'); print('holding', flush=True); time.sleep(60)\n")],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "holding"
        waiter = connect(path, timeout=0.3)
        with pytest.raises(sqlite3.OperationalError):
            waiter.take_turn()
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait()
        waiter.take_turn()
    finally:
        holder.kill()
        holder.wait()


def test_the_lock_file_has_the_databases_permissions_and_an_unusable_one_only_costs_the_turns(tmp_path, caplog):
    database = tmp_path / "t.db"
    connect(database).close()
    database.chmod(0o660)
    connect(database).take_turn()
    assert oct((tmp_path / "t.db-writer").stat().st_mode & 0o777) == oct(0o660 & ~current_umask())
    (tmp_path / "u.db-writer").mkdir()  # cannot be opened as a file
    writer = connect(tmp_path / "u.db")
    writer.take_turn()
    writer.execute("BEGIN IMMEDIATE")
    writer.execute("CREATE TABLE t (x)")
    writer.commit()
    assert "cannot take turns" in caplog.text


def current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_databases_without_a_file_take_no_turns():
    assert lock_path(":memory:") is None and lock_path("") is None and lock_path("file:x?mode=memory") is None
    connect(":memory:").take_turn()


def test_the_stores_write_transactions_and_the_receivers_insert_take_turns(tmp_path):
    url = f"sqlite:///{tmp_path}/s.db"
    store = Store(url)
    store.upgrade()
    outsider = connect(tmp_path / "s.db", timeout=0.2)
    with store.engine.begin() as conn:  # a write transaction of the store holds the turn
        conn.execute(sa.text("SELECT 1"))
        with pytest.raises(sqlite3.OperationalError):
            outsider.take_turn()
    outsider.take_turn()
    outsider.take_turn()  # a connection's turn is its own: asking again while holding it is no wait
    stored = []
    receiving = threading.Thread(target=lambda: stored.append(store.enqueue(event("A", "a1"))))
    receiving.start()
    receiving.join(0.3)
    assert receiving.is_alive() and not stored  # the receiver's insert waits its turn
    outsider.rollback()
    receiving.join(5)
    assert stored == [True]
    assert not store.enqueue(event("A", "a1"))  # a duplicate gives the turn back too
    outsider.take_turn()
    with store._read() as conn:  # noqa: SLF001 - reads take no turn
        outsider.execute("BEGIN IMMEDIATE")
        assert conn.execute(sa.text("SELECT count(*) FROM inbox")).scalar() == 1
    outsider.rollback()
