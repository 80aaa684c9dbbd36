"""GET /metrics: Prometheus text, behind a token, counting webhooks, decisions and write-backs, with
queue depths and deadlines at risk or breached read from the database."""

import time
from datetime import datetime, timedelta, timezone

import pytest
from prometheus_client.parser import text_string_to_metric_families

from slabridge.engine import TicketState
from slabridge.models import TicketRef
from slabridge.plugins import Plugins
from slabridge.store import tickets
from slabridge.worker import Worker
from slabridge_webhooks import create_app


@pytest.fixture
def client(settings, store, monkeypatch):
    monkeypatch.setenv("SLABRIDGE_METRICS_TOKEN", "scrape-me")
    return create_app(settings, Plugins(settings), store).test_client()


def scrape(client) -> dict[tuple, float]:
    answer = client.get("/metrics", headers={"Authorization": "Bearer scrape-me"})
    assert answer.status_code == 200 and answer.mimetype == "text/plain"
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(answer.get_data(as_text=True)) for s in family.samples}


def value(samples, name, **labels) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_metrics_are_off_without_a_token_and_refuse_a_wrong_or_query_string_one(settings, store, monkeypatch):
    monkeypatch.delenv("SLABRIDGE_METRICS_TOKEN", raising=False)
    monkeypatch.delenv("SLABRIDGE_ADMIN_TOKEN", raising=False)
    off = create_app(settings, Plugins(settings), store).test_client().get("/metrics")
    assert off.status_code == 404 and "SLABRIDGE_METRICS_TOKEN" in off.json["message"]
    monkeypatch.setenv("SLABRIDGE_METRICS_TOKEN", "scrape-me")
    on = create_app(settings, Plugins(settings), store).test_client()
    assert on.get("/metrics", headers={"Authorization": "Bearer nope"}).status_code == 401
    assert on.get("/metrics?token=scrape-me").status_code == 401


def test_webhooks_decisions_and_write_backs_are_counted(client, store, settings, signed):
    before = scrape(client)
    headers, body = signed("zendesk", "61")
    assert client.post("/webhooks/zendesk", headers=headers, data=body).status_code == 202
    assert client.post("/webhooks/zendesk", headers=headers, data=body).status_code == 200
    bad_headers, _ = signed("zendesk", "62", secret="wrong")
    assert client.post("/webhooks/zendesk", headers=bad_headers, data=body).status_code == 401
    middle = scrape(client)
    for outcome, status in (("accepted", "202"), ("duplicate", "200"), ("rejected", "401")):
        labels = dict(vendor="zendesk", outcome=outcome, status=status)
        assert value(middle, "slabridge_webhooks_total", **labels) == value(before, "slabridge_webhooks_total",
                                                                              **labels) + 1
    assert value(middle, "slabridge_queue_rows", queue="inbox", status="pending") == 1
    with Plugins().connectors["zendesk"].fake_api() as fake:
        settings.vendors["zendesk"].base_url = fake.url
        Worker(store, Plugins(settings)).drain()
    after = scrape(client)
    assert value(after, "slabridge_decision_seconds_count", vendor="zendesk") > value(
        before, "slabridge_decision_seconds_count", vendor="zendesk")
    sent = dict(vendor="zendesk", action="add_tags", outcome="sent", status="0")
    assert value(after, "slabridge_writebacks_total", **sent) == value(before, "slabridge_writebacks_total", **sent) + 1
    assert value(after, "slabridge_queue_rows", queue="inbox", status="done") == 1
    assert value(after, "slabridge_queue_rows", queue="outbox", status="done") >= 1


def test_deadlines_at_risk_and_breached_by_customer_and_severity(client, store):
    now = datetime.now(timezone.utc)
    for ticket_id, deadline in (("71", {"due_at": (now - timedelta(hours=1)).isoformat(), "breached": True}),
                                ("72", {"due_at": (now + timedelta(hours=1)).isoformat(), "breached": False,
                                        "warn_at": (now - timedelta(minutes=5)).isoformat()}),
                                ("73", {"due_at": (now + timedelta(hours=5)).isoformat(), "breached": False,
                                        "warn_at": (now + timedelta(hours=4)).isoformat()})):
        state = TicketState(ticket=TicketRef(vendor="zendesk", id=ticket_id), customer="acme-offices",
                            memory={"level": "sev1"}, deadlines={"first_response": deadline})
        with store.engine.begin() as conn:
            conn.execute(tickets.insert().values(vendor="zendesk", ticket_id=ticket_id, version=1,
                                                 state=state.dump(), updated_at=time.time()))
    samples = scrape(client)
    labels = dict(customer="acme-offices", severity="sev1", metric="first_response")
    assert value(samples, "slabridge_deadlines", state="breached", **labels) == 1
    assert value(samples, "slabridge_deadlines", state="at_risk", **labels) == 1
