"""A fake Zendesk API for the demo and tests (real HTTP on loopback)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid
from datetime import datetime, timedelta, timezone

from slabridge.testing.fakeapi import FakeAPI

TICKET = r"/api/v2/tickets/(\d+)"


def _show(api, m, body):
    return 200, {"ticket": api.ticket(m[1], updated_at="2026-01-01T00:00:00Z")}


def _stale(ticket, body) -> bool:
    """safe_update with an updated_stamp older than the ticket: Zendesk answers 409."""
    return bool(body and body.get("safe_update") and body.get("updated_stamp") != ticket.get("updated_at"))


def _touch(ticket) -> None:
    """Stamp an update with the time, to the second, as Zendesk does: a stamp follows the clock, so a webhook
    sent before an update is dated before it. Here never twice the same for one ticket (a second update
    within the same second takes the next), so a stale stamp is always told apart."""
    before = datetime.fromisoformat(ticket.get("updated_at", "2026-01-01T00:00:00Z").replace("Z", "+00:00"))
    now = max(datetime.now(timezone.utc).replace(microsecond=0), before + timedelta(seconds=1))
    ticket["updated_at"] = now.strftime("%Y-%m-%dT%H:%M:%SZ")


def _update(api, m, body):
    ticket = api.ticket(m[1], updated_at="2026-01-01T00:00:00Z")
    change = (body or {}).get("ticket") or {}
    if _stale(ticket, change):
        return 409, {"error": "UpdateConflict", "description": "the ticket was updated since updated_stamp"}
    _touch(ticket)
    for key in ("priority", "group_id", "assignee_id", "status", "tags"):
        if key in change:
            ticket[key] = change[key]
    for item in change.get("custom_fields") or ():
        ticket.setdefault("custom_fields", {})[str(item["id"])] = item["value"]
    if "comment" in change:
        ticket["comments"].append(change["comment"])
    return 200, {"ticket": ticket}


def _add_tags(api, m, body):
    ticket = api.ticket(m[1], updated_at="2026-01-01T00:00:00Z")
    if _stale(ticket, body):
        return 409, {"error": "UpdateConflict"}
    _touch(ticket)
    ticket["tags"] += [t for t in (body or {}).get("tags", []) if t not in ticket["tags"]]
    return 200, {"tags": ticket["tags"]}


def _remove_tags(api, m, body):
    ticket = api.ticket(m[1], updated_at="2026-01-01T00:00:00Z")
    if _stale(ticket, body):
        return 409, {"error": "UpdateConflict"}
    _touch(ticket)
    ticket["tags"] = [t for t in ticket["tags"] if t not in (body or {}).get("tags", [])]
    return 200, {"tags": ticket["tags"]}


def _user(api, m, body):
    user = api.record("user", m[1])
    return (200, {"user": user}) if user else (404, {"error": "RecordNotFound", "description": "Not found"})


def _comments(api, m, body, query):
    comments = list(api.ticket(m[1], updated_at="2026-01-01T00:00:00Z")["comments"])
    newest_first = query.get("sort") == "-created_at"
    return 200, {"comments": comments[::-1] if newest_first else comments, "meta": {"has_more": False}}


def fake_api() -> FakeAPI:
    return FakeAPI("zendesk", [
        ("GET", r"/api/v2/users/(\d+)", _user),
        ("GET", TICKET, _show), ("PUT", TICKET, _update), ("GET", TICKET + "/comments", _comments),
        ("PUT", TICKET + "/tags", _add_tags), ("DELETE", TICKET + "/tags", _remove_tags),
    ])


def signed_headers(secret: str, body: bytes, now: datetime) -> dict[str, str]:
    """The headers Zendesk sends with ``body``: signature over timestamp + body, a fresh invocation id."""
    stamp = now.strftime("%Y-%m-%dT%H:%M:%SZ")
    signature = base64.b64encode(hmac.new(secret.encode(), stamp.encode() + body, hashlib.sha256).digest()).decode()
    return {"Content-Type": "application/json", "X-Zendesk-Webhook-Signature": signature,
            "X-Zendesk-Webhook-Signature-Timestamp": stamp, "X-Zendesk-Webhook-Invocation-Id": str(uuid.uuid4())}


def sample_webhook(secret: str, ticket_id: str, now: datetime) -> tuple[dict[str, str], bytes]:
    """A signed webhook as the shipped trigger template sends it, for a new ticket."""
    stamp = now.strftime("%Y-%m-%dT%H:%M:%SZ")
    body = json.dumps({
        "event": "created",
        "ticket": {"id": ticket_id, "subject": "Invoices corrupted",
                   "description": "We see data corruption in invoices since the update.",
                   "priority": "normal", "status": "new", "tags": "",
                   "requester": {"id": "9001", "email": "dana@acme.example", "name": "Dana"},
                   "organization": {"id": "8447346622598", "name": "Acme Offices"},
                   "created_at": stamp, "updated_at": stamp},
        "current_user": {"id": "9001", "email": "dana@acme.example"},
    }).encode()
    return signed_headers(secret, body, now), body
