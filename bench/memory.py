"""Benchmark: peak memory of `slabridge serve` after N webhooks and of `slabridge replay` over M events.

    python bench/memory.py [--webhooks 10000] [--events 100000]

`serve` runs as a user would start it (waitress, in-process workers, SQLite) against the example
contracts, writing back to loopback fake vendors; N signed webhooks over the three vendors are posted
and decided, and its resident set is read from /proc once everything is written back (VmRSS now,
VmHWM at its peak). `replay` runs with one job over M generated canonical events in a file, its
output to /dev/null; its peak resident set is its ``ru_maxrss``, read by a small launcher process
(forked from this one, it would count the generated events this process holds).
"""

from __future__ import annotations

import sys
from pathlib import Path

# bench/calendar.py (a required name) would hide the standard library's `calendar`.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import argparse  # noqa: E402
import os  # noqa: E402
import random  # noqa: E402
import signal  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from concurrent.futures import ThreadPoolExecutor  # noqa: E402

import httpx  # noqa: E402

from slabridge.testing.history import generate  # noqa: E402
from slabridge.testing.rig import Rig, free_port, wait_ready  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--webhooks", type=int, default=10_000)
    parser.add_argument("--events", type=int, default=100_000)
    args = parser.parse_args()
    replay_peak, replay_seconds = replay_rss(args.events)
    serve_now, serve_peak, seconds = serve_rss(args.webhooks)
    print("| process | load | seconds | RSS at the end | peak RSS |")
    print("| --- | --- | ---: | ---: | ---: |")
    print(f"| `slabridge serve` (SQLite, in-process worker) | {args.webhooks:,} webhooks, decided and written back "
          f"| {seconds:.0f} | {serve_now:.0f} MiB | {serve_peak:.0f} MiB |")
    print(f"| `slabridge replay --jobs 1` | {args.events:,} events | {replay_seconds:.0f} | - "
          f"| {replay_peak:.0f} MiB |")
    return 0


def serve_rss(webhooks: int) -> tuple[float, float, float]:
    """(RSS now, peak RSS) in MiB of `slabridge serve` once ``webhooks`` webhooks are decided and written."""
    folder = Path(tempfile.mkdtemp(prefix="slabridge-memory-"))
    rig = Rig(folder, f"sqlite:///{folder}/memory.db", ROOT / "examples" / "contracts",
              ROOT / "examples" / "customers.yaml", receivers=1, workers=0)
    rig.start()
    rig.kill_receiver()  # `serve` replaces the gunicorn receiver
    rig.port = free_port()
    serve = rig._spawn("serve", [sys.executable, "-m", "slabridge", "serve", "--port", str(rig.port)])
    started = time.monotonic()
    try:
        wait_ready(rig.url, "`slabridge serve` did not start")
        history = rig.history(tickets=max(1, webhooks // 3), events_per_ticket=3)[:webhooks]
        with httpx.Client(timeout=30) as http, ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda item: rig.send(*item, http=http), history))
        if not rig.wait_drained(timeout=1800):
            raise RuntimeError(f"not drained: {rig.store.counts()}")
        seconds = time.monotonic() - started
        status = dict(line.split(":", 1) for line in Path(f"/proc/{serve.pid}/status").read_text().splitlines())
        now, peak = (int(status[k].split()[0]) / 1024 for k in ("VmRSS", "VmHWM"))
    finally:
        os.killpg(serve.pid, signal.SIGTERM)
        serve.wait()
        rig.stop()
    return now, peak, seconds


def replay_rss(events: int) -> tuple[float, float]:
    """Peak RSS in MiB of `slabridge replay --jobs 1` over ``events`` canonical events, and its seconds."""
    folder = Path(tempfile.mkdtemp(prefix="slabridge-memory-"))
    source = folder / "events.jsonl"
    with source.open("w") as out:
        for event in generate(events, random.Random(3)):
            out.write(event.model_dump_json() + "\n")
    started = time.monotonic()
    replay = [sys.executable, "-m", "slabridge", "replay", str(source), "--jobs", "1", "--contracts",
              str(ROOT / "examples" / "contracts"), "--customers", str(ROOT / "examples" / "customers.yaml")]
    # A child's ru_maxrss counts the pages it shared with its parent between fork and exec: forked from
    # this process, which generated the events, it would report this process's size. A small launcher
    # forks it instead and reports the peak of the replay alone.
    launcher = ("import resource, subprocess, sys; subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, "
                "stderr=subprocess.DEVNULL, check=True); print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")
    peak_kib = int(subprocess.run([sys.executable, "-c", launcher, *replay], capture_output=True, text=True,
                                  check=True, cwd=folder).stdout)
    return peak_kib / 1024, time.monotonic() - started


if __name__ == "__main__":
    sys.exit(main())
