"""bench/compare.py: two checkouts' replay benchmarks in pairs, each process on its own checkout's code."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_a_checkout_compared_with_itself(tmp_path):
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "compare.py"), str(ROOT), "--pairs", "1",
                           "--events", "300"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[2].startswith("| 1 | ") and len(lines[2].split("|")) == 7
    assert lines[3].startswith("contract rules, events/s: x") and lines[4].startswith("constant rules, µs")


def test_a_folder_that_is_no_checkout_is_refused_by_name(tmp_path):
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "compare.py"), str(tmp_path)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and f"{tmp_path} is not a slabridge checkout" in done.stderr
    assert "Traceback" not in done.stderr
