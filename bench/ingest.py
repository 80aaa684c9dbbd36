"""Benchmark: webhook ingest, the real receiver against a bare Flask app, under the same gunicorn, in one run.

    python bench/ingest.py [--requests 4000] [--concurrency 16] [--database sqlite|postgresql://...] [--threads N]
                           [--no-flush]

Both apps are served by gunicorn with 2 *sync* workers on loopback (with ``--threads N``: 2 gthread
workers of N threads each, as the README's deployment recipe serves the receiver). The real receiver verifies each
Zendesk signature on the raw body, parses, de-duplicates and persists to the inbox, then answers 202;
the bare app answers 202 to the same requests without looking at them. One bounded load generator
(threads with keep-alive connections, pre-signed distinct deliveries, so none is a duplicate) sends
the same requests to both: first as fast as they are answered (req/s, p50, p99, ratio), then paced
at half the bare app's rate (p50 and p99 at that load). CPU per request (gunicorn's processes, the
PostgreSQL server's, the load generator's, the whole machine's; from /proc) says where the two cores went, which holds
steadier than req/s on a shared machine.

``--no-flush`` is an experiment, never a setting to deploy: the receiver's commits do not wait for the
disk (SQLite ``synchronous=NORMAL`` on its connections; PostgreSQL ``synchronous_commit = off`` on the
benchmark's database), so a 202 no longer means "survives a power cut". It measures the ceiling the
durable commit leaves: what the ratio would be if flushing cost nothing.
"""

from __future__ import annotations

import sys
from pathlib import Path

# bench/calendar.py (a required name) would hide the standard library's `calendar`.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import argparse  # noqa: E402
import http.client  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402
from datetime import datetime, timezone  # noqa: E402

from slabridge.plugins import Plugins  # noqa: E402
from slabridge.testing.cpu import cpu_seconds, machine_busy_seconds  # noqa: E402
from slabridge.testing.rig import (  # noqa: E402
    DatabaseUnreachable, database_argument, empty_database, free_port, postgres_engine)

BARE_APP = '''
from flask import Flask, jsonify, request

app = Flask("bare")


@app.post("/webhooks/<vendor>")
def receive(vendor):
    request.get_data()
    return jsonify(status="accepted"), 202
'''


def requests(count: int, secret: str) -> list[tuple[dict[str, str], bytes]]:
    """``count`` distinct signed Zendesk deliveries over many tickets."""
    connector = Plugins().connectors["zendesk"]
    now = datetime.now(timezone.utc)
    out = []
    for n in range(count):
        _, body = connector.sample_webhook(secret, str(100_000 + n % 2_000), now)
        document = json.loads(body)
        document["ticket"]["updated_at"] = f"2026-01-01T00:{n // 60 % 60:02d}:{n % 60:02d}Z"
        document["ticket"]["description"] += f" #{n}"
        body = json.dumps(document).encode()
        out.append((connector.signed_headers(secret, body, now), body))
    return out


# ``--no-flush`` on SQLite: a gunicorn configuration whose hook, in each worker before the app loads, makes
# every SQLite connection commit without waiting for the disk.
NO_FLUSH_CONFIG = '''
def post_fork(server, worker):
    import sqlite3

    import sqlalchemy as sa

    @sa.event.listens_for(sa.engine.Engine, "connect")
    def _no_flush(dbapi_connection, _record):
        if isinstance(dbapi_connection, sqlite3.Connection):
            dbapi_connection.execute("PRAGMA synchronous=NORMAL")
'''


def serve(folder: Path, target: str, env: dict[str, str], threads: int = 0,
          config: Path | None = None) -> tuple[subprocess.Popen, int]:
    port = free_port()
    workers = ["--worker-class", "gthread", "--threads", str(threads)] if threads else ["--worker-class", "sync"]
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "--workers", "2", *workers, "--bind", f"127.0.0.1:{port}",
         "--log-level", "warning", *(["--config", str(config)] if config else []), target],
        cwd=folder, env={**os.environ, **env}, stdout=subprocess.DEVNULL,
        stderr=open(folder / f"{port}.log", "w"), start_new_session=True)  # noqa: SIM115 - the process owns it
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            connection.request("GET", "/healthz")
            connection.getresponse().read()
            return process, port
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"gunicorn did not start {target}; see {folder}")


def load(port: int, work: list[tuple[dict[str, str], bytes]], concurrency: int,
         rate: float | None = None) -> dict[str, float]:
    """Send every request (at ``rate`` per second, or as fast as answered); return req/s and latencies."""
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    lock, index = threading.Lock(), iter(range(len(work)))
    start = time.perf_counter()

    def client() -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        while True:
            with lock:
                n = next(index, None)
            if n is None:
                return
            if rate:
                time.sleep(max(0.0, start + n / rate - time.perf_counter()))
            headers, body = work[n]
            sent = time.perf_counter()
            try:
                connection.request("POST", "/webhooks/zendesk", body=body, headers=headers)
                response = connection.getresponse()
                response.read()
                status = response.status
            except (OSError, http.client.HTTPException):
                connection.close()
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                status = 0
            with lock:
                latencies.append(time.perf_counter() - sent)
                statuses[status] = statuses.get(status, 0) + 1

    threads = [threading.Thread(target=client) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - start
    quantiles = statistics.quantiles(latencies, n=100)
    return {"rps": len(work) / elapsed, "p50": quantiles[49] * 1000, "p99": quantiles[98] * 1000,
            "statuses": statuses}


def commits_flushed(url: str, flushed: bool) -> None:
    """PostgreSQL: whether the benchmark's database makes a commit wait for its WAL flush (the default) or
    not (``--no-flush``); set at every run, for the sessions that follow, so a run without the flag flushes
    whatever an earlier run left."""
    engine = postgres_engine(url)
    with engine.begin() as conn:
        name = conn.exec_driver_sql("SELECT current_database()").scalar()
        setting = "RESET synchronous_commit" if flushed else "SET synchronous_commit = off"
        conn.exec_driver_sql(f'ALTER DATABASE "{name}" {setting}')
    engine.dispose()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=4000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--database", default="sqlite", type=database_argument,
                        help="sqlite, or a PostgreSQL URL (its tables are reset)")
    parser.add_argument("--threads", type=int, default=0, help="gthread workers of this many threads (default: sync)")
    parser.add_argument("--no-flush", action="store_true", help="an experiment: commits do not wait for the disk "
                        "(a 202 would not survive a power cut), to measure what durability costs")
    args = parser.parse_args()
    if args.requests < 4 or args.concurrency < 1 or args.threads < 0:
        parser.error("--requests must be at least 4 (half are paced), --concurrency at least 1 "
                     "and --threads at least 0")
    folder = Path(tempfile.mkdtemp(prefix="slabridge-ingest-"))
    database = f"sqlite:///{folder}/ingest.db" if args.database == "sqlite" else args.database
    try:
        empty_database(database)
    except DatabaseUnreachable as exc:
        parser.error(str(exc))
    no_flush = None
    if database.startswith("postgresql"):
        commits_flushed(database, not args.no_flush)
    elif args.no_flush:
        no_flush = folder / "no_flush.py"
        no_flush.write_text(NO_FLUSH_CONFIG)
    secret = uuid.uuid4().hex
    (folder / "slabridge.toml").write_text(
        f'database_url = "{database}"\nlog_level = "WARNING"\n[vendors.zendesk]\nenabled = true\n'
        'webhook_secrets_env = ["BENCH_ZENDESK_SECRET"]\nbase_url = "http://127.0.0.1:9"\n')
    (folder / "bare.py").write_text(BARE_APP)
    env = {"SLABRIDGE_CONFIG": str(folder / "slabridge.toml"), "BENCH_ZENDESK_SECRET": secret,
           # bare.py's folder, then the caller's PYTHONPATH (a worktree's code, to compare commits)
           "PYTHONPATH": os.pathsep.join(filter(None, [str(folder), os.environ.get("PYTHONPATH")]))}
    warm = requests(200, secret)
    real, real_port = serve(folder, "slabridge_webhooks:create_app()", env, args.threads, no_flush)
    bare, bare_port = serve(folder, "bare:app", env, args.threads)
    try:
        load(real_port, warm, args.concurrency)
        load(bare_port, warm, args.concurrency)
        full = {}
        for name, process, port in (("bare Flask", bare, bare_port), ("receiver", real, real_port)):
            work = requests(args.requests, secret)
            before = (cpu_seconds(process.pid), cpu_seconds(name="postgres"), time.process_time(),
                      machine_busy_seconds())
            full[name] = load(port, work, args.concurrency)
            after = (cpu_seconds(process.pid), cpu_seconds(name="postgres"), time.process_time(),
                     machine_busy_seconds())
            full[name]["cpu"] = [(a - b) / args.requests * 1e6 for a, b in zip(after, before)]
        half = full["bare Flask"]["rps"] / 2
        paced = {"bare Flask": load(bare_port, requests(args.requests // 2, secret), args.concurrency, rate=half),
                 "receiver": load(real_port, requests(args.requests // 2, secret), args.concurrency, rate=half)}
    finally:
        for process in (real, bare):
            os.killpg(process.pid, 15)
            process.wait()
    kind = "PostgreSQL" if database.startswith("postgresql") else "SQLite"
    workers = f"2 gthread workers x {args.threads} threads" if args.threads else "2 sync workers"
    flushed = ", commits NOT flushed (--no-flush: an experiment)" if args.no_flush else ""
    print(f"{args.requests:,} signed Zendesk webhooks, {args.concurrency} connections, gunicorn {workers}, {kind}"
          f"{flushed}")
    print("| app | req/s | p50 ms | p99 ms | statuses | paced at half the bare rate: p50 ms | p99 ms |")
    print("| --- | ---: | ---: | ---: | --- | ---: | ---: |")
    for name in ("bare Flask", "receiver"):
        f, p = full[name], paced[name]
        print(f"| {name} | {f['rps']:,.0f} | {f['p50']:.1f} | {f['p99']:.1f} | {f['statuses']} | {p['p50']:.1f} | "
              f"{p['p99']:.1f} |")
    print(f"ratio receiver / bare Flask: {full['receiver']['rps'] / full['bare Flask']['rps']:.2f} "
          f"(paced at {half:,.0f} req/s)")
    for name in ("bare Flask", "receiver"):
        served, database, generator, machine = full[name]["cpu"]
        server = f", PostgreSQL server {database:.0f} µs" if kind == "PostgreSQL" else ""
        print(f"CPU per request, {name}: gunicorn {served:.0f} µs{server}, load generator {generator:.0f} µs; "
              f"the whole machine busy {machine:.0f} µs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
