"""bench/instructions.py --pipeline and bench/pipeline.py --callgrind: the worker's instructions per event."""

import os
import re
import runpy
import stat
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

FAKE_VALGRIND = """#!{python}
# Runs the command it is given, as valgrind would, and reports a made-up count as callgrind does at exit.
import signal, subprocess, sys
args = sys.argv[1:]
while args[0].startswith("--"):
    args.pop(0)
child = subprocess.Popen(args)
signal.signal(signal.SIGTERM, lambda *_: child.send_signal(signal.SIGTERM))
code = child.wait()
print("==1== Collected : 4242", file=sys.stderr)
sys.exit(code)
"""


def test_a_callgrind_run_prints_the_workers_count_as_the_instruction_counter_reads_it(tmp_path):
    fake = tmp_path / "bin" / "valgrind"
    fake.parent.mkdir()
    fake.write_text(FAKE_VALGRIND.format(python=sys.executable))
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "pipeline.py"), "--events", "6", "--threads", "1",
                           "--callgrind"], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PATH": f"{fake.parent}{os.pathsep}{os.environ['PATH']}"})
    assert done.returncode == 0, done.stderr[-2000:]
    counter = runpy.run_path(str(ROOT / "bench" / "instructions.py"), run_name="instructions")
    found = counter["WORKER_COUNT"].search(done.stdout)
    assert found and (found[1], found[2]) == ("4242", "6"), done.stdout


def test_the_pipeline_counter_refuses_too_few_events_and_callgrind_with_py_spy():
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "instructions.py"), "--pipeline", "--events", "4"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "--events must be at least 1 (8 with --pipeline)" in done.stderr
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "pipeline.py"), "--callgrind", "--py-spy", "x"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "--callgrind needs valgrind" in done.stderr
    assert not re.search("Traceback", done.stderr)
