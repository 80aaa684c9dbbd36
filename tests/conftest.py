"""Shared fixtures: settings, stores on SQLite and on the real PostgreSQL, servers on loopback."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path
import threading
import uuid
from datetime import datetime, timezone

import pytest
import sqlalchemy as sa
from werkzeug.serving import make_server

from slabridge.config import Settings, VendorSettings
from slabridge.plugins import Plugins
from slabridge.store import Store
from slabridge.testing.rig import empty_database, postgres_engine

PG_URL = os.environ.get("SLABRIDGE_TEST_POSTGRES_URL")
REPO = Path(__file__).resolve().parents[1]
OUTSIDE_READS: list[str] = []


TEMP = Path(tempfile.gettempdir()).resolve()
SCRATCH = ("pytest-of-", "tmp", "slabridge-")  # what pytest, tempfile and the benchmarks create in TEMP


# The Python running the tests: a clone in the home folder has ~/.pyenv (or a venv) beside it.
RUNTIME = frozenset(Path(p).resolve() for p in (sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix))


def is_beside(path: Path, repo: Path, temp: Path, runtime: frozenset[Path] = RUNTIME) -> bool:
    """Whether ``path`` is beside ``repo`` (in its parent folder, not in it) as project material would be.

    Not counted: the Python installation running the tests and tools' hidden folders (``~/.pyenv``,
    ``~/.cache``), which a clone in the home folder has beside it; and, for a clone made in the
    temporary folder itself (/tmp/clone), the test run's own scratch files."""
    if not path.is_relative_to(repo.parent) or path.is_relative_to(repo) or path == repo.parent:
        return False
    if path.relative_to(repo.parent).parts[0].startswith(".") or any(path.is_relative_to(r) for r in runtime):
        return False
    return not (repo.parent == temp and path.relative_to(temp).parts[0].startswith(SCRATCH))


def _outside_repository(event: str, args: tuple) -> None:
    """Records every file a test opens beside the repository (a user's clone has nothing there)."""
    if event == "open" and isinstance(args[0], (str, Path)):
        path = Path(os.path.abspath(args[0]))
        if is_beside(path, REPO, TEMP):
            OUTSIDE_READS.append(str(path))


sys.addaudithook(_outside_repository)


@pytest.fixture
def outside_reads() -> list[str]:
    """The files opened beside the repository so far (the guard's record)."""
    return OUTSIDE_READS


@pytest.fixture(autouse=True)
def reads_stay_inside_the_repository():
    """Fails a test that opened a file outside the repository, in a folder next to it."""
    start = len(OUTSIDE_READS)
    yield
    opened = OUTSIDE_READS[start:]
    assert not opened, f"the test read outside the repository: {opened}"
VENDORS = ("zendesk", "freshdesk", "jira")
SECRET = "test-secret-one"


@pytest.fixture
def frequent_switches():
    """Threads switch every microsecond, so that shared state updated in steps is caught halfway as often
    as possible (the worker's threads share compiled calendars and phrase matchers)."""
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    yield
    sys.setswitchinterval(interval)


@pytest.fixture(scope="session")
def pg_database():
    """A throw-away database on the real PostgreSQL, for the whole session."""
    if not PG_URL:
        if os.environ.get("CI"):
            pytest.fail("SLABRIDGE_TEST_POSTGRES_URL must be set in CI: PostgreSQL tests may not skip there")
        pytest.skip("SLABRIDGE_TEST_POSTGRES_URL is not set (no PostgreSQL on this machine); CI sets it")
    admin = postgres_engine(PG_URL, isolation_level="AUTOCOMMIT")
    name = f"slabridge_test_{uuid.uuid4().hex[:10]}"
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = sa.engine.make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    yield url
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request, tmp_path):
    """Each test using it runs twice: on an SQLite file and on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/slabridge.db"
    return request.getfixturevalue("pg_empty")


@pytest.fixture
def pg_empty(pg_database):
    """The session's PostgreSQL database with every table dropped: no test sees another's rows."""
    empty_database(pg_database)
    return pg_database


@pytest.fixture
def store(db_url):
    store = Store(db_url)
    store.upgrade()
    yield store
    store.close()


@pytest.fixture
def secrets_env(monkeypatch):
    for vendor in VENDORS:
        monkeypatch.setenv(f"TEST_{vendor.upper()}_SECRET", SECRET)
        monkeypatch.delenv(f"TEST_{vendor.upper()}_SECRET_OLD", raising=False)
    return SECRET


def _make_settings(db_url: str, urls: dict[str, str] | None = None, **overrides) -> Settings:
    urls = urls or {}
    vendors = {v: VendorSettings(enabled=True, base_url=urls.get(v, "http://127.0.0.1:9"),
                                 webhook_secrets_env=[f"TEST_{v.upper()}_SECRET", f"TEST_{v.upper()}_SECRET_OLD"],
                                 self_user="slabridge-bot", max_retries=0)
               for v in VENDORS}
    return Settings(database_url=db_url, vendors=vendors, source="(test)", **overrides)


@pytest.fixture
def make_settings(secrets_env):
    """``make_settings(db_url, {vendor: base_url}, **overrides)``: all three vendors enabled."""
    return _make_settings


@pytest.fixture
def settings(db_url, make_settings):
    return make_settings(db_url)


@pytest.fixture
def plugins(settings):
    return Plugins(settings)


class LiveServer:
    """A WSGI app served on an ephemeral loopback port in a thread."""

    def __init__(self, app):
        self.server = make_server("127.0.0.1", 0, app, threaded=True)
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}"


@pytest.fixture
def live_server():
    """``with live_server(app) as server: server.url``: real HTTP on loopback."""
    return LiveServer


@pytest.fixture
def signed():
    """``signed(vendor, ticket_id)`` -> (headers, body) of a valid sample webhook."""
    connectors = Plugins(Settings()).connectors

    def make(vendor: str, ticket_id: str, secret: str = SECRET, now: datetime | None = None):
        return connectors[vendor].sample_webhook(secret, ticket_id, now or datetime.now(timezone.utc))

    return make


@pytest.fixture
def sign():
    """``sign(vendor, body, secret=SECRET, now=None)`` -> headers making ``body`` an authentic webhook."""
    connectors = Plugins(Settings()).connectors

    def make(vendor: str, body: bytes, secret: str = SECRET, now: datetime | None = None) -> dict[str, str]:
        return connectors[vendor].signed_headers(secret, body, now or datetime.now(timezone.utc))

    return make


# --- every request sent to a fake vendor is checked against the vendor's OpenAPI document ---

SPECS = Path(__file__).resolve().parent / "vendor-specs"  # copied in; provenance in its SOURCES.md
TAGS_BODY = {"content": {"application/json": {"schema": {
    "type": "object", "required": ["tags"], "additionalProperties": False,
    "properties": {"tags": {"type": "array", "items": {"type": "string"}}, "safe_update": {"type": "boolean"},
                   "updated_stamp": {"type": "string", "format": "date-time"}}}}}}
SPEC_SETUP = {
    "zendesk": (["zendesk-support.yaml"], {
        # SOURCES.md: custom_fields items point at a field *definition*; tickets take [{id, value}].
        "/components/schemas/TicketUpdateInput/properties/custom_fields/items": {
            "type": "object", "required": ["id"], "properties": {"id": {"type": "integer"}, "value": {}}},
        # SOURCES.md: Add/Remove Tags declare no body; the prose documents {tags, safe_update, updated_stamp}.
        "/paths/~1api~1v2~1tickets~1{ticket_id}~1tags/put/requestBody": TAGS_BODY,
        "/paths/~1api~1v2~1tickets~1{ticket_id}~1tags/delete/requestBody": TAGS_BODY,
    }),
    "freshdesk": (["freshdesk-community-unofficial.yaml"], {}),
    "jira": (["jira-platform-v3.json", "jira-servicedesk.json"], {}),
}


@pytest.fixture(scope="session")
def request_checkers():
    from slabridge.testing.specs import RequestChecker

    if not SPECS.is_dir():
        pytest.fail(f"vendor specs not found at {SPECS}")
    return {vendor: RequestChecker([SPECS / f for f in files], overrides)
            for vendor, (files, overrides) in SPEC_SETUP.items()}


@pytest.fixture(autouse=True)
def requests_match_vendor_specs(monkeypatch, request_checkers):
    """Fails a test if any request a fake vendor API received is rejected by the vendor's document."""
    from slabridge.testing.fakeapi import FakeAPI

    started: list[FakeAPI] = []
    original = FakeAPI.start

    def start(self):
        started.append(self)
        return original(self)

    monkeypatch.setattr(FakeAPI, "start", start)
    yield started
    problems = [f"{fake.name}: {p}" for fake in started if fake.name in request_checkers
                for r in fake.requests for p in request_checkers[fake.name].problems(r.method, r.path, r.body)]
    assert not problems, "requests the vendor's OpenAPI document rejects:\n" + "\n".join(problems)
