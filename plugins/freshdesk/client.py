"""Freshdesk write-back: ticket PUT, tags by read-modify-write, notes and replies."""

from __future__ import annotations

from urllib.parse import quote

from slabridge.config import VendorSettings
from slabridge.models import (
    Action, AddTags, Assign, InternalNote, PublicReply, RemoveTags, SetFields, SetPriority, SetStatus, TicketRef,
)
from slabridge.vendorapi import BadRequest, NotFound, VendorClient, as_text, numeric_id

PAGE = 100
MAX_PAGES = 10  # conversations come oldest first; a ticket with more than 1,000 is not searched to its end
TOP_LEVEL_FIELDS = {"due_by", "fr_due_by"}
STATUS_CODES = {"open": 2, "pending": 3, "resolved": 4, "solved": 4, "closed": 5}

GROUP_FIX = "map the contract's group name to its id in vendors.freshdesk.groups"
ASSIGNEE_FIX = "give the agent's freshdesk user id (customers file: tam.assignee.freshdesk)"


class FreshdeskClient(VendorClient):
    def __init__(self, http, settings: VendorSettings, **kwargs):
        super().__init__(http, max_retries=settings.max_retries, **kwargs)
        self.settings = settings

    def apply(self, ticket: TicketRef, action: Action) -> None:
        path = f"/api/v2/tickets/{quote(ticket.id, safe='')}"
        match action:
            case AddTags(tags=tags):
                current = self._tags(path)
                self.request("PUT", path, json={"tags": current + [t for t in tags if t not in current]})
            case RemoveTags(tags=tags):
                current = self._tags(path)
                self.request("PUT", path, json={"tags": [t for t in current if t not in tags]})
            case SetFields(fields=fields):
                body: dict = {k: v for k, v in fields.items() if k in TOP_LEVEL_FIELDS}
                custom = {k: v for k, v in fields.items() if k not in TOP_LEVEL_FIELDS}
                if custom:
                    body["custom_fields"] = custom
                self.request("PUT", path, json=body)
            case SetPriority(priority=priority):
                self.request("PUT", path, json={"priority": int(priority)})
            case InternalNote(body=body):
                self.request("POST", f"{path}/notes", json={"body": body, "private": True})
            case PublicReply(body=body):
                self.request("POST", f"{path}/reply", json={"body": body})
            case Assign(group=group, assignee=assignee):
                change = {"group_id": numeric_id(self.settings.group(group), "freshdesk", "group", GROUP_FIX)
                          if group else None,
                          "responder_id": numeric_id(assignee, "freshdesk", "assignee", ASSIGNEE_FIX) if assignee else None}
                self.request("PUT", path, json={k: v for k, v in change.items() if v is not None})
            case SetStatus(status=status):
                if status not in STATUS_CODES:
                    raise BadRequest(f"freshdesk has no status {status!r} (known: {', '.join(STATUS_CODES)})")
                self.request("PUT", path, json={"status": STATUS_CODES[status]})
            case _:
                raise BadRequest(f"the freshdesk connector cannot apply {action.type}")

    def has_comment(self, ticket: TicketRef, text: str) -> bool:
        path = f"/api/v2/tickets/{quote(ticket.id, safe='')}/conversations"
        for page in range(1, MAX_PAGES + 1):
            found = self.request("GET", path, params={"page": page, "per_page": PAGE}).json()
            found = found if isinstance(found, list) else []
            if any(isinstance(c, dict) and text in str(c.get("body_text") or c.get("body") or "") for c in found):
                return True
            if len(found) < PAGE:
                return False
        return False

    def look_up(self, kind: str, key: str) -> dict | None:
        paths = {"ticket": "/api/v2/tickets/{}", "contact": "/api/v2/contacts/{}"}
        if kind not in paths:
            return super().look_up(kind, key)
        try:
            found = self.request("GET", paths[kind].format(quote(key, safe=""))).json() or {}
        except NotFound:
            return None
        if kind == "ticket":
            return {k: as_text(found.get(k)) for k in ("company_id", "requester_id", "created_at")}
        return {k: as_text(found.get(k)) for k in ("email", "name", "company_id")}

    def _tags(self, path: str) -> list[str]:
        return list(self.request("GET", path).json().get("tags") or [])
