"""The command line, run as a user runs it (a real subprocess where it matters)."""

import json
import os
import subprocess
from pathlib import Path
import sys

import pytest
from click.testing import CliRunner

from slabridge.cli import main
from slabridge.store import LATEST


def run(*args, env=None):
    return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)


def test_demo_runs_every_vendor_end_to_end():
    result = subprocess.run([sys.executable, "-m", "slabridge", "demo"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    for vendor in ("zendesk", "freshdesk", "jira"):
        assert vendor in result.stdout
    assert "demo OK" in result.stdout
    assert "Traceback" not in result.stderr


def test_plugins_json_lists_the_three_connectors():
    rows = json.loads(run("plugins", "--json").output)
    connectors = {c for r in rows for c in r["connectors"]}
    assert connectors >= {"zendesk", "freshdesk", "jira"}
    assert all(r["hooks"] for r in rows)


def test_plugins_table():
    output = run("plugins").output
    assert output.splitlines()[0].split() == ["plugin", "version", "enabled", "connectors", "hooks"]


def test_schema_event_is_json_schema():
    schema = json.loads(run("schema", "event").output)
    assert schema["title"] == "TicketEvent"
    assert {"vendor", "delivery_id", "ticket", "kind", "occurred_at"} <= set(schema["required"])


def test_check_reports_problems_and_exits_1(tmp_path):
    config = tmp_path / "c.toml"
    config.write_text('[vendors.zendesk]\nenabled = true\nbase_url = "nope"\n')
    result = run("--config", str(config), "check")
    assert result.exit_code == 1
    assert f"error: {config}: vendors.zendesk.base_url: must start with http:// or https://" in result.output


def test_check_ok(tmp_path, monkeypatch):
    monkeypatch.setenv("ZD_SECRET", "x")
    config = tmp_path / "c.toml"
    config.write_text('[vendors.zendesk]\nenabled = true\nbase_url = "https://a.zendesk.com"\n'
                      'webhook_secrets_env = ["ZD_SECRET"]\n')
    result = run("--config", str(config), "check")
    assert result.exit_code == 0, result.output
    assert "OK: configuration" in result.output


def test_bad_config_gives_an_error_not_a_traceback(tmp_path):
    config = tmp_path / "c.toml"
    config.write_text("database_url = [")
    result = run("--config", str(config), "plugins")
    assert result.exit_code == 1
    assert "not valid TOML" in result.output


def test_db_upgrade_and_status(tmp_path):
    env = {"SLABRIDGE_DATABASE_URL": f"sqlite:///{tmp_path}/x.db"}
    from slabridge.store import LATEST

    assert f"schema at version {LATEST}" in run("db", "upgrade", env=env).output
    assert f"schema version {LATEST} (latest {LATEST})" in run("db", "status", env=env).output


def test_an_unusable_database_is_a_clear_error(tmp_path):
    down = run("db", "status", env={"SLABRIDGE_DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none"})
    assert down.exit_code == 1 and "cannot use the database postgresql://nobody@127.0.0.1:1/none" in down.output
    assert "Traceback" not in down.output
    nonsense = run("report", env={"SLABRIDGE_DATABASE_URL": "notaurl"})
    assert nonsense.exit_code == 1 and ("environment variable SLABRIDGE_DATABASE_URL: database_url: must be "
                                        "sqlite:///FILE or postgresql://") in nonsense.output


@pytest.mark.parametrize("url, shown", [("postgresql://ops:s3cret@db:5432x/slabridge", "postgresql://db:5432x/slabridge"),
                                        ("postgresql://ops:s3cret@[::1/slabridge", "postgresql://[::1/slabridge")])
def test_a_database_url_that_cannot_be_parsed_is_a_clear_error_without_its_password(url, shown):
    result = CliRunner().invoke(main, ["db", "status"], env={"SLABRIDGE_DATABASE_URL": url})
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit), result.output
    assert f"Error: database_url '{shown}' is not a database URL: it cannot be parsed" in result.output
    assert "s3cret" not in result.output


def test_a_pause_that_ends_before_it_starts_is_refused(tmp_path):
    calendar = tmp_path / "c.yaml"
    calendar.write_text("timezone: UTC\nweekly: {mon-fri: ['09:00-17:00']}\n")
    result = run("calendar", "add", "--calendar", str(calendar), "--start", "2026-03-02T10:00Z", "--duration", "1h",
                 "--pause", "2026-03-02T12:00Z/2026-03-02T11:00Z")
    assert result.exit_code == 2 and "the pause ends before it starts" in result.output


@pytest.mark.parametrize("args, where", [
    (["serve", "--port", "-1"], "--port"), (["serve", "--port", "99999"], "--port"),
    (["serve", "--workers", "0"], "--workers"), (["worker", "--threads", "0"], "--threads"),
    (["worker", "--threads", "-3"], "--threads"), (["db", "dead", "--id", "0"], "--id"),
    (["db", "dead", "--retry", "write", "--id", str(2 ** 64)], "--id"),  # beyond a row id: not an overflow
    (["events", "remove", str(2 ** 64)], "EVENT_ID"),
])
def test_numbers_out_of_range_are_usage_errors_naming_the_option(args, where):
    result = run(*args)
    assert result.exit_code == 2 and where in result.output and "Traceback" not in result.output


def test_check_in_an_empty_folder_says_nothing_was_checked(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SLABRIDGE_CONFIG", raising=False)
    result = run("check")
    assert result.exit_code == 1 and "nothing was checked" in result.output and "OK" not in result.output
    (tmp_path / "contracts").mkdir()
    empty = run("check", "--contracts", str(tmp_path / "contracts"))
    assert empty.exit_code == 1 and "no contract files (*.yaml, *.yml)" in empty.output


def test_check_refuses_a_database_url_slabridge_cannot_use(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = run("check", env={"SLABRIDGE_DATABASE_URL": "foo://bar"})
    assert result.exit_code == 1 and "environment variable SLABRIDGE_DATABASE_URL: database_url: must be" in result.output


@pytest.mark.parametrize("command", [["report"], ["db", "status"], ["db", "dead"], ["events", "list"]])
def test_reading_commands_never_create_a_database(tmp_path, monkeypatch, command):
    monkeypatch.chdir(tmp_path)
    result = run(*command, env={"SLABRIDGE_DATABASE_URL": f"sqlite:///{tmp_path}/none.db"})
    assert result.exit_code == 1 and f"no database at {tmp_path}/none.db" in result.output
    assert not (tmp_path / "none.db").exists()


def test_init_writes_a_starter_that_checks_clean_and_never_overwrites(tmp_path, monkeypatch):
    target = tmp_path / "desk"
    assert run("init", str(target)).exit_code == 0
    assert {p.name for p in target.iterdir()} >= {"slabridge.toml", "contracts", "customers.yaml", "calendars"}
    monkeypatch.chdir(target)
    checked = run("check")
    assert checked.exit_code == 0 and "OK: configuration, 5 contract(s)" in checked.output
    again = CliRunner().invoke(main, ["init", str(target)])
    assert again.exit_code == 1 and "already exist" in again.output


def test_init_where_a_file_is_in_the_way_is_a_clear_error(tmp_path):
    (tmp_path / "a-file").write_text("not a folder")
    target = tmp_path / "a-file" / "below"  # (FOLDER itself a file is click's usage error)
    result = CliRunner().invoke(main, ["init", str(target)])
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit), result.output
    assert f"Error: cannot write into {target}: " in result.output and "Traceback" not in result.output


def test_a_config_file_that_is_not_text_is_a_clear_error(tmp_path):
    config = tmp_path / "slabridge.toml"
    config.write_bytes(b"a = 1\n\xd0\xff\n")
    result = CliRunner().invoke(main, ["--config", str(config), "check"])
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit)
    assert f"error: {config}: cannot read: 'utf-8' codec can't decode byte 0xd0" in result.output


def test_the_demo_runs_outside_the_repository_on_the_packaged_examples(tmp_path):
    result = subprocess.run([sys.executable, "-m", "slabridge", "demo"], capture_output=True, text=True, timeout=120,
                            cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "contracts: caret, infraware, interopion, poologics, triage-desk" in result.stdout


def test_the_sdist_holds_every_test_and_conftest(tmp_path):
    import tarfile

    from setuptools import build_meta

    root = Path(__file__).resolve().parents[1]
    here = Path.cwd()
    os.chdir(root)  # setuptools builds from the working directory
    try:
        name = build_meta.build_sdist(str(tmp_path))
    finally:
        os.chdir(here)
    with tarfile.open(tmp_path / name) as sdist:
        names = {n.split("/", 1)[1] for n in sdist.getnames() if "/" in n}
    tests = {str(p.relative_to(root)) for p in (root / "tests").rglob("*.py")}
    assert tests <= names and "tests/conftest.py" in names and "examples/customers.yaml" in names


@pytest.mark.parametrize("revision, said", [
    (f"{LATEST + 33:04d}", f"its schema is at version {LATEST + 33}, newer than this slabridge's {LATEST}"),
    ("abc", f"its schema revision 'abc' is not one of slabridge's (0001 to {LATEST:04d})"),
])
def test_a_database_whose_schema_this_slabridge_does_not_know_is_refused(tmp_path, revision, said):
    """After a rollback to an older slabridge (or with a database that is not slabridge's), serving, working
    and upgrading refuse, naming the database and the revision; before, a newer schema was served as if
    known and an unreadable revision was a traceback. `db status` still shows a newer version."""
    import sqlalchemy as sa

    from slabridge.store import Store

    url = f"sqlite:///{tmp_path}/s.db"
    Store(url).upgrade()
    with sa.create_engine(url).begin() as conn:
        conn.exec_driver_sql(f"UPDATE alembic_version SET version_num = '{revision}'")
    env = {"SLABRIDGE_DATABASE_URL": url}
    for command in (["db", "upgrade"], ["report"]):  # report opens it as serve and worker do (they would run on)
        result = CliRunner().invoke(main, command, env=env)
        assert result.exit_code == 1 and isinstance(result.exception, SystemExit), result.output
        assert f"the database {url}: {said}" in result.output
    status = CliRunner().invoke(main, ["db", "status"], env=env)
    assert status.exit_code == (0 if revision.isdigit() else 1), status.output
