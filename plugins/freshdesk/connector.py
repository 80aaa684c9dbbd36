"""Freshdesk automation-rule webhooks: shared-secret check and parsing.

Freshdesk does not sign webhooks, so the automation rule sends a shared secret
in a header (``options.secret_header``), compared in constant time. There is
no delivery id either: the id is the content hash within a time window
(``options.dedupe_window_seconds``, default 600). Freshdesk's retries fall in
the window and are dropped; the same body later is a real new change (say,
a priority set back) and is accepted — writes are diffs, so a retry that
straddles two windows changes nothing.
"""

from __future__ import annotations

import hmac
from urllib.parse import quote

from slabridge.config import VendorSettings
from slabridge.connectors import (
    NUMERIC_ID, Connector, WebhookRejected, WebhookRequest, absent_fields, checked_id, content_hash, dig, instant,
    json_object, reading_event, require,
)
from slabridge.htmltext import comment_text
from slabridge.models import Actor, Comment, EventKind, Organization, Person, TicketEvent, TicketRef
from slabridge.timeparse import parse_instant

from .client import FreshdeskClient

DEFAULT_SECRET_HEADER = "X-Slabridge-Secret"
AUTOMATION_TYPES = {"automation", "system"}
AGENT_TYPES, CUSTOMER_TYPES = {"agent"}, {"contact", "customer", "requester"}
PRIORITY_CODES = {"low": "1", "medium": "2", "high": "3", "urgent": "4"}
# Words of {{triggered_event}}, first found first: "repl" is reply, replies and replied ("Customer replied");
# "delet" and "spam" where a rule sends ticket deletions ("Ticket is deleted", "marked as spam").
TRIGGERS = {"created": EventKind.created, "repl": EventKind.comment, "note": EventKind.comment,
            "delet": EventKind.deleted, "spam": EventKind.deleted, "status": EventKind.status,
            "priority": EventKind.priority}


# Where each TicketEvent field sits in the ticket; a key the body does not carry means "unchanged".
TICKET_FIELDS = {"subject": "subject", "description": "description", "priority": "priority", "status": "status",
                 "tags": "tags", "custom_fields": "custom_fields", "requester": "requester",
                 "organization": "company", "created_at": "created_at"}
# Freshdesk's own "Simple" webhook content: {"freshdesk_webhook": {<placeholder name>: value}}, where each
# placeholder {{ticket.x.y}} is named ticket_x_y. Mapped onto the shape of the shipped template.
SIMPLE_JSON = {"ticket_id": "ticket.id", "ticket_subject": "ticket.subject",
               "ticket_description": "ticket.description", "ticket_priority": "ticket.priority",
               "ticket_status": "ticket.status", "ticket_tags": "ticket.tags",
               "ticket_requester_email": "ticket.requester.email", "ticket_requester_name": "ticket.requester.name",
               "ticket_requester_id": "ticket.requester.id", "ticket_company_name": "ticket.company.name",
               "ticket_company_id": "ticket.company.id",
               "ticket_latest_public_comment": "ticket.latest_public_comment",
               "ticket_created_at": "ticket.created_at", "ticket_updated_at": "ticket.updated_at",
               "triggered_event": "event", "triggered_by_email": "actor.email"}


class FreshdeskConnector(Connector):
    name = "freshdesk"
    version = "0.1.0"
    options = {"secret_header": str, "dedupe_window_seconds": int}

    def ticket_url(self, settings: VendorSettings, ticket_id: str) -> str | None:
        """The agent's view of the ticket: ``{base_url}/a/tickets/<id>``."""
        return f"{settings.base_url.rstrip('/')}/a/tickets/{quote(ticket_id, safe='')}" if settings.base_url else None

    def group_problem(self, settings: VendorSettings, group: str) -> str | None:
        if settings.group(group).isdigit():
            return None
        return f"group {group!r} has no {self.name} id: map it in vendors.{self.name}.groups (e.g. {group} = 360001)"

    def verify(self, request: WebhookRequest, settings: VendorSettings) -> None:
        header = self.option(settings, "secret_header", DEFAULT_SECRET_HEADER)
        presented = (request.header(header) or "").encode()
        if not presented:
            raise WebhookRejected(401, f"missing {header} header")
        secrets = settings.webhook_secrets()
        if not secrets:
            raise WebhookRejected(401, "no webhook secret is configured for freshdesk")
        ok = False
        for secret in secrets:
            ok |= hmac.compare_digest(secret, presented)
        if not ok:
            raise WebhookRejected(401, f"{header} does not match the configured secret")

    def recognizes(self, payload: dict) -> bool | None:
        """The shipped automation template sends ``actor``; Freshdesk's Simple JSON ``freshdesk_webhook``."""
        return "actor" in payload or "freshdesk_webhook" in payload

    def parse(self, request: WebhookRequest, settings: VendorSettings) -> TicketEvent:
        window = int(self.option(settings, "dedupe_window_seconds", 600))
        delivery = f"{content_hash(request.body)}@{int(request.received_at.timestamp()) // window}"
        return self.event_from(json_object(request), delivery, request.received_at, settings)

    def event_from(self, data: dict, delivery: str, received_at, settings: VendorSettings) -> TicketEvent:
        if isinstance(data.get("freshdesk_webhook"), dict):
            data = _from_simple_json(data["freshdesk_webhook"])
        ticket = require(data, "ticket")
        ticket_id = checked_id(data, "ticket.id", NUMERIC_ID, "Freshdesk ticket id (digits)")
        with reading_event():
            actor = data.get("actor") or {}
            actor_email = actor.get("email")
            is_self = settings.self_user is not None and settings.self_user in (str(actor.get("id")), actor_email)
            # "Performed by" System / an automation rule, or a configured bot or integration user
            automated = (str(actor.get("type", "")).lower() in AUTOMATION_TYPES
                         or bool({str(actor.get("id")), actor_email} & set(settings.automation_users))) and not is_self
            triggered = str(data.get("event") or "")
            # whose side wrote the comment; the actor's own side stays unsaid: a reply's body may show the priority
            # from before slabridge's write landed, which must not read as an agent's change
            agent = None if automated or is_self else _is_agent(str(actor.get("type", "")), triggered)
            tags = ticket.get("tags") or ()
            return TicketEvent(
                vendor=self.name,
                delivery_id=delivery,
                ticket=TicketRef(vendor=self.name, id=ticket_id),
                kind=_kind(triggered),
                actor=Actor(id=_id(actor.get("id")), email=actor_email, name=actor.get("name"), is_self=is_self,
                            is_automation=automated),
                requester=Person(email=dig(ticket, "requester.email"), name=dig(ticket, "requester.name"),
                                 id=_id(dig(ticket, "requester.id"))),
                organization=Organization(id=_id(dig(ticket, "company.id")), name=dig(ticket, "company.name")),
                subject=ticket.get("subject") or "",
                description=ticket.get("description") or "",
                priority=_priority(ticket.get("priority")),
                status=(str(ticket.get("status") or "").lower() or None),
                tags=tuple(t.strip() for t in tags.split(",") if t.strip()) if isinstance(tags, str) else tuple(tags),
                custom_fields=dict(ticket.get("custom_fields") or {}),
                comment=_comment(triggered, ticket.get("latest_public_comment"),
                                 Actor(id=_id(actor.get("id")), email=actor_email, is_self=is_self,
                                       is_automation=automated, is_agent=agent)),
                created_at=instant(ticket.get("created_at"), "ticket.created_at"),
                updated_at=instant(ticket.get("updated_at"), "ticket.updated_at"),
                occurred_at=instant(ticket.get("updated_at"), "ticket.updated_at") or received_at,
                absent=absent_fields(ticket, TICKET_FIELDS),
            )

    def enrich(self, event: TicketEvent, lookups, settings: VendorSettings) -> TicketEvent:
        """Automation placeholders give the company's *name*, while customers are matched by company id;
        ``GET /api/v2/tickets/{id}`` gives the id (and the requester's id and the creation time, which clocks
        start from), ``GET /api/v2/contacts/{id}`` the requester's e-mail when the body lacks it. A note of
        unnamed type is the ticket's latest note up to the event (``GET /api/v2/tickets/{id}/conversations``):
        public or private, and its text; a note not found stays private."""
        requester, organization, update = event.requester, event.organization, {}
        comment = event.comment
        if comment is not None and comment.public is None and event.kind == EventKind.comment:
            note = lookups.get(self.name, "note", f"{event.ticket.id}@{event.occurred_at.isoformat()}")
            update["comment"] = comment.model_copy(update={"public": bool(note) and not note["private"],
                                                           "body": note["body"] if note else ""})
        needs_created = event.created_at is None and "created_at" in event.absent
        if organization.id is None or (requester.email is None and requester.id is None) or needs_created:
            ticket = lookups.get(self.name, "ticket", event.ticket.id)
            if ticket and needs_created:
                try:
                    update["created_at"] = parse_instant(ticket.get("created_at"))
                except (TypeError, ValueError, OverflowError):
                    pass  # an unreadable answer leaves the creation time unknown, as before the look-up
            if ticket and ticket.get("company_id") and organization.id is None:
                organization = update["organization"] = organization.model_copy(
                    update={"id": str(ticket["company_id"])})
            if ticket and ticket.get("requester_id") and requester.id is None:
                requester = update["requester"] = requester.model_copy(update={"id": str(ticket["requester_id"])})
        if requester.email is None and requester.id:
            contact = lookups.get(self.name, "contact", requester.id)
            if contact and contact.get("email"):
                update["requester"] = requester.model_copy(update={"email": contact["email"],
                                                                   "name": requester.name or contact.get("name")})
        return event.model_copy(update=update) if update else event

    def client(self, settings: VendorSettings, http) -> FreshdeskClient:
        return FreshdeskClient(http, settings)


def _from_simple_json(flat: dict) -> dict:
    """Freshdesk's default "Simple" body, in the shape of the shipped template (what it lacks stays absent)."""
    nested: dict = {"ticket": {}}
    for key, value in flat.items():
        path = SIMPLE_JSON.get(key)
        if path is None:
            continue
        *parents, last = path.split(".")
        node = nested
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = value
    return nested


def _id(value) -> str | None:
    return None if value in (None, "") else str(value)


def _priority(value) -> str | None:
    """Freshdesk renders ``{{ticket.priority}}`` as a label; the API speaks 1-4."""
    if value in (None, ""):
        return None
    text = str(value).strip().lower()
    return PRIORITY_CODES.get(text, text)


def _comment(triggered: str, latest_public, author: Actor) -> Comment | None:
    """The comment an event brings, as text (Freshdesk's Simple body and ``{{ticket.latest_public_comment}}`` send
    HTML, quoted mail in a ``<blockquote>``). The template can send only the ticket's latest *public* comment: a
    reply's own, but after a private note an older one, neither the note nor its author's. A note whose type
    ``{{triggered_event}}`` names (``{note_type:private}``) is taken as named, a private one without its text
    (not sent); one of unnamed type ("Note is added") is public or private as :meth:`FreshdeskConnector.enrich`
    looks it up."""
    text = triggered.lower()
    if "note" in text and "private" in text:
        return Comment(public=False, author=author)
    if "note" in text and "public" not in text:
        return Comment(public=None, author=author)
    return Comment(body=comment_text(str(latest_public)), author=author) if latest_public else None


def _is_agent(actor_type: str, triggered: str) -> bool | None:
    """Whether support acted: the actor's type where the body has one (``agent``; ``contact``), else the triggered
    event's words (a customer's reply; a note, which only agents add); None where neither says (then anyone but
    the requester counts as support). A colleague the customer copied, replying, is the customer's side: taken
    for support, their "Any news?" stopped the response clock."""
    kind = actor_type.lower()
    if kind in AGENT_TYPES or kind in CUSTOMER_TYPES:
        return kind in AGENT_TYPES
    text = triggered.lower()
    if "customer" in text:
        return False
    return True if "note" in text else None


def _kind(triggered: str) -> EventKind:
    text = triggered.lower()
    for word, kind in TRIGGERS.items():
        if word in text:
            return kind
    return EventKind.updated
