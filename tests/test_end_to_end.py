"""Signed webhook over real HTTP -> receiver -> worker -> fake vendor API on loopback."""

import json

import httpx
import pytest

from slabridge.plugins import Plugins
from slabridge.worker import Worker
from slabridge_webhooks import create_app

TICKETS = {"zendesk": "41", "freshdesk": "42", "jira": "SUP-43"}
FINAL_TAGS = ["sla_unknown_customer"]


@pytest.fixture
def system(store, make_settings, db_url, live_server):
    connectors = Plugins().connectors
    fakes = {v: connectors[v].fake_api().start() for v in TICKETS}
    settings = make_settings(db_url, {v: f.url for v, f in fakes.items()})
    plugins = Plugins(settings)
    with live_server(create_app(settings, plugins, store)) as receiver:
        yield receiver, fakes, Worker(store, plugins)
    for fake in fakes.values():
        fake.stop()


@pytest.mark.parametrize("vendor", list(TICKETS))
def test_webhook_reaches_the_vendor_once(system, signed, vendor):
    receiver, fakes, worker = system
    headers, body = signed(vendor, TICKETS[vendor])
    with httpx.Client() as http:
        assert http.post(f"{receiver.url}/webhooks/{vendor}", headers=headers, content=body).status_code == 202
        assert http.post(f"{receiver.url}/webhooks/{vendor}", headers=headers, content=body).json()["status"] == "duplicate"
    worker.drain()
    assert fakes[vendor].tickets[TICKETS[vendor]]["tags"] == FINAL_TAGS
    writes = fakes[vendor].writes()
    assert len([w for w in writes if w.method in ("PUT", "POST")]) == 1
    # No vendor I/O happened before the worker ran: the receiver only persisted.


def test_echo_of_our_own_write_back_causes_no_further_write(system, signed, sign):
    receiver, fakes, worker = system
    headers, body = signed("jira", "SUP-50")
    with httpx.Client() as http:
        http.post(f"{receiver.url}/webhooks/jira", headers=headers, content=body)
        worker.drain()
        assert len(fakes["jira"].writes()) == 1
        echo = json.loads(body)
        echo["webhookEvent"] = "jira:issue_updated"
        echo["user"] = {"accountId": "slabridge-bot", "accountType": "atlassian"}
        echo["issue"]["fields"]["labels"] = FINAL_TAGS
        raw = json.dumps(echo).encode()
        answer = http.post(f"{receiver.url}/webhooks/jira", content=raw, headers=sign("jira", raw))
        assert answer.status_code == 202
    worker.drain()
    assert len(fakes["jira"].writes()) == 1


def test_a_later_human_update_with_the_tag_already_present_writes_nothing(system, signed, sign):
    receiver, fakes, worker = system
    headers, body = signed("zendesk", "60")
    with httpx.Client() as http:
        http.post(f"{receiver.url}/webhooks/zendesk", headers=headers, content=body)
        worker.drain()
        data = json.loads(body)
        data["ticket"]["tags"] = " ".join(FINAL_TAGS)
        data["event"] = "updated"
        raw = json.dumps(data).encode()
        assert http.post(f"{receiver.url}/webhooks/zendesk", headers=sign("zendesk", raw), content=raw).status_code == 202
    worker.drain()
    assert len(fakes["zendesk"].writes()) == 1
    assert len(worker.store.rows("audit")) == 2


@pytest.mark.parametrize("vendor, ticket, field", [("zendesk", "70", "360001"),
                                                   ("jira", "SUP-70", "customfield_10060")])
def test_a_deadline_withdrawn_empties_its_field_on_the_vendor(store, make_settings, db_url, vendor, ticket, field):
    """Fabrikam's ticket (Interopion) gets its first-response deadline written to the helpdesk; the customer then
    asks for a feature, which has no SLA: the field is emptied, in a request the vendor's document accepts."""
    from datetime import datetime, timedelta, timezone
    from pathlib import Path

    from slabridge.config import VendorSettings
    from slabridge.directory import load
    from slabridge.models import Actor, Comment, Organization, Person, TicketEvent, TicketRef

    root = Path(__file__).resolve().parents[1]
    directory, _ = load(root / "examples" / "contracts", root / "examples" / "customers.yaml")
    fake = Plugins().connectors[vendor].fake_api().start()
    try:
        settings = make_settings(db_url, {vendor: fake.url})
        settings.vendors[vendor] = VendorSettings(**{**settings.vendors[vendor].model_dump(),
                                                     "fields": {"first_response": field}})
        worker = Worker(store, Plugins(settings), directory)
        now = datetime.now(timezone.utc).replace(microsecond=0)
        common = dict(vendor=vendor, ticket=TicketRef(vendor=vendor, id=ticket), priority=None,
                      requester=Person(email="casey@fabrikam.example"),
                      organization=Organization(id="9100" if vendor == "zendesk" else "7"),
                      subject="Export", description="The export is slow.", created_at=now)
        store.enqueue(TicketEvent(delivery_id="e1", kind="created", occurred_at=now, **common))
        worker.drain()
        fields = fake.tickets[ticket].get("custom_fields" if vendor == "zendesk" else "fields") or {}
        assert fields.get(field), fields  # the due instant, written
        asked = Comment(public=True, author=Actor(email="casey@fabrikam.example"),
                        body="Also, we would like the ability to export to PDF.")
        store.enqueue(TicketEvent(delivery_id="e2", kind="comment", occurred_at=now + timedelta(minutes=5),
                                  comment=asked, **common))
        worker.drain()
        fields = fake.tickets[ticket].get("custom_fields" if vendor == "zendesk" else "fields") or {}
        assert field in fields and fields[field] is None, fields
        assert store.ticket_state(TicketRef(vendor=vendor, id=ticket)).deadlines == {}
    finally:
        fake.stop()
