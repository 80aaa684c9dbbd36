"""Configuration: one TOML file plus ``SLABRIDGE_*`` environment overrides (pydantic-settings).

The file is found from ``--config``, else ``$SLABRIDGE_CONFIG``, else
``./slabridge.toml``; without one the embedded defaults apply (SQLite in the
working directory, no vendor enabled). Environment variables override keys:
``SLABRIDGE_DATABASE_URL`` sets ``database_url`` and a double underscore
descends, e.g. ``SLABRIDGE_VENDORS__ZENDESK__ENABLED=true``; a value is read
as the field's type (``SELF_USER=1900000001`` stays text), lists and tables as
JSON. Every error names the variable or the file key it came from.

Secrets never live in the file: a vendor names the environment variables that
hold them (``token_env``, ``webhook_secrets_env``).
"""

from __future__ import annotations

import contextvars
import os
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, EnvSettingsSource, SettingsConfigDict

ENV_PREFIX = "SLABRIDGE_"
NOT_KEYS = {"SLABRIDGE_CONFIG", "SLABRIDGE_PLUGINS_ALLOW", "SLABRIDGE_PLUGINS_BLOCK", "SLABRIDGE_ADMIN_TOKEN",
            "SLABRIDGE_METRICS_TOKEN"}


class ConfigError(Exception):
    """Configuration problems, each already phrased as ``where: what``."""

    def __init__(self, problems: list[str]):
        super().__init__("\n".join(problems))
        self.problems = problems


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class VendorSettings(Strict):
    """One helpdesk connection. Vendor-specific knobs go under ``options``."""

    enabled: bool = False
    base_url: str | None = None
    username_env: str | None = None
    token_env: str | None = None
    webhook_secrets_env: list[str] = Field(default_factory=list)
    self_user: str | None = None
    automation_users: list[str] = Field(default_factory=list, description=(
        "ids or e-mails of bots and integrations: their comments never count as a human reply"))
    fields: dict[str, str] = Field(default_factory=dict)
    groups: dict[str, str] = Field(default_factory=dict, description=(
        "contract group name -> this vendor's group id (Zendesk, Freshdesk) or name (Jira)"))
    timeout_seconds: float = 10.0
    max_retries: int = 4
    requests_per_minute: int | None = Field(default=None, gt=0, description=(
        "request budget per worker process (divide the vendor's documented limit by the number of processes)"))
    max_concurrency: int | None = Field(default=None, gt=0, description="requests in flight at once, per process")
    options: dict[str, Any] = Field(default_factory=dict)

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/") if value else value

    @field_validator("webhook_secrets_env", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @field_validator("groups", mode="before")
    @classmethod
    def _ids_as_text(cls, value: Any) -> Any:
        return {k: str(v) for k, v in value.items()} if isinstance(value, dict) else value

    def group(self, name: str) -> str:
        """The vendor's id (or name) for a contract's group name; the name itself where none is mapped."""
        return self.groups.get(name, name)

    def webhook_secrets(self) -> list[bytes]:
        """The secrets currently valid (two during a rotation), from the environment."""
        return [os.environ[n].encode() for n in self.webhook_secrets_env if os.environ.get(n)]

    def credential(self, which: str) -> str | None:
        name = self.username_env if which == "username" else self.token_env
        return os.environ.get(name) if name else None


def _retention(value: Any) -> float | str:
    """Days (more than 0, at most 100 years) or ``"forever"``."""
    if value == "forever":
        return value
    try:
        days = float(value)
    except (TypeError, ValueError):
        days = None
    if days is None or isinstance(value, bool) or not 0 < days <= 36_500:
        raise ValueError(f'must be a number of days (more than 0, at most 36500) or "forever", not {value!r}')
    return days


Retention = Annotated[float | str, BeforeValidator(_retention)]

_ENVIRON: contextvars.ContextVar[dict[str, str] | None] = contextvars.ContextVar("slabridge_environ", default=None)


class _Unconfigured(VendorSettings):
    """A vendor's settings where none are configured: the defaults, frozen, so one instance serves every call."""

    model_config = ConfigDict(frozen=True)


_UNCONFIGURED = _Unconfigured()


class Settings(BaseSettings):
    """Built from keyword arguments alone, except inside :func:`load`, which adds the environment."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, env_nested_delimiter="__", extra="forbid",
                                      case_sensitive=False)

    database_url: str = "sqlite:///slabridge.db"
    contracts_dir: str | None = None
    customers_file: str | None = None
    max_body_bytes: int = Field(default=1_048_576, gt=0)
    clock_skew_seconds: float = Field(default=3600.0, gt=0, description=(
        "how far after its arrival a webhook may say its change happened (the sender's clock ahead of this "
        "host's); one further ahead is refused with 422: a clock far off, or a time zone written as UTC"))
    unknown_customer_tag: str = "sla_unknown_customer"
    worker_poll_seconds: float = Field(default=0.5, gt=0)
    send_concurrency: int = Field(default=8, ge=1, le=64, description=(
        "tickets whose write-backs a worker thread sends at once while a vendor answers slowly (5 ms or "
        "more; a fast one is sent one ticket at a time); each ticket's in order; a vendor's max_concurrency "
        "and requests_per_minute still bound its requests; 1 never sends at once"))
    max_attempts: int = Field(default=5, ge=1, description=(
        "attempts at deciding an event (and at a write that fails unexpectedly) before it is dead-lettered"))
    write_retry_hours: float = Field(default=6.0, gt=0, description=(
        "how long a write-back is retried through vendor outages (5xx, 429, timeouts) before it is dead-lettered"))
    admin_token_env: str = Field(default="SLABRIDGE_ADMIN_TOKEN", description=(
        "environment variable holding the admin API's bearer token; the admin API is off while it is unset"))
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(default="INFO", description=(
        "level of slabridge's own logs in the receiver, `serve` and `worker` (`-v` on other commands)"))
    log_format: Literal["text", "json"] = "text"
    http_threads: int = Field(default=8, ge=1, le=256, description="threads of `slabridge serve` handling requests")
    http_idle_timeout_seconds: float = Field(default=30.0, gt=0, description=(
        "`slabridge serve` closes a connection idle (or dribbling no complete request) for this long"))
    http_connection_limit: int = Field(default=200, ge=1, description=(
        "open connections `slabridge serve` accepts at once; more wait in the listen backlog"))
    metrics_token_env: str = Field(default="SLABRIDGE_METRICS_TOKEN", description=(
        "environment variable holding the bearer token for GET /metrics (the admin token works too); "
        "/metrics is off while neither is set"))
    console: bool = Field(default=True, description=(
        "serve the operator console at /console (it is off, saying how to turn it on, while the admin token is unset)"))
    console_secure_cookie: bool = Field(default=False, description=(
        "mark the console's session cookie Secure: set it when the console is reached over HTTPS"))
    lookup_ttl_seconds: float = Field(default=900.0, gt=0, description="how long a vendor look-up is reused")
    retention_days: Retention = Field(default=30.0, description=(
        "days finished work is kept: decided webhooks (their events hold ticket text), sent write-backs, "
        "fired timers; \"forever\" keeps them"))
    audit_retention_days: Retention = Field(default=400.0, description=(
        "days the audit rows of decisions (rule, clause, inputs, actions) are kept; \"forever\" keeps them"))
    vendors: dict[str, VendorSettings] = Field(default_factory=dict)
    source: str = "(defaults)"

    def vendor(self, name: str) -> VendorSettings:
        """``name``'s settings; a vendor not configured gets the defaults (one frozen instance: this is read
        on every decision)."""
        return self.vendors.get(name) or _UNCONFIGURED

    @field_validator("database_url")
    @classmethod
    def _known_database(cls, value: str) -> str:
        if not value.startswith(("sqlite:///", "postgresql://", "postgresql+psycopg://")):
            raise ValueError("must be sqlite:///FILE or postgresql://USER@HOST/DB (the databases slabridge runs on)")
        return value

    @classmethod
    def settings_customise_sources(cls, settings_cls, init_settings, env_settings, dotenv_settings,
                                   file_secret_settings):
        environ = _ENVIRON.get()
        if environ is None:
            return (init_settings,)
        env = EnvSettingsSource(settings_cls)
        env.env_vars = {k.lower(): v for k, v in environ.items() if _is_setting(k)}
        return (env, init_settings)  # the environment overrides the file


def locate(path: str | os.PathLike | None) -> Path | None:
    """The config file to read, or None for the embedded defaults."""
    if path:
        return Path(path)
    if os.environ.get("SLABRIDGE_CONFIG"):
        return Path(os.environ["SLABRIDGE_CONFIG"])
    default = Path("slabridge.toml")
    return default if default.exists() else None


def load(path: str | os.PathLike | None = None, environ: dict[str, str] | None = None) -> Settings:
    """Read, override and validate the configuration; raise ConfigError listing every problem."""
    environ = os.environ if environ is None else environ
    file = locate(path)
    where = str(file) if file else "(defaults)"
    data: dict[str, Any] = {}
    if file:
        try:
            data = tomllib.loads(file.read_text())
        except FileNotFoundError:
            raise ConfigError([f"{where}: file not found"]) from None
        except (OSError, UnicodeDecodeError) as exc:  # a directory, unreadable, or not text at all
            raise ConfigError([f"{where}: cannot read: {exc}"]) from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError([f"{where}: not valid TOML: {exc}"]) from None
    data["source"] = where
    token = _ENVIRON.set(dict(environ))
    try:
        settings = Settings(**data)
    except ValidationError as exc:
        raise ConfigError([_blame(e, where, environ) for e in exc.errors()]) from None
    finally:
        _ENVIRON.reset(token)
    secrets = {settings.admin_token_env.upper()} | {n.upper() for v in settings.vendors.values() for n in
                                                     [*v.webhook_secrets_env, v.username_env, v.token_env] if n}
    unknown = [n for n in environ if _is_setting(n) and n.upper() not in secrets
               and n[len(ENV_PREFIX):].split("__")[0].lower() not in Settings.model_fields]
    if unknown:  # a typo would otherwise be silently ignored
        raise ConfigError([f"environment variable {n}: no such setting (keys: "
                           f"{', '.join(sorted(k for k in Settings.model_fields if k != 'source'))})"
                           for n in sorted(unknown)])
    return settings


def _is_setting(name: str) -> bool:
    upper = name.upper()
    return upper.startswith(ENV_PREFIX) and upper not in NOT_KEYS and not upper.startswith("SLABRIDGE_TEST_")


def _blame(error: dict, where: str, environ) -> str:
    """``environment variable X: problem`` when the value came from the environment, else ``file: key: problem``."""
    loc = [str(part) for part in error["loc"]]
    message = error["msg"].removeprefix("Value error, ")
    names = {n.upper(): n for n in environ if _is_setting(n)}
    for depth in range(len(loc), 0, -1):  # the variable that set this key or a table holding it
        name = names.get((ENV_PREFIX + "__".join(loc[:depth])).upper())
        if name:
            return f"environment variable {name}: {_key_path(error['loc'])}: {message}"
    return f"{where}: {_key_path(error['loc'])}: {message}"


def problems(settings: Settings, connectors: dict[str, Any]) -> list[str]:
    """Problems that validation alone cannot see: unknown vendors, missing secrets."""
    found = []
    for name, vendor in settings.vendors.items():
        if not vendor.enabled:
            continue
        where = f"{settings.source}: vendors.{name}"
        if name not in connectors:
            found.append(f"{where}: no installed connector is called {name!r} "
                         f"(installed: {', '.join(sorted(connectors)) or 'none'})")
        elif checked := getattr(connectors[name], "option_problems", None):  # a connector not built on Connector
            found += [f"{settings.source}: {problem}" for problem in checked(vendor)]
        if not vendor.base_url:
            found.append(f"{where}.base_url: required when the vendor is enabled")
        if not vendor.webhook_secrets_env:
            found.append(f"{where}.webhook_secrets_env: required when the vendor is enabled")
        for env in vendor.webhook_secrets_env + [e for e in (vendor.username_env, vendor.token_env) if e]:
            value = os.environ.get(env)
            if not value:
                found.append(f"{where}: environment variable {env} is not set")
            elif not value.strip():
                found.append(f"{where}: environment variable {env} holds only white space")
            elif value != value.strip():  # a secret read from a file keeps its newline: every signature would fail
                found.append(f"{where}: environment variable {env} has white space at its start or end (a newline "
                             "from a file?); the helpdesk's value has none")
    return found


def _key_path(loc: tuple) -> str:
    return ".".join(str(part) for part in loc) or "(top level)"
