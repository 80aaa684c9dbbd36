"""bench/compare.py: two checkouts' benchmarks in pairs, each process on its own checkout's code."""

import os
import runpy
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


def test_each_side_imports_its_own_checkouts_packages_whatever_is_installed(tmp_path):
    compare = runpy.run_path(str(ROOT / "bench" / "compare.py"), run_name="compare")
    PACKAGES, python_path = compare["PACKAGES"], compare["python_path"]  # noqa: N806
    checkout = tmp_path / "checkout"
    for folder in ["slabridge", *PACKAGES.values()]:
        (checkout / folder).mkdir(parents=True)
        (checkout / folder / "__init__.py").write_text("")
    names = ["slabridge", *PACKAGES]
    shown = subprocess.run([sys.executable, "-c", f"import importlib; print([importlib.import_module(n).__file__ "
                            f"for n in {names!r}])"], capture_output=True, text=True, timeout=60,
                           cwd=tmp_path, env={**os.environ, "PYTHONPATH": python_path(checkout, tmp_path / "links")})
    assert shown.returncode == 0, shown.stderr
    files = eval(shown.stdout)  # noqa: S307 - our own subprocess's list of paths
    assert len(files) == len(names) and all(str(Path(f).resolve()).startswith(str(checkout)) for f in files), files


def test_a_benchmarks_own_options_go_to_it_and_its_refusal_is_named(tmp_path):
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "compare.py"), str(ROOT), "--bench", "ingest",
                           "--pairs", "1", "--", "--no-such-option"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert "the ingest benchmark of" in done.stderr and "unrecognized arguments: --no-such-option" in done.stderr


def test_replays_events_option_is_not_taken_for_another_benchmarks(tmp_path):
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "compare.py"), str(ROOT), "--bench", "pipeline",
                           "--events", "300"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "give the pipeline benchmark's own options after --" in done.stderr


def test_an_ingest_run_is_read_as_its_ratio_its_rate_and_the_machines_time_per_webhook():
    read = runpy.run_path(str(ROOT / "bench" / "compare.py"), run_name="compare")["_ingest"]
    stdout = ("| bare Flask | 2,458 | 6.2 | 10.8 | {202: 4000} | 0.6 | 2.2 |\n"
              "| receiver | 1,379 | 11.3 | 16.6 | {202: 4000} | 1.8 | 5.2 |\n"
              "ratio receiver / bare Flask: 0.56 (paced at 1,229 req/s)\n"
              "CPU per request, bare Flask: gunicorn 375 µs, load generator 272 µs; the whole machine busy 642 µs\n"
              "CPU per request, receiver: gunicorn 733 µs, load generator 250 µs; the whole machine busy 1183 µs\n")
    assert read(stdout) == (0.56, 1379.0, 1183.0)
    assert read(stdout.replace("the whole machine busy 1183", "busy 1183")) is None  # a run that lacks it


def test_a_pipeline_run_is_read_as_its_rate_and_the_workers_cpu_per_event():
    read = runpy.run_path(str(ROOT / "bench" / "compare.py"), run_name="compare")["_pipeline"]
    stdout = ("| events | decisions (timers too) | writes received | seconds | events/s | decide+commit ms p50 / p99 |\n"
              "| 3,000 | 3,000 | 3,667 | 4.8 | 1,630 | 0.2 / 2.3 | 0.6 / 1.9 |\n"
              "CPU per event: workers 1.18 ms, the fake vendors (and this process's polling) 0.49 ms; "
              "the whole machine busy 1.68 ms\n")
    assert read(stdout) == (1630.0, 1.18)
    assert read(stdout.replace("workers 1.18 ms", "workers ? ms")) is None  # a run that lacks it
