"""What the operator console shows besides the board: one ticket's timeline and each connector's activity.

Read-only queries over the store's tables, shaped for display. Ticket text (subjects, descriptions,
comment bodies) is never read out: events show their kind, who acted, status, priority and tags.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import sqlalchemy as sa

from .store import Store, audit, inbox, outbox, webhook_rejections


def when(epoch: float | None) -> datetime | None:
    return None if epoch is None else datetime.fromtimestamp(epoch, timezone.utc)


def _object(value: Any) -> dict[str, Any]:
    """A stored JSON object, or an empty one where a row edited by hand holds something else: the page shows
    what it can instead of failing."""
    return value if isinstance(value, dict) else {}


def _objects(value: Any) -> list[dict[str, Any]]:
    """The objects of a stored list (nothing where it is not a list)."""
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def _joined(value: Any) -> Any:
    """A stored list as text, ``a, b``; any other value as it is."""
    return ", ".join(map(str, value)) if isinstance(value, (list, tuple)) else value


def timeline(store: Store, vendor: str, ticket_id: str) -> list[dict[str, Any]]:
    """Every event, decision and write-back of one ticket, oldest first (empty for an unknown ticket)."""
    entries = []
    for row in store.rows("inbox", vendor=vendor, ticket_id=ticket_id):
        event = _object(row["event"])
        actor = _object(event.get("actor"))
        who = ("slabridge" if actor.get("is_self") else "automation" if actor.get("is_automation")
               else "agent" if actor.get("is_agent") else "customer" if actor else "")
        comment = _object(event.get("comment"))
        entries.append({"at": when(row["received_at"]), "kind": "event", "title": event.get("kind", "event"),
                        "status": row["status"], "error": row["error"], "delivery_id": row["delivery_id"],
                        "facts": {"by": who, "ticket status": event.get("status"), "priority": event.get("priority"),
                                  "tags": _joined(event.get("tags")),
                                  "comment": ("public" if comment.get("public") else "internal") if comment else None}})
    for row in store.rows("audit", vendor=vendor, ticket_id=ticket_id):
        body = _object(row["body"])
        entries.append({"at": when(row["at"]), "kind": "decision", "title": "ignored" if body.get("ignored")
                        else f"{body.get('entitlement') or '?'} · {body.get('severity') or '?'}",
                        "status": "decided", "delivery_id": row["delivery_id"], "error": None,
                        "facts": {"customer": body.get("customer"),
                                  "actions": ", ".join(a.get("type", "?") for a in _objects(body.get("actions")))},
                        "reasons": _objects(body.get("reasons"))})
    for row in store.rows("outbox", vendor=vendor, ticket_id=ticket_id):
        action = _object(row["action"])
        entries.append({"at": when(row["done_at"] or row["created_at"]), "kind": "write",
                        "title": action.get("type", "write"), "status": row["status"], "error": row["error"],
                        "delivery_id": row["delivery_id"], "attempts": row["attempts"],
                        "facts": {k: _joined(v) for k, v in action.items() if k != "type"}})
    order = {"event": 0, "decision": 1, "write": 2}
    return sorted(entries, key=lambda e: (e["at"] or datetime.min.replace(tzinfo=timezone.utc), order[e["kind"]]))


def connector_activity(store: Store) -> dict[str, dict[str, Any]]:
    """Per vendor: last webhook accepted, last refused (time, status, reason), write backlog and dead letters."""
    found: dict[str, dict[str, Any]] = {}
    with store.engine.connect() as conn:
        for vendor, at in conn.execute(sa.select(inbox.c.vendor, sa.func.max(inbox.c.received_at))
                                       .where(~inbox.c.delivery_id.startswith("timer:")).group_by(inbox.c.vendor)):
            found.setdefault(vendor, {})["accepted_at"] = when(at)
        for row in conn.execute(sa.select(webhook_rejections)):
            found.setdefault(row.vendor, {})["rejected"] = {"at": when(row.at), "status": row.status,
                                                            "reason": row.reason}
        for vendor, status, count in conn.execute(sa.select(outbox.c.vendor, outbox.c.status, sa.func.count())
                                                  .group_by(outbox.c.vendor, outbox.c.status)):
            found.setdefault(vendor, {})[f"writes_{status}"] = count
        for vendor, count in conn.execute(sa.select(audit.c.vendor, sa.func.count()).group_by(audit.c.vendor)):
            found.setdefault(vendor, {})["decisions"] = count
    return found
