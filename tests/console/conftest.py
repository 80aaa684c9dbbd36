"""A database the real worker filled from a realistic history over the example contracts, with write-backs
sent to loopback fake vendors (one of which refuses a ticket's update, so there is a dead letter)."""

import random
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from slabridge.config import Settings, VendorSettings
from slabridge.directory import load, route_group_problems
from slabridge.models import TicketRef
from slabridge.plugins import Plugins
from slabridge.store import Store
from slabridge.testing.history import generate, record
from slabridge.worker import Worker
from slabridge_webhooks import create_app

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "console-test-token-4f1c"
PHI = "SSN 078-05-1120"


@pytest.fixture(scope="session")
def site(tmp_path_factory):
    """(settings, store, events, fakes) of a recorded history; the fakes stay up while it is used."""
    folder = tmp_path_factory.mktemp("console")
    url = f"sqlite:///{folder}/console.db"
    plugins = Plugins(Settings())
    fakes = {v: plugins.connectors[v].fake_api().start() for v in ("zendesk", "freshdesk", "jira")}
    contracts, customers = ROOT / "examples" / "contracts", ROOT / "examples" / "customers.yaml"
    names: set[str] = set()
    route_group_problems(contracts, customers, lambda name, vendor: names.add(name))
    groups = {name: str(3000 + i) for i, name in enumerate(sorted(names))}
    jira_options = {"group_field": "customfield_10050", "organization_field": "customfield_10002"}
    settings = Settings(database_url=url, contracts_dir=str(contracts), customers_file=str(customers), source="(test)",
                        vendors={v: VendorSettings(enabled=True, base_url=f.url, self_user="slabridge-bot", max_retries=0,
                                                   groups={} if v == "jira" else groups,
                                                   options=jira_options if v == "jira" else {})
                                 for v, f in fakes.items()})
    store = Store(url)
    store.upgrade()
    directory, problems = load(settings.contracts_dir, settings.customers_file)
    assert not problems, problems
    start = datetime.now(timezone.utc) - timedelta(hours=30)
    events = [e.model_copy(update={"description": f"{e.description} {PHI}"})
              for e in generate(300, random.Random(11), start=start)]
    refuse(fakes["jira"], next(e.ticket.id for e in events if e.vendor == "jira"))
    record(store, Plugins(settings), directory, events, until=datetime.now(timezone.utc))
    yield settings, store, events, fakes
    for fake in fakes.values():
        fake.stop()
    store.engine.dispose()


def refuse(jira, issue: str) -> None:
    """The next update of ``issue`` is refused as Jira refuses a field not on the edit screen."""
    jira.fail_next("PUT", f"/rest/api/3/issue/{issue}", 400,
                   body={"errorMessages": ["Field 'priority' cannot be set: it is not on the screen."]})


@pytest.fixture
def dead_write(site) -> dict:
    """A write-back the vendor refused: the history made one; once a test has retried or dropped it, a new Jira
    ticket arrives while Jira refuses every request, and the worker dead-letters its write."""
    settings, store, events, fakes = site
    dead = [r for r in store.dead_letters() if r["kind"] == "write"]
    if dead:
        return dead[0]
    now = datetime.now(timezone.utc)
    template = next(e for e in events if e.vendor == "jira" and e.kind == "created")
    number = len(store.rows("inbox"))
    store.enqueue(template.model_copy(update={
        "delivery_id": f"refused-{number}", "ticket": TicketRef(vendor="jira", id=f"SUP-{90_000 + number}"),
        "created_at": now, "occurred_at": now}))
    worker = Worker(store, Plugins(settings), load(settings.contracts_dir, settings.customers_file)[0])
    fakes["jira"].outage(400, seconds=60)
    try:
        for _ in range(500):
            dead = [r for r in store.dead_letters() if r["kind"] == "write"]
            if dead or not worker.step():
                break
    finally:
        fakes["jira"].outage(400, seconds=0)
    assert dead, "the vendor's refusal did not make a dead letter"
    return dead[0]


@pytest.fixture
def console_app(site, monkeypatch):
    settings, store, *_ = site
    monkeypatch.setenv(settings.admin_token_env, TOKEN)
    return create_app(settings, Plugins(settings), store)
