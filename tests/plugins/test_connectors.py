"""Each connector's verify and parse, on sample payloads shaped as the vendors document them."""

import hashlib
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from slabridge.config import VendorSettings
from slabridge.connectors import WebhookRejected, WebhookRequest
from slabridge.models import EventKind
from slabridge_freshdesk.connector import FreshdeskConnector
from slabridge_jira.connector import JiraConnector
from slabridge_zendesk.connector import ZendeskConnector

SAMPLES = Path(__file__).parent.parent / "samples"
NOW = datetime(2026, 3, 2, 14, 12, 31, tzinfo=timezone.utc)


@pytest.fixture
def vendor_settings(monkeypatch):
    monkeypatch.setenv("S1", "secret")
    return VendorSettings(enabled=True, base_url="http://x", webhook_secrets_env=["S1"], self_user="bot-1")


def sample(vendor, name) -> bytes:
    return (SAMPLES / vendor / name).read_bytes()


def zendesk_request(body: bytes, stamp: datetime = NOW, received=NOW):
    headers = ZendeskConnector().signed_headers("secret", body, stamp)
    headers["X-Zendesk-Webhook-Invocation-Id"] = "inv-1"
    return WebhookRequest(headers=headers, body=body, received_at=received)


def test_zendesk_envelope_comment(vendor_settings):
    request = zendesk_request(sample("zendesk", "ticket_comment_added.json"))
    ZendeskConnector().verify(request, vendor_settings)
    event = ZendeskConnector().parse(request, vendor_settings)
    assert event.kind == EventKind.comment and event.ticket.id == "5158"
    assert event.priority == "high" and event.status == "open" and event.tags == ("vip",)
    assert event.requester.id == "8447388090494" and event.organization.id == "8447346622598"
    assert event.comment.public and event.comment.author.is_agent is True
    assert event.delivery_id == "inv-1"


def test_zendesk_stale_timestamp_is_refused(vendor_settings):
    body = sample("zendesk", "ticket_comment_added.json")
    request = zendesk_request(body, stamp=NOW - timedelta(minutes=6))
    with pytest.raises(WebhookRejected, match="outside the 0:05:00 tolerance"):
        ZendeskConnector().verify(request, vendor_settings)
    vendor_settings.options["signature_tolerance_seconds"] = 600
    ZendeskConnector().verify(request, vendor_settings)


def test_zendesk_missing_headers(vendor_settings):
    with pytest.raises(WebhookRejected) as info:
        ZendeskConnector().verify(WebhookRequest({}, b"{}", NOW), vendor_settings)
    assert info.value.status == 401 and "missing" in info.value.message


def test_jira_priority_change_and_acting_user(vendor_settings):
    body = sample("jira", "issue_updated_priority.json")
    headers = {**JiraConnector().signed_headers("secret", body, NOW), "X-Atlassian-Webhook-Identifier": "w-1"}
    request = WebhookRequest(headers, body, NOW)
    JiraConnector().verify(request, vendor_settings)
    vendor_settings.options["organization_field"] = "customfield_10002"
    event = JiraConnector().parse(request, vendor_settings)
    assert event.kind == EventKind.priority and event.ticket.id == "SUP-17"
    assert event.priority == "Highest" and event.status == "In Progress"
    assert event.actor.id == "557058:f58131cb-b67d-43c7-b30d-6b58d40bd077" and not event.actor.is_self
    assert event.organization.name == "Poologics Customer A"
    assert event.created_at == datetime(2026, 3, 2, 13, 55, tzinfo=timezone.utc)


def test_jira_comment_actor_is_the_comment_author(vendor_settings):
    body = sample("jira", "comment_created.json")
    event = JiraConnector().parse(WebhookRequest({"X-Atlassian-Webhook-Identifier": "w-2"}, body, NOW), vendor_settings)
    assert event.kind == EventKind.comment and event.actor.id == "qm:1234"
    assert event.comment.author.is_agent is False  # a JSM portal customer, whoever it is, is not support
    data = json.loads(body)
    data["comment"]["author"] = {"accountId": "557058:alex", "accountType": "atlassian"}
    staff = JiraConnector().event_from(data, "w-3", NOW, vendor_settings)
    assert staff.comment.author.is_agent is True
    assert event.comment.public and event.comment.body == "Still failing on our side."


def test_jira_self_user_is_recognised(vendor_settings):
    data = json.loads(sample("jira", "issue_updated_priority.json"))
    data["user"]["accountId"] = "bot-1"
    event = JiraConnector().parse(WebhookRequest({"X-Atlassian-Webhook-Identifier": "w-3"},
                                                 json.dumps(data).encode(), NOW), vendor_settings)
    assert event.actor.is_self


@pytest.mark.parametrize("vendor, body", [
    ("jira", lambda: {**json.loads(sample("jira", "issue_updated_priority.json")), "webhookEvent": "jira:issue_deleted",
                      "changelog": None}),
    ("zendesk", lambda: {**json.loads(sample("zendesk", "ticket_created.json")),
                         "type": "zen:event-type:ticket.marked_as_spam"}),
])
def test_a_ticket_deleted_or_marked_spam_is_a_deleted_event(vendor_settings, vendor, body):
    connector = {"jira": JiraConnector, "zendesk": ZendeskConnector}[vendor]()
    assert connector.event_from(body(), "d-9", NOW, vendor_settings).kind == EventKind.deleted


def test_a_jsm_request_shared_with_several_organizations_is_its_first_known_customers():
    """Matched by the first organization only, a request shared with a reseller before the customer was nobody's,
    and went unentitled when its reporter was no listed contact."""
    from slabridge.directory import load
    from slabridge.lookups import Lookups

    directory = load(Path(__file__).resolve().parents[2] / "examples" / "contracts",
                     Path(__file__).resolve().parents[2] / "examples" / "customers.yaml")[0]
    settings = VendorSettings(enabled=True, options={"organization_field": "customfield_10002"})
    data = json.loads(sample("jira", "issue_updated_priority.json"))
    data["issue"]["fields"]["customfield_10002"] = [{"id": 40, "name": "A reseller"}, {"id": 3, "name": "Poologics"}]
    data["issue"]["fields"]["reporter"]["emailAddress"] = "someone@unlisted.example"
    event = JiraConnector().event_from(data, "w-5", NOW, settings)
    assert (event.organization.id, event.organization.also) == ("40", ("3",))
    assert directory.find("jira", event.organization.id, event.requester.email, event.organization.also) == (
        directory.customers["acme-offices"], "organization")
    # Without the field, the customer's organizations are looked up: every one, in Jira's order.
    del data["issue"]["fields"]["customfield_10002"]
    data["issue"]["fields"]["reporter"]["accountId"] = "qm:77"
    event = JiraConnector().event_from(data, "w-6", NOW, settings)
    lookups = Lookups()
    lookups.put("jira", "organization", "qm:77", {"organizations": [{"id": "40", "name": "A reseller"},
                                                                    {"id": "3", "name": "Poologics"}]})
    enriched = JiraConnector().enrich(event, lookups, settings)
    assert (enriched.organization.id, enriched.organization.also) == ("40", ("3",))


def test_freshdesk_labels_become_api_codes_and_hash_is_the_delivery(vendor_settings):
    body = sample("freshdesk", "ticket_updated.json")
    request = WebhookRequest({"X-Slabridge-Secret": "secret"}, body, NOW)
    FreshdeskConnector().verify(request, vendor_settings)
    event = FreshdeskConnector().parse(request, vendor_settings)
    assert event.priority == "4" and event.kind == EventKind.priority
    assert event.tags == ("import", "billable")
    window = int(NOW.timestamp()) // 600
    assert event.delivery_id == f"sha256:{hashlib.sha256(body).hexdigest()}@{window}"
    later = FreshdeskConnector().parse(WebhookRequest({"X-Slabridge-Secret": "secret"}, body,
                                                      NOW + timedelta(hours=1)), vendor_settings)
    assert later.delivery_id != event.delivery_id  # the same change an hour later is a new event


@pytest.mark.parametrize("triggered, kind", [
    ("Customer replied", EventKind.comment), ("Customer replies", EventKind.comment),
    ("Reply is sent", EventKind.comment), ("Note is added", EventKind.comment),
    ("Ticket is created", EventKind.created), ("{ticket_action:created}", EventKind.created),
    ("Status is changed", EventKind.status), ("Agent is updated", EventKind.updated),
    ("Ticket is deleted", EventKind.deleted), ("Ticket is marked as spam", EventKind.deleted),
])
def test_freshdesk_events_are_read_from_the_words_of_the_triggered_event(vendor_settings, triggered, kind):
    """"Customer replied" was read as an update, not a comment: the customer's reply restarted no next-response
    clock and brought no words to classification."""
    body = json.loads(sample("freshdesk", "ticket_updated.json"))
    body["event"] = triggered
    event = FreshdeskConnector().event_from(body, "d1", NOW, vendor_settings)
    assert event.kind == kind


@pytest.mark.parametrize("triggered, public, text", [
    ("{note_type:private}", False, ""), ("Private note is added", False, ""), ("{note_type:public}", True, "Any news?"),
    ("Note is added", None, ""), ("Reply is sent", True, "Any news?"), ("Customer replied", True, "Any news?"),
])
def test_a_freshdesk_private_note_carries_no_public_comment_of_its_author(vendor_settings, triggered, public, text):
    """After a private note, the latest public comment the body carries is an older one: read as the note
    author's public reply, it stopped response clocks. A note of unnamed type is looked up (None: not known)."""
    body = json.loads(sample("freshdesk", "ticket_updated.json"))
    body["event"] = triggered
    body["ticket"]["latest_public_comment"] = "Any news?"
    event = FreshdeskConnector().event_from(body, "d1", NOW, vendor_settings)
    assert event.kind == EventKind.comment and event.comment.public is public and event.comment.body == text


@pytest.mark.parametrize("answer, public, text", [
    ({"private": True, "body": "call them back"}, False, "call them back"),
    ({"private": False, "body": "We are on it."}, True, "We are on it."),
    (None, False, ""),
])
def test_a_freshdesk_note_of_unnamed_type_is_what_its_look_up_says(vendor_settings, answer, public, text):
    from slabridge.lookups import LookupNeeded, Lookups

    body = json.loads(sample("freshdesk", "ticket_updated.json"))
    body["event"] = "Note is added"
    body["ticket"]["latest_public_comment"] = "Any news?"
    event = FreshdeskConnector().event_from(body, "d1", NOW, vendor_settings)
    lookups = Lookups()
    with pytest.raises(LookupNeeded) as needed:
        FreshdeskConnector().enrich(event, lookups, vendor_settings)
    assert (needed.value.kind, needed.value.key) == ("note", f"812@{event.occurred_at.isoformat()}")
    lookups.put("freshdesk", "note", needed.value.key, answer)
    comment = FreshdeskConnector().enrich(event, lookups, vendor_settings).comment
    assert (comment.public, comment.body, comment.author) == (public, text, event.comment.author)


QUOTED_REPLY_HTML = (
    '<div dir="ltr">Thanks, understood.<br></div><div class="freshdesk_quote"><blockquote class="freshdesk_quote">'
    'On Mon, 9 Mar 2026, Interopion Support wrote:<br>We have reclassified this request from P3 to P1. If you '
    'disagree, reply with the word APPEAL &amp; our Support management will review it.</blockquote></div>')


def test_a_freshdesk_comment_sent_as_html_is_read_as_text_with_its_quoted_mail_marked():
    """{{ticket.latest_public_comment}} and Freshdesk's Simple body send HTML: its tags were read as words, and the
    reply quoted in a <blockquote> as the customer's (here: an appeal)."""
    body = json.loads(sample("freshdesk", "ticket_updated.json"))
    body.update(event="Customer replied")
    body["ticket"]["latest_public_comment"] = QUOTED_REPLY_HTML
    event = FreshdeskConnector().event_from(body, "d1", NOW, VendorSettings(enabled=True))
    assert event.comment.body == ("Thanks, understood.\n> On Mon, 9 Mar 2026, Interopion Support wrote:\n"
                                  "> We have reclassified this request from P3 to P1. If you disagree, reply with the "
                                  "word APPEAL & our Support management will review it.")
    from slabridge.rules.matching import own_words

    assert own_words(event.comment.body) == "Thanks, understood."


@pytest.mark.parametrize("html, text", [
    ("plain words, 2 < 3 and 4 > 1", "plain words, 2 < 3 and 4 > 1"),  # no tag: as it is
    ("<p>One</p><p>Two<br/>Three</p>", "One\nTwo\nThree"),
    ("<style>p {color: red}</style><p>Shown &lt;b&gt;</p>", "Shown <b>"),
    ("<blockquote>a<blockquote>b</blockquote>c</blockquote>d", "> a\n> b\n> c\nd"),
])
def test_html_comment_text(html, text):
    from slabridge.htmltext import comment_text

    assert comment_text(html) == text


@pytest.mark.parametrize("body, own", [
    ("Thanks, understood.\n{quote}If you disagree, reply with the word APPEAL{quote}", "Thanks, understood."),
    ("Thanks{quote}reply with the word APPEAL\nand we review{quote}ok", "Thanks\nok"),
    ("bq. reply with the word APPEAL\nNo, only the reports are slow.", "No, only the reports are slow."),
    ("APPEAL, the {code}quote{code} is wrong", "APPEAL, the {code}quote{code} is wrong"),
])
def test_a_jira_comments_wiki_quotes_are_not_its_authors_words(vendor_settings, body, own):
    from slabridge.rules.matching import own_words

    data = json.loads(sample("jira", "comment_created.json"))
    data["comment"]["body"] = body
    event = JiraConnector().event_from(data, "w-7", NOW, vendor_settings)
    assert own_words(event.comment.body).strip() == own


def test_freshdesk_secret_header_is_configurable(vendor_settings):
    vendor_settings.options["secret_header"] = "X-Our-Token"
    request = WebhookRequest({"X-Our-Token": "nope"}, b"{}", NOW)
    with pytest.raises(WebhookRejected, match="X-Our-Token does not match"):
        FreshdeskConnector().verify(request, vendor_settings)


def test_no_secret_configured_refuses_everything(monkeypatch):
    monkeypatch.delenv("S1", raising=False)
    settings = VendorSettings(enabled=True, webhook_secrets_env=["S1"])
    with pytest.raises(WebhookRejected, match="no webhook secret"):
        FreshdeskConnector().verify(WebhookRequest({"X-Slabridge-Secret": "x"}, b"{}", NOW), settings)


def test_webhook_templates(request_checkers):
    from click.testing import CliRunner

    from slabridge.cli import main

    for vendor in ("zendesk", "freshdesk", "jira"):
        result = CliRunner().invoke(main, ["webhooks", "template", vendor, "--url", "https://sla.example.com/"])
        assert result.exit_code == 0, result.output
        template = json.loads(result.output)
        assert template["steps"] and f"https://sla.example.com/webhooks/{vendor}" in result.output
    zendesk = json.loads(CliRunner().invoke(main, ["webhooks", "template", "zendesk"]).output)
    assert [w["webhook"]["subscriptions"] for w in zendesk["webhooks"]] == [
        ["conditional_ticket_events"], [f"zen:event-type:ticket.{name}" for name in (
            "comment_added", "soft_deleted", "permanently_deleted", "marked_as_spam", "undeleted")]]
    jira = json.loads(CliRunner().invoke(main, ["webhooks", "template", "jira"]).output)
    assert "jira:issue_deleted" in jira["webhook"]["events"]
    for trigger in zendesk["triggers"]:
        assert request_checkers["zendesk"].problems("POST", "/api/v2/triggers", trigger) == []
        conditions = trigger["trigger"]["conditions"]["all"]
        assert {"field": "current_user", "operator": "is_not"}.items() <= conditions[1].items()  # loop safety
        body = json.loads(trigger["trigger"]["actions"][0]["value"][1])
        assert body["event"] in ("created", "updated") and body["ticket"]["id"] == "{{ticket.id}}"


def test_template_body_is_what_the_zendesk_parser_reads(vendor_settings):
    from slabridge_zendesk.template import BODY

    filled = json.loads(json.dumps(BODY).replace('"EVENT"', '"created"')
                        .replace("{{ticket.id}}", "77").replace("{{ticket.tags}}", "vip sla_p1")
                        .replace("{{ticket.created_at_with_timestamp}}", "2026-03-02T14:10:02Z")
                        .replace("{{ticket.updated_at_with_timestamp}}", "2026-03-02T14:12:30Z"))
    event = ZendeskConnector().event_from(filled, "inv-9", NOW, vendor_settings)
    assert event.ticket.id == "77" and event.tags == ("vip", "sla_p1") and event.kind == EventKind.created


def render(template: dict, values: dict[str, str]) -> dict:
    """A template body as the helpdesk renders it: every {{placeholder}} replaced by its value."""
    import re

    text = json.dumps(template)
    return json.loads(re.sub(r"\{\{([a-z_.]+)\}\}", lambda m: json.dumps(values[m[1]])[1:-1], text))


FRESHDESK_RENDERED = {
    "triggered_event": "{ticket_action:created}", "ticket.id": "9102", "ticket.subject": "Portal down",
    "ticket.description_text": "No user can log on.", "ticket.priority": "High", "ticket.status": "Open",
    "ticket.tags": "vip, portal", "ticket.requester.email": "casey@fabrikam.example",
    "ticket.requester.name": "Casey", "ticket.company.name": "Fabrikam Health",
    "ticket.latest_public_comment_text": "", "triggered_by.email": "casey@fabrikam.example"}


def test_the_freshdesk_template_as_rendered_is_what_the_parser_reads_and_the_company_id_is_looked_up(
        vendor_settings):
    from slabridge.lookups import LookupNeeded, Lookups
    from slabridge_freshdesk.template import BODY

    event = FreshdeskConnector().event_from(render(BODY, FRESHDESK_RENDERED), "d-1", NOW, vendor_settings)
    assert event.kind == EventKind.created and event.ticket.id == "9102" and event.priority == "3"
    assert event.tags == ("vip", "portal") and event.requester.email == "casey@fabrikam.example"
    # The template sends the company's name; customers are matched by id, so the name is never taken for one.
    assert event.organization.name == "Fabrikam Health" and event.organization.id is None
    lookups = Lookups()
    with pytest.raises(LookupNeeded) as needed:
        FreshdeskConnector().enrich(event, lookups, vendor_settings)
    assert (needed.value.kind, needed.value.key) == ("ticket", "9102")
    lookups.put("freshdesk", "ticket", "9102", {"company_id": 9100, "requester_id": 4402})
    enriched = FreshdeskConnector().enrich(event, lookups, vendor_settings)
    assert enriched.organization.id == "9100" and enriched.organization.name == "Fabrikam Health"


def test_freshdesk_simple_json_parses_with_what_it_lacks_marked_absent(vendor_settings):
    event = FreshdeskConnector().parse(
        WebhookRequest({"X-Slabridge-Secret": "secret"}, sample("freshdesk", "simple_json.json"), NOW), vendor_settings)
    assert event.ticket.id == "9102" and event.kind == EventKind.created and event.priority == "3"
    assert event.requester.email == "casey@fabrikam.example" and event.organization.name == "Fabrikam Health"
    assert set(event.absent) == {"custom_fields", "created_at"}


def test_absent_is_what_each_vendor_leaves_out(vendor_settings):
    jira = JiraConnector().event_from(json.loads(sample("jira", "comment_created.json")), "w", NOW, vendor_settings)
    assert set(jira.absent) == {"description", "tags", "requester", "created_at", "custom_fields"}
    zendesk = ZendeskConnector().event_from(json.loads(sample("zendesk", "ticket_created.json")), "i", NOW,
                                            vendor_settings)
    assert zendesk.absent == ("custom_fields",) and zendesk.requester.email is None


@pytest.mark.parametrize("url", ["nope", "http://", "https://desk.example.com/sla?x=1", "https://x y.example",
                                 "https://desk.example.com:port", "ftp://desk.example.com"])
def test_a_webhook_template_for_a_url_the_helpdesk_cannot_call_is_refused(url):
    """It was printed with the bad URL inside (`"endpoint": "nope/webhooks/zendesk"`), for the helpdesk to
    refuse later with its own, vaguer, error."""
    from click.testing import CliRunner

    from slabridge.cli import main

    result = CliRunner().invoke(main, ["webhooks", "template", "zendesk", "--url", url])
    assert result.exit_code == 2 and "--url" in result.output and "not a base URL the helpdesk can call" in result.output
    assert "endpoint" not in result.output


def test_jira_select_fields_are_read_as_their_values_and_people_left_out(vendor_settings):
    """Jira sends a select's option as ``{"self", "value", "id"}`` and a multi-select as a list of them; the
    connector kept only text and numbers, so a contract's ``fields: {customfield_10060: [Yes]}`` (an appeal, a
    classification rule) never held for a Jira select field."""
    document = json.loads(sample("jira", "issue_updated_priority.json"))
    document["issue"]["fields"].update({
        "customfield_10060": {"self": "https://x/rest/api/3/customFieldOption/10001", "value": "Yes", "id": "10001"},
        "customfield_10061": [{"value": "Billing", "id": "1"}, {"value": "Reports", "id": "2"}],
        "customfield_10062": ["urgent", "vip"],  # a labels field
        "customfield_10063": {"accountId": "5b10", "displayName": "Robin", "emailAddress": "robin@x.example"},
        "customfield_10064": {"value": "Region", "child": {"value": "EU"}},  # a cascade: not a single value
        "customfield_10065": [], "customfield_10066": 3, "customfield_10067": "2026-03-13T14:00:00.000-0500"})
    body = json.dumps(document).encode()
    headers = {**JiraConnector().signed_headers("secret", body, NOW), "X-Atlassian-Webhook-Identifier": "w-9"}
    event = JiraConnector().parse(WebhookRequest(headers, body, NOW), vendor_settings)
    fields = {k: v for k, v in event.custom_fields.items() if k >= "customfield_10060"}
    assert fields == {"customfield_10060": "Yes", "customfield_10061": ["Billing", "Reports"],
                      "customfield_10062": ["urgent", "vip"], "customfield_10066": 3,
                      "customfield_10067": "2026-03-13T14:00:00.000-0500"}
