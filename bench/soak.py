"""Soak: the reliability suite's faults for minutes, at a steady rate, on PostgreSQL.

    python bench/soak.py --minutes 10 --rate 20 [--database postgresql://postgres@127.0.0.1:5432/test]

Real processes (slabridge.testing.rig): the receiver under gunicorn (2 workers), 2 ``slabridge
worker`` processes, loopback fake vendors. While signed webhooks arrive at ``--rate`` per second
(one in ten sent twice), the receiver and the workers are killed with SIGKILL and restarted at
random, and a vendor has an outage now and then (503s, then 429 with Retry-After). At the end the
backlog drains and it prints what was accepted, decided, delivered, doubled and lost.
"""

from __future__ import annotations

import sys
from pathlib import Path

# bench/calendar.py (a required name) would hide the standard library's `calendar`.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import argparse  # noqa: E402
import random  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402
from concurrent.futures import ThreadPoolExecutor  # noqa: E402

import httpx  # noqa: E402
import sqlalchemy as sa  # noqa: E402

from slabridge.testing.rig import VENDORS, DatabaseUnreachable, Rig, postgres_argument, postgres_engine  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def fresh_database(admin_url: str) -> str:
    engine = postgres_engine(admin_url, isolation_level="AUTOCOMMIT")
    name = f"slabridge_soak_{uuid.uuid4().hex[:8]}"
    try:
        with engine.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    except sa.exc.OperationalError as exc:
        raise DatabaseUnreachable(admin_url, exc) from None
    finally:
        engine.dispose()
    return sa.engine.make_url(admin_url).set(database=name).render_as_string(hide_password=False)


def faults(rig: Rig, stop: threading.Event, counts: dict, rng: random.Random) -> None:
    while not stop.wait(rng.uniform(5, 15)):
        roll = rng.random()
        if roll < 0.4:
            rig.kill_receiver()
            rig.start_receiver()
            counts["receiver kills"] += 1
        elif roll < 0.8:
            index = rng.randrange(rig.worker_count)
            rig.kill_worker(index)
            time.sleep(rng.uniform(0, 2))
            rig.start_worker(index)
            counts["worker kills"] += 1
        else:
            fake = rig.fakes[rng.choice(VENDORS)]
            fake.outage(503, seconds=8)
            time.sleep(8)
            fake.outage(429, seconds=4, headers={"Retry-After": "4"})
            counts["vendor outages"] += 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--rate", type=float, default=20.0, help="webhooks per second")
    parser.add_argument("--database", default="postgresql://postgres@127.0.0.1:5432/test", type=postgres_argument,
                        help="a PostgreSQL server to create a fresh database on")
    args = parser.parse_args()
    rng = random.Random(3)
    folder = Path(tempfile.mkdtemp(prefix="slabridge-soak-"))
    try:
        database = fresh_database(args.database)
    except DatabaseUnreachable as exc:
        parser.error(str(exc))
    rig = Rig(folder, database, ROOT / "examples" / "contracts",
              ROOT / "examples" / "customers.yaml", receivers=2, workers=2).start()
    total = int(args.minutes * 60 * args.rate)
    history = rig.history(tickets=max(1, total // 3), events_per_ticket=3)[:total]
    counts = {"receiver kills": 0, "worker kills": 0, "vendor outages": 0}
    stop = threading.Event()
    chaos = threading.Thread(target=faults, args=(rig, stop, counts, rng))
    start = time.monotonic()
    sent = []
    try:
        chaos.start()
        with httpx.Client(timeout=10) as http, ThreadPoolExecutor(16) as pool:
            def paced(numbered):
                index, item = numbered
                time.sleep(max(0.0, start + index / args.rate - time.monotonic()))
                first = rig.send(*item, http=http)
                return [first, rig.send(*item, http=http)] if rng.random() < 0.1 else [first]

            for answers in pool.map(paced, enumerate(history)):
                sent += answers
        stop.set()
        chaos.join()
        for index, process in enumerate(rig.workers):
            if process.poll() is not None:
                rig.start_worker(index)
        drained = rig.wait_drained(timeout=600)
        report = rig.report(sent)
    finally:
        stop.set()
        rig.stop()
    elapsed = time.monotonic() - start
    delivered = sum(1 for fake in rig.fakes.values() for r in fake.writes() if 200 <= r.status < 300)
    print(f"soak: {args.minutes:g} min at {args.rate:g}/s on PostgreSQL; {elapsed:.0f} s with the drain; "
          f"drained: {drained}; faults: {counts}")
    print("| sent | accepted | duplicates answered | decided | decided twice | writes delivered | "
          "comments posted | posted twice | lost (accepted, not decided) | order violations | decisions that raised | "
          "PHI/traceback lines |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    print(f"| {len(sent):,} | {report.accepted:,} | {report.duplicates_answered:,} | {report.decided:,} | "
          f"{report.decided_twice} | {delivered:,} | {report.comments_posted:,} | {report.comments_posted_twice} | "
          f"{report.undecided} | {report.order_violations} | {len(report.failed_events)} | "
          f"{len(report.phi_in_logs) + len(report.tracebacks)} |")
    for problem in report.problems():
        print(f"problem: {problem}")
    print(f"logs kept in {folder}")


if __name__ == "__main__":
    main()
