"""bench/ingest.py --no-flush: the experiment's switch reaches the receiver's SQLite connections, and only them."""

import subprocess
import sys
from pathlib import Path

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
