"""The Dockerfile and compose.yaml parse and name commands and apps that exist (nothing is built here:
this machine has no Docker engine)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from slabridge.cli import main
from slabridge.testing.rig import free_port

ROOT = Path(__file__).resolve().parents[1]


def slabridge_command_exists(args: list[str]) -> bool:
    """`slabridge ARGS --help` resolves to a real (sub)command."""
    words = [a for a in args if not a.startswith("-")][:2]
    return CliRunner().invoke(main, [*words, "--help"]).exit_code == 0


def test_compose_services_run_real_commands_on_postgresql():
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    services = compose["services"]
    assert {"db", "migrate", "receiver", "worker"} <= set(services)
    for name in ("migrate", "worker"):
        command = services[name]["command"]
        assert command[0] == "slabridge" and slabridge_command_exists(command[1:]), command
    assert services["migrate"]["environment"]["SLABRIDGE_DATABASE_URL"].startswith("postgresql://")
    assert services["receiver"]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"


def test_dockerfile_serves_the_receiver_under_gunicorn_with_threaded_workers():
    text = (ROOT / "Dockerfile").read_text()
    cmd = next(line for line in text.replace("\\\n", " ").splitlines() if line.startswith("CMD"))
    args = __import__("json").loads(cmd.removeprefix("CMD").strip())
    assert args[0] == "gunicorn" and "gthread" in args and "--timeout" in args
    module, _, factory = args[-1].partition(":")
    app = getattr(__import__(module), factory.removesuffix("()"))
    assert callable(app)
    assert any(line.startswith("FROM python:3.11") for line in text.splitlines())
    assert "pip install --no-cache-dir /app" in text


@pytest.mark.parametrize("setting, said", [
    ({"SLABRIDGE_CONFIG": "bad.toml"}, "error: bad.toml: database_url: Input should be a valid string"),
    ({"SLABRIDGE_DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none"},
     "error: cannot use the database postgresql://nobody@127.0.0.1:1/none: connection failed"),
])
def test_the_receiver_under_gunicorn_that_cannot_start_says_why_and_stops(tmp_path, setting, said):
    """The README's and the Dockerfile's recipe with a bad configuration or a database it cannot reach: each
    problem on one line, no traceback, and gunicorn stops (exit 3: a worker that cannot boot) instead of
    starting workers again and again."""
    (tmp_path / "bad.toml").write_text("database_url = 5\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLABRIDGE_")}
    done = subprocess.run([sys.executable, "-m", "gunicorn", "--workers", "1", "--bind", f"127.0.0.1:{free_port()}",
                           "slabridge_webhooks:create_app()"], cwd=tmp_path, env={**env, **setting},
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 3, done.stderr
    assert said in done.stderr and "Traceback" not in done.stderr, done.stderr
