"""One bad event never halts the inbox; hostile headers never reach a traceback (parts of #16)."""

import json

import pytest
import sqlalchemy as sa

from slabridge import hookimpl
from slabridge.plugins import Plugins
from slabridge.store import inbox
from slabridge.worker import Worker
from slabridge_webhooks import create_app


@pytest.fixture
def client(settings, store):
    return create_app(settings, Plugins(settings), store).test_client()


def test_a_wrongly_typed_is_staff_is_read_as_unknown_and_the_event_decided(client, store, settings, sign):
    body = json.dumps({"type": "zen:event-type:ticket.comment_added", "id": "e1", "time": "2026-03-02T14:12:30Z",
                       "detail": {"id": "77", "priority": "HIGH", "status": "OPEN"},
                       "event": {"comment": {"author": {"id": "5", "is_staff": ""}, "body": "x", "is_public": True}}}
                      ).encode()
    assert client.post("/webhooks/zendesk", data=body, headers=sign("zendesk", body)).status_code == 202
    Worker(store, Plugins(settings)).drain()
    assert [r["status"] for r in store.rows("inbox")] == ["done"]


def test_a_stored_event_that_no_longer_validates_is_dead_lettered_and_does_not_block_others(store, settings, signed,
                                                                                            client):
    for ticket in ("1", "2"):
        headers, body = signed("zendesk", ticket)
        assert client.post("/webhooks/zendesk", data=body, headers=headers).status_code == 202
    with store.engine.begin() as conn:  # as if an older version had stored something this one cannot read
        conn.execute(inbox.update().where(inbox.c.ticket_id == "1").values(event={"vendor": "zendesk"}))
    worker = Worker(store, Plugins(settings))
    for _ in range(settings.max_attempts + 2):
        worker.drain()
        with store.engine.begin() as conn:
            conn.execute(sa.text("UPDATE inbox SET not_before = 0"))
    statuses = {r["ticket_id"]: r["status"] for r in store.rows("inbox")}
    assert statuses == {"1": "dead", "2": "done"}
    assert any(d["kind"] == "event" and "ValidationError" in d["error"] for d in store.dead_letters())


class BrokenClassifier:
    @hookimpl(tryfirst=True)
    def slabridge_classify(self, event):
        return {}["severity"]  # a rule's bug


def test_a_rule_that_raises_dead_letters_its_event_saying_where_and_others_are_decided(store, settings, signed, client,
                                                                                      caplog):
    headers, body = signed("zendesk", "1")
    assert client.post("/webhooks/zendesk", data=body, headers=headers).status_code == 202
    worker = Worker(store, Plugins(settings, extra=(BrokenClassifier(),)))
    for _ in range(2):  # the same failure twice: retrying it is futile
        worker.drain()
        with store.engine.begin() as conn:
            conn.execute(sa.text("UPDATE inbox SET not_before = 0"))
    [dead] = store.dead_letters()
    line = BrokenClassifier.slabridge_classify.__code__.co_firstlineno + 2
    assert dead["error"] == f"KeyError: 'severity' (at tests/test_poison.py:{line} in slabridge_classify)"
    assert f"KeyError (at tests/test_poison.py:{line} in slabridge_classify)" in caplog.text


def test_a_timestamp_header_that_overflows_is_a_401_not_a_500(client, store):
    body = b'{"ticket": {"id": "1"}}'
    headers = {"Content-Type": "application/json", "X-Zendesk-Webhook-Signature": "x",
               "X-Zendesk-Webhook-Signature-Timestamp": "0001-01-01T00:00:00+14:00"}
    answer = client.post("/webhooks/zendesk", data=body, headers=headers)
    assert answer.status_code == 401 and answer.is_json
    assert store.rows("inbox") == []


def test_a_delivery_id_longer_than_the_store_keeps_is_refused(client, store, sign):
    body = b'{"webhookEvent": "jira:issue_created", "issue": {"key": "SUP-1", "fields": {}}}'
    headers = {**sign("jira", body), "X-Atlassian-Webhook-Identifier": "x" * 300}
    answer = client.post("/webhooks/jira", data=body, headers=headers)
    assert answer.status_code == 422 and "256" in answer.json["message"]
    assert store.rows("inbox") == []


def test_an_event_failing_the_same_way_twice_is_dead_lettered_without_waiting_for_max_attempts(store, settings,
                                                                                               signed, client):
    headers, body = signed("zendesk", "3")
    assert client.post("/webhooks/zendesk", data=body, headers=headers).status_code == 202
    with store.engine.begin() as conn:
        conn.execute(inbox.update().values(event={"vendor": "zendesk"}))
    worker = Worker(store, Plugins(settings))
    assert settings.max_attempts > 2
    for _ in range(2):
        worker.drain()
        with store.engine.begin() as conn:
            conn.execute(sa.text("UPDATE inbox SET not_before = 0"))
    [row] = store.rows("inbox")
    assert row["status"] == "dead" and row["attempts"] == 2
