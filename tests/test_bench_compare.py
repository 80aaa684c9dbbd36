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


def test_a_checkout_whose_benchmark_fails_is_named_with_its_last_error_line(tmp_path):
    (tmp_path / "slabridge").mkdir()
    (tmp_path / "slabridge" / "__init__.py").write_text("")
    (tmp_path / "bench").mkdir()
    (tmp_path / "bench" / "replay.py").write_text("raise SystemExit('no such benchmark here')\n")
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "compare.py"), str(tmp_path), "--pairs", "1"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert f"the replay benchmark of {tmp_path} exited 1" in done.stderr and "no such benchmark here" in done.stderr


def test_pairs_and_events_must_be_positive(tmp_path):
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "compare.py"), str(ROOT), "--pairs", "0"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "--pairs and --events must be at least 1" in done.stderr
