"""The ticket state's picture of a ticket is the helpdesk's own, checked against the helpdesk.

No webhook follows slabridge's own writes, so the engine keeps the ticket as its writes left it
(``engine._as_written``) and timers and partial events read that. Here the fake vendor is the helpdesk:
it starts as the webhook shows the ticket, then takes every write the connector's client sends over real
HTTP. After the first decision and after every timer, what the fake vendor shows (tags or labels, priority,
the mapped deadline field) must be what the stored ticket state says it shows: an independent check of the
model against what the clients really wrote, for each connector.
"""

from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
import pytest
from pydantic import BaseModel

from slabridge.cli.demo import FIELDS, OPTIONS
from slabridge.contract import Route
from slabridge.directory import load
from slabridge.models import TicketRef
from slabridge.plugins import Plugins
from slabridge.timeparse import parse_instant
from slabridge.worker import Worker
from slabridge_webhooks import create_app

ROOT = Path(__file__).resolve().parents[1]
TICKETS = {"zendesk": "4101", "freshdesk": "4102", "jira": "SUP-4103"}
STEPS = (timedelta(minutes=10), timedelta(minutes=40), timedelta(hours=3), timedelta(hours=12), timedelta(days=2),
         timedelta(days=6))  # past warnings, breaches and escalation steps of the sample tickets' contracts


def routed_groups(directory, vendor: str) -> set[str]:
    """Every group name the contracts route to for ``vendor`` (escalation steps, appeals, request types)."""
    found = set()

    def walk(value):
        if isinstance(value, Route):
            group = value.for_vendor(vendor)[0]
            found.update([group] if group else [])
        elif isinstance(value, BaseModel):
            for name in type(value).model_fields:
                walk(getattr(value, name))
        elif isinstance(value, (list, tuple)):
            for item in value:
                walk(item)
        elif isinstance(value, dict):
            for item in value.values():
                walk(item)

    for contract in directory.contracts.values():
        walk(contract)
    return found


def seeded(vendor: str, fake, ticket: str) -> None:
    """The fake ticket as the sample webhook shows it (no tags, the sample's priority, no deadline field)."""
    if vendor == "zendesk":
        fake.ticket(ticket, updated_at="2026-01-01T00:00:00Z").update(tags=[], priority="normal", custom_fields={})
    elif vendor == "freshdesk":
        fake.ticket(ticket).update(tags=[], priority=2, custom_fields={})  # "Medium" in the webhook
    else:
        fake.ticket(ticket, fields={}).update(tags=[])
        fake.tickets[ticket]["fields"]["priority"] = {"name": "Medium"}


def shown_by_vendor(vendor: str, fake, ticket: str) -> tuple[set, str | None, str | None]:
    """(tags, priority, deadline field) as the helpdesk now shows them, in the terms its webhooks use."""
    field = FIELDS[vendor]["first_response"]
    record = fake.tickets[ticket]
    if vendor == "jira":
        fields = record["fields"]
        return set(record["tags"]), (fields.get("priority") or {}).get("name"), fields.get(field)
    priority = record.get("priority")
    return set(record["tags"]), None if priority is None else str(priority), record["custom_fields"].get(field)


def shown_by_state(vendor: str, state) -> tuple[set, str | None, str | None]:
    event = state.last_event
    return set(event.tags), event.priority, event.custom_fields.get(FIELDS[vendor]["first_response"])


def same(vendor_view, state_view) -> bool:
    (tags, priority, field), (their_tags, their_priority, their_field) = vendor_view, state_view
    return (tags, priority) == (their_tags, their_priority) and parse_instant(field) == parse_instant(their_field)


@pytest.mark.parametrize("vendor", ["zendesk", "freshdesk", "jira"])
def test_the_state_shows_the_ticket_as_the_helpdesk_does_after_every_write(vendor, db_url, store, make_settings,
                                                                           live_server, secrets_env):
    connector = Plugins().connectors[vendor]
    fake = connector.fake_api().start()
    try:
        settings = make_settings(db_url, {vendor: fake.url}).model_copy(update={
            "contracts_dir": str(ROOT / "examples" / "contracts"),
            "customers_file": str(ROOT / "examples" / "customers.yaml")})
        settings.vendors[vendor].fields.update(FIELDS[vendor])
        settings.vendors[vendor].options.update(OPTIONS.get(vendor, {}))
        if vendor == "jira":
            settings.vendors[vendor].options["group_field"] = "customfield_10050"  # where Jira keeps a group
        directory, problems = load(settings.contracts_dir, settings.customers_file)
        assert problems == []
        groups = sorted(routed_groups(directory, vendor))
        assert groups  # the escalations route somewhere: group writes are part of what is checked
        settings.vendors[vendor].groups.update({name: str(9000 + index) for index, name in enumerate(groups)})
        plugins = Plugins(settings)
        start = datetime.now(timezone.utc).replace(microsecond=0)
        now = [start.timestamp()]
        worker = Worker(store, plugins, directory, clock=lambda: now[0])
        ticket = TICKETS[vendor]
        seeded(vendor, fake, ticket)

        headers, body = connector.sample_webhook(secrets_env, ticket, start)
        with live_server(create_app(settings, plugins, store)) as receiver:
            assert httpx.post(f"{receiver.url}/webhooks/{vendor}", headers=headers, content=body).status_code == 202
        worker.drain()
        ref = TicketRef(vendor=vendor, id=ticket)
        views = [(shown_by_vendor(vendor, fake, ticket), shown_by_state(vendor, store.ticket_state(ref)))]
        for step in STEPS:
            now[0] = (start + step).timestamp()
            worker.drain()
            views.append((shown_by_vendor(vendor, fake, ticket), shown_by_state(vendor, store.ticket_state(ref))))

        differing = [(index, vendor_view, state_view) for index, (vendor_view, state_view) in enumerate(views)
                     if not same(vendor_view, state_view)]
        assert [(r["id"], r["status"]) for r in store.rows("outbox") if r["status"] != "done"] == []
        assert differing == [], views
        writes = fake.writes()
        assert writes and all(200 <= w.status < 300 for w in writes)
        first, last = views[0][0], views[-1][0]
        assert first[2] is not None  # the deadline field was written
        assert last[0] - first[0], "no timer wrote a tag: the check would see only the first decision"
    finally:
        fake.stop()
