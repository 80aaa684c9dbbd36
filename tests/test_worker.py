"""The worker against a fake vendor on loopback: retries, Retry-After, dead letters, timers."""

import time

import pytest

from slabridge.plugins import Plugins
from slabridge.worker import Worker


class Clock:
    def __init__(self, start: float):
        self.now = start

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def zendesk_fake():
    with Plugins().connectors["zendesk"].fake_api() as fake:
        yield fake


@pytest.fixture
def worker_for(store, make_settings, db_url):
    def build(fake, clock=time.time):
        settings = make_settings(db_url, {fake.name: fake.url})
        return Worker(store, Plugins(settings), clock=clock)
    return build


def enqueue_sample(store, signed, plugins_settings, vendor, ticket):
    from datetime import datetime, timezone

    from slabridge.connectors import WebhookRequest

    headers, body = signed(vendor, ticket)
    connector = Plugins().connectors[vendor]
    request = WebhookRequest(headers=headers, body=body, received_at=datetime.now(timezone.utc))
    assert store.enqueue(connector.parse(request, plugins_settings.vendor(vendor)))


def test_429_is_not_resent_before_retry_after(store, zendesk_fake, worker_for, signed, make_settings, db_url):
    clock = Clock(time.time())
    worker = worker_for(zendesk_fake, clock)
    enqueue_sample(store, signed, worker.settings, "zendesk", "7")
    zendesk_fake.fail_next("PUT", "/api/v2/tickets/7/tags", 429, headers={"Retry-After": "120"})
    worker.drain()
    assert [r.status for r in zendesk_fake.writes()] == [429]
    clock.now += 119
    worker.drain()
    assert len(zendesk_fake.writes()) == 1, "sent again before Retry-After expired"
    clock.now += 1
    worker.drain()
    assert [r.status for r in zendesk_fake.writes()] == [429, 200]
    assert zendesk_fake.tickets["7"]["tags"] == ["sla_unknown_customer"]


def test_short_retry_after_is_waited_in_process(store, zendesk_fake, worker_for, signed):
    worker = worker_for(zendesk_fake)
    client = worker.client_for("zendesk")
    client.max_retries, slept = 2, []
    client.sleep = slept.append
    enqueue_sample(store, signed, worker.settings, "zendesk", "8")
    zendesk_fake.fail_next("PUT", "/api/v2/tickets/8/tags", 503, headers={"Retry-After": "2"})
    worker.drain()
    assert slept == [2.0]
    assert [r.status for r in zendesk_fake.writes()] == [503, 200]


def test_4xx_goes_to_dead_letters_with_vendor_text(store, zendesk_fake, worker_for, signed):
    worker = worker_for(zendesk_fake)
    enqueue_sample(store, signed, worker.settings, "zendesk", "9")
    zendesk_fake.fail_next("PUT", "/api/v2/tickets/9/tags", 422, body={"error": "RecordInvalid"})
    worker.drain()
    row = store.rows("outbox")[0]
    assert row["status"] == "dead"
    assert "422" in row["error"] and "RecordInvalid" in row["error"]
    assert len(zendesk_fake.writes()) == 1


def test_server_errors_are_retried_through_an_outage_window_then_dead_lettered(store, zendesk_fake, worker_for, signed):
    clock = Clock(time.time())
    worker = worker_for(zendesk_fake, clock)
    enqueue_sample(store, signed, worker.settings, "zendesk", "10")
    for _ in range(40):
        zendesk_fake.fail_next("PUT", "/api/v2/tickets/10/tags", 500)
    for _ in range(worker.settings.max_attempts * 2):  # more attempts than max_attempts: not yet given up
        worker.drain()
        clock.now += 400
    row = store.rows("outbox")[0]
    assert row["status"] == "pending" and row["attempts"] == worker.settings.max_attempts * 2
    clock.now = row["failing_since"] + worker.settings.write_retry_hours * 3600 + 1
    worker.drain()
    assert store.rows("outbox")[0]["status"] == "dead"
    assert len(zendesk_fake.writes()) == worker.settings.max_attempts * 2 + 1


def test_unreachable_vendor_is_retried(store, worker_for, signed, make_settings, db_url):
    from slabridge.testing.fakeapi import FakeAPI

    clock = Clock(time.time())
    worker = worker_for(FakeAPI("zendesk", []).start(), clock)  # started to get a port...
    worker.settings.vendors["zendesk"].base_url = "http://127.0.0.1:9"  # ...but nothing listens here
    worker._clients.clear()
    enqueue_sample(store, signed, worker.settings, "zendesk", "11")
    worker.drain()
    row = store.rows("outbox")[0]
    assert row["status"] == "pending" and "ConnectError" in row["error"]


def test_dead_letters_are_listed_and_can_be_retried(store, zendesk_fake, worker_for, signed, db_url):
    from click.testing import CliRunner

    from slabridge.cli import main

    worker = worker_for(zendesk_fake)
    enqueue_sample(store, signed, worker.settings, "zendesk", "12")
    zendesk_fake.fail_next("PUT", "/api/v2/tickets/12/tags", 403, body={"error": "Forbidden"})
    worker.drain()
    env = {"SLABRIDGE_DATABASE_URL": db_url}
    listed = CliRunner().invoke(main, ["db", "dead", "--json"], env=env)
    rows = __import__("json").loads(listed.output)
    assert [(r["kind"], r["action"]) for r in rows] == [("write", "add_tags")] and "403" in rows[0]["error"]
    retried = CliRunner().invoke(main, ["db", "dead", "--retry", "write"], env=env)
    assert "1 write(s) queued again" in retried.output
    worker.drain()  # the cause is gone (no injected fault now): it goes through
    assert zendesk_fake.tickets["12"]["tags"] == ["sla_unknown_customer"]
    assert CliRunner().invoke(main, ["db", "dead"], env=env).output.strip() == "no dead letters"


def test_a_request_budget_spaces_requests_once_the_burst_is_spent():
    from slabridge.vendorapi import Throttle

    clock, slept = Clock(0.0), []

    def sleep(seconds):
        slept.append(seconds)
        clock.now += seconds

    throttle = Throttle(per_minute=60, concurrency=None, clock=clock, sleep=sleep)
    for _ in range(60):  # a full bucket: the first minute's budget at once
        throttle.take()
    assert slept == []
    for _ in range(3):
        throttle.take()
    assert len(slept) == 3 and abs(sum(slept) - 3.0) < 1e-6  # then one a second: 60 a minute


def test_a_429_pauses_every_write_to_that_vendor_not_only_its_own_row(store, zendesk_fake, worker_for, signed):
    clock = Clock(time.time())
    worker = worker_for(zendesk_fake, clock)
    enqueue_sample(store, signed, worker.settings, "zendesk", "13")
    enqueue_sample(store, signed, worker.settings, "zendesk", "14")
    zendesk_fake.fail_next("PUT", "/api/v2/tickets/13/tags", 429, headers={"Retry-After": "90"})
    worker.drain()
    assert [r.path for r in zendesk_fake.writes()] == ["/api/v2/tickets/13/tags"]  # 14 waits too
    [pause] = store.rows("vendor_pauses")
    assert pause["vendor"] == "zendesk" and abs(pause["until"] - (clock.now + 90)) < 1
    clock.now += 91
    worker.drain()
    assert zendesk_fake.tickets["14"]["tags"] and zendesk_fake.tickets["13"]["tags"]


def test_a_running_worker_builds_its_vendor_clients_first_and_one_that_fails_spares_the_others(
        store, make_settings, db_url, monkeypatch, caplog):
    import threading

    plugins = Plugins(make_settings(db_url))
    broken = plugins.connectors["jira"]
    monkeypatch.setattr(broken, "http_client", lambda settings: (_ for _ in ()).throw(RuntimeError("bad TLS file")))
    worker = Worker(store, plugins)
    stop = threading.Event()
    stop.set()
    worker.run(stop)
    assert sorted(worker._clients) == ["freshdesk", "zendesk"]
    assert "could not build the jira client" in caplog.text
