"""Freshdesk write-back: one ticket PUT per decision (tags by read-modify-write), notes and replies."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from urllib.parse import quote

from slabridge.config import VendorSettings
from slabridge.models import (
    Action, AddTags, Assign, InternalNote, PublicReply, RemoveTags, SetFields, SetPriority, SetStatus, TicketRef,
)
from slabridge.timeparse import parse_instant
from slabridge.vendorapi import COMMENTS, BadRequest, NotFound, VendorClient, as_text, numeric_id

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
            case InternalNote(body=body):
                self.request("POST", f"{path}/notes", json={"body": body, "private": True})
            case PublicReply(body=body):
                self.request("POST", f"{path}/reply", json={"body": body})
            case _:
                self.apply_together(ticket, [action])

    def joins(self, group: Sequence[Action], action: Action) -> bool:
        """Everything but notes and replies is a change of the ticket: one PUT carries them all."""
        return not any(isinstance(a, COMMENTS) or not self._writable(a) for a in (*group, action))

    def apply_together(self, ticket: TicketRef, actions: Sequence[Action]) -> None:
        if len(actions) == 1 and isinstance(actions[0], COMMENTS):
            return self.apply(ticket, actions[0])
        path = f"/api/v2/tickets/{quote(ticket.id, safe='')}"
        body: dict = {}
        if any(isinstance(a, (AddTags, RemoveTags)) for a in actions):  # Freshdesk replaces the whole list
            body["tags"] = self._tags(path)
        for action in actions:
            self._change(body, action)
        self.request("PUT", path, json=body)

    def _writable(self, action: Action) -> bool:
        try:
            self._change({"tags": []}, action)  # one that cannot be written goes alone: it fails without the others
        except (BadRequest, ValueError):
            return False
        return True

    def _change(self, body: dict, action: Action) -> None:
        """Apply ``action`` to a ticket update's ``body`` (its ``tags`` already the ticket's list)."""
        match action:
            case AddTags(tags=tags):
                body["tags"] = body["tags"] + [t for t in tags if t not in body["tags"]]
            case RemoveTags(tags=tags):
                body["tags"] = [t for t in body["tags"] if t not in tags]
            case SetFields(fields=fields):
                body.update({k: v for k, v in fields.items() if k in TOP_LEVEL_FIELDS})
                if custom := {k: v for k, v in fields.items() if k not in TOP_LEVEL_FIELDS}:
                    body["custom_fields"] = {**body.get("custom_fields", {}), **custom}
            case SetPriority(priority=priority):
                body["priority"] = int(priority)
            case Assign(group=group, assignee=assignee):
                if group:
                    body["group_id"] = numeric_id(self.settings.group(group), "freshdesk", "group", GROUP_FIX)
                if assignee:
                    body["responder_id"] = numeric_id(assignee, "freshdesk", "assignee", ASSIGNEE_FIX)
            case SetStatus(status=status):
                if status not in STATUS_CODES:
                    raise BadRequest(f"freshdesk has no status {status!r} (known: {', '.join(STATUS_CODES)})")
                body["status"] = STATUS_CODES[status]
            case _:
                raise BadRequest(f"the freshdesk connector cannot apply {action.type}")

    def has_comment(self, ticket: TicketRef, text: str) -> bool:
        return any(text in str(c.get("body_text") or c.get("body") or "") for c in self._conversations(ticket.id))

    def _conversations(self, ticket_id: str) -> Iterator[dict]:
        """The ticket's replies and notes, oldest first, page by page (at most ``MAX_PAGES``)."""
        path = f"/api/v2/tickets/{quote(ticket_id, safe='')}/conversations"
        for page in range(1, MAX_PAGES + 1):
            found = self.request("GET", path, params={"page": page, "per_page": PAGE}).json()
            found = found if isinstance(found, list) else []
            yield from (c for c in found if isinstance(c, dict))
            if len(found) < PAGE:
                return

    def _latest_note(self, ticket_id: str, at: datetime) -> dict | None:
        """The newest conversation support added (not incoming) up to ``at``: whether it is private, its text."""
        latest, latest_at = None, None
        for conversation in self._conversations(ticket_id):
            try:
                created = parse_instant(conversation.get("created_at"))
            except (TypeError, ValueError, OverflowError):
                continue
            if (created is not None and created <= at and not conversation.get("incoming")
                    and (latest_at is None or created >= latest_at)):
                latest, latest_at = conversation, created
        if latest is None:
            return None
        body = latest.get("body_text")
        return {"private": latest.get("private") is not False, "body": body if isinstance(body, str) else ""}

    def look_up(self, kind: str, key: str) -> dict | None:
        if kind == "note":  # key: "<ticket id>@<the event's instant>"
            ticket_id, _, at = key.rpartition("@")
            try:
                return self._latest_note(ticket_id, parse_instant(at))
            except NotFound:
                return None
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
