"""Configuration file, environment overrides and the problems `check` reports."""

import pytest

from slabridge import config
from slabridge.config import ConfigError


def write(tmp_path, text):
    path = tmp_path / "slabridge.toml"
    path.write_text(text)
    return path


def test_defaults_without_a_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    settings = config.load(environ={})
    assert settings.database_url == "sqlite:///slabridge.db"
    assert settings.vendors == {}


def test_file_and_environment_override(tmp_path):
    path = write(tmp_path, '''
database_url = "sqlite:///from-file.db"
[vendors.zendesk]
enabled = false
base_url = "https://acme.zendesk.com/"
webhook_secrets_env = "ZD_SECRET"
[vendors.zendesk.fields]
first_response = "360001"
''')
    settings = config.load(path, environ={"SLABRIDGE_DATABASE_URL": "postgresql://db/x",
                                          "SLABRIDGE_VENDORS__ZENDESK__ENABLED": "true",
                                          "SLABRIDGE_VENDORS__ZENDESK__TIMEOUT_SECONDS": "3.5"})
    zendesk = settings.vendor("zendesk")
    assert settings.database_url == "postgresql://db/x"
    assert zendesk.enabled is True and zendesk.timeout_seconds == 3.5
    assert zendesk.base_url == "https://acme.zendesk.com"
    assert zendesk.webhook_secrets_env == ["ZD_SECRET"]
    assert zendesk.fields == {"first_response": "360001"}


def test_every_problem_has_file_and_key_path(tmp_path):
    path = write(tmp_path, '''
max_body_bytes = -1
colour = "blue"
[vendors.jira]
base_url = "ftp://x"
timeout_seconds = "soon"
''')
    with pytest.raises(ConfigError) as info:
        config.load(path, environ={})
    problems = info.value.problems
    assert f"{path}: max_body_bytes: Input should be greater than 0" in problems
    assert f"{path}: colour: Extra inputs are not permitted" in problems
    assert any(p.startswith(f"{path}: vendors.jira.base_url: Value error, must start with http") for p in problems)
    assert any(p.startswith(f"{path}: vendors.jira.timeout_seconds:") for p in problems)


def test_bad_toml_and_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="not valid TOML"):
        config.load(write(tmp_path, "a = = 1"), environ={})
    with pytest.raises(ConfigError, match="file not found"):
        config.load(tmp_path / "nope.toml", environ={})


def test_problems_for_enabled_vendors(tmp_path, monkeypatch):
    monkeypatch.delenv("MISSING_SECRET", raising=False)
    path = write(tmp_path, '''
[vendors.zendesk]
enabled = true
webhook_secrets_env = ["MISSING_SECRET"]
[vendors.acme]
enabled = true
base_url = "https://acme.example"
webhook_secrets_env = ["MISSING_SECRET"]
''')
    settings = config.load(path, environ={})
    problems = config.problems(settings, {"zendesk": object()})
    assert f"{path}: vendors.zendesk.base_url: required when the vendor is enabled" in problems
    assert f"{path}: vendors.zendesk: environment variable MISSING_SECRET is not set" in problems
    assert any("vendors.acme: no installed connector is called 'acme'" in p for p in problems)


def test_secrets_come_from_the_environment_only(monkeypatch):
    monkeypatch.setenv("NEW", "n")
    monkeypatch.setenv("OLD", "o")
    vendor = config.VendorSettings(webhook_secrets_env=["NEW", "OLD", "UNSET_ONE"])
    assert vendor.webhook_secrets() == [b"n", b"o"]
