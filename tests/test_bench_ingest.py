"""The benchmarks' inputs: ingest's --no-flush reaches the receiver's SQLite connections, and only them; a
database that cannot be reached is one line that names it (without its password), never a traceback."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# In a process of its own: the hook listens on every engine of the process it runs in.
CHECK = """
import runpy, sys
config = runpy.run_path(sys.argv[1], run_name="ingest")["NO_FLUSH_CONFIG"]
from slabridge.store import Store
before = Store(f"sqlite:///{sys.argv[2]}/before.db").engine.raw_connection()
namespace = {}
exec(config, namespace)
namespace["post_fork"](None, None)  # what gunicorn calls in each worker before the app loads
after = Store(f"sqlite:///{sys.argv[2]}/after.db").engine.raw_connection()
print([c.dbapi_connection.execute("PRAGMA synchronous").fetchone()[0] for c in (before, after)])
"""


def test_no_flush_makes_the_receivers_sqlite_commits_skip_the_flush_and_a_plain_run_keeps_it(tmp_path):
    done = subprocess.run([sys.executable, "-c", CHECK, str(ROOT / "bench" / "ingest.py"), str(tmp_path)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[2, 1]"  # FULL (every commit flushed) without the hook, NORMAL with it


@pytest.mark.parametrize("bench", ["ingest", "pipeline", "store", "soak"])
def test_a_database_that_cannot_be_reached_is_named_in_one_line_without_its_password(bench):
    url = "postgresql://bench:s3cret@127.0.0.1:1/nowhere"  # port 1: nothing listens, refused at once
    done = subprocess.run([sys.executable, str(ROOT / "bench" / f"{bench}.py"), "--database", url],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert f"{bench}.py: error: cannot use the database postgresql://bench:***@127.0.0.1:1/nowhere: " in done.stderr
    assert "Traceback" not in done.stderr and "s3cret" not in done.stderr


@pytest.mark.parametrize("bench", ["ingest", "pipeline", "store", "soak"])
def test_a_database_of_another_kind_is_refused_by_name_before_anything_runs(bench):
    done = subprocess.run([sys.executable, str(ROOT / "bench" / f"{bench}.py"), "--database", "mysql://u:pw@db/x"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "Traceback" not in done.stderr and ":pw@" not in done.stderr
    assert "argument --database: 'mysql://u:***@db/x' is not " in done.stderr
