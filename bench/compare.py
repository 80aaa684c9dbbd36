"""Benchmark two checkouts against each other: one benchmark of each, in pairs, one right after the other.

    python bench/compare.py OTHER_CHECKOUT [--pairs 6] [--bench replay|ingest|pipeline] [--events 20000]
                            [-- BENCHMARK OPTIONS]

This machine's speed swings by up to 2x from minute to minute, so numbers from different runs do not
compare; a ratio within a pair does. Each pair runs the benchmark on OTHER_CHECKOUT's code, then on this
checkout's: every process it starts (gunicorn, `slabridge worker`) imports that checkout's packages
(``slabridge``, the webhooks app, the connector plugins), whatever is installed. ``replay`` (the default)
runs each checkout's own ``bench/replay.py`` with one job: contract rules' events/s and constant rules'
µs per decision. ``ingest`` and ``pipeline`` run this checkout's ``bench/ingest.py`` or
``bench/pipeline.py`` (options after ``--`` go to it): the receiver's ratio to bare Flask, its req/s and
the whole machine's busy µs per webhook it served (steadier than req/s), or the pipeline's events/s and
its workers' CPU per event (steadier too). It prints every pair, then the median of the pairs' ratios and
the ratio of the best runs. `git worktree add /tmp/before <commit>` makes an OTHER_CHECKOUT.
"""

from __future__ import annotations

import sys
from pathlib import Path

# bench/calendar.py (a required name) would hide the standard library's `calendar`.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import argparse  # noqa: E402
import importlib.util  # noqa: E402
import os  # noqa: E402
import re  # noqa: E402
import runpy  # noqa: E402
import shutil  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
# The installed names of a checkout's packages (pyproject.toml's package-dir), besides `slabridge` itself.
PACKAGES = {"slabridge_webhooks": "webhooks", "slabridge_zendesk": "plugins/zendesk",
            "slabridge_freshdesk": "plugins/freshdesk", "slabridge_jira": "plugins/jira"}
REPLAY_ROW = re.compile(r"^\| (contracts|constant) \| 1 \| [\d,]+ \| [\d,]+ \| [\d.]+ \| ([\d,]+) \| ([\d,]+) \|")


def _replay(stdout: str) -> tuple[float, float] | None:
    found = {m[1]: (float(m[2].replace(",", "")), float(m[3].replace(",", "")))
             for m in map(REPLAY_ROW.match, stdout.splitlines()) if m}
    return (found["contracts"][0], found["constant"][1]) if set(found) == {"contracts", "constant"} else None


def _ingest(stdout: str) -> tuple[float, float, float] | None:
    ratio = re.search(r"^ratio receiver / bare Flask: ([\d.]+)", stdout, re.M)
    served = re.search(r"^\| receiver \| ([\d,]+) \|", stdout, re.M)
    busy = re.search(r"^CPU per request, receiver: .* the whole machine busy (\d+) µs", stdout, re.M)
    return (float(ratio[1]), float(served[1].replace(",", "")), float(busy[1])) if ratio and served and busy else None


def _pipeline(stdout: str) -> tuple[float, float] | None:
    row = re.search(r"^\| [\d,]+ \| [\d,]+ \| [\d,]+ \| [\d.]+ \| ([\d,]+) \|", stdout, re.M)
    cpu = re.search(r"^CPU per event: workers ([\d.]+) ms", stdout, re.M)
    return (float(row[1].replace(",", "")), float(cpu[1])) if row and cpu else None


# benchmark: (whose script: "own" = each checkout's, "this" = this checkout's; what each number is, and
# whether more is better; how to read them)
BENCHMARKS = {
    "replay": ("own", (("contract rules, events/s", True), ("constant rules, µs per decision", False)), _replay),
    "ingest": ("this", (("ratio receiver / bare Flask", True), ("receiver, req/s", True),
                        ("receiver, machine µs per webhook", False)), _ingest),
    "pipeline": ("this", (("events/s", True), ("workers' CPU ms per event", False)), _pipeline),
}


def main() -> int:
    if sys.argv[1:2] == ["--run"]:  # one side of a pair, in its own process
        return run(Path(sys.argv[2]), sys.argv[3:])
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("other", type=Path, help="the checkout to compare with (a git worktree)")
    parser.add_argument("--pairs", type=int, default=6)
    parser.add_argument("--bench", choices=BENCHMARKS, default="replay")
    parser.add_argument("--events", type=int, help="replay's events (default 20000)")
    argv = sys.argv[1:]
    cut = argv.index("--") if "--" in argv else len(argv)  # after it: the ingest or pipeline benchmark's options
    args = parser.parse_args(argv[:cut])
    if args.events is not None and args.bench != "replay":
        parser.error(f"--events is the replay benchmark's; give the {args.bench} benchmark's own options after --")
    args.events = 20_000 if args.events is None else args.events
    if args.pairs < 1 or args.events < 1:
        parser.error("--pairs and --events must be at least 1")
    whose, measures, read = BENCHMARKS[args.bench]
    if not (args.other / "slabridge" / "__init__.py").is_file() or (
            whose == "own" and not (args.other / "bench" / f"{args.bench}.py").is_file()):
        parser.error(f"{args.other} is not a slabridge checkout with bench/{args.bench}.py")
    options = ["--events", str(args.events), "--jobs", "1"] if args.bench == "replay" else argv[cut + 1:]
    links = Path(tempfile.mkdtemp(prefix="slabridge-compare-"))
    try:
        sides = [(root, python_path(root, links / str(n))) for n, root in enumerate((args.other.resolve(), ROOT))]
        return compare(args.pairs, args.bench, sides, options, measures, read)
    finally:
        shutil.rmtree(links, ignore_errors=True)


def compare(pairs: int, bench: str, sides, options: list[str], measures, read) -> int:
    names = ", ".join(name for name, _ in measures)
    print(f"| pair | other: {names} | this: {names} | " + " | ".join(f"this ÷ other: {name}" for name, _ in measures)
          + " |")
    print("| ---: | --- | --- |" + " ---: |" * len(measures))
    results = []
    for index in range(1, pairs + 1):
        try:
            other, this = (measure(root, path, bench, options, read) for root, path in sides)
        except RuntimeError as problem:
            print(f"bench/compare.py: {problem}", file=sys.stderr)
            return 1
        results.append((other, this))
        shown = [", ".join(f"{v:,.2f}" if v < 10 else f"{v:,.0f}" for v in side) for side in (other, this)]
        ratios = " | ".join(f"{t / o:.2f}" for o, t in zip(other, this))
        print(f"| {index} | {shown[0]} | {shown[1]} | {ratios} |")
    for n, (name, more_is_better) in enumerate(measures):
        best = max if more_is_better else min
        median = statistics.median(t[n] / o[n] for o, t in results)
        print(f"{name}: x{median:.2f} (median of pairs), "
              f"x{best(t[n] for _, t in results) / best(o[n] for o, _ in results):.2f} (best runs), this ÷ other")
    return 0


def python_path(root: Path, links: Path) -> str:
    """A PYTHONPATH that imports checkout ``root``'s packages, under their installed names, ahead of the
    installed ones (an editable install maps them to another folder)."""
    links.mkdir(parents=True)
    for name, folder in PACKAGES.items():
        if (root / folder / "__init__.py").is_file():
            (links / name).symlink_to(root / folder, target_is_directory=True)
    return os.pathsep.join([str(links), str(root)])


def measure(root: Path, path: str, bench: str, options: list[str], read) -> tuple[float, ...]:
    """One run of ``bench`` on ``root``'s code: its numbers."""
    script = (root if BENCHMARKS[bench][0] == "own" else ROOT) / "bench" / f"{bench}.py"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [path, os.environ.get("PYTHONPATH")]))}
    done = subprocess.run([sys.executable, __file__, "--run", str(root), str(script), *options],
                          capture_output=True, text=True, env=env)
    found = read(done.stdout) if done.returncode == 0 else None
    if found is None:
        last = (done.stderr.strip().splitlines() or ["(nothing on stderr)"])[-1]
        raise RuntimeError(f"the {bench} benchmark of {root} exited {done.returncode} without its results: {last}")
    return found


def run(root: Path, arguments: list[str]) -> int:
    """A benchmark script (``arguments[0]``) on ``root``'s code; the benchmarks' own helpers that ``root``
    predates (``slabridge.testing.cpu``) are lent from this checkout."""
    import slabridge.testing

    if Path(slabridge.__file__).resolve().parent != (root / "slabridge").resolve():
        raise SystemExit(f"bench/compare.py: slabridge was imported from {slabridge.__file__}, not {root}")
    if importlib.util.find_spec("slabridge.testing.cpu") is None:
        lent = ROOT / "slabridge" / "testing" / "cpu.py"
        spec = importlib.util.spec_from_file_location("slabridge.testing.cpu", lent)
        sys.modules[spec.name] = module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    sys.argv = arguments
    runpy.run_path(arguments[0], run_name="__main__")
    return 0


if __name__ == "__main__":
    sys.exit(main())
