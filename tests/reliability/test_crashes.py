"""Crash safety, duplicate storms, ordering: kill -9 at any moment, nothing lost, nothing doubled."""

import itertools
import random
import threading
import time
from datetime import datetime, timedelta, timezone
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from .conftest import TICKETS


def send_all(rig, history, threads: int = 8, seconds: float = 0.0):
    """Send every item (spread over ``seconds``, so that faults land in the middle of the load)."""
    start = time.monotonic()

    def paced(numbered):
        index, item = numbered
        time.sleep(max(0.0, start + seconds * index / len(history) - time.monotonic()))
        return rig.send(*item, http=http)

    with httpx.Client(timeout=10) as http, ThreadPoolExecutor(threads) as pool:
        return list(pool.map(paced, enumerate(history)))


def chaos(rig, stop: threading.Event, kills: dict, seed: int = 11):
    """Kill the receiver and a worker in turn with SIGKILL at random moments and start each again: at least
    twice each, even when the load is over first (a restart under a loaded machine can take seconds)."""
    rng = random.Random(seed)
    for turn in itertools.count():
        if stop.wait(rng.uniform(0.5, 1.5)) and min(kills.values()) >= 2:
            return
        if turn % 2 == 0:
            rig.kill_receiver()
            kills["receiver"] += 1
            rig.start_receiver()
        else:
            index = rng.randrange(rig.worker_count)
            rig.kill_worker(index)
            kills["worker"] += 1
            time.sleep(rng.uniform(0, 0.5))
            rig.start_worker(index)


@pytest.mark.parametrize("database", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_kill_9_of_receiver_and_workers_loses_nothing_and_doubles_nothing(make_rig, tmp_path, request, database):
    url = f"sqlite:///{tmp_path}/crash.db" if database == "sqlite" else request.getfixturevalue("pg_empty")
    rig = make_rig(url, receivers=2, workers=2)
    history = rig.history(tickets=TICKETS, events_per_ticket=3)
    stop, kills = threading.Event(), {"receiver": 0, "worker": 0}
    killer = threading.Thread(target=chaos, args=(rig, stop, kills))
    killer.start()
    try:
        sent = send_all(rig, history, seconds=20)
    finally:
        stop.set()
        killer.join()
    for index in range(rig.worker_count):  # whatever the last kill left, every worker runs again
        if rig.workers[index].poll() is not None:
            rig.start_worker(index)
    assert rig.wait_drained(timeout=180), rig.store.counts()
    report = rig.report(sent)
    assert kills["receiver"] >= 2 and kills["worker"] >= 2, kills
    assert report.accepted == len(history) - report.duplicates_answered  # each delivery acknowledged once
    assert report.problems() == [], report
    assert report.decided >= report.accepted
    assert report.comments_posted > 0 and report.timers_pending > 0


@pytest.mark.postgres
def test_a_duplicate_storm_ends_as_a_single_clean_send(make_rig, pg_empty, tmp_path):
    """Every delivery 3×, shuffled, concurrently, to 2 gunicorn workers with 3 worker processes."""
    import sqlalchemy as sa

    from .conftest import ROOT

    # Prepaid incidents go to tickets in the order they arrive, which a shuffle changes by design:
    # give the customer enough for every ticket, so that the final state depends on nothing but the events.
    customers = tmp_path / "customers.yaml"
    customers.write_text((ROOT / "examples" / "customers.yaml").read_text().replace("balance: 20,", "balance: 100000,"))
    assert "balance: 100000," in customers.read_text()
    # Dated weeks ago: every deadline has passed before either run starts, so both runs see the same
    # breaches whenever they run (a deadline falling due between the runs would differ by design).
    past = {"customers_file": customers, "jira_tolerance_seconds": 10 ** 9}
    clean = make_rig(f"sqlite:///{tmp_path}/clean.db", receivers=1, workers=1, **past)
    history = clean.history(tickets=TICKETS // 2, events_per_ticket=3,
                            start=datetime.now(timezone.utc) - timedelta(days=45))
    send_all(clean, history, threads=1)
    assert clean.wait_drained(timeout=180)
    expected = {v: {t: (sorted(d["tags"]), d.get("priority")) for t, d in fake.tickets.items()}
                for v, fake in clean.fakes.items()}

    storm = make_rig(pg_empty, receivers=2, workers=3, **past)
    tripled = [item for item in history for _ in range(3)]
    random.Random(5).shuffle(tripled)
    sent = send_all(storm, tripled, threads=12)
    assert storm.wait_drained(timeout=180)
    report = storm.report(sent)
    assert report.problems() == [], report
    assert report.accepted == len({s.delivery for s in sent if s.status == 202})
    assert report.duplicates_answered >= 2 * len(history) - 0  # the repeats were recognised, not decided again
    final = {v: {t: (sorted(d["tags"]), d.get("priority")) for t, d in fake.tickets.items()}
             for v, fake in storm.fakes.items()}
    assert report.comments_posted > 0, (report, storm.store.counts(), storm.folder)  # the storm reached the vendors
    differing = {(v, t): {"storm": final[v].get(t), "clean": expected.get(v, {}).get(t)}
                 for v in final for t in {*final[v], *expected.get(v, {})}
                 if final[v].get(t) != expected.get(v, {}).get(t)}
    assert final == expected, (differing, storm.folder)  # names the tickets (the folder goes with tmp_path)
    with storm.store.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM outbox WHERE attempts > 1")).scalar() == 0


def test_a_duplicate_storm_on_sqlite_is_stored_once_each_through_a_threaded_receiver(make_rig, tmp_path):
    """Every delivery 3×, shuffled, from 12 connections at once, to a gunicorn gthread receiver on SQLite: the
    webhooks in flight share commits (slabridge.groupcommit) and each is still stored and acknowledged once."""
    rig = make_rig(f"sqlite:///{tmp_path}/storm.db", receivers=1, workers=1)
    history = rig.history(tickets=TICKETS // 3, events_per_ticket=3)
    tripled = [item for item in history for _ in range(3)]
    random.Random(9).shuffle(tripled)
    sent = send_all(rig, tripled, threads=12)
    assert rig.wait_drained(timeout=180), rig.store.counts()
    report = rig.report(sent)
    assert report.problems() == [], report
    assert report.accepted == len({s.delivery for s in sent if s.status == 202}) == len(history)
    assert report.duplicates_answered == 2 * len(history)
