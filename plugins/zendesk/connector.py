"""Zendesk webhooks: signature check and parsing into TicketEvents.

Two body shapes are accepted: the event-subscription envelope
(``"type": "zen:event-type:ticket.*"``, ids only) and the JSON body of the
trigger template that ``slabridge webhooks template zendesk`` prints.
"""

from __future__ import annotations

import base64
from datetime import timedelta
from urllib.parse import quote

from slabridge.config import VendorSettings
from slabridge.connectors import (
    NUMERIC_ID, Connector, WebhookRejected, WebhookRequest, absent_fields, checked_id, dig, hmac_matches, instant,
    json_object, reading_event, require,
)
from slabridge.models import Actor, Comment, EventKind, Organization, Person, TicketEvent, TicketRef
from slabridge.timeparse import parse_instant

from .client import ZendeskClient

SIGNATURE = "X-Zendesk-Webhook-Signature"
TIMESTAMP = "X-Zendesk-Webhook-Signature-Timestamp"
INVOCATION = "X-Zendesk-Webhook-Invocation-Id"
# Where each TicketEvent field sits in a body; a key the body does not carry means "unchanged".
ENVELOPE_FIELDS = {"subject": "subject", "description": "description", "priority": "priority", "status": "status",
                   "tags": "tags", "custom_fields": "custom_fields", "created_at": "created_at"}
TEMPLATE_FIELDS = {**ENVELOPE_FIELDS, "requester": "requester", "organization": "organization"}
ENVELOPE_KINDS = {
    "ticket.created": EventKind.created,
    "ticket.comment_added": EventKind.comment,
    "ticket.status_changed": EventKind.status,
    "ticket.priority_changed": EventKind.priority,
    "ticket.soft_deleted": EventKind.deleted,
    "ticket.permanently_deleted": EventKind.deleted,
    "ticket.marked_as_spam": EventKind.deleted,
}


class ZendeskConnector(Connector):
    name = "zendesk"
    version = "0.1.0"
    options = {"signature_tolerance_seconds": float}

    def ticket_url(self, settings: VendorSettings, ticket_id: str) -> str | None:
        """The agent's view of the ticket: ``{base_url}/agent/tickets/<id>``."""
        return f"{settings.base_url.rstrip('/')}/agent/tickets/{quote(ticket_id, safe='')}" if settings.base_url else None

    def group_problem(self, settings: VendorSettings, group: str) -> str | None:
        if settings.group(group).isdigit():
            return None
        return f"group {group!r} has no {self.name} id: map it in vendors.{self.name}.groups (e.g. {group} = 360001)"

    def verify(self, request: WebhookRequest, settings: VendorSettings) -> None:
        signature, stamp = request.header(SIGNATURE), request.header(TIMESTAMP)
        if not signature or not stamp:
            raise WebhookRejected(401, f"missing {SIGNATURE} or {TIMESTAMP} header")
        secrets = settings.webhook_secrets()
        if not secrets:
            raise WebhookRejected(401, "no webhook secret is configured for zendesk")
        if not hmac_matches(secrets, stamp.encode() + request.body, signature.encode(), "sha256", base64.b64encode):
            raise WebhookRejected(401, f"{SIGNATURE} does not match the body")
        try:  # only an authentic timestamp is parsed
            sent_at = parse_instant(stamp)
        except (ValueError, OverflowError):
            raise WebhookRejected(401, f"{TIMESTAMP} is not an ISO-8601 timestamp") from None
        tolerance = timedelta(seconds=self.option(settings, "signature_tolerance_seconds", 300))
        if abs(request.received_at - sent_at) > tolerance:
            raise WebhookRejected(401, f"{TIMESTAMP} is outside the {tolerance} tolerance (stale or replayed)")

    def recognizes(self, payload: dict) -> bool | None:
        """Trigger bodies carry ``current_user``; event subscriptions a ``zen:event-type:`` type."""
        return "current_user" in payload or str(payload.get("type", "")).startswith("zen:event-type:")

    def parse(self, request: WebhookRequest, settings: VendorSettings) -> TicketEvent:
        data = json_object(request)
        delivery = request.header(INVOCATION) or str(data.get("id") or "")
        if not delivery:
            raise WebhookRejected(422, f"missing {INVOCATION} header")
        return self.event_from(data, delivery, request.received_at, settings)

    def event_from(self, data: dict, delivery: str, received_at, settings: VendorSettings) -> TicketEvent:
        with reading_event():
            if str(data.get("type", "")).startswith("zen:event-type:"):
                return self._from_envelope(data, delivery, received_at, settings)
            return self._from_template(data, delivery, received_at, settings)

    def _from_envelope(self, data, delivery, received_at, settings) -> TicketEvent:
        detail = require(data, "detail")
        ticket_id = checked_id(data, "detail.id", NUMERIC_ID, "Zendesk ticket id (digits)")
        kind = ENVELOPE_KINDS.get(str(data["type"]).removeprefix("zen:event-type:"), EventKind.updated)
        comment = dig(data, "event.comment")
        actor_id = str(dig(detail, "actor_id", "") or "") or None
        return TicketEvent(
            vendor=self.name,
            delivery_id=delivery,
            ticket=TicketRef(vendor=self.name, id=ticket_id),
            kind=kind,
            actor=_actor(actor_id, None, settings, automation=actor_id in (None, "-1")),
            requester=Person(id=_id(detail.get("requester_id"))),
            organization=Organization(id=_id(detail.get("organization_id"))),
            subject=detail.get("subject") or "",
            description=detail.get("description") or "",
            priority=(detail.get("priority") or "").lower() or None,
            status=(detail.get("status") or "").lower() or None,
            tags=tuple(detail.get("tags") or ()),
            comment=_comment(comment, settings) if isinstance(comment, dict) else None,
            created_at=instant(detail.get("created_at"), "detail.created_at"),
            updated_at=instant(detail.get("updated_at"), "detail.updated_at"),
            occurred_at=instant(data.get("time"), "time") or received_at,
            absent=absent_fields(detail, ENVELOPE_FIELDS),
        )

    def _from_template(self, data, delivery, received_at, settings) -> TicketEvent:
        ticket = require(data, "ticket")
        ticket_id = checked_id(data, "ticket.id", NUMERIC_ID, "Zendesk ticket id (digits)")
        actor = data.get("current_user") or {}
        comment = ticket.get("latest_comment")
        tags = ticket.get("tags") or ()
        return TicketEvent(
            vendor=self.name,
            delivery_id=delivery,
            ticket=TicketRef(vendor=self.name, id=ticket_id),
            kind=_template_kind(data.get("event")),
            actor=_actor(_id(actor.get("id")), actor.get("email"), settings,
                         automation=str(actor.get("role", "")).lower() == "automation"),
            requester=Person(id=_id(dig(ticket, "requester.id")), email=dig(ticket, "requester.email"),
                             name=dig(ticket, "requester.name")),
            organization=Organization(id=_id(dig(ticket, "organization.id")), name=dig(ticket, "organization.name")),
            subject=ticket.get("subject") or "",
            description=ticket.get("description") or "",
            priority=(ticket.get("priority") or "").lower() or None,
            status=(ticket.get("status") or "").lower() or None,
            tags=tuple(tags.split() if isinstance(tags, str) else tags),
            custom_fields={str(k): v for k, v in (ticket.get("custom_fields") or {}).items()},
            comment=_comment(comment, settings) if isinstance(comment, dict) and comment.get("body") else None,
            created_at=instant(ticket.get("created_at"), "ticket.created_at"),
            updated_at=instant(ticket.get("updated_at"), "ticket.updated_at"),
            occurred_at=instant(ticket.get("updated_at"), "ticket.updated_at") or received_at,
            absent=absent_fields(ticket, TEMPLATE_FIELDS),
        )

    def enrich(self, event: TicketEvent, lookups, settings: VendorSettings) -> TicketEvent:
        """An envelope names the requester by id only: their e-mail (and organization) come from
        ``GET /api/v2/users/{id}``, so designated-contact checks never fail for want of it."""
        requester = event.requester
        if not requester.id or requester.email:
            return event
        user = lookups.get(self.name, "user", requester.id)
        if not user:
            return event
        update = {"requester": requester.model_copy(update={"email": user.get("email"),
                                                           "name": requester.name or user.get("name")})}
        if event.organization.id is None and user.get("organization_id"):
            update["organization"] = Organization(id=str(user["organization_id"]))
        return event.model_copy(update=update)

    def client(self, settings: VendorSettings, http) -> ZendeskClient:
        return ZendeskClient(http, settings)


def _template_kind(value) -> EventKind:
    try:
        return EventKind(value or "updated")
    except ValueError:
        raise WebhookRejected(422, f"field event: not one of "
                                   f"{', '.join(k.value for k in EventKind)}") from None


def _id(value) -> str | None:
    return None if value in (None, "", 0, "0") else str(value)


SYSTEM_USER = "-1"  # Zendesk's own user: comments made by triggers, automations and the system


def _actor(actor_id, email, settings: VendorSettings, automation: bool) -> Actor:
    is_self = settings.self_user is not None and settings.self_user in (actor_id, email)
    automation = automation or actor_id == SYSTEM_USER or bool({actor_id, email} & set(settings.automation_users))
    return Actor(id=actor_id, email=email, is_self=is_self, is_automation=automation and not is_self)


def _comment(comment: dict, settings: VendorSettings) -> Comment:
    author = comment.get("author") or {}
    author_id = str(author["id"]) if author.get("id") not in (None, "") else None
    return Comment(
        public=bool(comment.get("is_public", comment.get("public", True))),
        author=_actor(author_id, author.get("email"), settings, automation=False).model_copy(
            update={"is_agent": author["is_staff"] if isinstance(author.get("is_staff"), bool) else None}),
        body=str(comment.get("body") or ""),
    )
