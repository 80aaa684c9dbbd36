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
