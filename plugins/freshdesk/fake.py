"""A fake Freshdesk API for the demo and tests (real HTTP on loopback)."""

from __future__ import annotations

import json
from datetime import datetime, timezone

from slabridge.testing.fakeapi import FakeAPI

TICKET = r"/api/v2/tickets/(\d+)"


def _show(api, m, body):
    return 200, api.ticket(m[1])


def _update(api, m, body):
    ticket = api.ticket(m[1])
    for key, value in (body or {}).items():
        if key == "custom_fields":
            ticket.setdefault("custom_fields", {}).update(value)
        else:
            ticket[key] = value
    return 200, ticket


def _note(api, m, body):
    api.ticket(m[1])["comments"].append(conversation((body or {}).get("body"), (body or {}).get("private", True)))
    return 201, {"id": len(api.requests), **(body or {})}


def _reply(api, m, body):
    api.ticket(m[1])["comments"].append(conversation((body or {}).get("body"), private=False))
    return 201, {"id": len(api.requests), **(body or {})}


def conversation(body, private: bool, incoming: bool = False, at: datetime | None = None) -> dict:
    """A reply or note as ``GET /api/v2/tickets/{id}/conversations`` lists it."""
    at = at or datetime.now(timezone.utc)
    return {"private": private, "incoming": incoming, "body": body, "body_text": body,
            "created_at": at.strftime("%Y-%m-%dT%H:%M:%SZ")}


def _contact(api, m, body):
    contact = api.record("contact", m[1])
    return (200, contact) if contact else (404, {"code": "invalid_value", "message": "contact not found"})


def _conversations(api, m, body, query):
    page, size = int(query.get("page", 1)), int(query.get("per_page", 30))
    return 200, api.ticket(m[1])["comments"][(page - 1) * size:page * size]


def fake_api() -> FakeAPI:
    return FakeAPI("freshdesk", [
        ("GET", r"/api/v2/contacts/(\d+)", _contact),
        ("GET", TICKET, _show), ("PUT", TICKET, _update), ("GET", TICKET + "/conversations", _conversations),
        ("POST", TICKET + "/notes", _note), ("POST", TICKET + "/reply", _reply),
    ])


def signed_headers(secret: str, body: bytes, now: datetime) -> dict[str, str]:
    """The headers the shipped automation rule sends: the shared secret (Freshdesk does not sign)."""
    return {"Content-Type": "application/json", "X-Slabridge-Secret": secret}


def sample_webhook(secret: str, ticket_id: str, now: datetime) -> tuple[dict[str, str], bytes]:
    """A webhook as the shipped automation rule sends it, for a new ticket."""
    stamp = now.strftime("%Y-%m-%dT%H:%M:%SZ")
    body = json.dumps({
        "event": "Ticket is created",
        "ticket": {"id": ticket_id, "subject": "Site down", "description": "Since 6am no user is able to logon.",
                   "priority": "Medium", "status": "Open", "tags": "",
                   "requester": {"email": "pat@northwind.example", "name": "Pat"},
                   "company": {"id": "501", "name": "Northwind Clinic"}, "created_at": stamp, "updated_at": stamp},
        "actor": {"email": "pat@northwind.example", "type": "contact"},
    }).encode()
    return signed_headers(secret, body, now), body
