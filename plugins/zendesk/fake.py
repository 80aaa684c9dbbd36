"""A fake Zendesk API for the demo and tests (real HTTP on loopback)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid
from datetime import datetime

from slabridge.fakeapi import FakeAPI

TICKET = r"/api/v2/tickets/(\d+)"


def _show(api, m, body):
    return 200, {"ticket": api.ticket(m[1])}


def _update(api, m, body):
    ticket = api.ticket(m[1])
    change = (body or {}).get("ticket") or {}
    for key in ("priority", "group_id", "assignee_id", "status"):
        if key in change:
            ticket[key] = change[key]
    for item in change.get("custom_fields") or ():
        ticket.setdefault("custom_fields", {})[str(item["id"])] = item["value"]
    if "comment" in change:
        ticket["comments"].append(change["comment"])
    return 200, {"ticket": ticket}


def _add_tags(api, m, body):
    ticket = api.ticket(m[1])
    ticket["tags"] += [t for t in (body or {}).get("tags", []) if t not in ticket["tags"]]
    return 200, {"tags": ticket["tags"]}


def _remove_tags(api, m, body):
    ticket = api.ticket(m[1])
    ticket["tags"] = [t for t in ticket["tags"] if t not in (body or {}).get("tags", [])]
    return 200, {"tags": ticket["tags"]}


def fake_api() -> FakeAPI:
    return FakeAPI("zendesk", [
        ("GET", TICKET, _show), ("PUT", TICKET, _update),
        ("PUT", TICKET + "/tags", _add_tags), ("DELETE", TICKET + "/tags", _remove_tags),
    ])


def sample_webhook(secret: str, ticket_id: str, now: datetime) -> tuple[dict[str, str], bytes]:
    """A signed webhook as the shipped trigger template sends it, for a new ticket."""
    stamp = now.strftime("%Y-%m-%dT%H:%M:%SZ")
    body = json.dumps({
        "event": "created",
        "ticket": {"id": ticket_id, "subject": "Cannot export invoices", "description": "Export fails since today.",
                   "priority": "high", "status": "new", "tags": "",
                   "requester": {"id": "9001", "email": "dana@example.com", "name": "Dana"},
                   "organization": {"id": "77", "name": "Example Corp"},
                   "created_at": stamp, "updated_at": stamp},
        "current_user": {"id": "9001", "email": "dana@example.com", "role": "end-user"},
    }).encode()
    signature = base64.b64encode(hmac.new(secret.encode(), stamp.encode() + body, hashlib.sha256).digest()).decode()
    headers = {"Content-Type": "application/json", "X-Zendesk-Webhook-Signature": signature,
               "X-Zendesk-Webhook-Signature-Timestamp": stamp, "X-Zendesk-Webhook-Invocation-Id": str(uuid.uuid4())}
    return headers, body
