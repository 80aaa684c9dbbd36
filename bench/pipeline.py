"""Benchmark: the pipeline end to end, webhook in the inbox → decided → written to a (loopback) vendor.

    python bench/pipeline.py [--events 3000] [--database sqlite|postgresql://...] [--workers 1] [--threads 2]
                             [--stored 100000 [--analysed]] [--vendor-latency-ms 100] [--send-concurrency 1]
                             [--py-spy PREFIX | --callgrind]

N signed webhooks over the three vendors and the example contracts are parsed and stored in the inbox
first (as the receiver would have) and held; then ``--workers`` ``slabridge worker`` processes start against
loopback fake vendors, and once they run the backlog is released in one commit and the clock runs until
every event is decided and every write-back received (start-up is not counted).
It prints events/s end to end and, from the workers' JSON log lines, the time per decision (decide and
commit, one transaction) and per write-back (the vendor round trip, retries included).
``--stored N`` first fills the database with the history of a store in use: N closed tickets' states and
N done events and writes (a year of a busy helpdesk is a few hundred thousand), and N/10 open tickets with
two pending timers each; with ``--analysed`` the database's statistics are then taken, before the backlog
arrives, so they say pending rows are rare (as after an outage). ``--vendor-latency-ms`` makes every fake vendor answer that much later, as a
helpdesk across the internet does; ``--send-concurrency`` sets the workers' setting of that name.
``--py-spy`` profiles each worker; ``--callgrind`` counts its instructions (see ``bench/instructions.py``).
"""

from __future__ import annotations

import sys
from pathlib import Path

# bench/calendar.py (a required name) would hide the standard library's `calendar`.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import re  # noqa: E402
import shutil  # noqa: E402
import signal  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from datetime import datetime, timezone  # noqa: E402

from slabridge.connectors import WebhookRequest  # noqa: E402
from slabridge.testing.cpu import cpu_seconds, machine_busy_seconds  # noqa: E402
from slabridge.testing.rig import VENDORS, DatabaseUnreachable, Rig, database_argument, empty_database  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=3000)
    parser.add_argument("--database", default="sqlite", type=database_argument,
                        help="sqlite, or a PostgreSQL URL (its tables are reset)")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--stored", type=int, default=0, help="closed tickets, done events and writes already stored")
    parser.add_argument("--analysed", action="store_true", help="analyse the tables after storing the history, "
                        "before the backlog arrives: the statistics of a drained queue, as after an outage")
    parser.add_argument("--vendor-latency-ms", type=float, default=0.0,
                        help="each fake vendor answers this much later (a helpdesk across the internet: 100-300)")
    parser.add_argument("--send-concurrency", type=int, default=None, help="the workers' send_concurrency setting")
    parser.add_argument("--py-spy", metavar="PREFIX", help="profile each worker with py-spy into PREFIX-<n>.txt "
                        "(collapsed stacks; needs `pip install py-spy`)")
    parser.add_argument("--callgrind", action="store_true", help="run each worker under valgrind's callgrind and "
                        "print the instructions it executed, start-up included (bench/instructions.py --pipeline "
                        "takes the difference of two sizes); its times are then meaningless")
    args = parser.parse_args()
    if args.events < 1 or args.workers < 1 or args.threads < 1 or args.stored < 0:
        parser.error("--events, --workers and --threads must be at least 1, --stored at least 0")
    if args.callgrind and (args.py_spy or shutil.which("valgrind") is None):
        parser.error("--callgrind needs valgrind (apt-get install valgrind), and not with --py-spy")
    spy = args.py_spy and (shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy")))
    if args.py_spy and not os.access(spy, os.X_OK):
        parser.error("--py-spy needs py-spy on PATH or beside this Python (pip install py-spy)")
    folder = Path(tempfile.mkdtemp(prefix="slabridge-pipeline-"))
    database = f"sqlite:///{folder}/pipeline.db" if args.database == "sqlite" else args.database
    try:
        empty_database(database)
    except DatabaseUnreachable as exc:
        parser.error(str(exc))
    rig = Rig(folder, database, ROOT / "examples" / "contracts", ROOT / "examples" / "customers.yaml",
              receivers=1, workers=0, worker_threads=args.threads, vendor_latency=args.vendor_latency_ms / 1000)
    rig.start()
    settings_lines = 'log_level = "INFO"\nlog_format = "json"' + (
        f"\nsend_concurrency = {args.send_concurrency}" if args.send_concurrency else "")
    config = (folder / "slabridge.toml").read_text().replace('log_level = "DEBUG"', settings_lines)
    (folder / "slabridge.toml").write_text(config)
    store_history(rig.store, args.stored)
    store_history(rig.store, args.stored // 10, prefix="open", running=True)  # a tenth as many still open
    if args.analysed:
        with rig.store.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("ANALYZE")
    history = rig.history(tickets=max(1, args.events // 3), events_per_ticket=3)[: args.events]
    now, settings = datetime.now(timezone.utc), _settings(folder)
    for vendor, _ticket, body in history:
        connector = rig.connectors[vendor]
        headers = connector.signed_headers(rig.secret, body, now)
        event = connector.parse(WebhookRequest(headers=headers, body=body, received_at=now), settings.vendor(vendor))
        rig.store.enqueue(event, by_content=True)
    rig.kill_receiver()
    queued = rig.store.counts()["inbox"].get("pending", 0)
    # The backlog is held until every worker has started (imports, plugins, contracts: not pipeline time),
    # then released at once, as a database coming back after an outage would find it.
    hold(rig, True)
    os.environ["PYTHONUNBUFFERED"] = "1"  # the worker's start-up line reaches its log at once
    command = [sys.executable, "-m", "slabridge", "worker", "--threads", str(args.threads)]
    if args.callgrind:
        os.environ["PYTHONHASHSEED"] = "0"  # the same dict and set orders, so the same instructions, every run
        command = ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", *command]
    workers = [rig._spawn(f"worker-{i}", command if not args.py_spy else [
        spy, "record", "--format", "raw", "--threads", "--rate", "200", "-o", f"{args.py_spy}-{i}.txt",
        "--", *command]) for i in range(args.workers)]
    wait_started(folder, args.workers, seconds=900 if args.callgrind else 120)  # ~50x slower under valgrind
    cpu_before = cpu_spent(workers)
    hold(rig, False)
    started = time.time()
    try:
        if not rig.wait_drained(timeout=1800, poll=0.02):  # the clock's resolution
            raise RuntimeError(f"not drained: {rig.store.counts()}")
        elapsed = rig.drained_at - started  # the first of its two clean looks
        cpu_after = cpu_spent(workers)
    finally:
        for process in workers:
            os.killpg(process.pid, signal.SIGINT if args.py_spy else signal.SIGTERM)  # py-spy writes on SIGINT
            process.wait()
        rig.stop()
    if args.callgrind:
        counted = [re.search(r"Collected : (\d+)", path.read_text(errors="replace"))
                   for path in folder.glob("worker-*.log")]
        if not all(counted):
            raise RuntimeError(f"a worker's callgrind summary is missing; see {folder}")
        print(f"worker instructions: {sum(int(found[1]) for found in counted)} for {queued} events, start-up and "
              "shutdown included")
    decide, send = [], []
    for path in folder.glob("worker-*.log"):
        for line in path.read_text().splitlines():
            if not line.startswith("{"):
                continue
            record = json.loads(line)
            if record["message"].startswith("decided"):
                decide.append(record["duration_ms"])
            elif record.get("action") and "duration_ms" in record:
                send.append(record["duration_ms"])
    writes = sum(len(fake.writes()) for fake in rig.fakes.values())
    reads = sum(len(fake.requests) for fake in rig.fakes.values()) - writes
    kind = "PostgreSQL" if database.startswith("postgresql") else "SQLite"
    print(f"{queued:,} webhooks in the inbox ({', '.join(VENDORS)}), {args.workers} `slabridge worker` process(es) "
          f"x {args.threads} thread(s), {kind}; vendors answer in {args.vendor_latency_ms:g} ms + their work"
          + (f"; send_concurrency {args.send_concurrency}" if args.send_concurrency else ""))
    print("| events | decisions (timers too) | writes received | seconds | events/s | decide+commit ms p50 / p99 "
          "| write-back ms p50 / p99 |")
    print("| ---: | ---: | ---: | ---: | ---: | --- | --- |")
    print(f"| {queued:,} | {len(decide):,} | {writes:,} | {elapsed:.1f} | {queued / elapsed:,.0f} | "
          f"{_p(decide, 50)} / {_p(decide, 99)} | {_p(send, 50)} / {_p(send, 99)} |")
    print(f"vendor requests: {writes:,} writes, {reads:,} reads (look-ups, the stamps and tag lists a write needs)")
    workers_ms, fakes_ms, server_ms, machine_ms = (1000 * (a - b) / queued for a, b in zip(cpu_after, cpu_before))
    print(f"CPU per event: workers {workers_ms:.2f} ms, the fake vendors (and this process's polling) {fakes_ms:.2f} ms"
          + (f", the PostgreSQL server {server_ms:.2f} ms" if kind == "PostgreSQL" else "")
          + f"; the whole machine busy {machine_ms:.2f} ms")
    return 0


def store_history(store, size: int, prefix: str = "closed", running: bool = False) -> None:
    """``size`` closed tickets (a stopped clock; ``running``: open ones, with two pending timers each) with a
    done event and a done write each, in bulk."""
    from slabridge.clocks import Cycle, MetricClock
    from slabridge.engine import TicketState
    from slabridge.models import TicketRef
    from slabridge.store import inbox, outbox, tickets, timers

    start = datetime(2025, 6, 2, 9, tzinfo=timezone.utc)
    finished = time.time() - 86_400  # inside the retention window: the worker keeps them (see bench/store.py)
    clock = MetricClock(metric="resolution", cycles=(Cycle(started_at=start, stopped_at=None if running else start),))
    for first in range(0, size, 5000):
        ids = [f"{prefix}-{n}" for n in range(first, min(size, first + 5000))]
        with store.engine.begin() as conn:
            conn.execute(tickets.insert(), [dict(
                vendor="zendesk", ticket_id=i, version=1, updated_at=start.timestamp(),
                **({"running": running} if "running" in tickets.c else {}),  # older checkouts, for comparisons
                state=TicketState(ticket=TicketRef(vendor="zendesk", id=i), clocks={"resolution": clock},
                                  deadlines={"resolution": {"due_at": start.isoformat()}}).dump()) for i in ids])
            conn.execute(inbox.insert(), [dict(vendor="zendesk", ticket_id=i, delivery_id=f"old-{i}", event={},
                                               received_at=finished, processed_at=finished, status="done",
                                               attempts=1, not_before=0.0)
                                          for i in ids])
            conn.execute(outbox.insert(), [dict(vendor="zendesk", ticket_id=i, delivery_id=f"old-{i}",
                                                created_at=finished, done_at=finished, status="done",
                                                action={"type": "add_tags", "tags": ["sla-p3"]},
                                                attempts=1, not_before=0.0) for i in ids])
            if running:  # a warning and a breach to come
                conn.execute(timers.insert(), [dict(vendor="zendesk", ticket_id=i, kind=kind, fire_at=4e9,
                                                    status="pending") for i in ids for kind in ("warn", "breach")])


def cpu_spent(workers) -> tuple[float, float, float, float]:
    """CPU seconds so far: the worker processes', this process's (the fake vendors), the PostgreSQL
    server's, and the whole machine's busy time."""
    return (sum(cpu_seconds(p.pid) for p in workers), time.process_time(), cpu_seconds(name="postgres"),
            machine_busy_seconds())


def hold(rig: Rig, held: bool) -> None:
    """Keep the inbox's pending events from being decided (``held``), or let them all go in one commit."""
    with rig.store.engine.begin() as conn:
        conn.exec_driver_sql(f"UPDATE inbox SET not_before = {1e12 if held else 0.0} WHERE status = 'pending'")


def wait_started(folder: Path, workers: int, seconds: float = 120) -> None:
    """Wait until each worker process has said it runs (its threads are polling by then)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        logs = [p.read_text(errors="replace") for p in folder.glob("worker-*.log")]
        if sum("slabridge worker:" in text for text in logs) >= workers:
            return
        time.sleep(0.05)
    raise RuntimeError(f"workers did not start; see {folder}")


def _settings(folder: Path):
    from slabridge import config

    os.environ["SLABRIDGE_CONFIG"] = str(folder / "slabridge.toml")
    return config.load()


def _p(values: list[float], q: int) -> str:
    return f"{statistics.quantiles(values, n=100)[q - 1]:.1f}" if len(values) > 1 else "-"


if __name__ == "__main__":
    sys.exit(main())
