"""Benchmark two checkouts against each other: `bench/replay.py` of each, in pairs, one right after the other.

    python bench/compare.py OTHER_CHECKOUT [--pairs 6] [--events 20000]

This machine's speed swings by up to 2x from minute to minute, so numbers from different runs do not
compare; a ratio within a pair does. Each pair runs OTHER_CHECKOUT's replay benchmark, then this
checkout's (each process loads its own checkout's ``slabridge``, whatever is installed), one job, full
contract rules and constant rules. It prints every pair, then the median of the pairs' ratios and the
ratio of the fastest runs. `git worktree add /tmp/before <commit>` makes an OTHER_CHECKOUT.
"""

from __future__ import annotations

import sys
from pathlib import Path

# bench/calendar.py (a required name) would hide the standard library's `calendar`.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import argparse  # noqa: E402
import importlib.util  # noqa: E402
import re  # noqa: E402
import runpy  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
ROW = re.compile(r"^\| (contracts|constant) \| 1 \| [\d,]+ \| [\d,]+ \| [\d.]+ \| ([\d,]+) \| ([\d,]+) \|")


def main() -> int:
    if sys.argv[1:2] == ["--run"]:  # one side of a pair, in its own process
        return run(Path(sys.argv[2]), sys.argv[3:])
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("other", type=Path, help="the checkout to compare with (a git worktree)")
    parser.add_argument("--pairs", type=int, default=6)
    parser.add_argument("--events", type=int, default=20_000)
    args = parser.parse_args()
    if args.pairs < 1 or args.events < 1:
        parser.error("--pairs and --events must be at least 1")
    if not (args.other / "slabridge" / "__init__.py").is_file() or not (args.other / "bench" / "replay.py").is_file():
        parser.error(f"{args.other} is not a slabridge checkout with bench/replay.py")
    pairs = []
    print("| pair | other: events/s, constant µs | this: events/s, constant µs | ratio events/s | ratio µs |")
    print("| ---: | --- | --- | ---: | ---: |")
    for index in range(1, args.pairs + 1):
        try:
            other, this = (measure(root, args.events) for root in (args.other.resolve(), ROOT))
        except RuntimeError as problem:
            print(f"bench/compare.py: {problem}", file=sys.stderr)
            return 1
        pairs.append((other, this))
        print(f"| {index} | {other[0]:,.0f}, {other[1]:,.0f} | {this[0]:,.0f}, {this[1]:,.0f} | "
              f"{this[0] / other[0]:.2f} | {this[1] / other[1]:.2f} |")
    speed = statistics.median(t[0] / o[0] for o, t in pairs)
    cost = statistics.median(t[1] / o[1] for o, t in pairs)
    fastest_speed = max(t[0] for _, t in pairs) / max(o[0] for o, _ in pairs)
    fastest_cost = min(t[1] for _, t in pairs) / min(o[1] for o, _ in pairs)
    print(f"contract rules, events/s: x{speed:.2f} (median of pairs), x{fastest_speed:.2f} (fastest runs)")
    print(f"constant rules, µs per decision: x{cost:.2f} (median of pairs), x{fastest_cost:.2f} (fastest runs)")
    return 0


def measure(root: Path, events: int) -> tuple[float, float]:
    """(contract rules events/s, constant rules core-µs per decision) of one replay benchmark run."""
    command = [sys.executable, __file__, "--run", str(root), "--events", str(events), "--jobs", "1"]
    done = subprocess.run(command, capture_output=True, text=True)
    found = {m[1]: (float(m[2].replace(",", "")), float(m[3].replace(",", "")))
             for m in map(ROW.match, done.stdout.splitlines()) if m}
    if done.returncode != 0 or set(found) != {"contracts", "constant"}:
        last = (done.stderr.strip().splitlines() or ["(nothing on stderr)"])[-1]
        raise RuntimeError(f"the replay benchmark of {root} exited {done.returncode} without its two one-job "
                           f"rows: {last}")
    return found["contracts"][0], found["constant"][1]


def run(root: Path, arguments: list[str]) -> int:
    """``root``'s bench/replay.py with ``root``'s own slabridge (an installed one would shadow it)."""
    spec = importlib.util.spec_from_file_location("slabridge", root / "slabridge" / "__init__.py",
                                                  submodule_search_locations=[str(root / "slabridge")])
    module = importlib.util.module_from_spec(spec)
    sys.modules["slabridge"] = module
    spec.loader.exec_module(module)
    sys.argv = [str(root / "bench" / "replay.py"), *arguments]
    runpy.run_path(sys.argv[0], run_name="__main__")
    return 0


if __name__ == "__main__":
    sys.exit(main())
