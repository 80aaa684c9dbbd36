"""Benchmark: events per second through the full rules in dry run (what `slabridge replay` does).

    python bench/replay.py [--events 100000] [--seed 3] [--jobs 1 2] [--repeat 3]

Generates a realistic mix over the five seed contracts: tickets created by entitled and
non-entitled requesters in every helpdesk, customer and agent comments (some automated),
status changes and text that triggers reclassification, feature requests and PHI, spread
over two months; durable timers fire between events as in a real replay.

A second table runs the same events with every rule phase answering a constant
verdict (one reason each, one deadline): what the engine, pluggy, the models and
the JSON lines cost per decision before any contract logic.
"""

from __future__ import annotations

import sys
from pathlib import Path

# bench/calendar.py (a required name) would hide the standard library's `calendar`.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import argparse  # noqa: E402
import random  # noqa: E402
import time  # noqa: E402
import resource  # noqa: E402
from datetime import timedelta  # noqa: E402

from slabridge import hookimpl  # noqa: E402
from slabridge.config import Settings, VendorSettings  # noqa: E402
from slabridge.directory import load  # noqa: E402
from slabridge.models import Reason  # noqa: E402
from slabridge.plugins import Plugins  # noqa: E402
from slabridge.simulation import replay  # noqa: E402
from slabridge.testing.history import PRIORITIES, generate  # noqa: E402
from slabridge.verdicts import Classification, Deadline, Entitlement, Escalation  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
class ConstantRules:
    """Every phase answers at once with a fixed verdict: the framework's own cost per decision."""

    @hookimpl(tryfirst=True)
    def slabridge_resolve_customer(self):
        return None

    @hookimpl(tryfirst=True)
    def slabridge_entitlement(self):
        return Entitlement(entitled=True, plan="standard", reasons=(Reason(rule="constant", text="entitled"),))

    @hookimpl(tryfirst=True)
    def slabridge_classify(self):
        return Classification(severity="P3", reasons=(Reason(rule="constant", text="P3"),))

    @hookimpl(tryfirst=True)
    def slabridge_deadlines(self, event):
        due = event.created_at + timedelta(hours=8)
        return [Deadline(metric="response", due_at=due, warn_at=due - timedelta(hours=2),
                         reasons=(Reason(rule="constant", text="8h"),))]

    @hookimpl(tryfirst=True)
    def slabridge_escalations(self):
        return [Escalation(level="status", reasons=(Reason(rule="constant", text="none"),))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--jobs", type=int, nargs="*", default=[1, 2])
    parser.add_argument("--repeat", type=int, default=1, help="rounds; the fastest of each configuration is shown")
    args = parser.parse_args()
    if args.repeat < 1 or args.events < 1 or any(jobs < 1 for jobs in args.jobs) or not args.jobs:
        parser.error("--events, --repeat and each of --jobs must be at least 1")
    events = list(enumerate(generate(args.events, random.Random(args.seed)), start=1))
    directory, problems = load(ROOT / "examples" / "contracts", ROOT / "examples" / "customers.yaml")
    assert not problems, problems
    settings = Settings(vendors={v: VendorSettings(enabled=True) for v in PRIORITIES})
    constant = Plugins(settings, extra=(ConstantRules(),))
    for name in ("entitlement", "severity", "sla", "escalation"):
        constant.pm.unregister(name=f"builtin.{name}")
    runs = [(label, plugins, jobs) for label, plugins, jobs_list in
            (("contracts", Plugins(settings), args.jobs), ("constant", constant, [1])) for jobs in jobs_list]
    best: dict[int, float] = {}
    outputs: dict[int, list[str]] = {}
    for _ in range(args.repeat):  # rounds interleave the configurations; the fastest of each counts
        for index, (label, plugins, jobs) in enumerate(runs):
            started = time.perf_counter()
            lines: list[str] = []
            replay(events, plugins, directory, jobs, emit=lines.append)
            best[index] = min(best.get(index, float("inf")), time.perf_counter() - started)
            outputs.setdefault(index, lines)
    peak = max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
    print(f"fastest of {args.repeat} round(s); peak RSS {peak / 2**10:.0f} MiB")
    print("| rules | jobs | events | decisions (incl. timers) | seconds | events/s | core-µs per decision | output |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
    for index, (label, plugins, jobs) in enumerate(runs):
        lines, elapsed = outputs[index], best[index]
        first = next(i for i, run in enumerate(runs) if run[0] == label)
        same = "" if first == index else ("same as 1 job" if lines == outputs[first] else "DIFFERENT")
        print(f"| {label} | {jobs} | {len(events):,} | {len(lines):,} | {elapsed:.1f} | "
              f"{len(events) / elapsed:,.0f} | {elapsed / len(lines) * 1e6 * jobs:,.0f} | {same} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
