"""Jira admin webhooks: ``X-Hub-Signature`` check and parsing into TicketEvents.

Webhook bodies use REST v2 shapes (``description`` is plain text). The acting
user is ``user.accountId`` (``comment.author`` for comment events); matching it
against ``self_user`` marks our own write-backs.
"""

from __future__ import annotations

import re
from datetime import timedelta
from urllib.parse import quote

from slabridge.config import VendorSettings
from slabridge.connectors import (
    Connector, WebhookRejected, WebhookRequest, absent_fields, checked_id, dig, hmac_matches, instant, json_object,
    reading_event, require,
)
from slabridge.models import Actor, Comment, EventKind, Organization, Person, TicketEvent, TicketRef
from slabridge.timeparse import parse_instant, supported

from .client import JiraClient

SIGNATURE = "X-Hub-Signature"
ISSUE_KEY = re.compile(r"[A-Z][A-Z0-9_]{0,49}-[1-9][0-9]{0,17}")
IDENTIFIER = "X-Atlassian-Webhook-Identifier"
CHANGED = {"priority": EventKind.priority, "status": EventKind.status}
# Where each TicketEvent field sits in ``issue.fields``. Comment events carry a partial issue (summary,
# issuetype, project, assignee, priority, status): what they leave out is unchanged, not empty.
ISSUE_FIELDS = {"subject": "summary", "description": "description", "priority": "priority", "status": "status",
                "tags": "labels", "requester": "reporter", "created_at": "created"}


class JiraConnector(Connector):
    name = "jira"
    version = "0.1.0"
    options = {"organization_field": str, "group_field": str, "timestamp_tolerance_seconds": float,
               "comment_api": ("servicedesk", "platform"), "internal_role": str, "transitions": dict}

    def verify(self, request: WebhookRequest, settings: VendorSettings) -> None:
        presented = request.header(SIGNATURE) or ""
        if not presented.startswith("sha256="):
            raise WebhookRejected(401, f"missing or malformed {SIGNATURE} header (expected sha256=<hex>)")
        secrets = settings.webhook_secrets()
        if not secrets:
            raise WebhookRejected(401, "no webhook secret is configured for jira")
        hex_digest = presented.removeprefix("sha256=").lower().encode()
        if not hmac_matches(secrets, request.body, hex_digest, "sha256", lambda d: d.hex().encode()):
            raise WebhookRejected(401, f"{SIGNATURE} does not match the body")

    def ticket_url(self, settings: VendorSettings, ticket_id: str) -> str | None:
        """The agent's view of the ticket: ``{base_url}/browse/<id>``."""
        return f"{settings.base_url.rstrip('/')}/browse/{quote(ticket_id, safe='')}" if settings.base_url else None

    def group_problem(self, settings: VendorSettings, group: str) -> str | None:
        if settings.options.get("group_field"):
            return None
        return f"routing to group {group!r} needs vendors.jira.options.group_field (the issue's group field)"

    def recognizes(self, payload: dict) -> bool | None:
        return "webhookEvent" in payload

    def parse(self, request: WebhookRequest, settings: VendorSettings) -> TicketEvent:
        data = json_object(request)
        delivery = request.header(IDENTIFIER)
        if not delivery:
            raise WebhookRejected(422, f"missing {IDENTIFIER} header")
        event = self.event_from(data, delivery, request.received_at, settings)
        tolerance = timedelta(seconds=self.option(settings, "timestamp_tolerance_seconds", 3600))
        if "timestamp" in data and abs(request.received_at - event.occurred_at) > tolerance:
            raise WebhookRejected(401, f"timestamp is outside the {tolerance} tolerance (stale or replayed)")
        return event

    def event_from(self, data: dict, delivery: str, received_at, settings: VendorSettings) -> TicketEvent:
        event_name = str(require(data, "webhookEvent"))
        fields = require(data, "issue.fields")
        key = checked_id(data, "issue.key", ISSUE_KEY, "Jira issue key (PROJECT-123)")
        with reading_event():
            comment = data.get("comment")
            actor = (comment or {}).get("author") if event_name.startswith("comment_") else data.get("user")
            return TicketEvent(
                vendor=self.name,
                delivery_id=delivery,
                ticket=TicketRef(vendor=self.name, id=key),
                kind=_kind(event_name, data.get("changelog")),
                actor=_actor(actor or {}, settings),
                requester=Person(id=dig(fields, "reporter.accountId"), email=dig(fields, "reporter.emailAddress"),
                                 name=dig(fields, "reporter.displayName")),
                organization=_organization(fields, settings),
                subject=fields.get("summary") or "",
                description=fields.get("description") if isinstance(fields.get("description"), str) else "",
                priority=dig(fields, "priority.name"),
                status=dig(fields, "status.name"),
                tags=tuple(fields.get("labels") or ()),
                custom_fields=_custom_fields(fields),
                comment=Comment(public=bool(comment.get("jsdPublic", True)), author=_actor(comment.get("author") or {}, settings),
                                body=_quotes_marked(comment["body"]) if isinstance(comment.get("body"), str) else "")
                if isinstance(comment, dict) else None,
                created_at=instant(fields.get("created"), "issue.fields.created"),
                updated_at=instant(fields.get("updated"), "issue.fields.updated"),
                occurred_at=instant(data.get("timestamp"), "timestamp") or received_at,
                absent=_absent(fields, settings),
            )

    def enrich(self, event: TicketEvent, lookups, settings: VendorSettings) -> TicketEvent:
        """Jira often hides ``reporter.emailAddress``: ``GET /rest/api/3/user?accountId=`` may give it; a
        JSM customer's organization, when no ``options.organization_field`` carries it, comes from
        ``GET /rest/servicedeskapi/organization?accountId=``."""
        update: dict = {}
        if "requester" in event.absent:  # a partial issue (a comment event) and no earlier event of the ticket
            issue = lookups.get(self.name, "issue", event.ticket.id)
            if issue:
                update = _fill_from_issue(event, issue, settings)
                event = event.model_copy(update=update)
        requester = event.requester
        if requester.id and not requester.email:
            user = lookups.get(self.name, "user", requester.id)
            if user and user.get("email"):
                update["requester"] = requester.model_copy(update={"email": user["email"],
                                                                   "name": requester.name or user.get("name")})
        field = settings.options.get("organization_field")
        service_desk = self.option(settings, "comment_api", "servicedesk") == "servicedesk"
        if (requester.id and event.organization.id is None and service_desk
                and (not field or "organization" in event.absent)):
            found = lookups.get(self.name, "organization", requester.id)
            if found:
                update["organization"] = _organizations(found["organizations"])
        return event.model_copy(update=update) if update else event

    def client(self, settings: VendorSettings, http) -> JiraClient:
        return JiraClient(http, settings)


def _kind(event_name: str, changelog) -> EventKind:
    if event_name == "jira:issue_created":
        return EventKind.created
    if event_name == "jira:issue_deleted":
        return EventKind.deleted
    if event_name.startswith("comment_"):
        return EventKind.comment
    for item in (changelog or {}).get("items") or ():
        if item.get("field") in CHANGED:
            return CHANGED[item["field"]]
    return EventKind.updated


ACCOUNT_IS_AGENT = {"atlassian": True, "app": True, "customer": False}  # JSM portal customers are "customer"


def _actor(user: dict, settings: VendorSettings) -> Actor:
    account = user.get("accountId") or user.get("name")
    is_self = settings.self_user is not None and settings.self_user == account
    kind = user.get("accountType")
    automation = kind == "app" or bool({account, user.get("emailAddress")} & set(settings.automation_users))
    return Actor(id=account, email=user.get("emailAddress"), name=user.get("displayName"), is_self=is_self,
                 is_automation=automation and not is_self, is_agent=ACCOUNT_IS_AGENT.get(kind))


def _fill_from_issue(event: TicketEvent, issue: dict, settings: VendorSettings) -> dict:
    """What a looked-up issue gives for the fields the event left out."""
    fields = issue.get("fields") or {}
    present = set(_absent(fields, settings))
    filled: dict = {"absent": tuple(name for name in event.absent if name in present)}
    for name in event.absent:
        if name in present:
            continue
        if name == "requester":
            filled[name] = Person(id=dig(fields, "reporter.accountId"), email=dig(fields, "reporter.emailAddress"),
                                  name=dig(fields, "reporter.displayName"))
        elif name == "organization":
            filled[name] = _organization(fields, settings)
        elif name == "tags":
            filled[name] = tuple(fields.get("labels") or ())
        elif name == "description":
            filled[name] = _plain_text(fields.get("description"))
        elif name == "created_at":
            try:
                created = parse_instant(fields.get("created"))
                filled[name] = created and supported(created)
            except (TypeError, ValueError, OverflowError):
                filled["absent"] += (name,)  # unreadable: still unknown
        elif name == "custom_fields":
            filled[name] = _custom_fields(fields)
    return filled


def _custom_fields(fields: dict) -> dict:
    """The issue's custom fields as rules compare them: text and numbers as they are, a select's or radio's
    option as its value, a multi-select's or checkboxes' options (or a labels field) as a list of values.
    Other objects (users, groups, cascades, documents) are left out: they hold names and e-mails."""
    found = {}
    for key, value in fields.items():
        if key.startswith("customfield_") and (value := _field_value(value)) is not None:
            found[key] = value
    return found


def _field_value(value):
    if isinstance(value, (str, int, float)):
        return value
    if isinstance(value, dict):
        return _option(value)
    if isinstance(value, list):
        return [item for item in map(_option, value) if item is not None] or None
    return None


def _option(value) -> str | None:
    """A select's option (``{"value": "Yes", "id": "10001"}``) as its value; text as it is."""
    if isinstance(value, str):
        return value
    chosen = value.get("value") if isinstance(value, dict) and "child" not in value else None
    return chosen if isinstance(chosen, str) else None


QUOTE_BLOCK = re.compile(r"\{quote\}(.*?)\{quote\}", re.S)
QUOTE_LINE = re.compile(r"^bq\. ", re.M)


def _quotes_marked(body: str) -> str:
    """A wiki-markup comment with what it quotes (``{quote}…{quote}``, a line begun ``bq. ``) as ``> `` lines, as
    mail quotes: the rules leave them out of the author's words."""
    if "{quote}" not in body and "bq. " not in body:
        return body
    body = QUOTE_BLOCK.sub(lambda m: "\n" + "\n".join(f"> {line}" for line in m[1].strip("\n").split("\n")) + "\n",
                           body)
    return QUOTE_LINE.sub("> ", body)


def _plain_text(value) -> str:
    """A description as plain text: REST v2 sends a string, v3 an Atlassian Document Format tree."""
    if isinstance(value, str):
        return value
    if not isinstance(value, dict):
        return ""
    parts: list[str] = []

    def walk(node):
        if isinstance(node, dict):
            if node.get("type") == "text" and isinstance(node.get("text"), str):
                parts.append(node["text"])
            for child in node.get("content") or ():
                walk(child)
            if node.get("type") in ("paragraph", "heading", "listItem"):
                parts.append("\n")

    walk(value)
    return "".join(parts).strip()


def _absent(fields: dict, settings: VendorSettings) -> tuple[str, ...]:
    paths = dict(ISSUE_FIELDS)
    if settings.options.get("organization_field"):
        paths["organization"] = settings.options["organization_field"]
    absent = absent_fields(fields, paths)
    if not any(name.startswith("customfield_") for name in fields):
        absent += ("custom_fields",)
    return absent


def _organization(fields: dict, settings: VendorSettings) -> Organization:
    """The JSM organizations from the configured field (``options.organization_field``): the first, and the ids
    of the others the request is shared with."""
    name = settings.options.get("organization_field")
    value = fields.get(name) if name else None
    return _organizations(value if isinstance(value, list) else [value])


def _organizations(values: list) -> Organization:
    """JSM organizations (``{"id", "name"}`` each, in the vendor's order) as the ticket's :class:`Organization`."""
    known = [v for v in values if isinstance(v, dict) and v.get("id") not in (None, "")]
    if not known:
        return Organization()
    return Organization(id=str(known[0]["id"]), name=known[0].get("name"), also=tuple(str(v["id"]) for v in known[1:]))
