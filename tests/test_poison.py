"""One bad event never halts the inbox; hostile headers never reach a traceback (parts of #16)."""

import json
from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from slabridge import hookimpl
from slabridge.plugins import Plugins
from slabridge.store import inbox, outbox, tickets, timers
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


def _decided_tickets(store, settings, signed, client, *tickets):
    for ticket in tickets:
        headers, body = signed("zendesk", ticket)
        assert client.post("/webhooks/zendesk", data=body, headers=headers).status_code == 202
    Worker(store, Plugins(settings)).drain()
    assert {r["ticket_id"] for r in store.rows("tickets")} == set(tickets)


def _spoil_state(store, ticket, state):
    """As if someone had edited the ticket's row by hand: ``state(stored) -> what is stored instead``."""
    with store.engine.begin() as conn:
        stored = conn.execute(sa.select(tickets.c.state).where(tickets.c.ticket_id == ticket)).scalar_one()
        conn.execute(tickets.update().where(tickets.c.ticket_id == ticket).values(state=state(stored)))


def test_a_stored_state_that_does_not_load_dead_letters_its_tickets_event_saying_where_and_others_are_decided(
        store, settings, signed, client):
    _decided_tickets(store, settings, signed, client, "1", "2")
    _spoil_state(store, "1", lambda s: {**s, "clocks": {"first_response": 5},
                                         "last_event": {**s["last_event"], "description": "PHI: MRN 12345"}})
    for ticket in ("1", "2", "3"):  # new events for both tickets, and a new ticket, in one batch
        headers, body = signed("zendesk", ticket, now=datetime.now(timezone.utc) + timedelta(minutes=1))
        assert client.post("/webhooks/zendesk", data=body, headers=headers).status_code == 202
    worker = Worker(store, Plugins(settings))
    for _ in range(2):  # the same failure twice: retrying it is futile
        worker.drain()
        with store.engine.begin() as conn:
            conn.execute(sa.text("UPDATE inbox SET not_before = 0"))
    assert {r["ticket_id"]: r["status"] for r in store.rows("inbox")} == {"1": "dead", "2": "done", "3": "done"}
    [dead] = store.dead_letters()
    assert dead["error"].startswith("StateUnreadable: ticket zendesk:1: its stored state does not load: at "
                                    "$.clocks[...]: Expected `object`, got `int`; mend or delete its row")
    assert "MRN" not in dead["error"]


def test_a_timer_whose_tickets_last_event_does_not_load_fires_empty_and_the_others_fire(store, settings, signed,
                                                                                         client, caplog):
    _decided_tickets(store, settings, signed, client, "1", "2")
    _spoil_state(store, "1", lambda s: {**s, "last_event": {"vendor": "zendesk", "description": "PHI: MRN 12345"}})
    with store.engine.begin() as conn:
        conn.execute(timers.insert(), [{"vendor": "zendesk", "ticket_id": t, "kind": "check", "fire_at": 1.0,
                                        "status": "pending"} for t in ("1", "2")])
    fired = store.fire_due_timers(now=2.0)
    assert sorted(t.ticket.id for t in fired) == ["1", "2"]
    assert [r["delivery_id"] for r in store.rows("inbox") if r["status"] == "pending"] == [
        f"timer:{next(t.id for t in fired if t.ticket.id == '2')}"]
    assert "ticket zendesk:1: a timer fired with nothing to decide: its stored state does not load: at " \
           "$.last_event: delivery_id: Field required" in caplog.text and "MRN" not in caplog.text


def test_the_report_and_metrics_leave_out_a_state_that_does_not_load_and_say_which(store, settings, signed, client,
                                                                                   caplog):
    from slabridge.metrics import exposition

    _decided_tickets(store, settings, signed, client, "1", "2")
    _spoil_state(store, "1", lambda s: {**s, "deadlines": "PHI: MRN 12345"})
    assert [c.ticket.id for c in store.ticket_clocks()] == ["2"]
    assert b"slabridge_queue_rows" in exposition(store)
    assert "ticket zendesk:1 is left out: its stored state does not load: at $.deadlines: Expected `object`, " \
           "got `str`" in caplog.text and "MRN" not in caplog.text


def test_a_stored_write_that_does_not_load_is_dead_at_once_saying_where_and_the_others_are_claimed(store, settings,
                                                                                                   signed, client):
    _decided_tickets(store, settings, signed, client, "1", "2")
    with store.engine.begin() as conn:  # ticket 1's first write edited by hand
        first = conn.execute(sa.select(sa.func.min(outbox.c.id)).where(outbox.c.ticket_id == "1")).scalar_one()
        conn.execute(outbox.update().where(outbox.c.id == first).values(action={"type": "add_tags", "tags": "PHI"}))
    later = datetime.now(timezone.utc).timestamp() + 3600  # past the retry the drain's failed sends set
    claimed = store.claim_outboxes("w", 60.0, now=later, limit=16)
    assert claimed and {row.ticket.id for row in claimed} == {"2"}  # ticket 1's later writes stay behind it
    assert store.claim_outboxes("w", 60.0, now=later + 1, limit=16) == []  # the dead one is not claimed again
    [dead] = store.dead_letters()
    assert (dead["kind"], dead["id"], dead["ticket_id"], dead["action"]) == ("write", first, "1", "add_tags")
    assert dead["error"].startswith("the stored write does not load: add_tags.tags: ") and "PHI" not in dead["error"]
    with store.engine.begin() as conn:  # not even an object: the dead letters still list it
        conn.execute(outbox.update().where(outbox.c.id == first).values(action="PHI"))
    assert [d["action"] for d in store.dead_letters()] == [None]
