"""Jira admin webhooks: ``X-Hub-Signature`` check and parsing into TicketEvents.

Webhook bodies use REST v2 shapes (``description`` is plain text). The acting
user is ``user.accountId`` (``comment.author`` for comment events); matching it
against ``self_user`` marks our own write-backs.
"""

from __future__ import annotations

from pydantic import ValidationError

from slabridge.config import VendorSettings
from slabridge.connectors import (
    Connector, WebhookRejected, WebhookRequest, instant, dig, hmac_matches, json_object, require,
)
from slabridge.models import Actor, Comment, EventKind, Organization, Person, TicketEvent, TicketRef

from .client import JiraClient

SIGNATURE = "X-Hub-Signature"
IDENTIFIER = "X-Atlassian-Webhook-Identifier"
CHANGED = {"priority": EventKind.priority, "status": EventKind.status}


class JiraConnector(Connector):
    name = "jira"
    version = "0.1.0"

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

    def parse(self, request: WebhookRequest, settings: VendorSettings) -> TicketEvent:
        data = json_object(request)
        delivery = request.header(IDENTIFIER)
        if not delivery:
            raise WebhookRejected(422, f"missing {IDENTIFIER} header")
        return self.event_from(data, delivery, request.received_at, settings)

    def event_from(self, data: dict, delivery: str, received_at, settings: VendorSettings) -> TicketEvent:
        event_name = str(require(data, "webhookEvent"))
        fields = require(data, "issue.fields")
        key = str(require(data, "issue.key"))
        try:
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
                custom_fields={k: v for k, v in fields.items() if k.startswith("customfield_") and v is not None
                               and isinstance(v, (str, int, float))},
                comment=Comment(public=bool(comment.get("jsdPublic", True)), author=_actor(comment.get("author") or {}, settings),
                                body=comment.get("body") if isinstance(comment.get("body"), str) else "")
                if isinstance(comment, dict) else None,
                created_at=instant(fields.get("created"), "issue.fields.created"),
                updated_at=instant(fields.get("updated"), "issue.fields.updated"),
                occurred_at=instant(data.get("timestamp"), "timestamp") or received_at,
            )
        except ValidationError as exc:
            first = exc.errors()[0]
            raise WebhookRejected(422, f"field {'.'.join(map(str, first['loc']))}: {first['msg']}") from None
        except ValueError as exc:
            raise WebhookRejected(422, str(exc)) from None

    def client(self, settings: VendorSettings, http) -> JiraClient:
        return JiraClient(http, settings)


def _kind(event_name: str, changelog) -> EventKind:
    if event_name == "jira:issue_created":
        return EventKind.created
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
    return Actor(id=account, email=user.get("emailAddress"), name=user.get("displayName"), is_self=is_self,
                 is_automation=kind == "app" and not is_self, is_agent=ACCOUNT_IS_AGENT.get(kind))


def _organization(fields: dict, settings: VendorSettings) -> Organization:
    """The JSM organization from the configured field (``options.organization_field``)."""
    name = settings.options.get("organization_field")
    value = fields.get(name) if name else None
    if isinstance(value, list) and value:
        value = value[0]
    if isinstance(value, dict):
        return Organization(id=str(value.get("id")) if value.get("id") is not None else None, name=value.get("name"))
    return Organization()
