"""Benchmark: the console's SLA board over many open tickets (10,000 should render in under a second).

    python bench/console.py [--tickets 10000] [--repeat 5]

The real worker decides a realistic history over the example contracts into an SQLite database
(``slabridge.testing.history``); the states of its open tickets are then copied under new ids until
``--tickets`` tickets are open, as in a busy helpdesk. It times, fastest of ``--repeat``: building the
board alone (all tickets, sorted worst first), and a signed-in ``GET /console/`` through the real
Flask app (the board, page 1 of 50 rows, rendered), all tickets and filtered to one customer.
"""

from __future__ import annotations

import sys
from pathlib import Path

# bench/calendar.py (a required name) would hide the standard library's `calendar`.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import argparse  # noqa: E402
import os  # noqa: E402
import random  # noqa: E402
import re  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from datetime import datetime, timedelta, timezone  # noqa: E402

from slabridge.board import board  # noqa: E402
from slabridge.config import Settings  # noqa: E402
from slabridge.directory import load  # noqa: E402
from slabridge.plugins import Plugins  # noqa: E402
from slabridge.store import Store, tickets  # noqa: E402
from slabridge.testing.history import generate, record  # noqa: E402
from slabridge_webhooks import create_app  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def fastest(repeat: int, work) -> float:
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        work()
        best = min(best, time.perf_counter() - started)
    return best


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tickets", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    folder = tempfile.mkdtemp(prefix="slabridge-console-bench-")
    url = f"sqlite:///{folder}/console.db"
    settings = Settings(database_url=url, contracts_dir=str(ROOT / "examples" / "contracts"),
                        customers_file=str(ROOT / "examples" / "customers.yaml"))
    store = Store(url)
    store.upgrade()
    directory, _ = load(settings.contracts_dir, settings.customers_file)
    now = datetime.now(timezone.utc)
    record(store, Plugins(settings), directory, generate(1500, random.Random(5), start=now - timedelta(hours=8)),
           until=now, send=False)
    documents = [state for _, state, _ in store.ticket_state_documents()]
    open_ids = {(r.vendor, r.ticket_id) for r in board(documents, directory, now)}
    seeds = [s for s in documents if (s["ticket"]["vendor"], s["ticket"]["id"]) in open_ids]
    rng = random.Random(5)
    with store.engine.begin() as conn:
        for n in range(len(open_ids), args.tickets):  # last updated at some time over the past eight hours
            state = dict(seeds[n % len(seeds)])
            ticket = {**state["ticket"], "id": f"{state['ticket']['id']}-{n}"}
            conn.execute(tickets.insert().values(vendor=ticket["vendor"], ticket_id=ticket["id"], version=1,
                                                 state={**state, "ticket": ticket},
                                                 updated_at=now.timestamp() - rng.uniform(0, 8 * 3600)))
    states = [state for _, state, _ in store.ticket_state_documents()]
    open_rows = board(states, directory, datetime.now(timezone.utc))
    read = fastest(args.repeat, store.ticket_state_documents)
    build = fastest(args.repeat, lambda: board(states, directory, datetime.now(timezone.utc)))

    os.environ[settings.admin_token_env] = "bench-token"
    client = create_app(settings, Plugins(settings), store).test_client()
    csrf = re.search(r'name="csrf" value="([^"]+)"', client.get("/console/sign-in").get_data(as_text=True)).group(1)
    assert client.post("/console/sign-in", data={"token": "bench-token", "csrf": csrf}).status_code == 303
    customer = open_rows[0].customer

    def page(path: str):
        answer = client.get(path)
        assert answer.status_code == 200, answer.status_code

    first = fastest(1, lambda: page("/console/"))  # reads every state
    everything = fastest(args.repeat, lambda: page("/console/"))  # reads what changed since
    filtered = fastest(args.repeat, lambda: page(f"/console/?customer={customer}"))
    print(f"{len(states):,} tickets, {len(open_rows):,} open; fastest of {args.repeat}")
    print("| measure | seconds |\n| --- | ---: |")
    print(f"| read every ticket state ({len(states):,}) from the database | {read:.3f} |")
    print(f"| board built ({sum(len(r.metrics) for r in open_rows):,} running metrics, time left on each "
          f"calendar, sorted) | {build:.3f} |")
    print(f"| GET /console/, first (reads every state, page 1 rendered) | {first:.3f} |")
    print(f"| GET /console/, refreshed (reads what changed since) | {everything:.3f} |")
    print(f"| GET /console/?customer={customer} | {filtered:.3f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
