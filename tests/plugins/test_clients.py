"""Write-back clients against the fake vendor APIs (real HTTP; every request is checked against the specs)."""

import httpx
import pytest

from slabridge.config import VendorSettings
from slabridge.models import (
    AddTags, Assign, InternalNote, PublicReply, RemoveTags, SetFields, SetPriority, SetStatus, TicketRef,
)
from slabridge.plugins import Plugins
from slabridge.vendorapi import BadRequest, Conflict

CONNECTORS = Plugins().connectors


@pytest.fixture
def vendor():
    started = []

    def make(name: str, **options):
        fake = CONNECTORS[name].fake_api().start()
        started.append(fake)
        settings = VendorSettings(enabled=True, base_url=fake.url, max_retries=0, options=options)
        return fake, CONNECTORS[name].client(settings, httpx.Client(base_url=fake.url, timeout=5))

    yield make
    for fake in started:
        fake.stop()


def test_zendesk_writes_with_safe_update_and_rereads_on_conflict(vendor):
    fake, client = vendor("zendesk")
    ticket = TicketRef(vendor="zendesk", id="9")
    client.apply(ticket, AddTags(tags=("sla_p1",)))
    put = [r for r in fake.requests if r.method == "PUT"][0]
    assert put.body == {"tags": ["sla_p1"], "safe_update": True, "updated_stamp": "2026-01-01T00:00:00Z"}
    fake.fail_next("PUT", "/api/v2/tickets/9", 409, body={"error": "UpdateConflict"})
    client.apply(ticket, SetPriority(priority="urgent"))
    methods = [(r.method, r.status) for r in fake.requests[2:]]
    assert methods == [("GET", 200), ("PUT", 409), ("GET", 200), ("PUT", 200)]  # re-read, then retried
    assert fake.tickets["9"]["priority"] == "urgent"


def test_zendesk_gives_up_after_repeated_conflicts(vendor):
    fake, client = vendor("zendesk")
    for _ in range(3):
        fake.fail_next("PUT", "/api/v2/tickets/9", 409)
    with pytest.raises(Conflict):
        client.apply(TicketRef(vendor="zendesk", id="9"), InternalNote(body="x"))


def test_zendesk_fields_notes_status(vendor):
    fake, client = vendor("zendesk")
    ticket = TicketRef(vendor="zendesk", id="9")
    client.apply(ticket, SetFields(fields={"360001": "2026-03-04T11:00:00-07:00"}))
    client.apply(ticket, InternalNote(body="why"))
    client.apply(ticket, SetStatus(status="solved"))
    client.apply(ticket, RemoveTags(tags=("x",)))
    stored = fake.tickets["9"]
    assert stored["custom_fields"] == {"360001": "2026-03-04T11:00:00-07:00"}
    assert stored["comments"] == [{"body": "why", "public": False}] and stored["status"] == "solved"


def test_freshdesk_tags_read_modify_write_and_status_codes(vendor):
    fake, client = vendor("freshdesk")
    ticket = TicketRef(vendor="freshdesk", id="7")
    fake.ticket("7")["tags"] = ["vip"]
    client.apply(ticket, AddTags(tags=("sla_p1",)))
    client.apply(ticket, RemoveTags(tags=("vip",)))
    client.apply(ticket, SetStatus(status="solved"))
    assert fake.tickets["7"]["tags"] == ["sla_p1"] and fake.tickets["7"]["status"] == 4
    with pytest.raises(BadRequest, match="freshdesk has no status 'archived'"):
        client.apply(ticket, SetStatus(status="archived"))


def test_jira_status_goes_through_the_configured_transition(vendor):
    fake, client = vendor("jira", transitions={"solved": "31"})
    client.apply(TicketRef(vendor="jira", id="SUP-4"), SetStatus(status="solved"))
    assert fake.writes()[-1].body == {"transition": {"id": "31"}}
    _, bare = vendor("jira")
    with pytest.raises(BadRequest, match="options.transitions has no transition id"):
        bare.apply(TicketRef(vendor="jira", id="SUP-4"), SetStatus(status="solved"))


def test_slow_vendor_times_out_and_is_retryable(vendor):
    from slabridge.vendorapi import Unreachable

    fake, _ = vendor("freshdesk")
    settings = VendorSettings(enabled=True, base_url=fake.url, max_retries=0, timeout_seconds=0.2)
    client = CONNECTORS["freshdesk"].client(settings, CONNECTORS["freshdesk"].http_client(settings))
    fake.fail_next("POST", "/api/v2/tickets/7/notes", 201, delay=1.0)
    with pytest.raises(Unreachable, match="timed out") as info:
        client.apply(TicketRef(vendor="freshdesk", id="7"), InternalNote(body="x"))
    assert info.value.retryable


def test_jira_without_service_management_writes_adf_platform_comments(vendor):
    fake, client = vendor("jira", comment_api="platform", internal_role="Service Desk Team")
    client.apply(TicketRef(vendor="jira", id="SUP-5"), InternalNote(body="First paragraph.\n\nSecond."))
    body = fake.writes()[-1].body
    assert fake.writes()[-1].path == "/rest/api/3/issue/SUP-5/comment"
    assert body["visibility"] == {"type": "role", "value": "Service Desk Team"}
    assert [p["content"][0]["text"] for p in body["body"]["content"]] == ["First paragraph.", "Second."]
    assert body["body"]["type"] == "doc" and body["body"]["version"] == 1


def test_zendesk_reuses_the_stamp_its_own_ticket_write_returned(vendor):
    fake, client = vendor("zendesk")
    ticket = TicketRef(vendor="zendesk", id="9")
    client.apply(ticket, SetPriority(priority="high"))
    returned = fake.tickets["9"]["updated_at"]  # the stamp the first PUT answered with
    client.apply(ticket, InternalNote(body="why"))
    assert [r.method for r in fake.requests] == ["GET", "PUT", "PUT"]  # one read for two writes
    second = fake.requests[2]
    assert second.body["ticket"]["updated_stamp"] == returned != "2026-01-01T00:00:00Z"
    assert second.status == 200  # the fake answers 409 to a stale stamp


@pytest.mark.parametrize("vendor, ticket, path", [
    ("zendesk", "5?role=admin#", "/api/v2/tickets/5%3Frole%3Dadmin%23"),
    ("freshdesk", "1/../users/1", "/api/v2/tickets/1%2F..%2Fusers%2F1"),
    ("jira", "SUP-1/../../user", "/rest/api/3/issue/SUP-1%2F..%2F..%2Fuser"),
])
def test_ticket_ids_are_percent_encoded_into_the_path(vendor, ticket, path):
    """Defence in depth: the receiver refuses such ids, and a client never lets one change the path."""
    import httpx

    from slabridge.config import VendorSettings
    from slabridge.models import SetPriority, TicketRef
    from slabridge.plugins import Plugins

    seen = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.raw_path.decode())
        return httpx.Response(200, json={"ticket": {}, "tags": []})

    http = httpx.Client(base_url="http://vendor.test", transport=httpx.MockTransport(handler))
    client = Plugins().connectors[vendor].client(VendorSettings(max_retries=0), http)
    client.apply(TicketRef(vendor=vendor, id=ticket), SetPriority(priority="3" if vendor == "freshdesk" else "high"))
    assert seen and all(p.startswith(path) for p in seen)


# --- one decision's writes in as few requests as each API allows ---

def send_decision(client, ticket, actions):
    """What the worker does with one decision's writes: cut into requests, each delivered whole."""
    for positions in client.requests_for(actions):
        client.deliver(ticket, [actions[i] for i in positions], [f"k{i}" for i in positions], maybe_sent=False)


DECISION = (AddTags(tags=("sla_p1",)), RemoveTags(tags=("vip",)), SetPriority(priority="high"),
            SetFields(fields={"360001": "2026-03-04T11:00:00-07:00"}), Assign(group="development"),
            InternalNote(body="Reclassified."), PublicReply(body="We are on it."), SetStatus(status="solved"))


def test_zendesk_sends_a_decision_as_one_ticket_update_per_comment(vendor):
    fake, client = vendor("zendesk")
    client.settings.groups["development"] = "361"
    fake.ticket("9", updated_at="2026-01-01T00:00:00Z", tags=["vip", "billing"])
    send_decision(client, TicketRef(vendor="zendesk", id="9"), DECISION)
    assert [(r.method, r.path) for r in fake.requests] == [
        ("GET", "/api/v2/tickets/9"), ("PUT", "/api/v2/tickets/9"), ("PUT", "/api/v2/tickets/9")]
    first, second = fake.requests[1].body["ticket"], fake.requests[2].body["ticket"]
    assert first["tags"] == ["billing", "sla_p1"] and first["safe_update"] is True
    assert (first["priority"], first["group_id"], first["comment"]["public"]) == ("high", 361, False)
    assert second["comment"]["public"] is True and second["status"] == "solved"
    assert second["updated_stamp"] > "2026-01-01T00:00:00Z"  # as the first update returned it: no second read,
    assert fake.requests[2].status == 200  # and current (the fake answers 409 to a stale stamp)
    stored = fake.tickets["9"]
    assert stored["tags"] == ["billing", "sla_p1"] and stored["priority"] == "high" and stored["status"] == "solved"
    assert [c["public"] for c in stored["comments"]] == [False, True]
    assert stored["custom_fields"] == {"360001": "2026-03-04T11:00:00-07:00"}


def test_zendesk_joined_tags_are_rewritten_after_a_conflict(vendor):
    """The whole tag list rides on safe_update: a 409 (someone changed the ticket) re-reads it first."""
    fake, client = vendor("zendesk")
    fake.ticket("9", updated_at="2026-01-01T00:00:00Z", tags=["vip"])
    fake.fail_next("PUT", "/api/v2/tickets/9", 409, body={"error": "UpdateConflict"})
    ticket = TicketRef(vendor="zendesk", id="9")
    client.deliver(ticket, [AddTags(tags=("sla_p1",)), SetPriority(priority="high")], ["a", "b"], maybe_sent=False)
    assert [r.method for r in fake.requests] == ["GET", "PUT", "GET", "PUT"]
    assert fake.tickets["9"]["tags"] == ["vip", "sla_p1"] and fake.tickets["9"]["priority"] == "high"


def test_freshdesk_sends_a_decisions_ticket_changes_in_one_put(vendor):
    fake, client = vendor("freshdesk")
    client.settings.groups["development"] = "42"
    fake.ticket("7")["tags"] = ["vip", "billing"]
    actions = (*DECISION[:2], SetPriority(priority="3"), SetFields(fields={"due_by": "2026-03-04T18:00:00Z",
                                                                          "cf_sla": "P1"}), *DECISION[4:])
    send_decision(client, TicketRef(vendor="freshdesk", id="7"), actions)
    assert [(r.method, r.path) for r in fake.requests] == [
        ("GET", "/api/v2/tickets/7"), ("PUT", "/api/v2/tickets/7"), ("POST", "/api/v2/tickets/7/notes"),
        ("POST", "/api/v2/tickets/7/reply"), ("PUT", "/api/v2/tickets/7")]
    assert fake.requests[1].body == {"tags": ["billing", "sla_p1"], "priority": 3, "due_by": "2026-03-04T18:00:00Z",
                                     "custom_fields": {"cf_sla": "P1"}, "group_id": 42}
    assert fake.requests[4].body == {"status": 4}


def test_jira_sends_labels_fields_and_priority_as_one_issue_edit(vendor):
    fake, client = vendor("jira", transitions={"solved": "31"}, group_field="customfield_10050")
    send_decision(client, TicketRef(vendor="jira", id="SUP-4"), DECISION)
    assert [(r.method, r.path) for r in fake.requests] == [
        ("PUT", "/rest/api/3/issue/SUP-4"), ("POST", "/rest/servicedeskapi/request/SUP-4/comment"),
        ("POST", "/rest/servicedeskapi/request/SUP-4/comment"), ("POST", "/rest/api/3/issue/SUP-4/transitions")]
    assert fake.requests[0].body == {
        "update": {"labels": [{"add": "sla_p1"}, {"remove": "vip"}]},
        "fields": {"priority": {"name": "high"}, "360001": "2026-03-04T11:00:00-07:00",
                   "customfield_10050": {"name": "development"}}}


@pytest.mark.parametrize("name, options, unwritable", [
    ("zendesk", {}, Assign(group="nowhere")),  # no group id mapped
    ("freshdesk", {}, SetStatus(status="archived")),
    ("jira", {}, Assign(group="development")),  # no group field configured
])
def test_a_write_the_vendor_cannot_take_goes_alone(vendor, name, options, unwritable):
    """It fails as a dead letter on its own; it does not take the decision's other changes with it."""
    fake, client = vendor(name, **options)
    actions = [SetPriority(priority="3" if name == "freshdesk" else "high"), unwritable, AddTags(tags=("x",))]
    assert client.requests_for(actions) == [[0], [1], [2]]
    assert client.requests_for([actions[0], actions[2]]) == [[0, 1]]


def test_zendesk_remembers_only_stamps_and_tags_of_its_recent_updates(vendor, monkeypatch):
    """What a ticket update returned is kept to write again without a read: its stamp and tags, for a
    bounded number of tickets (a worker runs for months over many thousands)."""
    import slabridge_zendesk.client as zendesk

    monkeypatch.setattr(zendesk, "SEEN_TICKETS", 3)
    fake, client = vendor("zendesk")
    for ticket in ("1", "2", "3", "4"):
        client.apply(TicketRef(vendor="zendesk", id=ticket), InternalNote(body="why"))
    assert list(client._seen) == ["/api/v2/tickets/2", "/api/v2/tickets/3", "/api/v2/tickets/4"]
    assert client._seen["/api/v2/tickets/4"] == {"updated_at": fake.tickets["4"]["updated_at"], "tags": []}


def test_vendor_http_clients_share_one_tls_context_that_verifies_certificates(monkeypatch):
    """Each context holds the CA bundle (~3 MiB): one per process, not one per vendor client."""
    import ssl

    from slabridge import connectors

    built, real = [], connectors.StatelessClient
    monkeypatch.setattr(connectors, "StatelessClient", lambda **kwargs: built.append(kwargs["verify"]) or real(**kwargs))
    for name in ("zendesk", "freshdesk", "jira"):
        CONNECTORS[name].http_client(VendorSettings(enabled=True, base_url="https://helpdesk.example"))
    assert built[0] is built[1] is built[2]
    assert built[0].verify_mode == ssl.CERT_REQUIRED and built[0].check_hostname


@pytest.mark.parametrize("name, path", [("zendesk", "/api/v2/tickets/9"), ("freshdesk", "/api/v2/tickets/9"),
                                        ("jira", "/rest/api/3/issue/SUP-9")])
def test_vendor_clients_keep_no_cookies_the_vendor_sets(name, path):
    """Each request authenticates by its credentials alone: a cookie an answer sets (a load balancer's,
    a session) is not sent back, where a plain httpx client would."""
    with CONNECTORS[name].fake_api() as fake:
        stateless = CONNECTORS[name].http_client(VendorSettings(enabled=True, base_url=fake.url))
        plain = httpx.Client(base_url=fake.url)
        for http in (plain, stateless):
            fake.fail_next("GET", path, 503, headers={"Set-Cookie": "__cfruid=abc; Path=/"})
            assert http.get(path).status_code == 503
            http.get(path)
        plain_again, stateless_again = [r.headers for r in fake.requests if r.status != 503]
        assert "__cfruid=abc" in plain_again.get("Cookie", "")
        assert "Cookie" not in stateless_again and not stateless.cookies
        with pytest.raises(ValueError, match="keeps no cookies"):
            stateless.cookies = {"session": "x"}


def test_zendesk_forgets_a_stamp_older_than_a_change_it_is_told_of_and_only_that(vendor):
    """``changed_since``: a change after the remembered stamp (or a stamp it cannot read) forgets it; a change
    at or before it (the webhook of our own update, an older event delivered late) keeps it."""
    from slabridge.timeparse import parse_instant

    fake, client = vendor("zendesk")
    ticket = TicketRef(vendor="zendesk", id="9")
    client.apply(ticket, SetPriority(priority="high"))
    stamp = parse_instant(fake.tickets["9"]["updated_at"]).timestamp()
    client.changed_since(ticket, stamp)
    client.changed_since(ticket, stamp - 60)
    client.changed_since(TicketRef(vendor="zendesk", id="10"), stamp + 60)  # another ticket: nothing to forget
    assert "/api/v2/tickets/9" in client._seen
    client.changed_since(ticket, stamp + 1)
    assert "/api/v2/tickets/9" not in client._seen
    client.apply(ticket, SetPriority(priority="low"))
    client._seen["/api/v2/tickets/9"]["updated_at"] = "not a time"
    client.changed_since(ticket, stamp)
    assert "/api/v2/tickets/9" not in client._seen
