"""Escalation timers are durable: they fire with no webhook, survive restarts, and re-check the ticket."""

import json
import logging
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
import pytest

from slabridge.directory import load
from slabridge.models import TicketRef
from slabridge.plugins import Plugins
from slabridge.store import Store
from slabridge.worker import Worker
from slabridge_webhooks import create_app

ROOT = Path(__file__).resolve().parents[1]
T0 = datetime(2026, 3, 10, 14, 0, tzinfo=timezone.utc)  # Tue 10:00 New York: Poologics business hours


class Clock:
    def __init__(self, now: datetime):
        self.now = now.timestamp()

    def __call__(self):
        return self.now

    def at(self, when: datetime):
        self.now = when.timestamp()


def jira_webhook(key: str, description: str, event="jira:issue_created", comment=None, user="qm:ray") -> dict:
    body = {"timestamp": int(T0.timestamp() * 1000), "webhookEvent": event,
            "user": {"accountId": user, "emailAddress": "ray@tailspin.example"},
            "issue": {"key": key, "fields": {"summary": "Sync", "description": description,
                                             "priority": {"name": "Medium"}, "status": {"name": "Open"}, "labels": [],
                                             "reporter": {"accountId": "qm:ray", "emailAddress": "ray@tailspin.example"},
                                             "customfield_10002": [{"id": 12, "name": "Tailspin"}],
                                             "created": T0.isoformat()}}}
    if comment:
        body["comment"] = comment
    return body


def send(receiver, body: dict) -> httpx.Response:
    raw = json.dumps(body).encode()
    headers = Plugins().connectors["jira"].signed_headers("test-secret-one", raw, T0)
    return httpx.post(f"{receiver.url}/webhooks/jira", content=raw, headers=headers)


@pytest.fixture
def system(db_url, store, make_settings, live_server):
    fake = Plugins().connectors["jira"].fake_api().start()
    settings = make_settings(db_url, {"jira": fake.url}).model_copy(update={
        "contracts_dir": str(ROOT / "examples" / "contracts"),
        "customers_file": str(ROOT / "examples" / "customers.yaml")})
    settings.vendors["jira"].options["organization_field"] = "customfield_10002"
    settings.vendors["jira"].options["timestamp_tolerance_seconds"] = 10 ** 9  # bodies dated in the scenario's past
    plugins = Plugins(settings)
    clock = Clock(T0)

    def worker():
        directory, problems = load(settings.contracts_dir, settings.customers_file)
        assert problems == []
        return Worker(Store(db_url), plugins, directory, clock=clock)

    with live_server(create_app(settings, plugins, store)) as receiver:
        yield receiver, fake, worker, clock
    fake.stop()


def test_unanswered_ticket_escalates_with_no_webhook_even_after_a_restart(system):
    receiver, fake, worker, clock = system
    assert send(receiver, jira_webhook("POOL-7", "Calendar sync stopped.")).status_code == 202
    first = worker()
    first.drain()
    assert all(w.path != "/rest/api/3/issue/POOL-7/assignee" for w in fake.writes())
    ticket = TicketRef(vendor="jira", id="POOL-7")
    (pending,) = first.store.pending_timers(ticket)  # only the next instant: the 20-minute acknowledgement's warning
    assert T0.timestamp() < pending.fire_at <= T0.timestamp() + 20 * 60
    clock.at(datetime(2026, 3, 10, 15, 0, 1, tzinfo=timezone.utc))  # past the 50 % warning (1 h of 2 h)
    fresh = worker()  # a new worker process: nothing in memory, only the database
    fresh.drain()
    (pending,) = fresh.store.pending_timers(ticket)  # each fired timer's decision set the next one
    assert pending.fire_at > clock.now
    dead = [r for r in fresh.store.rows("outbox") if r["status"] == "dead"]
    # The ladder covers every metric: by now the 20-minute acknowledgement has breached too (L2).
    # Jira needs options.group_field to route to groups; without it the write is a dead letter saying so.
    assert {r["action"]["group"] for r in dead} <= {"tier2-technicians", "customer-success-supervisors"} and dead
    assert all("options.group_field is not configured" in r["error"] for r in dead)
    clock.at(datetime(2026, 3, 10, 16, 0, 2, tzinfo=timezone.utc))  # past the breach
    worker().drain()
    # A dead write holds the ticket's later writes back (never applied out of order) until it is dropped.
    assert all(d["blocks"] > 0 for d in fresh.store.dead_letters() if d["kind"] == "write")
    assert fresh.store.drop_dead("write") == len(dead)
    worker().drain()
    assert any("Level 1 escalation" in (w.body or {}).get("body", "") for w in fake.writes() if w.method == "POST")
    labels = fake.tickets["POOL-7"]["tags"]
    assert "sla_breached" in labels
    assert fake.tickets["POOL-7"]["fields"]["priority"] == {"name": "Highest"}  # L2 raises the priority


def test_a_ticket_answered_meanwhile_is_not_escalated_when_its_timer_fires(system):
    receiver, fake, worker, clock = system
    send(receiver, jira_webhook("POOL-8", "Calendar sync stopped."))
    worker().drain()
    clock.at(datetime(2026, 3, 10, 14, 30, tzinfo=timezone.utc))
    reply = {"id": "1", "body": "We are on it.", "jsdPublic": True,
             "author": {"accountId": "557058:agent", "emailAddress": "alex@poologics.example", "accountType": "atlassian"}}
    send(receiver, jira_webhook("POOL-8", "Calendar sync stopped.", event="comment_created", comment=reply,
                                user="557058:agent"))
    worker().drain()
    before = len(fake.writes())
    clock.at(datetime(2026, 3, 10, 17, 0, tzinfo=timezone.utc))
    worker().drain()
    after = fake.writes()[before:]
    assert not any("escalation" in str(w.body) for w in after)
    assert "sla_breached" not in fake.tickets["POOL-8"]["tags"]


def test_ticket_text_never_reaches_the_logs(system, caplog):
    receiver, fake, worker, clock = system
    caplog.set_level(logging.DEBUG)
    secret_text = "Patient MRN 99887766 DOB 01/02/1960 cannot generate an estimate"
    send(receiver, jira_webhook("POOL-9", secret_text))
    worker().drain()
    assert fake.writes()
    assert "99887766" not in caplog.text and "01/02/1960" not in caplog.text


def test_incident_billing_reads_the_ledger_inside_the_workers_transaction(db_url, store, make_settings):
    """triage-desk checks the balance while the worker holds its write transaction (SQLite must not wait)."""
    from slabridge.models import EventKind, Organization, Person, TicketEvent, TicketRef

    directory, _ = load(ROOT / "examples" / "contracts", ROOT / "examples" / "customers.yaml")
    in_term = datetime(2026, 4, 7, 13, tzinfo=timezone.utc)  # Northwind's term starts on 1 April
    worker = Worker(store, Plugins(make_settings(db_url)), directory, clock=lambda: in_term.timestamp())
    for n in range(3):
        store.enqueue(TicketEvent(vendor="freshdesk", delivery_id=f"d{n}", ticket=TicketRef(vendor="freshdesk", id=str(n)),
                                  kind=EventKind.created, requester=Person(email="pat@northwind.example"),
                                  organization=Organization(id="501"), priority="2", occurred_at=in_term))
    worker.drain()
    inbox = store.rows("inbox")
    # With the read blocked by the worker's own write lock, each event fails (database is locked) and waits.
    assert [(r["status"], r["attempts"], r["error"]) for r in inbox] == [("done", 1, None)] * 3
    assert [r["delta"] for r in store.rows("ledger")] == [-1, -1, -1]


def test_a_timer_writes_only_what_changed_not_again_what_slabridge_wrote_before(system):
    """Jira sends no webhook for slabridge's own edits (the JQL filter leaves them out): the timer's event is the
    creation webhook, from before the reclassification was written. It must not write the priority again."""
    receiver, fake, worker, clock = system
    send(receiver, jira_webhook("POOL-10", "We are blocked and cannot generate an estimate for a client."))
    worker().drain()
    def sets_priority(write) -> bool:
        return write.method == "PUT" and "priority" in ((write.body or {}).get("fields") or {})

    assert len([w for w in fake.writes() if sets_priority(w)]) == 1 and fake.tickets["POOL-10"]["fields"]["priority"] == {"name": "Highest"}
    before = len(fake.writes())
    clock.at(T0 + timedelta(minutes=11))  # past the warning of the critical 20-minute acknowledgement
    worker().drain()
    later = fake.writes()[before:]
    assert later and "sla_at_risk" in fake.tickets["POOL-10"]["tags"]  # the timer did write what changed
    assert not [w for w in later if sets_priority(w)]
