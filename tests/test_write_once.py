"""Write-backs happen once: leases outlast the retry budget and are renewed, only the holder finishes a
row, a note or reply whose first attempt may have reached the vendor is looked for before it is sent
again, outages are ridden out for hours, and a dead write holds its ticket's later writes back."""

import threading
import time

import pytest

from slabridge.models import ACTIONS, AddTags, InternalNote, PublicReply, SetPriority, SetStatus
from slabridge.plugins import Plugins
from slabridge.store import outbox
from slabridge.worker import Worker, lease_for


class Clock:
    def __init__(self, start: float):
        self.now = start

    def __call__(self) -> float:
        return self.now


def add_write(store, vendor: str, ticket: str, action, delivery: str = "d1", at: float | None = None) -> int:
    """An outbox row as a decision writes it (a decision's rows share its delivery id and time ``at``)."""
    with store.engine.begin() as conn:
        return conn.execute(outbox.insert().values(
            vendor=vendor, ticket_id=ticket, delivery_id=delivery, action=ACTIONS.dump_python(action, mode="json"),
            status="pending", attempts=0, not_before=0.0, created_at=at or time.time())).inserted_primary_key[0]


CASES = [  # vendor, ticket, comment_api, where its comments are listed, how a note is written
    ("zendesk", "21", None, "/api/v2/tickets/21/comments", ("PUT", "/api/v2/tickets/21")),
    ("freshdesk", "21", None, "/api/v2/tickets/21/conversations", ("POST", "/api/v2/tickets/21/notes")),
    ("jira", "SUP-21", "servicedesk", "/rest/servicedeskapi/request/SUP-21/comment",
     ("POST", "/rest/servicedeskapi/request/SUP-21/comment")),
    ("jira", "SUP-22", "platform", "/rest/api/3/issue/SUP-22/comment", ("POST", "/rest/api/3/issue/SUP-22/comment")),
]


def comment_writes(fake, text: str) -> list:
    return [r for r in fake.writes() if text in str(r.body)]


@pytest.fixture
def vendor_worker(store, make_settings, db_url):
    fakes = []

    def build(vendor, comment_api=None, clock=time.time):
        fake = Plugins().connectors[vendor].fake_api().start()
        fakes.append(fake)
        settings = make_settings(db_url, {vendor: fake.url})
        if comment_api:
            settings.vendors[vendor].options["comment_api"] = comment_api
        return Worker(store, Plugins(settings), clock=clock), fake

    yield build
    for fake in fakes:
        fake.stop()


@pytest.mark.parametrize("vendor,ticket,comment_api,listing,write", CASES)
@pytest.mark.parametrize("kind", [InternalNote, PublicReply])
def test_a_comment_sent_before_a_crash_is_not_posted_again(store, vendor_worker, vendor, ticket, comment_api,
                                                           listing, write, kind):
    clock = Clock(time.time())
    worker, fake = vendor_worker(vendor, comment_api, clock)
    add_write(store, vendor, ticket, kind(body="Reclassified to P1."))
    crashed = store.claim_outbox("crashed-worker", lease_seconds=30, now=clock.now)
    worker.client_for(vendor).deliver(crashed.ticket, [crashed.action], [crashed.write_key], maybe_sent=False)
    # ...the process dies here: the vendor has the comment, the row is still "sending".
    assert store.rows("outbox")[0]["status"] == "sending"
    clock.now += 31  # the lease expires; another worker takes the row over
    assert worker.send_one()
    posts = comment_writes(fake, "Reclassified to P1.")
    assert len(posts) == 1, "the comment was posted twice"
    assert any(r.method == "GET" and r.path == listing for r in fake.requests), "no look before re-sending"
    assert store.rows("outbox")[0]["status"] == "done"
    assert f"[ref sb-{crashed.write_key}]" in str(posts[0].body)


@pytest.mark.parametrize("vendor,ticket,comment_api,listing,write", CASES)
def test_a_comment_whose_first_attempt_failed_is_sent_on_the_retry(store, vendor_worker, vendor, ticket,
                                                                    comment_api, listing, write):
    clock = Clock(time.time())
    worker, fake = vendor_worker(vendor, comment_api, clock)
    add_write(store, vendor, ticket, InternalNote(body="Escalated to L2."))
    fake.fail_next(*write, 503)
    worker.drain()
    clock.now += 400
    worker.drain()
    posts = comment_writes(fake, "Escalated to L2.")
    assert [r.status for r in posts][0] == 503 and len(posts) == 2 and posts[1].status < 300
    assert any(r.method == "GET" and r.path == listing for r in fake.requests)  # looked: not there, so sent
    assert store.rows("outbox")[0]["status"] == "done"


def test_a_tag_write_is_idempotent_and_sent_without_looking(store, vendor_worker):
    worker, fake = vendor_worker("zendesk")
    add_write(store, "zendesk", "23", AddTags(tags=("sla_p1",)))
    store.claim_outbox("crashed-worker", lease_seconds=30, now=time.time() - 60)  # claimed long ago, lease gone
    worker.drain()
    assert not any("/comments" in r.path for r in fake.requests)
    assert fake.tickets["23"]["tags"] == ["sla_p1"]


def test_only_the_lease_holder_finishes_a_row(store):
    add_write(store, "zendesk", "24", AddTags(tags=("x",)))
    slow = store.claim_outbox("slow", lease_seconds=10, now=1000.0)
    taken = store.claim_outbox("fresh", lease_seconds=10, now=1011.0)  # slow's lease ran out
    assert taken.id == slow.id and taken.attempts == 2
    assert not store.finish_outbox(slow.id, "done", owner="slow", now=1012.0)
    assert store.rows("outbox")[0]["status"] == "sending"  # still fresh's
    assert not store.renew_outbox(slow.id, "slow", 10, now=1012.0)
    assert store.renew_outbox(taken.id, "fresh", 10, now=1012.0)
    assert store.claim_outbox("third", now=1021.0) is None  # renewed until 1022
    assert store.finish_outbox(taken.id, "done", owner="fresh", now=1013.0)
    assert store.rows("outbox")[0]["status"] == "done"


def test_a_batch_of_outcomes_is_recorded_only_for_the_rows_still_held(store):
    """Done and unsent rows are finished in one statement each; a row whose lease another worker took
    is left to it whatever the batch says."""
    from slabridge.store import Finished

    ids = [add_write(store, "zendesk", str(30 + n), AddTags(tags=("x",))) for n in range(5)]
    claimed = store.claim_outboxes("slow", lease_seconds=10, now=1000.0, limit=5)
    assert sorted(r.id for r in claimed) == ids
    with store.engine.begin() as conn:  # the second and fourth leases ran out and "fresh" took them
        conn.execute(outbox.update().where(outbox.c.id.in_([ids[1], ids[3]])).values(lease_owner="fresh"))
    outcomes = [Finished(ids[0], "done"), Finished(ids[1], "done"), Finished(ids[2], "unsent"),
                Finished(ids[3], "unsent"), Finished(ids[4], "pending", "503", retry_at=1100.0)]
    assert store.finish_outboxes(outcomes, now=1005.0, owner="slow") == [True, False, True, False, True]
    rows = {r["id"]: r for r in store.rows("outbox")}
    assert [rows[i]["status"] for i in ids] == ["done", "sending", "pending", "sending", "pending"]
    assert rows[ids[0]]["done_at"] == 1005.0 and rows[ids[0]]["lease_owner"] is None
    assert rows[ids[2]]["attempts"] == 0  # released untried: the attempt does not count
    assert (rows[ids[4]]["not_before"], rows[ids[4]]["error"], rows[ids[4]]["attempts"]) == (1100.0, "503", 1)
    assert rows[ids[1]]["lease_owner"] == rows[ids[3]]["lease_owner"] == "fresh"


def test_the_lease_outlasts_the_clients_whole_retry_budget(make_settings, db_url):
    settings = make_settings(db_url)
    for vendor in settings.vendors.values():
        vendor.max_retries, vendor.timeout_seconds = 4, 10.0
    assert lease_for(settings) > 5 * (10.0 + 10.0)  # five attempts, each a timeout plus a Retry-After wait


def test_a_slow_send_keeps_its_lease_alive(store, vendor_worker):
    worker, fake = vendor_worker("zendesk")
    worker.lease_seconds = 3.0  # renewed every second
    add_write(store, "zendesk", "25", AddTags(tags=("slow",)))
    fake.fail_next("PUT", "/api/v2/tickets/25/tags", 503, delay=5.0)  # a vendor that takes 5 s to fail
    sender = threading.Thread(target=worker.send_one)
    sender.start()
    time.sleep(4.0)  # past the first lease, which renewal must have extended
    stolen = store.claim_outbox("other", lease_seconds=3.0)
    sender.join()
    assert stolen is None, "another worker took over a row that was still being sent"
    row = store.rows("outbox")[0]
    assert row["status"] == "pending" and "503" in row["error"]


def test_a_dead_write_holds_back_its_tickets_later_writes_until_dropped(store, vendor_worker):
    from click.testing import CliRunner

    from slabridge.cli import main

    worker, fake = vendor_worker("zendesk")
    add_write(store, "zendesk", "26", AddTags(tags=("first",)))
    add_write(store, "zendesk", "26", AddTags(tags=("second",)))
    add_write(store, "zendesk", "27", AddTags(tags=("other-ticket",)))
    fake.fail_next("PUT", "/api/v2/tickets/26/tags", 422, body={"error": "RecordInvalid"})
    worker.drain()
    assert fake.tickets["27"]["tags"] == ["other-ticket"]  # other tickets go on
    assert fake.tickets["26"]["tags"] == []  # "second" waits behind the dead "first"
    [dead] = store.dead_letters()
    assert dead["blocks"] == 1
    listed = CliRunner().invoke(main, ["db", "dead"], env={"SLABRIDGE_DATABASE_URL": store.url})
    assert "holds back 1 later write" in listed.output
    dropped = CliRunner().invoke(main, ["db", "dead", "--drop", "write", "--id", str(dead["id"])],
                                 env={"SLABRIDGE_DATABASE_URL": store.url})
    assert "1 write(s) dropped" in dropped.output
    worker.drain()
    assert fake.tickets["26"]["tags"] == ["second"]


def test_a_vendor_outage_of_minutes_dead_letters_nothing(store, vendor_worker):
    clock = Clock(time.time())
    worker, fake = vendor_worker("zendesk", clock=clock)
    add_write(store, "zendesk", "28", AddTags(tags=("after-outage",)))
    for _ in range(100):
        fake.fail_next("PUT", "/api/v2/tickets/28/tags", 503)
    start = clock.now
    while clock.now - start < 3600:  # an hour of 503s
        worker.drain()
        clock.now += 120
    assert store.rows("outbox")[0]["status"] == "pending" and len(fake.writes()) > worker.settings.max_attempts
    fake.faults.clear()  # the vendor is back
    clock.now += 301  # the longest backoff
    worker.drain()
    assert fake.tickets["28"]["tags"] == ["after-outage"]


def test_a_lease_held_by_a_process_that_is_gone_is_released_at_once(store):
    import subprocess
    import sys

    from slabridge.worker import HOST, orphaned

    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_owner = f"{HOST}:{gone.stdout.strip()}:abcd1234"
    add_write(store, "zendesk", "29", AddTags(tags=("x",)))
    add_write(store, "zendesk", "30", AddTags(tags=("y",)))
    store.claim_outbox(dead_owner, lease_seconds=600)
    store.claim_outbox(f"{HOST}:{__import__('os').getpid()}:live", lease_seconds=600)  # this process: alive
    assert orphaned(dead_owner) and not orphaned("other-host:1:x")
    assert store.release_leases(orphaned) == 1
    again = store.claim_outbox("next")
    assert again is not None and again.ticket.id == "29" and again.attempts == 2  # a re-send: looked up first


@pytest.mark.postgres
def test_releasing_a_gone_workers_leases_never_waits_on_a_row_another_worker_holds(pg_empty):
    """A worker claiming one of the gone worker's rows (its lease ran out) holds it while it locks the
    rest of that decision's writes; a release waiting on it meanwhile was a deadlock (seen in the crash
    test: PostgreSQL failed the release, a traceback in the worker's log). The held row is skipped."""
    import sqlalchemy as sa

    from slabridge.store import Store

    store = Store(pg_empty)
    store.upgrade()
    try:
        for ticket in ("41", "42", "43"):
            add_write(store, "zendesk", ticket, AddTags(tags=("x",)))
        for _ in range(3):
            store.claim_outbox("gone-host:1:dead", lease_seconds=600)
        first = min(row["id"] for row in store.rows("outbox"))
        with store.engine.connect() as holder:  # another worker's transaction holds the first row
            holder.begin()
            holder.execute(sa.select(outbox.c.id).where(outbox.c.id == first).with_for_update())
            released: list[int] = []
            releasing = threading.Thread(target=lambda: released.append(store.release_leases(lambda o: "dead" in o)))
            releasing.start()
            releasing.join(timeout=10)
            waited = releasing.is_alive()
            holder.rollback()
        releasing.join()
        assert not waited and released == [2]
        leases = {row["id"]: row["lease_until"] for row in store.rows("outbox")}
        assert leases[first] > 0 and [leases[i] for i in sorted(leases) if i != first] == [0.0, 0.0]
    finally:
        store.close()


def test_a_batch_sends_each_tickets_next_write_and_an_outage_releases_that_vendors_rest_unsent(
        store, vendor_worker):
    """Writes of several tickets go in one claim; after a 503 the vendor's other claimed writes wait,
    their attempts uncounted, and a ticket's second write waits for its first (sent one ticket at a time,
    the default: with several at once, those already under way when the 503 comes are not held back)."""
    worker, fake = vendor_worker("zendesk")
    for ticket in ("31", "32", "33"):
        add_write(store, "zendesk", ticket, AddTags(tags=("first",)))
    add_write(store, "zendesk", "31", AddTags(tags=("second",)))
    fake.fail_next("PUT", "/api/v2/tickets/32/tags", 503)
    worker.settings.vendors["zendesk"].max_retries = 0
    assert worker.send_writes(limit=10) == 3  # 31's second write waits behind its first
    rows = {(r["ticket_id"], r["action"]["tags"][0]): r for r in store.rows("outbox")}
    assert rows["31", "first"]["status"] == "done"
    assert rows["32", "first"]["status"] == "pending" and rows["32", "first"]["attempts"] == 1
    assert rows["33", "first"]["status"] == "pending" and rows["33", "first"]["attempts"] == 0  # released unsent
    assert rows["33", "first"]["error"] is None and rows["31", "second"]["attempts"] == 0
    assert [r.path for r in fake.writes()] == ["/api/v2/tickets/31/tags", "/api/v2/tickets/32/tags"]


# --- a decision's writes are claimed together and sent in the requests the connector joins them into ---

def test_a_decisions_writes_go_out_in_one_request_and_the_next_decisions_after_them(store, vendor_worker):
    worker, fake = vendor_worker("zendesk")
    for action in (AddTags(tags=("sla_p1",)), SetPriority(priority="high"), InternalNote(body="Why.")):
        add_write(store, "zendesk", "40", action, delivery="d1", at=100.0)
    add_write(store, "zendesk", "40", SetStatus(status="solved"), delivery="d2", at=101.0)
    assert worker.send_writes() == 3  # the first decision's three writes, one request
    assert [(r.method, r.body and sorted(r.body["ticket"])) for r in fake.requests] == [
        ("GET", None), ("PUT", ["comment", "priority", "safe_update", "tags", "updated_stamp"])]
    assert worker.send_writes() == 1 and worker.send_writes() == 0  # then the next decision's
    assert [r["status"] for r in store.rows("outbox")] == ["done"] * 4
    assert fake.tickets["40"]["tags"] == ["sla_p1"] and fake.tickets["40"]["status"] == "solved"


def test_a_joined_request_that_fails_keeps_its_writes_together_and_the_rest_unsent(store, vendor_worker):
    clock = Clock(time.time())
    worker, fake = vendor_worker("freshdesk", clock=clock)
    ids = [add_write(store, "freshdesk", "41", action, at=100.0) for action in (
        AddTags(tags=("sla_p1",)), SetPriority(priority="4"), InternalNote(body="Why."))]
    fake.fail_next("PUT", "/api/v2/tickets/41", 503)
    assert worker.send_writes() == 3
    rows = {r["id"]: r for r in store.rows("outbox")}
    assert [(rows[i]["status"], rows[i]["attempts"]) for i in ids] == [("pending", 1), ("pending", 1), ("pending", 0)]
    assert rows[ids[0]]["not_before"] == rows[ids[1]]["not_before"] > clock.now  # retried together, later
    clock.now = rows[ids[0]]["not_before"] + 1
    worker.drain()
    assert [r["status"] for r in store.rows("outbox")] == ["done"] * 3
    assert fake.tickets["41"]["tags"] == ["sla_p1"] and fake.tickets["41"]["priority"] == 4
    assert len(comment_writes(fake, "Why.")) == 1


def test_a_write_the_vendor_refuses_dies_alone_and_holds_back_the_rest(store, vendor_worker):
    worker, fake = vendor_worker("freshdesk")
    ids = [add_write(store, "freshdesk", "42", action, at=100.0) for action in (
        SetPriority(priority="4"), SetStatus(status="archived"), AddTags(tags=("x",)))]
    worker.drain()
    rows = {r["id"]: r for r in store.rows("outbox")}
    assert [rows[i]["status"] for i in ids] == ["done", "dead", "pending"]  # later writes wait for the dead one
    assert "no status 'archived'" in rows[ids[1]]["error"]
    assert fake.tickets["42"]["priority"] == 4 and "x" not in fake.tickets["42"].get("tags", [])


def test_a_joined_request_with_a_note_sent_before_a_crash_is_not_sent_again(store, vendor_worker):
    clock = Clock(time.time())
    worker, fake = vendor_worker("zendesk", clock=clock)
    for action in (SetPriority(priority="urgent"), InternalNote(body="Reclassified to P1.")):
        add_write(store, "zendesk", "43", action, at=100.0)
    crashed = store.claim_outboxes("crashed-worker", lease_seconds=30, now=clock.now)
    assert len(crashed) == 2
    worker.client_for("zendesk").deliver(crashed[0].ticket, [r.action for r in crashed],
                                         [r.write_key for r in crashed], maybe_sent=False)
    clock.now += 31  # the lease expires; another worker takes both rows over
    assert worker.send_writes() == 2
    assert len([r for r in fake.writes() if r.path == "/api/v2/tickets/43"]) == 1, "sent twice"
    assert [r["status"] for r in store.rows("outbox")] == ["done", "done"]


def test_only_one_decisions_ready_writes_are_joined(store):
    for action, delivery, at in ((AddTags(tags=("a",)), "d1", 100.0), (SetPriority(priority="high"), "d1", 100.0),
                                 (AddTags(tags=("b",)), "d2", 101.0)):
        add_write(store, "zendesk", "44", action, delivery=delivery, at=at)
    add_write(store, "zendesk", "45", AddTags(tags=("c",)), delivery="d1", at=100.0)  # same id, other ticket
    claimed = store.claim_outboxes("w", now=1000.0)
    assert [(r.ticket.id, r.action.type) for r in claimed] == [("44", "add_tags"), ("44", "set_priority"),
                                                               ("45", "add_tags")]
    assert store.claim_outboxes("w", now=1000.0) == []  # d2 waits for d1's writes


def test_several_tickets_writes_are_sent_at_once_each_in_its_order(store, vendor_worker, monkeypatch):
    """With ``send_concurrency`` 3, three tickets' tag writes are in flight together: the fake vendor holds
    each until all three have arrived (sent one after another, the first would wait in vain)."""
    import threading

    monkeypatch.setattr("slabridge.worker.SLOW_ANSWER_SECONDS", 0.0)  # however fast it answers, once timed
    worker, fake = vendor_worker("zendesk")
    worker.settings.send_concurrency = 3
    add_write(store, "zendesk", "50", AddTags(tags=("timed",)))
    assert worker.send_writes() == 1
    together = threading.Barrier(3, timeout=10)

    handle = fake._handle
    fake._handle = lambda method, *rest: (method != "PUT" or together.wait(), handle(method, *rest))[1]
    for ticket in ("51", "52", "53"):
        add_write(store, "zendesk", ticket, AddTags(tags=("first",)), delivery="d1", at=100.0)
        add_write(store, "zendesk", ticket, AddTags(tags=("second",)), delivery="d2", at=101.0)
    assert worker.send_writes() == 3 and worker.send_writes() == 3
    assert [r["status"] for r in store.rows("outbox")] == ["done"] * 7
    assert all(fake.tickets[t]["tags"] == ["first", "second"] for t in ("51", "52", "53"))


@pytest.mark.parametrize("vendor", ["zendesk", "freshdesk", "jira"])
def test_a_slow_vendor_gets_several_tickets_at_once_a_fast_one_one_at_a_time(store, make_settings, db_url,
                                                                              monkeypatch, vendor):
    """Sends overlap while the vendor's answers take ``SLOW_ANSWER_SECONDS`` or more: waiting, not computing,
    bounds them. Before its first answer is timed, one at a time; ``send_concurrency = 1`` never overlaps."""
    fake = Plugins().connectors[vendor].fake_api()
    fake.latency, fake.threads = 0.05, 16
    with fake:
        worker = Worker(store, Plugins(make_settings(db_url, {vendor: fake.url})))
        assert worker.settings.send_concurrency == 8  # the default
        tickets = iter(range(100, 200))

        def send_six() -> int:
            fake.most_in_flight = 0
            for _ in range(6):
                ticket = str(next(tickets))
                add_write(store, vendor, f"SUP-{ticket}" if vendor == "jira" else ticket, AddTags(tags=("sla_p2",)))
            assert worker.send_writes() == 6
            return fake.most_in_flight

        assert send_six() == 1, "sent at once before the vendor was timed"
        assert fake.latency <= worker.client_for(vendor).answer_seconds, "the client times its vendor's answers"
        assert send_six() > 1
        monkeypatch.setattr("slabridge.worker.SLOW_ANSWER_SECONDS", 60.0)  # the same vendor, now counted fast
        assert send_six() == 1
        monkeypatch.setattr("slabridge.worker.SLOW_ANSWER_SECONDS", 0.005)
        worker.settings.send_concurrency = 1
        assert send_six() == 1
        assert [r["status"] for r in store.rows("outbox")] == ["done"] * 24


def test_a_connector_that_fails_to_join_writes_still_sends_each_alone(store, vendor_worker, caplog):
    worker, fake = vendor_worker("zendesk")
    for action in (AddTags(tags=("sla_p1",)), SetPriority(priority="high")):
        add_write(store, "zendesk", "60", action, at=100.0)
    client = worker.client_for("zendesk")
    client.joins = lambda group, action: 1 / 0  # a plugin's bug
    assert worker.send_writes() == 2
    assert [r["status"] for r in store.rows("outbox")] == ["done", "done"]
    assert [r.path for r in fake.writes()] == ["/api/v2/tickets/60/tags", "/api/v2/tickets/60"]
    assert "could not join writes; sending one at a time" in caplog.text


def test_a_write_that_answers_someone_elses_change_reads_the_ticket_first_instead_of_meeting_a_409(
        store, vendor_worker):
    """The Zendesk client keeps the stamp its last update returned, to write again without a read. Each write
    carries when its decision's event said the ticket last changed: after an agent's reply (a webhook dated
    after that stamp) the stamp is stale, so the write reads the ticket first (GET, PUT) instead of meeting
    a 409 (PUT, 409, GET, PUT). After the webhook of our own update the stamp is current: one PUT."""
    from datetime import datetime, timedelta

    from slabridge.engine import Decision, Outcome, TicketState
    from slabridge.timeparse import parse_instant

    from .test_store import event

    worker, fake = vendor_worker("zendesk")

    def decide_and_send(delivery: str, changed: datetime) -> list[tuple[str, int]]:
        store.enqueue(event("50", delivery).model_copy(update={"updated_at": changed}))
        store.process_events(lambda ev, state: Outcome(
            decision=Decision(ticket=ev.ticket, delivery_id=ev.delivery_id, actions=(SetPriority(priority="high"),)),
            state=TicketState(ticket=ev.ticket, last_event=ev)))
        already = len(fake.requests)
        assert worker.send_writes() == 1
        return [(r.method, r.status) for r in fake.requests[already:]]

    assert decide_and_send("d1", datetime.fromisoformat("2026-03-02T12:00:00+00:00")) == [("GET", 200), ("PUT", 200)]
    ours = parse_instant(fake.tickets["50"]["updated_at"])  # our update's stamp, which its webhook repeats
    assert decide_and_send("d2", ours) == [("PUT", 200)]
    agent = parse_instant(fake.tickets["50"]["updated_at"]) + timedelta(seconds=30)
    fake.tickets["50"]["updated_at"] = agent.strftime("%Y-%m-%dT%H:%M:%SZ")  # an agent replied
    assert decide_and_send("d3", agent) == [("GET", 200), ("PUT", 200)]
    assert [r["ticket_changed_at"] for r in store.rows("outbox")] == [
        datetime.fromisoformat("2026-03-02T12:00:00+00:00").timestamp(), ours.timestamp(), agent.timestamp()]
