"""Benchmark: slabridge.calendar against businesstimedelta, same inputs, same process.

    python bench/calendar.py [--n 10000] [--seed 7]

Calendar: Mon-Fri 07:00-18:00 America/Denver with US holidays. Inputs: N random
whole-minute starts in 2026-2027; adds of 30 min, 4 h, 11 h, 40 h, 500 h;
`between` over pairs up to 60 days apart. Times are per call with datetimes in
and out. Every disagreement is settled by the minute-stepping oracle; a second
section runs both engines where businesstimedelta is known to struggle
(overnight shifts across DST nights) and lists where it is wrong.
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as a script, this file's folder comes first on sys.path, and this file's
# name would hide the standard library's `calendar` (which `holidays` imports).
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import argparse  # noqa: E402
import random  # noqa: E402
import time  # noqa: E402
from datetime import datetime, time as clock_time, timedelta  # noqa: E402
from zoneinfo import ZoneInfo  # noqa: E402

import businesstimedelta  # noqa: E402
import holidays  # noqa: E402
import pytz  # noqa: E402

from slabridge.calendar import compile_calendar  # noqa: E402
from slabridge.testing.calendar_oracle import Oracle  # noqa: E402

ZONE = "America/Denver"
SPEC = {"timezone": ZONE, "weekly": {"mon-fri": ["07:00-18:00"]}, "holidays": {"country": "US"}}
DURATIONS = {"30m": 0.5, "4h": 4, "11h": 11, "40h": 40, "500h": 500}


def timed(function, inputs) -> tuple[float, list]:
    started = time.perf_counter()
    results = [function(*args) for args in inputs]
    return (time.perf_counter() - started) / len(inputs) * 1e6, results


def btd_rules(start_time, end_time, days, tz, with_holidays=True):
    workday = businesstimedelta.WorkDayRule(start_time=start_time, end_time=end_time, working_days=days, tz=tz)
    rules = [workday]
    if with_holidays:
        rules.append(businesstimedelta.HolidayRule(holidays.country_holidays("US", years=range(2025, 2030)), tz=tz))
    return businesstimedelta.Rules(rules)


def settle(oracle: Oracle, ours, theirs, start, minutes=None, end=None) -> str:
    """Who is right, by the oracle: 'theirs wrong', 'ours wrong' or 'both wrong'."""
    if end is None:
        truth = oracle.add(start, minutes)
        ours_ok, theirs_ok = ours == truth, theirs == truth
    else:
        truth = timedelta(minutes=oracle.between(start, end))
        ours_ok, theirs_ok = ours == truth, theirs == truth
    return "agree" if ours_ok and theirs_ok else "theirs wrong" if ours_ok else "ours wrong" if theirs_ok else "both wrong"


def main_benchmark(n: int, rng: random.Random) -> tuple[list[list[str]], list[str]]:
    tz = ZoneInfo(ZONE)
    ours = compile_calendar(SPEC)
    rules = btd_rules(clock_time(7), clock_time(18), [0, 1, 2, 3, 4], pytz.timezone(ZONE))
    oracle = Oracle(SPEC, max_days=120)
    span = int((datetime(2028, 1, 1) - datetime(2026, 1, 1)).total_seconds() // 60)
    starts = [datetime(2026, 1, 1, tzinfo=tz) + timedelta(minutes=rng.randrange(span)) for _ in range(n)]
    for s in starts:  # warm-up, untimed: compiles every year the inputs touch
        ours.add(s, timedelta(hours=500))
        ours.between(s, s + timedelta(days=60))
    rows, wrong = [], []
    for label, hours in DURATIONS.items():
        delta = timedelta(hours=hours)
        ours_us, ours_out = timed(ours.add, [(s, delta) for s in starts])
        btd = businesstimedelta.BusinessTimeDelta(rules, hours=hours)
        theirs_us, theirs_out = timed(lambda s: s + btd, [(s,) for s in starts])
        verdicts = _compare(oracle, starts, ours_out, theirs_out, lambda s: dict(minutes=int(hours * 60)), wrong,
                            f"add {label}")
        rows.append([f"add {label}", f"{ours_us:.2f}", f"{theirs_us:.1f}", f"{theirs_us / ours_us:,.0f}x", verdicts])
    pairs = [(s, s + timedelta(minutes=rng.randrange(60 * 1440))) for s in starts]
    ours_us, ours_out = timed(ours.between, pairs)
    theirs_us, theirs_raw = timed(lambda a, b: rules.difference(a, b), pairs)
    theirs_out = [timedelta(hours=d.hours, seconds=d.seconds) for d in theirs_raw]
    verdicts = _compare(oracle, [a for a, _ in pairs], ours_out, theirs_out, None, wrong, "between ≤60d",
                        ends=[b for _, b in pairs])
    rows.append(["between ≤60 days", f"{ours_us:.2f}", f"{theirs_us:.1f}", f"{theirs_us / ours_us:,.0f}x", verdicts])
    return rows, wrong


def _compare(oracle, starts, ours_out, theirs_out, add_args, wrong, label, ends=None) -> str:
    disagreements = [i for i, (a, b) in enumerate(zip(ours_out, theirs_out)) if a != b]
    tally = {"theirs wrong": 0, "ours wrong": 0, "both wrong": 0, "agree": 0}
    for i in disagreements[:200]:  # settling is slow; 200 is plenty to characterise
        if ends is None:
            verdict = settle(oracle, ours_out[i], theirs_out[i], starts[i], **add_args(starts[i]))
        else:
            verdict = settle(oracle, ours_out[i], theirs_out[i], starts[i], end=ends[i])
        tally[verdict] += 1
        if verdict != "agree" and len(wrong) < 40:
            wrong.append(f"{label}: start {starts[i].isoformat()}: ours {ours_out[i]}, businesstimedelta "
                         f"{theirs_out[i]} -> {verdict}")
    if not disagreements:
        return "0 disagreements"
    checked = min(len(disagreements), 200)
    return (f"{len(disagreements)} disagreements; of {checked} settled: ours wrong {tally['ours wrong']}, "
            f"businesstimedelta wrong {tally['theirs wrong']}, both wrong {tally['both wrong']}")


def hard_cases() -> list[str]:
    """Overnight 22:00-06:00 across DST nights: where businesstimedelta goes wrong."""
    spec = {"timezone": ZONE, "weekly": {"daily": ["22:00-06:00"]}}
    ours, oracle = compile_calendar(spec), Oracle(spec)
    rules = btd_rules(clock_time(22), clock_time(6), list(range(7)), pytz.timezone(ZONE), with_holidays=False)
    tz, lines = ZoneInfo(ZONE), []
    for start, hours in [(datetime(2026, 3, 7, 22, tzinfo=tz), 8), (datetime(2026, 10, 31, 22, tzinfo=tz), 8),
                         (datetime(2026, 3, 7, 23, tzinfo=tz), 7), (datetime(2026, 10, 31, 23, tzinfo=tz), 9),
                         (datetime(2026, 3, 4, 3, 30, tzinfo=tz), 1)]:
        truth = oracle.add(start, hours * 60)
        mine = ours.add(start, timedelta(hours=hours))
        try:
            theirs = (start + businesstimedelta.BusinessTimeDelta(rules, hours=hours)).astimezone(tz)
        except Exception as exc:  # noqa: BLE001 - report, do not crash the benchmark
            theirs = f"error {exc.__class__.__name__}"
        truth = truth.astimezone(tz)
        lines.append(f"| overnight 22-06, {start:%a %Y-%m-%d %H:%M} + {hours}h | {truth.isoformat()} | "
                     f"{'ok' if mine == truth else mine} | {'ok' if theirs == truth else theirs} |")
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    rows, wrong = main_benchmark(args.n, rng)
    print(f"Mon-Fri 07:00-18:00 {ZONE}, US holidays; {args.n:,} random starts in 2026-2027; Python "
          f"{sys.version.split()[0]}\n")
    print("| operation | slabridge µs/call | businesstimedelta µs/call | speed-up | results |")
    print("| --- | ---: | ---: | ---: | --- |")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    if wrong:
        print("\nDisagreements settled by the oracle:")
        for line in wrong:
            print(f"- {line}")
    print("\n| hard case | truth (oracle) | slabridge | businesstimedelta |")
    print("| --- | --- | --- | --- |")
    for line in hard_cases():
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
