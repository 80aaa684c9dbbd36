"""Prepaid incidents under scale-out: workers in separate processes share a customer's ledger, and the last
incident is spent once."""

from __future__ import annotations

import logging
import threading
from datetime import datetime, timezone
from pathlib import Path

import pytest

from slabridge.directory import load
from slabridge.models import EventKind, Organization, Person, TicketEvent, TicketRef
from slabridge.plugins import Plugins
from slabridge.rules.entitlement import incident_balance
from slabridge.store import Store
from slabridge.worker import Worker

ROOT = Path(__file__).resolve().parents[1]
IN_TERM = datetime(2026, 4, 7, 13, tzinfo=timezone.utc)  # Northwind's term starts on 1 April


def _creation(ticket: str) -> TicketEvent:
    return TicketEvent(vendor="freshdesk", delivery_id=f"d-{ticket}", ticket=TicketRef(vendor="freshdesk", id=ticket),
                       kind=EventKind.created, requester=Person(email="pat@northwind.example"),
                       organization=Organization(id="501"), priority="2", occurred_at=IN_TERM)


def _worker(url: str, settings) -> tuple[Worker, Store]:
    """A worker as a process of its own has it: its own store (connections) and directory."""
    store = Store(url)
    directory, _ = load(ROOT / "examples" / "contracts", ROOT / "examples" / "customers.yaml")
    return Worker(store, Plugins(settings), directory, clock=lambda: IN_TERM.timestamp()), store


def _northwind_with(url: str, left: int):
    """A store whose Northwind Clinic (prepaid incidents) has ``left`` incidents in its term: the store, the
    customer and its contract."""
    store = Store(url)
    store.upgrade()
    directory, _ = load(ROOT / "examples" / "contracts", ROOT / "examples" / "customers.yaml")
    customer, _ = directory.find("freshdesk", "501", "pat@northwind.example")
    contract = directory.contract_for(customer)
    opening = incident_balance(customer, contract, None, IN_TERM)
    store.add_ledger_entry(customer.id, left - opening, "used before the test", now=IN_TERM.timestamp() - 3600)
    return store, customer, contract


def test_two_workers_deciding_one_customers_tickets_at_once_spend_its_last_incident_once(db_url, make_settings):
    """Worker A reads the balance (1 left) and, before it commits its charge, worker B decides another ticket of
    the same customer. B must see A's charge: one ticket is charged, the other told none are left. (On
    SQLite B cannot begin before A commits; on PostgreSQL B's read waits for A's commit.)"""
    setup, customer, contract = _northwind_with(db_url, left=1)
    setup.enqueue(_creation("1"))
    setup.enqueue(_creation("2"))
    settings = make_settings(db_url)
    (first, first_store), (second, second_store) = _worker(db_url, settings), _worker(db_url, settings)

    b_starts, b_reads = threading.Event(), threading.Event()

    def a_reads(customer_id: str):
        entries = first_store.ledger_entries(customer_id)
        b_starts.set()  # B takes up ticket 2 while A's charge is not yet committed
        b_reads.wait(1)
        threading.Event().wait(0.3)  # B's read runs now (or waits for A's commit, the ledger taken in turns)
        return entries

    def b_reads_too(customer_id: str):
        b_reads.set()
        return second_store.ledger_entries(customer_id)

    first.directory.ledger, second.directory.ledger = a_reads, b_reads_too
    b_done: list[int] = []
    b_thread = threading.Thread(target=lambda: (b_starts.wait(5), b_done.append(second.process_events())))
    b_thread.start()
    try:
        assert first.process_events(limit=1) == 1
    finally:
        b_thread.join(30)
    assert b_done == [1]
    charges = [r["delta"] for r in setup.rows("ledger") if r["reason"] != "used before the test"]
    assert charges == [-1], "the last incident was spent twice"
    balance = incident_balance(customer, contract, first.directory, IN_TERM)
    assert balance == 0
    replies = [w for w in setup.rows("outbox") if w["action"]["type"] == "public_reply"]
    assert [r["ticket_id"] for r in replies] == ["2"], "the second ticket is told that no incidents are left"
    for store in (setup, first_store, second_store):
        store.close()


def _initech(ticket: str) -> TicketEvent:
    return TicketEvent(vendor="zendesk", delivery_id=f"d-{ticket}", ticket=TicketRef(vendor="zendesk", id=ticket),
                       kind=EventKind.created, requester=Person(email="sam@initech.example"),
                       organization=Organization(id="502"), priority="normal", occurred_at=IN_TERM)


@pytest.mark.postgres
def test_a_batch_holding_one_customers_ledger_leaves_another_held_elsewhere_for_its_next_batch(pg_empty,
                                                                                               make_settings):
    """Worker B is deciding a ticket of Initech. Worker A's batch decides Northwind's ticket, then meets Initech's
    second ticket: A holds Northwind's ledger, so it does not wait for Initech's (two workers waiting on each
    other would stall both); that event stays pending, no attempt counted, and is decided once B commits."""
    setup = Store(pg_empty)
    setup.upgrade()
    settings = make_settings(pg_empty)
    (first, first_store), (second, second_store) = _worker(pg_empty, settings), _worker(pg_empty, settings)
    setup.enqueue(_initech("i1"))
    b_holds, a_done = threading.Event(), threading.Event()

    def b_reads(customer_id: str):
        entries = second_store.ledger_entries(customer_id)
        b_holds.set()
        a_done.wait(10)
        return entries

    second.directory.ledger = b_reads
    b_thread = threading.Thread(target=second.process_events)
    b_thread.start()
    try:
        assert b_holds.wait(10)
        setup.enqueue(_creation("n1"))
        setup.enqueue(_initech("i2"))
        assert first.process_events() == 2  # one decided, one left for later
        rows = {r["ticket_id"]: (r["status"], r["attempts"], r["error"]) for r in setup.rows("inbox")}
        assert rows["n1"] == ("done", 1, None) and rows["i2"] == ("pending", 0, None)
    finally:
        a_done.set()
        b_thread.join(30)
    assert first.process_events() == 1
    assert {r["ticket_id"]: r["status"] for r in setup.rows("inbox")} == {"i1": "done", "n1": "done", "i2": "done"}
    for store in (setup, first_store, second_store):
        store.close()


def test_an_incident_is_charged_on_the_day_its_ticket_was_turned_over_not_the_day_it_was_decided(db_url,
                                                                                                  make_settings):
    """Northwind's contract year begins on 1 April (New York) and keeps at most 15 unused incidents. Its last
    year ends with 20 left; a ticket opened at 21:00 on 31 March is decided at 10:00 on 1 April (a backlog),
    after a purchase of 5 at 09:00: the incident is the old year's (20 - 1 = 19, then 15 kept, then + 5), as a
    replay of the same events counts it."""
    store = Store(db_url)
    store.upgrade()
    directory, _ = load(ROOT / "examples" / "contracts", ROOT / "examples" / "customers.yaml")
    customer, _ = directory.find("freshdesk", "501", "pat@northwind.example")
    contract = directory.contract_for(customer)
    year_end = datetime(2027, 3, 31, 21, tzinfo=contract.dates_zone).astimezone(timezone.utc)
    decided = datetime(2027, 4, 1, 10, tzinfo=contract.dates_zone)
    store.enqueue(_creation("late").model_copy(update={"occurred_at": year_end, "created_at": year_end}))
    store.add_ledger_entry(customer.id, 5, "purchase", now=decided.timestamp() - 3600)
    worker = Worker(store, Plugins(make_settings(db_url)), directory, clock=lambda: decided.timestamp())
    assert worker.process_events() == 1
    [_, charge] = store.rows("ledger")
    assert charge["delta"] == -1 and charge["at"] == year_end.timestamp()
    assert incident_balance(customer, contract, worker.directory, decided) == min(20 - 1, 15) + 5
    store.close()


def test_one_batch_deciding_a_customers_tickets_sees_each_charge_it_made(db_url, make_settings):
    """Two incidents left, four tickets in one batch: the batch reads the ledger once, and again after each
    charge it made, so the third ticket is told none are left; the fourth asks again and is answered from
    what the batch read for the third (three reads of the database for four decisions)."""
    import sqlalchemy as sa

    store, _, _ = _northwind_with(db_url, left=2)
    directory, _ = load(ROOT / "examples" / "contracts", ROOT / "examples" / "customers.yaml")
    for ticket in ("1", "2", "3", "4"):
        store.enqueue(_creation(ticket))
    reads: list[str] = []
    sa.event.listen(store.engine, "before_cursor_execute",
                    lambda conn, cursor, statement, *_: reads.append(statement) if "FROM ledger" in statement else None)
    reads.clear()
    worker = Worker(store, Plugins(make_settings(db_url)), directory, clock=lambda: IN_TERM.timestamp())
    assert worker.process_events() == 4
    read_by_the_batch = len(reads)
    charged = [r["ticket_id"] for r in store.rows("ledger") if r["reason"] != "used before the test"]
    assert charged == ["1", "2"]
    replies = [w["ticket_id"] for w in store.rows("outbox") if w["action"]["type"] == "public_reply"]
    assert replies == ["3", "4"]
    assert read_by_the_batch == 3
    store.close()


def test_a_batch_decides_the_events_of_billed_customers_last_so_a_ledger_is_held_for_less(db_url, make_settings,
                                                                                               caplog):
    """Once a batch reads a customer's ledger it holds it to its commit (PostgreSQL: another worker's decision
    for that customer waits). So the batch decides every other event first: here, three billed tickets and
    two of a customer without a ledger, queued alternately; the two are decided first, the billed three after
    them in the inbox's order. Every decision is made once and the charges are the inbox's order too."""
    store, _, _ = _northwind_with(db_url, left=5)
    directory, _ = load(ROOT / "examples" / "contracts", ROOT / "examples" / "customers.yaml")
    for n in range(5):
        ticket = _creation(f"n{n}") if n % 2 == 0 else _creation(f"u{n}").model_copy(
            update={"organization": Organization(id="813"), "requester": Person(email="kim@umbrella.example")})
        store.enqueue(ticket)
    worker = Worker(store, Plugins(make_settings(db_url)), directory, clock=lambda: IN_TERM.timestamp())
    with caplog.at_level(logging.INFO, logger="slabridge.worker"):
        assert worker.process_events() == 5
    order = [r.ticket.split(":")[1] for r in caplog.records if r.getMessage().startswith("decided ")]
    assert order == ["u1", "u3", "n0", "n2", "n4"]
    charged = [r["ticket_id"] for r in store.rows("ledger") if r["reason"] != "used before the test"]
    assert charged == ["n0", "n2", "n4"]
    store.close()
