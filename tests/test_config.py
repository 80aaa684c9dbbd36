"""Configuration file, environment overrides and the problems `check` reports."""

import pytest

from slabridge import config
from slabridge.config import ConfigError, Settings, VendorSettings


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
    assert any(p.startswith(f"{path}: vendors.jira.base_url: must start with http") for p in problems)
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


@pytest.mark.parametrize("value, said", [("s3cret\n", "has white space at its start or end (a newline from a file?)"),
                                         (" s3cret", "has white space at its start or end"),
                                         ("  \n", "holds only white space")])
def test_a_secret_with_white_space_around_it_is_a_problem(tmp_path, monkeypatch, value, said):
    """A secret read from a file keeps its final newline; every signature would then fail as a forgery."""
    monkeypatch.setenv("PADDED_SECRET", value)
    path = write(tmp_path, """
[vendors.zendesk]
enabled = true
base_url = "https://acme.zendesk.com"
webhook_secrets_env = ["PADDED_SECRET"]
""")
    problems = config.problems(config.load(path, environ={}), {"zendesk": object()})
    assert len(problems) == 1 and problems[0].startswith(f"{path}: vendors.zendesk: environment variable "
                                                         f"PADDED_SECRET {said}"), problems
    assert "s3cret" not in problems[0]  # the value itself is never shown


def test_secrets_come_from_the_environment_only(monkeypatch):
    monkeypatch.setenv("NEW", "n")
    monkeypatch.setenv("OLD", "o")
    vendor = config.VendorSettings(webhook_secrets_env=["NEW", "OLD", "UNSET_ONE"])
    assert vendor.webhook_secrets() == [b"n", b"o"]


def test_environment_values_take_the_fields_type_as_in_the_readme(tmp_path):
    path = write(tmp_path, '[vendors.zendesk]\nenabled = true\n[vendors.zendesk.fields]\nsolve = "360009"\n')
    settings = config.load(path, environ={
        "SLABRIDGE_VENDORS__ZENDESK__SELF_USER": "1900000001",
        "SLABRIDGE_VENDORS__ZENDESK__FIELDS__FIRST_RESPONSE": "360001234",
        "SLABRIDGE_VENDORS__ZENDESK__WEBHOOK_SECRETS_ENV": '["ZD_NEW", "ZD_OLD"]',
        "SLABRIDGE_MAX_ATTEMPTS": "7"})
    zendesk = settings.vendor("zendesk")
    assert zendesk.self_user == "1900000001" and zendesk.fields == {"solve": "360009", "first_response": "360001234"}
    assert zendesk.webhook_secrets_env == ["ZD_NEW", "ZD_OLD"] and settings.max_attempts == 7


def test_an_error_from_the_environment_names_the_variable_not_the_file(tmp_path):
    path = write(tmp_path, "max_attempts = 3\n")
    with pytest.raises(ConfigError) as raised:
        config.load(path, environ={"SLABRIDGE_VENDORS__JIRA__TIMEOUT_SECONDS": "soon"})
    assert raised.value.problems[0].startswith("environment variable SLABRIDGE_VENDORS__JIRA__TIMEOUT_SECONDS:")
    with pytest.raises(ConfigError) as raised:
        config.load(write(tmp_path, 'max_attempts = "often"\n'), environ={})
    assert raised.value.problems[0].startswith(f"{tmp_path / 'slabridge.toml'}: max_attempts:")


def test_a_mistyped_variable_is_an_error_but_a_named_secret_is_not(tmp_path):
    path = write(tmp_path, '[vendors.zendesk]\nwebhook_secrets_env = ["SLABRIDGE_ZENDESK_SECRET"]\n')
    assert config.load(path, environ={"SLABRIDGE_ZENDESK_SECRET": "s3cret"}).vendor("zendesk")
    with pytest.raises(ConfigError, match="environment variable SLABRIDGE_DATABSE_URL: no such setting"):
        config.load(path, environ={"SLABRIDGE_DATABSE_URL": "sqlite:///x.db"})


def test_a_vendor_not_configured_gets_the_defaults_which_cannot_be_changed():
    import pydantic

    settings = Settings(vendors={"jira": VendorSettings(enabled=True, fields={"response": "customfield_1"})})
    assert settings.vendor("jira").enabled and settings.vendor("jira").fields == {"response": "customfield_1"}
    unconfigured = settings.vendor("zendesk")
    assert isinstance(unconfigured, VendorSettings) and unconfigured.model_dump() == VendorSettings().model_dump()
    with pytest.raises(pydantic.ValidationError):
        unconfigured.enabled = True  # shared by every call: frozen
    assert not settings.vendor("freshdesk").enabled


def test_a_connector_option_it_does_not_have_or_of_the_wrong_type_is_a_problem(tmp_path, monkeypatch):
    """A misspelt option was ignored without a word (the default applied); a value of the wrong type failed every
    webhook as a 422 blaming the sender (``ValueError while reading it at connector.py:verify``)."""
    from slabridge.plugins import Plugins

    monkeypatch.setenv("ZD_SECRET", "s")
    monkeypatch.setenv("JIRA_SECRET", "s")
    path = write(tmp_path, """
[vendors.zendesk]
enabled = true
base_url = "https://acme.zendesk.com"
webhook_secrets_env = ["ZD_SECRET"]
options = { signature_tolerence_seconds = 600 }
[vendors.jira]
enabled = true
base_url = "https://acme.atlassian.net"
webhook_secrets_env = ["JIRA_SECRET"]
options = { comment_api = "service_desk", timestamp_tolerance_seconds = "1h", organization_field = "customfield_1" }
""")
    settings = config.load(path, environ={})
    assert config.problems(settings, Plugins(settings).connectors) == [
        f"{path}: vendors.zendesk.options.signature_tolerence_seconds: not an option of zendesk (its options: "
        "signature_tolerance_seconds)",
        f"{path}: vendors.jira.options.comment_api: not one of servicedesk, platform",
        f"{path}: vendors.jira.options.timestamp_tolerance_seconds: not a number above zero"]
