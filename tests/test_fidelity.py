"""Vendor fidelity, end to end: the vendors' documented webhook shapes through the real receiver,
the worker and a fake vendor API on loopback; every write checked against the OpenAPI documents."""

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
import pytest

from slabridge.directory import load
from slabridge.plugins import Plugins
from slabridge.worker import Worker
from slabridge_webhooks import create_app

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "tests" / "samples"
CUSTOMERS = """
customers:
  - id: fabrikam-health
    name: Fabrikam Health
    contract: interopion
    plan: standard
    organizations: {zendesk: ["9100"], freshdesk: ["9100"], jira: ["7"]}
    contacts: [casey@fabrikam.example]
    term: {start: 2026-02-01, end: 2099-01-31}
    region: {country: US, subdivision: CO}
"""


class System:
    def __init__(self, receiver, fakes, worker, store):
        self.receiver, self.fakes, self.worker, self.store = receiver, fakes, worker, store

    def send(self, vendor: str, body: dict | bytes, drain: bool = True) -> httpx.Response:
        """Post a signed webhook (202 expected), then let the worker drain (``drain=False``: several wait
        in the inbox for one batch)."""
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        headers = Plugins().connectors[vendor].signed_headers("test-secret-one", raw, _now())
        answer = httpx.post(f"{self.receiver.url}/webhooks/{vendor}", content=raw, headers=headers)
        assert answer.status_code == 202, answer.text
        if drain:
            self.worker.drain()
        return answer

    def decisions(self, vendor: str) -> list[dict]:
        return [r["body"] for r in self.store.rows("audit", vendor=vendor, kind="decision")]

    def reads(self, vendor: str, path_start: str) -> list:
        return [r for r in self.fakes[vendor].requests if r.method == "GET" and r.path.startswith(path_start)]

    def public_replies(self, vendor: str) -> list[str]:
        bodies = []
        for r in self.fakes[vendor].writes():
            body = r.body or {}
            comment = (body.get("ticket") or {}).get("comment") if isinstance(body, dict) else None
            if comment and comment.get("public"):
                bodies.append(comment["body"])
            elif r.path.endswith("/reply") or (r.path.endswith("/comment") and body.get("public")):
                bodies.append(body.get("body"))
        return bodies


def _now():
    return datetime.now(timezone.utc)


@pytest.fixture
def system(db_url, store, make_settings, live_server, tmp_path):
    (tmp_path / "customers.yaml").write_text(CUSTOMERS)
    connectors = Plugins().connectors
    fakes = {v: connectors[v].fake_api().start() for v in ("zendesk", "freshdesk", "jira")}
    settings = make_settings(db_url, {v: f.url for v, f in fakes.items()}).model_copy(update={
        "contracts_dir": str(ROOT / "examples" / "contracts"), "customers_file": str(tmp_path / "customers.yaml")})
    settings.vendors["jira"].options.update(organization_field="customfield_10002", group_field="customfield_10050")
    settings.vendors["jira"].options["timestamp_tolerance_seconds"] = 10 ** 9  # bodies dated in the scenario's past
    for vendor in ("zendesk", "freshdesk"):  # escalation groups mapped, as `slabridge check` insists
        settings.vendors[vendor].groups.update({"support-management": "3", "tier2-technicians": "4",
                                                "customer-success-supervisors": "5", "sales": "6", "development": "7"})
    plugins = Plugins(settings)
    directory, problems = load(settings.contracts_dir, settings.customers_file)
    assert problems == []
    with live_server(create_app(settings, plugins, store)) as receiver:
        yield System(receiver, fakes, Worker(store, plugins, directory), store)
    for fake in fakes.values():
        fake.stop()


def sample(vendor: str, name: str) -> dict:
    return json.loads((SAMPLES / vendor / name).read_text())


def test_zendesk_id_only_envelope_is_entitled_after_one_user_look_up(system):
    system.fakes["zendesk"].records[("user", "8447388090494")] = {
        "id": 8447388090494, "email": "casey@fabrikam.example", "name": "Casey", "organization_id": 9100,
        "role": "end-user"}
    system.send("zendesk", sample("zendesk", "ticket_created.json"))
    [decision] = system.decisions("zendesk")
    assert decision["customer"] == "fabrikam-health" and decision["entitlement"] == "standard"
    assert len(system.reads("zendesk", "/api/v2/users/")) == 1
    assert not any("Customer Contact" in r for r in system.public_replies("zendesk"))
    # The next event of the ticket needs no look-up: the e-mail is carried forward.
    later = sample("zendesk", "ticket_comment_added.json")
    later["detail"].update(id="5160", organization_id="9100", requester_id="8447388090494")
    later["id"] = "second-envelope"
    system.send("zendesk", later)
    assert [d["entitlement"] for d in system.decisions("zendesk")] == ["standard", "standard"]
    assert len(system.reads("zendesk", "/api/v2/users/")) == 1


def test_jira_reporter_without_e_mail_and_jsm_organization_are_looked_up(system):
    fake = system.fakes["jira"]
    fake.records[("user", "qm:1234")] = {"accountId": "qm:1234", "emailAddress": "casey@fabrikam.example",
                                         "displayName": "Casey", "accountType": "customer"}
    fake.records[("organizations", "qm:1234")] = [{"id": "7", "name": "Fabrikam Health"}]
    system.send("jira", sample("jira", "issue_created.json"))
    [decision] = system.decisions("jira")
    assert decision["customer"] == "fabrikam-health" and decision["entitlement"] == "standard"
    assert len(system.reads("jira", "/rest/api/3/user")) == 1
    assert len(system.reads("jira", "/rest/servicedeskapi/organization")) == 1


def test_freshdesk_simple_json_is_accepted_and_the_company_id_looked_up(system):
    system.fakes["freshdesk"].ticket("9102", company_id=9100, requester_id=4402)
    system.send("freshdesk", sample("freshdesk", "simple_json.json"))
    [decision] = system.decisions("freshdesk")
    assert decision["customer"] == "fabrikam-health" and decision["entitlement"] == "standard"
    assert system.worker.lookups.made == 1  # the ticket, for its company_id (later reads are tag writes')
    assert system.reads("freshdesk", "/api/v2/tickets/9102")[0].at < system.fakes["freshdesk"].writes()[0].at
    assert not system.reads("freshdesk", "/api/v2/contacts/")  # the body had the e-mail


def test_a_failed_look_up_makes_the_event_wait_then_decides_it_unknown_never_refused(system):
    fake = system.fakes["zendesk"]
    for _ in range(10):
        fake.fail_next("GET", "/api/v2/users/8447388090494", 503)
    body = sample("zendesk", "ticket_created.json")
    raw = json.dumps(body).encode()
    headers = Plugins().connectors["zendesk"].signed_headers("test-secret-one", raw, _now())
    assert httpx.post(f"{system.receiver.url}/webhooks/zendesk", content=raw, headers=headers).status_code == 202
    system.worker.drain()
    assert system.decisions("zendesk") == []  # waiting: retried later, not decided without the e-mail
    [row] = system.store.rows("inbox", vendor="zendesk")
    assert row["status"] == "pending" and "look-up of zendesk user" in row["error"]
    for _ in range(10):  # every further attempt fails too: at the last one it is decided with the e-mail unknown
        system.store.retry_dead("event")
        with system.store.engine.begin() as conn:
            conn.exec_driver_sql("UPDATE inbox SET not_before = 0")
        system.worker.drain()
    [decision] = system.decisions("zendesk")
    assert decision["entitlement"] == "standard"
    assert any("e-mail unknown" in r["text"] for r in decision["reasons"])
    assert not system.public_replies("zendesk")


def _jira_people(fake):
    fake.records[("user", "qm:1234")] = {"accountId": "qm:1234", "emailAddress": "casey@fabrikam.example",
                                         "displayName": "Casey", "accountType": "customer"}
    fake.records[("organizations", "qm:1234")] = [{"id": "7", "name": "Fabrikam Health"}]


def test_a_jira_comment_with_a_partial_issue_changes_nothing_it_does_not_carry(system):
    """Comment events lack description and labels: absent means unchanged, so no flip, no re-added label."""
    fake = system.fakes["jira"]
    _jira_people(fake)
    system.worker.settings.vendors["jira"].fields["first_response"] = "customfield_10060"
    created = sample("jira", "issue_created.json")
    created["issue"]["fields"]["description"] = "The reporting module is inoperable for every user."
    system.send("jira", created)
    first_writes = len(fake.writes())
    issue = fake.tickets["SUP-17"]
    assert issue["fields"]["priority"] == {"name": "Highest"} and "sla_p1" in issue["tags"]

    comment = sample("jira", "comment_created.json")
    comment["comment"]["body"] = "Any news? We are waiting."
    system.send("jira", comment)
    later = dict(created, webhookEvent="jira:issue_updated")  # a full event again: no flip back either
    later["issue"] = {**created["issue"], "fields": {**created["issue"]["fields"], "labels": list(issue["tags"]),
                                                     "priority": {"name": "Highest"}, **issue["fields"]}}
    system.send("jira", later)

    assert [d["severity"] for d in system.decisions("jira")] == ["P1", "P1", "P1"]
    after = fake.writes()[first_writes:]
    assert not [w for w in after if "priority" in ((w.body or {}).get("fields") or {})]
    assert not [w for w in after if (w.body or {}).get("update", {}).get("labels")]  # no label written twice
    assert not [w for w in after if "customfield_10060" in ((w.body or {}).get("fields") or {})]
    notes = [w for w in fake.writes() if w.path.endswith("/comment") and "reclassified" in str(w.body)]
    assert len(notes) == 2  # one public reply and one internal note, once


def test_tags_slabridge_added_are_removed_whatever_a_stale_event_shows():
    from datetime import datetime, timezone

    from slabridge.engine import Applied, _diff
    from slabridge.models import RemoveTags, TicketEvent, TicketRef

    stale = TicketEvent(vendor="jira", delivery_id="timer:1", ticket=TicketRef(vendor="jira", id="SUP-1"),
                        kind="timer", tags=("sla_p1",), occurred_at=datetime(2026, 3, 2, tzinfo=timezone.utc))
    applied = Applied(tags=("sla_p1", "sla_at_risk"))
    actions, now_applied = _diff(stale, applied, ["sla_p1", "sla_breached"], [], None, {}, None, None, None)
    assert RemoveTags(tags=("sla_at_risk",)) in actions
    assert now_applied.tags == ("sla_p1", "sla_breached")
    again, _ = _diff(stale, now_applied, ["sla_p1", "sla_breached"], [], None, {}, None, None, None)
    assert again == []  # the breach tag is not added a second time from a stale view


def test_a_deadline_shown_in_the_vendors_own_format_is_not_written_again():
    from slabridge.engine import _same_value

    assert _same_value("2026-03-07T12:00:00-07:00", "2026-03-07T19:00:00.000+0000")
    assert not _same_value("2026-03-07T12:00:00-07:00", "2026-03-07T12:00:00.000+0000")
    assert not _same_value("2026-03-07T12:00:00-07:00", "soon")


# --- contracts speak group names; connectors write ids ---------------------------------------

def _check(tmp_path, monkeypatch, groups: str):
    from click.testing import CliRunner

    from slabridge.cli import main

    monkeypatch.setenv("ZD_SECRET", "x")
    config = tmp_path / "c.toml"
    config.write_text(f'contracts_dir = "{ROOT / "examples" / "contracts"}"\n'
                      f'customers_file = "{ROOT / "examples" / "customers.yaml"}"\n'
                      '[vendors.zendesk]\nenabled = true\nbase_url = "https://a.zendesk.com"\n'
                      f'webhook_secrets_env = ["ZD_SECRET"]\n{groups}')
    return CliRunner().invoke(main, ["--config", str(config), "check"])


def test_check_reports_a_contract_group_an_enabled_vendor_cannot_resolve(tmp_path, monkeypatch):
    result = _check(tmp_path, monkeypatch, "")
    assert result.exit_code == 1
    infraware = ROOT / "examples" / "contracts" / "infraware.yaml"
    line = next(i for i, text in enumerate(infraware.read_text().splitlines(), 1) if "route: {group: development}" in text)
    assert (f"error: {infraware}:{line}: request_types.feature_suggestion.route.group: group 'development' has no "
            f"zendesk id: map it in") in result.output
    mapped = ("[vendors.zendesk.groups]\nsales = 1\ndevelopment = 2\nsupport-management = 3\n"
              "tier2-technicians = 4\ncustomer-success-supervisors = 5\nproduct-team = 6\nsupport-leads = 7\n")
    ok = _check(tmp_path, monkeypatch, mapped)
    assert ok.exit_code == 0, ok.output


@pytest.mark.parametrize("vendor, ticket, group_key", [("zendesk", "70", "group_id"), ("freshdesk", "71", "group_id")])
def test_a_group_name_is_written_as_the_vendors_id(system, vendor, ticket, group_key):
    from slabridge.models import Assign, TicketRef

    client = system.worker.client_for(vendor)
    system.worker.settings.vendors[vendor].groups["development"] = "360001"
    client.apply(TicketRef(vendor=vendor, id=ticket), Assign(group="development"))
    [write] = system.fakes[vendor].writes()
    body = write.body.get("ticket", write.body)
    assert body[group_key] == 360001
    from slabridge.vendorapi import BadRequest

    with pytest.raises(BadRequest, match="group 'nowhere' is not a .* id: map the contract's group name"):
        client.apply(TicketRef(vendor=vendor, id=ticket), Assign(group="nowhere"))
    assert len(system.fakes[vendor].writes()) == 1  # nothing invalid was sent


# --- an agent's own priority change ---------------------------------------------------------

def _zendesk_update(ticket: str, priority: str, actor: dict, description: str) -> dict:
    return {"event": "updated", "ticket": {
        "id": ticket, "subject": "Portal", "description": description, "priority": priority, "status": "open",
        "tags": "", "requester": {"id": "8447388090494", "email": "casey@fabrikam.example", "name": "Casey"},
        "organization": {"id": "9100", "name": "Fabrikam Health"},
        "created_at": "2026-03-02T14:10:02Z", "updated_at": "2026-03-02T14:20:00Z"}, "current_user": actor}


CUSTOMER = {"id": "8447388090494", "email": "casey@fabrikam.example"}
AGENT = {"id": "3900001", "email": "alex@support.example", "role": "agent"}


@pytest.mark.parametrize("triggered, actor, stops", [
    ("Customer replied", {"email": "lee@fabrikam.example"}, False),  # a colleague the customer copied
    ("Reply is sent", {"email": "alex@support.example"}, True),
    ("Reply is sent", {"email": "lee@fabrikam.example", "type": "contact"}, False),
])
def test_a_freshdesk_reply_by_the_customers_side_does_not_stop_a_response_clock(system, triggered, actor, stops):
    """Freshdesk flags nobody an agent, so anyone but the requester was support: a copied colleague's "Any news?"
    stopped the first-response clock. The triggered event ("Customer replied") or the actor's type says whose."""
    from slabridge.models import TicketRef

    system.fakes["freshdesk"].ticket("9102", company_id=9100, requester_id=4402)
    system.send("freshdesk", sample("freshdesk", "simple_json.json"))
    reply = {"event": triggered, "actor": actor, "ticket": {
        "id": "9102", "subject": "Patient portal unavailable", "status": "Open",
        "requester": {"email": "casey@fabrikam.example"}, "latest_public_comment": "Any news on this?"}}
    system.send("freshdesk", reply)
    state = system.store.ticket_state(TicketRef(vendor="freshdesk", id="9102"))
    assert state.clocks["first_response"].state == ("stopped" if stops else "running")


def _zendesk_envelope(kind: str, ticket: str, at: str, actor: str = "3900001") -> dict:
    return {"type": f"zen:event-type:ticket.{kind}", "id": f"{kind}-{ticket}-{at}", "time": at,
            "subject": f"zen:ticket:{ticket}", "account_id": 22129848, "zendesk_event_version": "2022-11-06",
            "detail": {"id": ticket, "actor_id": actor, "status": "DELETED" if "deleted" in kind else "OPEN",
                       "updated_at": at}, "event": {}}


@pytest.mark.parametrize("kind", ["soft_deleted", "marked_as_spam", "permanently_deleted"])
def test_a_ticket_deleted_on_the_helpdesk_has_its_clocks_withdrawn_and_nothing_written(system, kind):
    """No trigger fires on a deletion: before the event subscriptions, a deleted or spam ticket kept its clocks,
    its timers escalated it (each write a dead letter) and the compliance report counted its breach."""
    from slabridge.models import TicketRef

    created = _zendesk_update("81", "normal", CUSTOMER, "The reports are slow.")
    stamp = lambda minutes: (_now() + timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%SZ")  # noqa: E731
    created.update(event="created")
    created["ticket"].update(created_at=stamp(0), updated_at=stamp(0))
    system.send("zendesk", created)
    ticket = TicketRef(vendor="zendesk", id="81")
    assert system.store.pending_timers(ticket) and system.store.ticket_state(ticket).running()
    writes = len(system.fakes["zendesk"].writes())
    system.send("zendesk", _zendesk_envelope(kind, "81", stamp(1)))
    decision = system.decisions("zendesk")[-1]
    assert [r["rule"] for r in decision["reasons"]][:2] == ["engine.deleted", "engine.withdrawn"]
    assert decision["actions"] == [] and len(system.fakes["zendesk"].writes()) == writes
    state = system.store.ticket_state(ticket)
    assert not system.store.pending_timers(ticket) and not state.running()
    assert state.clocks["first_response"].cycles == ()  # open and not missed: neither met nor breached

    system.send("zendesk", _zendesk_envelope("undeleted", "81", stamp(2)))  # restored: decided again
    assert system.store.pending_timers(ticket) and system.store.ticket_state(ticket).running()


@pytest.mark.parametrize("policy", ["follow", "raise_only"])
def test_an_agents_priority_change_is_recorded_never_silently_undone_in_a_loop(system, policy, monkeypatch):
    contract = system.worker.directory.contracts["interopion"]
    object.__setattr__(contract.reclassification, "agent_changes", policy)  # this test's own loaded copy
    inoperable = "The reporting module is inoperable for every user."
    body = _zendesk_update("80", "normal", CUSTOMER, inoperable)
    body["event"] = "created"
    system.send("zendesk", body)
    fake = system.fakes["zendesk"]
    assert fake.tickets["80"]["priority"] == "urgent"  # reclassified P3 -> P1
    lowered = _zendesk_update("80", "high", AGENT, inoperable)
    fake.tickets["80"]["priority"] = "high"  # the agent's change, made in Zendesk
    system.send("zendesk", lowered)
    decision = system.decisions("zendesk")[-1]
    assert any(r["rule"] == "classify.agent" for r in decision["reasons"])
    if policy == "follow":
        assert decision["severity"] == "P2" and fake.tickets["80"]["priority"] == "high"
    else:  # restored once, with a note saying why
        assert decision["severity"] == "P1" and fake.tickets["80"]["priority"] == "urgent"
        assert any("agents may only raise" in r["text"] for r in decision["reasons"])
        assert "sla_reclassified" in fake.tickets["80"]["tags"]  # still slabridge's reclassification
        lowered["ticket"]["updated_at"] = "2026-03-02T14:30:00Z"
        fake.tickets["80"]["priority"] = "high"
        system.send("zendesk", lowered)  # the agent insists: followed
        assert system.decisions("zendesk")[-1]["severity"] == "P2" and fake.tickets["80"]["priority"] == "high"
    writes = len(fake.writes())
    again = _zendesk_update("80", "high", CUSTOMER, inoperable)
    again["ticket"]["updated_at"] = "2026-03-02T15:00:00Z"
    system.send("zendesk", again)
    assert fake.tickets["80"]["priority"] == "high" and len(fake.writes()) == writes  # no fight afterwards


def test_a_webhook_made_before_slabridges_priority_write_landed_is_no_agents_change(system):
    """While the vendor refused writes (an outage, a rate limit: hours), an agent's comment showed the priority
    slabridge was replacing: read as the agent setting it, the reclassification was dropped and frozen."""
    inoperable = "The reporting module is inoperable for every user."
    created = _zendesk_update("82", "normal", CUSTOMER, inoperable)
    created["event"] = "created"
    fake = system.fakes["zendesk"]
    fake.outage(503, seconds=3600, headers={"Retry-After": "3600"})
    system.send("zendesk", created)
    assert system.decisions("zendesk")[-1]["severity"] == "P1" and "priority" not in fake.tickets.get("82", {})
    agent = _zendesk_update("82", "normal", AGENT, inoperable)  # the ticket still shows what the customer chose
    agent["ticket"]["updated_at"] = "2026-03-02T14:25:00Z"
    system.send("zendesk", agent)
    decision = system.decisions("zendesk")[-1]
    assert decision["severity"] == "P1" and not any(r["rule"] == "classify.agent" for r in decision["reasons"])
    priorities = [r["action"]["priority"] for r in system.store.rows("outbox", vendor="zendesk")
                  if r["ticket_id"] == "82" and r["action"]["type"] == "set_priority"]
    assert priorities == ["urgent"]  # still waiting for the vendor, as decided; nothing undoes it


# --- one logical ticket history through each vendor's own shapes: the same decisions --------

def _history(vendor: str, created: str) -> list[dict]:
    """Created by the customer as P3 (text that is P1), a customer comment, an agent's public reply."""
    text = "The reporting module is inoperable for every user."
    if vendor == "zendesk":
        ticket = {"id": "90", "subject": "Reports", "description": text, "priority": "normal", "status": "new",
                  "tags": "", "requester": {"id": "8447388090494", "email": "casey@fabrikam.example", "name": "Casey"},
                  "organization": {"id": "9100", "name": "Fabrikam Health"},
                  "created_at": created, "updated_at": created}
        comment = sample("zendesk", "ticket_comment_added.json")
        comment["detail"].update(id="90", organization_id="9100", requester_id="8447388090494", priority="URGENT",
                                 created_at=created, subject="Reports", description=text, tags=[])
        comment["time"] = comment["detail"]["updated_at"] = _now().strftime("%Y-%m-%dT%H:%M:%SZ")
        customer = json.loads(json.dumps(comment))
        customer["id"] = "c-1"
        customer["event"]["comment"].update(body="Any news?", author={"id": "8447388090494", "is_staff": False})
        agent = json.loads(json.dumps(comment))
        agent["id"] = "c-2"
        agent["event"]["comment"].update(body="Looking into it.", author={"id": "3900001", "is_staff": True})
        return [{"event": "created", "ticket": ticket, "current_user": {"id": "8447388090494"}}, customer, agent]
    if vendor == "jira":
        issue = sample("jira", "issue_created.json")
        issue["issue"]["fields"].update(description=text, created=created, updated=created,
                                        customfield_10002=[{"id": 7, "name": "Fabrikam Health"}])
        issue["issue"]["fields"]["reporter"]["emailAddress"] = "casey@fabrikam.example"
        issue["timestamp"] = int(datetime.fromisoformat(created.replace(".000+0000", "+00:00")).timestamp() * 1000)
        customer = sample("jira", "comment_created.json")
        customer["timestamp"] = int(_now().timestamp() * 1000)
        customer["comment"]["body"] = "Any news?"
        agent = json.loads(json.dumps(customer))
        agent["comment"].update(body="Looking into it.", author={"accountId": "557058:alex", "accountType": "atlassian"})
        return [issue, customer, agent]
    ticket = {"id": "91", "subject": "Reports", "description": text, "priority": "Medium", "status": "Open",
              "tags": "", "requester": {"email": "casey@fabrikam.example", "name": "Casey"},
              "company": {"name": "Fabrikam Health"}}
    customer = {"event": "Customer replied", "ticket": {**ticket, "latest_public_comment": "Any news?"},
                "actor": {"email": "casey@fabrikam.example", "type": "contact"}}
    agent = {"event": "Reply sent", "ticket": {**ticket, "latest_public_comment": "Looking into it."},
             "actor": {"email": "alex@support.example", "type": "agent"}}
    return [{"event": "Ticket is created", "ticket": ticket, "actor": {"email": "casey@fabrikam.example"}},
            customer, agent]


def test_the_same_history_through_each_vendors_shapes_gets_the_same_decisions(system):
    from datetime import timedelta

    created = (_now() - timedelta(minutes=30)).replace(microsecond=0)
    stamps = {"zendesk": created.strftime("%Y-%m-%dT%H:%M:%SZ"), "jira": created.strftime("%Y-%m-%dT%H:%M:%S.000+0000"),
              "freshdesk": created.isoformat()}
    system.fakes["freshdesk"].ticket("91", company_id=9100, requester_id=4402, created_at=stamps["freshdesk"])
    tickets = {"zendesk": "90", "jira": "SUP-17", "freshdesk": "91"}
    outcome = {}
    for vendor, ticket in tickets.items():
        for body in _history(vendor, stamps[vendor]):
            system.send(vendor, body)
        decisions = system.decisions(vendor)
        state = system.store.ticket_state(__import__("slabridge.models", fromlist=["TicketRef"]).TicketRef(
            vendor=vendor, id=ticket))
        outcome[vendor] = {
            "decisions": [(d["customer"], d["entitlement"], d["severity"]) for d in decisions],
            "deadlines": {m: (d["due_at"], d["breached"]) for m, d in state.deadlines.items()},
            "clocks": {m: c.state for m, c in state.clocks.items()}}
    assert outcome["zendesk"]["decisions"] == [("fabrikam-health", "standard", "P1")] * 3
    assert outcome["zendesk"] == outcome["jira"] == outcome["freshdesk"]
    assert outcome["zendesk"]["clocks"]["first_response"] == "stopped"  # the agent's reply, on every vendor


def test_each_connector_says_what_routing_to_a_group_needs():
    from slabridge.config import VendorSettings
    from slabridge_freshdesk.connector import FreshdeskConnector
    from slabridge_jira.connector import JiraConnector
    from slabridge_zendesk.connector import ZendeskConnector

    assert "options.group_field" in JiraConnector().group_problem(VendorSettings(), "sales")
    assert JiraConnector().group_problem(VendorSettings(options={"group_field": "customfield_1"}), "sales") is None
    for connector in (ZendeskConnector(), FreshdeskConnector()):
        assert "groups" in connector.group_problem(VendorSettings(), "sales")
        assert connector.group_problem(VendorSettings(groups={"sales": 42}), "sales") is None
        assert connector.group_problem(VendorSettings(), "360001") is None  # an id already


def test_a_jira_comment_as_the_first_event_of_a_ticket_is_completed_by_an_issue_look_up(system):
    fake = system.fakes["jira"]
    _jira_people(fake)
    created = sample("jira", "issue_created.json")["issue"]["fields"]
    fake.ticket("SUP-17", fields={**created, "description": {"type": "doc", "version": 1, "content": [
        {"type": "paragraph", "content": [{"type": "text", "text": "The reporting module is inoperable."}]}]}})
    system.send("jira", sample("jira", "comment_created.json"))
    [decision] = system.decisions("jira")
    assert decision["customer"] == "fabrikam-health" and decision["entitlement"] == "standard"
    assert decision["severity"] == "P1"  # from the description the look-up gave (ADF read as text)
    assert len(system.reads("jira", "/rest/api/3/issue/SUP-17")) == 1


# --- automated comments are not human replies ---------------------------------------------------

@pytest.mark.parametrize("vendor, created, automated", [
    ("zendesk", ("zendesk", "ticket_created.json"), ("zendesk", "comment_added_by_trigger.json")),
    ("jira", ("jira", "issue_created.json"), ("jira", "comment_created_by_automation.json")),
    ("freshdesk", ("freshdesk", "simple_json.json"), ("freshdesk", "reply_by_automation.json")),
])
def test_a_comment_by_automation_does_not_stop_a_human_only_response_clock(system, vendor, created, automated):
    from slabridge.models import TicketRef

    system.fakes["zendesk"].records[("user", "8447388090494")] = {"email": "casey@fabrikam.example"}
    _jira_people(system.fakes["jira"])
    system.fakes["freshdesk"].ticket("9102", company_id=9100, requester_id=4402)
    system.send(vendor, sample(*created))
    system.send(vendor, sample(*automated))
    ticket = {"zendesk": "5160", "jira": "SUP-17", "freshdesk": "9102"}[vendor]
    state = system.store.ticket_state(TicketRef(vendor=vendor, id=ticket))
    assert state.last_event.comment.author.is_automation
    assert state.clocks["first_response"].state == "running"  # interopion: only a human reply stops it


def test_a_freshdesk_note_of_unnamed_type_stops_a_response_clock_only_if_it_is_public(system):
    """"Note is added" does not say private or public, and the body can carry only the latest *public* comment:
    the customer's, after a private note. Read as the agent's public reply, an internal note stopped the clock."""
    from slabridge.models import TicketRef
    from slabridge_freshdesk.fake import conversation

    fake = system.fakes["freshdesk"]
    ticket = fake.ticket("9102", company_id=9100, requester_id=4402)
    system.send("freshdesk", sample("freshdesk", "simple_json.json"))
    customer_words = "Since this morning no user can open the patient portal."
    ticket["comments"] += [conversation(customer_words, private=False, incoming=True),
                           conversation("Checked the logs; the proxy looks fine.", private=True)]
    note = {"event": "Note is added", "actor": {"email": "alex@support.example"},
            "ticket": {"id": "9102", "subject": "Patient portal unavailable", "status": "Open",
                       "requester": {"email": "casey@fabrikam.example"}, "latest_public_comment": customer_words}}
    system.send("freshdesk", note)
    state = system.store.ticket_state(TicketRef(vendor="freshdesk", id="9102"))
    assert state.last_event.comment.public is False and "proxy" in state.last_event.comment.body
    assert state.clocks["first_response"].state == "running"
    assert len(system.reads("freshdesk", "/api/v2/tickets/9102/conversations")) == 1

    ticket["comments"].append(conversation("We are restarting the portal now.", private=False))
    note["ticket"]["latest_public_comment"] = "We are restarting the portal now."
    system.send("freshdesk", note)
    state = system.store.ticket_state(TicketRef(vendor="freshdesk", id="9102"))
    assert state.last_event.comment.public is True
    assert state.clocks["first_response"].state == "stopped"  # a public note is a response (Freshdesk's reading)


def test_a_late_older_event_never_overwrites_a_newer_one(system):
    newer = _zendesk_update("95", "normal", CUSTOMER, "Reports are slow.")
    newer["ticket"]["updated_at"] = "2026-03-02T14:30:00Z"
    older = _zendesk_update("95", "urgent", CUSTOMER, "Reports are slow.")
    older["ticket"]["updated_at"] = "2026-03-02T14:20:00Z"  # sent before `newer`, delivered after it
    system.send("zendesk", newer)
    system.send("zendesk", older)
    late = system.decisions("zendesk")[-1]
    assert late["ignored"] and late["reasons"][0]["rule"] == "engine.stale_event"
    state = system.store.ticket_state(__import__("slabridge.models", fromlist=["TicketRef"]).TicketRef(
        vendor="zendesk", id="95"))
    assert state.last_event.priority == "normal"


def test_worker_threads_of_one_process_share_their_look_ups(system):
    """`slabridge worker --threads 2`: a user one thread looked up is not looked up again by the other."""
    from slabridge.worker import worker_pool

    system.fakes["zendesk"].records[("user", "8447388090494")] = {
        "id": 8447388090494, "email": "casey@fabrikam.example", "name": "Casey", "organization_id": 9100,
        "role": "end-user"}
    first, second = worker_pool(system.store, system.worker.plugins, system.worker.directory, 2)
    assert first.lookups is second.lookups
    for worker, ticket in ((first, "5158"), (second, "5159")):
        body = sample("zendesk", "ticket_created.json")
        body["id"], body["detail"]["id"] = f"envelope-{ticket}", ticket
        raw = json.dumps(body).encode()
        headers = Plugins().connectors["zendesk"].signed_headers("test-secret-one", raw, _now())
        assert httpx.post(f"{system.receiver.url}/webhooks/zendesk", content=raw, headers=headers).status_code == 202
        worker.drain()
    assert [d["entitlement"] for d in system.decisions("zendesk")] == ["standard", "standard"]
    assert len(system.reads("zendesk", "/api/v2/users/")) == 1


def _created_by(ticket: str, requester: str) -> dict:
    body = sample("zendesk", "ticket_created.json")
    body["id"], body["detail"]["id"], body["detail"]["requester_id"] = f"envelope-{ticket}", ticket, requester
    return body


def test_events_of_one_batch_waiting_on_one_look_up_share_it(system):
    system.fakes["zendesk"].records[("user", "8447388090494")] = {
        "id": 8447388090494, "email": "casey@fabrikam.example", "name": "Casey", "organization_id": 9100,
        "role": "end-user"}
    for ticket in ("5170", "5171", "5172"):
        system.send("zendesk", _created_by(ticket, "8447388090494"), drain=False)
    system.worker.drain()
    assert [d["entitlement"] for d in system.decisions("zendesk")] == ["standard"] * 3
    assert len(system.reads("zendesk", "/api/v2/users/")) == 1 and system.worker.lookups.made == 1


def test_a_slow_vendors_look_ups_are_made_at_once(system):
    """As its writes are: while the vendor answers slowly, a batch's different look-ups overlap."""
    fake = system.fakes["zendesk"]
    for n in range(4):
        fake.records[("user", f"77{n}")] = {"id": int(f"77{n}"), "email": f"user{n}@fabrikam.example",
                                             "name": f"User {n}", "organization_id": 9100, "role": "end-user"}
    fake.latency = 0.05
    system.worker.client_for("zendesk").look_up("user", "770")  # the vendor is timed: slow
    fake.most_in_flight = 0
    for n in range(4):
        system.send("zendesk", _created_by(f"518{n}", f"77{n}"), drain=False)
    system.worker.process_events()
    assert fake.most_in_flight > 1
    system.worker.drain()
    assert [d["customer"] for d in system.decisions("zendesk")] == ["fabrikam-health"] * 4
    assert system.worker.lookups.made == 4


def test_a_look_up_failing_for_events_in_one_batch_makes_each_wait(system):
    fake = system.fakes["zendesk"]
    fake.fail_next("GET", "/api/v2/users/8447388090494", 503)
    for ticket in ("5190", "5191"):
        system.send("zendesk", _created_by(ticket, "8447388090494"), drain=False)
    system.worker.settings.vendors["zendesk"].max_retries = 0
    system.worker.process_events()
    rows = system.store.rows("inbox", vendor="zendesk")
    assert [(r["status"], r["attempts"]) for r in rows] == [("pending", 1)] * 2
    assert all("look-up of zendesk user 8447388090494" in r["error"] for r in rows)
    assert len(system.reads("zendesk", "/api/v2/users/")) == 1


def test_the_look_up_cache_takes_puts_from_many_threads_past_its_bound(frequent_switches):
    from slabridge.lookups import LookupNeeded, Lookups
    from slabridge.testing.threads import at_once

    lookups = Lookups(max_entries=50)

    def put_many(index: int) -> None:
        for n in range(2_000):
            lookups.put("zendesk", "user", f"{index}-{n}", {"n": n})
            try:
                assert lookups.get("zendesk", "user", f"{index}-{n}") == {"n": n}
            except LookupNeeded:  # another thread's put just emptied the full cache: allowed
                pass

    at_once(4, put_many)
    assert len(lookups._answers) <= 50
