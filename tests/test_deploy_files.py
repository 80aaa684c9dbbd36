"""The Dockerfile and compose.yaml parse and name commands and apps that exist (nothing is built here:
this machine has no Docker engine)."""

from pathlib import Path

import yaml
from click.testing import CliRunner

from slabridge.cli import main

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
