"""Benchmark: instructions per replayed event, counted by valgrind, for this checkout and others.

    python bench/instructions.py [OTHER_CHECKOUT ...] [--events 2000] [--seed 3] [--rules constant]
    python bench/instructions.py [OTHER_CHECKOUT ...] --pipeline [--events 800]

On this shared machine wall-clock ratios swing by ±10 % from pair to pair, which hides a change of
1–3 %. Callgrind counts the instructions the interpreter executes: the same to a few per million on
every run, whatever else the machine is doing. Each checkout replays the same generated events (full
contract rules, or with ``--rules constant`` its own bench/replay.py's constant rules: the framework
alone; one job) under callgrind, and once more without the replay (imports, generating the events,
loading the contracts); the difference over the number of events is printed. Instructions
are not time (cache misses barely count, and with a few thousand events the garbage collector's full
passes do not happen), so confirm a change with ``bench/compare.py``; but a change that adds
instructions rarely saves time. Each checkout's own ``slabridge`` package is replayed, with
entry-point plugins left out. Needs valgrind (Debian's package); a run of 2,000 events takes about
a minute and a half, checkouts two at a time.

With ``--pipeline`` it counts the worker instead: this checkout's ``bench/pipeline.py --callgrind`` (SQLite,
one worker thread, loopback fake vendors outside valgrind) runs on each checkout's code with a quarter of
``--events`` and with all of them, and the difference of the worker's instructions over the difference of
the events is printed: deciding, committing, claiming, sending and logging one event, start-up left out.
At 800 events (the default) two runs of one code agree to ~0.03 %; at 400 to ~1 % (a worker polls a little
more or less while the backlog is held and after it drains). 800 events take about two minutes a run.
"""

from __future__ import annotations

import sys
from pathlib import Path

# bench/calendar.py (a required name) would hide the standard library's `calendar`.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import argparse  # noqa: E402
import os  # noqa: E402
import re  # noqa: E402
import runpy  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
from concurrent.futures import ThreadPoolExecutor  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
REPLAY = """
import os, random, sys
from pathlib import Path
from slabridge.config import Settings, VendorSettings
from slabridge.directory import load
from slabridge.plugins import Plugins
from slabridge.simulation import replay
from slabridge.testing.history import PRIORITIES, generate
root = Path(sys.argv[1])
events = list(enumerate(generate(int(sys.argv[2]), random.Random(int(sys.argv[3]))), start=1))
directory, problems = load(root / "examples" / "contracts", root / "examples" / "customers.yaml")
assert not problems, problems
plugins = Plugins(Settings(vendors={v: VendorSettings(enabled=True) for v in PRIORITIES}))
if sys.argv[5] == "constant":  # the checkout's own constant rules (bench/replay.py): the framework alone
    import importlib.util
    spec = importlib.util.spec_from_file_location("bench_replay", root / "bench" / "replay.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    plugins = Plugins(plugins.settings, extra=(bench.ConstantRules(),))
    for name in ("entitlement", "severity", "sla", "escalation"):
        plugins.pm.unregister(name=f"builtin.{name}")
if sys.argv[4] == "replay":
    replay(events, plugins, directory, emit=lambda line: None)
"""
COLLECTED = re.compile(r"Collected : (\d+)")


def count(checkout: Path, events: int, seed: int, part: str, rules: str) -> int:
    """Instructions callgrind counted for one run of REPLAY in ``checkout`` (``part``: replay or setup)."""
    env = {**os.environ, "PYTHONHASHSEED": "0", "SLABRIDGE_PLUGINS_ALLOW": "none", "PYTHONPATH": str(checkout)}
    done = subprocess.run(
        ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", sys.executable, "-c", REPLAY,
         str(checkout), str(events), str(seed), part, rules], env=env, cwd=checkout, capture_output=True, text=True,
        check=False)
    found = COLLECTED.search(done.stderr)
    if done.returncode != 0 or not found:
        raise SystemExit(f"{checkout}: the {part} run failed (exit {done.returncode}):\n{done.stderr[-2000:]}")
    return int(found[1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("others", nargs="*", type=Path, help="other checkouts (git worktree add /tmp/x <commit>)")
    parser.add_argument("--events", type=int, default=None, help="events replayed (default 2000)")
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--rules", choices=("contracts", "constant"), default="contracts",
                        help="the example contracts, or bench/replay.py's constant rules (the framework's own cost)")
    parser.add_argument("--pipeline", action="store_true", help="count the worker's instructions per event "
                        "(inbox to vendor write) instead of a replay's; --events then defaults to 800")
    args = parser.parse_args()
    if args.events is None:
        args.events = 800 if args.pipeline else 2000
    if shutil.which("valgrind") is None:
        parser.error("valgrind is not installed (apt-get install valgrind)")
    if args.events < (8 if args.pipeline else 1):
        parser.error("--events must be at least 1 (8 with --pipeline)")
    checkouts = [ROOT, *(p.resolve() for p in args.others)]
    for checkout in checkouts:
        if not (checkout / "slabridge" / "simulation.py").is_file():
            parser.error(f"{checkout} is not a slabridge checkout")
    if args.pipeline:
        return pipeline(checkouts, args.events)
    runs = [(c, part) for c in checkouts for part in ("replay", "setup")]
    with ThreadPoolExecutor(max_workers=2) as pool:
        counted = dict(zip(runs, pool.map(lambda run: count(run[0], args.events, args.seed, run[1], args.rules), runs)))
    per_event = {c: (counted[c, "replay"] - counted[c, "setup"]) / args.events for c in checkouts}
    rules = "full contract rules" if args.rules == "contracts" else "constant rules"
    return show(f"{args.events:,} events (seed {args.seed}), {rules}, one job", per_event)


def show(title: str, per_event: dict[Path, float]) -> int:
    """Print each checkout's instructions per event, and its ratio to this checkout's."""
    print(f"{title}; instructions per event")
    print("| checkout | instructions per event | ÷ this checkout |")
    print("| --- | ---: | ---: |")
    for checkout, count in per_event.items():
        print(f"| {checkout} | {count:,.0f} | {count / per_event[ROOT]:.3f} |")
    return 0


def pipeline(checkouts: list[Path], events: int) -> int:
    """Print the worker's instructions per event for each checkout (see the module's docstring)."""
    compare = runpy.run_path(str(ROOT / "bench" / "compare.py"), run_name="compare")
    sizes = (events // 4, events)
    links = Path(tempfile.mkdtemp(prefix="slabridge-instructions-"))
    try:
        paths = {c: compare["python_path"](c, links / str(n)) for n, c in enumerate(checkouts)}
        runs = [(c, size) for c in checkouts for size in sizes]
        with ThreadPoolExecutor(max_workers=2) as pool:
            counted = dict(zip(runs, pool.map(lambda run: count_worker(run[0], paths[run[0]], run[1]), runs)))
    finally:
        shutil.rmtree(links, ignore_errors=True)
    per_event = {}
    for checkout in checkouts:
        (few, small), (many, large) = (counted[checkout, size] for size in sizes)
        per_event[checkout] = (large - small) / (many - few)
    return show(f"the worker, {sizes[0]:,} and {sizes[1]:,} events (SQLite, one thread)", per_event)


WORKER_COUNT = re.compile(r"^worker instructions: (\d+) for (\d+) events", re.M)


def count_worker(checkout: Path, python_path: str, events: int) -> tuple[int, int]:
    """(events in the inbox, the worker's instructions) of one ``bench/pipeline.py --callgrind`` run on
    ``checkout``'s code."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [python_path, os.environ.get("PYTHONPATH")]))}
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "compare.py"), "--run", str(checkout),
                           str(ROOT / "bench" / "pipeline.py"), "--events", str(events), "--threads", "1",
                           "--callgrind"], env=env, capture_output=True, text=True, check=False)
    found = WORKER_COUNT.search(done.stdout)
    if done.returncode != 0 or not found:
        raise SystemExit(f"{checkout}: the pipeline run of {events} events failed (exit {done.returncode}):\n"
                         f"{done.stderr[-2000:]}")
    return int(found[2]), int(found[1])


if __name__ == "__main__":
    sys.exit(main())
